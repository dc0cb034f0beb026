/* replicate.h - the store's writes through Raft (issue 9, with
 * --raft-peers).
 *
 * The leader runs a ctl write's checks first (store/ops.c in a dry run:
 * limits, names, overlaps; nothing written), then proposes it as one
 * RaftEntry (the Operation, who sent it and the leader's clock) and
 * keeps the client's routing id.  Every store applies a committed entry
 * through the same ops.c handler (px_store_replicate_apply, the FSM's op
 * handler) and publishes what it changed to the members connected to
 * it; the leader answers the client once the entry is committed and
 * applied here.  A request id applied before (the FSM keeps the last
 * PX_FSM_REQUESTS) is answered with its first outcome, not applied again.
 *
 * A follower answers writes and reads of the policy with PX_ENOTLEADER
 * and the leader's name and ctl endpoint, or PX_ENOQUORUM when it knows
 * no leader (an election is on, or it is cut off); it answers the reads
 * of what only it holds itself (its Raft view, the members that follow
 * it: STATUS, WAIT, alerts, firewall logs). */
#ifndef PX_REPLICATE_H
#define PX_REPLICATE_H

#include "fsm.h"
#include "raft.h"
#include "store.h"

/* Pending proposals at once: a phalanxctl has one request out at a
 * time, so this is that many operators (each waits ~ one fsync round). */
#define PX_REPL_PENDING_MAX 1024

/* Set st up for Raft before px_raft_open: the peers and their ctl
 * endpoints (ctl_list: "tcp://H:P,..." in the peers' order, or "" for
 * each peer's Raft host with the ctl port of listen).  0, or
 * PX_EBADREQ with err saying why. */
int px_store_replicate_init(px_store_t *st, const px_raft_peer_t *peers,
			    size_t n, const char *ctl_list, const char *listen,
			    char *err, size_t errlen);
void px_store_replicate_free(px_store_t *st);
/* The FSM's op handler (arg: the px_store_t). */
int px_store_replicate_apply(void *arg, uint64_t index, const void *op,
			     size_t len, px_fsm_result_t *res);

/* ctl.c: true if this store must not answer req (a follower, or no
 * leader known): r and rep's leader fields say so. */
bool px_store_replicate_refuse(px_store_t *st, const Phalanx__CtlRequest *req,
			       Phalanx__CtlReply *rep, px_ctl_result_t *r);
/* ctl.c: the write in env (an Operation) from rid by who.  0: proposed,
 * env taken, the reply comes when it commits.  Else answer now with r
 * and rep (refused by its checks, nothing to change, a request id
 * applied before, or not proposed: PX_ENOTLEADER, PX_EBUSY). */
/* Answer a ctl request held past its handler (rid->len 0: none to
 * answer, a failure is logged): r's status and error, the version and
 * epoch now unless rep carries a version. */
void px_store_ctl_reply(px_store_t *st, const px_rid_t *rid,
			Phalanx__CtlReply *rep, const px_ctl_result_t *r);
/* The leader's ctl endpoint when this store follows one it knows, else
 * NULL (it leads, an election is on, or there is no Raft). */
const char *px_store_replicate_leader_endpoint(px_store_t *st);
/* Store p's ctl endpoint: as configured (--raft-ctl-endpoints, or each
 * peer's Raft host with the ctl port of --listen), for a store added at
 * run time its Raft host with this store's ctl port ("" if neither).
 * Valid until the next call. */
const char *px_store_replicate_endpoint(px_store_t *st,
					const px_raft_peer_t *p);
/* Propose op as the store itself (who), with no client to answer: the
 * leader's revert of an unconfirmed version.  0 if proposed. */
int px_store_replicate_self(px_store_t *st, const Phalanx__Operation *op,
			    const px_ident_t *who);
/* alerts.c: a member's alert batch from rid (the sync socket).  The
 * leader proposes it (if it fits) and acknowledges it to the member once
 * committed and applied; a follower drops it unacknowledged (the member
 * sends it again, to the leader once it follows it). */
void px_store_replicate_alerts(px_store_t *st, const px_rid_t *rid,
			       const Phalanx__AlertBatch *b);
/* alerts.c: the leader's member-down alert al (member, state, time,
 * text) as an entry: 0 proposed, PX_ENOTLEADER on a follower. */
int px_store_replicate_member_down(px_store_t *st, const Phalanx__Alert *al);
/* Whether this store judges its members down now (sync.c's tick, every
 * second): no Raft, or the leader for grace ms already (members move to
 * a new leader within a few heartbeats).  On becoming the leader every
 * member's alert state is looked at again. */
bool px_store_replicate_judges(px_store_t *st, uint64_t now, uint64_t grace);
/* Whether this store leads (true without Raft). */
bool px_store_replicate_leads(px_store_t *st);
int px_store_replicate_write(px_store_t *st, const px_rid_t *rid,
			     Phalanx__Envelope *env, const px_ident_t *who,
			     Phalanx__CtlReply *rep, px_ctl_result_t *r);
/* ctl.c: STORE_TRANSFER from rid (this store leads: followers refuse
 * it with the leader hint first): hand leadership to req->name ("":
 * C-Raft's choice).  0: started, the reply (this store's status: the
 * new leader and term, or why it did not move) comes when it is over.
 * Else answer now with r (one store without Raft, a transfer under
 * way, an unknown name, a non-voter, this store itself). */
int px_store_replicate_transfer(px_store_t *st, const px_rid_t *rid,
				const Phalanx__CtlRequest *req,
				Phalanx__CtlReply *rep, px_ctl_result_t *r);
/* ctl.c: STORE_STATUS: this store's Raft view into rep (strings are
 * st's, valid until the next call). */
void px_store_replicate_status(px_store_t *st, Phalanx__CtlReply *rep,
			       Phalanx__StoreStatus *ss);

#endif
