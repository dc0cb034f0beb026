/* waiters.c - requests the store answers later: a WAIT until every
 * member in service applied a version, an ALERT_LIST or LOG_LIST (with
 * wait_ms) until a record arrives, a DRAINED_WAIT or UNDRAINED_WAIT
 * until a member's role settles (members drain --wait).  A held request
 * is run again through ctl.c (px_store_ctl_again) when what it waits
 * for may have happened, and answered whatever it finds once its
 * deadline passed.  The ctl
 * socket is a ROUTER: the reply goes to the routing id saved here, as
 * late as it comes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "logring.h"
#include "px.h"
#include "store.h"

/* A held request keeps its decoded envelope: WAIT, ALERT_LIST and
 * LOG_LIST are a few hundred bytes, and one that carries more (entries
 * they do not use) is not worth holding: 64 KiB * PX_WAITERS_MAX bounds
 * what waiting requests can make the store hold at 64 MiB. */
#define HELD_BYTES_MAX (64 << 10)

typedef struct {
	px_rid_t rid;
	Phalanx__Envelope *env;
	int kind;            /* PX_WAIT_* */
	uint64_t deadline;   /* px_mono_ms() */
} waiter_t;

struct px_waiters {
	waiter_t *v;
	size_t n, cap;
	bool woken[PX_WAIT_KINDS];
	char why[PX_WAIT_KINDS][80]; /* what woke them first */
	const char *running;         /* why the one run again now is */
	/* The newest alert and log record when last looked: when either
	 * moved, the held lists of that kind are run again. */
	uint64_t alert_seq, log_seq;
	/* The members' roles when last looked (members.c digest): when it
	 * moved, the held DRAINED_WAIT/UNDRAINED_WAIT are run again.  A
	 * role arrives in a heartbeat and "down" comes with time, so it is
	 * looked at on every run rather than woken from sync.c. */
	uint64_t roles;
	size_t nroles;      /* held requests of kind PX_WAIT_ROLES */
};

static const char *const kind_names[PX_WAIT_KINDS] = {
	[PX_WAIT_APPLIED] = "WAIT", [PX_WAIT_ALERTS] = "ALERT_LIST",
	[PX_WAIT_LOG] = "LOG_LIST", [PX_WAIT_ROLES] = "DRAINED_WAIT",
	[PX_WAIT_CANARY] = "CANARY_WAIT",
};

static bool rid_eq(const px_rid_t *a, const px_rid_t *b)
{
	return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

static uint64_t alert_seq(const px_store_t *st)
{
	return st->alerts ? px_alerts_seq(st->alerts) : 0;
}

size_t px_store_wait_pending(const px_store_t *st, uint64_t version)
{
	uint64_t now = px_now_ms();
	size_t i, n = 0;

	for (i = 0; i < st->nmembers; i++) {
		const px_member_t *m = &st->members[i];

		if (!px_member_out_of_service(st, m) && m->applied < version &&
		    px_member_up(st, m, now))
			n++;
	}
	return n;
}

int px_store_waiter_hold(px_store_t *st, const px_rid_t *rid,
			 Phalanx__Envelope *env, int kind, uint64_t deadline,
			 char *err, size_t errlen)
{
	px_waiters_t *w = st->waiters;
	size_t i, mine = 0, size;

	if (!w) {
		w = st->waiters = xcalloc(1, sizeof(*w));
		w->alert_seq = alert_seq(st);
		w->log_seq = px_logring_next_seq(st->log);
	}
	size = protobuf_c_message_get_packed_size(&env->base);
	if (size > HELD_BYTES_MAX) {
		snprintf(err, errlen, "%s: a request of %zu bytes is not held "
			 "(at most %d): %s", kind_names[kind], size,
			 HELD_BYTES_MAX, px_strerror(PX_ETOOBIG));
		return PX_ETOOBIG;
	}
	for (i = 0; i < w->n; i++)
		mine += rid_eq(&w->v[i].rid, rid);
	if (w->n >= PX_WAITERS_MAX || mine >= PX_WAITERS_PER_PEER) {
		snprintf(err, errlen, "%s: %s: %zu requests wait already%s "
			 "(at most %d, %d per connection)", kind_names[kind],
			 px_strerror(PX_EBUSY), w->n >= PX_WAITERS_MAX ? w->n :
			 mine, w->n >= PX_WAITERS_MAX ? "" : " from this "
			 "connection", PX_WAITERS_MAX, PX_WAITERS_PER_PEER);
		px_log(PX_LOG_WARN, "ctl from %s: %s", rid->peer, err);
		return PX_EBUSY;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	w->v[w->n].rid = *rid;
	w->v[w->n].env = env;
	w->v[w->n].kind = kind;
	w->v[w->n].deadline = deadline;
	w->n++;
	/* The first one held: the roles it was just found unsettled with
	 * are the baseline (later ones keep it, so that a change not yet
	 * looked at still wakes the earlier ones). */
	if (kind == PX_WAIT_ROLES && w->nroles++ == 0)
		w->roles = px_store_member_roles_digest(st);
	return 0;
}

void px_store_waiters_wake(px_store_t *st, int kind, const char *why)
{
	px_waiters_t *w = st->waiters;

	if (!w || w->woken[kind])
		return;
	w->woken[kind] = true;
	snprintf(w->why[kind], sizeof(w->why[kind]), "%s", why);
}

const char *px_store_waiters_why(const px_store_t *st)
{
	return st->waiters ? st->waiters->running : NULL;
}

long px_store_waiters_run(px_store_t *st, long max)
{
	px_waiters_t *w = st->waiters;
	waiter_t *due;
	char why[PX_WAIT_KINDS][80];
	uint64_t now, next = 0, a, l;
	size_t i, k = 0, ndue = 0;

	if (!w)
		return max;
	a = alert_seq(st);
	l = px_logring_next_seq(st->log);
	if (a != w->alert_seq)
		px_store_waiters_wake(st, PX_WAIT_ALERTS, "a new alert");
	if (l != w->log_seq)
		px_store_waiters_wake(st, PX_WAIT_LOG, "a new log record");
	w->alert_seq = a;
	w->log_seq = l;
	if (w->nroles) {
		uint64_t d = px_store_member_roles_digest(st);

		if (d != w->roles)
			px_store_waiters_wake(st, PX_WAIT_ROLES,
					      "a member's role");
		w->roles = d;
	}
	if (!w->n) {
		memset(w->woken, 0, sizeof(w->woken));
		return max;
	}
	/* Take the due ones out first: running one again may hold it
	 * again, at the end of the list. */
	now = px_mono_ms();
	due = xcalloc(w->n, sizeof(*due));
	for (i = 0; i < w->n; i++) {
		if (w->woken[w->v[i].kind] || now >= w->v[i].deadline)
			due[ndue++] = w->v[i];
		else
			w->v[k++] = w->v[i];
	}
	w->n = k;
	for (i = 0; i < ndue; i++)
		w->nroles -= due[i].kind == PX_WAIT_ROLES;
	for (i = 0; i < PX_WAIT_KINDS; i++)
		strcpy(why[i], w->woken[i] ? w->why[i] : "its deadline");
	memset(w->woken, 0, sizeof(w->woken));
	for (i = 0; i < ndue; i++) {
		w->running = why[due[i].kind];
		px_store_ctl_again(st, &due[i].rid, due[i].env,
				   due[i].deadline);
	}
	w->running = NULL;
	free(due);
	now = px_mono_ms();
	for (i = 0; i < w->n; i++)
		if (!next || w->v[i].deadline < next)
			next = w->v[i].deadline;
	if (!next)
		return max;
	if (next <= now)
		return 0;
	return next - now < (uint64_t)max ? (long)(next - now) : max;
}

void px_store_waiters_free(px_store_t *st)
{
	px_waiters_t *w = st->waiters;
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->n; i++)
		px_wire_free(w->v[i].env);
	free(w->v);
	free(w);
	st->waiters = NULL;
}
