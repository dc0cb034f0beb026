/* watchdog.h - a daemon's loop watchdog: a timer every
 * PX_WATCHDOG_TICK_MS that runs late by more than the daemon's stall
 * bound means a callback held the loop that long (the member's
 * heartbeats and conntrack events, the store's Raft messages and
 * requests all waited meanwhile).  Logged at most once every
 * PX_WATCHDOG_LOG_GAP_MS, all counted; the totals at exit. */
#ifndef PX_WATCHDOG_H
#define PX_WATCHDOG_H

#include <stdint.h>
#include <uv.h>

#include "ratelog.h"

#define PX_WATCHDOG_TICK_MS 20
#define PX_WATCHDOG_LOG_GAP_MS 6000

typedef struct {
	uv_timer_t timer;
	uint64_t due_ms, stalls, max_ms;
	unsigned stall_ms;
	px_every_t log;
	/* What the loop may have been doing ("; an apply is running"), or
	 * "": appended to the line. */
	const char *(*doing)(void *arg);
	void *arg;
} px_watchdog_t;

void px_watchdog_start(px_watchdog_t *w, uv_loop_t *loop, unsigned stall_ms,
		       const char *(*doing)(void *arg), void *arg);
/* Closes the timer and logs the totals. */
void px_watchdog_stop(px_watchdog_t *w);

#endif
