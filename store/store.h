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
	uint64_t last_hb_ms;
	int health;
	char detail[256];
	bool store_lost;
	char vrrp_role[16];  /* members.c: the member's heartbeat says */
	bool drained;        /* members.c: members drain (not persisted) */
	char addrs[16][48];  /* members.c: the heartbeat's addresses */
	char *addrp[16];
	size_t naddrs;
} px_member_t;

typedef struct {
	px_db_t *db;
	px_policy_t policy;
	void *zctx, *ctl, *sync, *pub;
	px_member_t *members;
	size_t nmembers;
	uint64_t member_timeout_ms;
	struct px_alerts *alerts;   /* alerts.c; NULL if it did not open */
	struct px_metrics *metrics; /* metrics.c; NULL without --metrics */
	struct px_logring *log;     /* logring.c: the members' firewall logs */
} px_store_t;

/* Handle one message waiting on the ctl socket. */
void px_store_ctl(px_store_t *st);
/* Handle one message waiting on the sync socket. */
void px_store_sync(px_store_t *st);
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

/* blocks.c - array-wide temporary blocks: a member's report in; the
 * running blocks out with every heartbeat. */
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
