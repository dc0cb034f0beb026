/* hold.c - pxgen hold: N concurrent TCP connections, held open and
 * checked (one byte echoed, or one HTTP request answered) until
 * --seconds pass or --until-file appears; then a last check tells which
 * are alive.
 *
 * Time line: connect phase (every attempt done), --ready-file, holding
 * (a check round every --check-every-ms), last check (at most
 * --reply-timeout-ms).  The last check's time is kept free before
 * --timeout, so it always happens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

enum {
	C_ATTEMPTED, C_ESTABLISHED, C_REFUSED, C_TIMEOUT, C_ERROR,
	C_EADDRNOTAVAIL, C_ALIVE_AT_END, C_DIED, C_DIED_RESET, C_DIED_CLOSED,
	C_DIED_SILENT, C_MISSED_CHECKS, C_CONNS_MISSED, C_UNFINISHED, NCOUNTS
};
static const char *const names[NCOUNTS] = {
	"attempted", "established", "refused", "timeout", "error",
	"eaddrnotavail", "alive_at_end", "died", "died_reset", "died_closed",
	"died_silent", "missed_checks", "conns_missed", "unfinished",
};

enum { S_NONE, S_CONNECTING, S_OPEN, S_FAILED, S_DEAD };
enum { CHECK_ECHO, CHECK_HTTP, CHECK_NONE };

/* How often --until-file is looked for: a stat() every 100 ms costs
 * nothing and a test waits at most that long. */
#define UNTIL_POLL_US 100000

typedef struct {
	gen_timer_t timer; /* first member: a timer is its connection */
	int fd;
	int state;
	size_t row;
	int outstanding;   /* a check is sent and not answered */
	int missed;        /* ... and already counted as missed */
	int ever_missed;
	int64_t probe_us;  /* when it was sent */
	gen_http_rx_t *rx; /* --check http */
} conn_t;

typedef struct {
	const gen_opts_t *o;
	int ep;
	int check;
	conn_t *c;
	size_t n;          /* attempts started */
	size_t connecting, open, outstanding;
	gen_timers_t timers;
	gen_counts_t counts;
	gen_errs_t errs;
	char req[1200];
	size_t reqlen;
	unsigned long checks;
} run_t;

static void missed(run_t *r, conn_t *c)
{
	if (c->missed)
		return;
	c->missed = 1;
	gen_count(&r->counts, c->row, C_MISSED_CHECKS);
	if (!c->ever_missed) {
		c->ever_missed = 1;
		gen_count(&r->counts, c->row, C_CONNS_MISSED);
	}
}

static void answered(run_t *r, conn_t *c, int64_t now)
{
	if (!c->outstanding)
		return;
	if (now - c->probe_us > (int64_t)r->o->reply_timeout_ms * 1000)
		missed(r, c);
	c->outstanding = 0;
	c->missed = 0;
	r->outstanding--;
}

/* An open connection ended: reset (or another socket error), closed by
 * the peer, or silent at the last check. */
static void died(run_t *r, conn_t *c, int how, int err)
{
	gen_count(&r->counts, c->row, C_DIED);
	gen_count(&r->counts, c->row, how);
	if (err)
		(void)gen_errs_note(&r->errs, err);
	if (c->outstanding) {
		c->outstanding = 0;
		r->outstanding--;
	}
	close(c->fd);
	c->fd = -1;
	c->state = S_DEAD;
	r->open--;
}

static void attempt_failed(run_t *r, conn_t *c, int err, int sync)
{
	int outcome = sync && err != -ECONNREFUSED ? GEN_ERROR :
		      gen_connect_outcome(err);

	if (outcome == GEN_REFUSED) {
		gen_count(&r->counts, c->row, C_REFUSED);
	} else if (outcome == GEN_TIMEOUT) {
		gen_count(&r->counts, c->row, C_TIMEOUT);
	} else {
		gen_count(&r->counts, c->row, C_ERROR);
		if (err == -EADDRNOTAVAIL)
			gen_count(&r->counts, c->row, C_EADDRNOTAVAIL);
	}
	if (gen_errs_note(&r->errs, err) && outcome == GEN_ERROR)
		gen_err(r->o, "attempt %zu from %s: %s (counted as error=)",
			(size_t)(c - r->c),
			r->o->src.n ? r->o->src.a[c->row].text : "any",
			strerror(-err));
	gen_timer_stop(&c->timer);
	if (c->state == S_CONNECTING)
		r->connecting--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = S_FAILED;
}

static void established(run_t *r, conn_t *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

	gen_timer_stop(&c->timer);
	if (c->state == S_CONNECTING)
		r->connecting--;
	c->state = S_OPEN;
	r->open++;
	gen_count(&r->counts, c->row, C_ESTABLISHED);
	ev.data.u64 = (uint64_t)(c - r->c);
	if (epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		died(r, c, C_DIED_RESET, -errno);
}

static int start(run_t *r, int64_t now)
{
	struct epoll_event ev = { .events = EPOLLOUT };
	conn_t *c = &r->c[r->n];
	const gen_addr_t *src = gen_src(r->o, r->n, &c->row);
	int connected, rc;

	r->n++;
	gen_count(&r->counts, c->row, C_ATTEMPTED);
	c->state = S_CONNECTING;
	r->connecting++;
	rc = gen_tcp_start(src, &r->o->dst, &c->fd, &connected);
	if (rc < 0) {
		attempt_failed(r, c, rc, 1);
		return 0;
	}
	ev.data.u64 = (uint64_t)(c - r->c);
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		rc = -errno;
		gen_err(r->o, "epoll_ctl: %s", strerror(-rc));
		return rc;
	}
	if (connected)
		established(r, c);
	else
		gen_timer_start(&r->timers, &c->timer,
				now + (int64_t)r->o->connect_timeout_ms * 1000);
	return 0;
}

/* Sends one check on an open connection without one outstanding. */
static void probe(run_t *r, conn_t *c, int64_t now)
{
	const char *data = r->check == CHECK_HTTP ? r->req : ".";
	size_t len = r->check == CHECK_HTTP ? r->reqlen : 1;
	ssize_t n;

	if (r->check == CHECK_NONE || c->outstanding)
		return;
	do
		n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len) {
		c->outstanding = 1;
		c->missed = 0;
		c->probe_us = now;
		r->outstanding++;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		/* the send buffer is full of unanswered checks */
		missed(r, c);
		return;
	}
	if (n >= 0) {
		/* at most one small check is ever in flight, so a short
		 * write means a broken connection; the half-sent request
		 * would garble the next one anyway */
		died(r, c, C_DIED_RESET, -EPROTO);
		return;
	}
	died(r, c, C_DIED_RESET, -errno);
}

static void on_readable(run_t *r, conn_t *c, int64_t now)
{
	char buf[16384];
	size_t off, used;
	ssize_t n;
	int rc;

	while (c->state == S_OPEN) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0) {
			died(r, c, C_DIED_CLOSED, 0);
			return;
		}
		if (n < 0) {
			died(r, c, C_DIED_RESET, -errno);
			return;
		}
		if (r->check != CHECK_HTTP) {
			/* echo: one byte out, one back; anything counts */
			answered(r, c, now);
			continue;
		}
		for (off = 0; off < (size_t)n; off += used) {
			rc = gen_http_rx_feed(c->rx, buf + off, (size_t)n - off,
					      &used);
			if (rc < 0) {
				died(r, c, C_DIED_RESET, rc);
				return;
			}
			if (rc == 1)
				answered(r, c, now);
		}
	}
}

static void on_event(run_t *r, conn_t *c, uint32_t events, int64_t now)
{
	int rc;

	if (c->state == S_CONNECTING) {
		rc = gen_sock_error(c->fd);
		if (rc == 0 && !(events & EPOLLOUT))
			rc = -ECONNRESET;
		if (rc < 0)
			attempt_failed(r, c, rc, 0);
		else
			established(r, c);
	} else if (c->state == S_OPEN) {
		on_readable(r, c, now);
	}
}

/* One check round: a check for every open connection that has none
 * outstanding; an outstanding one older than --reply-timeout-ms is a
 * missed check. */
static void check_round(run_t *r, int64_t now)
{
	size_t i;

	r->checks++;
	for (i = 0; i < r->n; i++) {
		conn_t *c = &r->c[i];

		if (c->state != S_OPEN)
			continue;
		if (c->outstanding) {
			if (now - c->probe_us > (int64_t)r->o->reply_timeout_ms * 1000)
				missed(r, c);
			continue;
		}
		probe(r, c, now);
	}
}

/* Waits for events until `due' and handles them; 0 or -errno. */
static int step(run_t *r, int64_t due)
{
	struct epoll_event ev[GEN_EVENTS];
	int n, k;
	int64_t now;

	n = gen_wait(r->ep, ev, GEN_EVENTS, due);
	if (n < 0) {
		gen_err(r->o, "epoll_wait: %s", strerror(-n));
		return n;
	}
	now = gen_now_us();
	for (k = 0; k < n; k++) {
		conn_t *c = &r->c[ev[k].data.u64];

		/* an earlier event of this batch may have closed it */
		if (c->fd >= 0)
			on_event(r, c, ev[k].events, now);
	}
	return 0;
}

static int parse_check(const gen_opts_t *o, int *check)
{
	if (!o->check)
		*check = o->port == 80 ? CHECK_HTTP : CHECK_ECHO;
	else if (strcmp(o->check, "echo") == 0)
		*check = CHECK_ECHO;
	else if (strcmp(o->check, "http") == 0)
		*check = CHECK_HTTP;
	else if (strcmp(o->check, "none") == 0)
		*check = CHECK_NONE;
	else {
		gen_err(o, "--check: not echo, http or none: `%s'", o->check);
		return -EINVAL;
	}
	return 0;
}

static int check_options(const gen_opts_t *o, run_t *r)
{
	int64_t reply = (int64_t)o->reply_timeout_ms * 1000;
	int64_t total = (int64_t)o->timeout_s * 1000000;

	if (parse_check(o, &r->check) < 0)
		return -EINVAL;
	if (!GEN_GIVEN(o, GEN_O_SECONDS) && !o->until_file) {
		gen_err(o, "--seconds or --until-file is required");
		return -EINVAL;
	}
	if (o->count > o->fd_budget) {
		gen_err(o, "--count %lu: more than the %zu descriptors available "
			"(RLIMIT_NOFILE)", o->count, o->fd_budget);
		return -EINVAL;
	}
	if (reply >= total) {
		gen_err(o, "--reply-timeout-ms %lu leaves no time before "
			"--timeout %lu", o->reply_timeout_ms, o->timeout_s);
		return -EINVAL;
	}
	if (GEN_GIVEN(o, GEN_O_SECONDS) &&
	    (int64_t)o->seconds * 1000000 + reply >= total) {
		gen_err(o, "--seconds %lu and the last check (--reply-timeout-ms "
			"%lu) do not fit in --timeout %lu: raise --timeout",
			o->seconds, o->reply_timeout_ms, o->timeout_s);
		return -EINVAL;
	}
	return 0;
}

int gen_cmd_hold(const gen_opts_t *o)
{
	run_t r;
	gen_timer_t *t;
	int64_t start_us, deadline, last_start, now, due, hold_start, hold_end;
	int64_t seconds_end, next_check, next_poll, window_end;
	int64_t reply;
	size_t i;
	int rc = GEN_EXIT_FAIL, timed_out = 0, until_seen = 0, err;
	char ready[256];

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.ep = -1;
	if (check_options(o, &r) < 0)
		return GEN_EXIT_USAGE;
	if (gen_check_sources(o) < 0)
		return GEN_EXIT_USAGE;
	if (r.check == CHECK_HTTP) {
		int len = gen_http_request(o, "/", r.req, sizeof(r.req));

		r.reqlen = len > 0 ? (size_t)len : 0;
	}
	gen_timers_init(&r.timers);
	r.c = calloc(o->count, sizeof(*r.c));
	if (!r.c || gen_counts_init(&r.counts, names, NCOUNTS, o->src.n) < 0) {
		gen_err(o, "out of memory");
		goto out;
	}
	for (i = 0; i < o->count; i++) {
		r.c[i].fd = -1;
		if (r.check == CHECK_HTTP) {
			r.c[i].rx = malloc(sizeof(*r.c[i].rx));
			if (!r.c[i].rx) {
				gen_err(o, "out of memory");
				goto out;
			}
			gen_http_rx_reset(r.c[i].rx);
		}
	}
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0) {
		gen_err(o, "epoll_create1: %s", strerror(errno));
		goto out;
	}

	reply = (int64_t)o->reply_timeout_ms * 1000;
	start_us = gen_now_us();
	deadline = start_us + (int64_t)o->timeout_s * 1000000;
	last_start = deadline - reply; /* holding ends by then at the latest */

	/* connect phase */
	while (!gen_stopping) {
		now = gen_now_us();
		if (now >= last_start) {
			timed_out = 1;
			break;
		}
		while ((t = gen_timers_first(&r.timers)) && t->due <= now)
			attempt_failed(&r, (conn_t *)t, -ETIMEDOUT, 0);
		while (r.n < o->count &&
		       gen_pace_due(start_us, r.n, o->rate) <= now)
			if (start(&r, now) < 0)
				goto out;
		if (r.n == o->count && r.connecting == 0)
			break;
		due = gen_timers_due(&r.timers, last_start);
		if (r.n < o->count && gen_pace_due(start_us, r.n, o->rate) < due)
			due = gen_pace_due(start_us, r.n, o->rate);
		if (step(&r, due) < 0)
			goto out;
	}
	for (i = 0; i < r.n; i++)
		if (r.c[i].state == S_CONNECTING) {
			gen_count(&r.counts, r.c[i].row, C_UNFINISHED);
			gen_timer_stop(&r.c[i].timer);
			close(r.c[i].fd);
			r.c[i].fd = -1;
			r.c[i].state = S_FAILED;
			r.connecting--;
		}
	if (o->ready_file) {
		snprintf(ready, sizeof(ready), "attempted=%zu\nestablished=%lu\n",
			 r.n, gen_count_total(&r.counts, C_ESTABLISHED));
		err = gen_write_file(o->ready_file, ready);
		if (err < 0)
			gen_err(o, "--ready-file %s: %s", o->ready_file,
				strerror(-err));
	}

	/* holding */
	hold_start = gen_now_us();
	seconds_end = GEN_GIVEN(o, GEN_O_SECONDS) ?
		      hold_start + (int64_t)o->seconds * 1000000 : GEN_NEVER;
	hold_end = seconds_end < last_start ? seconds_end : last_start;
	next_check = hold_start + (int64_t)o->check_every_ms * 1000;
	next_poll = o->until_file ? hold_start : GEN_NEVER;
	while (!gen_stopping && !timed_out && r.open > 0) {
		now = gen_now_us();
		if (now >= hold_end) {
			/* the end of --seconds is the plan; --timeout is not */
			timed_out = seconds_end > last_start;
			break;
		}
		if (now >= next_poll) {
			if (gen_file_exists(o->until_file)) {
				until_seen = 1;
				break;
			}
			next_poll = now + UNTIL_POLL_US;
		}
		if (now >= next_check) {
			check_round(&r, now);
			next_check += (int64_t)o->check_every_ms * 1000;
			if (next_check <= now)
				next_check = now + (int64_t)o->check_every_ms * 1000;
		}
		due = hold_end;
		if (next_check < due)
			due = next_check;
		if (next_poll < due)
			due = next_poll;
		if (step(&r, due) < 0)
			goto out;
	}
	now = gen_now_us();
	if (o->until_file && !until_seen && gen_file_exists(o->until_file))
		until_seen = 1;

	/* the last check: every open connection answers within
	 * --reply-timeout-ms or counts as silent */
	if (!gen_stopping && r.check != CHECK_NONE && r.open > 0) {
		check_round(&r, now);
		window_end = now + reply;
		if (window_end > deadline)
			window_end = deadline;
		while (!gen_stopping && r.outstanding > 0 &&
		       gen_now_us() < window_end)
			if (step(&r, window_end) < 0)
				goto out;
	}
	for (i = 0; i < r.n; i++) {
		conn_t *c = &r.c[i];

		if (c->state != S_OPEN)
			continue;
		if (c->outstanding) {
			missed(&r, c);
			died(&r, c, C_DIED_SILENT, 0);
			continue;
		}
		gen_count(&r.counts, c->row, C_ALIVE_AT_END);
		gen_close_fin(c->fd);
		c->fd = -1;
		c->state = S_DEAD;
		r.open--;
	}

	printf("mode=hold\n");
	gen_counts_print(&r.counts, o, 0);
	printf("checks=%lu\n", r.checks);
	printf("held_ms=%lld\n", (long long)((now - hold_start) / 1000));
	if (o->until_file)
		printf("until_file_seen=%d\n", until_seen);
	gen_errs_print(&r.errs);
	gen_print_end(start_us, timed_out);
	rc = GEN_EXIT_OK;
out:
	for (i = 0; r.c && i < o->count; i++) {
		if (r.c[i].fd >= 0)
			close(r.c[i].fd);
		free(r.c[i].rx);
	}
	if (r.ep >= 0)
		close(r.ep);
	gen_counts_free(&r.counts);
	free(r.c);
	return rc;
}
