/* connect.c - pxgen connect: N TCP handshakes, each held --hold-ms and
 * closed with a FIN.  At most --parallel attempts are open at once;
 * attempt i starts at i / --rate seconds (or as soon as a slot frees). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

enum {
	C_ATTEMPTED, C_ESTABLISHED, C_REFUSED, C_TIMEOUT, C_ERROR,
	C_EADDRNOTAVAIL, C_CLOSED_EARLY, C_UNFINISHED, NCOUNTS
};
static const char *const names[NCOUNTS] = {
	"attempted", "established", "refused", "timeout", "error",
	"eaddrnotavail", "closed_early", "unfinished",
};

enum { S_FREE, S_CONNECTING, S_HOLDING };

typedef struct {
	gen_timer_t timer; /* first member: a timer is its slot */
	int fd;
	int state;
	unsigned long idx; /* attempt number */
	size_t row;
} slot_t;

typedef struct {
	const gen_opts_t *o;
	int ep;
	slot_t *slots;
	size_t nslots;
	size_t *free;     /* stack of free slot numbers */
	size_t nfree;
	gen_timers_t connecting, holding;
	gen_counts_t counts;
	gen_errs_t errs;
	long first_failure;
} run_t;

static void failed(run_t *r, unsigned long idx)
{
	if (r->first_failure < 0 || (long)idx < r->first_failure)
		r->first_failure = (long)idx;
}

static void release(run_t *r, slot_t *s)
{
	gen_timer_stop(&s->timer);
	if (s->fd >= 0)
		close(s->fd); /* epoll forgets a closed descriptor by itself */
	s->fd = -1;
	s->state = S_FREE;
	r->free[r->nfree++] = (size_t)(s - r->slots);
}

/* Counts an attempt that did not establish; err is a negative errno. */
static void attempt_failed(run_t *r, slot_t *s, int err, int sync)
{
	int outcome = sync && err != -ECONNREFUSED ? GEN_ERROR :
		      gen_connect_outcome(err);

	if (outcome == GEN_REFUSED) {
		gen_count(&r->counts, s->row, C_REFUSED);
	} else if (outcome == GEN_TIMEOUT) {
		gen_count(&r->counts, s->row, C_TIMEOUT);
	} else {
		gen_count(&r->counts, s->row, C_ERROR);
		if (err == -EADDRNOTAVAIL)
			gen_count(&r->counts, s->row, C_EADDRNOTAVAIL);
	}
	if (gen_errs_note(&r->errs, err) && outcome == GEN_ERROR)
		gen_err(r->o, "attempt %lu from %s: %s (counted as error=)",
			s->idx, r->o->src.n ? r->o->src.a[s->row].text : "any",
			strerror(-err));
	failed(r, s->idx);
	release(r, s);
}

static void established(run_t *r, slot_t *s, int64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

	gen_count(&r->counts, s->row, C_ESTABLISHED);
	gen_timer_stop(&s->timer);
	if (r->o->hold_ms == 0) {
		gen_close_fin(s->fd);
		s->fd = -1;
		release(r, s);
		return;
	}
	ev.data.u64 = (uint64_t)(s - r->slots);
	if (epoll_ctl(r->ep, EPOLL_CTL_MOD, s->fd, &ev) < 0) {
		/* cannot watch it: hold it unwatched */
		(void)gen_errs_note(&r->errs, -errno);
	}
	s->state = S_HOLDING;
	gen_timer_start(&r->holding, &s->timer,
			now + (int64_t)r->o->hold_ms * 1000);
}

/* Starts attempt idx on a free slot; 0, or -errno for an internal error. */
static int start(run_t *r, unsigned long idx, int64_t now)
{
	const gen_addr_t *src;
	struct epoll_event ev = { .events = EPOLLOUT };
	slot_t *s = &r->slots[r->free[--r->nfree]];
	int connected, rc;

	s->idx = idx;
	s->fd = -1;
	s->state = S_CONNECTING;
	src = gen_src(r->o, idx, &s->row);
	gen_count(&r->counts, s->row, C_ATTEMPTED);
	rc = gen_tcp_start(src, &r->o->dst, &s->fd, &connected);
	if (rc < 0) {
		attempt_failed(r, s, rc, 1);
		return 0;
	}
	ev.data.u64 = (uint64_t)(s - r->slots);
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		rc = -errno;
		gen_err(r->o, "epoll_ctl: %s", strerror(-rc));
		return rc;
	}
	if (connected) {
		established(r, s, now);
		return 0;
	}
	gen_timer_start(&r->connecting, &s->timer,
			now + (int64_t)r->o->connect_timeout_ms * 1000);
	return 0;
}

static void on_event(run_t *r, slot_t *s, uint32_t events, int64_t now)
{
	int rc;

	if (s->state == S_CONNECTING) {
		rc = gen_sock_error(s->fd);
		if (rc == 0 && (events & EPOLLOUT))
			established(r, s, now);
		else if (rc < 0)
			attempt_failed(r, s, rc, 0);
		else if (events & (EPOLLERR | EPOLLHUP))
			attempt_failed(r, s, -ECONNRESET, 0);
	} else if (s->state == S_HOLDING) {
		rc = gen_drain(s->fd);
		if (rc != 0) {
			gen_count(&r->counts, s->row, C_CLOSED_EARLY);
			if (rc < 0)
				(void)gen_errs_note(&r->errs, rc);
			release(r, s);
		}
	}
}

int gen_cmd_connect(const gen_opts_t *o)
{
	struct epoll_event ev[GEN_EVENTS];
	run_t r;
	gen_timer_t *t;
	int64_t start_us, deadline, now, due;
	unsigned long next = 0;
	size_t i;
	int n, k, rc = GEN_EXIT_FAIL, timed_out = 0;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.ep = -1;
	r.first_failure = -1;
	r.nslots = o->parallel ? o->parallel : o->fd_budget;
	if (r.nslots > o->fd_budget) {
		gen_err(o, "--parallel %lu: more than the %zu descriptors "
			"available (RLIMIT_NOFILE)", o->parallel, o->fd_budget);
		return GEN_EXIT_USAGE;
	}
	if (r.nslots > o->count)
		r.nslots = o->count;
	if (gen_check_sources(o) < 0)
		return GEN_EXIT_USAGE;
	gen_timers_init(&r.connecting);
	gen_timers_init(&r.holding);
	r.slots = calloc(r.nslots, sizeof(*r.slots));
	r.free = calloc(r.nslots, sizeof(*r.free));
	if (!r.slots || !r.free ||
	    gen_counts_init(&r.counts, names, NCOUNTS, o->src.n) < 0) {
		gen_err(o, "out of memory");
		goto out;
	}
	for (i = 0; i < r.nslots; i++) {
		r.slots[i].fd = -1;
		r.free[r.nslots - 1 - i] = i;
	}
	r.nfree = r.nslots;
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0) {
		gen_err(o, "epoll_create1: %s", strerror(errno));
		goto out;
	}

	start_us = gen_now_us();
	deadline = start_us + (int64_t)o->timeout_s * 1000000;
	while (!gen_stopping) {
		now = gen_now_us();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		while ((t = gen_timers_first(&r.connecting)) && t->due <= now) {
			slot_t *s = (slot_t *)t;

			attempt_failed(&r, s, -ETIMEDOUT, 0);
		}
		while ((t = gen_timers_first(&r.holding)) && t->due <= now) {
			slot_t *s = (slot_t *)t;

			gen_close_fin(s->fd);
			s->fd = -1;
			release(&r, s);
		}
		while (next < o->count && r.nfree > 0 &&
		       gen_pace_due(start_us, next, o->rate) <= now)
			if (start(&r, next++, now) < 0)
				goto out;
		if (next == o->count && r.nfree == r.nslots)
			break;
		due = gen_timers_due(&r.connecting, deadline);
		due = gen_timers_due(&r.holding, due);
		/* a due attempt waits for a free slot, not for the clock */
		if (next < o->count && r.nfree > 0) {
			int64_t p = gen_pace_due(start_us, next, o->rate);

			if (p < due)
				due = p;
		}
		n = gen_wait(r.ep, ev, GEN_EVENTS, due);
		if (n < 0) {
			gen_err(o, "epoll_wait: %s", strerror(-n));
			goto out;
		}
		now = gen_now_us();
		for (k = 0; k < n; k++)
			on_event(&r, &r.slots[ev[k].data.u64], ev[k].events, now);
	}

	for (i = 0; i < r.nslots; i++) {
		slot_t *s = &r.slots[i];

		if (s->state == S_CONNECTING) {
			gen_count(&r.counts, s->row, C_UNFINISHED);
			failed(&r, s->idx);
			release(&r, s);
		} else if (s->state == S_HOLDING) {
			gen_close_fin(s->fd);
			s->fd = -1;
			release(&r, s);
		}
	}
	printf("mode=connect\n");
	gen_counts_print(&r.counts, o, 0);
	if (o->first_failure)
		printf("first_failure_at=%ld\n", r.first_failure);
	gen_errs_print(&r.errs);
	gen_print_end(start_us, timed_out);
	rc = GEN_EXIT_OK;
out:
	if (rc != GEN_EXIT_OK)
		for (i = 0; r.slots && i < r.nslots; i++)
			if (r.slots[i].fd >= 0)
				close(r.slots[i].fd);
	if (r.ep >= 0)
		close(r.ep);
	gen_counts_free(&r.counts);
	free(r.slots);
	free(r.free);
	return rc;
}
