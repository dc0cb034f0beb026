/* db.h - all LMDB I/O of the store.  The database is the single source
 * of truth; the store keeps a copy of the policy in memory for reads.
 *
 * Layout (one environment, four named databases):
 *   meta     "version" -> u64, "epoch" -> u64, "limits" -> packed
 *            SnapshotChunk holding limits, rules, services and the
 *            attack protection (issue 12)
 *   sets     set name -> ""
 *   entries  set name, NUL, px_entry_t bytes -> ""
 *   members  member id -> u64 version it last reported, u8 flags
 *            (1: drained; 8-byte records of older stores: not drained)
 *   blocks   set name, NUL, entry wire bytes -> u64 expiry (wall ms),
 *            member id: the running array-wide blocks (store/blocks.c)
 * and "alerts", kept by store/alerts.c (see store/alerts.h). */
#ifndef PX_DB_H
#define PX_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbfit.h"
#include "phalanx.pb-c.h"
#include "policy.h"
#include "px.h"

typedef struct px_db px_db_t;

typedef enum { PX_DB_CREATE, PX_DB_DESTROY, PX_DB_ADD, PX_DB_DEL } px_db_kind_t;

typedef struct {
	px_db_kind_t kind;
	const char *set;
	const px_entries_t *entries; /* ADD, DEL */
	size_t dropped;              /* DESTROY: entries the set holds */
} px_db_op_t;

/* Every error of this file and of the store's other LMDB users
 * (store/alerts.c) is in the project's space: 0, a negative errno,
 * PX_EDBFULL (the map is full: raise --map-size), PX_EDBCORRUPT
 * (corrupt, or another LMDB version) or PX_EDB (any other LMDB error,
 * whose own text is logged).  px_db_error maps an LMDB return value;
 * px_db_strerror is px_strerror. */
int px_db_error(int mdb_rc);

/* Open or create the database in directory dir (created if missing).
 * mapsize bounds its size.  0 or negative errno / LMDB error. */
int px_db_open(px_db_t **out, const char *dir, size_t mapsize);
void px_db_close(px_db_t *db);
/* The LMDB environment (an MDB_env *), for the store's databases kept in
 * other files: store/alerts.c opens "alerts" in it. */
void *px_db_env(px_db_t *db);
/* A hook run in every write transaction of db's environment (db.c,
 * auth.c, alerts.c) just before it commits: store/fsm.c records the
 * Raft index being applied in the same transaction as the entry's own
 * writes.  It returns 0 or an LMDB error, which aborts the transaction.
 * fn NULL: none. */
struct MDB_txn;
typedef int (*px_db_commit_hook)(void *arg, struct MDB_txn *txn);
void px_db_set_commit_hook(px_db_t *db, px_db_commit_hook fn, void *arg);
/* mdb_txn_commit after the hook: an LMDB return code; txn is freed
 * either way. */
int px_db_txn_commit(px_db_t *db, struct MDB_txn *txn);
/* Open (creating it if missing) the named database name of db's
 * environment, in a transaction of its own: *dbi (an MDB_dbi).  0 or a
 * px_db_error code. */
int px_db_named(px_db_t *db, const char *name, unsigned *dbi);
/* Read the whole policy.  A new database gets version 0, epoch 1 and
 * the set flood-exceptions. */
int px_db_load(px_db_t *db, px_policy_t *p);
/* With Raft, the epoch is the cluster's, not each store's: the first
 * entry applied sets it (proposed: that entry's leader clock, the same
 * on every store), later calls read it.  0 and *epoch, or an error. */
int px_db_raft_epoch(px_db_t *db, uint64_t proposed, uint64_t *epoch);
/* Commit ops and (if meta != NULL) meta's limits, rules and services
 * as version, in one durable transaction: all or nothing.  A write that
 * may not fit the map is refused before it starts (PX_EDBFULL, logged
 * with the numbers); on any error nothing changed. */
int px_db_commit(px_db_t *db, uint64_t version, uint64_t epoch,
		 const px_db_op_t *ops,
		 size_t nops, const px_policy_t *meta);
const char *px_db_strerror(int rc);
/* Timings of the last px_db_commit*: µs spent before mdb_txn_commit
 * (fit check and writes) and in it (write-out and fsync). */
void px_db_last_commit_us(const px_db_t *db, uint64_t *write_us,
			  uint64_t *sync_us);

/* The audit trail ("history": time_ms and a sequence number -> a packed
 * HistoryRecord).  At most PX_HISTORY_MAX records: the oldest goes. */
#define PX_HISTORY_MAX 100000
typedef struct {
	uint64_t time_ms;
	const void *rec;   /* the packed record */
	size_t len;
	/* For the version's own record ("versions"): who made it, the
	 * --confirm deadline it waits for (wall ms; 0: none), and the
	 * version whose pending confirmation this commit ends (0: none). */
	const char *who;
	uint64_t confirm_by_ms;
	uint64_t settles;
	/* --canary (store/canary.h): its member ("" or NULL: none) and
	 * seconds; confirm_by_ms is then the canary's last deadline. */
	const char *canary_member;
	uint32_t canary_s;
} px_db_audit_t;
/* px_db_commit that also appends audit (may be NULL) in the same
 * transaction: a change is never committed without its record. */
int px_db_commit_audited(px_db_t *db, uint64_t version, uint64_t epoch,
			 const px_db_op_t *ops, size_t nops,
			 const px_policy_t *meta, const px_db_audit_t *audit);
/* Every commit also records what it changed (a VersionRecord: each set's
 * added and removed entries, a destroyed set's whole contents, the meta
 * record before and after) in "versions", in the same transaction, the
 * newest PX_VERSIONS_KEPT of them: what `diff', `rollback' and the revert
 * of an unconfirmed change read (store/versions.c).  A commit has at
 * most PX_DB_OPS_MAX ops. */
#define PX_VERSIONS_KEPT 1000
#define PX_DB_OPS_MAX 4096
typedef int (*px_db_version_cb)(const Phalanx__VersionRecord *r, void *arg);
/* cb for each record of a version in [from, to], oldest first, until cb
 * returns non-zero (returned).  0 or a database error. */
int px_db_versions(px_db_t *db, uint64_t from, uint64_t to,
		   px_db_version_cb cb, void *arg);
/* The versions waiting for `confirm': cb(version, deadline_ms, arg). */
typedef int (*px_db_confirm_cb)(uint64_t version, uint64_t deadline_ms,
				void *arg);
int px_db_confirm_list(px_db_t *db, px_db_confirm_cb cb, void *arg);
/* Confirm version (no longer reverted by itself), with audit in the same
 * transaction: 0, -ENOENT if it waits for no confirmation, or a
 * database error. */
int px_db_confirm_del(px_db_t *db, uint64_t version,
		      const px_db_audit_t *audit);
/* The meta record ("limits": limits, rules, services, protection) of p,
 * packed: *buf is the caller's to free.  px_db_meta_apply applies one to
 * p (whose sets must include every tier's and rule's): 0 or an error. */
void px_db_meta_pack(const px_policy_t *p, uint8_t **buf, size_t *len);
int px_db_meta_apply(px_policy_t *p, const void *buf, size_t len);

/* The fit check of px_db_commit_audited alone (the Raft leader's,
 * before it proposes; audit_len: the record's bytes): 0 or PX_EDBFULL
 * (logged with the numbers), or a database error. */
int px_db_commit_check(px_db_t *db, uint64_t version, const px_db_op_t *ops,
		       size_t nops, const px_policy_t *meta, size_t audit_len);
/* Append a record of a change outside the policy (keys, alerts,
 * members) in a transaction of its own.  0 or a database error. */
int px_db_history_put(px_db_t *db, const px_db_audit_t *a);
/* cb(rec, len, arg) for each record at or after since_ms, oldest first,
 * until cb returns non-zero.  0 or a database error. */
typedef int (*px_db_history_cb)(const void *rec, size_t len, void *arg);
int px_db_history(px_db_t *db, uint64_t since_ms, px_db_history_cb cb,
		  void *arg);

/* 0 if the write w fits the free pages of the map keeping 1/reserve_frac
 * of the map free (0: no reserve); else PX_EDBFULL, logged naming what.
 * Filled in here: w's psize, and the leaves and depth of database dbi
 * (an MDB_dbi) added to w's.  Call it with no transaction open: it reads
 * the free list in a read transaction of its own. */
int px_db_fits(px_db_t *db, unsigned int dbi, const px_dbfit_t *w,
	       size_t reserve_frac, const char *what);
/* The map's size in bytes. */
size_t px_db_map_size(px_db_t *db);

/* Remember a member (so that after a restart the store still knows whom
 * `phalanxctl --wait` waits for), and list them: cb(id, applied,
 * drained, arg).  px_db_member_put keeps the drain flag. */
int px_db_member_put(px_db_t *db, const char *id, uint64_t applied);
typedef void (*px_db_member_cb)(const char *id, uint64_t applied,
				bool drained, void *arg);
int px_db_members(px_db_t *db, px_db_member_cb cb, void *arg);
/* Keep member id's drain flag (the record is made if missing): 0, or
 * PX_EDBFULL (checked before writing) or a database error. */
int px_db_member_drain(px_db_t *db, const char *id, bool drained);
/* Forget member id: 0, PX_ENOMEMBER if the database does not hold it,
 * or a database error. */
int px_db_member_del(px_db_t *db, const char *id);

/* One running array-wide block, as kept in "blocks". */
typedef struct {
	char set[PX_SETNAME_MAX + 1];
	char member[PX_MEMBER_ID_MAX + 1];
	uint8_t entry[PX_ENTRY_WIRE_MAX];
	size_t len;
	uint64_t expires_ms; /* wall clock */
} px_db_block_t;
/* Put (or replace, same set and entry) n blocks in one transaction:
 * 0, PX_EDBFULL (checked before writing) or a database error. */
int px_db_blocks_put(px_db_t *db, const px_db_block_t *v, size_t n);
/* cb (may be NULL) once per block running at now_ms; the expired and
 * the unreadable are deleted.  The number deleted, or an error. */
typedef void (*px_db_block_cb)(const px_db_block_t *b, void *arg);
int px_db_blocks(px_db_t *db, uint64_t now_ms, px_db_block_cb cb, void *arg);
/* px_db_blocks without a callback: delete the expired ones. */
int px_db_blocks_expire(px_db_t *db, uint64_t now_ms);

#endif
