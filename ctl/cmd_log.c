/* cmd_log.c - phalanxctl log tail: the members' firewall log records, as
 * the store keeps the newest of them (store/logring.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "ctl.h"
#include "px.h"
#include "wire.h"

#define TAIL_DEFAULT 20
#define TAIL_MAX 1000        /* the store's page */
#define FOLLOW_POLL_MS 200
/* One request of a follow waits at most this long: a store that
 * restarts is asked again rather than waited for. */
#define FOLLOW_CALL_MS 5000
#define FOLLOW_RETRY_MS 500

static const char *str(const char *s)
{
	return s ? s : "";
}

static void time_text(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	if (!localtime_r(&t, &tm) || !strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S",
					       &tm)) {
		snprintf(buf, len, "%llu", (unsigned long long)ms);
		return;
	}
	snprintf(buf, len, "%s.%03u", s, (unsigned)(ms % 1000));
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
	time_text(r->time_ms, when, sizeof(when));
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

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
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
	if (px_ctl_call(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	r = env->ctl_reply;
	if (r->status != 0) {
		px_ctl_fail(ctl, "%s", px_ctl_reply_error(ctl, r));
		px_wire_free(env);
		return PX_EXIT_FAIL;
	}
	for (i = 0; i < r->n_log_records; i++)
		print_record(ctl, r->log_records[i]);
	if (r->n_log_records == 0 && !ctl->json)
		fprintf(stderr, "no firewall log records\n");
	px_wire_free(env);
	return PX_EXIT_OK;
}

/* One LOG_LIST of a follow, bounded by the deadline; a failure closes
 * the connection so that a late answer is never taken for the next.
 * 0, -1 (try again) or -2 (refused: stop). */
static int follow_call(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		       uint64_t deadline, Phalanx__Envelope **env)
{
	uint64_t now = px_mono_ms(), left;

	left = deadline ? (deadline > now ? deadline - now : 0) : FOLLOW_CALL_MS;
	if (left == 0)
		return -1;
	ctl->timeout_ms = left < FOLLOW_CALL_MS ? left : FOLLOW_CALL_MS;
	if (px_ctl_call(ctl, req, env) < 0) {
		px_ctl_close(ctl);
		return -1;
	}
	if ((*env)->ctl_reply->status != 0) {
		px_ctl_fail(ctl, "%s", px_ctl_reply_error(ctl, (*env)->ctl_reply));
		px_wire_free(*env);
		*env = NULL;
		return -2;
	}
	return 0;
}

/* New records from now on, polling the store like `alerts watch'. */
static int follow(px_ctl_t *ctl, uint64_t want)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	uint64_t deadline = 0, seen = 0;
	bool started = false;
	size_t i;
	int rc;

	if (ctl->timeout_given)
		deadline = px_mono_ms() + ctl->timeout_ms;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	req_filters(ctl, &req);
	req.after_seq = UINT64_MAX; /* first, where the store is */
	while (!interrupted && (!deadline || px_mono_ms() < deadline)) {
		const Phalanx__CtlReply *r;
		bool more;

		rc = follow_call(ctl, &req, deadline, &env);
		if (rc == -2)
			return PX_EXIT_FAIL;
		if (rc < 0) {
			sleep_ms(FOLLOW_RETRY_MS);
			continue;
		}
		r = env->ctl_reply;
		if (!started || r->log_seq < req.after_seq) {
			/* The start, or a store that restarted (its numbers
			 * begin again): from its newest on. */
			started = true;
			req.after_seq = r->log_seq;
			px_wire_free(env);
			continue;
		}
		for (i = 0; i < r->n_log_records && (!want || seen < want); i++) {
			print_record(ctl, r->log_records[i]);
			seen++;
		}
		fflush(stdout);
		more = r->log_more && r->n_log_records;
		req.after_seq = more ?
			r->log_records[r->n_log_records - 1]->store_seq :
			r->log_seq;
		px_wire_free(env);
		env = NULL;
		if (want && seen >= want)
			break;
		if (!more)
			sleep_ms(FOLLOW_POLL_MS);
	}
	return PX_EXIT_OK;
}

int px_cmd_log_tail(px_ctl_t *ctl, int argc, char **argv)
{
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
	return ctl->follow ? follow(ctl, n) : tail(ctl, n);
}
