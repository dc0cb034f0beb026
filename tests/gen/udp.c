/* udp.c - pxgen udp: N UDP sessions, each its own socket and source port
 * (one conntrack entry each), one datagram and its echo; optionally a
 * probe round later that shows which sessions still pass. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

enum {
	C_SESSIONS, C_ANSWERED, C_REFUSED, C_ERROR, C_PROBE_ANSWERED,
	C_PROBE_LOST, C_UNFINISHED, NCOUNTS
};
static const char *const names[NCOUNTS] = {
	"sessions", "answered", "refused", "error", "probe_answered",
	"probe_lost", "unfinished",
};

/* Per round: the session has not sent yet, waits for its echo, or is
 * done (answered or not). */
enum { R_IDLE, R_WAITING, R_DONE };

typedef struct {
	gen_timer_t timer; /* first member: a timer is its session */
	int fd;
	int state;
	size_t row;
} session_t;

typedef struct {
	const gen_opts_t *o;
	int ep;
	session_t *s;
	size_t n;          /* sessions opened so far */
	int round;         /* 0: first datagram, 1: probe */
	unsigned char *answered[2];
	size_t waiting;
	gen_timers_t timers;
	gen_counts_t counts;
	gen_errs_t errs;
} run_t;

static int payload(char *buf, size_t size, size_t idx, int round)
{
	return snprintf(buf, size, "pxgen %zu %d\n", idx, round);
}

static void finish(run_t *r, session_t *s)
{
	gen_timer_stop(&s->timer);
	if (s->state == R_WAITING)
		r->waiting--;
	s->state = R_DONE;
}

static void failed(run_t *r, session_t *s, int err)
{
	size_t idx = (size_t)(s - r->s);

	if (err == -ECONNREFUSED) {
		/* ICMP port unreachable came back */
		if (r->round == 0)
			gen_count(&r->counts, s->row, C_REFUSED);
	} else if (r->round == 0) {
		gen_count(&r->counts, s->row, C_ERROR);
	}
	if (gen_errs_note(&r->errs, err) && err != -ECONNREFUSED)
		gen_err(r->o, "session %zu: %s", idx, strerror(-err));
	finish(r, s);
}

static void send_datagram(run_t *r, session_t *s, int64_t now)
{
	char buf[64];
	int len = payload(buf, sizeof(buf), (size_t)(s - r->s), r->round);
	ssize_t n;

	do
		n = send(s->fd, buf, (size_t)len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	s->state = R_WAITING;
	r->waiting++;
	if (n < 0) {
		failed(r, s, -errno);
		return;
	}
	gen_timer_start(&r->timers, &s->timer,
			now + (int64_t)r->o->reply_timeout_ms * 1000);
}

/* Opens session number r->n and sends its first datagram; 0, or -errno
 * for an internal error. */
static int open_session(run_t *r, int64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN };
	session_t *s = &r->s[r->n];
	const gen_addr_t *src = gen_src(r->o, r->n, &s->row);
	int rc;

	r->n++;
	gen_count(&r->counts, s->row, C_SESSIONS);
	s->fd = socket(r->o->dst.family, SOCK_DGRAM | SOCK_NONBLOCK |
		       SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* bind() picks a fresh source port: one session, one port */
	if (src && bind(s->fd, &src->u.sa, src->len) < 0) {
		rc = -errno;
		goto fail;
	}
	/* connected: only the server's datagrams arrive, and ICMP errors
	 * come back as ECONNREFUSED */
	if (connect(s->fd, &r->o->dst.u.sa, r->o->dst.len) < 0) {
		rc = -errno;
		goto fail;
	}
	ev.data.u64 = (uint64_t)(s - r->s);
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		rc = -errno;
		gen_err(r->o, "epoll_ctl: %s", strerror(-rc));
		return rc;
	}
	send_datagram(r, s, now);
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = R_WAITING;
	r->waiting++;
	failed(r, s, rc);
	return 0;
}

static void on_readable(run_t *r, session_t *s)
{
	char buf[128], want[64];
	size_t idx = (size_t)(s - r->s);
	int wlen;
	ssize_t n;

	for (;;) {
		n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			if (s->state == R_WAITING)
				failed(r, s, -errno);
			else
				(void)gen_errs_note(&r->errs, -errno);
			continue;
		}
		/* a late echo of the first round is not an answer to the probe */
		wlen = payload(want, sizeof(want), idx, r->round);
		if (s->state == R_WAITING && n == wlen &&
		    memcmp(buf, want, (size_t)wlen) == 0) {
			r->answered[r->round][idx] = 1;
			if (r->round == 0)
				gen_count(&r->counts, s->row, C_ANSWERED);
			finish(r, s);
		}
	}
}

/* Runs the event loop until `until', or until every session started
 * (want sessions) has finished when until is GEN_NEVER.  Sessions beyond
 * r->n are opened at the pace of --rate from start_us (round 0), or the
 * sessions are sent to again in order (round 1).  Returns 0, 1 on the
 * deadline or a signal, -errno on internal errors. */
static int run_round(run_t *r, int64_t start_us, int64_t until,
		     int64_t deadline)
{
	struct epoll_event ev[GEN_EVENTS];
	size_t next = r->round == 0 ? r->n : 0, want = r->o->sessions;
	gen_timer_t *t;
	int64_t now, due;
	int n, k, rc;

	while (!gen_stopping) {
		now = gen_now_us();
		if (now >= deadline)
			return 1;
		if (until != GEN_NEVER && now >= until)
			return 0;
		while ((t = gen_timers_first(&r->timers)) && t->due <= now)
			finish(r, (session_t *)t);
		while (next < want && gen_pace_due(start_us, next, r->o->rate) <= now) {
			if (r->round == 0) {
				rc = open_session(r, now);
				if (rc < 0)
					return rc;
			} else if (r->s[next].fd >= 0) {
				send_datagram(r, &r->s[next], now);
			}
			next++;
		}
		if (until == GEN_NEVER && next == want && r->waiting == 0)
			return 0;
		due = gen_timers_due(&r->timers, deadline < until ? deadline : until);
		if (next < want) {
			int64_t p = gen_pace_due(start_us, next, r->o->rate);

			if (p < due)
				due = p;
		}
		n = gen_wait(r->ep, ev, GEN_EVENTS, due);
		if (n < 0) {
			gen_err(r->o, "epoll_wait: %s", strerror(-n));
			return n;
		}
		for (k = 0; k < n; k++)
			on_readable(r, &r->s[ev[k].data.u64]);
	}
	return 1;
}

/* The source port of every session, in session order: a test matches
 * them with the member's conntrack table (which sessions were ended). */
static void print_ports(const run_t *r)
{
	size_t i;

	printf("ports=");
	for (i = 0; i < r->n; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		unsigned port = 0;

		if (r->s[i].fd >= 0 &&
		    getsockname(r->s[i].fd, (struct sockaddr *)&ss, &sl) == 0)
			port = ntohs(ss.ss_family == AF_INET ?
				     ((struct sockaddr_in *)&ss)->sin_port :
				     ((struct sockaddr_in6 *)&ss)->sin6_port);
		printf("%s%u", i ? "," : "", port);
	}
	printf("\n");
}

int gen_cmd_udp(const gen_opts_t *o)
{
	run_t r;
	int64_t start_us, deadline, now;
	size_t i;
	int rc = GEN_EXIT_FAIL, end = 0, err, probe = o->probe_after_ms > 0;
	unsigned char *lost = NULL;
	char ready[256];

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.ep = -1;
	if (o->sessions > o->fd_budget) {
		gen_err(o, "--sessions %lu: more than the %zu descriptors "
			"available (RLIMIT_NOFILE)", o->sessions, o->fd_budget);
		return GEN_EXIT_USAGE;
	}
	if (gen_check_sources(o) < 0)
		return GEN_EXIT_USAGE;
	gen_timers_init(&r.timers);
	r.s = calloc(o->sessions, sizeof(*r.s));
	r.answered[0] = calloc(o->sessions, 1);
	r.answered[1] = calloc(o->sessions, 1);
	lost = calloc(o->sessions, 1);
	if (!r.s || !r.answered[0] || !r.answered[1] || !lost ||
	    gen_counts_init(&r.counts, names, NCOUNTS, o->src.n) < 0) {
		gen_err(o, "out of memory");
		goto out;
	}
	for (i = 0; i < o->sessions; i++)
		r.s[i].fd = -1;
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0) {
		gen_err(o, "epoll_create1: %s", strerror(errno));
		goto out;
	}

	start_us = gen_now_us();
	deadline = start_us + (int64_t)o->timeout_s * 1000000;
	end = run_round(&r, start_us, GEN_NEVER, deadline);
	if (end < 0)
		goto out;
	if (end == 0 && probe) {
		/* wait, draining late echoes, then probe in the same order */
		now = gen_now_us();
		end = run_round(&r, now, now + (int64_t)o->probe_after_ms * 1000,
				deadline);
		if (end < 0)
			goto out;
		if (end == 0) {
			r.round = 1;
			for (i = 0; i < r.n; i++)
				r.s[i].state = R_IDLE;
			end = run_round(&r, gen_now_us(), GEN_NEVER, deadline);
			if (end < 0)
				goto out;
		}
	}
	if (end == 0 && o->ready_file) {
		snprintf(ready, sizeof(ready), "sessions=%zu\nanswered=%lu\n",
			 r.n, gen_count_total(&r.counts, C_ANSWERED));
		err = gen_write_file(o->ready_file, ready);
		if (err < 0)
			gen_err(o, "--ready-file %s: %s", o->ready_file,
				strerror(-err));
	}
	if (end == 0 && o->hold_ms) {
		now = gen_now_us();
		end = run_round(&r, now, now + (int64_t)o->hold_ms * 1000,
				deadline);
		if (end < 0)
			goto out;
	}

	for (i = 0; i < r.n; i++) {
		session_t *s = &r.s[i];

		if (s->state == R_WAITING)
			gen_count(&r.counts, s->row, C_UNFINISHED);
		lost[i] = !r.answered[0][i];
		if (probe) {
			if (r.answered[1][i])
				gen_count(&r.counts, s->row, C_PROBE_ANSWERED);
			else
				gen_count(&r.counts, s->row, C_PROBE_LOST);
		}
	}
	printf("mode=udp\n");
	/* without a probe, the probe keys are left out so that a test
	 * reading probe_lost cannot mistake "no probe" for "none lost" */
	gen_counts_print(&r.counts, o, probe ? 0 :
			 (1ULL << C_PROBE_ANSWERED) | (1ULL << C_PROBE_LOST));
	gen_print_ranges("unanswered_indices", lost, r.n);
	if (probe) {
		for (i = 0; i < r.n; i++)
			lost[i] = !r.answered[1][i];
		gen_print_ranges("probe_lost_indices", lost, r.n);
	}
	print_ports(&r);
	gen_errs_print(&r.errs);
	gen_print_end(start_us, end == 1 && !gen_stopping);
	rc = GEN_EXIT_OK;
out:
	for (i = 0; r.s && i < o->sessions; i++)
		if (r.s[i].fd >= 0)
			close(r.s[i].fd);
	if (r.ep >= 0)
		close(r.ep);
	gen_counts_free(&r.counts);
	free(r.s);
	free(r.answered[0]);
	free(r.answered[1]);
	free(lost);
	return rc;
}
