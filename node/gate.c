/* gate.c - the readiness gate's decision (gate.h). */
#include <string.h>

#include "gate.h"

/* A change in flight: the store's heartbeat announces version V+1 a
 * little before the member has applied it (1M-element changes take
 * seconds).  Every member sees the same change at the same time, so a
 * short grace would put them all at fault together and nobody would hold
 * the addresses: behind for this long means stuck, not busy. */
#define GATE_GRACE_MS 10000
/* After a freeze, conntrackd needs its FTFW resync (a bulk request to
 * the peers, answered in well under a second for the lab's tables) before
 * this member's kernel table is whole again; 3 s covers it with margin on
 * a loaded machine.  A fixed hold, not a question to conntrackd: its
 * control client (-s network|rsqueue) counts what a member sent and what
 * waits for acknowledgement on the sender, but the receiving side has no
 * "resync complete" to ask for, and a bulk answer carries no end marker.
 * Larger tables need more: --resume-hold-ms (node/vrrp.c). */
#define GATE_RESUME_HOLD_MS 3000

void px_gate_init(px_gate_t *g, uint64_t now_ms, uint64_t store_timeout_ms)
{
	memset(g, 0, sizeof(*g));
	g->store_timeout_ms = store_timeout_ms;
	g->grace_ms = GATE_GRACE_MS;
	g->resume_hold_ms = GATE_RESUME_HOLD_MS;
	g->started_ms = now_ms;
}

void px_gate_heartbeat(px_gate_t *g, uint64_t store_version)
{
	g->heard_store = true;
	g->store_version = store_version;
}

void px_gate_resumed(px_gate_t *g, uint64_t now_ms)
{
	g->resumed_until_ms = now_ms + g->resume_hold_ms;
}

px_gate_verdict_t px_gate_decide(px_gate_t *g, uint64_t now_ms,
				 uint64_t applied, bool store_lost,
				 const char **why)
{
	bool behind = g->heard_store && applied < g->store_version;
	bool in_grace;
	const char *dummy;

	if (!why)
		why = &dummy;
	if (!behind) {
		g->behind_since_ms = 0;
		if (g->heard_store)
			g->current_once = true;
	} else if (!g->behind_since_ms) {
		g->behind_since_ms = now_ms;
	}
	in_grace = behind && g->current_once &&
		   now_ms - g->behind_since_ms <= g->grace_ms;
	if (store_lost && !g->was_lost)
		g->current_at_loss = g->current_once && (!behind || in_grace);
	g->was_lost = store_lost;

	if (g->apply_failed) {
		*why = "the policy failed to apply";
		return PX_GATE_FAULT;
	}
	if (g->drained) {
		*why = "drained";
		return PX_GATE_FAULT;
	}
	if (now_ms < g->resumed_until_ms) {
		*why = "resumed after a freeze: conntrackd resyncing";
		return PX_GATE_FAULT;
	}
	if (!g->heard_store) {
		if (now_ms - g->started_ms < g->store_timeout_ms) {
			*why = "waiting for the store";
			return PX_GATE_FAULT;
		}
		*why = "no store reached since start: enforcing the cached "
		       "policy, cannot know it is current";
		return PX_GATE_STALE;
	}
	if (store_lost) {
		if (g->current_at_loss) {
			*why = "store lost; was current when it was lost";
			return PX_GATE_READY;
		}
		*why = "store lost before this member caught up";
		return PX_GATE_STALE;
	}
	if (!behind) {
		*why = "applied version is the store's";
		return PX_GATE_READY;
	}
	if (in_grace) {
		*why = "a change is on its way";
		return PX_GATE_READY;
	}
	*why = g->current_once ? "behind the store past the grace" :
				 "catching up with the store";
	return PX_GATE_FAULT;
}

const char *px_gate_verdict_name(px_gate_verdict_t v)
{
	switch (v) {
	case PX_GATE_FAULT:
		return "fault";
	case PX_GATE_STALE:
		return "stale";
	case PX_GATE_READY:
		return "ready";
	}
	return "?";
}
