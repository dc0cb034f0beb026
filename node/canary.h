/* canary.h - a member's side of `--canary MEMBER' (store/canary.h),
 * plain C for unit tests.
 *
 * A Change naming a canary member other than this one is held, with
 * every later change behind it, in arrival order, until a store
 * heartbeat at that version or later no longer names it as the canary
 * in progress: released (it applies) or reverted (it applies, then its
 * revert).  Neither a gap nor a reason to resnapshot. */
#ifndef PX_NODE_CANARY_H
#define PX_NODE_CANARY_H

#include <stdbool.h>
#include <stdint.h>

#include "px.h"

/* What the last store heartbeat said (zeroed: none heard yet). */
typedef struct {
	bool heard;               /* a store heartbeat since the start */
	uint64_t version;         /* the store's version */
	uint64_t canary_version;  /* 0: no canary in progress */
	char canary_member[PX_MEMBER_ID_MAX + 1];
} px_canary_gate_t;

/* A store heartbeat in: remember what it says of the canary. */
void px_canary_gate_heard(px_canary_gate_t *g, uint64_t version,
			  uint64_t canary_version, const char *canary_member);
/* Whether member me holds a change of version that names canary ("" or
 * NULL: none) now. */
bool px_canary_holds(const px_canary_gate_t *g, const char *me,
		     uint64_t version, const char *canary);
/* Whether member me, which enforces a policy already, holds a snapshot
 * of version now: one that holds a canary in progress on another member
 * (after a failover a member resnapshots from the store it follows
 * next), or any before the first store heartbeat says whether a canary
 * is in progress (a restarted member: a second at most). */
bool px_canary_holds_snapshot(const px_canary_gate_t *g, const char *me,
			      uint64_t version);
/* The store's version as member me's readiness gate should count it:
 * while it holds a canary for another member, the version before it
 * (held on purpose is not behind). */
uint64_t px_canary_store_version(const px_canary_gate_t *g, const char *me,
				 uint64_t store_version);
/* Whether member me, at applied, is behind the store only by versions
 * it holds for a canary in progress (so nothing was lost). */
bool px_canary_behind_held(const px_canary_gate_t *g, const char *me,
			   uint64_t applied);

#endif
