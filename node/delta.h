/* delta.h - an entry-only change (`exceptions add/del': set ADD and DEL
 * operations, nothing structural) as the elements it adds to and deletes
 * from the applied policy's sets, decided without copying the policy and
 * applied to it in place.  The member's fast path (sync.c): its cost is
 * the change's size (and one memmove per entry), not the policy's.
 * Plain C over plain structs, no I/O. */
#ifndef PX_DELTA_H
#define PX_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phalanx.pb-c.h"
#include "policy.h"

/* Entries in one change above which the whole path is taken: it checks
 * the kernel's set counts after a load of more than 10,000 elements
 * (nft.c VERIFY_MIN), and at that size the copy it makes no longer
 * dominates. */
#define PX_DELTA_MAX 10000

typedef struct {
	char set[PX_SETNAME_MAX + 1];
	px_entries_t add; /* sorted; none of them in the set */
	px_entries_t del; /* sorted; all of them in the set */
} px_set_delta_t;

typedef struct px_delta {
	px_set_delta_t *v;
	size_t n;
	size_t nentries;  /* add + del over all sets */
} px_delta_t;

/* Whether the n parts of one version hold set ADD and DEL operations
 * only: no CREATE or DESTROY, no limits, rules or services. */
bool px_delta_entry_only(Phalanx__Envelope *const *parts, size_t n);

/* Plan entry-only parts against p, which is only read.  Every entry is
 * decoded and checked as hostile input, and the sets as they will be:
 * at most PX_SET_ENTRIES_MAX entries, no added prefix overlapping
 * another of the set.  Returns
 *   0  with *out filled (the caller frees it with px_delta_free),
 *   1  if the change is better applied whole: a set named by two
 *      operations, or more than PX_DELTA_MAX entries (out empty),
 *   or PX_ENOSET, PX_ESETNAME, PX_EBADADDR, PX_EHOSTBITS, PX_EOVERLAP,
 *      PX_ETOOBIG, PX_EBADREQ with why (may be NULL) naming the set and
 *      entry and *part the 1-based part at fault (out empty). */
int px_delta_plan(const px_policy_t *p, Phalanx__Envelope *const *parts,
		  size_t n, px_delta_t *out, uint32_t *part, char *why,
		  size_t len);

/* Apply d to p in place: p must hold what d was planned against.  The
 * sets' arrays grow by realloc; nothing else of p moves. */
void px_delta_apply(px_policy_t *p, const px_delta_t *d);

void px_delta_free(px_delta_t *d); /* leaves d empty; NULL-safe */

#endif
