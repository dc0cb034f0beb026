/* layout.h - the table layout model: which kernel sets, named objects and
 * chains a policy needs in table inet phalanx (docs/nft-layout.md).
 *
 * Pure: plain structs computed from a px_policy_t, no netlink, so it is
 * unit-tested without root (tests/unit/test_layout.c).  The rule compiler
 * (compile.h) encodes a layout into a batch; the kernel I/O (nft.h) sends
 * it.  Names come from vocab.h. */
#ifndef PX_LAYOUT_H
#define PX_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "limit.h"
#include "policy.h"
#include "vocab.h"

/* The four kernel sets of one exception set, in the order entries sort
 * (addr.h: hosts before prefixes, IPv4 before IPv6). */
enum { PX_KIND_V4, PX_KIND_N4, PX_KIND_V6, PX_KIND_N6, PX_KIND_COUNT };

typedef struct px_kind {
	const char *suffix;     /* PX_KSET_HOSTS4 ... */
	uint8_t prefix, family; /* the entries it holds */
	uint32_t key_type, key_len, flags;
	bool interval;
} px_kind_t;

extern const px_kind_t px_kinds[PX_KIND_COUNT];

/* An exception set's name and a kind suffix. */
#define PX_KSET_NAME_MAX (PX_SETNAME_MAX + 4)

/* buf (PX_KSET_NAME_MAX + 1 bytes) := set and the suffix of kind k. */
void px_kset_name(char *buf, const char *set, int k);

/* The entries of s that go into kind k's kernel set are the run
 * [*first, *end) of s (s is sorted). */
void px_kind_span(const px_entries_t *s, int k, size_t *first, size_t *end);

/* A hash kind's kernel set holding n elements is created with a size
 * (NFTA_SET_DESC_SIZE) once n reaches PX_KSET_SIZED_MIN: the kernel then
 * picks its fixed-size hash, which loads a million elements in about half
 * the time of the resizable hash it picks for a set without a size
 * (docs/bench.md), but refuses an element past the size (ENFILE).
 * px_kset_capacity(n) is that size: n and half again, rounded up to a
 * multiple of PX_KSET_SIZE_STEP; 0 (no size: resizable, unbounded)
 * below PX_KSET_SIZED_MIN, and for an interval kind, whose tree a size
 * does not speed up. */
#define PX_KSET_SIZED_MIN 65536u
#define PX_KSET_SIZE_STEP 4096u
uint32_t px_kset_capacity(int k, size_t n);

/* out[k] := the number of entries of s of kind k (s may be NULL: all 0). */
void px_count_kinds(const px_entries_t *s, size_t out[PX_KIND_COUNT]);

/* a := a + 1 as a big-endian number of len bytes; false if it wrapped
 * (a was the top of the address space). */
bool px_addr_next(uint8_t *a, size_t len);

/* Names of the layer's sets, chains and objects: at most "x_" or
 * "blocked_service-" and a 32-character set, rule or service name plus a
 * suffix; the kernel allows 256. */
#define PX_NFT_NAME_LEN 64

/* A rule's verdict besides the netfilter ones. */
#define PX_VERDICT_NONE (-100)
#define PX_VERDICT_RESET (-101) /* reject with tcp reset */

/* What makes a packet count for a per-source quota. */
typedef enum {
	PX_TRIG_ASSURED, /* the first original packet of an assured TCP
			  * connection: its handshake completed, so a
			  * spoofed SYN never counts */
	PX_TRIG_NEW,     /* a new TCP connection */
	PX_TRIG_HTTP,    /* an HTTP request: port 80, payload starts with a
			  * method */
} px_trigger_t;

/* The per-source quotas the kernel holds: each is one rule per tier and
 * family (compile.c), with a meter set per tier and family (layout.c). */
typedef struct px_quota_rule {
	px_limit_id_t id;
	const char *meter;   /* per-tier set T_<meter>4/6 */
	px_trigger_t trigger;
	bool ct_count;       /* the meter is `ct count over N', else a rate */
	const char *block;   /* block set a source over the quota joins */
	int verdict;         /* for the packet over the quota */
	/* Without a block set: the set a refused source is noted in (for a
	 * minute, refusing nothing) so that alerting.c sees who exceeds. */
	const char *note;
} px_quota_rule_t;

extern const px_quota_rule_t px_quota_rules[];
extern const size_t px_nquota_rules;

/* Sources in these sets have new TCP connections refused by the guard. */
typedef struct px_block_set {
	const char *name;
	px_limit_id_t id;
	bool block_time;     /* timeout block-time, else 60 s */
} px_block_set_t;

extern const px_block_set_t px_block_sets[];
extern const size_t px_nblock_sets;

/* The first four bytes of an HTTP/1.x request (@ih,0,32): the elements of
 * the constant set PX_SET_HTTP_METHODS. */
extern const char px_http_methods[][4];
extern const size_t px_nhttp_methods;

typedef struct px_lset {
	char name[PX_NFT_NAME_LEN];
	uint32_t flags, key_type, key_len;
	uint64_t timeout_ms;
	uint64_t value;  /* the limit its elements were made with */
	unsigned mask;   /* IPv6 source prefix of its keys, 0 if unmasked */
	bool methods;    /* the constant set of HTTP methods */
	bool mgmt;       /* the management prefixes (nft->mgmt) */
	bool pod;        /* ping of death's constant (length . offset)
			  * ranges (px_ids_pod_range) */
	bool csx;        /* the checksum exclusions (p->protect.csx; value
			  * is their px_csx_hash) */
	uint32_t id;     /* set id in the batch that creates it (compiler) */
} px_lset_t;

typedef struct px_lobj {
	char name[PX_NFT_NAME_LEN];
	uint32_t type;   /* NFT_OBJECT_COUNTER or NFT_OBJECT_LIMIT */
	uint64_t rate;   /* limit: per minute, burst the same */
} px_lobj_t;

/* "x_" and a set name. */
#define PX_TIER_LEN (PX_SETNAME_MAX + 3)

typedef struct px_ltier {
	char name[PX_TIER_LEN];       /* "dflt" or "x_SET" */
	uint64_t value[PX_LIM_COUNT];
} px_ltier_t;

/* The member's interface addresses, for binding interfaces to the
 * policy's networks (spoof detection): taken by the kernel I/O
 * (px_nft_ifaddrs()) at each apply, so that the layout stays pure. */
#define PX_IFADDRS_MAX 64
#define PX_IFNAME_LEN 16 /* IFNAMSIZ */
typedef struct px_ifaddrs {
	struct {
		char name[PX_IFNAME_LEN];
		px_entry_t addr;   /* a host */
	} v[PX_IFADDRS_MAX];
	size_t n;
} px_ifaddrs_t;

/* An interface bound to network net (index in p->protect.networks). */
typedef struct px_ifbind {
	char name[PX_IFNAME_LEN];
	size_t net;
} px_ifbind_t;

/* The layer of one policy: what it needs besides the exception sets and
 * the base chains.  It points into the policy (p, order), which must
 * outlive it. */
typedef struct px_layout {
	const px_policy_t *p;
	unsigned v6bits;              /* ipv6-source-prefix */
	px_lset_t *sets;
	px_lobj_t *objs;
	px_ltier_t *tiers;            /* [0] is dflt */
	char (*chains)[PX_NFT_NAME_LEN]; /* besides the base chains */
	size_t nsets, nobjs, ntiers, nchains;
	const px_set_t **order;       /* exception sets in tier order */
	size_t *tier_of;              /* per order index */
	size_t ndisp;                 /* order[0..ndisp) need a dispatch */
	bool pressure;                /* chain "pressure" in guard */
	bool spoof;                   /* networks exist: spoof detection */
	px_ifbind_t binds[PX_IFADDRS_MAX]; /* px_layout_bind() */
	size_t nbinds;
} px_layout_t;

/* Bind each interface of ifs (may be NULL: none) to the network holding
 * one of its addresses (the first address in ifs order that one holds);
 * an interface in no network is external.  Loopback is never bound. */
void px_layout_bind(px_layout_t *l, const px_ifaddrs_t *ifs);

/* *l := the layer of policy p (pressure: with the pressure chain).  The
 * caller frees it with px_layout_free().  PX_ENOSET if a rule or service
 * names a set the policy does not have, PX_ERANGE on an
 * ipv6-source-prefix out of 1..128, PX_EBADADDR on a destination of no
 * family: the kernel would refuse the batch anyway, this says why.  On
 * error *l holds nothing to free. */
int px_layout_build(const px_policy_t *p, bool pressure, px_layout_t *l);
void px_layout_free(px_layout_t *l); /* zeroed afterwards; twice is fine */

/* Whether set a can keep b's elements: the same name and definition
 * (timeout, limit, key, IPv6 prefix). */
bool px_lset_same(const px_lset_t *a, const px_lset_t *b);
bool px_layout_has_set(const px_layout_t *l, const px_lset_t *s);
bool px_layout_has_obj(const px_layout_t *l, const px_lobj_t *o);
bool px_layout_has_chain(const px_layout_t *l, const char *name);

/* The land-attack check holds a SYN's tuple this long: the same
 * packet's lookup finds it (the kernel's clock is in jiffies, up to
 * 4 ms), a reverse SYN of another connection (a simultaneous open
 * within it) would be taken for a land attack. */
#define PX_IDS_LAND_MS 10
/* Ping of death (IPv4): a fragment whose data ends past 65,535 bytes,
 * 8 * offset + length - 20 > 65535 with a 20-byte header.  No
 * expression adds two fields, so the set ids_pod holds, per class of
 * eight lengths (8k+4 .. 8k+11, from which the smallest bad offset is
 * 8194 - k), the range of offsets that end past it: element i (0 <=
 * i < PX_IDS_POD_RANGES) := lengths [*len_lo, *len_hi] . offsets
 * [*off_lo, 8191].  Lengths past PX_IDS_POD_LEN_EXACT (a fragment larger
 * than any Ethernet's jumbo MTU, which no link here delivers) are one
 * last element with offsets from 3 (24 bytes) on. */
#define PX_IDS_POD_LEN_EXACT 9216
#define PX_IDS_POD_RANGES 1150
void px_ids_pod_range(size_t i, uint16_t *len_lo, uint16_t *len_hi,
		      uint16_t *off_lo);

/* Whether detection id under s counts its packets per source in the
 * kernel (set idsm_NAME4/6) for a block: it blocks, after more than one
 * packet, and the kernel does not count it already (port-scan) nor
 * the watcher (syn-attack). */
bool px_ids_meter(const px_ids_t *s, int id);

/* A rule that allows sessions of other protocols than TCP is held to its
 * session rate (its own or nontcp-session-rate). */
bool px_rule_nontcp_limited(const px_rule_t *r);

#endif
