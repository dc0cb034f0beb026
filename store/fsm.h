/* fsm.h - the store's Raft state machine: committed log entries
 * (operations) into the store's LMDB environment.
 *
 * Each entry is applied in one write transaction that also records
 * its index ("raft" database, key "applied"); an entry at or below the
 * recorded index is skipped, so C-Raft replaying the log's tail at a
 * start applies nothing twice.  What an operation does is the op
 * handler's (store/ctl.c's handler table, issue 9 next step): it writes
 * in the transaction it is given and returns the outcome, the same on
 * every store.  Without a handler an operation only advances the index.
 *
 * Snapshots are a compacting copy of the whole environment.  Restoring
 * one into a store whose state is older than it needs the environment
 * swapped under every file that holds it open: not done yet, so such a
 * restore is refused (logged) and the store stops instead of serving a
 * state that is not the cluster's. */
#ifndef PX_FSM_H
#define PX_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "raft.h"

/* Apply one operation inside txn (an MDB_txn *): 0 or a PX_E* outcome
 * (then txn is still committed with the index: the outcome is the
 * entry's, not a failure of the store).  A negative errno or PX_EDB*
 * from LMDB itself is a failure of this store: the process stops. */
typedef int (*px_fsm_op_cb)(void *arg, void *txn, uint64_t index,
			    const void *op, size_t len);

typedef struct px_fsm px_fsm_t;

/* Over db's environment; handler may be NULL (see above).  0 or a
 * database error. */
int px_fsm_open(px_fsm_t **out, px_db_t *db, px_fsm_op_cb handler, void *arg);
void px_fsm_close(px_fsm_t *f);
/* The callbacks for px_raft_config_t.fsm. */
px_raft_fsm_t px_fsm_callbacks(px_fsm_t *f);
/* The last index applied (0: none). */
uint64_t px_fsm_applied(const px_fsm_t *f);

#endif
