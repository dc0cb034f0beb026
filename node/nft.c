/* nft.c - all nftables I/O of a member: one netlink batch per policy
 * version.  Tables, sets and chains go through libnftnl objects.  Set
 * elements are written with libmnl directly: a bulk load carries a
 * million of them, and a libnftnl object each (a malloc, a list insert
 * and a free) took 90 ms for 1M hosts where this takes 20 ms. */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft.h"
#include "px.h"

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
	if (timeout_ms)
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT,
				 htobe64(timeout_ms));
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
static void count_fn(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *attr, *elem, *a;
	uint64_t *count = data;

	if (!is_nft_msg(nlh, NFT_MSG_NEWSETELEM))
		return;
	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, attr) {
			bool end = false;

			mnl_attr_for_each_nested(a, elem) {
				if (mnl_attr_get_type(a) ==
					    NFTA_SET_ELEM_FLAGS &&
				    mnl_attr_validate(a, MNL_TYPE_U32) == 0 &&
				    ntohl(mnl_attr_get_u32(a)) &
					    NFT_SET_ELEM_INTERVAL_END)
					end = true;
			}
			if (!end)
				(*count)++;
		}
	}
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

static void build(px_nft_t *nft, struct batch *b, bool rebuild,
		  struct change *ch, size_t nch)
{
	char kset[KSET_NAME_MAX + 1];

	if (rebuild) {
		/* Adding first makes the delete succeed whether or not the
		 * table exists; all three commit together. */
		put_table(b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		put_table(b, nft->table, NFT_MSG_DELTABLE, 0);
		put_table(b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	}
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
	struct change *ch = NULL;
	struct batch b = { 0 };
	size_t nch = 0;
	int rc = -1;

	nch = plan(old, new_, &ch);
	ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS,
					NFTNL_SET_ELEM_F_INTERVAL_OPEN))
		oom();
	batch_init(&b, nft->seq);
	b.open_ud = nftnl_udata_buf_data(ud);
	b.open_udlen = nftnl_udata_buf_len(ud);
	build(nft, &b, old == NULL, ch, nch);
	nft->seq += (uint32_t)b.n + 2;
	rc = b.n ? batch_commit(nft, &b, 0) : 0;
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
	free(nft);
}
