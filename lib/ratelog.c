/* ratelog.c - refusal logging with a budget (see ratelog.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "px.h"
#include "ratelog.h"

struct slot {
	bool used;
	bool refusal;       /* px_refused's wording, else px_peer_warn's */
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
	unsigned long long secs = (now - s->start_ms + 999) / 1000;

	if (s->more && s->refusal)
		px_log(PX_LOG_WARN, "refused %llu more messages from peer %s "
		       "in the last %llu s: %s", (unsigned long long)s->more,
		       s->peer, secs, s->reason);
	else if (s->more)
		px_log(PX_LOG_WARN, "peer %s: %llu more in the last %llu s: %s",
		       s->peer, (unsigned long long)s->more, secs, s->reason);
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
			px_log(PX_LOG_WARN, "refused or dropped %llu further messages in "
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

static void note(bool refusal, const char *peer, const char *reason)
{
	uint64_t now = px_mono_ms();
	struct slot *free_slot = NULL;
	size_t i;

	rl.total++;
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
		if (s->refusal == refusal &&
		    strncmp(s->peer, peer, sizeof(s->peer) - 1) == 0 &&
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
	free_slot->refusal = refusal;
	free_slot->start_ms = now;
	free_slot->more = 0;
	snprintf(free_slot->peer, sizeof(free_slot->peer), "%s", peer);
	snprintf(free_slot->reason, sizeof(free_slot->reason), "%s", reason);
	rl.lines++;
	if (refusal)
		px_log(PX_LOG_WARN, "refused a message from peer %s: %s (more "
		       "like it are counted for %d s)", free_slot->peer,
		       free_slot->reason, PX_RATELOG_WINDOW_MS / 1000);
	else
		px_log(PX_LOG_WARN, "peer %s: %s (more like it are counted for "
		       "%d s)", free_slot->peer, free_slot->reason,
		       PX_RATELOG_WINDOW_MS / 1000);
}

void px_refused(const char *peer, const char *fmt, ...)
{
	char reason[sizeof(rl.s[0].reason)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	note(true, peer, reason);
}

void px_peer_warn(const char *peer, const char *fmt, ...)
{
	char reason[sizeof(rl.s[0].reason)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	note(false, peer, reason);
}

bool px_every(px_every_t *e, uint64_t now_ms, uint64_t period_ms,
	      uint64_t weight, uint64_t *held)
{
	if (now_ms < e->next_ms) {
		e->held += weight;
		return false;
	}
	if (held)
		*held = e->held;
	e->held = 0;
	e->next_ms = now_ms + period_ms;
	return true;
}

bool px_every_due(const px_every_t *e, uint64_t now_ms)
{
	return now_ms >= e->next_ms;
}
