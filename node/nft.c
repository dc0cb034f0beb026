/* nft.c - all nftables I/O of a member: one netlink batch per policy
 * version.  Tables, sets and chains go through libnftnl objects.  Set
 * elements are written with libmnl directly: a bulk load carries a
 * million of them, and a libnftnl object each (a malloc, a list insert
 * and a free) took 90 ms for 1M hosts where this takes 20 ms. */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "fwlog.h"
#include "nft.h"
#include "px.h"
#include "vrrp.h"

/* The element nest of one message has a 16-bit length: past ~4,095 IPv4
 * elements it wraps and the kernel inserts a few elements while reporting
 * success.  1,000 keeps the largest case (IPv6 ranges, 48 bytes an
 * element) at 48 KB, well inside 64 KB. */
#define ELEMS_PER_MSG 1000

/* Worst case of one element on the wire: list nest 4 + flags 8 + key nest
 * 4 + IPv6 value 20 + userdata 4 + 8 (6 bytes padded) = 48. */
#define ELEM_MAX 64

/* Header, nfgenmsg, table name (at most NFT_TABLE_MAXNAMELEN = 256), set
 * name, set id and the element nest of one element message. */
#define MSG_OVERHEAD 1024

/* A table, set or chain message: two names of at most 256 bytes and a few
 * u32 attributes. */
#define OBJ_MSG_MAX 2048

/* Verify set sizes only after bulk loads: the truncation it guards
 * against needs thousands of elements in one message, and where the
 * kernel does not report a count the dump costs far more than a small
 * change. */
#define VERIFY_MIN 10000

/* What one ack costs against SO_RCVBUF: the kernel charges an skb's
 * truesize (data rounded up to a slab, plus sk_buff and shared info),
 * under 1 KiB for an ack; 2 KiB leaves room for extended-ack strings. */
#define ACK_TRUESIZE 2048

/* A GETSET or GETSETELEM request: header and two names of at most
 * NFT_NAME_MAXLEN (256) bytes. */
#define REQ_MAX 1024

/* One ack is read at a time: with NETLINK_CAP_ACK it is an nlmsgerr and
 * at most a short extended-ack string. */
#define ACK_BUF 8192

/* Initial batch buffer; it doubles as needed (a 1M-host load is ~20 MB). */
#define BATCH_INIT (64 * 1024)

/* Dumps come in skbs of at most 32 KiB (the kernel caps max_recvmsg_len
 * there), so this buffer never truncates one. */
#define DUMP_BUF (64 * 1024)

/* A dump is restarted when the set changed under it (NLM_F_DUMP_INTR);
 * only this member writes the table, so more than a few means a bug. */
#define DUMP_RETRIES 5

/* nftables' datatype ids TYPE_IPADDR and TYPE_IP6ADDR: nft reads them to
 * print the elements. */
#define KEYTYPE_IPV4 7
#define KEYTYPE_IPV6 8

/* nftables' BYTEORDER_BIG_ENDIAN, kept in the set userdata as nft does so
 * that `nft list` prints the keys. */
#define NFT_BYTEORDER_HOST_ENDIAN 1
#define NFT_BYTEORDER_BIG_ENDIAN 2

/* Error lines logged for one rejected batch; the kernel reports every
 * failing message and a broken batch can fail all of them. */
#define NACK_LOG_MAX 3

enum { KIND_V4, KIND_N4, KIND_V6, KIND_N6, KIND_COUNT };

static const struct kind {
	const char *suffix;
	uint8_t prefix, family; /* the entries it holds */
	uint32_t key_type, key_len, flags;
	bool interval;
} kinds[KIND_COUNT] = {
	[KIND_V4] = { ".v4", 0, 4, KEYTYPE_IPV4, 4, 0, false },
	[KIND_N4] = { ".n4", 1, 4, KEYTYPE_IPV4, 4, NFT_SET_INTERVAL, true },
	[KIND_V6] = { ".v6", 0, 6, KEYTYPE_IPV6, 16, 0, false },
	[KIND_N6] = { ".n6", 1, 6, KEYTYPE_IPV6, 16, NFT_SET_INTERVAL, true },
};

#define KSET_NAME_MAX (PX_SETNAME_MAX + 4)

struct px_nft {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int sndbuf, rcvbuf; /* as getsockopt reports them (doubled) */
	char table[NFT_TABLE_MAXNAMELEN];
	px_entries_t mgmt;  /* prefixes only, sorted, overlap-free */
	bool mgmt_dirty;    /* changed since the last apply */
	bool pressure;      /* wanted: refuse new except exception sets */
	bool pressure_applied; /* what the kernel's rules say */
};

struct msginfo {
	uint16_t type;
	char obj[64]; /* for error messages only: may be truncated */
};

/* One batch: begin marker at seq0, message i at seq0 + 1 + i, end
 * marker after the last.  Every message asks for an ack. */
struct batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0;
	struct msginfo *info;
	size_t n, ncap;
	uint32_t next_set_id;
	const void *open_ud; /* userdata marking a range open at the top */
	uint32_t open_udlen;
};

/* What one logical set needs. */
struct change {
	const char *name;
	const px_entries_t *now; /* entries in new_, NULL if dropped */
	const px_entries_t *add, *del;
	px_entries_t own_add, own_del;
	bool create, drop;
	size_t nnew[KIND_COUNT];
	size_t nadd[KIND_COUNT], ndel[KIND_COUNT];
	uint32_t set_id[KIND_COUNT];
};

static void oom(void)
{
	px_log(PX_LOG_ERR, "nft: out of memory");
	abort();
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* First index of s whose (prefix, family) is not below the given pair. */
static size_t lower_bound(const px_entries_t *s, uint8_t prefix,
			  uint8_t family)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const px_entry_t *e = &s->v[mid];

		if (e->prefix < prefix ||
		    (e->prefix == prefix && e->family < family))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Entries sort by prefix flag, then family (addr.h), so the entries of
 * one kernel set are the run [*first, *end) of s. */
static void kind_span(const px_entries_t *s, int k, size_t *first,
		      size_t *end)
{
	*first = lower_bound(s, kinds[k].prefix, kinds[k].family);
	*end = lower_bound(s, kinds[k].prefix, kinds[k].family + 1);
}

static void count_kinds(const px_entries_t *s, size_t out[KIND_COUNT])
{
	size_t first, end;

	for (int k = 0; s && k < KIND_COUNT; k++) {
		kind_span(s, k, &first, &end);
		out[k] = end - first;
	}
}

static void kset_name(char *buf, const char *set, int k)
{
	snprintf(buf, KSET_NAME_MAX + 1, "%s%s", set, kinds[k].suffix);
}

static const char *msg_name(uint16_t type)
{
	switch (type) {
	case NFT_MSG_NEWTABLE: return "add table";
	case NFT_MSG_DELTABLE: return "delete table";
	case NFT_MSG_NEWCHAIN: return "add chain";
	case NFT_MSG_NEWSET: return "add set";
	case NFT_MSG_DELSET: return "delete set";
	case NFT_MSG_NEWSETELEM: return "add elements to";
	case NFT_MSG_DELSETELEM: return "delete elements from";
	case NFT_MSG_DELCHAIN: return "delete chain";
	case NFT_MSG_NEWRULE: return "add rule to";
	case NFT_MSG_DELRULE: return "flush chain";
	case NFT_MSG_NEWOBJ: return "add object";
	case NFT_MSG_DELOBJ: return "delete object";
	default: return "message";
	}
}

/* --- batch buffer ------------------------------------------------------ */

/* Messages are written once, front to back, into zeroed memory: libmnl
 * 1.0.4 leaves attribute padding unwritten. */
static void batch_reserve(struct batch *b, size_t n)
{
	size_t old = b->cap;

	if (b->cap - b->len >= n)
		return;
	while (b->cap - b->len < n)
		b->cap *= 2;
	b->buf = xrealloc(b->buf, b->cap);
	memset(b->buf + old, 0, b->cap - old);
}

static void batch_init(struct batch *b, uint32_t seq0)
{
	struct nlmsghdr *nlh;

	memset(b, 0, sizeof(*b));
	b->cap = BATCH_INIT;
	b->buf = xcalloc(1, b->cap);
	b->seq0 = seq0;
	b->next_set_id = 1;
	nlh = nftnl_batch_begin(b->buf, seq0);
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
}

static void batch_free(struct batch *b)
{
	free(b->buf);
	free(b->info);
}

/* Start a message of at most max bytes; the caller fills it and calls
 * msg_end() before starting the next. */
static struct nlmsghdr *msg_start(struct batch *b, size_t max, uint16_t type,
				  uint16_t flags, const char *obj)
{
	struct msginfo *mi;

	batch_reserve(b, max);
	if (b->n == b->ncap) {
		b->ncap = b->ncap ? b->ncap * 2 : 64;
		b->info = xrealloc(b->info, b->ncap * sizeof(*b->info));
	}
	mi = &b->info[b->n++];
	mi->type = type;
	snprintf(mi->obj, sizeof(mi->obj), "%s", obj);
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET,
				     flags | NLM_F_ACK,
				     b->seq0 + (uint32_t)b->n);
}

static void msg_end(struct batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void batch_finish(struct batch *b)
{
	struct nlmsghdr *nlh;

	batch_reserve(b, MNL_NLMSG_HDRLEN + sizeof(struct nfgenmsg));
	nlh = nftnl_batch_end(b->buf + b->len, b->seq0 + (uint32_t)b->n + 1);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* --- objects ----------------------------------------------------------- */

static void put_table(struct batch *b, const char *table, uint16_t type,
		      uint16_t flags)
{
	struct nftnl_table *t;
	struct nlmsghdr *nlh;

	t = nftnl_table_alloc();
	if (!t)
		oom();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nlh = msg_start(b, OBJ_MSG_MAX, type, flags, table);
	nftnl_table_nlmsg_build_payload(nlh, t);
	msg_end(b, nlh);
	nftnl_table_free(t);
}

static void put_set(struct batch *b, const char *table, const char *set,
		    int k, uint16_t type, uint32_t id)
{
	struct nftnl_udata_buf *ud = NULL;
	char name[KSET_NAME_MAX + 1];
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	kset_name(name, set, k);
	s = nftnl_set_alloc();
	if (!s)
		oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	if (type == NFT_MSG_NEWSET) {
		ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!ud ||
		    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
					 NFT_BYTEORDER_BIG_ENDIAN))
			oom();
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, kinds[k].flags);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, kinds[k].key_type);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, kinds[k].key_len);
		nftnl_set_set_u32(s, NFTNL_SET_ID, id);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA,
				   nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
	}
	nlh = msg_start(b, OBJ_MSG_MAX, type,
			type == NFT_MSG_NEWSET ? NLM_F_CREATE : 0, name);
	nftnl_set_nlmsg_build_payload(nlh, s);
	msg_end(b, nlh);
	nftnl_set_free(s);
	if (ud)
		nftnl_udata_buf_free(ud);
}

/* The base chains.  Rules will be added here; the chains exist from the
 * first apply so that they can be referenced. */
static void build_chains(struct batch *b, const char *table)
{
	static const struct {
		const char *name;
		uint32_t hook;
	} base[] = {
		{ "input", NF_INET_LOCAL_IN },
		{ "forward", NF_INET_FORWARD },
	};

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		struct nftnl_chain *c;
		struct nlmsghdr *nlh;

		c = nftnl_chain_alloc();
		if (!c)
			oom();
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, base[i].name);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, base[i].hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		nlh = msg_start(b, OBJ_MSG_MAX, NFT_MSG_NEWCHAIN, NLM_F_CREATE,
				base[i].name);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		msg_end(b, nlh);
		nftnl_chain_free(c);
	}
}

/* --- elements ---------------------------------------------------------- */

/* a := a + 1 as a big-endian number; false if it wrapped. */
static bool addr_next(uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++a[i] != 0)
			return true;
	return false;
}

static void put_elem(struct nlmsghdr *nlh, uint16_t idx, const uint8_t *key,
		     uint32_t len, uint32_t flags, uint64_t timeout_ms,
		     const void *ud, uint32_t udlen)
{
	struct nlattr *elem, *nkey;

	/* Nested list entries are numbered, as libnftnl does. */
	elem = mnl_attr_nest_start(nlh, idx);
	if (flags)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(flags));
	nkey = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, key);
	mnl_attr_nest_end(nlh, nkey);
	/* The expiration too: on an element that is already there, 6.18
	 * takes a new timeout but restarts the clock only with this. */
	if (timeout_ms) {
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT,
				 htobe64(timeout_ms));
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_EXPIRATION,
				 htobe64(timeout_ms));
	}
	if (ud)
		mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, udlen, ud);
	mnl_attr_nest_end(nlh, elem);
}

struct elem_msg {
	struct nlmsghdr *nlh;
	struct nlattr *list;
	uint16_t nelems;
};

/* Start a message for at most max_elems elements. */
static void elem_msg_start(struct batch *b, struct elem_msg *m, uint16_t type,
			   const char *table, const char *kset, uint32_t id,
			   size_t max_elems)
{
	m->nlh = msg_start(b, MSG_OVERHEAD + max_elems * ELEM_MAX, type,
			   type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, kset);
	mnl_attr_put_strz(m->nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(m->nlh, NFTA_SET_ELEM_LIST_SET, kset);
	if (id)
		mnl_attr_put_u32(m->nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(id));
	m->list = mnl_attr_nest_start(m->nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	m->nelems = 0;
}

static void elem_msg_end(struct batch *b, struct elem_msg *m)
{
	mnl_attr_nest_end(m->nlh, m->list);
	msg_end(b, m->nlh);
	m->nlh = NULL;
}

/* Add or delete the entries of s that belong to kernel set kind k, at
 * most ELEMS_PER_MSG elements a message and never splitting a range from
 * its end.  A prefix is the range [first, last + 1): a start element and
 * an interval-end element, or, when last is the top of the address space,
 * a start alone marked open in its userdata (as nft sends it).
 *
 * nft also puts an all-zero interval end first into an empty interval
 * set.  Lookups do not need it (the kernel matches when the greatest
 * element <= key is a start), and leaving it out keeps every kernel
 * element the image of an entry, so we do. */
static void put_elems(struct batch *b, uint16_t type, const char *table,
		      const char *kset, uint32_t id, int k,
		      const px_entries_t *s)
{
	const struct kind *kd = &kinds[k];
	struct elem_msg m = { 0 };
	size_t first, end;

	kind_span(s, k, &first, &end);
	for (size_t i = first; i < end; i++) {
		const px_entry_t *e = &s->v[i];
		uint8_t last[16];
		bool open = false;
		int need = 1;

		if (kd->interval) {
			px_entry_last(e, last);
			open = !addr_next(last, kd->key_len);
			need = open ? 1 : 2;
		}
		if (m.nlh && m.nelems + need > ELEMS_PER_MSG)
			elem_msg_end(b, &m);
		if (!m.nlh)
			elem_msg_start(b, &m, type, table, kset, id,
				       ELEMS_PER_MSG);
		put_elem(m.nlh, ++m.nelems, e->addr, kd->key_len, 0, 0,
			 open ? b->open_ud : NULL, b->open_udlen);
		if (kd->interval && !open)
			put_elem(m.nlh, ++m.nelems, last, kd->key_len,
				 NFT_SET_ELEM_INTERVAL_END, 0, NULL, 0);
	}
	if (m.nlh)
		elem_msg_end(b, &m);
}

/* --- the rule layer: sets, objects, chains and rules from the policy ----
 *
 * docs/nft-layout.md is the contract.  The layer is computed from a
 * policy as a plain description (struct layout: the dynamic and constant
 * sets, named objects and chains) plus the rules, which are encoded
 * straight into a batch.  An apply compares the old policy's layout with
 * the new one's: sets and objects that kept their definition stay (with
 * their elements and counts), the others are deleted and made again, and
 * the rules are flushed and added again when their encoding or anything
 * they reference changed. */

/* Names of the layer's sets, chains and objects: at most "x_" or
 * "blocked_service-" and a 32-character set, rule or service name plus a
 * suffix; the kernel allows 256. */
#define NAME_LEN 64

/* One rule message: at most ~20 expressions of at most ~200 bytes (a
 * dynset with its nested limit is the largest). */
#define RULE_MSG_MAX 8192

/* Every dynamic set holds at most this many keys: the conntrack table
 * of this machine holds 262,144 entries and a source is counted only
 * through connections it has there.  A full set stops counting new
 * sources (the kernel skips the rule); it never blocks anyone. */
#define DYN_SET_SIZE 262144

/* Meters and observe sets forget a source a minute after its last
 * counted packet: the quotas are per minute. */
#define MINUTE_MS 60000

/* The watcher gives each halfopen_block element its own timeout (10 s,
 * renewed while the source stays over); the set's default only bounds an
 * element added without one. */
#define HALFOPEN_TIMEOUT_MS 60000

#define HTTP_PORT 80
#define LOOPBACK_IFINDEX 1  /* "lo" in every network namespace */
#define CT_MARK_COUNTED 0x1 /* this connection's connect was counted */

/* nftables' datatype ids (src/datatype.h) for `nft list'; a concatenated
 * type is (first << 6) | second. */
#define KEYTYPE_STRING 5
#define KEYTYPE_INET_SERVICE 13
#define KEYTYPE_CONCAT_BITS 6

/* A rule's verdict besides the netfilter ones. */
#define VERDICT_NONE (-100)
#define VERDICT_RESET (-101) /* reject with tcp reset */

/* policy.c's first tier. */
#define FLOOD_EXCEPTIONS "flood-exceptions"

/* The first four bytes of an HTTP/1.x request (@ih,0,32). */
static const char http_methods[][4] = {
	{ 'G', 'E', 'T', ' ' }, { 'P', 'O', 'S', 'T' },
	{ 'H', 'E', 'A', 'D' }, { 'P', 'U', 'T', ' ' },
	{ 'D', 'E', 'L', 'E' }, { 'O', 'P', 'T', 'I' },
	{ 'P', 'A', 'T', 'C' }, { 'C', 'O', 'N', 'N' },
};

/* What makes a packet count for a per-source quota. */
enum trigger {
	TRIG_ASSURED, /* the first original packet of an assured TCP
		       * connection: its handshake completed, so a spoofed
		       * SYN never counts */
	TRIG_NEW,     /* a new TCP connection */
	TRIG_HTTP,    /* an HTTP request: port 80, payload starts with a method */
};

/* The per-source quotas the kernel holds: each is one rule per tier and
 * family, built by put_quota_rule() from this table. */
static const struct quota_rule {
	px_limit_id_t id;
	const char *meter;   /* per-tier set T_<meter>4/6 */
	enum trigger trigger;
	bool ct_count;       /* the meter is `ct count over N', else a rate */
	const char *block;   /* block set a source over the quota joins */
	int verdict;         /* for the packet over the quota */
	/* Without a block set: the set a refused source is noted in (for a
	 * minute, refusing nothing) so that alerting.c sees who exceeds. */
	const char *note;
} quota_rules[] = {
	{ PX_LIM_TCP_CONNECT_RATE, "conn_rate", TRIG_ASSURED, false,
	  "tcp_block", VERDICT_NONE, NULL },
	{ PX_LIM_TCP_CONCURRENT, "conn", TRIG_NEW, true, NULL,
	  VERDICT_RESET, "conn_over" },
	{ PX_LIM_HTTP_REQUEST_RATE, "http_rate", TRIG_HTTP, false,
	  "http_block", NF_DROP, NULL },
};

/* Sources in these sets have new TCP connections refused by the guard. */
static const struct block_set {
	const char *name;
	px_limit_id_t id;
	bool block_time;     /* timeout block-time, else HALFOPEN_TIMEOUT_MS */
} block_sets[] = {
	{ "tcp_block", PX_LIM_TCP_CONNECT_RATE, true },
	{ "halfopen_block", PX_LIM_TCP_HALF_OPEN, false },
	{ "http_block", PX_LIM_HTTP_REQUEST_RATE, true },
};

/* Quotas whose observe mode the kernel records in obs_<quota>4/6. */
static const px_limit_id_t observed[] = {
	PX_LIM_TCP_CONNECT_RATE, PX_LIM_TCP_CONCURRENT,
	PX_LIM_HTTP_REQUEST_RATE, PX_LIM_NONTCP_SESSION_RATE,
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

struct lset {
	char name[NAME_LEN];
	uint32_t flags, key_type, key_len;
	uint64_t timeout_ms;
	uint64_t value;  /* the limit its elements were made with */
	unsigned mask;   /* IPv6 source prefix of its keys, 0 if unmasked */
	bool methods;    /* the constant set of HTTP methods */
	bool mgmt;       /* the management prefixes (nft->mgmt) */
	uint32_t id;     /* set id in the batch that creates it */
};

struct lobj {
	char name[NAME_LEN];
	uint32_t type;   /* NFT_OBJECT_COUNTER or NFT_OBJECT_LIMIT */
	uint64_t rate;   /* limit: per minute, burst the same */
};

/* "x_" and a set name. */
#define TIER_LEN (PX_SETNAME_MAX + 3)

struct ltier {
	char name[TIER_LEN];          /* "dflt" or "x_SET" */
	uint64_t value[PX_LIM_COUNT];
};

struct layout {
	const px_policy_t *p;
	unsigned v6bits;              /* ipv6-source-prefix */
	struct lset *sets;
	struct lobj *objs;
	struct ltier *tiers;          /* [0] is dflt */
	char (*chains)[NAME_LEN];     /* besides the base chains */
	size_t nsets, nobjs, ntiers, nchains;
	const px_set_t **order;       /* exception sets in tier order */
	size_t *tier_of;              /* per order index */
	size_t ndisp;                 /* order[0..ndisp) need a dispatch */
	bool pressure;                /* chain "pressure" in guard */
};

static void layout_free(struct layout *l)
{
	free(l->sets);
	free(l->objs);
	free(l->tiers);
	free(l->chains);
	free(l->order);
	free(l->tier_of);
	memset(l, 0, sizeof(*l));
}

static struct lset *lset_push(struct layout *l, int family,
			      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A set keyed by a source address of family (4, 6); 0 for other keys. */
static struct lset *lset_push(struct layout *l, int family,
			      const char *fmt, ...)
{
	struct lset *s = &l->sets[l->nsets++];
	va_list ap;

	memset(s, 0, sizeof(*s));
	va_start(ap, fmt);
	vsnprintf(s->name, sizeof(s->name), fmt, ap);
	va_end(ap);
	if (family) {
		s->key_type = family == 4 ? KEYTYPE_IPV4 : KEYTYPE_IPV6;
		s->key_len = family == 4 ? 4 : 16;
	}
	return s;
}

/* A dynamic source set: IPv6 keys are masked to the source prefix. */
static void dyn_set(struct layout *l, int family, uint64_t timeout_ms,
		    uint64_t value, const char *prefix, const char *suffix)
{
	struct lset *s = lset_push(l, family, "%s%s%d", prefix, suffix,
				   family);

	s->flags = NFT_SET_EVAL | (timeout_ms ? NFT_SET_TIMEOUT : 0);
	s->timeout_ms = timeout_ms;
	s->value = value;
	s->mask = family == 6 ? l->v6bits : 0;
}

static void lobj_push(struct layout *l, uint32_t type, uint64_t rate,
		      const char *prefix, const char *name)
{
	struct lobj *o = &l->objs[l->nobjs];

	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s%s", prefix, name);
	for (size_t i = 0; i < l->nobjs; i++)
		if (l->objs[i].type == type &&
		    strcmp(l->objs[i].name, o->name) == 0)
			return; /* two rules of one name share it */
	o->type = type;
	o->rate = rate;
	l->nobjs++;
}

static bool is_nontcp_limited(const px_rule_t *r)
{
	return r->action == PX_ALLOW && r->proto != PX_PROTO_TCP;
}

static uint64_t rule_rate(const px_policy_t *p, const px_rule_t *r)
{
	return r->rate ? r->rate : p->limits.value[PX_LIM_NONTCP_SESSION_RATE];
}

/* The layer of policy p.  PX_ENOSET if a rule or service names a set
 * the policy does not have, PX_ERANGE on a source prefix out of range:
 * the kernel would refuse the batch anyway, this says why. */
static int layout_build(const px_policy_t *p, bool pressure,
			struct layout *l)
{
	const px_limits_t *lim = &p->limits;
	const px_set_t *fe = px_policy_find(p, FLOOD_EXCEPTIONS);
	size_t n = 0;
	int rc = -1;

	memset(l, 0, sizeof(*l));
	l->p = p;
	l->v6bits = (unsigned)lim->value[PX_LIM_IPV6_PREFIX];
	if (l->v6bits < 1 || l->v6bits > 128) {
		px_log(PX_LOG_ERR, "nft: ipv6-source-prefix %u out of range",
		       l->v6bits);
		rc = PX_ERANGE;
		goto out;
	}
	l->order = xcalloc(p->nsets + 1, sizeof(*l->order));
	l->tier_of = xcalloc(p->nsets + 1, sizeof(*l->tier_of));
	l->tiers = xcalloc(p->nsets + 1, sizeof(*l->tiers));
	l->chains = xcalloc(p->nsets + 3, sizeof(*l->chains));
	l->sets = xcalloc(16 + 2 * COUNT_OF(block_sets) +
			  2 * COUNT_OF(observed) + 2 * COUNT_OF(quota_rules) +
			  2 * COUNT_OF(quota_rules) * (p->nsets + 1) +
			  p->nservices, sizeof(*l->sets));
	l->objs = xcalloc(2 * PX_LIM_COUNT + p->nservices + 2 * p->nrules,
			  sizeof(*l->objs));

	/* Tiers: a source's tier is the first set holding it (as
	 * px_policy_tier_of() decides for the watcher); a set without a
	 * value of its own for any kernel quota dispatches to dflt, and
	 * sets after the last one with values need no dispatch at all. */
	if (fe)
		l->order[n++] = fe;
	for (size_t i = 0; i < p->nsets; i++)
		if (&p->sets[i] != fe)
			l->order[n++] = &p->sets[i];
	snprintf(l->tiers[0].name, TIER_LEN, "dflt");
	memcpy(l->tiers[0].value, lim->value, sizeof(lim->value));
	l->ntiers = 1;
	for (size_t i = 0; i < n; i++) {
		struct ltier *t = &l->tiers[l->ntiers];
		bool custom = false;

		memcpy(t->value, lim->value, sizeof(lim->value));
		for (size_t q = 0; q < COUNT_OF(quota_rules); q++) {
			int id = quota_rules[q].id;
			uint64_t v = px_limits_tier(lim, id, l->order[i]->name);

			if (v) {
				t->value[id] = v;
				custom = true;
			}
		}
		if (!custom)
			continue;
		snprintf(t->name, TIER_LEN, "x_%s", l->order[i]->name);
		l->tier_of[i] = l->ntiers++;
		l->ndisp = i + 1;
	}
	snprintf(l->chains[l->nchains++], NAME_LEN, "guard");
	l->pressure = pressure;
	if (pressure)
		snprintf(l->chains[l->nchains++], NAME_LEN, "pressure");
	for (size_t t = 0; t < l->ntiers; t++)
		snprintf(l->chains[l->nchains++], NAME_LEN, "tier_%s",
			 l->tiers[t].name);

	/* Sets. */
	for (int f = 4; f <= 6; f += 2) {
		struct lset *s = lset_push(l, f, "mgmt%d", f);

		s->flags = NFT_SET_INTERVAL;
		s->mgmt = true;
	}
	{
		struct lset *s = lset_push(l, 0, "http_methods");

		s->flags = NFT_SET_CONSTANT;
		s->key_type = KEYTYPE_STRING;
		s->key_len = sizeof(http_methods[0]);
		s->methods = true;
	}
	for (size_t i = 0; i < COUNT_OF(block_sets); i++)
		for (int f = 4; f <= 6; f += 2)
			dyn_set(l, f, block_sets[i].block_time ?
				lim->value[PX_LIM_BLOCK_TIME] * 1000 :
				HALFOPEN_TIMEOUT_MS, 0, block_sets[i].name, "");
	for (size_t t = 0; t < l->ntiers; t++) {
		char pfx[NAME_LEN];

		snprintf(pfx, sizeof(pfx), "%s_", l->tiers[t].name);
		for (size_t q = 0; q < COUNT_OF(quota_rules); q++)
			for (int f = 4; f <= 6; f += 2)
				dyn_set(l, f, quota_rules[q].ct_count ? 0 :
					MINUTE_MS,
					l->tiers[t].value[quota_rules[q].id],
					pfx, quota_rules[q].meter);
	}
	for (size_t i = 0; i < COUNT_OF(observed); i++)
		for (int f = 4; f <= 6; f += 2)
			dyn_set(l, f, MINUTE_MS, 0, "obs_",
				px_limit_defs[observed[i]].name);
	for (size_t q = 0; q < COUNT_OF(quota_rules); q++)
		for (int f = 4; f <= 6 && quota_rules[q].note; f += 2)
			dyn_set(l, f, MINUTE_MS, 0, quota_rules[q].note, "");
	for (size_t i = 0; i < p->nservices; i++) {
		const px_service_t *sv = &p->services[i];
		struct lset *s;

		if (sv->dst.family != 4 && sv->dst.family != 6) {
			rc = PX_EBADADDR;
			goto out;
		}
		if (sv->exempt_set[0] && !px_policy_find(p, sv->exempt_set)) {
			px_log(PX_LOG_ERR, "nft: service %s: no set %s",
			       sv->name, sv->exempt_set);
			rc = PX_ENOSET;
			goto out;
		}
		s = lset_push(l, 0, "svc_%s", sv->name);
		s->flags = NFT_SET_EVAL;
		s->key_type = ((sv->dst.family == 4 ? KEYTYPE_IPV4 :
				KEYTYPE_IPV6) << KEYTYPE_CONCAT_BITS) |
			      KEYTYPE_INET_SERVICE;
		/* The port takes a whole 32-bit register. */
		s->key_len = (sv->dst.family == 4 ? 4 : 16) + 4;
		s->value = sv->limit;
	}

	/* Named objects. */
	for (int id = 0; id < PX_LIM_COUNT; id++) {
		if (px_limit_defs[id].setting)
			continue;
		lobj_push(l, NFT_OBJECT_COUNTER, 0, "blocked_",
			  px_limit_defs[id].name);
		lobj_push(l, NFT_OBJECT_COUNTER, 0, "would_",
			  px_limit_defs[id].name);
	}
	for (size_t i = 0; i < p->nservices; i++)
		lobj_push(l, NFT_OBJECT_COUNTER, 0, "blocked_service-",
			  p->services[i].name);
	for (size_t i = 0; i < p->nrules; i++) {
		const px_rule_t *r = &p->rules[i];

		if (r->src_set[0] && !px_policy_find(p, r->src_set)) {
			px_log(PX_LOG_ERR, "nft: rule %s: no set %s", r->name,
			       r->src_set);
			rc = PX_ENOSET;
			goto out;
		}
		if (r->has_dst && r->dst.family != 4 && r->dst.family != 6) {
			rc = PX_EBADADDR;
			goto out;
		}
		lobj_push(l, NFT_OBJECT_COUNTER, 0, "rule_", r->name);
		if (is_nontcp_limited(r))
			lobj_push(l, NFT_OBJECT_LIMIT, rule_rate(p, r), "rule_",
				  r->name);
	}
	rc = 0;
out:
	if (rc < 0)
		layout_free(l);
	return rc;
}

/* --- expressions: each appends one to rule r; values in registers are
 * loaded into register 1 and compared from there ---------------------- */

static struct nftnl_expr *expr_new(const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		oom();
	return e;
}

static void x_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr_new("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
}

static void x_cmp(struct nftnl_rule *r, uint32_t op, const void *data,
		  uint32_t len)
{
	struct nftnl_expr *e = expr_new("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

static void x_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset,
		      uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

/* reg1 := (reg1 & mask) ^ xor over len bytes. */
static void x_bitwise(struct nftnl_rule *r, uint32_t len, const void *mask,
		      const void *xor)
{
	struct nftnl_expr *e = expr_new("bitwise");

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
	nftnl_rule_add_expr(r, e);
}

static void x_lookup(struct nftnl_rule *r, const char *set, bool invert)
{
	struct nftnl_expr *e = expr_new("lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (invert)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS,
				   NFT_LOOKUP_F_INV);
	nftnl_rule_add_expr(r, e);
}

/* reg1 := the connection's key (state, status, mark, direction). */
static void x_ct(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr_new("ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
}

static void x_ct_set(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr_new("ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
}

/* `limit rate over N/minute burst N packets': burst N makes the quota N
 * in a minute, not N/60 a second with the default burst of 5. */
static struct nftnl_expr *x_limit(uint64_t per_minute)
{
	struct nftnl_expr *e = expr_new("limit");

	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, per_minute);
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 60);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, (uint32_t)per_minute);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	return e;
}

/* `ct count over N' */
static struct nftnl_expr *x_connlimit(uint64_t count)
{
	struct nftnl_expr *e = expr_new("connlimit");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CONNLIMIT_COUNT, (uint32_t)count);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
	return e;
}

/* `add @set { key }' or `update @set { key }' with the key at sreg and an
 * optional per-element expression (taken over); with one, the rule goes
 * on only when that expression matches. */
static void x_dynset(struct nftnl_rule *r, uint32_t op, const char *set,
		     uint32_t sreg, struct nftnl_expr *elem_expr)
{
	struct nftnl_expr *e = expr_new("dynset");

	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, op);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	if (elem_expr)
		nftnl_expr_add_expr(e, NFTNL_EXPR_DYNSET_EXPRESSIONS,
				    elem_expr);
	nftnl_rule_add_expr(r, e);
}

/* `counter name "NAME"', `limit name "NAME"' */
static void x_objref(struct nftnl_rule *r, uint32_t type, const char *name)
{
	struct nftnl_expr *e = expr_new("objref");

	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, type);
	nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
	nftnl_rule_add_expr(r, e);
}

static void x_counter(struct nftnl_rule *r, const char *prefix,
		      const char *name)
{
	char obj[NAME_LEN];

	snprintf(obj, sizeof(obj), "%s%s", prefix, name);
	x_objref(r, NFT_OBJECT_COUNTER, obj);
}

/* `log prefix "KIND NAME" group 7 snaplen 80': a record in the member's
 * firewall log, which reads the prefix back (node/fwlog.h). */
static void x_log(struct nftnl_rule *r, const char *kind, const char *name)
{
	struct nftnl_expr *e = expr_new("log");
	char prefix[PX_FWLOG_PREFIX_MAX];

	snprintf(prefix, sizeof(prefix), "%s%s", kind, name);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
	nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, PX_FWLOG_GROUP);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, PX_FWLOG_SNAPLEN);
	nftnl_rule_add_expr(r, e);
}

/* Traffic blocked by flood mitigation is logged unless the setting
 * log-flood-blocks is 0; deny rules always are. */
static bool log_flood(const struct layout *l)
{
	return l->p->limits.value[PX_LIM_LOG_FLOOD_BLOCKS] != 0;
}

/* accept, drop, return, jump/goto chain, reject with tcp reset. */
static void x_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e;

	if (verdict == VERDICT_NONE)
		return;
	if (verdict == VERDICT_RESET) {
		e = expr_new("reject");
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE,
				   NFT_REJECT_TCP_RST);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
		nftnl_rule_add_expr(r, e);
		return;
	}
	e = expr_new("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	nftnl_rule_add_expr(r, e);
}

/* --- matches built from them ------------------------------------------ */

static void m_meta_u8(struct nftnl_rule *r, uint32_t key, uint32_t op,
		      uint8_t v)
{
	x_meta(r, key);
	x_cmp(r, op, &v, sizeof(v));
}

static void m_nfproto(struct nftnl_rule *r, int family)
{
	m_meta_u8(r, NFT_META_NFPROTO, NFT_CMP_EQ,
		  family == 4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
}

static void m_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	m_meta_u8(r, NFT_META_L4PROTO, NFT_CMP_EQ, proto);
}

/* `ct state new', `ct status assured': the key is a bit mask. */
static void m_ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t bits)
{
	uint32_t zero = 0;

	x_ct(r, key);
	x_bitwise(r, sizeof(bits), &bits, &zero);
	x_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static void m_ct_original(struct nftnl_rule *r)
{
	uint8_t dir = 0; /* IP_CT_DIR_ORIGINAL (kernel-internal enum) */

	x_ct(r, NFT_CT_DIRECTION);
	x_cmp(r, NFT_CMP_EQ, &dir, sizeof(dir));
}

/* `th dport PORT' (the caller matched a protocol with ports). */
static void m_dport(struct nftnl_rule *r, uint16_t port)
{
	uint16_t be = htons(port);

	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, sizeof(be), NFT_REG_1);
	x_cmp(r, NFT_CMP_EQ, &be, sizeof(be));
}

static void prefix_mask(uint8_t *mask, unsigned len, unsigned plen)
{
	memset(mask, 0, len);
	for (unsigned i = 0; i < len && plen; i++) {
		unsigned bits = plen < 8 ? plen : 8;

		mask[i] = (uint8_t)(0xff << (8 - bits));
		plen -= bits;
	}
}

/* Load the source (src) or destination address of family into dreg,
 * keeping its first plen bits (0: all of them).  The caller matched
 * the family first: in an inet table the address of the other family
 * sits elsewhere. */
static void m_addr(struct nftnl_rule *r, int family, bool src,
		   unsigned plen, uint32_t dreg)
{
	uint32_t len = family == 4 ? 4 : 16;
	uint32_t off = family == 4 ? (src ? 12 : 16) : (src ? 8 : 24);
	uint8_t mask[16], zero[16] = { 0 };

	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, len, dreg);
	if (plen && plen < len * 8) {
		prefix_mask(mask, len, plen);
		x_bitwise(r, len, mask, zero);
	}
}

/* `ip daddr A' or `ip daddr A/plen' */
static void m_daddr(struct nftnl_rule *r, const px_entry_t *e)
{
	m_addr(r, e->family, false, e->prefix ? e->plen : 0, NFT_REG_1);
	x_cmp(r, NFT_CMP_EQ, e->addr, e->family == 4 ? 4 : 16);
}

/* An HTTP request from the client: port 80, original direction, the
 * payload starts with a method. */
static void m_http_request(struct nftnl_rule *r)
{
	m_l4proto(r, IPPROTO_TCP);
	m_dport(r, HTTP_PORT);
	m_ct_original(r);
	x_payload(r, NFT_PAYLOAD_INNER_HEADER, 0, sizeof(http_methods[0]),
		  NFT_REG_1);
	x_lookup(r, "http_methods", false);
}

/* --- rules ------------------------------------------------------------ */

static struct nftnl_rule *rule_new(const char *table)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		oom();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return r;
}

/* Append r to chain and free it. */
static void rule_put(struct batch *b, struct nftnl_rule *r, const char *chain)
{
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = msg_start(b, RULE_MSG_MAX, NFT_MSG_NEWRULE,
			NLM_F_CREATE | NLM_F_APPEND, chain);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	if (nlh->nlmsg_len > RULE_MSG_MAX) {
		/* Past the reservation: a bug in the rule builders. */
		px_log(PX_LOG_ERR, "nft: rule of %u bytes", nlh->nlmsg_len);
		abort();
	}
	msg_end(b, nlh);
	nftnl_rule_free(r);
}

/* A rule of one match and one verdict, e.g. `jump guard'. */
static void put_verdict_rule(struct batch *b, const char *table,
			     const char *chain, int verdict, const char *to)
{
	struct nftnl_rule *r = rule_new(table);

	x_verdict(r, verdict, to);
	rule_put(b, r, chain);
}

static void trigger(struct nftnl_rule *r, enum trigger t)
{
	uint32_t mark = CT_MARK_COUNTED, keep = ~mark, zero = 0;

	switch (t) {
	case TRIG_ASSURED:
		/* ct direction original ct status assured
		 * ct mark & 0x1 == 0 ct mark set ct mark | 0x1 */
		m_l4proto(r, IPPROTO_TCP);
		m_ct_original(r);
		m_ct_bits(r, NFT_CT_STATUS, IPS_ASSURED);
		x_ct(r, NFT_CT_MARK);
		x_bitwise(r, sizeof(mark), &mark, &zero);
		x_cmp(r, NFT_CMP_EQ, &zero, sizeof(zero));
		x_ct(r, NFT_CT_MARK);
		x_bitwise(r, sizeof(mark), &keep, &mark);
		x_ct_set(r, NFT_CT_MARK);
		break;
	case TRIG_NEW:
		m_l4proto(r, IPPROTO_TCP);
		m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
		break;
	case TRIG_HTTP:
		m_http_request(r);
		break;
	}
}

/* Source over the quota: enforce adds it to the block set and refuses
 * the packet (counted in blocked_Q and logged if refused); observe only
 * notes it in obs_Q4/6 and counts would_Q.  reg1 holds the (masked)
 * source.  rule: the rule whose session quota this is, NULL for a
 * per-source quota. */
static void over_quota(struct nftnl_rule *r, const struct layout *l,
		       px_limit_id_t id, int family, const char *block,
		       int verdict, const char *rule)
{
	const char *qname = px_limit_defs[id].name;
	char set[NAME_LEN];

	if (l->p->limits.mode[id] == PX_MODE_OBSERVE) {
		snprintf(set, sizeof(set), "obs_%s%d", qname, family);
		x_dynset(r, NFT_DYNSET_OP_UPDATE, set, NFT_REG_1, NULL);
		x_counter(r, "would_", qname);
		return;
	}
	if (block) {
		snprintf(set, sizeof(set), "%s%d", block, family);
		x_dynset(r, NFT_DYNSET_OP_ADD, set, NFT_REG_1, NULL);
	}
	if (verdict != VERDICT_NONE)
		x_counter(r, "blocked_", qname);
	if (verdict != VERDICT_NONE && log_flood(l))
		x_log(r, rule ? PX_FWLOG_PFX_RULE_RATE : PX_FWLOG_PFX_QUOTA,
		      rule ? rule : qname);
	x_verdict(r, verdict, NULL);
}

/* One quota of one tier for one family (chain tier_T). */
static void put_quota_rule(struct batch *b, const char *table,
			   const struct layout *l, const struct ltier *t,
			   const struct quota_rule *q, int family)
{
	uint64_t v = t->value[q->id];
	struct nftnl_rule *r = rule_new(table);
	char chain[NAME_LEN], meter[NAME_LEN];

	snprintf(chain, sizeof(chain), "tier_%s", t->name);
	snprintf(meter, sizeof(meter), "%s_%s%d", t->name, q->meter, family);
	/* The family first: the trigger may set the connection's mark,
	 * which must not happen in the rule of the other family. */
	m_nfproto(r, family);
	trigger(r, q->trigger);
	m_addr(r, family, true, family == 6 ? l->v6bits : 0, NFT_REG_1);
	x_dynset(r, q->ct_count ? NFT_DYNSET_OP_ADD : NFT_DYNSET_OP_UPDATE,
		 meter, NFT_REG_1, q->ct_count ? x_connlimit(v) : x_limit(v));
	if (q->note && l->p->limits.mode[q->id] != PX_MODE_OBSERVE) {
		char note[NAME_LEN];

		snprintf(note, sizeof(note), "%s%d", q->note, family);
		x_dynset(r, NFT_DYNSET_OP_UPDATE, note, NFT_REG_1, NULL);
	}
	over_quota(r, l, q->id, family, q->block, q->verdict, NULL);
	rule_put(b, r, chain);
}

static void put_pressure(struct batch *b, const char *table,
			 const struct layout *l);

/* chain guard: what is never limited, refusals of blocked sources, then
 * the tier of the source. */
static void put_guard(struct batch *b, const char *table,
		      const struct layout *l)
{
	const px_limits_t *lim = &l->p->limits;
	uint32_t lo = LOOPBACK_IFINDEX, local = RTN_LOCAL;
	char set[NAME_LEN], chain[NAME_LEN];
	struct nftnl_rule *r;
	struct nftnl_expr *e;

	r = rule_new(table);
	x_meta(r, NFT_META_IIF);
	x_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
	x_verdict(r, NFT_RETURN, NULL);
	rule_put(b, r, "guard");
	for (int f = 4; f <= 6; f += 2) {
		r = rule_new(table);
		m_nfproto(r, f);
		m_addr(r, f, true, 0, NFT_REG_1);
		snprintf(set, sizeof(set), "mgmt%d", f);
		x_lookup(r, set, false);
		x_verdict(r, NFT_RETURN, NULL);
		rule_put(b, r, "guard");
	}
	/* fib saddr type local: the member's own addresses. */
	r = rule_new(table);
	e = expr_new("fib");
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	x_cmp(r, NFT_CMP_EQ, &local, sizeof(local));
	x_verdict(r, NFT_RETURN, NULL);
	rule_put(b, r, "guard");

	/* A quota in observe mode refuses nobody, even a source still in
	 * its block set from before the switch. */
	for (size_t i = 0; i < COUNT_OF(block_sets); i++) {
		const struct block_set *bs = &block_sets[i];

		if (lim->mode[bs->id] == PX_MODE_OBSERVE)
			continue;
		for (int f = 4; f <= 6; f += 2) {
			r = rule_new(table);
			m_nfproto(r, f);
			m_l4proto(r, IPPROTO_TCP);
			m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
			m_addr(r, f, true, f == 6 ? l->v6bits : 0, NFT_REG_1);
			snprintf(set, sizeof(set), "%s%d", bs->name, f);
			x_lookup(r, set, false);
			x_counter(r, "blocked_", px_limit_defs[bs->id].name);
			if (log_flood(l))
				x_log(r, PX_FWLOG_PFX_QUOTA,
				      px_limit_defs[bs->id].name);
			x_verdict(r, VERDICT_RESET, NULL);
			rule_put(b, r, "guard");
		}
	}
	/* Requests inside connections that were open before the block
	 * (keep-alive): dropped, the connection itself lives on and TCP
	 * sends the request again once the block is over. */
	if (lim->mode[PX_LIM_HTTP_REQUEST_RATE] != PX_MODE_OBSERVE) {
		for (int f = 4; f <= 6; f += 2) {
			r = rule_new(table);
			m_nfproto(r, f);
			m_http_request(r);
			m_addr(r, f, true, f == 6 ? l->v6bits : 0, NFT_REG_1);
			snprintf(set, sizeof(set), "http_block%d", f);
			x_lookup(r, set, false);
			x_counter(r, "blocked_",
				  px_limit_defs[PX_LIM_HTTP_REQUEST_RATE].name);
			if (log_flood(l))
				x_log(r, PX_FWLOG_PFX_QUOTA, px_limit_defs[
				      PX_LIM_HTTP_REQUEST_RATE].name);
			x_verdict(r, NF_DROP, NULL);
			rule_put(b, r, "guard");
		}
	}
	put_pressure(b, table, l);
	for (size_t i = 0; i < l->ndisp; i++) {
		snprintf(chain, sizeof(chain), "tier_%s",
			 l->tiers[l->tier_of[i]].name);
		for (int k = 0; k < KIND_COUNT; k++) {
			r = rule_new(table);
			m_nfproto(r, kinds[k].family);
			m_addr(r, kinds[k].family, true, 0, NFT_REG_1);
			kset_name(set, l->order[i]->name, k);
			x_lookup(r, set, false);
			x_verdict(r, NFT_GOTO, chain);
			rule_put(b, r, "guard");
		}
	}
	put_verdict_rule(b, table, "guard", NFT_GOTO, "tier_dflt");
}

/* Resource protection at its extreme (px_nft_set_pressure): guard jumps
 * here before the tiers; members of any exception set return, every
 * other new connection is dropped. */
static void put_pressure(struct batch *b, const char *table,
			 const struct layout *l)
{
	const px_policy_t *p = l->p;
	char set[NAME_LEN];
	struct nftnl_rule *r;

	if (!l->pressure)
		return;
	put_verdict_rule(b, table, "guard", NFT_JUMP, "pressure");
	for (size_t i = 0; i < p->nsets; i++) {
		for (int k = 0; k < KIND_COUNT; k++) {
			r = rule_new(table);
			m_nfproto(r, kinds[k].family);
			m_addr(r, kinds[k].family, true, 0, NFT_REG_1);
			kset_name(set, p->sets[i].name, k);
			x_lookup(r, set, false);
			x_verdict(r, NFT_RETURN, NULL);
			rule_put(b, r, "pressure");
		}
	}
	r = rule_new(table);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
	x_verdict(r, NF_DROP, NULL);
	rule_put(b, r, "pressure");
}

/* A published service: new connections to A:P over its limit are
 * refused, except from its exempt set (which then meet the rules like
 * everybody else: a `return' would not fit one chain, an `accept' would
 * skip the deny rules). */
static void put_service(struct batch *b, const char *table,
			const struct layout *l, const px_service_t *sv)
{
	int f = sv->dst.family;
	uint32_t alen = f == 4 ? 4 : 16;
	char set[NAME_LEN];
	struct nftnl_rule *r = rule_new(table);

	m_nfproto(r, f);
	m_l4proto(r, IPPROTO_TCP);
	m_daddr(r, &sv->dst);
	m_dport(r, sv->port);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
	for (int k = 0; sv->exempt_set[0] && k < KIND_COUNT; k++) {
		if (kinds[k].family != f)
			continue;
		m_addr(r, f, true, 0, NFT_REG_1);
		kset_name(set, sv->exempt_set, k);
		x_lookup(r, set, true);
	}
	/* The key `ip daddr . tcp dport': one 32-bit register per field. */
	m_addr(r, f, false, 0, NFT_REG32_00);
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
		  NFT_REG32_00 + alen / 4);
	snprintf(set, sizeof(set), "svc_%s", sv->name);
	x_dynset(r, NFT_DYNSET_OP_ADD, set, NFT_REG32_00,
		 x_connlimit(sv->limit));
	x_counter(r, "blocked_service-", sv->name);
	if (log_flood(l))
		x_log(r, PX_FWLOG_PFX_SERVICE, sv->name);
	x_verdict(r, VERDICT_RESET, NULL);
	rule_put(b, r, "forward");
}

/* ct state new [l4proto] [ip saddr @SRC] [ip daddr DST] [th dport P] */
static struct nftnl_rule *rule_match(const char *table, const px_rule_t *ru,
				     int family, int l4, const char *kset)
{
	struct nftnl_rule *r = rule_new(table);

	if (family)
		m_nfproto(r, family);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
	if (l4 > 0)
		m_l4proto(r, (uint8_t)l4);
	else if (l4 < 0) /* any protocol but TCP */
		m_meta_u8(r, NFT_META_L4PROTO, NFT_CMP_NEQ, IPPROTO_TCP);
	if (kset) {
		m_addr(r, family, true, 0, NFT_REG_1);
		x_lookup(r, kset, false);
	}
	if (ru->has_dst)
		m_daddr(r, &ru->dst);
	if (ru->port && (l4 == IPPROTO_TCP || l4 == IPPROTO_UDP))
		m_dport(r, ru->port);
	return r;
}

/* One rule of the rule model.  It becomes one nft rule per family it
 * needs (ICMP and ICMPv6 differ, source sets and observe keys are per
 * family), per protocol (a port without a protocol means TCP or UDP) and
 * per kernel set of its source set; non-TCP allow rules are preceded by
 * their session limit, one named limit shared by all of them. */
static void put_rule(struct batch *b, const char *table,
		     const struct layout *l, const px_rule_t *ru)
{
	bool limited = is_nontcp_limited(ru);
	bool observe = l->p->limits.mode[PX_LIM_NONTCP_SESSION_RATE] ==
		       PX_MODE_OBSERVE;
	int families[2], nfam = 0;
	char obj[NAME_LEN];

	snprintf(obj, sizeof(obj), "rule_%s", ru->name);
	if (ru->has_dst)
		families[nfam++] = ru->dst.family;
	else if (ru->src_set[0] || ru->proto == PX_PROTO_ICMP ||
		 (limited && observe)) {
		families[nfam++] = 4;
		families[nfam++] = 6;
	} else {
		families[nfam++] = 0;
	}
	for (int fi = 0; fi < nfam; fi++) {
		int f = families[fi], l4s[2], nl4 = 0;

		if (ru->proto == PX_PROTO_ICMP)
			l4s[nl4++] = f == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
		else if (ru->proto != PX_PROTO_ANY)
			l4s[nl4++] = ru->proto;
		else if (ru->port) {
			l4s[nl4++] = IPPROTO_TCP;
			l4s[nl4++] = IPPROTO_UDP;
		} else {
			l4s[nl4++] = 0;
		}
		for (int li = 0; li < nl4; li++) {
			for (int k = 0; k < KIND_COUNT; k++) {
				char kset[KSET_NAME_MAX + 1];
				const char *src = NULL;
				struct nftnl_rule *r;

				if (ru->src_set[0]) {
					if (kinds[k].family != f)
						continue;
					kset_name(kset, ru->src_set, k);
					src = kset;
				} else if (k > 0) {
					break;
				}
				if (limited && l4s[li] != IPPROTO_TCP) {
					r = rule_match(table, ru, f,
						       l4s[li] ? l4s[li] : -1,
						       src);
					x_objref(r, NFT_OBJECT_LIMIT, obj);
					if (observe)
						m_addr(r, f, true, f == 6 ?
						       l->v6bits : 0,
						       NFT_REG_1);
					over_quota(r, l,
						   PX_LIM_NONTCP_SESSION_RATE, f,
						   NULL, NF_DROP, ru->name);
					rule_put(b, r, "forward");
				}
				r = rule_match(table, ru, f, l4s[li], src);
				x_objref(r, NFT_OBJECT_COUNTER, obj);
				if (ru->action != PX_ALLOW)
					x_log(r, PX_FWLOG_PFX_DENY, ru->name);
				x_verdict(r, ru->action == PX_ALLOW ? NF_ACCEPT :
					  NF_DROP, NULL);
				rule_put(b, r, "forward");
			}
		}
	}
}

/* `tcp flags & rst != 0 ct direction D ct mark set ct mark | BIT': who
 * reset a connection, for the end reasons of the firewall log
 * (PX_CT_MARK_RST_ORIG from the client, _REPLY from the server). */
static void put_rst_mark(struct batch *b, const char *table, uint8_t dir)
{
	uint32_t bit = dir ? PX_CT_MARK_RST_REPLY : PX_CT_MARK_RST_ORIG;
	uint32_t keep = ~bit;
	uint8_t rst = 0x04, zero = 0; /* TCP header byte 13 */
	struct nftnl_rule *r = rule_new(table);

	m_l4proto(r, IPPROTO_TCP);
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1, NFT_REG_1);
	x_bitwise(r, 1, &rst, &zero);
	x_cmp(r, NFT_CMP_NEQ, &zero, 1);
	x_ct(r, NFT_CT_DIRECTION);
	x_cmp(r, NFT_CMP_EQ, &dir, sizeof(dir));
	x_ct(r, NFT_CT_MARK);
	x_bitwise(r, sizeof(bit), &keep, &bit);
	x_ct_set(r, NFT_CT_MARK);
	rule_put(b, r, "forward");
}

/* The failover engines' own traffic is never limited by quotas, the
 * pressure chain or deny rules: keepalived's VRRP adverts (protocol 112)
 * and conntrackd's state sync (udp PX_CONNTRACKD_PORT), both to the
 * member itself (chain input, ahead of the guard). */
static void put_failover_accept(struct batch *b, const char *table)
{
	struct nftnl_rule *r;

	r = rule_new(table);
	m_l4proto(r, PX_IPPROTO_VRRP);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, "input");
	r = rule_new(table);
	m_l4proto(r, IPPROTO_UDP);
	m_dport(r, PX_CONNTRACKD_PORT);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, "input");
}

/* Every rule of the layer, chain by chain. */
static void put_rules(struct batch *b, const char *table,
		      const struct layout *l)
{
	const px_policy_t *p = l->p;
	uint32_t ok = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
		      NF_CT_STATE_BIT(IP_CT_RELATED);
	struct nftnl_rule *r;

	put_failover_accept(b, table);
	put_verdict_rule(b, table, "input", NFT_JUMP, "guard");
	/* ct state invalid drop: with nf_conntrack_tcp_loose=0, a packet
	 * that arrives at a new master before conntrackd's state for it is
	 * dropped and retransmitted, never reset by the server. */
	r = rule_new(table);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_INVALID_BIT);
	x_verdict(r, NF_DROP, NULL);
	rule_put(b, r, "forward");
	put_verdict_rule(b, table, "forward", NFT_JUMP, "guard");
	put_rst_mark(b, table, 0); /* IP_CT_DIR_ORIGINAL */
	put_rst_mark(b, table, 1); /* IP_CT_DIR_REPLY */
	r = rule_new(table);
	m_ct_bits(r, NFT_CT_STATE, ok);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, "forward");
	for (size_t i = 0; i < p->nservices; i++)
		put_service(b, table, l, &p->services[i]);
	for (size_t i = 0; i < p->nrules; i++)
		put_rule(b, table, l, &p->rules[i]);
	put_guard(b, table, l);
	for (size_t t = 0; t < l->ntiers; t++)
		for (size_t q = 0; q < COUNT_OF(quota_rules); q++)
			for (int f = 4; f <= 6; f += 2)
				put_quota_rule(b, table, l, &l->tiers[t],
					       &quota_rules[q], f);
}

/* --- layer objects in the batch --------------------------------------- */

static void put_lset(struct batch *b, const char *table, struct lset *ls,
		     uint16_t type)
{
	struct nftnl_udata_buf *ud = NULL;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, ls->name);
	if (type == NFT_MSG_NEWSET) {
		/* nft prints a string key as it is stored, an address key
		 * from network byte order. */
		ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!ud ||
		    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
					 ls->methods ? NFT_BYTEORDER_HOST_ENDIAN :
					 NFT_BYTEORDER_BIG_ENDIAN))
			oom();
		ls->id = b->next_set_id++;
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, ls->flags);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, ls->key_type);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, ls->key_len);
		nftnl_set_set_u32(s, NFTNL_SET_ID, ls->id);
		if (ls->flags & NFT_SET_EVAL)
			nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, DYN_SET_SIZE);
		if (ls->timeout_ms)
			nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, ls->timeout_ms);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA,
				   nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
	}
	nlh = msg_start(b, OBJ_MSG_MAX, type,
			type == NFT_MSG_NEWSET ? NLM_F_CREATE : 0, ls->name);
	nftnl_set_nlmsg_build_payload(nlh, s);
	msg_end(b, nlh);
	nftnl_set_free(s);
	if (ud)
		nftnl_udata_buf_free(ud);
}

static void put_obj(struct batch *b, const char *table, const struct lobj *o,
		    uint16_t type)
{
	struct nftnl_obj *obj = nftnl_obj_alloc();
	struct nlmsghdr *nlh;

	if (!obj)
		oom();
	nftnl_obj_set_str(obj, NFTNL_OBJ_TABLE, table);
	nftnl_obj_set_str(obj, NFTNL_OBJ_NAME, o->name);
	nftnl_obj_set_u32(obj, NFTNL_OBJ_TYPE, o->type);
	if (type == NFT_MSG_NEWOBJ && o->type == NFT_OBJECT_LIMIT) {
		nftnl_obj_set_u64(obj, NFTNL_OBJ_LIMIT_RATE, o->rate);
		nftnl_obj_set_u64(obj, NFTNL_OBJ_LIMIT_UNIT, 60);
		nftnl_obj_set_u32(obj, NFTNL_OBJ_LIMIT_BURST,
				  (uint32_t)o->rate);
		nftnl_obj_set_u32(obj, NFTNL_OBJ_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_obj_set_u32(obj, NFTNL_OBJ_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	}
	nlh = msg_start(b, OBJ_MSG_MAX, type,
			type == NFT_MSG_NEWOBJ ? NLM_F_CREATE : 0, o->name);
	nftnl_obj_nlmsg_build_payload(nlh, obj);
	msg_end(b, nlh);
	nftnl_obj_free(obj);
}

/* Flush a chain: DELRULE without a rule handle. */
static void put_flush(struct batch *b, const char *table, const char *chain)
{
	struct nftnl_rule *r = rule_new(table);
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = msg_start(b, OBJ_MSG_MAX, NFT_MSG_DELRULE, 0, chain);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	msg_end(b, nlh);
	nftnl_rule_free(r);
}

/* A regular chain: NEWCHAIN or DELCHAIN. */
static void put_chain(struct batch *b, const char *table, const char *name,
		      uint16_t type)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		oom();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nlh = msg_start(b, OBJ_MSG_MAX, type,
			type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, name);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	msg_end(b, nlh);
	nftnl_chain_free(c);
}

/* Remove every element of a set: DELSETELEM without an element list. */
static void put_set_flush(struct batch *b, const char *table,
			  const char *set)
{
	struct nlmsghdr *nlh = msg_start(b, OBJ_MSG_MAX, NFT_MSG_DELSETELEM,
					 0, set);

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	msg_end(b, nlh);
}

static void put_methods(struct batch *b, const char *table,
			const struct lset *ls)
{
	struct elem_msg m;

	elem_msg_start(b, &m, NFT_MSG_NEWSETELEM, table, ls->name, ls->id,
		       COUNT_OF(http_methods));
	for (size_t i = 0; i < COUNT_OF(http_methods); i++)
		put_elem(m.nlh, (uint16_t)(i + 1),
			 (const uint8_t *)http_methods[i],
			 sizeof(http_methods[i]), 0, 0, NULL, 0);
	elem_msg_end(b, &m);
}

/* --- layer changes ----------------------------------------------------- */

/* What an apply does to the layer: old is empty on a rebuild. */
struct layer_plan {
	struct layout old, new_;
	bool have_old;
	bool rules;           /* flush every chain and add the rules again */
	bool *set_del, *obj_del, *chain_del; /* per old item */
	bool *set_add, *obj_add, *chain_add; /* per new item */
};

static void layer_plan_free(struct layer_plan *lp)
{
	layout_free(&lp->old);
	layout_free(&lp->new_);
	free(lp->set_del);
	free(lp->obj_del);
	free(lp->chain_del);
	free(lp->set_add);
	free(lp->obj_add);
	free(lp->chain_add);
	memset(lp, 0, sizeof(*lp));
}

/* Elements of a set stay valid only while everything they were made
 * with is the same: the timeout, the limit in their expression, the
 * IPv6 prefix of their keys. */
static bool lset_same(const struct lset *a, const struct lset *b)
{
	return strcmp(a->name, b->name) == 0 && a->flags == b->flags &&
	       a->key_type == b->key_type && a->key_len == b->key_len &&
	       a->timeout_ms == b->timeout_ms && a->value == b->value &&
	       a->mask == b->mask && a->methods == b->methods &&
	       a->mgmt == b->mgmt;
}

static bool has_lset(const struct layout *l, const struct lset *s)
{
	for (size_t i = 0; i < l->nsets; i++)
		if (lset_same(&l->sets[i], s))
			return true;
	return false;
}

static bool has_lobj(const struct layout *l, const struct lobj *o)
{
	for (size_t i = 0; i < l->nobjs; i++)
		if (strcmp(l->objs[i].name, o->name) == 0 &&
		    l->objs[i].type == o->type && l->objs[i].rate == o->rate)
			return true;
	return false;
}

static bool has_chain(const struct layout *l, const char *name)
{
	for (size_t i = 0; i < l->nchains; i++)
		if (strcmp(l->chains[i], name) == 0)
			return true;
	return false;
}

/* Whether the two layers' rules encode differently (both are built into
 * scratch batches with the same sequence numbers). */
static bool rules_differ(const char *table, const struct layout *a,
			 const struct layout *b)
{
	struct batch x, y;
	bool differ;

	batch_init(&x, 0);
	batch_init(&y, 0);
	put_rules(&x, table, a);
	put_rules(&y, table, b);
	differ = x.len != y.len || memcmp(x.buf, y.buf, x.len) != 0;
	batch_free(&x);
	batch_free(&y);
	return differ;
}

static int layer_plan(const char *table, const px_policy_t *old,
		      const px_policy_t *new_, bool old_pressure,
		      bool new_pressure, struct layer_plan *lp)
{
	struct layout *o = &lp->old, *n = &lp->new_;
	bool dropped = false;
	int rc = -1;

	memset(lp, 0, sizeof(*lp));
	rc = layout_build(new_, new_pressure, n);
	if (rc < 0)
		goto out;
	if (old) {
		rc = layout_build(old, old_pressure, o);
		if (rc < 0)
			goto out;
		lp->have_old = true;
	}
	lp->set_del = xcalloc(o->nsets + 1, sizeof(bool));
	lp->obj_del = xcalloc(o->nobjs + 1, sizeof(bool));
	lp->chain_del = xcalloc(o->nchains + 1, sizeof(bool));
	lp->set_add = xcalloc(n->nsets + 1, sizeof(bool));
	lp->obj_add = xcalloc(n->nobjs + 1, sizeof(bool));
	lp->chain_add = xcalloc(n->nchains + 1, sizeof(bool));
	for (size_t i = 0; i < o->nsets; i++)
		dropped |= lp->set_del[i] = !has_lset(n, &o->sets[i]);
	for (size_t i = 0; i < o->nobjs; i++)
		dropped |= lp->obj_del[i] = !has_lobj(n, &o->objs[i]);
	for (size_t i = 0; i < o->nchains; i++)
		dropped |= lp->chain_del[i] = !has_chain(n, o->chains[i]);
	for (size_t i = 0; i < n->nsets; i++)
		lp->set_add[i] = !has_lset(o, &n->sets[i]);
	for (size_t i = 0; i < n->nobjs; i++)
		lp->obj_add[i] = !has_lobj(o, &n->objs[i]);
	for (size_t i = 0; i < n->nchains; i++)
		lp->chain_add[i] = !has_chain(o, n->chains[i]);
	/* What the old rules reference can only go once they are gone. */
	lp->rules = !old || dropped || rules_differ(table, o, n);
	rc = 0;
out:
	if (rc < 0)
		layer_plan_free(lp);
	return rc;
}

/* Old rules, chains, sets and objects that go. */
static void layer_delete(struct batch *b, const char *table,
			 const struct layer_plan *lp)
{
	const struct layout *o = &lp->old;

	if (!lp->have_old)
		return;
	if (lp->rules) {
		put_flush(b, table, "input");
		put_flush(b, table, "forward");
		for (size_t i = 0; i < o->nchains; i++)
			put_flush(b, table, o->chains[i]);
	}
	for (size_t i = 0; i < o->nchains; i++)
		if (lp->chain_del[i])
			put_chain(b, table, o->chains[i], NFT_MSG_DELCHAIN);
	for (size_t i = 0; i < o->nsets; i++)
		if (lp->set_del[i])
			put_lset(b, table, &o->sets[i], NFT_MSG_DELSET);
	for (size_t i = 0; i < o->nobjs; i++)
		if (lp->obj_del[i])
			put_obj(b, table, &o->objs[i], NFT_MSG_DELOBJ);
}

/* New sets (with their constant elements), objects and chains. */
static void layer_create(struct batch *b, const char *table,
			 struct layer_plan *lp)
{
	struct layout *n = &lp->new_;

	for (size_t i = 0; i < n->nsets; i++) {
		if (!lp->set_add[i])
			continue;
		put_lset(b, table, &n->sets[i], NFT_MSG_NEWSET);
		if (n->sets[i].methods)
			put_methods(b, table, &n->sets[i]);
	}
	for (size_t i = 0; i < n->nobjs; i++)
		if (lp->obj_add[i])
			put_obj(b, table, &n->objs[i], NFT_MSG_NEWOBJ);
	for (size_t i = 0; i < n->nchains; i++)
		if (lp->chain_add[i])
			put_chain(b, table, n->chains[i], NFT_MSG_NEWCHAIN);
}

/* The management prefixes: whole on a rebuild or after
 * px_nft_set_mgmt(), else untouched. */
static void layer_mgmt(struct batch *b, const char *table,
		       const struct layer_plan *lp, const px_entries_t *mgmt,
		       bool dirty)
{
	const struct layout *n = &lp->new_;

	for (size_t i = 0; i < n->nsets; i++) {
		const struct lset *s = &n->sets[i];
		int k = s->key_len == 4 ? KIND_N4 : KIND_N6;

		if (!s->mgmt || (!lp->set_add[i] && !dirty))
			continue;
		if (!lp->set_add[i])
			put_set_flush(b, table, s->name);
		put_elems(b, NFT_MSG_NEWSETELEM, table, s->name,
			  lp->set_add[i] ? s->id : 0, k, mgmt);
	}
}

/* --- socket ------------------------------------------------------------ */

static ssize_t recv_nl(px_nft_t *nft, void *buf, size_t len, int flags)
{
	struct sockaddr_nl addr;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = &addr,
		.msg_namelen = sizeof(addr),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	n = recvmsg(mnl_socket_get_fd(nft->nl), &msg, flags);
	if (n < 0)
		return -errno;
	if (msg.msg_flags & MSG_TRUNC)
		return -ENOSPC;
	if (addr.nl_pid != 0)
		return 0;
	return n;
}

/* Raise a socket buffer to at least want bytes (as getsockopt counts
 * them).  The FORCE variants pass net.core.[rw]mem_max; we have
 * CAP_NET_ADMIN since we write nftables at all. */
static int grow_buf(px_nft_t *nft, int *cur, int opt, int optforce,
		    size_t want)
{
	int fd = mnl_socket_get_fd(nft->nl);
	socklen_t len = sizeof(*cur);
	int val;

	if (want <= (size_t)*cur)
		return 0;
	if (want > INT_MAX)
		return -EMSGSIZE;
	/* The kernel doubles the value for bookkeeping overhead. */
	val = (int)(want / 2 + 1);
	if (setsockopt(fd, SOL_SOCKET, optforce, &val, sizeof(val)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, opt, &val, sizeof(val)) < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, opt, cur, &len) < 0)
		return -errno;
	return (size_t)*cur >= want ? 0 : -ENOBUFS;
}

static void log_nack(const struct batch *b, const struct nlmsghdr *nlh,
		     const struct nlmsgerr *e)
{
	const char *what = "batch", *obj = "", *detail = NULL;
	uint32_t i = nlh->nlmsg_seq - b->seq0;
	const struct nlattr *attr;
	unsigned int off;

	if (i >= 1 && i <= b->n) {
		what = msg_name(b->info[i - 1].type);
		obj = b->info[i - 1].obj;
	}
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - MNL_NLMSG_HDRLEN;
		mnl_attr_for_each(attr, nlh, off) {
			if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
			    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
				detail = mnl_attr_get_str(attr);
		}
	}
	px_log(PX_LOG_ERR, "nft: kernel refused batch: %s %s: %s%s%s%s", what,
	       obj, strerror(-e->error), detail ? " (" : "",
	       detail ? detail : "", detail ? ")" : "");
}

/* Send the batch in one sendmsg (nfnetlink handles a batch only within
 * one skb) and read every ack.  nfnetlink processes the whole batch
 * before sendmsg returns, so every ack is queued by then and a
 * non-blocking read that finds nothing means nothing more is coming.
 * A refusal with error `expected' is returned without being logged. */
static int batch_commit(px_nft_t *nft, struct batch *b, int expected)
{
	char buf[ACK_BUF];
	size_t acked = 0, nacks = 0;
	bool lost = false;
	int rc = -1, err = 0;
	ssize_t n;

	/* netlink_sendmsg() wants 32 bytes of room past the message. */
	rc = grow_buf(nft, &nft->sndbuf, SO_SNDBUF, SO_SNDBUFFORCE,
		      b->len + 32);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "nft: cannot raise send buffer to %zu: %s",
		       b->len, strerror(-rc));
		goto out;
	}
	rc = grow_buf(nft, &nft->rcvbuf, SO_RCVBUF, SO_RCVBUFFORCE,
		      (b->n + 2) * (size_t)ACK_TRUESIZE);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "nft: cannot raise receive buffer: %s",
		       strerror(-rc));
		goto out;
	}
	n = mnl_socket_sendto(nft->nl, b->buf, b->len);
	if (n < 0) {
		rc = -errno;
		px_log(PX_LOG_ERR, "nft: sending a %zu-byte batch: %s", b->len,
		       strerror(errno));
		goto out;
	}
	while (acked < b->n) {
		const struct nlmsghdr *nlh;
		int len;

		n = recv_nl(nft, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			break;
		if (n == -EINTR)
			continue;
		if (n == -ENOBUFS) {
			lost = true;
			continue;
		}
		if (n < 0) {
			rc = (int)n;
			px_log(PX_LOG_ERR, "nft: reading acks: %s",
			       strerror(-rc));
			goto out;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_pid != nft->portid ||
			    mnl_nlmsg_get_payload_len(nlh) < sizeof(*e) ||
			    nlh->nlmsg_seq - b->seq0 > b->n + 1)
				continue;
			acked++;
			if (e->error == 0)
				continue;
			if (!err)
				err = e->error;
			if (e->error != expected && nacks++ < NACK_LOG_MAX)
				log_nack(b, nlh, e);
		}
	}
	if (nacks > NACK_LOG_MAX)
		px_log(PX_LOG_ERR, "nft: ... and %zu more refusals",
		       nacks - NACK_LOG_MAX);
	if (err) {
		rc = err;
		goto out;
	}
	if (acked < b->n) {
		/* Without a refusal we cannot tell whether it committed. */
		px_log(PX_LOG_ERR, "nft: %zu of %zu acks missing%s; kernel "
		       "state unknown", b->n - acked, b->n,
		       lost ? " (receive buffer overrun)" : "");
		rc = PX_EKERNEL;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* --- requests and dumps ---------------------------------------------- */

/* NFTA_SET_COUNT, the kernel's element count of a set: reported by
 * kernels newer than the uapi headers we build against (6.1). */
#define SET_ATTR_COUNT 20

struct set_info {
	uint32_t flags;
	uint64_t nelems;
	bool has_count;
};

typedef void (*reply_fn)(const struct nlmsghdr *nlh, void *data);

/* Send one request and hand each reply to fn until the ack or the end of
 * the dump.  Replies to other sequence numbers (left over from an
 * earlier, abandoned exchange) are skipped.  -EINTR if the dump was
 * interrupted by a change (its content is then inconsistent). */
static int request(px_nft_t *nft, const struct nlmsghdr *req, char *buf,
		   reply_fn fn, void *data)
{
	bool intr = false;
	int rc = -1;

	if (mnl_socket_sendto(nft->nl, req, req->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		n = recv_nl(nft, buf, DUMP_BUF, 0);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			rc = (int)n;
			goto out;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const void *pl = mnl_nlmsg_get_payload(nlh);
			size_t plen = mnl_nlmsg_get_payload_len(nlh);
			int err = 0;

			if (nlh->nlmsg_seq != req->nlmsg_seq ||
			    nlh->nlmsg_pid != nft->portid)
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				if (plen < sizeof(struct nlmsgerr))
					err = -EBADMSG;
				else
					err = ((const struct nlmsgerr *)pl)
						      ->error;
				rc = err;
				goto out;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				if (plen >= sizeof(err))
					memcpy(&err, pl, sizeof(err));
				rc = err < 0 ? err : 0;
				goto out;
			}
			fn(nlh, data);
		}
	}
out:
	if (rc == 0 && intr)
		rc = -EINTR;
	return rc;
}

static bool is_nft_msg(const struct nlmsghdr *nlh, uint16_t type)
{
	return NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES &&
	       NFNL_MSG_TYPE(nlh->nlmsg_type) == type;
}

static void set_info_fn(const struct nlmsghdr *nlh, void *data)
{
	struct set_info *si = data;
	const struct nlattr *attr;

	if (!is_nft_msg(nlh, NFT_MSG_NEWSET))
		return;
	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			continue;
		if (mnl_attr_get_type(attr) == NFTA_SET_FLAGS) {
			si->flags = ntohl(mnl_attr_get_u32(attr));
		} else if (mnl_attr_get_type(attr) == SET_ATTR_COUNT) {
			si->nelems = ntohl(mnl_attr_get_u32(attr));
			si->has_count = true;
		}
	}
}

static int get_set_info(px_nft_t *nft, const char *kset, char *buf,
			struct set_info *si)
{
	char req[REQ_MAX] = { 0 };
	struct nlmsghdr *nlh;

	memset(si, 0, sizeof(*si));
	nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETSET, NFPROTO_INET,
				    NLM_F_ACK, nft->seq++);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, nft->table);
	mnl_attr_put_strz(nlh, NFTA_SET_NAME, kset);
	return request(nft, nlh, buf, set_info_fn, si);
}

/* Counts elements, ranges once: interval ends are skipped. */
/* One element of a NEWSETELEM message, as the walkers below see it. */
struct elem_view {
	const uint8_t *key;  /* NULL if the element carries none */
	uint16_t key_len;
	bool end;            /* an interval end */
};

typedef void (*elem_fn)(const struct elem_view *e, void *arg);

/* Call fn for every element of a set-element message (a dump's or a
 * get's answer); other messages are ignored. */
static void each_elem(const struct nlmsghdr *nlh, elem_fn fn, void *arg)
{
	const struct nlattr *attr, *elem, *a, *v;

	if (!is_nft_msg(nlh, NFT_MSG_NEWSETELEM))
		return;
	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, attr) {
			struct elem_view e = { NULL, 0, false };

			mnl_attr_for_each_nested(a, elem) {
				if (mnl_attr_get_type(a) == NFTA_SET_ELEM_FLAGS &&
				    mnl_attr_validate(a, MNL_TYPE_U32) == 0 &&
				    ntohl(mnl_attr_get_u32(a)) &
					    NFT_SET_ELEM_INTERVAL_END)
					e.end = true;
				if (mnl_attr_get_type(a) != NFTA_SET_ELEM_KEY)
					continue;
				mnl_attr_for_each_nested(v, a) {
					if (mnl_attr_get_type(v) != NFTA_DATA_VALUE)
						continue;
					e.key = mnl_attr_get_payload(v);
					e.key_len = mnl_attr_get_payload_len(v);
				}
			}
			fn(&e, arg);
		}
	}
}

/* Counts elements, ranges once: interval ends are skipped. */
static void count_elem(const struct elem_view *e, void *arg)
{
	if (!e->end)
		(*(uint64_t *)arg)++;
}

static void count_fn(const struct nlmsghdr *nlh, void *data)
{
	each_elem(nlh, count_elem, data);
}

static int count_dump(px_nft_t *nft, const char *kset, char *buf,
		      uint64_t *count)
{
	char req[REQ_MAX] = { 0 };
	struct nlmsghdr *nlh;

	*count = 0;
	nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETSETELEM, NFPROTO_INET,
				    NLM_F_DUMP, nft->seq++);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, nft->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, kset);
	return request(nft, nlh, buf, count_fn, count);
}

/* A dump restarts its walk of the set for every 32 KB skb, which makes it
 * quadratic: 6 s for a 1M-element hash set, 40 s for 1M ranges.  A hash
 * set holds one element per entry, so where the kernel reports its
 * element count (NFTA_SET_COUNT, 6.18 does) we take that.  Interval sets
 * are dumped: the kernel's count of them is only approximate (see
 * kernel_count_ok()). */
int px_nft_count(px_nft_t *nft, const char *kset, uint64_t *count)
{
	char *buf = xmalloc(DUMP_BUF);
	struct set_info si;
	int rc = -1;

	rc = get_set_info(nft, kset, buf, &si);
	if (rc < 0)
		goto out;
	if (si.has_count && !(si.flags & NFT_SET_INTERVAL)) {
		*count = si.nelems;
		goto out;
	}
	rc = -EINTR;
	for (int i = 0; i < DUMP_RETRIES && rc == -EINTR; i++)
		rc = count_dump(nft, kset, buf, count);
out:
	free(buf);
	return rc;
}

/* The key of the element a GETSETELEM request found. */
struct found {
	bool present;
	uint8_t key[16];
	uint32_t key_len;
};

static void found_elem(const struct elem_view *e, void *arg)
{
	struct found *f = arg;

	if (e->key && e->key_len <= sizeof(f->key)) {
		memcpy(f->key, e->key, e->key_len);
		f->key_len = e->key_len;
	}
	f->present = true;
}

static void found_fn(const struct nlmsghdr *nlh, void *data)
{
	each_elem(nlh, found_elem, data);
}

/* One GETSETELEM (not a dump): the kernel looks the key up with the
 * set's own get operation.  A hash set answers for the exact key; an
 * interval set answers with the start of the range that covers key (with
 * NFT_SET_ELEM_INTERVAL_END: the end element at or above it).  ENOENT
 * is "absent". */
static int get_elem(px_nft_t *nft, const char *kset, const uint8_t *key,
		    uint32_t len, uint32_t flags, char *buf, struct found *f)
{
	char req[REQ_MAX] = { 0 };
	struct nlattr *list;
	struct nlmsghdr *nlh;
	int rc;

	memset(f, 0, sizeof(*f));
	nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETSETELEM, NFPROTO_INET,
				    NLM_F_ACK, nft->seq++);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, nft->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, kset);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	put_elem(nlh, 1, key, len, flags, 0, NULL, 0);
	mnl_attr_nest_end(nlh, list);
	rc = request(nft, nlh, buf, found_fn, f);
	if (rc == -ENOENT) {
		f->present = false;
		rc = 0;
	}
	return rc;
}

int px_nft_has(px_nft_t *nft, const char *kset, const px_entry_t *e,
	       bool *present)
{
	uint32_t len = e->family == 4 ? 4 : 16;
	struct set_info si;
	char *buf = NULL;
	uint8_t last[16];
	struct found f;
	int rc = -1;

	*present = false;
	if ((e->family != 4 && e->family != 6) || !kset[0] ||
	    strlen(kset) >= NFT_SET_MAXNAMELEN) {
		rc = -EINVAL;
		goto out;
	}
	buf = xmalloc(DUMP_BUF);
	if (e->prefix) {
		rc = get_set_info(nft, kset, buf, &si);
		if (rc == 0 && !(si.flags & NFT_SET_INTERVAL))
			rc = -EINVAL;
		if (rc < 0)
			goto out;
	}
	rc = get_elem(nft, kset, e->addr, len, 0, buf, &f);
	if (rc == 0 && !f.present && !e->prefix)
		/* The kernel says ENOENT for a missing set too. */
		rc = get_set_info(nft, kset, buf, &si);
	if (rc < 0 || !f.present || !e->prefix) {
		*present = rc == 0 && f.present;
		goto out;
	}
	/* A prefix: the range must start at its first address and end
	 * right after its last (or run to the top of the address space,
	 * where nft stores no end element). */
	if (f.key_len != len || memcmp(f.key, e->addr, len) != 0)
		goto out;
	px_entry_last(e, last);
	if (!addr_next(last, len)) {
		*present = true;
		goto out;
	}
	rc = get_elem(nft, kset, last, len, NFT_SET_ELEM_INTERVAL_END, buf,
		      &f);
	if (rc == 0)
		*present = f.present && f.key_len == len &&
			   memcmp(f.key, last, len) == 0;
out:
	free(buf);
	return rc;
}

/* --- counters and small sets ------------------------------------------ */

struct counter_list {
	const char *prefix;
	struct counter_val {
		char name[NAME_LEN];
		uint64_t packets;
	} *v;
	size_t n, cap;
};

static void counter_fn(const struct nlmsghdr *nlh, void *data)
{
	struct counter_list *cl = data;
	struct nftnl_obj *o;
	const char *name;

	if (!is_nft_msg(nlh, NFT_MSG_NEWOBJ))
		return;
	o = nftnl_obj_alloc();
	if (!o)
		oom();
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0 ||
	    nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER)
		goto out;
	name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME);
	if (!name || strncmp(name, cl->prefix, strlen(cl->prefix)) != 0 ||
	    strlen(name) >= NAME_LEN)
		goto out;
	if (cl->n == cl->cap) {
		cl->cap = cl->cap ? cl->cap * 2 : 32;
		cl->v = xrealloc(cl->v, cl->cap * sizeof(*cl->v));
	}
	snprintf(cl->v[cl->n].name, NAME_LEN, "%s", name);
	cl->v[cl->n++].packets = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
out:
	nftnl_obj_free(o);
}

int px_nft_counters(px_nft_t *nft, const char *prefix, px_nft_counter_cb cb,
		    void *arg)
{
	struct counter_list cl = { .prefix = prefix };
	char *buf = xmalloc(DUMP_BUF);
	int rc = -EINTR;

	/* Names are collected first: an interrupted dump is taken again,
	 * and cb sees one consistent one. */
	for (int i = 0; i < DUMP_RETRIES && rc == -EINTR; i++) {
		char req[REQ_MAX] = { 0 };
		struct nlmsghdr *nlh;

		cl.n = 0;
		nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETOBJ, NFPROTO_INET,
					    NLM_F_DUMP, nft->seq++);
		mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, nft->table);
		mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
		rc = request(nft, nlh, buf, counter_fn, &cl);
	}
	for (size_t i = 0; rc == 0 && i < cl.n; i++)
		cb(cl.v[i].name, cl.v[i].packets, arg);
	free(cl.v);
	free(buf);
	return rc;
}

struct small_list {
	px_entry_t *out;
	size_t max, n;
};

static void small_elem(const struct elem_view *e, void *arg)
{
	struct small_list *sl = arg;
	px_entry_t x = { 0 };

	if (e->end || !e->key || (e->key_len != 4 && e->key_len != 16) ||
	    sl->n >= sl->max)
		return;
	x.family = e->key_len == 4 ? 4 : 6;
	x.plen = (uint8_t)(e->key_len * 8);
	memcpy(x.addr, e->key, e->key_len);
	sl->out[sl->n++] = x;
}

static void small_fn(const struct nlmsghdr *nlh, void *data)
{
	each_elem(nlh, small_elem, data);
}

int px_nft_list_small(px_nft_t *nft, const char *kset, px_entry_t *out,
		      size_t max, size_t *n)
{
	struct small_list sl = { .out = out, .max = max };
	char *buf = xmalloc(DUMP_BUF);
	int rc = -EINTR;

	for (int i = 0; i < DUMP_RETRIES && rc == -EINTR; i++) {
		char req[REQ_MAX] = { 0 };
		struct nlmsghdr *nlh;

		sl.n = 0;
		nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETSETELEM,
					    NFPROTO_INET, NLM_F_DUMP,
					    nft->seq++);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, nft->table);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, kset);
		rc = request(nft, nlh, buf, small_fn, &sl);
	}
	*n = rc == 0 ? sl.n : 0;
	free(buf);
	return rc;
}

/* --- management prefixes ----------------------------------------------- */

int px_nft_set_mgmt(px_nft_t *nft, const px_entries_t *mgmt)
{
	px_entries_t all;

	px_entries_init(&all);
	for (size_t i = 0; mgmt && i < mgmt->n; i++) {
		px_entry_t e = mgmt->v[i];

		if (e.family != 4 && e.family != 6) {
			px_entries_free(&all);
			return -EINVAL;
		}
		/* Hosts go in as /32 and /128 ranges of the interval set. */
		e.prefix = 1;
		px_entries_push(&all, &e);
	}
	px_entries_normalize(&all);
	/* An interval set refuses overlapping ranges: keep the outermost
	 * prefix (after sorting, a covered one follows its cover). */
	px_entries_free(&nft->mgmt);
	px_entries_init(&nft->mgmt);
	for (size_t i = 0; i < all.n; i++) {
		const px_entry_t *e = &all.v[i];

		if (nft->mgmt.n &&
		    px_entry_overlaps(&nft->mgmt.v[nft->mgmt.n - 1], e))
			continue;
		px_entries_push(&nft->mgmt, e);
	}
	px_entries_free(&all);
	nft->mgmt_dirty = true;
	return 0;
}

/* --- apply ------------------------------------------------------------- */

static void changes_free(struct change *ch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		px_entries_free(&ch[i].own_add);
		px_entries_free(&ch[i].own_del);
	}
	free(ch);
}

/* Work out what each logical set needs: created with all its entries,
 * dropped, or the diff between old and new. */
static size_t plan(const px_policy_t *old, const px_policy_t *new_,
		   struct change **out)
{
	size_t max = new_->nsets + (old ? old->nsets : 0), n = 0;
	struct change *ch = xcalloc(max ? max : 1, sizeof(*ch));

	for (size_t i = 0; i < new_->nsets; i++) {
		const px_set_t *ns = &new_->sets[i];
		const px_set_t *os = old ? px_policy_find(old, ns->name) : NULL;
		struct change *c = &ch[n++];

		c->name = ns->name;
		c->now = &ns->entries;
		px_entries_init(&c->own_add);
		px_entries_init(&c->own_del);
		count_kinds(&ns->entries, c->nnew);
		if (!os) {
			c->create = true;
			c->add = &ns->entries;
		} else {
			px_entries_diff(&os->entries, &ns->entries,
					&c->own_add, &c->own_del);
			c->add = &c->own_add;
			c->del = &c->own_del;
		}
		count_kinds(c->add, c->nadd);
		count_kinds(c->del, c->ndel);
	}
	for (size_t i = 0; old && i < old->nsets; i++) {
		const px_set_t *os = &old->sets[i];
		struct change *c;

		if (px_policy_find(new_, os->name))
			continue;
		c = &ch[n++];
		c->name = os->name;
		c->drop = true;
		px_entries_init(&c->own_add);
		px_entries_init(&c->own_del);
		count_kinds(&os->entries, c->ndel);
	}
	*out = ch;
	return n;
}

/* The batch, in an order the kernel accepts within one transaction:
 * what the old rules reference goes only after they are flushed, and
 * what the new rules reference exists before they come. */
static void build(px_nft_t *nft, struct batch *b, bool rebuild,
		  struct change *ch, size_t nch, struct layer_plan *lp)
{
	char kset[KSET_NAME_MAX + 1];

	if (rebuild) {
		/* Adding first makes the delete succeed whether or not the
		 * table exists; all three commit together. */
		put_table(b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		put_table(b, nft->table, NFT_MSG_DELTABLE, 0);
		put_table(b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	}
	layer_delete(b, nft->table, lp);
	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < KIND_COUNT; k++) {
			if (ch[i].drop)
				put_set(b, nft->table, ch[i].name, k,
					NFT_MSG_DELSET, 0);
			if (!ch[i].create)
				continue;
			ch[i].set_id[k] = b->next_set_id++;
			put_set(b, nft->table, ch[i].name, k, NFT_MSG_NEWSET,
				ch[i].set_id[k]);
		}
	}
	if (rebuild)
		build_chains(b, nft->table);
	layer_create(b, nft->table, lp);
	layer_mgmt(b, nft->table, lp, &nft->mgmt, nft->mgmt_dirty);
	/* Deletions before additions: a range replaced by one with the same
	 * start must leave the tree before its successor goes in. */
	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < KIND_COUNT; k++) {
			if (ch[i].drop || !ch[i].ndel[k])
				continue;
			kset_name(kset, ch[i].name, k);
			put_elems(b, NFT_MSG_DELSETELEM, nft->table, kset, 0, k,
				  ch[i].del);
		}
	}
	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < KIND_COUNT; k++) {
			if (!ch[i].nadd[k])
				continue;
			kset_name(kset, ch[i].name, k);
			put_elems(b, NFT_MSG_NEWSETELEM, nft->table, kset,
				  ch[i].set_id[k], k, ch[i].add);
		}
	}
	if (lp->rules)
		put_rules(b, nft->table, &lp->new_);
	batch_finish(b);
}

/* Does the kernel's own count (NFTA_SET_COUNT) match the entries of
 * kind k in s?  A hash set counts its elements.  An interval set holds a
 * start and an end per range (a start alone for an open one) and reports
 * half that total, so one open range leaves the figure off by a half
 * that the kernel rounds; lost elements show as a difference of one or
 * more whole units. */
static bool kernel_count_ok(const px_entries_t *s, int k, uint64_t count)
{
	size_t first, end;
	uint8_t last[16];
	uint64_t total;

	kind_span(s, k, &first, &end);
	if (!kinds[k].interval)
		return count == end - first;
	if (first == end)
		return count == 0;
	px_entry_last(&s->v[end - 1], last);
	total = 2 * (uint64_t)(end - first) -
		!addr_next(last, kinds[k].key_len);
	return 2 * count + 1 >= total && 2 * count <= total + 1;
}

/* A message whose element list wrapped its 16-bit length is accepted
 * with most elements missing: after bulk loads check what went in.  The
 * kernel's count is free; a dump is quadratic in the set size (40 s for
 * 1M ranges), so it is the fallback for kernels without the count. */
static int verify(px_nft_t *nft, const struct change *ch, size_t nch)
{
	char kset[KSET_NAME_MAX + 1];
	char *buf = xmalloc(DUMP_BUF);
	struct set_info si;
	uint64_t have = 0;
	bool ok = false;
	int rc = -1;

	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < KIND_COUNT; k++) {
			if (ch[i].nadd[k] <= VERIFY_MIN)
				continue;
			kset_name(kset, ch[i].name, k);
			rc = get_set_info(nft, kset, buf, &si);
			if (rc == 0 && si.has_count) {
				have = si.nelems;
				ok = kernel_count_ok(ch[i].now, k, have);
			} else if (rc == 0) {
				rc = px_nft_count(nft, kset, &have);
				ok = have == ch[i].nnew[k];
			}
			if (rc < 0) {
				px_log(PX_LOG_ERR, "nft: counting %s after "
				       "load: %s", kset, strerror(-rc));
				rc = PX_EKERNEL;
				goto out;
			}
			if (!ok) {
				px_log(PX_LOG_ERR, "nft: %s counts %llu, "
				       "expected %zu entries", kset,
				       (unsigned long long)have,
				       ch[i].nnew[k]);
				rc = PX_EKERNEL;
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int px_nft_apply(px_nft_t *nft, const px_policy_t *old,
		 const px_policy_t *new_, px_nft_stats_t *stats)
{
	struct nftnl_udata_buf *ud = NULL;
	uint64_t t0 = now_usec(), t1;
	struct layer_plan lp = { 0 };
	struct change *ch = NULL;
	struct batch b = { 0 };
	size_t nch = 0;
	int rc = -1;

	rc = layer_plan(nft->table, old, new_, nft->pressure_applied,
			nft->pressure, &lp);
	if (rc < 0)
		goto out;
	nch = plan(old, new_, &ch);
	ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS,
					NFTNL_SET_ELEM_F_INTERVAL_OPEN))
		oom();
	batch_init(&b, nft->seq);
	b.open_ud = nftnl_udata_buf_data(ud);
	b.open_udlen = nftnl_udata_buf_len(ud);
	build(nft, &b, old == NULL, ch, nch, &lp);
	nft->seq += (uint32_t)b.n + 2;
	rc = b.n ? batch_commit(nft, &b, 0) : 0;
	if (rc == 0) {
		nft->mgmt_dirty = false;
		nft->pressure_applied = nft->pressure;
	}
	t1 = now_usec();
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		for (size_t i = 0; i < nch; i++) {
			for (int k = 0; k < KIND_COUNT; k++) {
				stats->elems_added += ch[i].nadd[k];
				stats->elems_deleted += ch[i].ndel[k];
			}
		}
		stats->messages = (uint32_t)b.n;
		stats->batch_bytes = b.len;
		stats->usec = t1 - t0;
	}
	if (rc < 0)
		goto out;
	rc = verify(nft, ch, nch);
out:
	batch_free(&b);
	if (ud)
		nftnl_udata_buf_free(ud);
	changes_free(ch, nch);
	layer_plan_free(&lp);
	return rc;
}

int px_nft_elem(px_nft_t *nft, const char *kset, int family,
		const uint8_t *addr, uint64_t timeout_ms, bool add)
{
	uint16_t type = add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM;
	int expected = add ? -EEXIST : -ENOENT;
	struct batch b = { 0 };
	struct elem_msg m;
	int rc = -1;

	if ((family != 4 && family != 6) || !kset[0] ||
	    strlen(kset) >= NFT_SET_MAXNAMELEN) {
		rc = -EINVAL;
		goto out;
	}
	batch_init(&b, nft->seq);
	elem_msg_start(&b, &m, type, nft->table, kset, 0, 1);
	put_elem(m.nlh, 1, addr, family == 4 ? 4 : 16, 0,
		 add ? timeout_ms : 0, NULL, 0);
	elem_msg_end(&b, &m);
	batch_finish(&b);
	nft->seq += (uint32_t)b.n + 2;
	rc = batch_commit(nft, &b, expected);
	if (rc == expected)
		rc = 0;
out:
	batch_free(&b);
	return rc;
}

int px_nft_delete_table(px_nft_t *nft)
{
	struct batch b;
	int rc = -1;

	batch_init(&b, nft->seq);
	put_table(&b, nft->table, NFT_MSG_DELTABLE, 0);
	batch_finish(&b);
	nft->seq += (uint32_t)b.n + 2;
	rc = batch_commit(nft, &b, -ENOENT);
	if (rc == -ENOENT)
		rc = 0;
	batch_free(&b);
	return rc;
}

/* --- open / close ------------------------------------------------------ */

int px_nft_open(px_nft_t **out, const char *table)
{
	px_nft_t *nft = NULL;
	socklen_t len;
	int one = 1, fd, rc = -1;

	*out = NULL;
	if (!table || !table[0] || strlen(table) >= NFT_TABLE_MAXNAMELEN) {
		rc = -EINVAL;
		goto out;
	}
	nft = xcalloc(1, sizeof(*nft));
	snprintf(nft->table, sizeof(nft->table), "%s", table);
	px_entries_init(&nft->mgmt);
	nft->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nft->nl) {
		rc = -errno;
		goto out;
	}
	if (mnl_socket_bind(nft->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out;
	}
	nft->portid = mnl_socket_get_portid(nft->nl);
	/* Refusals would otherwise echo the whole refused message, up to
	 * 64 KB each, into the receive buffer. */
	if (mnl_socket_setsockopt(nft->nl, NETLINK_CAP_ACK, &one,
				  sizeof(one)) < 0) {
		rc = -errno;
		goto out;
	}
	/* Optional: only adds a reason string to refusals. */
	mnl_socket_setsockopt(nft->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	fd = mnl_socket_get_fd(nft->nl);
	len = sizeof(nft->sndbuf);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &nft->sndbuf, &len) < 0) {
		rc = -errno;
		goto out;
	}
	len = sizeof(nft->rcvbuf);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &nft->rcvbuf, &len) < 0) {
		rc = -errno;
		goto out;
	}
	/* Distinct from the sequence numbers of earlier runs, so replies to
	 * a previous process on a reused port id are not taken for ours. */
	nft->seq = (uint32_t)time(NULL);
	*out = nft;
	nft = NULL;
	rc = 0;
out:
	px_nft_close(nft);
	return rc;
}

void px_nft_close(px_nft_t *nft)
{
	if (!nft)
		return;
	if (nft->nl)
		mnl_socket_close(nft->nl);
	px_entries_free(&nft->mgmt);
	free(nft);
}

int px_nft_set_pressure(px_nft_t *nft, bool on)
{
	nft->pressure = on;
	return 0;
}

/* --- the fail-closed guard ---------------------------------------------- */

static void no_reply(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
}

int px_nft_table_exists(px_nft_t *nft, bool *exists)
{
	char req[REQ_MAX] = { 0 };
	char *buf = xmalloc(DUMP_BUF);
	struct nlmsghdr *nlh;
	int rc;

	nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETTABLE, NFPROTO_INET,
				    NLM_F_ACK, nft->seq++);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, nft->table);
	rc = request(nft, nlh, buf, no_reply, NULL);
	free(buf);
	if (rc == 0 || rc == -ENOENT) {
		*exists = rc == 0;
		rc = 0;
	}
	return rc;
}

/* `meta nfproto F  ip(6) saddr|daddr & mask == prefix  accept' */
static void put_allow_prefix(struct batch *b, const char *table,
			     const char *chain, const px_entry_t *e, bool src)
{
	struct nftnl_rule *r = rule_new(table);

	m_nfproto(r, e->family);
	m_addr(r, e->family, src, e->prefix ? e->plen : 0, NFT_REG_1);
	x_cmp(r, NFT_CMP_EQ, e->addr, e->family == 4 ? 4 : 16);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, chain);
}

/* A base chain of the guard: policy drop. */
static void put_guard_chain(struct batch *b, const char *table,
			    const char *name, uint32_t hook)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		oom();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_DROP);
	nlh = msg_start(b, OBJ_MSG_MAX, NFT_MSG_NEWCHAIN, NLM_F_CREATE, name);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	msg_end(b, nlh);
	nftnl_chain_free(c);
}

int px_nft_install_guard(px_nft_t *nft, const px_entries_t *extra)
{
	uint32_t lo = LOOPBACK_IFINDEX;
	uint8_t reply = 1; /* IP_CT_DIR_REPLY */
	struct nftnl_rule *r;
	struct batch b = { 0 };
	size_t i;
	int rc;

	batch_init(&b, nft->seq);
	/* Create-then-delete makes the delete safe whether or not a table
	 * is there; the guard replaces it in the same atomic batch. */
	put_table(&b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	put_table(&b, nft->table, NFT_MSG_DELTABLE, 0);
	put_table(&b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	put_guard_chain(&b, nft->table, "input", NF_INET_LOCAL_IN);
	put_guard_chain(&b, nft->table, "forward", NF_INET_FORWARD);

	r = rule_new(nft->table);
	x_meta(r, NFT_META_IIF);
	x_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(&b, r, "input");
	/* Replies to the member's own connections (the store, when it is
	 * a name rather than an address in extra). */
	r = rule_new(nft->table);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
		  NF_CT_STATE_BIT(IP_CT_RELATED));
	x_ct(r, NFT_CT_DIRECTION);
	x_cmp(r, NFT_CMP_EQ, &reply, sizeof(reply));
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(&b, r, "input");
	/* IPv6 neighbour discovery: without it no IPv6 peer is reachable,
	 * the management network included. */
	r = rule_new(nft->table);
	m_nfproto(r, 6);
	m_l4proto(r, IPPROTO_ICMPV6);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(&b, r, "input");
	for (i = 0; i < nft->mgmt.n + (extra ? extra->n : 0); i++) {
		const px_entry_t *e = i < nft->mgmt.n ? &nft->mgmt.v[i] :
				      &extra->v[i - nft->mgmt.n];

		if (e->family != 4 && e->family != 6)
			continue;
		put_allow_prefix(&b, nft->table, "input", e, true);
		put_allow_prefix(&b, nft->table, "forward", e, true);
		put_allow_prefix(&b, nft->table, "forward", e, false);
	}
	batch_finish(&b);
	nft->seq += (uint32_t)b.n + 2;
	rc = batch_commit(nft, &b, 0);
	batch_free(&b);
	return rc;
}
