/* raft.h - the store's replication: C-Raft (libraft 0.22, its legacy
 * API) embedded on the store's libuv loop.  One file holds every call
 * into libraft; the state machine is the caller's (px_raft_fsm_t).
 *
 * Timing (issue 9): election timeout PX_RAFT_ELECTION_MS, heartbeat
 * PX_RAFT_HEARTBEAT_MS, pre-vote on: a killed or frozen leader is
 * replaced in 1-2 s.  The log and snapshots live in a directory on a
 * real disk (C-Raft writes with O_DIRECT and kernel AIO): a tmpfs
 * directory is refused at px_raft_open.
 *
 * Peers: 1, 3 or 5 stores, each "name=id@host:port" (the Raft TCP
 * transport's address, an IPv4 address: C-Raft's transport resolves no
 * names); px_raft_add and px_raft_remove change the set at run time
 * (C-Raft's configuration, kept in its log: from then on the log's set
 * counts, not --raft-peers).  That transport is not authenticated; this file wraps it and
 * drops every connection whose source address is not the configured
 * address of the server id it claims (after C-Raft's own handshake: the
 * wrapper sees connections only then).  Put the transport on a
 * dedicated replication link, as pfsync and conntrackd traffic is. */
#ifndef PX_RAFT_H
#define PX_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;

#define PX_RAFT_SERVERS_MAX 5
#define PX_RAFT_NAME_MAX 31
#define PX_RAFT_ADDR_MAX 63
/* Election timeout: C-Raft draws each server's timer from [T, 2T], and
 * a follower that knows a leader refuses (pre-)votes until its own
 * timer ran out, so a leader's death is acted on after the later of
 * two draws, and a refused first candidate waits a new draw: with
 * T = 1000 ms ten kills took 1.5-3.5 s (median 2.6 s), over the 3 s
 * the issue asks.  T = 750 ms keeps the order of etcd's 1 s and brings
 * the worst case under 3 s.  Heartbeats: a follower hears the leader
 * about seven times before it may suspect it. */
#define PX_RAFT_ELECTION_MS 750
#define PX_RAFT_HEARTBEAT_MS 100

typedef struct {
	char name[PX_RAFT_NAME_MAX + 1];  /* "store2": the lab's and ctl's name */
	uint64_t id;                      /* Raft server id, 1.. */
	char addr[PX_RAFT_ADDR_MAX + 1];  /* "192.0.2.12:7710" */
} px_raft_peer_t;

/* Parse "name=id@a.b.c.d:port,..." into out[0..*n).  1, 3 or 5 peers,
 * names and ids unique.  0, or PX_EBADREQ with err naming the item and
 * the cause. */
int px_raft_peers_parse(const char *list, px_raft_peer_t *out, size_t *n,
			char *err, size_t errlen);

/* The same for a store joining a running cluster (--raft-join): the
 * stores there are now and itself, any count from 2. */
int px_raft_peers_parse_join(const char *list, px_raft_peer_t *out,
			     size_t *n, char *err, size_t errlen);

/* The state machine, called on the loop thread.
 *   apply    the committed entry `index' holding an operation of len
 *            bytes: apply it once (an index at or below the last one
 *            it applied is skipped: C-Raft replays the log's tail at
 *            every start) and return its outcome, 0 or a PX_E* code:
 *            the same on every store.  A failure of the store itself
 *            (disk) must not become an outcome: the FSM stops the
 *            process instead, and the store replays from the log.
 *   snapshot its whole state as of the last applied index, in *buf
 *            (malloc'd, the caller frees) of *len bytes.  0 or error.
 *   restore  replace the state with a snapshot taken at `index' (buf
 *            is the caller's, valid during the call); an FSM already
 *            at or past index may keep its state.  0 or error. */
typedef struct {
	int (*apply)(void *arg, uint64_t index, const void *buf, size_t len);
	int (*snapshot)(void *arg, void **buf, size_t *len);
	int (*restore)(void *arg, uint64_t index, const void *buf, size_t len);
	void *arg;
} px_raft_fsm_t;

typedef struct {
	const char *dir;          /* log and snapshots: a real disk */
	uint64_t id;              /* this store's id, one of peers */
	const px_raft_peer_t *peers;
	size_t npeers;
	/* A store joining a running cluster: bootstrap nothing, wait for
	 * the leader (`store add') to send the configuration. */
	bool join;
	/* Entries between snapshots and entries kept after one (C-Raft's
	 * defaults are 1024 and 128; 0 here means those). */
	unsigned snapshot_threshold, snapshot_trailing;
	px_raft_fsm_t fsm;
} px_raft_config_t;

typedef struct px_raft px_raft_t;

/* Open the log in cfg->dir (made if missing; refused on tmpfs),
 * bootstrap the configuration on a pristine directory, and start
 * taking part in elections on loop.  cfg is copied.  0 or a negative
 * code (PX_ESTATE with the cause logged: tmpfs, a log C-Raft refuses,
 * an address it cannot bind).  On an error *out may still be set (C-Raft
 * had handles on the loop already): px_raft_close it. */
int px_raft_open(px_raft_t **out, struct uv_loop_s *loop,
		 const px_raft_config_t *cfg);
/* Stop: pending proposals fail (PX_ENOTLEADER); done(arg) runs on the
 * loop once C-Raft has let go of its handles, then r is freed.  Run
 * the loop until then. */
void px_raft_close(px_raft_t *r, void (*done)(void *arg), void *arg);

/* Outcome of a proposal: status 0 when committed (a majority has it on
 * disk) and applied here, then outcome is the FSM's; else status is
 * PX_ENOTLEADER (this store is not the leader: px_raft_leader hints
 * where to go) or PX_ENOQUORUM (leadership lost before it committed:
 * it may still commit under the next leader, "outcome unknown"), or
 * another negative code. */
typedef void (*px_raft_propose_cb)(void *arg, int status, int outcome,
				   uint64_t index);
/* Append len bytes (copied) to the log.  0: cb runs later, exactly
 * once.  Else nothing was proposed and cb does not run: PX_ENOTLEADER,
 * PX_ETOOBIG, PX_EBUSY (a membership change is in progress) or another
 * negative code. */
int px_raft_propose(px_raft_t *r, const void *buf, size_t len,
		    px_raft_propose_cb cb, void *arg);

typedef struct {
	const char *role;        /* "leader", "follower", "candidate", "unavailable" */
	uint64_t term, commit, applied, last_index;
	uint64_t leader_id;      /* 0: none known */
	uint64_t last_contact_ms; /* since a follower heard the leader (0 on it) */
	const px_raft_peer_t *leader; /* NULL: none known */
	const px_raft_peer_t *self;
} px_raft_status_t;
void px_raft_status(px_raft_t *r, px_raft_status_t *s);
/* This store's current term: what every message it sends carries. */
uint64_t px_raft_term(px_raft_t *r);
/* The stores (n set): C-Raft's configuration as this store last saw
 * it (the order of --raft-peers, then the stores added), or before a
 * joining store has one, --raft-peers. */
const px_raft_peer_t *px_raft_peers(const px_raft_t *r, size_t *n);
/* p's place in the configuration: "voter", "standby" (the log is
 * replicated to it; it does not vote), "spare" (added, not replicated
 * to yet) or "none". */
const char *px_raft_membership(px_raft_t *r, const px_raft_peer_t *p);
/* The leader this store knows of (NULL: none, e.g. an election is on,
 * or this store is cut off): followers answer with its name and
 * address. */
const px_raft_peer_t *px_raft_leader(px_raft_t *r);

/* Outcome of a leadership transfer: status 0 when leadership moved
 * (to the store asked for, or to C-Raft's choice), leader the new one;
 * else PX_ETIMEOUT (it did not move within about two election
 * timeouts: leader is who leads now, NULL if none is known).  target
 * is the store it was handed to (C-Raft's choice without a name). */
typedef void (*px_raft_transfer_cb)(void *arg, int status,
				    const px_raft_peer_t *leader,
				    const px_raft_peer_t *target);
/* Hand leadership to the voter named name ("" or NULL: C-Raft picks
 * the most up-to-date voter; C-Raft first brings the target's log up
 * to date, then tells it to stand at once).  0: cb runs later, once
 * (not if r is closed first).  Else nothing started and why says so:
 * PX_ENOTLEADER, PX_EBUSY (a transfer is under way), PX_EBADREQ (no
 * store of that name, not a voter, the leader itself, no other voter). */
int px_raft_transfer(px_raft_t *r, const char *name, px_raft_transfer_cb cb,
		     void *arg, char *why, size_t whylen);

/* Membership (`phalanxctl store add' / `store remove'), on the leader,
 * one change at a time.  Outcome: status 0 or a negative code, msg the
 * outcome in words (also logged). */
typedef void (*px_raft_change_cb)(void *arg, int status, const char *msg);
/* Add the store name at endpoint "ID@a.b.c.d:port" (its --raft-id and
 * Raft address) as a non-voter: after a TCP connection to the address
 * succeeds (within about a second), C-Raft appends the configuration
 * with it as a spare; cb runs when that committed.  The leader then
 * makes it a standby (the log is replicated to it) and, once its log
 * is near the leader's, a voter (C-Raft's catch-up rounds), on its
 * own: any leader finishes a promotion another started.  0: cb runs
 * later, once (not if r is closed first).  Else nothing changed and
 * why says so: PX_ENOTLEADER, PX_EBUSY (a change in progress, a store
 * joining still, a transfer), PX_EEXIST (the name, id or address is a
 * store's already), PX_ETOOBIG (PX_RAFT_SERVERS_MAX stores), PX_EBADREQ
 * (a bad name or endpoint).  A store not reachable is reported through
 * cb (PX_EDOWN), nothing changed. */
int px_raft_add(px_raft_t *r, const char *name, const char *endpoint,
		px_raft_change_cb cb, void *arg, char *why, size_t whylen);
/* Remove the store name: cb when the configuration without it
 * committed.  Refused with nothing changed (why says so): not the
 * leader, a change in progress (or another store joining), no such
 * store, the leader itself (hand leadership over first: `store
 * transfer'), the last voter. */
int px_raft_remove(px_raft_t *r, const char *name, px_raft_change_cb cb,
		   void *arg, char *why, size_t whylen);

#endif
