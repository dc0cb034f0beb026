/* ratelog.c - refusal logging with a budget (see ratelog.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "px.h"
#include "ratelog.h"

struct slot {
	bool used;
	uint64_t start_ms;  /* the window began with the logged refusal */
	uint64_t more;      /* refusals since, not logged */
	char peer[64];
	char reason[192];
};

static struct {
	struct slot s[PX_RATELOG_SLOTS];
	uint64_t window_ms;   /* start of the budget's window */
	unsigned lines;       /* immediate lines written in it */
	uint64_t over;        /* refusals beyond the budget or the slots */
	uint64_t total;
} rl;

static void summary(struct slot *s, uint64_t now)
{
	if (s->more)
		px_log(PX_LOG_WARN, "refused %llu more messages from peer %s "
		       "in the last %llu s: %s", (unsigned long long)s->more,
		       s->peer,
		       (unsigned long long)((now - s->start_ms + 999) / 1000),
		       s->reason);
	s->used = false;
}

static void flush_at(uint64_t now)
{
	size_t i;

	for (i = 0; i < PX_RATELOG_SLOTS; i++)
		if (rl.s[i].used &&
		    now - rl.s[i].start_ms >= PX_RATELOG_WINDOW_MS)
			summary(&rl.s[i], now);
	if (now - rl.window_ms >= PX_RATELOG_WINDOW_MS) {
		if (rl.over)
			px_log(PX_LOG_WARN, "refused %llu further messages in "
			       "the last %llu s (not named one by one: the "
			       "log's budget of %d lines was spent)",
			       (unsigned long long)rl.over,
			       (unsigned long long)((now - rl.window_ms + 999) / 1000),
			       PX_RATELOG_LINES);
		rl.over = 0;
		rl.lines = 0;
		rl.window_ms = now;
	}
}

void px_refused_flush(void)
{
	flush_at(px_mono_ms());
}

uint64_t px_refused_total(void)
{
	return rl.total;
}

void px_refused(const char *peer, const char *fmt, ...)
{
	uint64_t now = px_mono_ms();
	struct slot *free_slot = NULL;
	char reason[sizeof(rl.s[0].reason)];
	va_list ap;
	size_t i;

	rl.total++;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!peer || !peer[0])
		peer = "?";
	flush_at(now);
	for (i = 0; i < PX_RATELOG_SLOTS; i++) {
		struct slot *s = &rl.s[i];

		if (!s->used) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (strncmp(s->peer, peer, sizeof(s->peer) - 1) == 0 &&
		    strcmp(s->reason, reason) == 0) {
			s->more++;
			return;
		}
	}
	if (!free_slot || rl.lines >= PX_RATELOG_LINES) {
		rl.over++;
		return;
	}
	free_slot->used = true;
	free_slot->start_ms = now;
	free_slot->more = 0;
	snprintf(free_slot->peer, sizeof(free_slot->peer), "%s", peer);
	snprintf(free_slot->reason, sizeof(free_slot->reason), "%s", reason);
	rl.lines++;
	px_log(PX_LOG_WARN, "refused a message from peer %s: %s (more like it "
	       "are counted for %d s)", free_slot->peer, reason,
	       PX_RATELOG_WINDOW_MS / 1000);
}
