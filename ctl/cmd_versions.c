/* cmd_versions.c - phalanxctl diff, rollback, confirm, pending: the
 * policy's versions as the store records them (store/versions.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "json.h"
#include "px.h"
#include "wire.h"

static bool json_out; /* diff --json */

static int parse_version(px_ctl_t *ctl, const char *s, uint64_t *v)
{
	char q[PX_CTL_QUOTE_MAX];

	if (px_parse_u64(s, 0, UINT64_MAX, v) == 0)
		return 0;
	px_ctl_quote(q, sizeof(q), s);
	return px_ctl_usage(ctl, "`%s' is not a version number", q);
}

static void entries_print(const char *sign, const ProtobufCBinaryData *b,
			  size_t n, size_t total)
{
	char es[PX_ENTRY_STR_MAX];
	px_entry_t e;
	size_t i;

	for (i = 0; i < n; i++) {
		if (px_entry_decode(b[i].data, b[i].len, &e) < 0)
			continue;
		px_entry_format(&e, es, sizeof(es));
		if (json_out)
			printf("%s", i ? "," : ""), px_json_str(stdout, es);
		else
			printf("  %s %s\n", sign, es);
	}
	if (!json_out && total > n)
		printf("  %s ... %zu more\n", sign, total - n);
}

static void names_print(const char *what, char **v, size_t n,
			const char *sign)
{
	size_t i;

	if (json_out) {
		printf("\"%s\":[", what);
		for (i = 0; i < n; i++) {
			printf("%s", i ? "," : "");
			px_json_str(stdout, v[i]);
		}
		printf("]");
		return;
	}
	for (i = 0; i < n; i++)
		printf("%s %s\n", sign, v[i]);
}

static void diff_json(const Phalanx__DiffReply *d)
{
	size_t i;

	printf("{\"from\":%llu,\"to\":%llu,\"sets\":[",
	       (unsigned long long)d->from, (unsigned long long)d->to);
	for (i = 0; i < d->n_sets; i++) {
		const Phalanx__SetDelta *s = d->sets[i];

		printf("%s{\"set\":", i ? "," : "");
		px_json_str(stdout, s->set);
		printf(",\"created\":%s,\"destroyed\":%s,\"added_count\":%llu,"
		       "\"removed_count\":%llu,\"added\":[",
		       s->created ? "true" : "false",
		       s->destroyed ? "true" : "false",
		       (unsigned long long)s->added_count,
		       (unsigned long long)s->removed_count);
		entries_print("+", s->added, s->n_added, s->added_count);
		printf("],\"removed\":[");
		entries_print("-", s->removed, s->n_removed, s->removed_count);
		printf("]}");
	}
	printf("],\"limits\":[");
	for (i = 0; i < d->n_limits; i++) {
		const Phalanx__LimitChange *l = d->limits[i];

		printf("%s{\"name\":", i ? "," : "");
		px_json_str(stdout, l->name);
		printf(",\"tier\":");
		px_json_str(stdout, l->tier);
		printf(",\"from\":%llu,\"to\":%llu,\"mode_from\":",
		       (unsigned long long)l->from, (unsigned long long)l->to);
		px_json_str(stdout, l->mode_from);
		printf(",\"mode_to\":");
		px_json_str(stdout, l->mode_to);
		printf("}");
	}
	printf("],\"rules\":{");
	names_print("added", d->rules_added, d->n_rules_added, "+");
	printf(",");
	names_print("removed", d->rules_removed, d->n_rules_removed, "-");
	printf(",");
	names_print("changed", d->rules_changed, d->n_rules_changed, "~");
	printf("},\"services\":{");
	names_print("added", d->services_added, d->n_services_added, "+");
	printf(",");
	names_print("removed", d->services_removed, d->n_services_removed, "-");
	printf(",");
	names_print("changed", d->services_changed, d->n_services_changed, "~");
	printf("},\"protection_changed\":%s}\n",
	       d->protection_changed ? "true" : "false");
}

static void diff_text(const Phalanx__DiffReply *d)
{
	size_t i, lines = 0;

	printf("version %llu -> %llu\n", (unsigned long long)d->from,
	       (unsigned long long)d->to);
	for (i = 0; i < d->n_sets; i++, lines++) {
		const Phalanx__SetDelta *s = d->sets[i];

		printf("set %s:%s%s +%llu -%llu entries\n", s->set,
		       s->created ? " created," : "",
		       s->destroyed ? " destroyed," : "",
		       (unsigned long long)s->added_count,
		       (unsigned long long)s->removed_count);
		entries_print("+", s->added, s->n_added, s->added_count);
		entries_print("-", s->removed, s->n_removed, s->removed_count);
	}
	for (i = 0; i < d->n_limits; i++, lines++) {
		const Phalanx__LimitChange *l = d->limits[i];

		printf("limit %s%s%s: %llu%s%s -> %llu%s%s\n", l->name,
		       l->tier[0] ? " --set " : "", l->tier,
		       (unsigned long long)l->from, l->mode_from[0] ? " " : "",
		       l->mode_from, (unsigned long long)l->to,
		       l->mode_to[0] ? " " : "", l->mode_to);
	}
	lines += d->n_rules_added + d->n_rules_removed + d->n_rules_changed +
		 d->n_services_added + d->n_services_removed +
		 d->n_services_changed + d->protection_changed;
	names_print("", d->rules_added, d->n_rules_added, "rule +");
	names_print("", d->rules_removed, d->n_rules_removed, "rule -");
	names_print("", d->rules_changed, d->n_rules_changed, "rule ~");
	names_print("", d->services_added, d->n_services_added, "service +");
	names_print("", d->services_removed, d->n_services_removed,
		    "service -");
	names_print("", d->services_changed, d->n_services_changed,
		    "service ~");
	if (d->protection_changed)
		printf("protection: changed (see `protection show')\n");
	if (!lines)
		printf("no difference\n");
}

void px_ctl_diff_print(const px_ctl_t *ctl, const Phalanx__DiffReply *d)
{
	json_out = ctl->json;
	if (ctl->json)
		diff_json(d);
	else
		diff_text(d);
}

int px_cmd_diff(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	int rc;

	req.op = PHALANX__CTL_REQUEST__OP__DIFF;
	if ((rc = parse_version(ctl, argv[0], &req.version_from)) != 0)
		return rc;
	if (argc > 1) {
		if ((rc = parse_version(ctl, argv[1], &req.version)) != 0)
			return rc;
	} else {
		/* to the current version: the store's status says it */
		if (px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__STATUS, &env) < 0)
			return PX_EXIT_FAIL;
		req.version = env->ctl_reply->version;
		px_wire_free(env);
		env = NULL;
	}
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	if (!env->ctl_reply->diff) {
		px_ctl_fail(ctl, "the store sent no difference: is it older "
			    "than this phalanxctl?");
		px_wire_free(env);
		return PX_EXIT_FAIL;
	}
	px_ctl_diff_print(ctl, env->ctl_reply->diff);
	px_wire_free(env);
	return PX_EXIT_OK;
}

static int version_write(px_ctl_t *ctl, int op, const char *arg)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	int rc;

	req.op = op;
	req.set = "";
	if ((rc = parse_version(ctl, arg, &req.version)) != 0)
		return rc;
	return px_ctl_write(ctl, &req, NULL, NULL);
}

int px_cmd_rollback(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return version_write(ctl, PHALANX__CTL_REQUEST__OP__ROLLBACK, argv[0]);
}

int px_cmd_confirm(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	int rc;

	(void)argc;
	req.op = PHALANX__CTL_REQUEST__OP__CONFIRM;
	req.set = "";
	if ((rc = parse_version(ctl, argv[0], &req.version)) != 0)
		return rc;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	if (ctl->json)
		printf("{\"confirmed\":%llu}\n", (unsigned long long)req.version);
	else
		printf("version %llu confirmed: it stays\n",
		       (unsigned long long)req.version);
	px_wire_free(env);
	return PX_EXIT_OK;
}

int px_cmd_pending(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	char when[64];
	size_t i;

	(void)argc;
	(void)argv;
	if (px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__PENDING, &env) < 0)
		return PX_EXIT_FAIL;
	r = env->ctl_reply;
	if (ctl->json)
		printf("[");
	else if (!r->n_pending)
		printf("no version waits for a confirmation\n");
	else
		printf("%-10s %-16s %-23s %s\n", "VERSION", "WHO", "REVERTED AT",
		       "IN");
	for (i = 0; i < r->n_pending; i++) {
		const Phalanx__VersionRecord *v = r->pending[i];
		long long left = (long long)v->confirm_by_ms -
				 (long long)r->now_ms;

		if (ctl->json) {
			printf("%s{\"version\":%llu,\"who\":", i ? "," : "",
			       (unsigned long long)v->version);
			px_json_str(stdout, v->who);
			printf(",\"confirm_by_ms\":%llu",
			       (unsigned long long)v->confirm_by_ms);
			if (v->canary_member[0]) {
				printf(",\"canary\":");
				px_json_str(stdout, v->canary_member);
				printf(",\"canary_for_s\":%u", v->canary_s);
			}
			printf("}");
			continue;
		}
		px_ctl_time_text(v->confirm_by_ms, when, sizeof(when));
		printf("%-10llu %-16s %-23s %llds%s%s%s\n",
		       (unsigned long long)v->version, v->who, when,
		       left > 0 ? (left + 999) / 1000 : 0,
		       v->canary_member[0] ? "  canary on " : "",
		       v->canary_member, v->canary_member[0] ?
		       " (released once healthy)" : "");
	}
	if (ctl->json)
		printf("]\n");
	px_wire_free(env);
	return PX_EXIT_OK;
}
