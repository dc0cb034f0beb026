/* cmd_log.c - phalanxctl log tail: the members' firewall log records, as
 * the store keeps the newest of them (store/logring.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "px.h"
#include "wire.h"

#define TAIL_DEFAULT 20
#define TAIL_MAX 1000        /* the store's page */

static const char *str(const char *s)
{
	return s ? s : "";
}

/* --json: the member's own line.  Else "TIME  MEMBER  TEXT"; the
 * member's text quoted, so a hostile one cannot garble the terminal. */
static void print_record(const px_ctl_t *ctl, const Phalanx__LogRecord *r)
{
	char when[48], text[600];

	if (ctl->json) {
		printf("%s\n", str(r->json));
		return;
	}
	px_ctl_time_text(r->time_ms, when, sizeof(when));
	px_ctl_quote(text, sizeof(text), str(r->text));
	printf("%s  %s  %s\n", when, str(r->member), text);
}

static void req_filters(const px_ctl_t *ctl, Phalanx__CtlRequest *req)
{
	req->op = PHALANX__CTL_REQUEST__OP__LOG_LIST;
	req->member = (char *)str(ctl->member);
	req->type = (char *)str(ctl->type);
}

static int check_type(const px_ctl_t *ctl)
{
	static const char *const types[] = { "denied", "ended", "suppressed",
					     "lost" };
	char q[PX_CTL_QUOTE_MAX];
	size_t i;

	if (!ctl->type)
		return 0;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(ctl->type, types[i]) == 0)
			return 0;
	px_ctl_quote(q, sizeof(q), ctl->type);
	return px_ctl_usage(ctl, "--type: want denied, ended, suppressed or "
			    "lost: `%s'", q);
}

/* The last N records. */
static int tail(px_ctl_t *ctl, uint64_t n)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	size_t i;

	req_filters(ctl, &req);
	req.newest = true;
	req.max = (uint32_t)n;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	r = env->ctl_reply;
	for (i = 0; i < r->n_log_records; i++)
		print_record(ctl, r->log_records[i]);
	if (r->n_log_records == 0 && !ctl->json)
		fprintf(stderr, "no firewall log records\n");
	px_wire_free(env);
	return PX_EXIT_OK;
}

static uint64_t follow_head(const Phalanx__CtlReply *r)
{
	return r->log_seq;
}

static bool follow_page(const px_ctl_t *ctl, Phalanx__CtlRequest *req,
			const Phalanx__CtlReply *r, uint64_t want,
			uint64_t *seen)
{
	bool more = r->log_more && r->n_log_records;
	size_t i;

	for (i = 0; i < r->n_log_records && (!want || *seen < want); i++) {
		print_record(ctl, r->log_records[i]);
		(*seen)++;
	}
	req->after_seq = more ?
		r->log_records[r->n_log_records - 1]->store_seq : r->log_seq;
	return more;
}

/* New records from now on, polling the store like `alerts watch'; the
 * ring's numbers begin again when the store restarts. */
static const px_ctl_follow_t follow = { follow_head, true, follow_page };

int px_cmd_log_tail(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	uint64_t n = ctl->follow ? 0 : TAIL_DEFAULT;
	char q[PX_CTL_QUOTE_MAX];
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = check_type(ctl)) != 0)
		return rc;
	if (ctl->count && px_parse_u64(ctl->count, 1, ctl->follow ? UINT64_MAX :
				       TAIL_MAX, &n) < 0) {
		px_ctl_quote(q, sizeof(q), ctl->count);
		return ctl->follow ?
			px_ctl_usage(ctl, "--count: not a number (1 or more): "
				     "`%s'", q) :
			px_ctl_usage(ctl, "--count: not a number of records "
				     "(1..%d): `%s'", TAIL_MAX, q);
	}
	if (!ctl->follow)
		return tail(ctl, n);
	req_filters(ctl, &req);
	return px_ctl_follow(ctl, &req, n, &follow);
}
