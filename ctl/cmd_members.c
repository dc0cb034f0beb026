/* cmd_members.c - phalanxctl members list|drain|undrain (failover) and
 * members remove (forget a member the store remembers). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "ctl.h"
#include "json.h"
#include "px.h"
#include "wire.h"

/* A store that answers a DRAINED_WAIT before its deadline with the
 * member not settled (it judged from a role phalanxctl reads otherwise)
 * is asked again after this long, not at once. */
#define MEMBERS_RETRY_MS 200

static const char *str(const char *s)
{
	return s ? s : "";
}

/* The role to show: a down member has none it can vouch for. */
static const char *role_of(const Phalanx__MemberStatus *m)
{
	if (!m->up)
		return "down";
	if (m->drained && strcmp(str(m->vrrp_role), "fault") == 0)
		return "drained";
	return m->vrrp_role && m->vrrp_role[0] ? m->vrrp_role : "unknown";
}

static void list_json(const Phalanx__CtlReply *r)
{
	size_t i, j;

	fputs("{\"version\":", stdout);
	printf("%llu,\"members\":[", (unsigned long long)r->version);
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		printf("%s{\"member\":", i ? "," : "");
		px_json_str(stdout, m->member);
		fputs(",\"addresses\":[", stdout);
		for (j = 0; j < m->n_addresses; j++) {
			if (j)
				putchar(',');
			px_json_str(stdout, m->addresses[j]);
		}
		fputs("],\"role\":", stdout);
		px_json_str(stdout, role_of(m));
		printf(",\"drained\":%s,\"up\":%s,\"health\":\"%s\","
		       "\"applied_version\":%llu,\"last_heartbeat_ms\":%llu,"
		       "\"heartbeat_age_ms\":",
		       m->drained ? "true" : "false", m->up ? "true" : "false",
		       px_ctl_health_name(m->health),
		       (unsigned long long)m->applied_version,
		       (unsigned long long)m->last_heartbeat_ms);
		if (m->last_heartbeat_ms)
			printf("%llu}", (unsigned long long)px_ctl_heartbeat_age_ms(r, m));
		else
			fputs("null}", stdout);
	}
	fputs("]}\n", stdout);
}

static void list_human(const Phalanx__CtlReply *r)
{
	size_t i, j;
	char addrs[1024], hb[32];

	if (r->n_members == 0) {
		fputs("members: none has reported yet\n", stdout);
		return;
	}
	printf("%-12s %-8s %-9s %-8s %-10s %s\n", "MEMBER", "ROLE", "HEALTH",
	       "APPLIED", "HEARTBEAT", "ADDRESSES");
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];
		size_t off = 0;

		addrs[0] = 0;
		for (j = 0; j < m->n_addresses && off < sizeof(addrs); j++)
			off += (size_t)snprintf(addrs + off, sizeof(addrs) - off,
						"%s%s", j ? " " : "",
						m->addresses[j]);
		if (m->last_heartbeat_ms)
			snprintf(hb, sizeof(hb), "%.1fs ago",
				 (double)px_ctl_heartbeat_age_ms(r, m) / 1000.0);
		else
			snprintf(hb, sizeof(hb), "never");
		printf("%-12s %-8s %-9s %-8llu %-10s %s\n", str(m->member),
		       role_of(m), px_ctl_health_name(m->health),
		       (unsigned long long)m->applied_version, hb, addrs);
	}
}

int px_cmd_members_list(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	if (px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__STATUS, &env) < 0)
		goto out;
	if (ctl->json)
		list_json(env->ctl_reply);
	else
		list_human(env->ctl_reply);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}

/* drain: M reports "drained" and another member that is up "master";
 * undrain: M reports a role other than drained/fault. */
static bool drain_done(const Phalanx__CtlReply *r, const char *id, bool drain,
		       char *seen, size_t len)
{
	bool me = false, other = false;
	size_t off = 0;

	seen[0] = 0;
	for (size_t i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];
		const char *role = role_of(m);

		if (off < len)
			off += (size_t)snprintf(seen + off, len - off, "%s%s %s",
						i ? ", " : "", str(m->member),
						role);
		if (strcmp(str(m->member), id) == 0)
			me = drain ? strcmp(role, "drained") == 0 :
				     strcmp(role, "master") == 0 ||
				     strcmp(role, "backup") == 0;
		else if (m->up && strcmp(role, "master") == 0)
			other = true;
	}
	return drain ? me && other : me;
}

/* Ask for the member's role: with several stores, the one the member
 * reports to (each store hears the members that follow it, and a member
 * need not follow the leader); the others say they do not know it.  As
 * px_ctl_request: 0, or below 0 after saying why. */
static int drain_ask(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		     Phalanx__Envelope **env)
{
	char why[512], tried[1024] = "";
	size_t i, off = 0;

	if (ctl->nbases <= 1)
		return px_ctl_request(ctl, req, env);
	for (i = 0; i < ctl->nbases; i++) {
		const Phalanx__CtlReply *r;

		if (px_ctl_call_one(ctl, i, req, env, why, sizeof(why)) < 0) {
			off += (size_t)snprintf(tried + off, off < sizeof(tried) ?
						sizeof(tried) - off : 0,
						"%s%s: %s", off ? "; " : "",
						ctl->bases[i], why);
			continue;
		}
		r = (*env)->ctl_reply;
		if (r->status == 0)
			return 0;
		if (r->status != PX_ENOMEMBER) {
			px_ctl_fail(ctl, "%s", px_ctl_reply_error(ctl, r));
			px_wire_free(*env);
			*env = NULL;
			return -2;
		}
		px_wire_free(*env);
		*env = NULL;
	}
	px_ctl_fail(ctl, "no store hears member %s%s%s", req->member,
		    tried[0] ? ": " : "", tried);
	return -1;
}

/* --wait: one request the store holds until the member's role settles
 * (store/waiters.c runs it again when a heartbeat changes a role), or
 * until what is left of --wait passed; no polling. */
static int drain_wait(px_ctl_t *ctl, const char *id, bool drain)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	uint64_t deadline = px_mono_ms() + ctl->wait_ms;
	uint64_t timeout = ctl->timeout_ms, now, asked;
	char seen[512] = "";
	int rc = PX_EXIT_FAIL;

	req.op = drain ? PHALANX__CTL_REQUEST__OP__DRAINED_WAIT :
			 PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT;
	req.member = (char *)id;
	req.set = "";
	px_ctl_progress("waiting for %s to be %s", id, drain ? "drained" :
			"back");
	while ((now = px_mono_ms()) < deadline || !env) {
		struct timespec ts = { 0, MEMBERS_RETRY_MS * 1000000L };

		px_wire_free(env);
		env = NULL;
		/* at most a day (ctl/main.c); the answer may take that long,
		 * then the usual time to come */
		req.timeout_ms = (uint32_t)(deadline > now ? deadline - now :
					    0);
		ctl->timeout_ms = req.timeout_ms + timeout;
		asked = px_mono_ms();
		rc = drain_ask(ctl, &req, &env);
		ctl->timeout_ms = timeout;
		if (rc < 0) {
			rc = PX_EXIT_FAIL;
			goto out;
		}
		rc = PX_EXIT_FAIL;
		if (drain_done(env->ctl_reply, id, drain, seen, sizeof(seen))) {
			px_ctl_progress_end();
			printf("%s %s (%s)\n", id, drain ? "drained" :
			       "undrained", seen);
			rc = PX_EXIT_OK;
			goto out;
		}
		if (px_mono_ms() - asked < MEMBERS_RETRY_MS &&
		    px_mono_ms() < deadline)
			nanosleep(&ts, NULL);
	}
	px_ctl_progress_end();
	px_ctl_fail(ctl, "%s: not %s after %llu s; members: %s", id, drain ?
		    "drained with another member master" :
		    "back to backup/master",
		    (unsigned long long)(ctl->wait_ms / 1000), seen);
out:
	px_wire_free(env);
	return rc;
}

static int drain_cmd(px_ctl_t *ctl, const char *id, bool drain)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	int rc = PX_EXIT_FAIL;

	if (!px_member_id_valid(id)) {
		fprintf(stderr, "phalanxctl %s: not a member id: `%s'\n",
			ctl->cmd, id);
		return PX_EXIT_USAGE;
	}
	req.op = drain ? PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN :
			 PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN;
	req.member = (char *)id;
	req.set = "";
	if (px_ctl_request(ctl, &req, &env) < 0)
		goto out;
	if (!ctl->wait) {
		printf("%s %s\n", id, drain ? "drained" : "undrained");
		rc = PX_EXIT_OK;
		goto out;
	}
	rc = drain_wait(ctl, id, drain);
out:
	px_wire_free(env);
	return rc;
}

int px_cmd_members_drain(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return drain_cmd(ctl, argv[0], true);
}

int px_cmd_members_undrain(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return drain_cmd(ctl, argv[0], false);
}

int px_cmd_members_remove(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	char q[PX_CTL_QUOTE_MAX];

	(void)argc;
	if (!px_member_id_valid(argv[0])) {
		px_ctl_quote(q, sizeof(q), argv[0]);
		return px_ctl_usage(ctl, "not a member id: `%s'", q);
	}
	req.op = PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE;
	req.member = argv[0];
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	if (ctl->json) {
		printf("{\"removed\":");
		px_json_str(stdout, argv[0]);
		printf(",\"version\":%llu}\n",
		       (unsigned long long)env->ctl_reply->version);
	} else {
		printf("member %s removed\n", argv[0]);
	}
	px_wire_free(env);
	return PX_EXIT_OK;
}
