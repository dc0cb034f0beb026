/* db.h - all LMDB I/O of the store.  The database is the single source
 * of truth; the store keeps a copy of the policy in memory for reads.
 *
 * Layout (one environment, four named databases):
 *   meta     "version" -> u64, "epoch" -> u64, "limits" -> packed
 *            SnapshotChunk holding limits, rules and services
 *   sets     set name -> ""
 *   entries  set name, NUL, px_entry_t bytes -> ""
 *   members  member id -> u64 version it last reported
 * and "alerts", kept by store/alerts.c (see store/alerts.h). */
#ifndef PX_DB_H
#define PX_DB_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

typedef struct px_db px_db_t;

typedef enum { PX_DB_CREATE, PX_DB_DESTROY, PX_DB_ADD, PX_DB_DEL } px_db_kind_t;

typedef struct {
	px_db_kind_t kind;
	const char *set;
	const px_entries_t *entries; /* ADD, DEL */
} px_db_op_t;

/* Open or create the database in directory dir (created if missing).
 * mapsize bounds its size.  0 or negative errno / LMDB error. */
int px_db_open(px_db_t **out, const char *dir, size_t mapsize);
void px_db_close(px_db_t *db);
/* The LMDB environment (an MDB_env *), for the store's databases kept in
 * other files: store/alerts.c opens "alerts" in it. */
void *px_db_env(px_db_t *db);
/* Read the whole policy.  A new database gets version 0, epoch 1 and
 * the set flood-exceptions. */
int px_db_load(px_db_t *db, px_policy_t *p);
/* Commit ops and (if meta != NULL) meta's limits, rules and services
 * as version, in one durable transaction: all or nothing. */
int px_db_commit(px_db_t *db, uint64_t version, uint64_t epoch,
		 const px_db_op_t *ops,
		 size_t nops, const px_policy_t *meta);
const char *px_db_strerror(int rc);

/* Remember a member (so that after a restart the store still knows whom
 * `phalanxctl --wait` waits for), and list them: cb(id, applied, arg). */
int px_db_member_put(px_db_t *db, const char *id, uint64_t applied);
typedef void (*px_db_member_cb)(const char *id, uint64_t applied, void *arg);
int px_db_members(px_db_t *db, px_db_member_cb cb, void *arg);
/* Forget member id: 0, PX_ENOMEMBER if the database does not hold it,
 * or a database error. */
int px_db_member_del(px_db_t *db, const char *id);

#endif
