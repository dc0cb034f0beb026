/* cmd_rules.c - phalanxctl rules list|add|del: the filtering rules,
 * evaluated in order on new sessions; the first that matches decides.
 *
 * Every value is checked here, before anything is sent, against the
 * ranges the store applies (px_rule_from_proto); whether --src-set and
 * --before name something that exists only the store knows. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "json.h"
#include "limit.h"
#include "policy.h"
#include "px.h"
#include "wire.h"

static const char *str(const char *s)
{
	return s ? s : "";
}

static const char *action_name(int a)
{
	switch (a) {
	case PHALANX__RULE__ACTION__ALLOW:
		return "allow";
	case PHALANX__RULE__ACTION__DENY:
		return "deny";
	}
	return "?";
}

/* A rule as shown: its fields as text, "any" where it does not narrow. */
typedef struct {
	char src[PX_SETNAME_MAX + 1];
	char dst[PX_ENTRY_STR_MAX];
	char port[12];      /* a uint32 from the wire */
	bool has_rate;      /* non-TCP: the rule has a session quota */
	bool rate_default;  /* it follows nontcp-session-rate */
	uint64_t rate;      /* per minute, the default filled in */
} shown_t;

/* Fill s from rule; def: the nontcp-session-rate in force.  0, or an
 * error if the store sent a destination this build cannot read. */
static int rule_shown(const Phalanx__Rule *rule, uint64_t def, shown_t *s)
{
	px_entry_t e;
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(s->src, sizeof(s->src), "%s",
		 rule->src_set && rule->src_set[0] ? rule->src_set : "any");
	snprintf(s->dst, sizeof(s->dst), "any");
	if (rule->dst.len) {
		rc = px_entry_decode(rule->dst.data, rule->dst.len, &e);
		if (rc < 0)
			return rc;
		px_entry_format(&e, s->dst, sizeof(s->dst));
	}
	if (rule->port)
		snprintf(s->port, sizeof(s->port), "%u", (unsigned)rule->port);
	else
		snprintf(s->port, sizeof(s->port), "any");
	s->has_rate = px_proto_parse(str(rule->proto)) != PX_PROTO_TCP;
	s->rate_default = s->has_rate && rule->rate == 0;
	s->rate = s->rate_default ? def : rule->rate;
	return 0;
}

/* The nontcp-session-rate limit in force: what a rule without --rate
 * gets. */
static uint64_t default_rate(const Phalanx__CtlReply *limits)
{
	const char *name = px_limit_defs[PX_LIM_NONTCP_SESSION_RATE].name;
	size_t i;

	for (i = 0; i < limits->n_limits; i++)
		if (strcmp(str(limits->limits[i]->name), name) == 0)
			return limits->limits[i]->value;
	return px_limit_defs[PX_LIM_NONTCP_SESSION_RATE].def;
}

static void list_json(const Phalanx__CtlReply *r, const shown_t *sv)
{
	size_t i;

	printf("{\"version\":%llu,\"rules\":[", (unsigned long long)r->version);
	for (i = 0; i < r->n_rules; i++) {
		const Phalanx__Rule *rule = r->rules[i];
		const shown_t *s = &sv[i];

		printf("%s{\"position\":%zu,\"name\":", i ? "," : "", i + 1);
		px_json_str(stdout, rule->name);
		printf(",\"action\":\"%s\",\"proto\":", action_name(rule->action));
		px_json_str(stdout, rule->proto);
		fputs(",\"src_set\":", stdout);
		if (rule->src_set && rule->src_set[0])
			px_json_str(stdout, rule->src_set);
		else
			fputs("null", stdout);
		fputs(",\"dst\":", stdout);
		if (rule->dst.len)
			px_json_str(stdout, s->dst);
		else
			fputs("null", stdout);
		if (rule->port)
			printf(",\"port\":%u", (unsigned)rule->port);
		else
			fputs(",\"port\":null", stdout);
		if (s->has_rate)
			printf(",\"rate\":%llu", (unsigned long long)s->rate);
		else
			fputs(",\"rate\":null", stdout);
		printf(",\"rate_default\":%s}", s->rate_default ? "true" : "false");
	}
	fputs("]}\n", stdout);
}

enum { COL_POS, COL_NAME, COL_ACTION, COL_PROTO, COL_SRC, COL_DST, COL_PORT,
       COL_RATE, NCOLS };

static void list_table(const Phalanx__CtlReply *r, const shown_t *sv)
{
	static const char *const head[NCOLS] = { "#", "NAME", "ACTION",
		"PROTO", "SOURCE", "DESTINATION", "PORT", "RATE" };
	char **cell = xcalloc(r->n_rules * NCOLS + 1, sizeof(*cell));
	size_t i;

	for (i = 0; i < r->n_rules; i++) {
		const Phalanx__Rule *rule = r->rules[i];
		const shown_t *s = &sv[i];
		char **row = cell + i * NCOLS;

		row[COL_POS] = px_ctl_asprintf("%zu", i + 1);
		row[COL_NAME] = px_ctl_asprintf("%s", str(rule->name));
		row[COL_ACTION] = px_ctl_asprintf("%s", action_name(rule->action));
		row[COL_PROTO] = px_ctl_asprintf("%s", str(rule->proto));
		row[COL_SRC] = px_ctl_asprintf("%s", s->src);
		row[COL_DST] = px_ctl_asprintf("%s", s->dst);
		row[COL_PORT] = px_ctl_asprintf("%s", s->port);
		if (s->has_rate)
			row[COL_RATE] = px_ctl_asprintf("%llu/minute%s",
				(unsigned long long)s->rate,
				s->rate_default ? " (default)" : "");
		else
			row[COL_RATE] = px_ctl_asprintf("-");
	}
	px_ctl_table("", head, NCOLS, cell, r->n_rules);
}

int px_cmd_rules_list(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL, *limits = NULL;
	const Phalanx__CtlReply *r;
	shown_t *sv = NULL;
	uint64_t def;
	size_t i;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	/* A rule without --rate follows nontcp-session-rate: show its value
	 * in force, which only LIMIT_SHOW has. */
	if (px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__RULE_LIST, &env) < 0 ||
	    px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__LIMIT_SHOW, &limits) < 0)
		goto out;
	r = env->ctl_reply;
	def = default_rate(limits->ctl_reply);
	sv = xcalloc(r->n_rules + 1, sizeof(*sv));
	for (i = 0; i < r->n_rules; i++) {
		if (rule_shown(r->rules[i], def, &sv[i]) < 0) {
			px_ctl_fail(ctl, "the store sent a destination this "
				    "build cannot read (rule %zu of %zu)", i + 1,
				    r->n_rules);
			goto out;
		}
	}
	if (ctl->json)
		list_json(r, sv);
	else
		list_table(r, sv);
	rc = PX_EXIT_OK;
out:
	free(sv);
	px_wire_free(limits);
	px_wire_free(env);
	return rc;
}

/* The values of rules add, checked: the rule to send.  dst holds the
 * wire form of --dst.  Returns the exit status. */
static int rule_build(const px_ctl_t *ctl, const char *name,
		      Phalanx__Rule *rule, uint8_t dst[PX_ENTRY_WIRE_MAX])
{
	const px_limit_def_t *d = &px_limit_defs[PX_LIM_NONTCP_SESSION_RATE];
	char q[PX_CTL_QUOTE_MAX];
	px_entry_t e;
	uint64_t v;
	int proto = PX_PROTO_ANY, err;

	if (px_ctl_check_name(ctl, NULL, "rule", name) < 0)
		return PX_EXIT_FAIL;
	rule->name = (char *)name;
	if (strcmp(ctl->action, "allow") == 0) {
		rule->action = PHALANX__RULE__ACTION__ALLOW;
	} else if (strcmp(ctl->action, "deny") == 0) {
		rule->action = PHALANX__RULE__ACTION__DENY;
	} else {
		px_ctl_quote(q, sizeof(q), ctl->action);
		return px_ctl_fail(ctl, "--action: not an action (want allow or "
				   "deny): `%s'", q);
	}
	if (ctl->proto && (proto = px_proto_parse(ctl->proto)) < 0) {
		px_ctl_quote(q, sizeof(q), ctl->proto);
		return px_ctl_fail(ctl, "--proto: not a protocol (want tcp, udp, "
				   "icmp or any): `%s'", q);
	}
	rule->proto = (char *)px_proto_name(proto);
	/* Ports exist for TCP and UDP only; a TCP rule's sessions are
	 * counted by the tcp-* quotas, not by a per-rule rate. */
	if (ctl->port && !ctl->proto)
		return px_ctl_usage(ctl, "--port applies to tcp and udp rules "
				    "only: give --proto tcp or --proto udp");
	if (ctl->port && proto != PX_PROTO_TCP && proto != PX_PROTO_UDP)
		return px_ctl_usage(ctl, "--port applies to tcp and udp rules "
				    "only, not to --proto %s",
				    px_proto_name(proto));
	if (ctl->rate && proto == PX_PROTO_TCP)
		return px_ctl_usage(ctl, "--rate applies to non-TCP rules only "
				    "(udp, icmp, any), not to --proto tcp");
	if (ctl->src_set &&
	    px_ctl_check_name(ctl, "--src-set", "set", ctl->src_set) < 0)
		return PX_EXIT_FAIL;
	rule->src_set = (char *)(ctl->src_set ? ctl->src_set : "");
	if (ctl->dst) {
		err = px_entry_parse(ctl->dst, &e);
		if (err < 0) {
			px_ctl_quote(q, sizeof(q), ctl->dst);
			return px_ctl_fail(ctl, "--dst: %s: `%s'",
					   px_strerror(err), q);
		}
		rule->dst.data = dst;
		rule->dst.len = px_entry_encode(&e, dst);
	}
	if (ctl->port) {
		if (px_parse_u64(ctl->port, 1, 65535, &v) < 0) {
			px_ctl_quote(q, sizeof(q), ctl->port);
			return px_ctl_fail(ctl, "--port: not a port (1..65535): "
					   "`%s'", q);
		}
		rule->port = (uint32_t)v;
	}
	if (ctl->rate) {
		err = px_limit_parse(PX_LIM_NONTCP_SESSION_RATE, ctl->rate, &v);
		px_ctl_quote(q, sizeof(q), ctl->rate);
		if (err == PX_ERANGE)
			return px_ctl_fail(ctl, "--rate: %s (%llu..%llu%s): `%s'",
					   px_strerror(err),
					   (unsigned long long)d->min,
					   (unsigned long long)d->max, d->unit, q);
		if (err < 0)
			return px_ctl_fail(ctl, "--rate: not a rate (want N, "
					   "N/minute or N/second): `%s'", q);
		rule->rate = v;
	}
	if (ctl->before &&
	    px_ctl_check_name(ctl, "--before", "rule", ctl->before) < 0)
		return PX_EXIT_FAIL;
	return PX_EXIT_OK;
}

int px_cmd_rules_add(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Rule rule = PHALANX__RULE__INIT;
	uint8_t dst[PX_ENTRY_WIRE_MAX];
	int rc;

	(void)argc;
	rc = rule_build(ctl, argv[0], &rule, dst);
	if (rc != PX_EXIT_OK)
		return rc;
	req.op = PHALANX__CTL_REQUEST__OP__RULE_ADD;
	req.rule = &rule;
	req.before = (char *)(ctl->before ? ctl->before : "");
	return px_ctl_write(ctl, &req, "--src-set", ctl->src_set);
}

int px_cmd_rules_del(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return px_ctl_write_name(ctl, PHALANX__CTL_REQUEST__OP__RULE_DEL,
				 "rule", argv[0]);
}
