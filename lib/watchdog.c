/* watchdog.c - see watchdog.h. */
#include "watchdog.h"

#include "px.h"

static void on_tick(uv_timer_t *t)
{
	px_watchdog_t *w = t->data;
	uint64_t now = px_mono_ms(), late;

	late = now > w->due_ms ? now - w->due_ms : 0;
	w->due_ms = now + PX_WATCHDOG_TICK_MS;
	if (late <= w->stall_ms)
		return;
	w->stalls++;
	if (late > w->max_ms)
		w->max_ms = late;
	if (!px_every(&w->log, now, PX_WATCHDOG_LOG_GAP_MS, 1, NULL))
		return;
	px_log(PX_LOG_WARN, "loop stalled for %llu ms (%llu stalls over %u ms "
	       "so far, longest %llu ms)%s", (unsigned long long)late,
	       (unsigned long long)w->stalls, w->stall_ms,
	       (unsigned long long)w->max_ms, w->doing ? w->doing(w->arg) : "");
}

void px_watchdog_start(px_watchdog_t *w, uv_loop_t *loop, unsigned stall_ms,
		       const char *(*doing)(void *arg), void *arg)
{
	*w = (px_watchdog_t){ .stall_ms = stall_ms, .doing = doing, .arg = arg };
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	w->due_ms = px_mono_ms() + PX_WATCHDOG_TICK_MS;
	uv_timer_start(&w->timer, on_tick, PX_WATCHDOG_TICK_MS,
		       PX_WATCHDOG_TICK_MS);
}

void px_watchdog_stop(px_watchdog_t *w)
{
	uv_close((uv_handle_t *)&w->timer, NULL);
	px_log(PX_LOG_INFO, "loop: %llu stalls over %u ms, longest %llu ms",
	       (unsigned long long)w->stalls, w->stall_ms,
	       (unsigned long long)w->max_ms);
}
