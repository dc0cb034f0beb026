/* stores.h - the set of stores (issue 9): `phalanxctl store add' and
 * `store remove' (STORE_ADD, STORE_REMOVE) and the store list that
 * STORE_STATUS gives, from the Raft configuration (store/raft.c keeps
 * it in C-Raft's log: it survives restarts). */
#ifndef PX_STORES_H
#define PX_STORES_H

#include "store.h"

/* ctl.c: STORE_ADD (req->name at req->store_endpoint, "ID@A.B.C.D:PORT")
 * or STORE_REMOVE (req->name) from rid; this store leads (followers
 * refuse it with the leader hint first).  0: started, the reply (an
 * error, or this store's status with the stores after the change)
 * comes when the change committed or failed.  Else answer now with r:
 * refused with nothing changed (see px_raft_add, px_raft_remove). */
int px_store_stores_change(px_store_t *st, const px_rid_t *rid,
			   const Phalanx__CtlRequest *req,
			   Phalanx__CtlReply *rep, px_ctl_result_t *r);
/* ctl.c: after px_store_replicate_status: ss's store list (peers,
 * peer_endpoints) := the Raft configuration's, with each store's place
 * in it (membership, peer_memberships).  The ctl endpoint of a store
 * added at run time is its Raft address's host with this store's ctl
 * port.  Strings are this file's, valid until the next call. */
void px_store_stores_status(px_store_t *st, Phalanx__StoreStatus *ss);

#endif
