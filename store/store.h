/* store.h - the store's state, shared by its files:
 *   main.c  options, sockets, the loop
 *   ctl.c   phalanxctl requests: validate, commit, reply, publish
 *   sync.c  members: heartbeats, snapshots, the change stream */
#ifndef PX_STORE_H
#define PX_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "canary.h"
#include "db.h"
#include "policy.h"
#include "px.h"
#include "codec.h"
#include "wire.h"

/* An array is a handful of members; the cap bounds what a sync peer
 * can make the store remember. */
#define PX_MEMBERS_MAX 256

#define PX_QUOTA_SOURCES 16

/* What one quota did on a member, as its last heartbeat said. */
typedef struct {
	uint64_t blocked, would_block;
	px_entry_t sources[PX_QUOTA_SOURCES];
	size_t nsources;
} px_member_quota_t;

typedef struct {
	char id[PX_MEMBER_ID_MAX + 1];
	px_member_quota_t quotas[PX_LIM_COUNT];
	uint64_t ct_count, ct_max; /* conntrack table fill */
	uint64_t applied;
	uint64_t applying;   /* version its last heartbeat was applying, 0 */
	uint64_t failed_version; /* its heartbeat: an apply that failed, 0 */
	uint64_t last_hb_ms;
	int health;
	char detail[256];
	bool store_lost;
	/* The connection that holds this id (sync.c): bound by its first
	 * heartbeat, lapses after member_timeout_ms without one. */
	px_rid_t rid;
	char vrrp_role[16];  /* members.c: the member's heartbeat says */
	bool drained;        /* members.c: members drain (kept in db) */
	/* sync.c: the member-down alert last recorded, so that it is
	 * raised once per transition (0: not known since the start). */
	enum { PX_MEMBER_ALERT_UNKNOWN, PX_MEMBER_ALERT_UP,
	       PX_MEMBER_ALERT_DOWN } down_alert;
	char addrs[16][48];  /* members.c: the heartbeat's addresses */
	char *addrp[16];     /* into addrs: set again before each use (the array moves) */
	size_t naddrs;
} px_member_t;

/* Snapshots streamed at once, all peers together: each holds at most
 * the sync socket's SNDHWM of chunks queued (main.c), so this bounds
 * what snapshots can make the store hold.  A member's own request
 * replaces its snapshot in flight, never adds a second. */
#define PX_SNAPSHOTS_MAX 8

/* A snapshot being streamed to one peer (sync.c). */
typedef struct {
	bool used;
	px_rid_t rid;
	char member[PX_MEMBER_ID_MAX + 1];
	uint64_t version;      /* of the policy it streams */
	uint32_t next;         /* next chunk to queue */
	uint64_t progress_ms;  /* last chunk queued, or the request */
	uint64_t retry_ms, backoff_ms; /* after the peer's queue was full */
} px_snapflight_t;

struct uv_loop_s;
struct px_raft;
struct px_fsm;
struct px_repl;

typedef struct {
	px_db_t *db;
	px_policy_t policy;
	/* main.c owns the loop (libuv): the sockets, timers, signals and
	 * Raft (raft.c, NULL without --raft-peers) all run on it. */
	struct uv_loop_s *loop;
	struct px_raft *raft;
	struct px_fsm *fsm;         /* fsm.c: Raft's state machine, or NULL */
	struct px_repl *repl;       /* replicate.c: the write path, or NULL */
	/* ops.c px_store_confirm_tick: the last revert it asked for */
	uint64_t revert_version, revert_ms;
	unsigned revert_tries;
	void *zctx, *ctl, *sync, *pub;
	px_member_t *members;
	/* Member liveness (sync.c): the sync socket last read to the end;
	 * the store's own loop stalls (last heartbeat tick, last stall). */
	uint64_t sync_read_ms, tick_ms, stalled_from_ms, resumed_ms;
	size_t nmembers;
	uint64_t member_timeout_ms;
	struct px_alerts *alerts;   /* alerts.c; NULL if it did not open */
	struct px_metrics *metrics; /* metrics.c; NULL without --metrics */
	struct px_logring *log;     /* logring.c: the members' firewall logs */
	px_snapflight_t snaps[PX_SNAPSHOTS_MAX];
	struct px_auth *auth;       /* auth.c: keys, roles, the ZAP handler */
	void *zap;                  /* the ZAP handler's REP socket */
	char pub_ep[300];           /* where pub listens (sync.c re-binds) */
	bool pub_unbound;           /* a re-bind failed: retried each second */
	struct px_waiters *waiters; /* waiters.c: requests answered later */
	px_canary_book_t canary;    /* ops.c: --canary */
	bool heartbeat_soon;        /* sync.c: px_store_heartbeat_soon */
} px_store_t;

/* Handle one message waiting on the ctl socket. */
void px_store_ctl(px_store_t *st);
/* The sync socket's limits; before its bind (connections take the
 * options then). */
void px_store_sync_sockopts(void *s);
/* Handle one message waiting on the sync socket. */
void px_store_sync(px_store_t *st);
/* The handlers behind px_store_ctl and px_store_sync, for a message
 * already received (and for tests/fuzz/fuzz_store.c): env is taken
 * (freed here); rc is what px_wire_recv returned (env NULL if rc < 0:
 * the ctl peer is answered with the refusal).  Replies and publications
 * go to st's sockets. */
void px_store_ctl_in(px_store_t *st, const px_rid_t *peer,
		     Phalanx__Envelope *env, int rc);
void px_store_sync_in(px_store_t *st, const px_rid_t *peer,
		      Phalanx__Envelope *env);
/* Queue what the sockets take of the snapshots in flight; true if some
 * are still in flight (call again within ~10 ms). */
bool px_store_snapshots_pump(px_store_t *st);
/* MEMBER_REMOVE: forget req->member (record and database entry) if it
 * is down.  0, or PX_ENOMEMBER / PX_EBUSY (it is up) / a database
 * error with the reason in err. */
int px_store_members_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
			 char *err, size_t errlen);
/* The checks of MEMBER_REMOVE alone (the Raft leader's, before it
 * proposes): 0, or PX_ENOMEMBER / PX_EBUSY with the reason in err. */
int px_store_member_removable(px_store_t *st, const char *id, char *err,
			      size_t errlen);
/* PROTECT other than SHOW (protect.c): apply req->protect to next's
 * attack protection and validate it.  0, or an error with the reason in
 * err; what (wlen bytes) gets the audit trail's text. */
int px_store_protect_request(px_policy_t *next, const Phalanx__CtlRequest *req,
			     char *err, size_t len, char *what, size_t wlen);
/* ADMIN_ADD/DEL/LIST, MEMBER_ENROLL/REVOKE (ctl_keys.c).  *mem is the
 * reply's memory: free it with free() after the reply is sent. */
int px_store_keys_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
		      Phalanx__CtlReply *rep, char *err, size_t errlen,
		      void **mem);
/* Cut member id (whose key was key) off: forget its connection's
 * binding, stop its snapshots, drop every subscription of the change
 * stream (the others reconnect at once; ZAP refuses a revoked key).
 * sync.c. */
void px_store_member_cut(px_store_t *st, const char *id, const char *key);
/* Listen on the change port again if a re-bind failed (each second). */
void px_store_pub_rebind(px_store_t *st);
/* Load the members the database remembers. */
void px_store_members_load(px_store_t *st);
/* Publish the store heartbeat. */
/* Member id's record, made (not heard yet, not drained) if missing;
 * NULL past PX_MEMBERS_MAX. */
px_member_t *px_store_member_get(px_store_t *st, const char *id);
void px_store_heartbeat(px_store_t *st);
/* A heartbeat before the next tick (a canary's verdict: members holding
 * its version learn it at once): flagged here, sent by
 * px_store_heartbeat_flush on the loop's next turn (main.c on_prepare),
 * never inside the write that settled it. */
void px_store_heartbeat_soon(px_store_t *st);
/* Every envelope a store sends carries its database's epoch and, with
 * Raft, its current term (replicate.c). */
void px_store_stamp(px_store_t *st, Phalanx__Envelope *env);
void px_store_heartbeat_flush(px_store_t *st);

/* One published operation: entries [v, v+n) of a set. */
typedef struct {
	int kind; /* PHALANX__SET_OP__KIND__* */
	const char *set;
	const px_entry_t *v;
	size_t n;
} px_pubop_t;

/* Publish version `version` as Change parts of at most
 * PX_CHUNK_ENTRIES entries; limits ops and the rule and service lists
 * (when lists != NULL) go in part 1. */
void px_store_publish(px_store_t *st, uint64_t version, const px_pubop_t *ops,
		      size_t nops, Phalanx__LimitOp **limits, size_t nlimits,
		      const px_lists_t *lists);
bool px_member_up(const px_store_t *st, const px_member_t *m, uint64_t now);
/* Whether member id reports to this store now (heard within
 * --member-timeout). */
bool px_store_member_heard(const px_store_t *st, const char *id);

/* ---- ops.c: the writes, one Operation each ---- */

/* What a ctl request did, for its reply and the log. */
typedef struct {
	int status;
	char error[512];
	uint64_t bad_entry;
} px_ctl_result_t;

/* A write's aftermath, kept until its reply is sent: the change to
 * publish (a member never sees a version the store could still lose)
 * and the reply's memory. */
typedef struct {
	bool publish;
	uint64_t version;
	char set[PX_SETNAME_MAX + 1];
	px_pubop_t ops[2];
	size_t nops;
	px_entries_t add, del;        /* what ops[] point to */
	Phalanx__LimitOp *limit;      /* into the request */
	bool lists;
	void *alerts_mem;             /* px_store_alerts_reply_free */
	/* rollback, revert (store/versions.h): the sets' changes to
	 * publish, and the limits before them (a tier they drop is
	 * published as 0) */
	struct px_vdiff *plan;
	px_limits_t *old_limits;
} px_op_done_t;

/* The operation's command ("exceptions add") and the least role that
 * may run it: ops.c's table is the one place that says so.  0, or
 * PX_EBADREQ for an operation it does not know (no role then). */
int px_store_op_role(const Phalanx__Operation *op, const char **name,
		     px_role_t *role);
/* Run one write for who (already permitted): validate against the
 * store's indexed state, commit (one transaction, audit record
 * included), apply, fill rep's write fields.  r says how it went;
 * *done (zeroed by the caller) what to publish once the reply is out. */
void px_store_op(px_store_t *st, const Phalanx__Operation *op,
		 const px_ident_t *who, Phalanx__CtlReply *rep,
		 px_ctl_result_t *r, px_op_done_t *done);
/* Raft (store/replicate.c): the leader's dry run of a write before
 * it proposes it: PX_OP_VALID (1) if it would commit, 0 if it changes
 * nothing (proposed all the same, so that a leader already deposed
 * cannot answer from a state behind the cluster's), or the refusal (r
 * says why). */
int px_store_op_check(px_store_t *st, const Phalanx__Operation *op,
		      const px_ident_t *who, Phalanx__CtlReply *rep,
		      px_ctl_result_t *r);
/* A committed entry's write, on every store: px_store_op with the
 * leader's clock (time_ms) for its audit record. */
void px_store_op_apply(px_store_t *st, const Phalanx__Operation *op,
		       const px_ident_t *who, uint64_t time_ms,
		       Phalanx__CtlReply *rep, px_ctl_result_t *r,
		       px_op_done_t *done);
/* After the reply: publish and free what done holds. */
void px_store_op_done(px_store_t *st, px_op_done_t *done);
/* Once a second: the leader (or the only store) reverts the oldest
 * version whose --confirm ran out, as the store itself through the same
 * write path (asked again after 5 s while it is still pending). */
void px_store_confirm_tick(px_store_t *st);
/* --canary (ops.c; store/canary.h).  The canary in progress: 1 and *c,
 * 0 if none, or a database error. */
int px_store_canary_current(px_store_t *st, px_canary_t *c);
/* 1 and member := the canary member if version is the canary in
 * progress, else 0. */
int px_store_canary_member(px_store_t *st, uint64_t version, char *member,
			   size_t len);
/* The store heartbeat's canary fields (member: their memory). */
void px_store_canary_heartbeat(px_store_t *st, Phalanx__StoreHeartbeat *hb,
			       char *member, size_t len);
/* A canary was released or reverted (as revert_version): kept for the
 * CANARY_WAITs, which are woken. */
void px_store_canary_settled(px_store_t *st, uint64_t version, bool reverted,
			     uint64_t revert_version, const char *why);
/* 1 and the verdict on version if this store applied it, else 0. */
int px_store_canary_verdict(const px_store_t *st, uint64_t version,
			    bool *reverted, uint64_t *revert_version,
			    const char **why);
/* Once a second, the leader (or the only store): release or revert the
 * canary in progress as the member's heartbeats say (canary.c). */
void px_store_canary_tick(px_store_t *st);
/* Deliberately out of service (drained): not waited for, not "down". */
bool px_member_out_of_service(const px_store_t *st, const px_member_t *m);

/* blocks.c - array-wide temporary blocks: a member's report in; the
 * running blocks out with every heartbeat.  They are kept in the
 * database, so a restarted store still hands them out. */
void px_store_blocks_in(px_store_t *st, const Phalanx__BlockList *l);
void px_store_blocks_tick(px_store_t *st);

/* members.c - failover: the drain flag and the VRRP role of members. */
/* MEMBER_DRAIN / MEMBER_UNDRAIN of req->member: 0, or PX_ENOMEMBER /
 * PX_EBADREQ with a message in err. */
int px_store_member_drain(px_store_t *st, const Phalanx__CtlRequest *req,
			  char *err, size_t errlen);
/* Heartbeat in: the member's role (only the known words are kept) and
 * addresses (only what parses as an address). */
void px_store_member_role(px_member_t *m, const Phalanx__Heartbeat *hb);
/* Heartbeat out: the drained members' ids (*ids is the caller's:
 * free()). */
void px_store_member_drained(const px_store_t *st, Phalanx__StoreHeartbeat *hb,
			     char ***ids);
/* DRAINED_WAIT / UNDRAINED_WAIT (op): whether member id is drained with
 * another member up and master, or back to backup/master; phalanxctl's
 * members drain --wait decides the same from the STATUS reply. */
bool px_store_member_settled(const px_store_t *st, const char *id, int op);
/* A digest of every member's id, liveness, drain flag and role: when it
 * moves, held DRAINED_WAIT/UNDRAINED_WAIT run again (waiters.c). */
uint64_t px_store_member_roles_digest(const px_store_t *st);
/* DRAINED_WAIT / UNDRAINED_WAIT: a member id and a timeout_ms of at
 * most max_ms; else -1 with the reason in err. */
int px_store_member_wait_check(const Phalanx__CtlRequest *req,
			       uint32_t max_ms, char *err, size_t errlen);
/* The log line of a DRAINED_WAIT/UNDRAINED_WAIT answer: how long it was
 * held (deadline: px_store_waiter_hold's, 0 on a first run), what woke
 * it, the member's role then. */
void px_store_member_wait_answered(const px_store_t *st, const px_rid_t *rid,
				   const Phalanx__CtlRequest *req,
				   uint64_t deadline, int status);

/* waiters.c - requests the store answers later, on the routing id it
 * saved: WAIT (every member in service applied a version), ALERT_LIST
 * and LOG_LIST with wait_ms (a record arrived).  Each has a deadline;
 * at most PX_WAITERS_MAX wait at once, PX_WAITERS_PER_PEER from one
 * connection (a phalanxctl has one request out at a time). */
#define PX_WAITERS_MAX 1024
#define PX_WAITERS_PER_PEER 16
enum { PX_WAIT_APPLIED, PX_WAIT_ALERTS, PX_WAIT_LOG, PX_WAIT_ROLES,
       PX_WAIT_CANARY, PX_WAIT_KINDS };
typedef struct px_waiters px_waiters_t;
/* Hold env (taken on success) from rid until its kind wakes or deadline
 * (px_mono_ms()) passes.  0, or PX_EBUSY (over a cap) / PX_ETOOBIG (a
 * request too large to keep) with the reason in err: env stays the
 * caller's. */
int px_store_waiter_hold(px_store_t *st, const px_rid_t *rid,
			 Phalanx__Envelope *env, int kind, uint64_t deadline,
			 char *err, size_t errlen);
/* What a held request of kind waits for may have happened: run them
 * again at the next px_store_waiters_run (alerts and log records are
 * noticed there by their sequence numbers). */
void px_store_waiters_wake(px_store_t *st, int kind, const char *why);
/* While a held request runs again: what woke it ("fw2's ack", "its
 * deadline"), for the log; NULL on a request's first run. */
const char *px_store_waiters_why(const px_store_t *st);
/* From the loop after the sockets were read: run again the woken and
 * the expired requests.  The ms until the next deadline, at most max. */
long px_store_waiters_run(px_store_t *st, long max);
/* Forget every held request unanswered (the store stops). */
void px_store_waiters_free(px_store_t *st);
/* Members up, in service and below version: what a WAIT waits for. */
size_t px_store_wait_pending(const px_store_t *st, uint64_t version);
/* ctl.c: run a held request again (env taken); past deadline it is
 * answered with what there is. */
void px_store_ctl_again(px_store_t *st, const px_rid_t *peer,
			Phalanx__Envelope *env, uint64_t deadline);

#endif
