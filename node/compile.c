/* compile.c - the rule compiler (compile.h): the member's table encoded
 * into one netlink batch.  Tables, sets, chains and rules go through
 * libnftnl objects.  Set elements are written with libmnl directly: a
 * bulk load carries a million of them, and a libnftnl object each (a
 * malloc, a list insert and a free) took 90 ms for 1M hosts where this
 * takes 20 ms.  What the layer holds is decided in layout.c; nft.c sends
 * the batch. */
#include <endian.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>
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

#include "compile.h"
#include "fwlog.h"
#include "px.h"
#include "vocab.h"
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
/* Initial batch buffer; it doubles as needed (a 1M-host load is ~20 MB). */
#define BATCH_INIT (64 * 1024)
/* nftables' BYTEORDER_BIG_ENDIAN, kept in the set userdata as nft does so
 * that `nft list` prints the keys. */
#define NFT_BYTEORDER_HOST_ENDIAN 1
#define NFT_BYTEORDER_BIG_ENDIAN 2
static void oom(void)
{
	px_log(PX_LOG_ERR, "nft: out of memory");
	abort();
}
/* --- batch buffer ------------------------------------------------------ */

/* Messages are written once, front to back, into zeroed memory: libmnl
 * 1.0.4 leaves attribute padding unwritten. */
static void batch_reserve(px_batch_t *b, size_t n)
{
	size_t old = b->cap;

	if (b->cap - b->len >= n)
		return;
	while (b->cap - b->len < n)
		b->cap *= 2;
	b->buf = xrealloc(b->buf, b->cap);
	memset(b->buf + old, 0, b->cap - old);
}

void px_batch_init(px_batch_t *b, uint32_t seq0)
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

void px_batch_free(px_batch_t *b)
{
	free(b->buf);
	free(b->info);
}

/* Start a message of at most max bytes; the caller fills it and calls
 * px_batch_msg_end() before starting the next. */
struct nlmsghdr *px_batch_msg_start(px_batch_t *b, size_t max, uint16_t type,
				    uint16_t flags, const char *obj)
{
	px_msginfo_t *mi;

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

void px_batch_msg_end(px_batch_t *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

void px_batch_finish(px_batch_t *b)
{
	struct nlmsghdr *nlh;

	batch_reserve(b, MNL_NLMSG_HDRLEN + sizeof(struct nfgenmsg));
	nlh = nftnl_batch_end(b->buf + b->len, b->seq0 + (uint32_t)b->n + 1);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* --- objects ----------------------------------------------------------- */

void px_compile_table(px_batch_t *b, const char *table, uint16_t type,
		      uint16_t flags)
{
	struct nftnl_table *t;
	struct nlmsghdr *nlh;

	t = nftnl_table_alloc();
	if (!t)
		oom();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, type, flags, table);
	nftnl_table_nlmsg_build_payload(nlh, t);
	px_batch_msg_end(b, nlh);
	nftnl_table_free(t);
}

void px_compile_eset(px_batch_t *b, const char *table, const char *set,
		     int k, uint16_t type, uint32_t id, uint32_t size)
{
	struct nftnl_udata_buf *ud = NULL;
	char name[PX_KSET_NAME_MAX + 1];
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	px_kset_name(name, set, k);
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
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, px_kinds[k].flags);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, px_kinds[k].key_type);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, px_kinds[k].key_len);
		nftnl_set_set_u32(s, NFTNL_SET_ID, id);
		if (size)
			nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, size);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA,
				   nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
	}
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, type,
		type == NFT_MSG_NEWSET ? NLM_F_CREATE : 0, name);
	nftnl_set_nlmsg_build_payload(nlh, s);
	px_batch_msg_end(b, nlh);
	nftnl_set_free(s);
	if (ud)
		nftnl_udata_buf_free(ud);
}

/* `add chain' of a filter base chain: creating one that exists with the
 * same hook and priority changes nothing. */
static void put_base_chain(px_batch_t *b, const char *table,
			   const char *name, uint32_t hook, int32_t prio)
{
	struct nftnl_chain *c;
	struct nlmsghdr *nlh;

	c = nftnl_chain_alloc();
	if (!c)
		oom();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, NFT_MSG_NEWCHAIN, NLM_F_CREATE,
				 name);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	px_batch_msg_end(b, nlh);
	nftnl_chain_free(c);
}

/* The base chains.  Rules will be added here; the chains exist from the
 * first apply so that they can be referenced. */
void px_compile_base_chains(px_batch_t *b, const char *table)
{
	static const struct {
		const char *name;
		uint32_t hook;
		int32_t prio;
	} base[] = {
		{ PX_CHAIN_INPUT, NF_INET_LOCAL_IN, 0 },
		{ PX_CHAIN_FORWARD, NF_INET_FORWARD, 0 },
		/* Attack protection (issue 12): before defragmentation
		 * (-400), so it sees fragments as they arrive. */
		{ PX_CHAIN_PREROUTING, NF_INET_PRE_ROUTING, PX_PREROUTING_PRIO },
		/* TCP checksum exclusions: notrack before conntrack. */
		{ PX_CHAIN_RAW, NF_INET_PRE_ROUTING, PX_RAW_PRIO },
	};

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		put_base_chain(b, table, base[i].name, base[i].hook,
			       base[i].prio);
	put_base_chain(b, table, PX_CHAIN_INSPECT, NF_INET_FORWARD,
		       PX_INSPECT_PRIO);
}


void px_compile_elem(struct nlmsghdr *nlh, uint16_t idx, const uint8_t *key,
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

/* Start a message for at most max_elems elements. */
void px_elem_msg_start(px_batch_t *b, px_elem_msg_t *m, uint16_t type,
		       const char *table, const char *kset, uint32_t id,
			   size_t max_elems)
{
	m->nlh = px_batch_msg_start(b, MSG_OVERHEAD + max_elems * ELEM_MAX, type,
		type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, kset);
	mnl_attr_put_strz(m->nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(m->nlh, NFTA_SET_ELEM_LIST_SET, kset);
	if (id)
		mnl_attr_put_u32(m->nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(id));
	m->list = mnl_attr_nest_start(m->nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	m->nelems = 0;
}

void px_elem_msg_end(px_batch_t *b, px_elem_msg_t *m)
{
	mnl_attr_nest_end(m->nlh, m->list);
	px_batch_msg_end(b, m->nlh);
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
void px_compile_elems(px_batch_t *b, uint16_t type, const char *table,
		      const char *kset, uint32_t id, int k,
		      const px_entries_t *s)
{
	const px_kind_t *kd = &px_kinds[k];
	px_elem_msg_t m = { 0 };
	size_t first, end;

	px_kind_span(s, k, &first, &end);
	for (size_t i = first; i < end; i++) {
		const px_entry_t *e = &s->v[i];
		uint8_t last[16];
		bool open = false;
		int need = 1;

		if (kd->interval) {
			px_entry_last(e, last);
			open = !px_addr_next(last, kd->key_len);
			need = open ? 1 : 2;
		}
		if (m.nlh && m.nelems + need > ELEMS_PER_MSG)
			px_elem_msg_end(b, &m);
		if (!m.nlh)
			px_elem_msg_start(b, &m, type, table, kset, id,
					  ELEMS_PER_MSG);
		px_compile_elem(m.nlh, ++m.nelems, e->addr, kd->key_len, 0, 0,
				open ? b->open_ud : NULL, b->open_udlen);
		if (kd->interval && !open)
			px_compile_elem(m.nlh, ++m.nelems, last, kd->key_len,
					NFT_SET_ELEM_INTERVAL_END, 0, NULL, 0);
	}
	if (m.nlh)
		px_elem_msg_end(b, &m);
}

/* One rule message: at most ~20 expressions of at most ~200 bytes (a
 * dynset with its nested limit is the largest). */
#define RULE_MSG_MAX 8192

/* Every dynamic set holds at most this many keys: the conntrack table
 * of this machine holds 262,144 entries and a source is counted only
 * through connections it has there.  A full set stops counting new
 * sources (the kernel skips the rule); it never blocks anyone. */
#define DYN_SET_SIZE 262144

#define HTTP_PORT 80
#define LOOPBACK_IFINDEX 1  /* "lo" in every network namespace */

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

/* `add @set { key [timeout T] }' or `update @set { key }' with the key
 * at sreg and an optional per-element expression (taken over); with
 * one, the rule goes on only when that expression matches.  timeout_ms
 * 0: the set's own. */
static void x_dynset_timeout(struct nftnl_rule *r, uint32_t op,
			     const char *set, uint32_t sreg,
			     uint64_t timeout_ms, struct nftnl_expr *elem_expr)
{
	struct nftnl_expr *e = expr_new("dynset");

	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, op);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	if (timeout_ms)
		nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
	if (elem_expr)
		nftnl_expr_add_expr(e, NFTNL_EXPR_DYNSET_EXPRESSIONS,
				    elem_expr);
	nftnl_rule_add_expr(r, e);
}

static void x_dynset(struct nftnl_rule *r, uint32_t op, const char *set,
		     uint32_t sreg, struct nftnl_expr *elem_expr)
{
	x_dynset_timeout(r, op, set, sreg, 0, elem_expr);
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
	char obj[PX_NFT_NAME_LEN];

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
static bool log_flood(const px_layout_t *l)
{
	return l->p->limits.value[PX_LIM_LOG_FLOOD_BLOCKS] != 0;
}

/* accept, drop, return, jump/goto chain, reject with tcp reset. */
static void x_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e;

	if (verdict == PX_VERDICT_NONE)
		return;
	if (verdict == PX_VERDICT_RESET) {
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
	x_payload(r, NFT_PAYLOAD_INNER_HEADER, 0, sizeof(px_http_methods[0]),
		  NFT_REG_1);
	x_lookup(r, PX_SET_HTTP_METHODS, false);
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
static void rule_put(px_batch_t *b, struct nftnl_rule *r, const char *chain)
{
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = px_batch_msg_start(b, RULE_MSG_MAX, NFT_MSG_NEWRULE,
				 NLM_F_CREATE | NLM_F_APPEND, chain);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	if (nlh->nlmsg_len > RULE_MSG_MAX) {
		/* Past the reservation: a bug in the rule builders. */
		px_log(PX_LOG_ERR, "nft: rule of %u bytes", nlh->nlmsg_len);
		abort();
	}
	px_batch_msg_end(b, nlh);
	nftnl_rule_free(r);
}

/* A rule of one match and one verdict, e.g. `jump guard'. */
static void put_verdict_rule(px_batch_t *b, const char *table,
			     const char *chain, int verdict, const char *to)
{
	struct nftnl_rule *r = rule_new(table);

	x_verdict(r, verdict, to);
	rule_put(b, r, chain);
}

static void trigger(struct nftnl_rule *r, px_trigger_t t)
{
	uint32_t mark = PX_CT_MARK_COUNTED, keep = ~mark, zero = 0;

	switch (t) {
	case PX_TRIG_ASSURED:
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
	case PX_TRIG_NEW:
		m_l4proto(r, IPPROTO_TCP);
		m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
		break;
	case PX_TRIG_HTTP:
		m_http_request(r);
		break;
	}
}

/* Source over the quota: enforce adds it to the block set and refuses
 * the packet (counted in blocked_Q and logged if refused); observe only
 * notes it in obs_Q4/6 and counts would_Q.  reg1 holds the (masked)
 * source.  rule: the rule whose session quota this is, NULL for a
 * per-source quota. */
static void over_quota(struct nftnl_rule *r, const px_layout_t *l,
		       px_limit_id_t id, int family, const char *block,
		       int verdict, const char *rule)
{
	const char *qname = px_limit_defs[id].name;
	char set[PX_NFT_NAME_LEN];

	if (l->p->limits.mode[id] == PX_MODE_OBSERVE) {
		snprintf(set, sizeof(set), "%s%s%d", PX_SET_OBS, qname, family);
		x_dynset(r, NFT_DYNSET_OP_UPDATE, set, NFT_REG_1, NULL);
		x_counter(r, PX_CTR_WOULD, qname);
		return;
	}
	if (block) {
		snprintf(set, sizeof(set), "%s%d", block, family);
		x_dynset(r, NFT_DYNSET_OP_ADD, set, NFT_REG_1, NULL);
	}
	if (verdict != PX_VERDICT_NONE)
		x_counter(r, PX_CTR_BLOCKED, qname);
	if (verdict != PX_VERDICT_NONE && log_flood(l))
		x_log(r, rule ? PX_FWLOG_PFX_RULE_RATE : PX_FWLOG_PFX_QUOTA,
		      rule ? rule : qname);
	x_verdict(r, verdict, NULL);
}

/* One quota of one tier for one family (chain tier_T). */
static void put_quota_rule(px_batch_t *b, const char *table,
			   const px_layout_t *l, const px_ltier_t *t,
			   const px_quota_rule_t *q, int family)
{
	uint64_t v = t->value[q->id];
	struct nftnl_rule *r = rule_new(table);
	char chain[PX_NFT_NAME_LEN], meter[PX_NFT_NAME_LEN];

	snprintf(chain, sizeof(chain), "%s%s", PX_CHAIN_TIER, t->name);
	snprintf(meter, sizeof(meter), "%s_%s%d", t->name, q->meter, family);
	/* The family first: the trigger may set the connection's mark,
	 * which must not happen in the rule of the other family. */
	m_nfproto(r, family);
	trigger(r, q->trigger);
	m_addr(r, family, true, family == 6 ? l->v6bits : 0, NFT_REG_1);
	x_dynset(r, q->ct_count ? NFT_DYNSET_OP_ADD : NFT_DYNSET_OP_UPDATE,
		 meter, NFT_REG_1, q->ct_count ? x_connlimit(v) : x_limit(v));
	if (q->note && l->p->limits.mode[q->id] != PX_MODE_OBSERVE) {
		char note[PX_NFT_NAME_LEN];

		snprintf(note, sizeof(note), "%s%d", q->note, family);
		x_dynset(r, NFT_DYNSET_OP_UPDATE, note, NFT_REG_1, NULL);
	}
	over_quota(r, l, q->id, family, q->block, q->verdict, NULL);
	rule_put(b, r, chain);
}

static void put_pressure(px_batch_t *b, const char *table,
			 const px_layout_t *l);

/* chain guard: what is never limited, refusals of blocked sources, then
 * the tier of the source. */
static void put_guard(px_batch_t *b, const char *table,
		      const px_layout_t *l)
{
	const px_limits_t *lim = &l->p->limits;
	uint32_t lo = LOOPBACK_IFINDEX, local = RTN_LOCAL;
	char set[PX_NFT_NAME_LEN], chain[PX_NFT_NAME_LEN];
	struct nftnl_rule *r;
	struct nftnl_expr *e;

	r = rule_new(table);
	x_meta(r, NFT_META_IIF);
	x_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
	x_verdict(r, NFT_RETURN, NULL);
	rule_put(b, r, PX_CHAIN_GUARD);
	for (int f = 4; f <= 6; f += 2) {
		r = rule_new(table);
		m_nfproto(r, f);
		m_addr(r, f, true, 0, NFT_REG_1);
		snprintf(set, sizeof(set), "%s%d", PX_SET_MGMT, f);
		x_lookup(r, set, false);
		x_verdict(r, NFT_RETURN, NULL);
		rule_put(b, r, PX_CHAIN_GUARD);
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
	rule_put(b, r, PX_CHAIN_GUARD);
	/* `meta l4proto tcp ct state invalid drop': TCP to the member
	 * with a bad checksum (conntrack marks it invalid,
	 * docs/protection.md) or of no connection.  Forward dropped its
	 * invalid packets before the jump; management sources are left
	 * alone here as everywhere (after a conntrack flush, with
	 * nf_conntrack_tcp_loose=0, an operator's session would be invalid
	 * mid-stream), and the kernel's TCP drops their bad checksums. */
	r = rule_new(table);
	m_l4proto(r, IPPROTO_TCP);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_INVALID_BIT);
	x_verdict(r, NF_DROP, NULL);
	rule_put(b, r, PX_CHAIN_GUARD);

	/* A quota in observe mode refuses nobody, even a source still in
	 * its block set from before the switch. */
	for (size_t i = 0; i < px_nblock_sets; i++) {
		const px_block_set_t *bs = &px_block_sets[i];

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
			x_counter(r, PX_CTR_BLOCKED, px_limit_defs[bs->id].name);
			if (log_flood(l))
				x_log(r, PX_FWLOG_PFX_QUOTA,
				      px_limit_defs[bs->id].name);
			x_verdict(r, PX_VERDICT_RESET, NULL);
			rule_put(b, r, PX_CHAIN_GUARD);
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
			snprintf(set, sizeof(set), "%s%d", PX_SET_HTTP_BLOCK, f);
			x_lookup(r, set, false);
			x_counter(r, PX_CTR_BLOCKED,
				  px_limit_defs[PX_LIM_HTTP_REQUEST_RATE].name);
			if (log_flood(l))
				x_log(r, PX_FWLOG_PFX_QUOTA, px_limit_defs[
				      PX_LIM_HTTP_REQUEST_RATE].name);
			x_verdict(r, NF_DROP, NULL);
			rule_put(b, r, PX_CHAIN_GUARD);
		}
	}
	put_pressure(b, table, l);
	for (size_t i = 0; i < l->ndisp; i++) {
		snprintf(chain, sizeof(chain), "%s%s", PX_CHAIN_TIER,
			 l->tiers[l->tier_of[i]].name);
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			r = rule_new(table);
			m_nfproto(r, px_kinds[k].family);
			m_addr(r, px_kinds[k].family, true, 0, NFT_REG_1);
			px_kset_name(set, l->order[i]->name, k);
			x_lookup(r, set, false);
			x_verdict(r, NFT_GOTO, chain);
			rule_put(b, r, PX_CHAIN_GUARD);
		}
	}
	put_verdict_rule(b, table, PX_CHAIN_GUARD, NFT_GOTO,
			 PX_CHAIN_TIER PX_TIER_DEFAULT);
}

/* Resource protection at its extreme (px_nft_set_pressure): guard jumps
 * here before the tiers; members of any exception set return, every
 * other new connection is dropped. */
static void put_pressure(px_batch_t *b, const char *table,
			 const px_layout_t *l)
{
	const px_policy_t *p = l->p;
	char set[PX_NFT_NAME_LEN];
	struct nftnl_rule *r;

	if (!l->pressure)
		return;
	put_verdict_rule(b, table, PX_CHAIN_GUARD, NFT_JUMP,
			 PX_CHAIN_PRESSURE);
	for (size_t i = 0; i < p->nsets; i++) {
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			r = rule_new(table);
			m_nfproto(r, px_kinds[k].family);
			m_addr(r, px_kinds[k].family, true, 0, NFT_REG_1);
			px_kset_name(set, p->sets[i].name, k);
			x_lookup(r, set, false);
			x_verdict(r, NFT_RETURN, NULL);
			rule_put(b, r, PX_CHAIN_PRESSURE);
		}
	}
	r = rule_new(table);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
	x_verdict(r, NF_DROP, NULL);
	rule_put(b, r, PX_CHAIN_PRESSURE);
}

/* A published service: new connections to A:P over its limit are
 * refused, except from its exempt set (which then meet the rules like
 * everybody else: a `return' would not fit one chain, an `accept' would
 * skip the deny rules). */
static void put_service(px_batch_t *b, const char *table,
			const px_layout_t *l, const px_service_t *sv)
{
	int f = sv->dst.family;
	uint32_t alen = f == 4 ? 4 : 16;
	char set[PX_NFT_NAME_LEN];
	struct nftnl_rule *r = rule_new(table);

	m_nfproto(r, f);
	m_l4proto(r, IPPROTO_TCP);
	m_daddr(r, &sv->dst);
	m_dport(r, sv->port);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
	for (int k = 0; sv->exempt_set[0] && k < PX_KIND_COUNT; k++) {
		if (px_kinds[k].family != f)
			continue;
		m_addr(r, f, true, 0, NFT_REG_1);
		px_kset_name(set, sv->exempt_set, k);
		x_lookup(r, set, true);
	}
	/* The key `ip daddr . tcp dport': one 32-bit register per field. */
	m_addr(r, f, false, 0, NFT_REG32_00);
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
		  NFT_REG32_00 + alen / 4);
	snprintf(set, sizeof(set), "%s%s", PX_SET_SERVICE, sv->name);
	x_dynset(r, NFT_DYNSET_OP_ADD, set, NFT_REG32_00,
		 x_connlimit(sv->limit));
	x_counter(r, PX_CTR_SERVICE, sv->name);
	if (log_flood(l))
		x_log(r, PX_FWLOG_PFX_SERVICE, sv->name);
	x_verdict(r, PX_VERDICT_RESET, NULL);
	rule_put(b, r, PX_CHAIN_FORWARD);
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
static void put_rule(px_batch_t *b, const char *table,
		     const px_layout_t *l, const px_rule_t *ru)
{
	bool limited = px_rule_nontcp_limited(ru);
	bool observe = l->p->limits.mode[PX_LIM_NONTCP_SESSION_RATE] ==
		       PX_MODE_OBSERVE;
	int families[2], nfam = 0;
	char obj[PX_NFT_NAME_LEN];

	snprintf(obj, sizeof(obj), "%s%s", PX_CTR_RULE, ru->name);
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
			for (int k = 0; k < PX_KIND_COUNT; k++) {
				char kset[PX_KSET_NAME_MAX + 1];
				const char *src = NULL;
				struct nftnl_rule *r;

				if (ru->src_set[0]) {
					if (px_kinds[k].family != f)
						continue;
					px_kset_name(kset, ru->src_set, k);
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
					rule_put(b, r, PX_CHAIN_FORWARD);
				}
				r = rule_match(table, ru, f, l4s[li], src);
				x_objref(r, NFT_OBJECT_COUNTER, obj);
				if (ru->action != PX_ALLOW)
					x_log(r, PX_FWLOG_PFX_DENY, ru->name);
				x_verdict(r, ru->action == PX_ALLOW ? NF_ACCEPT :
					  NF_DROP, NULL);
				rule_put(b, r, PX_CHAIN_FORWARD);
			}
		}
	}
}

/* `tcp flags & rst != 0 ct direction D ct mark set ct mark | BIT': who
 * reset a connection, for the end reasons of the firewall log
 * (PX_CT_MARK_RST_ORIG from the client, _REPLY from the server). */
static void put_rst_mark(px_batch_t *b, const char *table, uint8_t dir)
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
	rule_put(b, r, PX_CHAIN_FORWARD);
}

/* The failover engines' own traffic is never limited by quotas, the
 * pressure chain or deny rules: keepalived's VRRP adverts (protocol 112)
 * and conntrackd's state sync (udp PX_CONNTRACKD_PORT), both to the
 * member itself (chain input, ahead of the guard). */
static void put_failover_accept(px_batch_t *b, const char *table)
{
	struct nftnl_rule *r;

	r = rule_new(table);
	m_l4proto(r, PX_IPPROTO_VRRP);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, PX_CHAIN_INPUT);
	r = rule_new(table);
	m_l4proto(r, IPPROTO_UDP);
	m_dport(r, PX_CONNTRACKD_PORT);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, PX_CHAIN_INPUT);
}

/* --- attack protection (issue 12, docs/protection.md) ------------------ */

/* `log prefix "px:p:REASON" ... drop': protection drops are always
 * logged (they are not flood mitigation). */
static void prot_drop(px_batch_t *b, struct nftnl_rule *r, const char *chain,
		      const char *reason)
{
	x_log(r, PX_FWLOG_PFX_PROTECT, reason);
	x_verdict(r, NF_DROP, NULL);
	rule_put(b, r, chain);
}

/* `iif lo' */
static void m_iif_lo(struct nftnl_rule *r)
{
	uint32_t lo = LOOPBACK_IFINDEX;

	x_meta(r, NFT_META_IIF);
	x_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
}

/* `ip saddr P' for a host or prefix P (the family matched first). */
static void m_saddr(struct nftnl_rule *r, const px_entry_t *e)
{
	m_nfproto(r, e->family);
	m_addr(r, e->family, true, e->prefix ? e->plen : 0, NFT_REG_1);
	x_cmp(r, NFT_CMP_EQ, e->addr, e->family == 4 ? 4 : 16);
}

/* `exthdr TYPE exists' of op (NFT_EXTHDR_OP_IPV4: an IP option,
 * NFT_EXTHDR_OP_IPV6: an extension header). */
static void m_exthdr_exists(struct nftnl_rule *r, uint32_t op, uint8_t type)
{
	struct nftnl_expr *e = expr_new("exthdr");
	uint8_t one = 1;

	nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_DREG, NFT_REG_1);
	nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, type);
	nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, 0);
	nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, 1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_FLAGS, NFT_EXTHDR_F_PRESENT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, op);
	nftnl_rule_add_expr(r, e);
	x_cmp(r, NFT_CMP_EQ, &one, sizeof(one));
}

/* `fib F oif missing' / `fib F type T': reg1 := the fib result. */
static void x_fib(struct nftnl_rule *r, uint32_t flags, uint32_t result)
{
	struct nftnl_expr *e = expr_new("fib");

	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, flags);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, result);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
}

/* Management sources skip the prerouting checks (as they skip quotas):
 * `ip saddr @mgmt4 return', `ip6 saddr @mgmt6 return'. */
static void put_mgmt_return(px_batch_t *b, const char *table,
			    const char *chain)
{
	char set[PX_NFT_NAME_LEN];

	for (int f = 4; f <= 6; f += 2) {
		struct nftnl_rule *r = rule_new(table);

		m_nfproto(r, f);
		m_addr(r, f, true, 0, NFT_REG_1);
		snprintf(set, sizeof(set), "%s%d", PX_SET_MGMT, f);
		x_lookup(r, set, false);
		x_verdict(r, NFT_RETURN, NULL);
		rule_put(b, r, chain);
	}
}

/* Spoof detection, both ways, on one pattern (docs/protection.md): a
 * chain sorts each packet by its interface, one bound to network N goes
 * to N's chain, which passes N's addresses and drops the others; an
 * external interface drops the addresses of every network.  The way in
 * checks sources by the incoming interface, the way out destinations by
 * the outgoing one. */
typedef struct {
	bool out;            /* destination and oif; else source and iif */
	const char *chain;   /* spoof, spoof_out */
	const char *per_net; /* net_N, dst_N */
	const char *reason;
	int pass;            /* N's own address in N's chain: NFT_GOTO rpf
			      * (the way in) or NFT_RETURN */
} spoof_way_t;

static const spoof_way_t way_in = { false, PX_CHAIN_SPOOF, PX_CHAIN_NET,
				    PX_REASON_SPOOF_NETWORK, NFT_GOTO };
static const spoof_way_t way_out = { true, PX_CHAIN_SPOOF_OUT, PX_CHAIN_DST,
				     PX_REASON_SPOOF_DEST, NFT_RETURN };

static void m_way_addr(struct nftnl_rule *r, const spoof_way_t *w,
		       const px_entry_t *e)
{
	if (w->out)
		m_daddr(r, e);
	else
		m_saddr(r, e);
}

/* The intra-array network is exempt (the seed: "spoof detection is not
 * applied to traffic from an intra-array address"). */
static void put_way_intra(px_batch_t *b, const char *table,
			  const px_protect_t *pr, const spoof_way_t *w)
{
	for (size_t i = 0; i < pr->nnetworks; i++) {
		if (!pr->networks[i].intra_array)
			continue;
		for (size_t j = 0; j < pr->networks[i].nprefixes; j++) {
			struct nftnl_rule *r = rule_new(table);

			m_way_addr(r, w, &pr->networks[i].prefixes[j]);
			x_verdict(r, NFT_RETURN, NULL);
			rule_put(b, r, w->chain);
		}
	}
}

/* The sorting by interface, then the external interfaces' drops. */
static void put_way_sort(px_batch_t *b, const char *table,
			 const px_layout_t *l, const spoof_way_t *w)
{
	const px_protect_t *pr = &l->p->protect;
	char chain[PX_NFT_NAME_LEN];
	struct nftnl_rule *r;

	for (size_t i = 0; i < l->nbinds; i++) {
		char name[PX_IFNAME_LEN] = { 0 };

		memcpy(name, l->binds[i].name, sizeof(name) - 1);
		r = rule_new(table);
		x_meta(r, w->out ? NFT_META_OIFNAME : NFT_META_IIFNAME);
		x_cmp(r, NFT_CMP_EQ, name, sizeof(name));
		snprintf(chain, sizeof(chain), "%s%s", w->per_net,
			 pr->networks[l->binds[i].net].name);
		x_verdict(r, NFT_GOTO, chain);
		rule_put(b, r, w->chain);
	}
	for (size_t i = 0; i < pr->nnetworks; i++)
		for (size_t j = 0; j < pr->networks[i].nprefixes; j++) {
			r = rule_new(table);
			m_way_addr(r, w, &pr->networks[i].prefixes[j]);
			prot_drop(b, r, w->chain, w->reason);
		}
}

/* Each network's chain: its addresses pass, any other is spoofed. */
static void put_way_nets(px_batch_t *b, const char *table,
			 const px_protect_t *pr, const spoof_way_t *w)
{
	char chain[PX_NFT_NAME_LEN];
	struct nftnl_rule *r;

	for (size_t i = 0; i < pr->nnetworks; i++) {
		snprintf(chain, sizeof(chain), "%s%s", w->per_net,
			 pr->networks[i].name);
		for (size_t j = 0; j < pr->networks[i].nprefixes; j++) {
			r = rule_new(table);
			m_way_addr(r, w, &pr->networks[i].prefixes[j]);
			x_verdict(r, w->pass, w->pass == NFT_GOTO ?
				  PX_CHAIN_RPF : NULL);
			rule_put(b, r, chain);
		}
		r = rule_new(table);
		prot_drop(b, r, chain, w->reason);
	}
}

/* The way in: chain spoof, net_N, and the reverse-path check (rpf) every
 * accepted source goes on to. */
static void put_spoof(px_batch_t *b, const char *table, const px_layout_t *l)
{
	const px_protect_t *pr = &l->p->protect;
	static const uint8_t ll6[16] = { 0xfe, 0x80 };
	uint8_t zero[16] = { 0 };
	struct nftnl_rule *r;
	px_entry_t e;

	r = rule_new(table);
	m_iif_lo(r);
	x_verdict(r, NFT_RETURN, NULL);
	rule_put(b, r, PX_CHAIN_SPOOF);
	/* The unspecified source (DHCP discover, IPv6 duplicate address
	 * detection) has no route back by design. */
	for (int f = 4; f <= 6; f += 2) {
		r = rule_new(table);
		m_nfproto(r, f);
		m_addr(r, f, true, 0, NFT_REG_1);
		x_cmp(r, NFT_CMP_EQ, zero, f == 4 ? 4 : 16);
		x_verdict(r, NFT_RETURN, NULL);
		rule_put(b, r, PX_CHAIN_SPOOF);
	}
	put_way_intra(b, table, pr, &way_in);
	/* IPv6 link-local sources belong to the link, not to a network:
	 * only the route back is checked. */
	memset(&e, 0, sizeof(e));
	e.family = 6;
	e.prefix = 1;
	e.plen = 10;
	memcpy(e.addr, ll6, sizeof(ll6));
	r = rule_new(table);
	m_saddr(r, &e);
	x_verdict(r, NFT_GOTO, PX_CHAIN_RPF);
	rule_put(b, r, PX_CHAIN_SPOOF);
	put_way_sort(b, table, l, &way_in);
	put_verdict_rule(b, table, PX_CHAIN_SPOOF, NFT_GOTO, PX_CHAIN_RPF);
	put_way_nets(b, table, pr, &way_in);
	/* rpf: `fib saddr . iif oif missing': the routing table would not
	 * send the reply out through the interface the packet came in. */
	r = rule_new(table);
	x_fib(r, NFTA_FIB_F_SADDR | NFTA_FIB_F_IIF, NFT_FIB_RESULT_OIF);
	{
		uint32_t none = 0;

		x_cmp(r, NFT_CMP_EQ, &none, sizeof(none));
	}
	prot_drop(b, r, PX_CHAIN_RPF, PX_REASON_SPOOF_ROUTE);
}

/* The way out (item 1: "outgoing packets are checked likewise against
 * the destination's network"), on a forwarded connection's first packet
 * (forward jumps here after the established accept): spoof_out and
 * dst_N.  IPv6 link-local and multicast destinations are exempt too. */
static void put_spoof_out(px_batch_t *b, const char *table,
			  const px_layout_t *l)
{
	const px_protect_t *pr = &l->p->protect;
	/* link-local (IPv6), multicast (IPv6, IPv4) */
	static const struct {
		uint8_t family, plen, addr[16];
	} exempt[] = { { 6, 10, { 0xfe, 0x80 } }, { 6, 8, { 0xff } },
		       { 4, 4, { 224 } } };
	struct nftnl_rule *r;
	px_entry_t e;

	put_way_intra(b, table, pr, &way_out);
	for (size_t k = 0; k < sizeof(exempt) / sizeof(exempt[0]); k++) {
		memset(&e, 0, sizeof(e));
		e.prefix = 1;
		e.family = exempt[k].family;
		e.plen = exempt[k].plen;
		memcpy(e.addr, exempt[k].addr, sizeof(exempt[k].addr));
		r = rule_new(table);
		m_daddr(r, &e);
		x_verdict(r, NFT_RETURN, NULL);
		rule_put(b, r, PX_CHAIN_SPOOF_OUT);
	}
	put_way_sort(b, table, l, &way_out);
	put_way_nets(b, table, pr, &way_out);
}

/* DHCP poisoning (item 7): on each network's DHCP interface, a BOOTP
 * reply (UDP 67 -> 68, op 2: an offer or an ack) whose yiaddr (the
 * address offered, @th,192,32) is not 0 and in none of the network's
 * IPv4 prefixes is dropped and logged.  One rule: a `!=' per prefix,
 * all of which must hold.  Chain input: an offer is to the member. */
#define BOOTP_SERVER_PORT 67
#define BOOTP_CLIENT_PORT 68
#define BOOTP_OP_OFF (8 + 0)      /* UDP header, then op */
#define BOOTP_YIADDR_OFF (8 + 16) /* op htype hlen hops xid secs flags
				   * ciaddr, then yiaddr */
static void put_dhcp(px_batch_t *b, const char *table, const px_layout_t *l)
{
	const px_protect_t *pr = &l->p->protect;

	for (size_t i = 0; i < pr->nnetworks; i++) {
		const px_network_t *n = &pr->networks[i];
		char name[PX_IFNAME_LEN] = { 0 };
		uint16_t sport = htons(BOOTP_SERVER_PORT);
		uint8_t reply = 2, zero[4] = { 0 };
		struct nftnl_rule *r;

		if (!n->dhcp_interface[0])
			continue;
		snprintf(name, sizeof(name), "%s", n->dhcp_interface);
		r = rule_new(table);
		x_meta(r, NFT_META_IIFNAME);
		x_cmp(r, NFT_CMP_EQ, name, sizeof(name));
		m_nfproto(r, 4);
		m_l4proto(r, IPPROTO_UDP);
		x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG_1);
		x_cmp(r, NFT_CMP_EQ, &sport, sizeof(sport));
		m_dport(r, BOOTP_CLIENT_PORT);
		x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, BOOTP_OP_OFF, 1,
			  NFT_REG_1);
		x_cmp(r, NFT_CMP_EQ, &reply, 1);
		x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, BOOTP_YIADDR_OFF, 4,
			  NFT_REG_1);
		x_cmp(r, NFT_CMP_NEQ, zero, 4);
		for (size_t j = 0; j < n->nprefixes; j++) {
			const px_entry_t *e = &n->prefixes[j];
			uint8_t mask[4], net[4];

			if (e->family != 4)
				continue;
			prefix_mask(mask, 4, e->prefix ? e->plen : 32);
			for (int k = 0; k < 4; k++)
				net[k] = e->addr[k] & mask[k];
			x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER,
				  BOOTP_YIADDR_OFF, 4, NFT_REG_1);
			x_bitwise(r, 4, mask, zero);
			x_cmp(r, NFT_CMP_NEQ, net, 4);
		}
		prot_drop(b, r, PX_CHAIN_INPUT, PX_REASON_DHCP_OFFER);
	}
}

/* The prerouting chain: spoof detection, then fragments. */
static void put_ids_one(px_batch_t *b, const char *table,
			const px_layout_t *l, int id, const char *chain);

/* `meta nfproto ipv4 ip frag-off & 0x3fff != 0' (is: a fragment, MF set
 * or an offset, first or not) or `== 0' (!is: not a fragment). */
static void m_ipv4_fragment(struct nftnl_rule *r, bool is)
{
	uint16_t mask = htons(0x3fff), zero = 0;

	m_nfproto(r, 4);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 6, 2, NFT_REG_1);
	x_bitwise(r, 2, &mask, &zero);
	x_cmp(r, is ? NFT_CMP_NEQ : NFT_CMP_EQ, &zero, sizeof(zero));
}

static void put_prerouting(px_batch_t *b, const char *table,
			   const px_layout_t *l)
{
	const px_protect_t *pr = &l->p->protect;
	struct nftnl_rule *r;

	if (!l->spoof && pr->setting[PX_PROT_FRAGMENTS] != PX_FRAG_BLOCK &&
	    pr->ids[PX_IDS_PING_OF_DEATH].off)
		return;
	if (!l->spoof) {
		/* Without spoof detection only fragments concern this chain:
		 * an IPv4 packet that is none leaves before the lookups. */
		r = rule_new(table);
		m_ipv4_fragment(r, false);
		x_verdict(r, NFT_RETURN, NULL);
		rule_put(b, r, PX_CHAIN_PREROUTING);
	}
	r = rule_new(table);
	m_iif_lo(r);
	x_verdict(r, NFT_RETURN, NULL);
	rule_put(b, r, PX_CHAIN_PREROUTING);
	put_mgmt_return(b, table, PX_CHAIN_PREROUTING);
	if (l->spoof)
		put_verdict_rule(b, table, PX_CHAIN_PREROUTING, NFT_JUMP,
				 PX_CHAIN_SPOOF);
	/* Ping of death before the fragments' drop: logged as what it is. */
	put_ids_one(b, table, l, PX_IDS_PING_OF_DEATH, PX_CHAIN_PREROUTING);
	if (pr->setting[PX_PROT_FRAGMENTS] == PX_FRAG_BLOCK) {
		r = rule_new(table);
		m_ipv4_fragment(r, true);
		prot_drop(b, r, PX_CHAIN_PREROUTING, PX_REASON_FRAGMENT);
		/* `exthdr frag exists' (IPv6 fragment header, 44) */
		r = rule_new(table);
		m_nfproto(r, 6);
		m_exthdr_exists(r, NFT_EXTHDR_OP_IPV6, IPPROTO_FRAGMENT);
		prot_drop(b, r, PX_CHAIN_PREROUTING, PX_REASON_FRAGMENT);
	}
}

/* Broadcast protection (always on), in forward right after the
 * established accept: a broadcast never belongs to a connection, and a
 * packet of one pays no fib lookup. */
static void put_broadcast(px_batch_t *b, const char *table,
			  const px_layout_t *l)
{
	const px_protect_t *pr = &l->p->protect;
	uint32_t bcast = RTN_BROADCAST, all = 0xffffffffu;
	uint8_t pkt_bcast = PACKET_BROADCAST;
	struct nftnl_rule *r;

	/* Broadcast protection (always on): no limited, subnet or network
	 * broadcast crosses the member.  L2 broadcast frames, the limited
	 * broadcast, what the routing table calls a broadcast (subnet
	 * broadcasts of the member's own networks), and the last address
	 * of each prefix of the policy's networks. */
	r = rule_new(table);
	m_meta_u8(r, NFT_META_PKTTYPE, NFT_CMP_EQ, pkt_bcast);
	prot_drop(b, r, PX_CHAIN_FORWARD, PX_REASON_BROADCAST);
	r = rule_new(table);
	m_nfproto(r, 4);
	m_addr(r, 4, false, 0, NFT_REG_1);
	x_cmp(r, NFT_CMP_EQ, &all, sizeof(all));
	prot_drop(b, r, PX_CHAIN_FORWARD, PX_REASON_BROADCAST);
	r = rule_new(table);
	m_nfproto(r, 4);
	x_fib(r, NFTA_FIB_F_DADDR, NFT_FIB_RESULT_ADDRTYPE);
	x_cmp(r, NFT_CMP_EQ, &bcast, sizeof(bcast));
	prot_drop(b, r, PX_CHAIN_FORWARD, PX_REASON_BROADCAST);
	for (size_t i = 0; i < pr->nnetworks; i++)
		for (size_t j = 0; j < pr->networks[i].nprefixes; j++) {
			const px_entry_t *p = &pr->networks[i].prefixes[j];
			px_entry_t last;

			/* /31 and /32 have no broadcast address (RFC 3021) */
			if (p->family != 4 || !p->prefix || p->plen > 30)
				continue;
			last = *p;
			last.prefix = 0;
			last.plen = 32;
			px_entry_last(p, last.addr);
			r = rule_new(table);
			m_nfproto(r, 4);
			m_daddr(r, &last);
			prot_drop(b, r, PX_CHAIN_FORWARD, PX_REASON_BROADCAST);
		}
}

/* IP options at the top of forward, before any accept (a connection
 * gets no pass). */
static void put_ip_options(px_batch_t *b, const char *table,
			   const px_layout_t *l)
{
	const px_protect_t *pr = &l->p->protect;
	struct nftnl_rule *r;

	/* IP options, forwarded only: the member's own IGMP (Router Alert)
	 * stays untouched. */
	if (pr->setting[PX_PROT_IP_OPTIONS] == PX_IPOPT_BLOCK_SRR) {
		static const uint8_t srr[] = { 131, 137 }; /* LSRR, SSRR */

		uint8_t mask = 0x0f, zero = 0, five = 5;

		/* `ip option lsrr exists' parses the options as a sender
		 * builds them: a route already partly walked (pointer past
		 * its first address) does not parse, so the first option
		 * (or the one after a leading NOP) is also read raw. */
		for (size_t i = 0; i < sizeof(srr); i++) {
			r = rule_new(table);
			m_nfproto(r, 4);
			m_exthdr_exists(r, NFT_EXTHDR_OP_IPV4, srr[i]);
			prot_drop(b, r, PX_CHAIN_FORWARD, PX_REASON_IP_OPTIONS);
			for (uint32_t off = 20; off <= 21; off++) {
				r = rule_new(table);
				m_nfproto(r, 4);
				x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 0, 1,
					  NFT_REG_1);
				x_bitwise(r, 1, &mask, &zero);
				x_cmp(r, NFT_CMP_NEQ, &five, sizeof(five));
				if (off == 21) {
					uint8_t nop = 1; /* IPOPT_NOOP */

					x_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
						  20, 1, NFT_REG_1);
					x_cmp(r, NFT_CMP_EQ, &nop, sizeof(nop));
				}
				x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, 1,
					  NFT_REG_1);
				x_cmp(r, NFT_CMP_EQ, &srr[i], 1);
				prot_drop(b, r, PX_CHAIN_FORWARD,
					  PX_REASON_IP_OPTIONS);
			}
		}
	} else if (pr->setting[PX_PROT_IP_OPTIONS] == PX_IPOPT_BLOCK_ALL) {
		/* `ip hdrlength != 5': any option at all */
		uint8_t mask = 0x0f, zero = 0, five = 5;

		r = rule_new(table);
		m_nfproto(r, 4);
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 0, 1, NFT_REG_1);
		x_bitwise(r, 1, &mask, &zero);
		x_cmp(r, NFT_CMP_NEQ, &five, sizeof(five));
		prot_drop(b, r, PX_CHAIN_FORWARD, PX_REASON_IP_OPTIONS);
	}
}

/* --- intrusion detection (lib/ids.h, docs/protection.md) ------------- */

/* TCP flag bits (the byte at offset 13 of the TCP header). */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10
#define TCPF_URG 0x20
#define NETBIOS_SSN_PORT 139 /* WinNuke's target: URG data to it */

/* `tcp flags & mask == value' */
static void m_tcp_flags(struct nftnl_rule *r, uint8_t mask, uint8_t value)
{
	uint8_t zero = 0;

	m_l4proto(r, IPPROTO_TCP);
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1, NFT_REG_1);
	x_bitwise(r, 1, &mask, &zero);
	x_cmp(r, NFT_CMP_EQ, &value, 1);
}

/* The tuple of family f into consecutive 32-bit registers from reg
 * 32_00: saddr . sport . daddr . dport, or reversed (daddr . dport .
 * saddr . sport), as set ids_land<f> lays its key out. */
static void x_tuple(struct nftnl_rule *r, int f, bool reversed)
{
	uint32_t alen = f == 4 ? 4 : 16, aregs = alen / 4;
	uint32_t so = f == 4 ? 12 : 8, dof = f == 4 ? 16 : 24;

	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, reversed ? dof : so, alen,
		  NFT_REG32_00);
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, reversed ? 2 : 0, 2,
		  NFT_REG32_00 + aregs);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, reversed ? so : dof, alen,
		  NFT_REG32_00 + aregs + 1);
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, reversed ? 0 : 2, 2,
		  NFT_REG32_00 + 2 * aregs + 1);
}

/* How many alternative matches detection id has (each its own rule);
 * 0 when this version does not compile it. */
static int ids_variants(int id)
{
	switch (id) {
	case PX_IDS_HALF_SCAN: return 4;
	case PX_IDS_LAND_ATTACK: return 2; /* IPv4, IPv6 */
	case PX_IDS_UDP_BOMB: return 2;
	case PX_IDS_OOB_ATTACK: return 1;
	case PX_IDS_PING_OF_DEATH: return 1;
	case PX_IDS_PORT_SCAN: return 4; /* TCP, UDP; IPv4, IPv6 */
	default: return 0;
	}
}

/* Match variant v of detection id; *fam := the family it is for (0:
 * both). */
/* `limit rate over N/W seconds burst N packets'. */
static struct nftnl_expr *x_limit_window(uint64_t n, uint64_t window_s)
{
	struct nftnl_expr *e = expr_new("limit");

	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, n);
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, window_s);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, (uint32_t)n);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	return e;
}

static void m_ids_port_scan_new(struct nftnl_rule *r, bool tcp)
{
	if (tcp) {
		m_tcp_flags(r, TCPF_SYN | TCPF_ACK, TCPF_SYN);
	} else {
		m_l4proto(r, IPPROTO_UDP);
		m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
	}
}

/* Source, destination and destination port of family f into ids_ps<f>'s
 * key layout; detect: look it up (absent: a new port on that host) and
 * count the pair source . destination (the same registers), else add
 * it. */
static void m_ids_port_scan_pair(struct nftnl_rule *r, int f, bool detect,
				 const px_ids_t *s)
{
	char set[PX_NFT_NAME_LEN];
	uint32_t alen = f == 4 ? 4 : 16, aregs = alen / 4;

	snprintf(set, sizeof(set), "%s%d", PX_SET_IDS_PORTS, f);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f == 4 ? 12 : 8, alen,
		  NFT_REG32_00);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f == 4 ? 16 : 24, alen,
		  NFT_REG32_00 + aregs);
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
		  NFT_REG32_00 + 2 * aregs);
	if (!detect) {
		x_dynset_timeout(r, NFT_DYNSET_OP_UPDATE, set, NFT_REG32_00, 0,
				 NULL);
		return;
	}
	x_lookup(r, set, true);
	snprintf(set, sizeof(set), "%s%s%d", PX_SET_IDS_METER,
		 px_ids_defs[PX_IDS_PORT_SCAN].name, f);
	x_dynset_timeout(r, NFT_DYNSET_OP_UPDATE, set, NFT_REG32_00, 0,
			 x_limit_window(px_ids_threshold(PX_IDS_PORT_SCAN, s),
					px_ids_window(PX_IDS_PORT_SCAN, s)));
}

static void m_ids(struct nftnl_rule *r, int id, int v, int *fam,
		  const px_ids_t *ids_s)
{
	*fam = 0;
	switch (id) {
	case PX_IDS_HALF_SCAN:
		/* Flags no TCP sends, in or out of a connection: neither
		 * SYN, ACK nor RST (NULL, FIN, XMAS: FIN|PSH|URG), SYN with
		 * FIN, SYN with RST. */
		if (v == 0)
			m_tcp_flags(r, TCPF_SYN | TCPF_ACK | TCPF_RST, 0);
		else if (v == 1)
			m_tcp_flags(r, TCPF_SYN | TCPF_FIN, TCPF_SYN | TCPF_FIN);
		else if (v == 2)
			m_tcp_flags(r, TCPF_SYN | TCPF_RST, TCPF_SYN | TCPF_RST);
		else {
			/* The other half: the handshake answered with a RST
			 * instead of the final ACK - a RST from the client
			 * of a connection whose SYN-ACK came back (seen
			 * reply) and that never completed (not assured). */
			uint32_t mask = IPS_SEEN_REPLY | IPS_ASSURED;
			uint32_t want = IPS_SEEN_REPLY, zero = 0;

			m_tcp_flags(r, TCPF_RST, TCPF_RST);
			m_ct_original(r);
			x_ct(r, NFT_CT_STATUS);
			x_bitwise(r, sizeof(mask), &mask, &zero);
			x_cmp(r, NFT_CMP_EQ, &want, sizeof(want));
		}
		break;
	case PX_IDS_LAND_ATTACK: {
		/* No expression compares two fields of a packet, so the
		 * SYN's own tuple goes into ids_land for a moment and its
		 * reverse is looked up: equal only when source address and
		 * port are the destination's (or a reverse SYN came within
		 * PX_IDS_LAND_MS: a simultaneous open). */
		char set[PX_NFT_NAME_LEN];
		int f = v == 0 ? 4 : 6;

		*fam = f;
		snprintf(set, sizeof(set), "%s%d", PX_SET_IDS_LAND, f);
		m_nfproto(r, f);
		m_tcp_flags(r, TCPF_SYN | TCPF_ACK, TCPF_SYN);
		x_tuple(r, f, false);
		x_dynset_timeout(r, NFT_DYNSET_OP_UPDATE, set, NFT_REG32_00, 0,
				 NULL);
		x_tuple(r, f, true);
		x_lookup(r, set, false);
		break;
	}
	case PX_IDS_UDP_BOMB:
		m_l4proto(r, IPPROTO_UDP);
		if (v == 0) {
			/* `udp length < 8': shorter than its own header */
			uint16_t eight = htons(8);

			x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 4, 2,
				  NFT_REG_1);
			x_cmp(r, NFT_CMP_LT, &eight, sizeof(eight));
		} else {
			/* Longer than the packet (or a bad checksum):
			 * conntrack's UDP check found it invalid. */
			m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_INVALID_BIT);
		}
		break;
	case PX_IDS_PORT_SCAN:
		/* A new TCP or UDP session to a port of a host this source
		 * did not try in the window (`ip saddr . ip daddr . th dport
		 * != @ids_ps4'), counted per source and host (`update
		 * @idsm_port-scan4 { ip saddr . ip daddr limit rate over T/W
		 * burst T }'): the first T pass. */
		*fam = v % 2 ? 6 : 4;
		m_nfproto(r, *fam);
		m_ids_port_scan_new(r, v < 2);
		m_ids_port_scan_pair(r, *fam, true, ids_s);
		break;
	case PX_IDS_PING_OF_DEATH: {
		/* `ip length . ip frag-off & 0x1fff @ids_pod', before
		 * defragmentation (chain prerouting, -450). */
		uint16_t mask = htons(0x1fff), zero = 0;
		struct nftnl_expr *e = expr_new("bitwise");

		*fam = 4;
		m_nfproto(r, 4);
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 2, 2, NFT_REG32_00);
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 6, 2, NFT_REG32_01);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG32_01);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG32_01);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(mask));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
		nftnl_rule_add_expr(r, e);
		x_lookup(r, PX_SET_IDS_POD, false);
		break;
	}
	case PX_IDS_OOB_ATTACK:
		/* `tcp dport 139 tcp flags & urg == urg' */
		m_tcp_flags(r, TCPF_URG, TCPF_URG);
		m_dport(r, NETBIOS_SSN_PORT);
		break;
	}
}


/* At the top of forward, before conntrack's invalid drop takes what it
 * knows (half-scan flags, udp-bomb) unlogged and before any accept (a
 * connection gives URG to 139 no pass): sources a detection blocked,
 * then each detection that is on: with --block, a rule that adds the
 * source to ids_block (at once, or when its count in idsm_NAME passes
 * threshold - 1 in the window), then the drop with its log reason. */
/* Detection id's rules in chain: with --block, a rule that adds the
 * source to ids_block (at once, or when its count in idsm_NAME passes
 * threshold - 1 in the window), then the drop with its log reason. */
static void put_ids_one(px_batch_t *b, const char *table,
			const px_layout_t *l, int id, const char *chain)
{
	const px_ids_t *s = &l->p->protect.ids[id];
	char set[PX_NFT_NAME_LEN], meter[PX_NFT_NAME_LEN];
	struct nftnl_rule *r;
	int fam;

	if (s->off || !px_ids_defs[id].built)
		return;
	if (px_ids_defs[id].kernel_counted) {
		/* The match counts (its meter): one rule, so a packet
		 * counts once; then every new port joins ids_ps. */
		for (int v = 0; v < ids_variants(id); v++) {
			r = rule_new(table);
			m_ids(r, id, v, &fam, s);
			if (s->block_s) {
				m_addr(r, fam, true, 0, NFT_REG_1);
				snprintf(set, sizeof(set), "%s%d",
					 PX_SET_IDS_BLOCK, fam);
				x_dynset_timeout(r, NFT_DYNSET_OP_ADD, set,
						 NFT_REG_1,
						 (uint64_t)s->block_s * 1000,
						 NULL);
			}
			prot_drop(b, r, chain, px_ids_defs[id].name);
		}
		for (int v = 0; v < ids_variants(id); v++) {
			int f = v % 2 ? 6 : 4;

			r = rule_new(table);
			m_nfproto(r, f);
			m_ids_port_scan_new(r, v < 2);
			m_ids_port_scan_pair(r, f, false, s);
			rule_put(b, r, chain);
		}
		return;
	}
	for (int v = 0; v < ids_variants(id); v++) {
		for (int f = 4; f <= 6 && s->block_s; f += 2) {
			int mf;

			r = rule_new(table);
			m_ids(r, id, v, &mf, s);
			if (mf && mf != f) {
				nftnl_rule_free(r);
				continue;
			}
			m_nfproto(r, f);
			m_addr(r, f, true, 0, NFT_REG_1);
			if (px_ids_meter(s, id)) {
				snprintf(meter, sizeof(meter), "%s%s%d",
					 PX_SET_IDS_METER, px_ids_defs[id].name,
					 f);
				x_dynset_timeout(r, NFT_DYNSET_OP_UPDATE, meter,
					NFT_REG_1, 0, x_limit_window(
						px_ids_threshold(id, s) - 1,
						px_ids_window(id, s)));
			}
			snprintf(set, sizeof(set), "%s%d", PX_SET_IDS_BLOCK, f);
			x_dynset_timeout(r, NFT_DYNSET_OP_ADD, set, NFT_REG_1,
					 (uint64_t)s->block_s * 1000, NULL);
			rule_put(b, r, chain);
		}
		r = rule_new(table);
		m_ids(r, id, v, &fam, s);
		prot_drop(b, r, chain, px_ids_defs[id].name);
	}
}

/* At the top of forward, after the IP option drops: sources a detection
 * blocked lose every packet, their connections' too. */
static void put_ids_blocked(px_batch_t *b, const char *table)
{
	char set[PX_NFT_NAME_LEN];
	struct nftnl_rule *r;

	for (int f = 4; f <= 6; f += 2) {
		r = rule_new(table);
		m_nfproto(r, f);
		m_addr(r, f, true, 0, NFT_REG_1);
		snprintf(set, sizeof(set), "%s%d", PX_SET_IDS_BLOCK, f);
		x_lookup(r, set, false);
		x_verdict(r, NF_DROP, NULL);
		rule_put(b, r, PX_CHAIN_FORWARD);
	}
}

/* The bulk of forwarded traffic, the segments of established TCP
 * connections, skips what cannot act on it (issue 8: forwarding at
 * >= 0.95 of no table):
 *   tcp flags & (syn|ack|rst|urg) == ack ct state established
 *       ct direction reply accept
 *   tcp flags & (syn|ack|rst|urg) == ack ct state established
 *       ct mark & 0x1 == 0x1 tcp dport != 80 accept
 * What comes after them and sees a connection's packets: the detections
 * (a RST before the handshake completed, URG to 139, flags without ACK:
 * all left to them by the flags test), the guard's meters (the first
 * original-direction packet after the handshake, until it set ct mark
 * bit 0x1, and requests to port 80 in the original direction) and the
 * RST marks of the firewall log (RST is left to them).  Refusals match
 * new connections; IP options and detection blocks come before. */
static void put_established_early(px_batch_t *b, const char *table)
{
	uint32_t est = NF_CT_STATE_BIT(IP_CT_ESTABLISHED);
	uint32_t counted = PX_CT_MARK_COUNTED;
	uint16_t http = htons(HTTP_PORT);
	uint8_t reply = 1; /* IP_CT_DIR_REPLY */

	for (int k = 0; k < 2; k++) {
		struct nftnl_rule *r = rule_new(table);

		m_tcp_flags(r, TCPF_SYN | TCPF_ACK | TCPF_RST | TCPF_URG,
			    TCPF_ACK);
		m_ct_bits(r, NFT_CT_STATE, est);
		if (k == 0) {
			x_ct(r, NFT_CT_DIRECTION);
			x_cmp(r, NFT_CMP_EQ, &reply, sizeof(reply));
		} else {
			x_ct(r, NFT_CT_MARK);
			x_bitwise(r, sizeof(counted), &counted, &(uint32_t){0});
			x_cmp(r, NFT_CMP_EQ, &counted, sizeof(counted));
			x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2,
				  sizeof(http), NFT_REG_1);
			x_cmp(r, NFT_CMP_NEQ, &http, sizeof(http));
		}
		x_verdict(r, NF_ACCEPT, NULL);
		rule_put(b, r, PX_CHAIN_FORWARD);
	}
}

/* Before conntrack's invalid drop takes what it knows (half-scan flags,
 * udp-bomb) unlogged and before the accept of established traffic (a
 * connection gives URG to 139 no pass; the early accepts leave URG, RST
 * and flags without ACK to these): each detection that is on (ping of
 * death: chain prerouting). */
static void put_ids(px_batch_t *b, const char *table, const px_layout_t *l)
{
	for (int id = 0; id < PX_IDS_COUNT; id++)
		if (id != PX_IDS_PING_OF_DEATH)
			put_ids_one(b, table, l, id, PX_CHAIN_FORWARD);
}

/* The end of the forward chain under `policy default deny': what no
 * rule accepted is dropped, except to or from the management network
 * (VRRP and state sync go to the member itself: chain input). */
static void put_default_deny(px_batch_t *b, const char *table,
			     const px_layout_t *l)
{
	char set[PX_NFT_NAME_LEN];
	struct nftnl_rule *r;

	if (l->p->protect.setting[PX_PROT_DEFAULT_POLICY] != PX_DEFAULT_DENY)
		return;
	for (int f = 4; f <= 6; f += 2)
		for (int src = 1; src >= 0; src--) {
			r = rule_new(table);
			m_nfproto(r, f);
			m_addr(r, f, src, 0, NFT_REG_1);
			snprintf(set, sizeof(set), "%s%d", PX_SET_MGMT, f);
			x_lookup(r, set, false);
			x_verdict(r, NF_ACCEPT, NULL);
			rule_put(b, r, PX_CHAIN_FORWARD);
		}
	r = rule_new(table);
	prot_drop(b, r, PX_CHAIN_FORWARD, PX_REASON_DEFAULT_DENY);
}

/* `ct state untracked accept' in chain: the checksum exclusions'
 * traffic, which raw left untracked, passes statelessly (before
 * `ct state invalid drop', which would take it). */
static void put_untracked_accept(px_batch_t *b, const char *table,
				 const char *chain)
{
	struct nftnl_rule *r = rule_new(table);

	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_UNTRACKED_BIT);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, chain);
}

/* TCP checksum exclusions (KB 911554): in chain raw, before conntrack
 * checks the checksum, `ip saddr . tcp sport . ip daddr . tcp dport
 * @csx notrack' and the same reversed (ip daddr . tcp dport . ip saddr
 * . tcp sport), or the server's SYN-ACK is checked, dropped, and the
 * connection never completes. */
static void put_csx(px_batch_t *b, const char *table, const px_layout_t *l)
{
	if (!l->p->protect.csx.n)
		return;
	for (int reply = 0; reply <= 1; reply++) {
		struct nftnl_rule *r = rule_new(table);

		m_nfproto(r, 4);
		m_l4proto(r, IPPROTO_TCP);
		/* Each field in a 32-bit register of its own, from reg 1
		 * on, as the set's key lays them out. */
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, reply ? 16 : 12, 4,
			  NFT_REG32_00);
		x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, reply ? 2 : 0, 2,
			  NFT_REG32_01);
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, reply ? 12 : 16, 4,
			  NFT_REG32_02);
		x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, reply ? 0 : 2, 2,
			  NFT_REG32_03);
		x_lookup(r, PX_SET_CSX, false);
		nftnl_rule_add_expr(r, expr_new("notrack"));
		rule_put(b, r, PX_CHAIN_RAW);
	}
}

/* Payload inspection (item 8): both directions of an inspected DNS
 * service's UDP and TCP, a POP3 service's TCP from its clients, go to
 * the member's agent (node/nfq.c), `NFQUEUE
 * --queue-num N --queue-bypass': with no agent bound the kernel accepts
 * them. */
static void put_inspect(px_batch_t *b, const char *table,
			const px_service_t *sv)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	uint16_t port = htons(sv->port);
	/* POP3: TCP, the client's commands only. */
	bool dns = sv->inspect == PX_INSPECT_DNS;

	for (size_t k = 0; k < (dns ? 2u : 1u); k++) {
		for (int reply = 0; reply <= (dns ? 1 : 0); reply++) {
			struct nftnl_rule *r = rule_new(table);
			struct nftnl_expr *q = expr_new("target");
			struct xt_NFQ_info_v3 *qi = calloc(1, sizeof(*qi));

			m_nfproto(r, sv->dst.family);
			m_l4proto(r, protos[k]);
			m_addr(r, sv->dst.family, reply, 0, NFT_REG_1);
			x_cmp(r, NFT_CMP_EQ, sv->dst.addr,
			      sv->dst.family == 4 ? 4 : 16);
			x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER,
				  reply ? 0 : 2, 2, NFT_REG_1);
			x_cmp(r, NFT_CMP_EQ, &port, sizeof(port));
			/* xtables' NFQUEUE through nft_compat, as
			 * iptables-nft writes it: kernels built without
			 * nft_queue (CONFIG_NFT_QUEUE) still have it.  The
			 * expression owns qi. */
			if (!qi)
				oom();
			qi->queuenum = PX_NFQUEUE_NUM;
			qi->queues_total = 1;
			qi->flags = NFQ_FLAG_BYPASS;
			nftnl_expr_set_str(q, NFTNL_EXPR_TG_NAME, "NFQUEUE");
			nftnl_expr_set_u32(q, NFTNL_EXPR_TG_REV, 3);
			nftnl_expr_set(q, NFTNL_EXPR_TG_INFO, qi, sizeof(*qi));
			nftnl_rule_add_expr(r, q);
			rule_put(b, r, PX_CHAIN_INSPECT);
		}
	}
}

/* Every rule of the layer, chain by chain. */
void px_compile_rules(px_batch_t *b, const char *table,
		      const px_layout_t *l)
{
	const px_policy_t *p = l->p;
	uint32_t ok = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
		      NF_CT_STATE_BIT(IP_CT_RELATED);
	struct nftnl_rule *r;

	put_failover_accept(b, table);
	put_dhcp(b, table, l);
	/* Excluded from checksum validation: before the guard, which drops
	 * invalid TCP to the member. */
	if (p->protect.csx.n)
		put_untracked_accept(b, table, PX_CHAIN_INPUT);
	put_verdict_rule(b, table, PX_CHAIN_INPUT, NFT_JUMP, PX_CHAIN_GUARD);
	put_csx(b, table, l);
	put_prerouting(b, table, l);
	if (l->spoof)
		put_spoof(b, table, l);
	put_ip_options(b, table, l);
	put_ids_blocked(b, table);
	put_established_early(b, table);
	put_ids(b, table, l);
	if (p->protect.csx.n)
		put_untracked_accept(b, table, PX_CHAIN_FORWARD);
	/* ct state invalid drop (a bad TCP checksum too): with nf_conntrack_tcp_loose=0, a packet
	 * that arrives at a new master before conntrackd's state for it is
	 * dropped and retransmitted, never reset by the server. */
	r = rule_new(table);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_INVALID_BIT);
	x_verdict(r, NF_DROP, NULL);
	rule_put(b, r, PX_CHAIN_FORWARD);
	put_verdict_rule(b, table, PX_CHAIN_FORWARD, NFT_JUMP,
			 PX_CHAIN_GUARD);
	put_rst_mark(b, table, 0); /* IP_CT_DIR_ORIGINAL */
	put_rst_mark(b, table, 1); /* IP_CT_DIR_REPLY */
	r = rule_new(table);
	m_ct_bits(r, NFT_CT_STATE, ok);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, PX_CHAIN_FORWARD);
	if (l->spoof) {
		put_spoof_out(b, table, l);
		put_verdict_rule(b, table, PX_CHAIN_FORWARD, NFT_JUMP,
				 PX_CHAIN_SPOOF_OUT);
	}
	put_broadcast(b, table, l);
	for (size_t i = 0; i < p->nservices; i++)
		put_service(b, table, l, &p->services[i]);
	for (size_t i = 0; i < p->nservices; i++)
		if (p->services[i].inspect)
			put_inspect(b, table, &p->services[i]);
	for (size_t i = 0; i < p->nrules; i++)
		put_rule(b, table, l, &p->rules[i]);
	put_default_deny(b, table, l);
	put_guard(b, table, l);
	for (size_t t = 0; t < l->ntiers; t++)
		for (size_t q = 0; q < px_nquota_rules; q++)
			for (int f = 4; f <= 6; f += 2)
				put_quota_rule(b, table, l, &l->tiers[t],
					       &px_quota_rules[q], f);
}

/* --- layer objects in the batch --------------------------------------- */

static void put_lset(px_batch_t *b, const char *table, px_lset_t *ls,
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
		if (ls->pod) {
			/* length . offset, 16 bits each */
			static const uint8_t fields[] = { 2, 2, 0 };

			nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields,
					   sizeof(fields));
		}
		if (ls->csx) {
			/* saddr . sport . daddr . dport: the kernel picks
			 * its concatenated-range type (pipapo) from these
			 * field lengths (bytes; zero ends the list). */
			static const uint8_t fields[] = { 4, 2, 4, 2, 0 };

			nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields,
					   sizeof(fields));
		}
		nftnl_set_set_data(s, NFTNL_SET_USERDATA,
				   nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
	}
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, type,
		type == NFT_MSG_NEWSET ? NLM_F_CREATE : 0, ls->name);
	nftnl_set_nlmsg_build_payload(nlh, s);
	px_batch_msg_end(b, nlh);
	nftnl_set_free(s);
	if (ud)
		nftnl_udata_buf_free(ud);
}

static void put_obj(px_batch_t *b, const char *table, const px_lobj_t *o,
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
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, type,
		type == NFT_MSG_NEWOBJ ? NLM_F_CREATE : 0, o->name);
	nftnl_obj_nlmsg_build_payload(nlh, obj);
	px_batch_msg_end(b, nlh);
	nftnl_obj_free(obj);
}

/* Flush a chain: DELRULE without a rule handle. */
static void put_flush(px_batch_t *b, const char *table, const char *chain)
{
	struct nftnl_rule *r = rule_new(table);
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, NFT_MSG_DELRULE, 0, chain);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	px_batch_msg_end(b, nlh);
	nftnl_rule_free(r);
}

/* A regular chain: NEWCHAIN or DELCHAIN. */
static void put_chain(px_batch_t *b, const char *table, const char *name,
		      uint16_t type)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		oom();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, type,
		type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, name);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	px_batch_msg_end(b, nlh);
	nftnl_chain_free(c);
}

/* Remove every element of a set: DELSETELEM without an element list. */
static void put_set_flush(px_batch_t *b, const char *table,
			  const char *set)
{
	struct nlmsghdr *nlh = px_batch_msg_start(b, OBJ_MSG_MAX, NFT_MSG_DELSETELEM,
						  0, set);

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	px_batch_msg_end(b, nlh);
}

static void put_methods(px_batch_t *b, const char *table,
			const px_lset_t *ls)
{
	px_elem_msg_t m;

	px_elem_msg_start(b, &m, NFT_MSG_NEWSETELEM, table, ls->name, ls->id,
			  px_nhttp_methods);
	for (size_t i = 0; i < px_nhttp_methods; i++)
		px_compile_elem(m.nlh, (uint16_t)(i + 1),
				(const uint8_t *)px_http_methods[i],
			 sizeof(px_http_methods[i]), 0, 0, NULL, 0);
	px_elem_msg_end(b, &m);
}

/* The checksum exclusions' elements, each a range from its first tuple
 * to its last (KEY and KEY_END in one element, as nft sends a
 * concatenated range).  Entries another entry covers are left out: the
 * kernel refuses an element that starts inside another
 * (px_csx_validate() refused the other overlaps). */
/* Ping of death's ranges (px_ids_pod_range), POD_PER_MSG a message. */
#define POD_PER_MSG 500
static void put_pod_elems(px_batch_t *b, const char *table,
			  const px_lset_t *ls)
{
	for (size_t i0 = 0; i0 < PX_IDS_POD_RANGES; i0 += POD_PER_MSG) {
		size_t n = PX_IDS_POD_RANGES - i0 < POD_PER_MSG ?
			   PX_IDS_POD_RANGES - i0 : POD_PER_MSG;
		px_elem_msg_t m;

		px_elem_msg_start(b, &m, NFT_MSG_NEWSETELEM, table, ls->name,
				  ls->id, n);
		for (size_t i = 0; i < n; i++) {
			uint16_t llo, lhi, olo;
			uint8_t key[8] = { 0 };
			struct nlattr *elem, *k;

			px_ids_pod_range(i0 + i, &llo, &lhi, &olo);
			elem = mnl_attr_nest_start(m.nlh, (uint16_t)(i + 1));
			for (int end = 0; end <= 1; end++) {
				uint16_t len = htons(end ? lhi : llo);
				uint16_t off = htons(end ? 8191 : olo);

				memcpy(key, &len, 2);
				memcpy(key + 4, &off, 2);
				k = mnl_attr_nest_start(m.nlh, end ?
					NFTA_SET_ELEM_KEY_END : NFTA_SET_ELEM_KEY);
				mnl_attr_put(m.nlh, NFTA_DATA_VALUE, sizeof(key),
					     key);
				mnl_attr_nest_end(m.nlh, k);
			}
			mnl_attr_nest_end(m.nlh, elem);
		}
		px_elem_msg_end(b, &m);
	}
}

static void put_csx_elems(px_batch_t *b, const char *table,
			  const px_lset_t *ls, const px_csx_t *c)
{
	px_csx_t *red = xmalloc(sizeof(*red));
	px_elem_msg_t m;

	px_csx_reduce(c, red);
	if (red->n) {
		px_elem_msg_start(b, &m, NFT_MSG_NEWSETELEM, table, ls->name,
				  ls->id, red->n);
		for (size_t i = 0; i < red->n; i++) {
			uint8_t key[PX_CSX_KEY_LEN];
			struct nlattr *elem, *k;

			elem = mnl_attr_nest_start(m.nlh, (uint16_t)(i + 1));
			px_csx_key(&red->v[i], false, key);
			k = mnl_attr_nest_start(m.nlh, NFTA_SET_ELEM_KEY);
			mnl_attr_put(m.nlh, NFTA_DATA_VALUE, sizeof(key), key);
			mnl_attr_nest_end(m.nlh, k);
			px_csx_key(&red->v[i], true, key);
			k = mnl_attr_nest_start(m.nlh, NFTA_SET_ELEM_KEY_END);
			mnl_attr_put(m.nlh, NFTA_DATA_VALUE, sizeof(key), key);
			mnl_attr_nest_end(m.nlh, k);
			mnl_attr_nest_end(m.nlh, elem);
		}
		px_elem_msg_end(b, &m);
	}
	free(red);
}

/* --- layer changes ----------------------------------------------------- */

void px_layer_plan_free(px_layer_plan_t *lp)
{
	px_layout_free(&lp->old);
	px_layout_free(&lp->new_);
	free(lp->set_del);
	free(lp->obj_del);
	free(lp->chain_del);
	free(lp->set_add);
	free(lp->obj_add);
	free(lp->chain_add);
	memset(lp, 0, sizeof(*lp));
}

/* Whether the two layers' rules encode differently (both are built into
 * scratch batches with the same sequence numbers). */
static bool rules_differ(const char *table, const px_layout_t *a,
			 const px_layout_t *b)
{
	px_batch_t x, y;
	bool differ;

	px_batch_init(&x, 0);
	px_batch_init(&y, 0);
	px_compile_rules(&x, table, a);
	px_compile_rules(&y, table, b);
	differ = x.len != y.len || memcmp(x.buf, y.buf, x.len) != 0;
	px_batch_free(&x);
	px_batch_free(&y);
	return differ;
}

int px_layer_plan(const char *table, const px_policy_t *old,
		  const px_policy_t *new_, bool old_pressure,
		  bool new_pressure, const px_ifaddrs_t *old_ifs,
		  const px_ifaddrs_t *new_ifs, px_layer_plan_t *lp)
{
	px_layout_t *o = &lp->old, *n = &lp->new_;
	bool dropped = false;
	int rc = -1;

	memset(lp, 0, sizeof(*lp));
	rc = px_layout_build(new_, new_pressure, n);
	if (rc < 0)
		goto out;
	px_layout_bind(n, new_ifs);
	if (old) {
		rc = px_layout_build(old, old_pressure, o);
		if (rc < 0)
			goto out;
		px_layout_bind(o, old_ifs);
		lp->have_old = true;
	}
	lp->set_del = xcalloc(o->nsets + 1, sizeof(bool));
	lp->obj_del = xcalloc(o->nobjs + 1, sizeof(bool));
	lp->chain_del = xcalloc(o->nchains + 1, sizeof(bool));
	lp->set_add = xcalloc(n->nsets + 1, sizeof(bool));
	lp->obj_add = xcalloc(n->nobjs + 1, sizeof(bool));
	lp->chain_add = xcalloc(n->nchains + 1, sizeof(bool));
	for (size_t i = 0; i < o->nsets; i++)
		dropped |= lp->set_del[i] = !px_layout_has_set(n, &o->sets[i]);
	for (size_t i = 0; i < o->nobjs; i++)
		dropped |= lp->obj_del[i] = !px_layout_has_obj(n, &o->objs[i]);
	for (size_t i = 0; i < o->nchains; i++)
		dropped |= lp->chain_del[i] = !px_layout_has_chain(n, o->chains[i]);
	for (size_t i = 0; i < n->nsets; i++)
		lp->set_add[i] = !px_layout_has_set(o, &n->sets[i]);
	for (size_t i = 0; i < n->nobjs; i++)
		lp->obj_add[i] = !px_layout_has_obj(o, &n->objs[i]);
	for (size_t i = 0; i < n->nchains; i++)
		lp->chain_add[i] = !px_layout_has_chain(o, n->chains[i]);
	/* What the old rules reference can only go once they are gone. */
	lp->rules = !old || dropped || rules_differ(table, o, n);
	rc = 0;
out:
	if (rc < 0)
		px_layer_plan_free(lp);
	return rc;
}

/* Old rules, chains, sets and objects that go. */
void px_compile_layer_delete(px_batch_t *b, const char *table,
			     const px_layer_plan_t *lp)
{
	const px_layout_t *o = &lp->old;

	if (!lp->have_old)
		return;
	if (lp->rules) {
		put_flush(b, table, PX_CHAIN_INPUT);
		put_flush(b, table, PX_CHAIN_FORWARD);
		put_flush(b, table, PX_CHAIN_PREROUTING);
		put_flush(b, table, PX_CHAIN_RAW);
		/* A table made before the chain existed gets it here. */
		put_base_chain(b, table, PX_CHAIN_INSPECT, NF_INET_FORWARD,
			       PX_INSPECT_PRIO);
		put_flush(b, table, PX_CHAIN_INSPECT);
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
void px_compile_layer_create(px_batch_t *b, const char *table,
			     px_layer_plan_t *lp)
{
	px_layout_t *n = &lp->new_;

	for (size_t i = 0; i < n->nsets; i++) {
		if (!lp->set_add[i])
			continue;
		put_lset(b, table, &n->sets[i], NFT_MSG_NEWSET);
		if (n->sets[i].methods)
			put_methods(b, table, &n->sets[i]);
		if (n->sets[i].csx)
			put_csx_elems(b, table, &n->sets[i],
				      &n->p->protect.csx);
		if (n->sets[i].pod)
			put_pod_elems(b, table, &n->sets[i]);
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
void px_compile_layer_mgmt(px_batch_t *b, const char *table,
			   const px_layer_plan_t *lp, const px_entries_t *mgmt,
		       bool dirty)
{
	const px_layout_t *n = &lp->new_;

	for (size_t i = 0; i < n->nsets; i++) {
		const px_lset_t *s = &n->sets[i];
		int k = s->key_len == 4 ? PX_KIND_N4 : PX_KIND_N6;

		if (!s->mgmt || (!lp->set_add[i] && !dirty))
			continue;
		if (!lp->set_add[i])
			put_set_flush(b, table, s->name);
		px_compile_elems(b, NFT_MSG_NEWSETELEM, table, s->name,
				 lp->set_add[i] ? s->id : 0, k, mgmt);
	}
}

static void put_allow_prefix(px_batch_t *b, const char *table,
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
static void put_guard_chain(px_batch_t *b, const char *table,
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
	nlh = px_batch_msg_start(b, OBJ_MSG_MAX, NFT_MSG_NEWCHAIN, NLM_F_CREATE, name);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	px_batch_msg_end(b, nlh);
	nftnl_chain_free(c);
}

void px_compile_guard(px_batch_t *b, const char *table,
		      const px_entries_t *mgmt, const px_entries_t *extra)
{
	uint32_t lo = LOOPBACK_IFINDEX;
	uint8_t reply = 1; /* IP_CT_DIR_REPLY */
	size_t nm = mgmt ? mgmt->n : 0, nx = extra ? extra->n : 0;
	struct nftnl_rule *r;

	/* Create-then-delete makes the delete safe whether or not a table
	 * is there; the guard replaces it in the same atomic batch. */
	px_compile_table(b, table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	px_compile_table(b, table, NFT_MSG_DELTABLE, 0);
	px_compile_table(b, table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	put_guard_chain(b, table, PX_CHAIN_INPUT, NF_INET_LOCAL_IN);
	put_guard_chain(b, table, PX_CHAIN_FORWARD, NF_INET_FORWARD);

	r = rule_new(table);
	x_meta(r, NFT_META_IIF);
	x_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, PX_CHAIN_INPUT);
	/* Replies to the member's own connections (the store, when it is
	 * a name rather than an address in extra). */
	r = rule_new(table);
	m_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
		  NF_CT_STATE_BIT(IP_CT_RELATED));
	x_ct(r, NFT_CT_DIRECTION);
	x_cmp(r, NFT_CMP_EQ, &reply, sizeof(reply));
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, PX_CHAIN_INPUT);
	/* IPv6 neighbour discovery: without it no IPv6 peer is reachable,
	 * the management network included. */
	r = rule_new(table);
	m_nfproto(r, 6);
	m_l4proto(r, IPPROTO_ICMPV6);
	x_verdict(r, NF_ACCEPT, NULL);
	rule_put(b, r, PX_CHAIN_INPUT);
	for (size_t i = 0; i < nm + nx; i++) {
		const px_entry_t *e = i < nm ? &mgmt->v[i] : &extra->v[i - nm];

		if (e->family != 4 && e->family != 6)
			continue;
		put_allow_prefix(b, table, PX_CHAIN_INPUT, e, true);
		put_allow_prefix(b, table, PX_CHAIN_FORWARD, e, true);
		put_allow_prefix(b, table, PX_CHAIN_FORWARD, e, false);
	}
}
