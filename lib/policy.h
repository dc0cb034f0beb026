/* policy.h - the array policy as plain structs: exception sets and
 * limit values at one version.  Shared by store snapshots, the member's
 * applied state, its cache file and the nftables translation. */
#ifndef PX_POLICY_H
#define PX_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "csx.h"
#include "ids.h"
#include "limit.h"

typedef struct {
	char name[PX_SETNAME_MAX + 1];
	px_entries_t entries; /* sorted, unique */
	/* The store's index (px_set_* below): changes not yet merged into
	 * entries, both sorted; padd holds none of entries, pdel only
	 * entries.  Empty everywhere else (members, caches). */
	px_entries_t padd, pdel;
} px_set_t;

typedef enum { PX_ALLOW = 0, PX_DENY = 1 } px_action_t;

/* Protocols of the rule model (IP protocol numbers; ICMP means ICMP or
 * ICMPv6, 0 any). */
enum { PX_PROTO_ANY = 0, PX_PROTO_ICMP = 1, PX_PROTO_TCP = 6,
       PX_PROTO_UDP = 17 };

typedef struct {
	char name[PX_SETNAME_MAX + 1];
	px_action_t action;
	int proto;
	char src_set[PX_SETNAME_MAX + 1]; /* "" any */
	bool has_dst;
	px_entry_t dst;
	uint16_t port;                    /* 0 any */
	uint64_t rate;                    /* per minute, 0 = default */
} px_rule_t;

typedef struct {
	char name[PX_SETNAME_MAX + 1];
	px_entry_t dst; /* a host */
	uint16_t port;
	uint64_t limit;
	char exempt_set[PX_SETNAME_MAX + 1];
	/* Issue 12 item 8: payload inspection through NFQUEUE (node/nfq.c)
	 * and, for DNS, the set whose sources may transfer zones. */
	int inspect;                      /* PX_INSPECT_* */
	char xfr_set[PX_SETNAME_MAX + 1]; /* "" none may */
} px_service_t;

enum { PX_INSPECT_NONE = 0, PX_INSPECT_DNS = 1, PX_INSPECT_POP3 = 2 };
/* "", "dns", "pop3": the wire's and phalanxctl's names. */
int px_inspect_parse(const char *s); /* PX_INSPECT_* or PX_EBADREQ */
const char *px_inspect_name(int inspect);

#define PX_RULES_MAX 256
/* Bounds on what one store serves: a snapshot, a cache file and a list
 * reply must fit in PX_MSG_MAX-sized messages and files. */
#define PX_SETS_MAX 1024
#define PX_SET_ENTRIES_MAX 2000000
#define PX_SERVICES_MAX 64

/* ---- Attack protection (issue 12, docs/protection.md) ----
 * Small and bounded, kept inline: a policy copy copies it whole. */
#define PX_NETWORKS_MAX 32
#define PX_NETWORK_PREFIXES_MAX 64
#define PX_NET_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

typedef struct {
	char name[PX_SETNAME_MAX + 1];
	px_entry_t prefixes[PX_NETWORK_PREFIXES_MAX]; /* hosts or prefixes */
	size_t nprefixes;
	bool intra_array;   /* the array's own network: never spoofed */
	/* A member interface whose address comes from DHCP ("" none): a
	 * DHCP offer on it outside this network is invalid (item 7). */
	char dhcp_interface[PX_NET_IFNAME_MAX + 1];
} px_network_t;

/* The settings, one table (px_prot_defs) driving parsing, validation,
 * `protection show' and the wire.  A value is an index into the
 * setting's values[]; index 0 is the default of each, so a zeroed
 * px_protect_t is the default protection. */
typedef enum {
	PX_PROT_DEFAULT_POLICY, /* accept | deny: forwarded, unmatched */
	PX_PROT_FRAGMENTS,      /* allow | block */
	PX_PROT_IP_OPTIONS,     /* block-source-route | block-all | allow */
	PX_PROT_COUNT
} px_prot_id_t;

enum { PX_DEFAULT_ACCEPT = 0, PX_DEFAULT_DENY = 1 };
enum { PX_FRAG_ALLOW = 0, PX_FRAG_BLOCK = 1 };
enum { PX_IPOPT_BLOCK_SRR = 0, PX_IPOPT_BLOCK_ALL = 1, PX_IPOPT_ALLOW = 2 };

#define PX_PROT_VALUES_MAX 4
typedef struct {
	const char *name;
	const char *values[PX_PROT_VALUES_MAX]; /* [0] is the default */
	const char *help;
} px_prot_def_t;

extern const px_prot_def_t px_prot_defs[PX_PROT_COUNT];

typedef struct {
	px_network_t networks[PX_NETWORKS_MAX];
	size_t nnetworks;
	unsigned setting[PX_PROT_COUNT];
	px_csx_t csx;       /* TCP checksum exclusions (KB 911554, csx.h) */
	px_ids_t ids[PX_IDS_COUNT]; /* intrusion detection (ids.h) */
} px_protect_t;

/* The setting named name: its id, or PX_EOPTION. */
int px_prot_find(const char *name);
/* The index of value among setting id's values, or PX_ERANGE. */
int px_prot_value(int id, const char *value);
const char *px_prot_value_name(int id, unsigned v);
/* Network i's dhcp_interface as hostile input: empty, or an interface
 * name (at most 15 characters, none of `/', `:', white space) that no
 * other network names.  0, PX_ETOOBIG, PX_EBADREQ or PX_EEXIST, why
 * naming the network. */
int px_dhcp_interface_check(const px_protect_t *pr, size_t i, char *why,
			    size_t len);
/* The network named name, or NULL. */
px_network_t *px_protect_network(px_protect_t *pr, const char *name);
/* The network holding addr (a host address of family 4 or 6), or NULL. */
const px_network_t *px_protect_network_of(const px_protect_t *pr,
					  int family, const uint8_t *addr);
/* Check pr as hostile input: counts within the bounds, names valid and
 * unique, prefixes canonical, no prefix of one network overlapping
 * another's (a source belongs to one network at most), settings in
 * range, the checksum exclusions as px_csx_validate(), the intrusion
 * detections as px_ids_validate().  0 or
 * PX_ETOOBIG, PX_ESETNAME, PX_EEXIST, PX_EBADADDR, PX_EOVERLAP,
 * PX_ERANGE or PX_EBADREQ, why (may be NULL) naming the object. */
int px_protect_validate(const px_protect_t *pr, char *why, size_t len);

typedef struct {
	uint64_t version, epoch;
	px_set_t *sets; /* sorted by name */
	size_t nsets;
	px_limits_t limits;
	px_rule_t *rules; /* in evaluation order */
	size_t nrules;
	px_service_t *services;
	size_t nservices;
	px_protect_t protect;
} px_policy_t;

void px_policy_init(px_policy_t *p);  /* empty, with flood-exceptions */
void px_policy_free(px_policy_t *p);
void px_policy_copy(px_policy_t *dst, const px_policy_t *src);
px_set_t *px_policy_find(const px_policy_t *p, const char *name);
/* Create an empty set (returns the existing one if present). */
px_set_t *px_policy_add_set(px_policy_t *p, const char *name);
void px_policy_del_set(px_policy_t *p, const char *name);
/* Whether a rule or service names the set (it cannot be destroyed). */
bool px_policy_set_in_use(const px_policy_t *p, const char *name);
int px_proto_parse(const char *s);   /* PX_PROTO_* or PX_EBADREQ */
const char *px_proto_name(int proto);

/* ---- The store's set index ----
 * A set as the store holds it is entries minus pdel plus padd: one
 * change of k entries costs O(k log n) to check and apply instead of a
 * copy of the set; the overlay is merged into entries (O(n)) once it
 * holds PX_SET_PENDING_MAX entries, or by px_set_settle. */
#define PX_SET_PENDING_MAX 4096
/* Entries the set holds. */
size_t px_set_count(const px_set_t *s);
/* Whether the set holds e (exactly). */
bool px_set_has(const px_set_t *s, const px_entry_t *e);
/* For a prefix p: a prefix of the set (other than p itself) that
 * overlaps it, or NULL.  Hosts never overlap (as
 * px_entries_check_overlap). */
const px_entry_t *px_set_overlap(const px_set_t *s, const px_entry_t *p);
/* s := s + add - del.  add: sorted, unique, none held; del: sorted,
 * unique, all held (the caller checked with px_set_has). */
void px_set_change(px_set_t *s, const px_entries_t *add,
		   const px_entries_t *del);
/* Merge the overlay: entries is the whole set again.  O(n). */
void px_set_settle(px_set_t *s);
/* px_set_settle on every set: before reading p's entries directly
 * (snapshots, lists). */
void px_policy_settle(px_policy_t *p);

/* The exception tiers of a source, in evaluation order: flood-exceptions
 * first, then the other sets by name.  Returns the first set containing
 * addr (host or covering prefix), or NULL. */
const px_set_t *px_policy_tier_of(const px_policy_t *p, int family,
				  const uint8_t *addr);

/* The limit of quota id for a source in tier (px_policy_tier_of(), may
 * be NULL): the tier's own value if it has one, else the default.  The
 * one rule the watcher, the alerts and the firewall log share. */
uint64_t px_policy_tier_limit(const px_policy_t *p, const px_set_t *tier,
			      int id);

/* Check p as hostile input before it reaches the kernel: counts within
 * PX_*_MAX, set names valid and sorted, entries canonical, sorted and
 * unique, no two prefixes of a set overlapping, limits and tiers in
 * range, rules and services well formed and naming sets p holds.
 * 0, or PX_ETOOBIG, PX_ESETNAME, PX_EBADADDR, PX_EOVERLAP, PX_ERANGE,
 * PX_ENOSET, PX_EEXIST or PX_EBADREQ with why (may be NULL) saying
 * which object and why. */
int px_policy_validate(const px_policy_t *p, char *why, size_t len);
/* The same without reading the sets' entries (O(sets + rules), for a
 * change whose touched sets px_policy_validate_set() checked), and one
 * set's entries alone (O(entries)). */
int px_policy_validate_shallow(const px_policy_t *p, char *why, size_t len);
int px_policy_validate_set(const px_set_t *s, char *why, size_t len);

#endif
