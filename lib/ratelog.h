/* ratelog.h - refusal logging with a budget: one rate limiter for every
 * "refused ..." line a peer can cause.
 *
 * The first refusal of a (peer, reason) pair is logged at once; the
 * ones after it in the next PX_RATELOG_WINDOW_MS are counted and logged
 * as one line when the window is over:
 *   "refused 43012 more messages from peer 10.0.0.9 in the last 10 s: REASON"
 * At most PX_RATELOG_LINES first lines are written a window across all
 * peers; past that (or with every slot taken) refusals are only counted
 * and summed up in one line a window.  So a flood of bad messages costs
 * a bounded number of log lines whatever the peers and reasons. */
#ifndef PX_RATELOG_H
#define PX_RATELOG_H

#include <stdbool.h>
#include <stdint.h>

#define PX_RATELOG_WINDOW_MS 10000
/* Distinct (peer, reason) pairs counted at once: a few members and a
 * few kinds of refusal; more pairs fall into the overflow count. */
#define PX_RATELOG_SLOTS 64
/* Immediate lines a window across all pairs: enough for every member
 * of a small array to have each refusal named once. */
#define PX_RATELOG_LINES 32

/* Log (or count) one refusal: peer names who sent it (an address, or
 * "?"), the rest is the reason, e.g. "heartbeat as fw1: member id held
 * by another peer".  Keep variable numbers out of the reason where a
 * peer chooses them: each distinct text is its own pair. */
void px_refused(const char *peer, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same limiter for other lines a peer can cause at its own rate
 * (an ack it does not read): "peer P: REASON", then "peer P: N more
 * in the last 10 s: REASON". */
void px_peer_warn(const char *peer, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Write the summaries of windows that are over; call about once a
 * second (the daemons' heartbeat tick). */
void px_refused_flush(void);
/* Test hook: refusals counted since start (logged or not). */
uint64_t px_refused_total(void);

/* At most one line a period, for lines a daemon causes itself (an error
 * that repeats, a table that stays full, a source over its quota): the
 * one gate every "once every N ms" line uses.  Zeroed, the first line
 * is due at once. */
typedef struct {
	uint64_t next_ms; /* no line before this */
	uint64_t held;    /* weight held back since the last line */
} px_every_t;

/* Whether a line is due at now_ms (monotonic): if so, the next one is
 * due period_ms later and *held (may be NULL) gets the weight held back
 * since the last line; if not, weight more is held back. */
bool px_every(px_every_t *e, uint64_t now_ms, uint64_t period_ms,
	      uint64_t weight, uint64_t *held);
/* Whether px_every() would say due (nothing changes). */
bool px_every_due(const px_every_t *e, uint64_t now_ms);

#endif
