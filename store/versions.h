/* versions.h - what changed between two versions, from the record each
 * commit keeps of itself (store/db.c "versions"): `phalanxctl diff',
 * `rollback' and the revert of a change nobody confirmed in time. */
#ifndef PX_VERSIONS_H
#define PX_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "policy.h"

/* One set's change going from version `from' to version `to'. */
typedef struct {
	char name[PX_SETNAME_MAX + 1];
	bool created, destroyed;   /* absent at from / absent at to */
	px_entries_t add, del;     /* sorted, unique */
} px_vset_t;

typedef struct px_vdiff {
	uint64_t from, to;
	px_vset_t *sets;
	size_t nsets;
	/* The meta record (limits, rules, services, protection) changed:
	 * as it was at from and at to, packed (px_db_meta_pack); a length
	 * of 0 is the defaults (no record was ever written). */
	bool meta;
	uint8_t *meta_from, *meta_to;
	size_t meta_from_len, meta_to_len;
} px_vdiff_t;

/* The change from version from to version to (either may be the
 * larger), both within the records kept: 0, or PX_ERANGE with err
 * naming the oldest version kept, or a database error.  d is the
 * caller's to px_vdiff_free, whatever the outcome. */
int px_versions_diff(px_db_t *db, uint64_t from, uint64_t to,
		     px_vdiff_t *d, char *err, size_t errlen);
void px_vdiff_free(px_vdiff_t *d);

/* The undo of version v alone, against the current policy p: the
 * reverse of v's own change, less what later versions changed again
 * (entries already gone or back, sets re-created or in use, and each of
 * limits, rules, services and protection that changed since keeps its
 * current state).  0, or an error as px_versions_diff's. */
int px_versions_undo(px_db_t *db, const px_policy_t *p, uint64_t v,
		     px_vdiff_t *d, char *err, size_t errlen);

/* DIFF's reply: px_versions_diff from `from' to `to' in words (each
 * set's entries up to PX_DIFF_ENTRIES_MAX each way, with the counts;
 * limits, rules and services by name; protection changed or not).
 * *out is the caller's to px_versions_diff_reply_free. */
#define PX_DIFF_ENTRIES_MAX 10000
int px_versions_diff_reply(px_db_t *db, uint64_t from, uint64_t to,
			   Phalanx__DiffReply **out, char *err,
			   size_t errlen);
void px_versions_diff_reply_free(Phalanx__DiffReply *r);
/* The same reply for any difference d (config plan's). */
int px_vdiff_reply(const px_vdiff_t *d, Phalanx__DiffReply **out,
		   char *err, size_t errlen);
/* PENDING's reply: *out[0..*n) hold version, who, time_ms and
 * confirm_by_ms; px_versions_pending_free frees them. */
int px_versions_pending_list(px_db_t *db, Phalanx__VersionRecord ***out,
			     size_t *n);
void px_versions_pending_free(Phalanx__VersionRecord **v, size_t n);

/* Versions waiting for `confirm': the oldest whose deadline passed at
 * now_ms, other than skip (0: none). */
uint64_t px_versions_due(px_db_t *db, uint64_t now_ms, uint64_t skip);
/* Whether version v waits for a confirmation. */
bool px_versions_pending(px_db_t *db, uint64_t v);

#endif
