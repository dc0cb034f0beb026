/* nft.c - the kernel I/O of the member's table (nft.h), as nftables
 * keeps it in mnl.c: the netlink socket, sending a batch and reading its
 * acks, requests and dumps (counts, lookups, counters), and the apply
 * that plans one policy version and sends it as one batch.  What the
 * table holds is decided in layout.c and encoded in compile.c. */
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "compile.h"
#include "layout.h"
#include "nft.h"
#include "px.h"

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
/* Dumps come in skbs of at most 32 KiB (the kernel caps max_recvmsg_len
 * there), so this buffer never truncates one. */
#define DUMP_BUF (64 * 1024)

/* A dump is restarted when the set changed under it (NLM_F_DUMP_INTR);
 * only this member writes the table, so more than a few means a bug. */
#define DUMP_RETRIES 5
/* Error lines logged for one rejected batch; the kernel reports every
 * failing message and a broken batch can fail all of them. */
#define NACK_LOG_MAX 3
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
	px_ifaddrs_t ifs_applied; /* interface addresses at the last apply
				   * (spoof detection's bindings) */
	struct sized *sized; /* the kernel sets made here with a size */
	size_t nsized;
};
/* An exception's hash set created with a size (px_kset_capacity()): the
 * kernel refuses elements past it, so a change that would outgrow it
 * makes the set again, bigger. */
struct sized {
	char kset[PX_KSET_NAME_MAX + 1];
	uint32_t cap;
};
struct change {
	const char *name;
	const px_entries_t *now; /* entries in new_, NULL if dropped */
	const px_entries_t *add, *del;
	px_entries_t own_add, own_del;
	bool create, drop;
	bool remake[PX_KIND_COUNT]; /* deleted and created with size[k] */
	uint32_t size[PX_KIND_COUNT]; /* of a created or remade set */
	size_t nnew[PX_KIND_COUNT];
	size_t nadd[PX_KIND_COUNT], ndel[PX_KIND_COUNT];
	uint32_t set_id[PX_KIND_COUNT];
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

static void log_nack(const px_batch_t *b, const struct nlmsghdr *nlh,
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
static int batch_commit(px_nft_t *nft, px_batch_t *b, int expected)
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
	px_compile_elem(nlh, 1, key, len, flags, 0, NULL, 0);
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
	if (!px_addr_next(last, len)) {
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
		char name[PX_NFT_NAME_LEN];
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
	    strlen(name) >= PX_NFT_NAME_LEN)
		goto out;
	if (cl->n == cl->cap) {
		cl->cap = cl->cap ? cl->cap * 2 : 32;
		cl->v = xrealloc(cl->v, cl->cap * sizeof(*cl->v));
	}
	snprintf(cl->v[cl->n].name, PX_NFT_NAME_LEN, "%s", name);
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

static struct sized *sized_find(px_nft_t *nft, const char *kset)
{
	for (size_t i = 0; i < nft->nsized; i++)
		if (strcmp(nft->sized[i].kset, kset) == 0)
			return &nft->sized[i];
	return NULL;
}

/* Remember that kset now has size cap (0: none, or gone). */
static void sized_note(px_nft_t *nft, const char *kset, uint32_t cap)
{
	struct sized *z = sized_find(nft, kset);

	if (!z && cap) {
		nft->sized = xrealloc(nft->sized,
				      (nft->nsized + 1) * sizeof(*z));
		z = &nft->sized[nft->nsized++];
		snprintf(z->kset, sizeof(z->kset), "%s", kset);
	}
	if (z && cap)
		z->cap = cap;
	else if (z)
		*z = nft->sized[--nft->nsized];
}

static void sized_forget_all(px_nft_t *nft)
{
	free(nft->sized);
	nft->sized = NULL;
	nft->nsized = 0;
}

/* The size each hash set of c is created with; and whether one that
 * exists is made again: when the change would outgrow its size; when it
 * leaves a quarter of the size or less in use (the kernel keeps the
 * buckets of the size: 16 MB for 1M, for a set now holding a few
 * entries), with the size the entries left need, or none; or when it
 * loads PX_KSET_SIZED_MIN elements or more into a set without one (an
 * import: loading the whole set into a new sized one is the faster). */
static void plan_sizes(px_nft_t *nft, struct change *c)
{
	char kset[PX_KSET_NAME_MAX + 1];

	for (int k = 0; k < PX_KIND_COUNT; k++) {
		const struct sized *z;
		size_t n = c->nnew[k];

		if (c->drop || px_kinds[k].interval)
			continue;
		if (c->create) {
			c->size[k] = px_kset_capacity(k, n);
			continue;
		}
		px_kset_name(kset, c->name, k);
		z = sized_find(nft, kset);
		c->remake[k] = z ? n > z->cap || n <= z->cap / 4 :
				   c->nadd[k] >= PX_KSET_SIZED_MIN;
		if (!c->remake[k])
			continue;
		c->size[k] = px_kset_capacity(k, n);
		c->nadd[k] = n;
		c->ndel[k] = 0;
	}
}

/* After the batch committed: what the kernel's sets were made with. */
static void sized_commit(px_nft_t *nft, bool rebuild,
			 const struct change *ch, size_t nch)
{
	char kset[PX_KSET_NAME_MAX + 1];

	if (rebuild)
		sized_forget_all(nft);
	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			if (!ch[i].drop && !ch[i].create && !ch[i].remake[k])
				continue;
			px_kset_name(kset, ch[i].name, k);
			sized_note(nft, kset, ch[i].drop ? 0 : ch[i].size[k]);
		}
	}
}

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
static size_t plan(px_nft_t *nft, const px_policy_t *old,
		   const px_policy_t *new_, struct change **out)
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
		px_count_kinds(&ns->entries, c->nnew);
		if (!os) {
			c->create = true;
			c->add = &ns->entries;
		} else {
			px_entries_diff(&os->entries, &ns->entries,
					&c->own_add, &c->own_del);
			c->add = &c->own_add;
			c->del = &c->own_del;
		}
		px_count_kinds(c->add, c->nadd);
		px_count_kinds(c->del, c->ndel);
		plan_sizes(nft, c);
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
		px_count_kinds(&os->entries, c->ndel);
	}
	*out = ch;
	return n;
}

/* The batch, in an order the kernel accepts within one transaction:
 * what the old rules reference goes only after they are flushed, and
 * what the new rules reference exists before they come. */
static void build(px_nft_t *nft, px_batch_t *b, bool rebuild,
		  struct change *ch, size_t nch, px_layer_plan_t *lp)
{
	char kset[PX_KSET_NAME_MAX + 1];

	if (rebuild) {
		/* Adding first makes the delete succeed whether or not the
		 * table exists; all three commit together. */
		px_compile_table(b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		px_compile_table(b, nft->table, NFT_MSG_DELTABLE, 0);
		px_compile_table(b, nft->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	}
	px_compile_layer_delete(b, nft->table, lp);
	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			if (ch[i].drop || ch[i].remake[k])
				px_compile_eset(b, nft->table, ch[i].name, k,
						NFT_MSG_DELSET, 0, 0);
			if (!ch[i].create && !ch[i].remake[k])
				continue;
			ch[i].set_id[k] = b->next_set_id++;
			px_compile_eset(b, nft->table, ch[i].name, k, NFT_MSG_NEWSET,
					ch[i].set_id[k], ch[i].size[k]);
		}
	}
	if (rebuild)
		px_compile_base_chains(b, nft->table);
	px_compile_layer_create(b, nft->table, lp);
	px_compile_layer_mgmt(b, nft->table, lp, &nft->mgmt, nft->mgmt_dirty);
	/* Deletions before additions: a range replaced by one with the same
	 * start must leave the tree before its successor goes in. */
	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			if (ch[i].drop || !ch[i].ndel[k])
				continue;
			px_kset_name(kset, ch[i].name, k);
			px_compile_elems(b, NFT_MSG_DELSETELEM, nft->table, kset, 0, k,
					 ch[i].del);
		}
	}
	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			if (!ch[i].nadd[k])
				continue;
			px_kset_name(kset, ch[i].name, k);
			px_compile_elems(b, NFT_MSG_NEWSETELEM, nft->table, kset,
					 ch[i].set_id[k], k,
					 ch[i].remake[k] ? ch[i].now : ch[i].add);
		}
	}
	if (lp->rules)
		px_compile_rules(b, nft->table, &lp->new_);
	px_batch_finish(b);
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

	px_kind_span(s, k, &first, &end);
	if (!px_kinds[k].interval)
		return count == end - first;
	if (first == end)
		return count == 0;
	px_entry_last(&s->v[end - 1], last);
	total = 2 * (uint64_t)(end - first) -
		!px_addr_next(last, px_kinds[k].key_len);
	return 2 * count + 1 >= total && 2 * count <= total + 1;
}

/* A message whose element list wrapped its 16-bit length is accepted
 * with most elements missing: after bulk loads check what went in.  The
 * kernel's count is free; a dump is quadratic in the set size (40 s for
 * 1M ranges), so it is the fallback for kernels without the count. */
static int verify(px_nft_t *nft, const struct change *ch, size_t nch)
{
	char kset[PX_KSET_NAME_MAX + 1];
	char *buf = xmalloc(DUMP_BUF);
	struct set_info si;
	uint64_t have = 0;
	bool ok = false;
	int rc = -1;

	for (size_t i = 0; i < nch; i++) {
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			if (ch[i].nadd[k] <= VERIFY_MIN)
				continue;
			px_kset_name(kset, ch[i].name, k);
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

/* The member's interface addresses (getifaddrs: one netlink dump), in
 * the kernel's order, at most PX_IFADDRS_MAX of them.  On failure none:
 * every interface is then external, which drops no source of the
 * external side (docs/protection.md), and the failure is logged. */
static void read_ifaddrs(px_ifaddrs_t *out)
{
	struct ifaddrs *ifa = NULL, *i;

	memset(out, 0, sizeof(*out));
	if (getifaddrs(&ifa) < 0) {
		px_log(PX_LOG_WARN, "nft: reading the interface addresses for "
		       "spoof detection: %s; every interface counts as "
		       "external until the next apply", strerror(errno));
		return;
	}
	for (i = ifa; i && out->n < PX_IFADDRS_MAX; i = i->ifa_next) {
		px_entry_t *e = &out->v[out->n].addr;

		if (!i->ifa_addr || !i->ifa_name)
			continue;
		memset(e, 0, sizeof(*e));
		if (i->ifa_addr->sa_family == AF_INET) {
			e->family = 4;
			e->plen = 32;
			memcpy(e->addr, &((struct sockaddr_in *)(void *)
					  i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			e->family = 6;
			e->plen = 128;
			memcpy(e->addr, &((struct sockaddr_in6 *)(void *)
					  i->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		snprintf(out->v[out->n].name, PX_IFNAME_LEN, "%s", i->ifa_name);
		out->n++;
	}
	freeifaddrs(ifa);
}

int px_nft_apply(px_nft_t *nft, const px_policy_t *old,
		 const px_policy_t *new_, px_nft_stats_t *stats)
{
	px_ifaddrs_t *ifs = xmalloc(sizeof(*ifs));
	struct nftnl_udata_buf *ud = NULL;
	uint64_t t0 = now_usec(), t1;
	px_layer_plan_t lp = { 0 };
	struct change *ch = NULL;
	px_batch_t b = { 0 };
	size_t nch = 0;
	int rc = -1;

	read_ifaddrs(ifs);
	rc = px_layer_plan(nft->table, old, new_, nft->pressure_applied,
			   nft->pressure, &nft->ifs_applied, ifs, &lp);
	if (rc < 0)
		goto out;
	nch = plan(nft, old, new_, &ch);
	/* A set made again must first lose the rules that reference it. */
	for (size_t i = 0; i < nch; i++)
		for (int k = 0; k < PX_KIND_COUNT; k++)
			lp.rules |= ch[i].remake[k];
	ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS,
					NFTNL_SET_ELEM_F_INTERVAL_OPEN))
		oom();
	px_batch_init(&b, nft->seq);
	b.open_ud = nftnl_udata_buf_data(ud);
	b.open_udlen = nftnl_udata_buf_len(ud);
	build(nft, &b, old == NULL, ch, nch, &lp);
	nft->seq += (uint32_t)b.n + 2;
	rc = b.n ? batch_commit(nft, &b, 0) : 0;
	if (rc == 0) {
		sized_commit(nft, old == NULL, ch, nch);
		nft->mgmt_dirty = false;
		nft->pressure_applied = nft->pressure;
		nft->ifs_applied = *ifs;
	}
	t1 = now_usec();
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		for (size_t i = 0; i < nch; i++) {
			for (int k = 0; k < PX_KIND_COUNT; k++) {
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
	px_batch_free(&b);
	if (ud)
		nftnl_udata_buf_free(ud);
	changes_free(ch, nch);
	px_layer_plan_free(&lp);
	free(ifs);
	return rc;
}

/* The element messages of d[0..n)'s deletions (del) or additions into
 * b, one per kernel set with any; the number of elements. */
static size_t batch_elems(px_nft_t *nft, px_batch_t *b,
			  const px_nft_elems_t *d, size_t n, bool del)
{
	char kset[PX_KSET_NAME_MAX + 1];
	size_t count[PX_KIND_COUNT], total = 0;

	for (size_t i = 0; i < n; i++) {
		const px_entries_t *v = del ? d[i].del : d[i].add;

		px_count_kinds(v, count);
		for (int k = 0; k < PX_KIND_COUNT; k++) {
			if (!count[k])
				continue;
			px_kset_name(kset, d[i].set, k);
			px_compile_elems(b, del ? NFT_MSG_DELSETELEM :
					 NFT_MSG_NEWSETELEM, nft->table, kset,
					 0, k, v);
			total += count[k];
		}
	}
	return total;
}

int px_nft_apply_elems(px_nft_t *nft, const px_nft_elems_t *d, size_t n,
		       px_nft_stats_t *stats)
{
	uint64_t t0 = now_usec();
	struct nftnl_udata_buf *ud = NULL;
	px_nft_stats_t st = { 0 };
	px_batch_t b = { 0 };
	int rc = -1;

	ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS,
					NFTNL_SET_ELEM_F_INTERVAL_OPEN))
		oom();
	px_batch_init(&b, nft->seq);
	b.open_ud = nftnl_udata_buf_data(ud);
	b.open_udlen = nftnl_udata_buf_len(ud);
	/* Deletions before additions, as build() orders them. */
	st.elems_deleted = batch_elems(nft, &b, d, n, true);
	st.elems_added = batch_elems(nft, &b, d, n, false);
	px_batch_finish(&b);
	nft->seq += (uint32_t)b.n + 2;
	/* ENFILE: a set made with a size would outgrow it (the caller
	 * takes the whole path, which makes it again). */
	rc = b.n ? batch_commit(nft, &b, -ENFILE) : 0;
	st.messages = (uint32_t)b.n;
	st.batch_bytes = b.len;
	st.usec = now_usec() - t0;
	if (stats)
		*stats = st;
	px_batch_free(&b);
	nftnl_udata_buf_free(ud);
	return rc;
}

bool px_nft_rules_pending(const px_nft_t *nft)
{
	return nft->mgmt_dirty || nft->pressure != nft->pressure_applied;
}

int px_nft_elem(px_nft_t *nft, const char *kset, int family,
		const uint8_t *addr, uint64_t timeout_ms, bool add)
{
	uint16_t type = add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM;
	int expected = add ? -EEXIST : -ENOENT;
	px_batch_t b = { 0 };
	px_elem_msg_t m;
	int rc = -1;

	if ((family != 4 && family != 6) || !kset[0] ||
	    strlen(kset) >= NFT_SET_MAXNAMELEN) {
		rc = -EINVAL;
		goto out;
	}
	px_batch_init(&b, nft->seq);
	px_elem_msg_start(&b, &m, type, nft->table, kset, 0, 1);
	px_compile_elem(m.nlh, 1, addr, family == 4 ? 4 : 16, 0,
			add ? timeout_ms : 0, NULL, 0);
	px_elem_msg_end(&b, &m);
	px_batch_finish(&b);
	nft->seq += (uint32_t)b.n + 2;
	rc = batch_commit(nft, &b, expected);
	if (rc == expected)
		rc = 0;
out:
	px_batch_free(&b);
	return rc;
}

int px_nft_delete_table(px_nft_t *nft)
{
	px_batch_t b;
	int rc = -1;

	px_batch_init(&b, nft->seq);
	px_compile_table(&b, nft->table, NFT_MSG_DELTABLE, 0);
	px_batch_finish(&b);
	nft->seq += (uint32_t)b.n + 2;
	rc = batch_commit(nft, &b, -ENOENT);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0)
		sized_forget_all(nft);
	px_batch_free(&b);
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
	sized_forget_all(nft);
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
int px_nft_install_guard(px_nft_t *nft, const px_entries_t *extra)
{
	px_batch_t b = { 0 };
	int rc;

	px_batch_init(&b, nft->seq);
	px_compile_guard(&b, nft->table, &nft->mgmt, extra);
	px_batch_finish(&b);
	nft->seq += (uint32_t)b.n + 2;
	rc = batch_commit(nft, &b, 0);
	px_batch_free(&b);
	return rc;
}
