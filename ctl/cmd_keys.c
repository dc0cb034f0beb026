/* cmd_keys.c - keys gen, admins add|del|list: who may talk to the store. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "json.h"
#include "keys.h"
#include "px.h"
#include "wire.h"

int px_cmd_keys_gen(px_ctl_t *ctl, int argc, char **argv)
{
	char err[4096 + 256];
	px_keypair_t kp;

	(void)argc;
	(void)argv;
	if (!ctl->out) {
		/* Without --out the secret would be lost: print it once,
		 * clearly marked, for a caller who stores it itself. */
		if (px_key_gen(&kp, NULL, err, sizeof(err)) < 0) {
			px_ctl_fail(ctl, "%s", err);
			return PX_EXIT_FAIL;
		}
		if (ctl->json)
			printf("{\"public\":\"%s\",\"secret\":\"%s\"}\n", kp.pub,
			       kp.sec);
		else
			printf("public %s\nsecret %s\n", kp.pub, kp.sec);
		memset(&kp, 0, sizeof(kp));
		return PX_EXIT_OK;
	}
	if (px_key_gen(&kp, ctl->out, err, sizeof(err)) < 0) {
		px_ctl_fail(ctl, "%s", err);
		return PX_EXIT_FAIL;
	}
	if (ctl->json) {
		printf("{\"public\":\"%s\",\"secret_file\":", kp.pub);
		px_json_str(stdout, ctl->out);
		printf("}\n");
	} else
		printf("%s\n", kp.pub);
	memset(&kp, 0, sizeof(kp));
	return PX_EXIT_OK;
}

static int name_ok(px_ctl_t *ctl, const char *name)
{
	char q[PX_CTL_QUOTE_MAX];

	if (px_member_id_valid(name))
		return 0;
	px_ctl_quote(q, sizeof(q), name);
	return px_ctl_usage(ctl, "not a name ([A-Za-z0-9._-], 1-63): `%s'", q);
}

static int key_ok(px_ctl_t *ctl, const char *key)
{
	char q[PX_CTL_QUOTE_MAX];

	if (px_key_valid(key))
		return 0;
	px_ctl_quote(q, sizeof(q), key);
	return px_ctl_usage(ctl, "not a z85 public key of 40 characters: "
			    "`%s'", q);
}

/* One keys request; prints done (with the store's version) on success. */
static int keys_call(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		     const char *done)
{
	Phalanx__Envelope *env = NULL;

	if (px_ctl_request(ctl, req, &env) < 0)
		return PX_EXIT_FAIL;
	if (ctl->json)
		printf("{\"ok\":true,\"version\":%llu}\n",
		       (unsigned long long)env->ctl_reply->version);
	else
		printf("%s\n", done);
	px_wire_free(env);
	return PX_EXIT_OK;
}

/* admins add, members enroll: op binding key to name (role: admins). */
static int enroll(px_ctl_t *ctl, int op, char **argv, const char *role,
		  const char *done)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	int rc;

	if ((rc = name_ok(ctl, argv[0])) != 0 || (rc = key_ok(ctl, argv[1])) != 0)
		return rc;
	req.op = op;
	req.name = argv[0];
	req.key = argv[1];
	req.role = (char *)role;
	return keys_call(ctl, &req, done);
}

int px_cmd_admins_add(px_ctl_t *ctl, int argc, char **argv)
{
	char done[160];

	(void)argc;
	if (strcmp(ctl->role, "viewer") != 0 &&
	    strcmp(ctl->role, "operator") != 0 && strcmp(ctl->role, "admin") != 0)
		return px_ctl_usage(ctl, "--role: want viewer, operator or admin");
	snprintf(done, sizeof(done), "administrator %s added (%s)", argv[0],
		 ctl->role);
	return enroll(ctl, PHALANX__CTL_REQUEST__OP__ADMIN_ADD, argv,
		      ctl->role, done);
}

/* admins del, members revoke: op on the identity called name. */
static int forget(px_ctl_t *ctl, int op, const char *name, const char *what,
		  const char *outcome)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	char done[160];
	int rc;

	if ((rc = name_ok(ctl, name)) != 0)
		return rc;
	req.op = op;
	req.name = (char *)name;
	snprintf(done, sizeof(done), "%s %s %s", what, name, outcome);
	return keys_call(ctl, &req, done);
}

int px_cmd_admins_del(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return forget(ctl, PHALANX__CTL_REQUEST__OP__ADMIN_DEL, argv[0],
		      "administrator", "removed");
}

int px_cmd_admins_list(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	Phalanx__CtlReply *r;
	size_t i;

	(void)argc;
	(void)argv;
	req.op = PHALANX__CTL_REQUEST__OP__ADMIN_LIST;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	r = env->ctl_reply;
	if (ctl->json)
		printf("[");
	else
		printf("%-24s %-9s %s\n", "NAME", "ROLE", "PUBLIC KEY");
	for (i = 0; i < r->n_identities; i++) {
		const Phalanx__Identity *id = r->identities[i];

		if (ctl->json) {
			printf("%s{\"name\":", i ? "," : "");
			px_json_str(stdout, id->name);
			printf(",\"role\":");
			px_json_str(stdout, id->role);
			printf(",\"key\":");
			px_json_str(stdout, id->key);
			printf("}");
		} else
			printf("%-24s %-9s %s\n", id->name, id->role, id->key);
	}
	if (ctl->json)
		printf("]\n");
	px_wire_free(env);
	return PX_EXIT_OK;
}

int px_cmd_members_enroll(px_ctl_t *ctl, int argc, char **argv)
{
	char done[160];

	(void)argc;
	snprintf(done, sizeof(done), "member %s enrolled", argv[0]);
	return enroll(ctl, PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL, argv, NULL,
		      done);
}

int px_cmd_members_revoke(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return forget(ctl, PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE, argv[0],
		      "member", "revoked: its key is refused");
}

int px_cmd_history(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	Phalanx__CtlReply *r;
	char when[64];
	size_t i;
	int rc;

	(void)argc;
	(void)argv;
	req.op = PHALANX__CTL_REQUEST__OP__HISTORY;
	if (ctl->since && (rc = px_ctl_parse_since(ctl, ctl->since,
						   &req.since_ms)) != 0)
		return rc;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	r = env->ctl_reply;
	if (!ctl->json)
		printf("%-23s  %-16s %-8s %-13s %s\n", "TIME", "WHO", "ROLE",
		       "VERSION", "CHANGE");
	for (i = 0; i < r->n_history; i++) {
		const Phalanx__HistoryRecord *h = r->history[i];

		if (ctl->json) {
			printf("{\"time_ms\":%llu,\"who\":",
			       (unsigned long long)h->time_ms);
			px_json_str(stdout, h->who);
			printf(",\"role\":");
			px_json_str(stdout, h->role);
			printf(",\"what\":");
			px_json_str(stdout, h->what);
			printf(",\"request_id\":");
			px_json_str(stdout, h->request_id);
			printf(",\"version_before\":%llu,\"version_after\":%llu}\n",
			       (unsigned long long)h->version_before,
			       (unsigned long long)h->version_after);
			continue;
		}
		px_ctl_time_text(h->time_ms, when, sizeof(when));
		{
			char vers[48];

			if (h->version_before == h->version_after)
				snprintf(vers, sizeof(vers), "%llu",
					 (unsigned long long)h->version_after);
			else
				snprintf(vers, sizeof(vers), "%llu -> %llu",
					 (unsigned long long)h->version_before,
					 (unsigned long long)h->version_after);
			printf("%-23s  %-16s %-8s %-13s %s\n", when, h->who,
			       h->role, vers, h->what);
		}
	}
	if (r->history_more && !ctl->json)
		printf("(more: narrow with --since)\n");
	px_wire_free(env);
	return PX_EXIT_OK;
}
