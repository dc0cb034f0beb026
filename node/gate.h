/* gate.h - the readiness gate's decision: may this member hold the
 * array's virtual addresses?  Plain C over a plain struct, for unit
 * tests; node/vrrp.c feeds it and writes keepalived's track files.
 *
 * A member is
 *   READY  (eligible) while its applied version is the store's (a change
 *          on its way gets grace_ms), and while the store is lost if it
 *          was current when it lost it;
 *   STALE  (eligible at a lower VRRP priority) when it enforces a policy
 *          it could not check: no store reached since it started (after
 *          store_timeout_ms of trying), or the store lost before it
 *          caught up;
 *   FAULT  when its policy failed to apply, it is drained, it waits for
 *          the store in its first store_timeout_ms, it is behind the
 *          store past the grace, or it resumed from a freeze less than
 *          resume_hold_ms ago (conntrackd resyncing its table). */
#ifndef PX_GATE_H
#define PX_GATE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
	PX_GATE_FAULT,
	PX_GATE_STALE,
	PX_GATE_READY,
} px_gate_verdict_t;

typedef struct {
	/* settings */
	uint64_t store_timeout_ms, grace_ms, resume_hold_ms;
	/* observations (px_gate_* below) */
	uint64_t started_ms;
	bool heard_store;          /* a store heartbeat since start */
	uint64_t store_version;    /* the last heartbeat's */
	bool apply_failed, drained;
	/* memory */
	bool current_once;         /* applied == store's at least once */
	bool was_lost, current_at_loss;
	uint64_t behind_since_ms;  /* 0: not behind */
	uint64_t resumed_until_ms;
} px_gate_t;

void px_gate_init(px_gate_t *g, uint64_t now_ms, uint64_t store_timeout_ms);
/* A store heartbeat: the store is at store_version. */
void px_gate_heartbeat(px_gate_t *g, uint64_t store_version);
/* The process did not run for a while (SIGSTOP, a paused VM): at fault
 * until now + resume_hold_ms. */
void px_gate_resumed(px_gate_t *g, uint64_t now_ms);
/* The verdict now; *why (static text) says which rule decided. */
px_gate_verdict_t px_gate_decide(px_gate_t *g, uint64_t now_ms,
				 uint64_t applied, bool store_lost,
				 const char **why);
const char *px_gate_verdict_name(px_gate_verdict_t v);

#endif
