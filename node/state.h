/* state.h - the member's local state: one LMDB environment (a directory,
 * --state-dir) holding the applied policy and the alert outbox.
 *
 * Sub-databases:
 *   meta     "policy": the applied version, epoch and everything but the
 *            sets' entries (set names, limits, tiers, rules, services) as
 *            one SnapshotChunk, checksummed (px_state_policy_encode);
 *            "outbox-boot": the outbox's boot counter (outbox.c)
 *   entries  one record per set entry: key set name, NUL, the entry's 19
 *            bytes (px_entry_t, whose byte order is its sort order), value
 *            the CRC-32C of the key
 *   outbox   alert id (boot, seq: big-endian u64 each) -> CRC-32C and the
 *            packed phalanx.Alert (outbox.c)
 *
 * One write transaction per applied version: the entries added and
 * deleted since the version the environment holds, and the new policy
 * record; the file is updated in place, never rewritten whole.  LMDB
 * checksums nothing and may crash on a damaged file, so every record
 * carries a checksum and a new environment is first read whole by a
 * child process (a crash there is a damaged file, not a dead member). */
#ifndef PX_STATE_H
#define PX_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* The map reserves address space, not disk: the store's bound is
 * PX_SETS_MAX sets of PX_SET_ENTRIES_MAX entries in total; 8M IPv6
 * entries take about 0.6 GiB, and 64 GiB leaves room for any policy the
 * store can hold with LMDB's free pages and copy-on-write. */
#define PX_STATE_MAP_SIZE (64ull << 30)
#define PX_STATE_FORMAT 1

typedef struct px_state px_state_t;

typedef struct {
	bool full;            /* every entry written (no usable base) */
	bool skipped;         /* the environment held this version already */
	uint64_t puts, dels;  /* entry records written, deleted */
	uint64_t usec;        /* the write transaction, commit included */
} px_state_stats_t;

/* Open (or create) the environment in directory dir (created if
 * missing).  An existing environment is first read whole in a child
 * process: a damaged one is refused with PX_EDBCORRUPT and why saying
 * what was seen.  0, -errno, PX_EDBCORRUPT or PX_EDB; *out is NULL on
 * error.  Not to be called after threads were started (it forks). */
int px_state_open(px_state_t **out, const char *dir, char *why, size_t len);
void px_state_close(px_state_t *st); /* NULL is a no-op */
/* Close the environment and open it again if min_records or more entry
 * records were written since it was opened: LMDB keeps every page a
 * write transaction dirtied in a malloc'd free list until the
 * environment closes (~50 MB after a 1M-entry import, all RssAnon).  No
 * transaction may be open, nor another thread using st.  0, or the
 * reopen's error (logged; the next use tries again, failing until it
 * can). */
int px_state_release(px_state_t *st, uint64_t min_records);
const char *px_state_dir(const px_state_t *st);

/* Move a damaged environment's files aside (dir.bad, replacing an older
 * one) so that a new one can be created.  0 or -errno. */
int px_state_set_aside(const char *dir);

/* Read the applied policy into p (initialized by the caller), validated
 * as hostile input (px_policy_validate).  0; -ENOENT if the environment
 * holds no policy yet; PX_EDBCORRUPT, PX_EDECODE, PX_ETOOBIG or a
 * validator's code, why saying which record and why.  On error p holds
 * no usable policy: free it. */
int px_state_load(px_state_t *st, px_policy_t *p, char *why, size_t len);

/* Make the environment hold target, in one write transaction: the delta
 * from base when the environment holds base (its version and epoch, as
 * last loaded or saved), else every entry.  Nothing is written when it
 * holds target's version and epoch already.  base may be NULL.  0,
 * PX_EDBFULL, PX_EDB or -errno; on error the environment keeps the old
 * version and the next save writes everything.  Any thread, one save at
 * a time. */
int px_state_save(px_state_t *st, const px_policy_t *base,
		  const px_policy_t *target, px_state_stats_t *stats);
/* The same, asking gate->fn(gate->arg) once everything is written and
 * before the commit: non-zero aborts the transaction (the environment
 * keeps its version, and knows it) and is returned.  A member writes its
 * state while the kernel loads the same version on another thread and
 * commits only what the kernel took.  stats->usec leaves out the wait. */
typedef struct {
	int (*fn)(void *arg);
	void *arg;
} px_state_gate_t;
int px_state_save_gated(px_state_t *st, const px_policy_t *base,
			const px_policy_t *target, const px_state_gate_t *gate,
			px_state_stats_t *stats);

/* An entry-only change applied in place (node/delta.c): d's entry
 * records and base's policy record at version, one transaction.  The
 * environment must hold base's version (else PX_ESTATE, nothing
 * written: save the whole policy instead). */
struct px_delta;
int px_state_save_delta(px_state_t *st, const px_policy_t *base,
			uint64_t version, const struct px_delta *d,
			px_state_stats_t *stats);

/* The version and epoch the environment holds (0 if none or unknown). */
bool px_state_holds(const px_state_t *st, uint64_t version, uint64_t epoch);

/* The meta "policy" record: encode (malloc'd, *len set) and decode into
 * p (initialized; sets come back empty).  Decode: 0 or PX_EDECODE, or the
 * chunk's or px_policy_validate_shallow's refusal, why saying which. */
uint8_t *px_state_policy_encode(const px_policy_t *p, size_t *len);
int px_state_policy_decode(const uint8_t *buf, size_t len, px_policy_t *p,
			   char *why, size_t wlen);
/* One entries record: key and value checked, set name copied to name
 * (PX_SETNAME_MAX + 1).  0 or PX_EDECODE. */
int px_state_entry_decode(const uint8_t *key, size_t klen, const uint8_t *val,
			  size_t vlen, char *name, px_entry_t *e);

/* For outbox.c: raw records in the same environment.  get: 0 (*val
 * malloc'd), -ENOENT or an error.  A write batch is one transaction:
 * begin, put/del, commit (or abort on error).  Only one write
 * transaction runs at a time: a writer waits for another thread's. */
typedef struct px_state_txn px_state_txn_t;
enum { PX_STATE_META = 0, PX_STATE_ENTRIES = 1, PX_STATE_OUTBOX = 2 };
int px_state_get(px_state_t *st, int db, const void *key, size_t klen,
		 uint8_t **val, size_t *vlen);
int px_state_begin(px_state_t *st, px_state_txn_t **t);
int px_state_put(px_state_txn_t *t, int db, const void *key, size_t klen,
		 const void *val, size_t vlen);
int px_state_del(px_state_txn_t *t, int db, const void *key, size_t klen);
int px_state_commit(px_state_txn_t *t);
void px_state_abort(px_state_txn_t *t);
/* Every record of db in key order: cb(key, val) returning nonzero stops
 * (and is returned).  0 or an error. */
typedef int (*px_state_record_cb)(const uint8_t *key, size_t klen,
				  const uint8_t *val, size_t vlen, void *arg);
int px_state_each(px_state_t *st, int db, px_state_record_cb cb, void *arg);

#endif
