/* fsm.h - the store's Raft state machine: committed log entries
 * (operations) into the store's LMDB environment.
 *
 * Each entry's index is recorded ("raft" database, key "applied") with
 * its request id and outcome ("raft-req", "raft-reqseq"); an entry at or
 * below the recorded index is skipped, so C-Raft replaying the log's
 * tail at a start applies nothing twice.  What an operation does is the op
 * handler's (store/replicate.c over store/ops.c's table): the outcome
 * is the same on every store.  Without a handler an operation only
 * advances the index.
 *
 * Snapshots are a compacting copy of the whole environment.  Restoring
 * one into a store whose state is older than it (a store further behind
 * than the leader's log, or one whose disk was wiped) writes the copy
 * next to data.mdb, checks it, records the snapshot's index as applied,
 * fsyncs it and renames it over data.mdb; then the replaced callback
 * reloads every view of the database (phalanx-store re-executes itself:
 * C-Raft persisted the snapshot before asking for the restore, so the
 * next start finds the database at the snapshot's index and keeps it).
 * A copy that cannot be written or checked stops the store. */
#ifndef PX_FSM_H
#define PX_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "raft.h"

/* Requests applied, by request id: the last PX_FSM_REQUESTS of them
 * (issue 9: a client retries a write with the same id after a lost
 * leader; a retry comes within seconds, and 4096 writes are minutes of
 * an operator's work).  Their first outcome is kept. */
#define PX_FSM_REQUESTS 4096
#define PX_FSM_REQID_MAX 64
#define PX_FSM_ERROR_MAX 400

/* What applying one entry did: its request id ("" if none), outcome
 * (0 or a PX_E* code), the policy version after it and the error text. */
typedef struct {
	char request_id[PX_FSM_REQID_MAX + 1];
	int outcome;
	uint64_t version;
	uint64_t bad_entry, overlap_entry;
	char error[PX_FSM_ERROR_MAX + 1];
	bool duplicate;          /* an id applied before: res is its first */
} px_fsm_result_t;

/* Apply one operation (its LMDB transactions: store/ops.c's) and fill
 * res (zeroed by the caller; res->request_id set before the handler
 * writes anything; res->duplicate set when it found the id applied
 * before and applied nothing).  0, or a failure of the store itself (a
 * database error): then the process stops and the log replays the
 * entry at the next start.  While the handler runs, every write
 * transaction of the environment also records the entry's index and
 * its request (px_db_set_commit_hook), so an entry's writes and its
 * index commit together; after the handler the FSM completes the
 * request's record (its version and outcome) and records the index of
 * an entry that wrote nothing.  An operation that commits twice (a key
 * or member change, then its audit record) is recorded applied with its
 * first commit: a crash between the two loses the audit record, never
 * applies the change twice. */
typedef int (*px_fsm_op_cb)(void *arg, uint64_t index, const void *op,
			    size_t len, px_fsm_result_t *res);

typedef struct px_fsm px_fsm_t;

/* Over db's environment; handler may be NULL (see above).  0 or a
 * database error. */
int px_fsm_open(px_fsm_t **out, px_db_t *db, px_fsm_op_cb handler, void *arg);
void px_fsm_close(px_fsm_t *f);
/* Called after a restore replaced the database file; it must reload
 * (and not return, in a running store).  Without one the store stops
 * after replacing the file. */
void px_fsm_on_replaced(px_fsm_t *f, void (*cb)(void *arg), void *arg);
/* The callbacks for px_raft_config_t.fsm. */
px_raft_fsm_t px_fsm_callbacks(px_fsm_t *f);
/* The last index applied (0: none). */
uint64_t px_fsm_applied(const px_fsm_t *f);
/* The first outcome of request id, if applied among the last
 * PX_FSM_REQUESTS: 1 and *res filled, 0 if not, or a database error. */
int px_fsm_request_find(px_fsm_t *f, const char *id, px_fsm_result_t *res);

#endif
