/* quota.h - the quotas the kernel cannot hold: half-open TCP connections
 * and concurrent UDP sessions per source IP (ISA Server 2006 flood
 * mitigation, seeds/004).  Plain C over plain structs, no I/O: ct.c feeds
 * it conntrack events and dumps and carries out what it decides.
 *
 * A source is an IPv4 address, or an IPv6 address masked to the policy's
 * ipv6-source-prefix (default /64): every address of one /64 counts as one
 * source.  Per source the table keeps the half-open connections (TCP in
 * SYN_SENT, SYN_RECV or SYN_SENT2) and the UDP sessions, oldest first.
 *
 *   tcp-half-open   more than the limit half-open: refuse new TCP from the
 *                   source (BLOCK: the kernel set halfopen_block4/6 gets
 *                   the source with a timeout, refreshed while it stays
 *                   over); at or under the limit again: UNBLOCK.
 *   udp-concurrent  more than the limit UDP sessions: end the oldest until
 *                   it is at the limit (EVICT); new sessions are never
 *                   refused.
 *
 * The limit of a source is that of its exception tier (px_policy_tier_of:
 * the first exception set containing the source's address; for IPv6 the
 * first address of its prefix, so list IPv6 sources in exception sets as
 * prefixes of ipv6-source-prefix bits or shorter), else the default.  In
 * observe mode nothing is applied: the same decisions are counted as
 * would_block.  Management prefixes, the member's own addresses and
 * loopback are never limited: their connections are not tracked.
 *
 * Bounded: at most conf.max_sources sources and conf.max_conns connections.
 * A new source when the table is full takes the place of the least recently
 * active source that is not blocked; if there is none it is not tracked
 * (counted in sources_dropped).  Nothing here fails or aborts except on
 * out-of-memory (xmalloc). */
#ifndef PX_QUOTA_H
#define PX_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "limit.h"
#include "policy.h"

/* One conntrack entry as the quotas see it: the original direction, which
 * is also what it takes to destroy it.  Addresses in network byte order,
 * IPv4 in the first 4 bytes and the rest zero; ports in host order. */
typedef struct {
	uint8_t family;     /* 4 or 6 */
	uint8_t proto;      /* 6 TCP, 17 UDP */
	uint16_t zone;      /* conntrack zone, 0 by default */
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
	uint32_t id;        /* the kernel's conntrack id (a hash, not an age) */
} px_ct_tuple_t;

typedef enum { PX_CT_NEW, PX_CT_UPDATE, PX_CT_DESTROY } px_ct_type_t;

/* TCP states as the kernel numbers them (linux nf_conntrack_tcp.h);
 * PX_TCP_UNKNOWN when the message carries none (e.g. an UPDATE that did
 * not change the state). */
enum {
	PX_TCP_SYN_SENT = 1,
	PX_TCP_SYN_RECV = 2,
	PX_TCP_ESTABLISHED = 3,
	PX_TCP_SYN_SENT2 = 9,
	PX_TCP_UNKNOWN = 255,
};

typedef struct {
	px_ct_tuple_t t;
	uint8_t tcp_state;
	/* Age of a UDP session, smaller is older: the kernel's start
	 * timestamp in ns if it has one, else when the watcher first saw it.
	 * Only dumps use it (events are taken in arrival order). */
	uint64_t born;
} px_ct_t;

/* The two quotas, as indexes into stats and actions. */
typedef enum { PX_Q_HALF_OPEN = 0, PX_Q_UDP = 1, PX_Q_COUNT } px_quota_id_t;

/* The limit behind each quota: PX_LIM_TCP_HALF_OPEN, PX_LIM_UDP_CONCURRENT. */
int px_quota_limit_id(px_quota_id_t q);

typedef struct {
	uint32_t max_sources;  /* 65536 */
	uint32_t max_conns;    /* half-open + UDP tracked; 262144 */
	uint64_t block_ms;     /* timeout of a block element: 10000 */
	uint64_t refresh_ms;   /* re-add a block this often while over: 3000 */
	uint64_t log_every_ms; /* one "over the limit" line per source and
				* quota per this long: 60000 */
} px_quota_conf_t;

#define PX_QUOTA_RECENT 16

typedef struct {
	uint64_t blocked;     /* half-open: times a source was refused;
			       * udp: sessions ended */
	uint64_t would_block; /* the same, counted in observe mode */
	uint64_t active;      /* half-open: sources refused right now */
	px_entry_t recent[PX_QUOTA_RECENT]; /* sources acted on, newest first */
	size_t nrecent;
} px_quota_count_t;

typedef struct {
	px_quota_count_t q[PX_Q_COUNT];
	uint64_t sources;         /* tracked now */
	uint64_t conns;           /* half-open connections + UDP sessions now */
	uint64_t half_open;       /* of them half-open TCP connections */
	uint64_t sources_dropped; /* new sources not tracked: table full */
	uint64_t conns_dropped;   /* connections not tracked: max_conns */
	uint64_t sources_evicted; /* idle sources dropped for new ones */
} px_quota_stats_t;

/* What to do.  BLOCK with apply: add the source to the kernel block set
 * with a timeout of conf.block_ms (refresh: it is already there, renew the
 * timeout); UNBLOCK with apply: delete it; EVICT with apply: destroy the
 * conntrack entries sessions[first .. first+n).  apply is false in observe
 * mode and for lines that only report.  log says the line is due (at most
 * one per source and quota per conf.log_every_ms; UNBLOCK lines are due
 * when the matching BLOCK line was logged).  suppressed counts the like
 * actions since the last line of that source that were not logged. */
typedef enum { PX_QA_BLOCK, PX_QA_UNBLOCK, PX_QA_EVICT } px_qa_kind_t;

typedef struct {
	px_qa_kind_t kind;
	px_quota_id_t quota;
	px_entry_t src;          /* host, or IPv6 prefix (masked address) */
	uint64_t count, limit;   /* when decided */
	bool apply, log, observe, refresh;
	uint64_t suppressed;
	size_t first, n;         /* EVICT: sessions; observe: n would end */
} px_quota_action_t;

typedef struct {
	px_quota_action_t *v;
	size_t n, cap;
	px_ct_tuple_t *sessions;
	size_t nsessions, capsessions;
} px_quota_actions_t;

void px_quota_actions_init(px_quota_actions_t *a);
void px_quota_actions_clear(px_quota_actions_t *a); /* keeps the memory */
void px_quota_actions_free(px_quota_actions_t *a);

typedef struct px_quota px_quota_t;

/* conf NULL: the defaults above; zero fields take their default too. */
px_quota_t *px_quota_new(const px_quota_conf_t *conf);
void px_quota_free(px_quota_t *q); /* NULL is a no-op */

/* Take limits, modes, tiers and exception sets from p (copied: the caller
 * keeps p).  Every source is decided again on the next px_quota_decide.
 * Returns true if the caller should resync from a dump: the IPv6 prefix
 * length changed (sources are keyed by it) or udp-concurrent went from
 * observe to enforce (observe mode stopped following the sessions it
 * would have ended). */
bool px_quota_set_policy(px_quota_t *q, const px_policy_t *p);
/* The same, borrowing p instead of copying it (a 1M-entry set is 19 MB
 * the member need not hold twice): p must stay valid until the next
 * px_quota_use_policy/px_quota_set_policy or px_quota_free, and the
 * caller calls this again after any change to p but one to exception
 * entries alone, and px_quota_policy_changed after those. */
bool px_quota_use_policy(px_quota_t *q, const px_policy_t *p);
/* The exception-set entries of the borrowed policy changed in place
 * (delta.h): every source's tier is decided again, nothing resyncs. */
void px_quota_policy_changed(px_quota_t *q);
/* Never-limited addresses: management prefixes and the member's own
 * addresses (copied).  Loopback is always exempt.  Applies to
 * connections seen from now on. */
void px_quota_set_mgmt(px_quota_t *q, const px_entries_t *mgmt);
void px_quota_set_local(px_quota_t *q, const px_entries_t *local);
/* Whether connections from this address are never limited. */
bool px_quota_exempt(const px_quota_t *q, int family, const uint8_t *addr);

/* One conntrack event.  Only TCP and UDP matter; anything else is
 * ignored.  NEW and DESTROY of what is already known / unknown are
 * ignored, so replays and the watcher's own evictions are harmless. */
void px_quota_event(px_quota_t *q, px_ct_type_t type, const px_ct_t *ct);

/* Replace everything tracked by a full dump, v[0..n) in any order.
 * Sessions already known keep their age (v[i].born is overwritten with
 * it); the others are ordered by born, then by their order in v.  Sources stay blocked until
 * the next px_quota_decide says otherwise. */
void px_quota_resync(px_quota_t *q, px_ct_t *v, size_t n);

/* Decide for every source that changed since the last call, and renew or
 * report blocks that are due at now_ms (call at least every second).
 * Appends to a; tracking state changes as if the actions succeeded
 * (evicted sessions are forgotten). */
void px_quota_decide(px_quota_t *q, uint64_t now_ms, px_quota_actions_t *a);

/* The sources blocked now, as UNBLOCK actions (apply set), for a clean
 * stop; they are forgotten. */
void px_quota_unblock_all(px_quota_t *q, px_quota_actions_t *a);

void px_quota_stats(const px_quota_t *q, px_quota_stats_t *out);

/* The k sources holding the most half-open connections, highest first,
 * into out[] with their counts (intrusion detection's syn-attack):
 * returns how many (sources holding none are not listed).  O(sources). */
size_t px_quota_top_half_open(const px_quota_t *q, px_entry_t *out,
			      uint32_t *count, size_t k);

/* The source key of an address: host, or IPv6 masked to plen bits. */
void px_quota_source_of(int family, const uint8_t *addr, unsigned v6_plen,
			px_entry_t *out);

#endif
