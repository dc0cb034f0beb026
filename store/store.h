/* store.h - the store's state, shared by its files:
 *   main.c  options, sockets, the loop
 *   ctl.c   phalanxctl requests: validate, commit, reply, publish
 *   sync.c  members: heartbeats, snapshots, the change stream */
#ifndef PX_STORE_H
#define PX_STORE_H

#include <stdbool.h>
#include <stdint.h>

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

typedef struct {
	px_db_t *db;
	px_policy_t policy;
	/* main.c owns the loop (libuv): the sockets, timers, signals and
	 * Raft (raft.c, NULL without --raft-peers) all run on it. */
	struct uv_loop_s *loop;
	struct px_raft *raft;
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
void px_store_heartbeat(px_store_t *st);

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

#endif
