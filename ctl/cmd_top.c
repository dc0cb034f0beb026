/* cmd_top.c - phalanxctl top: the array's top talkers now, computed by
 * the store from the firewall log records of the last minute and the
 * members' heartbeats (store/logring.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "json.h"
#include "px.h"
#include "wire.h"

#define TOP_MAX 100

/* "fw1,fw2" or "-" into buf. */
static void names_text(char **v, size_t n, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < n && o < len; i++) {
		char q[PX_CTL_QUOTE_MAX];

		px_ctl_quote(q, sizeof(q), v[i] ? v[i] : "");
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", q);
	}
	if (!n)
		snprintf(buf, len, "-");
}

static void json_names(char **v, size_t n)
{
	size_t i;

	putchar('[');
	for (i = 0; i < n; i++) {
		if (i)
			putchar(',');
		px_json_str(stdout, v[i]);
	}
	putchar(']');
}

static void print_json(const Phalanx__CtlReply *r, const char *by)
{
	uint64_t secs = r->top_window_ms / 1000 ? r->top_window_ms / 1000 : 1;
	char src[PX_ENTRY_STR_MAX];
	size_t i;

	printf("{\"by\":\"%s\",\"window_ms\":%llu,\"suppressed_denied\":%llu,"
	       "\"top\":[", by, (unsigned long long)r->top_window_ms,
	       (unsigned long long)r->top_suppressed);
	for (i = 0; i < r->n_top; i++) {
		const Phalanx__TopEntry *t = r->top[i];

		px_ctl_source_text(&t->source, src, sizeof(src));
		printf("%s{\"source\":", i ? "," : "");
		px_json_str(stdout, src);
		printf(",\"denied\":%llu,\"connections\":%llu,\"bytes\":%llu,"
		       "\"bytes_per_second\":%llu,\"destinations\":%llu,"
		       "\"members\":", (unsigned long long)t->denied,
		       (unsigned long long)t->connections,
		       (unsigned long long)t->bytes,
		       (unsigned long long)(t->bytes / secs),
		       (unsigned long long)t->destinations);
		json_names(t->members, t->n_members);
		fputs(",\"blocked\":", stdout);
		json_names(t->blocked, t->n_blocked);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

static void print_table(const Phalanx__CtlReply *r, const char *by)
{
	uint64_t secs = r->top_window_ms / 1000 ? r->top_window_ms / 1000 : 1;
	char src[PX_ENTRY_STR_MAX], members[256], blocked[256];
	size_t i;

	printf("top sources by %s, from the firewall log records of the last "
	       "%llu s\n", by, (unsigned long long)secs);
	printf("%-40s %8s %8s %10s %6s  %-16s %s\n", "SOURCE", "DENIED",
	       "CONNS", "BYTES/S", "DESTS", "MEMBERS", "BLOCKED");
	for (i = 0; i < r->n_top; i++) {
		const Phalanx__TopEntry *t = r->top[i];

		px_ctl_source_text(&t->source, src, sizeof(src));
		names_text(t->members, t->n_members, members, sizeof(members));
		names_text(t->blocked, t->n_blocked, blocked, sizeof(blocked));
		printf("%-40s %8llu %8llu %10llu %6llu  %-16s %s\n", src,
		       (unsigned long long)t->denied,
		       (unsigned long long)t->connections,
		       (unsigned long long)(t->bytes / secs),
		       (unsigned long long)t->destinations, members, blocked);
	}
	if (r->n_top == 0)
		printf("(no records of the kind in the last %llu s)\n",
		       (unsigned long long)secs);
	if (r->top_suppressed)
		printf("%llu more denied records were suppressed by the "
		       "members' caps (no source: not in the table)\n",
		       (unsigned long long)r->top_suppressed);
}

int px_cmd_top(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const char *by = ctl->by ? ctl->by : "denied";
	char q[PX_CTL_QUOTE_MAX];
	uint64_t n = 10;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	if (strcmp(by, "denied") != 0 && strcmp(by, "connections") != 0 &&
	    strcmp(by, "rate") != 0) {
		px_ctl_quote(q, sizeof(q), by);
		return px_ctl_usage(ctl, "--by: want denied, connections or "
				    "rate: `%s'", q);
	}
	if (ctl->count && px_parse_u64(ctl->count, 1, TOP_MAX, &n) < 0) {
		px_ctl_quote(q, sizeof(q), ctl->count);
		return px_ctl_usage(ctl, "--count: not a number of sources "
				    "(1..%d): `%s'", TOP_MAX, q);
	}
	req.op = PHALANX__CTL_REQUEST__OP__TOP;
	req.top_by = (char *)by;
	req.max = (uint32_t)n;
	if (px_ctl_request(ctl, &req, &env) < 0)
		goto out;
	if (ctl->json)
		print_json(env->ctl_reply, by);
	else
		print_table(env->ctl_reply, by);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}
