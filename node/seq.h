/* seq.h - the member's version bookkeeping, plain C for unit tests.
 *
 * Changes arrive as (version, part, nparts).  A member applies version
 * V+1 on top of V, parts 1..n in order; anything else newer is a gap,
 * which costs a snapshot.  Older versions are ignored. */
#ifndef PX_SEQ_H
#define PX_SEQ_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	uint64_t applied;  /* version in the kernel */
	uint64_t pending;  /* version being assembled, 0 if none */
	uint32_t next_part;
	uint32_t nparts;
} px_seq_t;

typedef enum {
	PX_SEQ_IGNORE,   /* old or duplicate: drop */
	PX_SEQ_START,    /* part 1 of applied+1: start a pending copy */
	PX_SEQ_CONTINUE, /* next part of the pending version */
	PX_SEQ_GAP,      /* something was missed: resnapshot */
} px_seq_verdict_t;

px_seq_verdict_t px_seq_check(px_seq_t *s, uint64_t version, uint32_t part,
			      uint32_t nparts);
/* After a CONTINUE/START: true if that part completed the version. */
bool px_seq_complete(const px_seq_t *s);
/* The pending version was applied (or abandoned: applied unchanged). */
void px_seq_done(px_seq_t *s, bool applied);
/* A store heartbeat says the store is at version v: true if the member
 * is behind it (the caller allows a grace period for what is on its
 * way). */
bool px_seq_behind(const px_seq_t *s, uint64_t store_version);

#endif
