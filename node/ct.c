/* ct.c - the conntrack watcher: conntrack events and dumps in (libmnl +
 * libnetfilter_conntrack), quota decisions (quota.c) out to the kernel
 * block sets (nft.c) and to conntrack (session ends).  libuv owns every
 * fd; callbacks never block, except the bounded dump of a resync. */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "ct.h"
#include "px.h"
#include "ratelog.h"
#include "vocab.h"

/* 32 MB held a 55k events/s burst on the reference machine where 208 KB
 * overran; start lower and double on each loss. */
#define RCVBUF_START (8u << 20)
#define RCVBUF_MAX (64u << 20)
/* One event per datagram, a few hundred bytes each; 64 per recvmmsg and
 * at most 64 rounds (4096 events) per wake so timers still run. */
#define RECV_SLOT 4096
#define RECV_BATCH 64
#define RECV_ROUNDS 64
#define DUMP_BUF 32768       /* libmnl's MNL_SOCKET_DUMP_SIZE */
#define DUMP_RECV_MS 2000    /* one recv of a dump */
#define DUMP_MAX_MS 15000    /* a whole dump: 262,144 entries take < 1 s */
#define RESYNC_GAP_MS 5000   /* a sustained overrun must not dump nonstop */
#define DEL_BUF 65536        /* destroy requests sent in one datagram */
#define BLOCK_MS 10000
#define REFRESH_MS 3000
#define TICK_MS 1000
#define LOCAL_EVERY_TICKS 30 /* re-read the member's own addresses */
#define REPORT_EVERY_MS 60000
/* Quota lines: at most 20 a second after a burst of 100, whatever the
 * number of sources (each source is limited to one a minute already). */
#define LOG_RATE 20
#define LOG_BURST 100
#define NFT_ERR_LOG_MS 10000
#define CLOSING_SLOTS 65536  /* close times kept for the firewall log */

struct px_watcher {
	uv_loop_t *loop;
	px_nft_t *nft;
	px_quota_t *q;
	struct mnl_socket *ev, *del;
	uv_poll_t ev_poll, del_poll;
	uv_timer_t tick, resync_timer;
	int handles;                 /* open libuv handles */
	uint32_t rcvbuf;             /* asked for */
	uint32_t max_conns;          /* the quota table's cap */
	uint64_t last_resync_at;     /* monotonic ms */
	bool resync_pending;
	bool started;                /* the first dump is in */
	unsigned ticks;
	px_quota_actions_t acts;
	px_ct_end_cb end_cb;         /* the firewall log's, or NULL */
	void *end_arg;
	struct closing {             /* when a TCP connection closed */
		uint32_t id;
		uint16_t sport;
		uint64_t ns;
	} *closing;                  /* CLOSING_SLOTS, with end_cb */

	uint8_t (*slot)[RECV_SLOT];
	struct mmsghdr msgs[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	struct sockaddr_nl from[RECV_BATCH];

	uint8_t *delbuf;
	size_t deloff;
	uint32_t delseq;

	unsigned log_tokens;
	uint64_t log_refill_at, log_suppressed;
	px_every_t nft_err_log, del_err_log;
	uint64_t report_at, reported_sources, reported_conns;
	size_t nlocal;

	px_watcher_stats_t st;
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long read_sysctl(const char *name);

static const char *kset_of(int family)
{
	return family == 4 ? PX_SET_HALFOPEN_BLOCK "4" :
			     PX_SET_HALFOPEN_BLOCK "6";
}

/* ---- conntrack messages ---- */

/* The fields the quotas need; -1 for what they ignore. */
static int ct_from_nfct(const struct nf_conntrack *nc, px_ct_t *out)
{
	uint8_t l3, l4;

	memset(out, 0, sizeof(*out));
	if (!nfct_attr_is_set(nc, ATTR_L3PROTO) ||
	    !nfct_attr_is_set(nc, ATTR_L4PROTO))
		return -1;
	l3 = nfct_get_attr_u8(nc, ATTR_L3PROTO);
	l4 = nfct_get_attr_u8(nc, ATTR_L4PROTO);
	if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP)
		return -1;
	if (l3 == AF_INET && nfct_attr_is_set(nc, ATTR_IPV4_SRC) &&
	    nfct_attr_is_set(nc, ATTR_IPV4_DST)) {
		out->t.family = 4;
		memcpy(out->t.src, nfct_get_attr(nc, ATTR_IPV4_SRC), 4);
		memcpy(out->t.dst, nfct_get_attr(nc, ATTR_IPV4_DST), 4);
	} else if (l3 == AF_INET6 && nfct_attr_is_set(nc, ATTR_IPV6_SRC) &&
		   nfct_attr_is_set(nc, ATTR_IPV6_DST)) {
		out->t.family = 6;
		memcpy(out->t.src, nfct_get_attr(nc, ATTR_IPV6_SRC), 16);
		memcpy(out->t.dst, nfct_get_attr(nc, ATTR_IPV6_DST), 16);
	} else {
		return -1;
	}
	out->t.proto = l4;
	if (nfct_attr_is_set(nc, ATTR_PORT_SRC))
		out->t.sport = ntohs(nfct_get_attr_u16(nc, ATTR_PORT_SRC));
	if (nfct_attr_is_set(nc, ATTR_PORT_DST))
		out->t.dport = ntohs(nfct_get_attr_u16(nc, ATTR_PORT_DST));
	if (nfct_attr_is_set(nc, ATTR_ID))
		out->t.id = nfct_get_attr_u32(nc, ATTR_ID);
	if (nfct_attr_is_set(nc, ATTR_ZONE))
		out->t.zone = nfct_get_attr_u16(nc, ATTR_ZONE);
	out->tcp_state = PX_TCP_UNKNOWN;
	if (l4 == IPPROTO_TCP && nfct_attr_is_set(nc, ATTR_TCP_STATE))
		out->tcp_state = nfct_get_attr_u8(nc, ATTR_TCP_STATE);
	/* The kernel's start time when net.netfilter.nf_conntrack_timestamp
	 * is on, else now: the same clock (CLOCK_REALTIME, ns). */
	out->born = nfct_attr_is_set(nc, ATTR_TIMESTAMP_START) ?
		nfct_get_attr_u64(nc, ATTR_TIMESTAMP_START) : realtime_ns();
	return 0;
}

static struct nf_conntrack *nfct_or_die(void)
{
	struct nf_conntrack *nc = nfct_new();

	if (!nc) {
		fprintf(stderr, "fatal: out of memory (nfct_new)\n");
		abort();
	}
	return nc;
}

/* The first time a TCP connection is seen in TIME_WAIT or CLOSE: its
 * real end, which its DESTROY comes long after. */
static void note_closing(px_watcher_t *w, const px_ct_t *ct)
{
	struct closing *c = &w->closing[ct->t.id % CLOSING_SLOTS];

	if (ct->t.proto != IPPROTO_TCP ||
	    (ct->tcp_state != TCP_CONNTRACK_TIME_WAIT &&
	     ct->tcp_state != TCP_CONNTRACK_CLOSE) ||
	    (c->ns && c->id == ct->t.id && c->sport == ct->t.sport))
		return;
	c->id = ct->t.id;
	c->sport = ct->t.sport;
	c->ns = realtime_ns();
}

/* A DESTROY event for the firewall log.  The kernel's own ends carry
 * netlink port id 0; an end someone asked for carries the asker's. */
static void report_end(px_watcher_t *w, const struct nlmsghdr *nlh,
		       const struct nf_conntrack *nc, const px_ct_t *ct)
{
	px_ct_end_t e;

	memset(&e, 0, sizeof(e));
	e.t = ct->t;
	e.tcp_state = ct->tcp_state;
	if (nfct_attr_is_set(nc, ATTR_STATUS))
		e.status = nfct_get_attr_u32(nc, ATTR_STATUS);
	if (nfct_attr_is_set(nc, ATTR_MARK))
		e.mark = nfct_get_attr_u32(nc, ATTR_MARK);
	if (nfct_attr_is_set(nc, ATTR_ORIG_COUNTER_PACKETS) &&
	    nfct_attr_is_set(nc, ATTR_REPL_COUNTER_PACKETS)) {
		e.acct = true;
		e.packets[0] = nfct_get_attr_u64(nc, ATTR_ORIG_COUNTER_PACKETS);
		e.bytes[0] = nfct_get_attr_u64(nc, ATTR_ORIG_COUNTER_BYTES);
		e.packets[1] = nfct_get_attr_u64(nc, ATTR_REPL_COUNTER_PACKETS);
		e.bytes[1] = nfct_get_attr_u64(nc, ATTR_REPL_COUNTER_BYTES);
	}
	if (nfct_attr_is_set(nc, ATTR_TIMESTAMP_START) &&
	    nfct_attr_is_set(nc, ATTR_TIMESTAMP_STOP)) {
		e.start_ns = nfct_get_attr_u64(nc, ATTR_TIMESTAMP_START);
		e.stop_ns = nfct_get_attr_u64(nc, ATTR_TIMESTAMP_STOP);
	}
	if (ct->t.proto == IPPROTO_TCP) {
		struct closing *c = &w->closing[ct->t.id % CLOSING_SLOTS];

		if (c->ns && c->id == ct->t.id && c->sport == ct->t.sport)
			e.closed_ns = c->ns;
		if (c->id == ct->t.id)
			memset(c, 0, sizeof(*c));
	}
	e.by = nlh->nlmsg_pid == 0 ? PX_CT_BY_KERNEL :
	       nlh->nlmsg_pid == mnl_socket_get_portid(w->del) ?
	       PX_CT_BY_WATCHER : PX_CT_BY_OTHER;
	w->end_cb(&e, w->end_arg);
}

static int on_event_msg(const struct nlmsghdr *nlh, void *data)
{
	px_watcher_t *w = data;
	struct nf_conntrack *nc;
	px_ct_type_t type;
	px_ct_t ct;

	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
		return MNL_CB_OK;
	switch (nlh->nlmsg_type & 0xff) {
	case IPCTNL_MSG_CT_NEW:
		type = nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL) ?
			PX_CT_NEW : PX_CT_UPDATE;
		break;
	case IPCTNL_MSG_CT_DELETE:
		type = PX_CT_DESTROY;
		break;
	default:
		return MNL_CB_OK;
	}
	w->st.events++;
	nc = nfct_or_die();
	if (nfct_nlmsg_parse(nlh, nc) == 0 && ct_from_nfct(nc, &ct) == 0) {
		px_quota_event(w->q, type, &ct);
		if (type == PX_CT_UPDATE && w->end_cb)
			note_closing(w, &ct);
		if (type == PX_CT_DESTROY && w->end_cb)
			report_end(w, nlh, nc, &ct);
	}
	nfct_destroy(nc);
	return MNL_CB_OK;
}

/* ---- destroying sessions ---- */

static void flush_deletes(px_watcher_t *w)
{
	if (!w->deloff)
		return;
	/* No NLM_F_ACK: the kernel answers only failures, read by
	 * on_del_answer; sessions already gone answer ENOENT. */
	if (mnl_socket_sendto(w->del, w->delbuf, w->deloff) < 0) {
		w->st.destroy_errors++;
		px_log(PX_LOG_ERR, "udp: cannot send session ends to conntrack: "
		       "%s", strerror(errno));
	}
	w->deloff = 0;
}

static void queue_delete(px_watcher_t *w, const px_ct_tuple_t *t)
{
	struct nf_conntrack *nc;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfh;

	/* A request is ~120 bytes: 512 leaves room for any. */
	if (DEL_BUF - w->deloff < 512)
		flush_deletes(w);
	nlh = mnl_nlmsg_put_header(w->delbuf + w->deloff);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++w->delseq;
	nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfh));
	nfh->nfgen_family = t->family == 4 ? AF_INET : AF_INET6;
	nfh->version = NFNETLINK_V0;
	nfh->res_id = 0;
	nc = nfct_or_die();
	nfct_set_attr_u8(nc, ATTR_L3PROTO, nfh->nfgen_family);
	if (t->family == 4) {
		nfct_set_attr(nc, ATTR_IPV4_SRC, t->src);
		nfct_set_attr(nc, ATTR_IPV4_DST, t->dst);
	} else {
		nfct_set_attr(nc, ATTR_IPV6_SRC, t->src);
		nfct_set_attr(nc, ATTR_IPV6_DST, t->dst);
	}
	nfct_set_attr_u8(nc, ATTR_L4PROTO, t->proto);
	nfct_set_attr_u16(nc, ATTR_PORT_SRC, htons(t->sport));
	nfct_set_attr_u16(nc, ATTR_PORT_DST, htons(t->dport));
	/* With the id the kernel ends this entry only, not a newer one that
	 * reuses the tuple. */
	nfct_set_attr_u32(nc, ATTR_ID, t->id);
	if (t->zone)
		nfct_set_attr_u16(nc, ATTR_ZONE, t->zone);
	nfct_nlmsg_build(nlh, nc);
	nfct_destroy(nc);
	w->deloff += MNL_ALIGN(nlh->nlmsg_len);
}

/* libuv stops a poll handle on POLLERR and reports UV_EBADF, and a
 * netlink socket raises POLLERR when the kernel overruns it: take the
 * socket's error (which clears it) and poll again.  Returns the error. */
static int poll_error(uv_poll_t *h, uv_poll_cb cb)
{
	int err = 0, rc, fd = -1;
	socklen_t len = sizeof(err);

	uv_fileno((uv_handle_t *)h, &fd);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != ENOBUFS)
		px_log(PX_LOG_ERR, "conntrack: netlink socket error: %s",
		       err ? strerror(err) : "poll failed");
	rc = uv_is_closing((uv_handle_t *)h) ? 0 :
		uv_poll_start(h, UV_READABLE, cb);
	if (rc < 0)
		px_log(PX_LOG_ERR, "conntrack: cannot poll again: %s; the "
		       "watcher is deaf until restarted", uv_strerror(rc));
	return err;
}

static void on_del_answer(uv_poll_t *h, int status, int events)
{
	px_watcher_t *w = h->data;
	uint32_t buf[2048]; /* aligned for struct nlmsghdr */

	(void)events;
	if (status < 0)
		poll_error(h, on_del_answer); /* lost answers: failures */
	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(w->del), buf, sizeof(buf),
				 MSG_DONTWAIT);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int len = (int)n;

		if (n < 0 && (errno == EINTR || errno == ENOBUFS))
			continue; /* lost answers are only failures unseen */
		if (n <= 0)
			break;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0 || e->error == -ENOENT)
				continue;
			w->st.destroy_errors++;
			if (px_every(&w->del_err_log, px_mono_ms(),
				     NFT_ERR_LOG_MS, 1, NULL)) {
				px_log(PX_LOG_ERR, "udp: conntrack refused to end a "
				       "session: %s (%" PRIu64 " so far)",
				       strerror(-e->error), w->st.destroy_errors);
			}
		}
	}
}

/* ---- acting on decisions ---- */

static bool log_budget(px_watcher_t *w)
{
	uint64_t now = px_mono_ms();

	if (now >= w->log_refill_at) {
		uint64_t add = (now - w->log_refill_at) / 1000 * LOG_RATE +
			LOG_RATE;

		w->log_tokens = (unsigned)(w->log_tokens + add > LOG_BURST ?
					   LOG_BURST : w->log_tokens + add);
		w->log_refill_at = now + 1000;
	}
	if (!w->log_tokens) {
		w->log_suppressed++;
		return false;
	}
	w->log_tokens--;
	return true;
}

static void log_action(px_watcher_t *w, const px_quota_action_t *a,
		       int nft_rc)
{
	char src[PX_ENTRY_STR_MAX], more[96] = "";
	unsigned long long count = a->count, limit = a->limit;

	if (!log_budget(w))
		return;
	px_entry_format(&a->src, src, sizeof(src));
	if (a->suppressed)
		snprintf(more, sizeof(more), " (%llu more %s since the last "
			 "report)", (unsigned long long)a->suppressed,
			 a->kind == PX_QA_EVICT ? "ended" : "times");
	if (a->kind == PX_QA_EVICT) {
		px_log(PX_LOG_WARN, "udp: %s has %llu sessions (limit %llu): "
		       "%s the %zu oldest%s%s", src, count, limit,
		       a->observe ? "would end" : "ended", a->n,
		       a->observe ? " (observe mode)" : "", more);
		return;
	}
	if (nft_rc < 0) {
		px_log(PX_LOG_ERR, "half-open: %s has %llu half-open "
		       "connections (limit %llu): cannot %s: %s %s: %s", src,
		       count, limit, a->kind == PX_QA_BLOCK ?
		       "refuse new TCP connections" : "accept it again",
		       kset_of(a->src.family), a->kind == PX_QA_BLOCK ?
		       "add" : "delete", px_strerror(nft_rc));
		return;
	}
	if (a->kind == PX_QA_BLOCK)
		px_log(PX_LOG_WARN, "half-open: %s has %llu half-open "
		       "connections (limit %llu): %s%s%s", src, count, limit,
		       a->observe ? "would refuse new TCP connections "
		       "(observe mode)" : "refusing new TCP connections",
		       a->apply || a->observe ? "" : " still", more);
	else
		px_log(PX_LOG_INFO, "half-open: %s has %llu half-open "
		       "connections (limit %llu): %s", src, count, limit,
		       a->observe ? "back under the limit (observe mode)" :
		       count > limit ? "accepting new TCP connections again "
		       "(tcp-half-open is in observe mode now)" :
		       "accepting new TCP connections again");
}

static void do_actions(px_watcher_t *w)
{
	size_t i, j;

	for (i = 0; i < w->acts.n; i++) {
		const px_quota_action_t *a = &w->acts.v[i];
		int rc = 0;

		if (a->apply && a->kind != PX_QA_EVICT) {
			bool add = a->kind == PX_QA_BLOCK;

			rc = px_nft_elem(w->nft, kset_of(a->src.family),
					 a->src.family, a->src.addr,
					 add ? BLOCK_MS : 0, add);
			if (rc < 0) {
				w->st.nft_errors++;
				/* A failed renewal is retried at the next. */
				if (a->refresh &&
				    px_every(&w->nft_err_log, px_mono_ms(),
					     NFT_ERR_LOG_MS, 1, NULL))
					log_action(w, a, rc);
			}
		}
		if (a->apply && a->kind == PX_QA_EVICT)
			for (j = 0; j < a->n; j++)
				queue_delete(w, &w->acts.sessions[a->first + j]);
		if (a->log || (rc < 0 && !a->refresh))
			log_action(w, a, rc);
	}
	flush_deletes(w);
}

static void act(px_watcher_t *w)
{
	px_quota_actions_clear(&w->acts);
	px_quota_decide(w->q, px_mono_ms(), &w->acts);
	do_actions(w);
}

/* ---- dumps and resync ---- */

struct dump_ctx {
	px_ct_t *v;
	size_t n, cap, max, skipped;
	bool stamps; /* net.netfilter.nf_conntrack_timestamp is on */
};

static int on_dump_msg(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	struct nf_conntrack *nc = nfct_or_die();
	px_ct_t ct;

	if (nfct_nlmsg_parse(nlh, nc) == 0 && ct_from_nfct(nc, &ct) == 0 &&
	    (ct.t.proto == IPPROTO_UDP || ct.tcp_state == PX_TCP_SYN_SENT ||
	     ct.tcp_state == PX_TCP_SYN_RECV ||
	     ct.tcp_state == PX_TCP_SYN_SENT2)) {
		/* With timestamps on, an entry without one predates the
		 * setting: older than any with one. */
		if (d->stamps && !nfct_attr_is_set(nc, ATTR_TIMESTAMP_START))
			ct.born = 0;
		if (d->n == d->max) {
			d->skipped++;
		} else {
			if (d->n == d->cap) {
				d->cap = d->cap ? d->cap * 2 : 4096;
				d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
			}
			d->v[d->n++] = ct;
		}
	}
	nfct_destroy(nc);
	return MNL_CB_OK;
}

/* The whole conntrack table (TCP half-open and UDP entries) into d.
 * Bounded: DUMP_RECV_MS per read, DUMP_MAX_MS in all.  0 or negative. */
static int dump(struct dump_ctx *d)
{
	struct timeval tv = { DUMP_RECV_MS / 1000, 0 };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfh;
	uint64_t t0 = px_mono_ms();
	unsigned portid, seq = (unsigned)time(NULL);
	uint8_t *buf = xmalloc(DUMP_BUF);
	int rc = -1;

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		       sizeof(tv)) < 0) {
		rc = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfh));
	nfh->nfgen_family = AF_UNSPEC; /* IPv4 and IPv6 */
	nfh->version = NFNETLINK_V0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, DUMP_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errno == EAGAIN ? PX_ETIMEOUT : -errno;
			goto out;
		}
		rc = mnl_cb_run(buf, (size_t)n, seq, portid, on_dump_msg, d);
		if (rc == MNL_CB_STOP) {
			rc = 0;
			goto out;
		}
		if (rc < 0) {
			rc = -errno;
			goto out;
		}
		if (px_mono_ms() - t0 > DUMP_MAX_MS) {
			rc = PX_ETIMEOUT;
			goto out;
		}
	}
out:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return rc;
}

/* Events queued before the dump describe states older than it, and some
 * are missing: replayed on top of it, a lost "established" would leave a
 * connection counted half-open.  Drop them; what follows the drain is
 * complete and in order. */
static void discard_events(px_watcher_t *w)
{
	int fd = mnl_socket_get_fd(w->ev);
	uint64_t bytes = 0;

	while (bytes < 2ull * w->rcvbuf) {
		ssize_t n = recv(fd, w->slot[0], RECV_SLOT, MSG_DONTWAIT);

		if (n < 0 && (errno == EINTR || errno == ENOBUFS))
			continue;
		if (n <= 0)
			break;
		bytes += (uint64_t)n;
	}
}

static int resync(px_watcher_t *w, const char *why)
{
	struct dump_ctx d = { NULL, 0, 0, 0, 0, false };
	uint64_t t0 = px_mono_ms();
	px_quota_stats_t qs;
	int rc;

	w->resync_pending = false;
	w->last_resync_at = t0;
	discard_events(w);
	d.max = w->max_conns; /* the quota table cannot hold more */
	d.stamps = read_sysctl("nf_conntrack_timestamp") == 1;
	rc = dump(&d);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "conntrack dump (%s) failed: %s%s", why,
		       px_strerror(rc), w->started ? "; keeping the tables as "
		       "they are, retrying in 5 s" : "");
		free(d.v);
		return rc;
	}
	px_quota_resync(w->q, d.v, d.n);
	free(d.v);
	w->st.resyncs++;
	w->st.last_resync_ms = px_mono_ms() - t0;
	px_quota_stats(w->q, &qs);
	px_log(PX_LOG_INFO, "conntrack dump (%s): %zu half-open connections "
	       "and UDP sessions%s, %" PRIu64 " sources, in %" PRIu64 " ms",
	       why, d.n, d.skipped ? " (more skipped)" : "", qs.sources,
	       w->st.last_resync_ms);
	return 0;
}

static void on_resync_timer(uv_timer_t *t)
{
	px_watcher_t *w = t->data;

	if (resync(w, "events lost") < 0) {
		w->resync_pending = true;
		uv_timer_start(&w->resync_timer, on_resync_timer, RESYNC_GAP_MS,
			       0);
		return;
	}
	act(w);
}

/* Now if the last dump is old enough, else when it is. */
static void schedule_resync(px_watcher_t *w, const char *why,
			    const char *detail)
{
	uint64_t now = px_mono_ms(), wait = 0;

	if (w->resync_pending)
		return;
	if (w->last_resync_at && now < w->last_resync_at + RESYNC_GAP_MS)
		wait = w->last_resync_at + RESYNC_GAP_MS - now;
	if (wait) {
		px_log(PX_LOG_WARN, "%s, resyncing from a dump in %.1f s", detail,
		       wait / 1000.0);
		w->resync_pending = true;
		uv_timer_start(&w->resync_timer, on_resync_timer, wait, 0);
		return;
	}
	px_log(PX_LOG_WARN, "%s, resyncing from a dump", detail);
	if (resync(w, why) < 0) {
		w->resync_pending = true;
		uv_timer_start(&w->resync_timer, on_resync_timer, RESYNC_GAP_MS,
			       0);
	}
}

static uint32_t set_rcvbuf(px_watcher_t *w, uint32_t bytes)
{
	int fd = mnl_socket_get_fd(w->ev), v = (int)bytes, got = 0;
	socklen_t len = sizeof(got);

	/* FORCE passes net.core.rmem_max (root); plain SO_RCVBUF if not. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	w->rcvbuf = bytes;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0)
		w->st.rcvbuf = (uint32_t)got / 2; /* the kernel doubles it */
	return w->st.rcvbuf;
}

static void events_lost(px_watcher_t *w)
{
	char detail[160];

	w->st.events_lost++;
	if (w->resync_pending)
		return;
	if (w->rcvbuf < RCVBUF_MAX) {
		set_rcvbuf(w, w->rcvbuf * 2);
		snprintf(detail, sizeof(detail), "conntrack events lost "
			 "(ENOBUFS): receive buffer now %u MB",
			 w->st.rcvbuf >> 20);
	} else {
		snprintf(detail, sizeof(detail), "conntrack events lost "
			 "(ENOBUFS): receive buffer at its %u MB cap",
			 RCVBUF_MAX >> 20);
	}
	schedule_resync(w, "events lost", detail);
}

/* ---- events ---- */

static void on_events(uv_poll_t *h, int status, int events)
{
	px_watcher_t *w = h->data;
	int fd = mnl_socket_get_fd(w->ev), round, i;

	(void)events;
	if (status < 0 && poll_error(&w->ev_poll, on_events) == ENOBUFS)
		events_lost(w);
	for (round = 0; round < RECV_ROUNDS; round++) {
		int n;

		for (i = 0; i < RECV_BATCH; i++) {
			w->msgs[i].msg_hdr.msg_namelen = sizeof(w->from[i]);
			w->msgs[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(fd, w->msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				events_lost(w);
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				px_log(PX_LOG_ERR, "conntrack events: recv: %s",
				       strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			/* Only the kernel sends on the conntrack groups. */
			if (w->from[i].nl_pid != 0 ||
			    (w->msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
				continue;
			mnl_cb_run(w->slot[i], w->msgs[i].msg_len, 0, 0,
				   on_event_msg, w);
		}
		if (n < RECV_BATCH)
			break;
	}
	act(w);
}

/* ---- the member's own addresses ---- */

static void refresh_local(px_watcher_t *w)
{
	struct ifaddrs *ifa, *i;
	px_entries_t l;

	if (getifaddrs(&ifa) < 0) {
		px_log(PX_LOG_WARN, "conntrack watcher: cannot list local "
		       "addresses: %s", strerror(errno));
		return;
	}
	px_entries_init(&l);
	for (i = ifa; i; i = i->ifa_next) {
		px_entry_t e;

		if (!i->ifa_addr)
			continue;
		memset(&e, 0, sizeof(e));
		if (i->ifa_addr->sa_family == AF_INET) {
			e.family = 4;
			e.plen = 32;
			memcpy(e.addr, &((struct sockaddr_in *)(void *)
					 i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			e.family = 6;
			e.plen = 128;
			memcpy(e.addr, &((struct sockaddr_in6 *)(void *)
					 i->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		px_entries_push(&l, &e);
	}
	freeifaddrs(ifa);
	px_entries_normalize(&l);
	if (l.n != w->nlocal)
		px_log(PX_LOG_DEBUG, "conntrack watcher: %zu local addresses "
		       "never limited", l.n);
	w->nlocal = l.n;
	px_quota_set_local(w->q, &l);
	px_entries_free(&l);
}

/* ---- timers ---- */

static void report(px_watcher_t *w)
{
	px_quota_stats_t qs;
	uint64_t now = px_mono_ms();

	if (w->log_suppressed) {
		px_log(PX_LOG_WARN, "quota lines: %" PRIu64 " not logged (more "
		       "than %d a second)", w->log_suppressed, LOG_RATE);
		w->log_suppressed = 0;
	}
	if (now < w->report_at)
		return;
	w->report_at = now + REPORT_EVERY_MS;
	px_quota_stats(w->q, &qs);
	if (qs.sources_dropped > w->reported_sources)
		px_log(PX_LOG_WARN, "conntrack watcher: source table full "
		       "(%" PRIu64 " sources, all blocked or busy): %" PRIu64
		       " new sources not tracked", qs.sources,
		       qs.sources_dropped - w->reported_sources);
	if (qs.conns_dropped > w->reported_conns)
		px_log(PX_LOG_WARN, "conntrack watcher: connection table full "
		       "(%" PRIu64 "): %" PRIu64 " connections not tracked",
		       qs.conns, qs.conns_dropped - w->reported_conns);
	w->reported_sources = qs.sources_dropped;
	w->reported_conns = qs.conns_dropped;
}

static void on_tick(uv_timer_t *t)
{
	px_watcher_t *w = t->data;

	if (++w->ticks % LOCAL_EVERY_TICKS == 0)
		refresh_local(w);
	act(w);
	report(w);
}

/* ---- life cycle ---- */

static long read_sysctl(const char *name)
{
	char path[128], buf[32], *end;
	FILE *f;
	long v = -1;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		errno = 0;
		v = strtol(buf, &end, 10);
		if (errno || end == buf)
			v = -1;
	}
	fclose(f);
	return v;
}

/* Accounting and timestamps give the firewall log the bytes and the
 * duration of every connection that ends (in this namespace only). */
static void write_sysctl_on(const char *name, const char *lacking)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1\n", 2) != 2)
		px_log(PX_LOG_WARN, "conntrack: cannot set %s to 1 (%s): ended "
		       "connections are logged without %s", path,
		       strerror(errno), lacking);
	if (fd >= 0)
		close(fd);
}

static void free_watcher(px_watcher_t *w)
{
	if (w->ev)
		mnl_socket_close(w->ev);
	if (w->del)
		mnl_socket_close(w->del);
	px_quota_free(w->q);
	px_quota_actions_free(&w->acts);
	free(w->closing);
	free(w->slot);
	free(w->delbuf);
	free(w);
}

static void on_closed(uv_handle_t *h)
{
	px_watcher_t *w = h->data;

	if (--w->handles == 0)
		free_watcher(w);
}

static void close_handles(px_watcher_t *w)
{
	uv_handle_t *h[] = { (uv_handle_t *)&w->ev_poll,
			     (uv_handle_t *)&w->del_poll,
			     (uv_handle_t *)&w->tick,
			     (uv_handle_t *)&w->resync_timer };
	size_t i;

	if (!w->handles) {
		free_watcher(w);
		return;
	}
	for (i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		if (h[i]->data && !uv_is_closing(h[i]))
			uv_close(h[i], on_closed);
}

static int open_sockets(px_watcher_t *w)
{
	struct nfct_filter *f;

	w->ev = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->ev || mnl_socket_bind(w->ev, NF_NETLINK_CONNTRACK_NEW |
				      NF_NETLINK_CONNTRACK_UPDATE |
				      NF_NETLINK_CONNTRACK_DESTROY,
				      MNL_SOCKET_AUTOPID) < 0) {
		px_log(PX_LOG_ERR, "conntrack events: cannot subscribe: %s%s",
		       strerror(errno), errno == EPERM ?
		       " (needs CAP_NET_ADMIN)" : "");
		return -1;
	}
	set_rcvbuf(w, RCVBUF_START);
	/* Only TCP and UDP reach the socket: the kernel drops the rest
	 * before it takes buffer space. */
	f = nfct_filter_create();
	if (f) {
		nfct_filter_add_attr_u32(f, NFCT_FILTER_L4PROTO, IPPROTO_TCP);
		nfct_filter_add_attr_u32(f, NFCT_FILTER_L4PROTO, IPPROTO_UDP);
		if (nfct_filter_attach(mnl_socket_get_fd(w->ev), f) < 0)
			px_log(PX_LOG_WARN, "conntrack events: no kernel filter "
			       "(%s): filtering in userspace", strerror(errno));
		nfct_filter_destroy(f);
	}
	w->del = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->del || mnl_socket_bind(w->del, 0, MNL_SOCKET_AUTOPID) < 0) {
		px_log(PX_LOG_ERR, "conntrack: cannot open a netlink socket: %s",
		       strerror(errno));
		return -1;
	}
	return 0;
}

static int start_handles(px_watcher_t *w)
{
	int rc;

	if ((rc = uv_poll_init(w->loop, &w->ev_poll,
			       mnl_socket_get_fd(w->ev))) < 0)
		goto fail;
	w->ev_poll.data = w;
	w->handles++;
	if ((rc = uv_poll_init(w->loop, &w->del_poll,
			       mnl_socket_get_fd(w->del))) < 0)
		goto fail;
	w->del_poll.data = w;
	w->handles++;
	uv_timer_init(w->loop, &w->tick);
	w->tick.data = w;
	w->handles++;
	uv_timer_init(w->loop, &w->resync_timer);
	w->resync_timer.data = w;
	w->handles++;
	if ((rc = uv_poll_start(&w->ev_poll, UV_READABLE, on_events)) < 0 ||
	    (rc = uv_poll_start(&w->del_poll, UV_READABLE, on_del_answer)) < 0)
		goto fail;
	uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
	return 0;
fail:
	px_log(PX_LOG_ERR, "conntrack watcher: libuv: %s", uv_strerror(rc));
	return -1;
}

px_watcher_t *px_watcher_start(uv_loop_t *loop, px_nft_t *nft,
			       const px_entries_t *mgmt,
			       const px_policy_t *policy)
{
	px_watcher_t *w = xcalloc(1, sizeof(*w));
	px_quota_conf_t conf = { 0 };
	px_quota_stats_t qs;
	long max = read_sysctl("nf_conntrack_max");
	const px_limits_t *l = &policy->limits;
	size_t i;

	w->loop = loop;
	w->nft = nft;
	w->slot = xmalloc(RECV_BATCH * sizeof(*w->slot));
	w->delbuf = xmalloc(DEL_BUF);
	for (i = 0; i < RECV_BATCH; i++) {
		w->iov[i].iov_base = w->slot[i];
		w->iov[i].iov_len = RECV_SLOT;
		w->msgs[i].msg_hdr.msg_iov = &w->iov[i];
		w->msgs[i].msg_hdr.msg_iovlen = 1;
		w->msgs[i].msg_hdr.msg_name = &w->from[i];
	}
	px_quota_actions_init(&w->acts);
	conf.max_sources = 65536;
	/* No more connections than the conntrack table holds (bounded to
	 * 4M entries, ~400 MB of tracking at worst). */
	conf.max_conns = max >= 65536 && max <= (4l << 20) ? (uint32_t)max :
		max > (4l << 20) ? (4u << 20) : 262144;
	w->max_conns = conf.max_conns;
	conf.block_ms = BLOCK_MS;
	conf.refresh_ms = REFRESH_MS;
	w->q = px_quota_new(&conf);
	px_quota_set_mgmt(w->q, mgmt);
	px_quota_use_policy(w->q, policy);
	refresh_local(w);
	write_sysctl_on("nf_conntrack_acct", "bytes and packets");
	write_sysctl_on("nf_conntrack_timestamp", "durations");
	if (read_sysctl("nf_conntrack_events") == 0)
		px_log(PX_LOG_WARN, "conntrack events are off "
		       "(net.netfilter.nf_conntrack_events = 0): the watcher "
		       "only sees dumps");
	if (read_sysctl("nf_conntrack_timestamp") == 0)
		px_log(PX_LOG_INFO, "conntrack timestamps are off "
		       "(net.netfilter.nf_conntrack_timestamp = 0): UDP "
		       "sessions the watcher did not see start are ordered "
		       "as the dump lists them");
	if (open_sockets(w) < 0)
		goto fail;
	/* Subscribed first, then dumped: nothing falls between the two. */
	if (resync(w, "start") < 0)
		goto fail;
	w->started = true;
	if (start_handles(w) < 0)
		goto fail;
	act(w);
	px_quota_stats(w->q, &qs);
	px_log(PX_LOG_INFO, "conntrack watcher up: tcp-half-open %" PRIu64
	       " (%s), udp-concurrent %" PRIu64 " (%s), IPv6 sources per /%"
	       PRIu64 ", %zu management prefixes exempt, receive buffer %u MB",
	       l->value[PX_LIM_TCP_HALF_OPEN],
	       px_mode_name(l->mode[PX_LIM_TCP_HALF_OPEN]),
	       l->value[PX_LIM_UDP_CONCURRENT],
	       px_mode_name(l->mode[PX_LIM_UDP_CONCURRENT]),
	       l->value[PX_LIM_IPV6_PREFIX], mgmt ? mgmt->n : 0,
	       w->st.rcvbuf >> 20);
	return w;
fail:
	close_handles(w);
	return NULL;
}

void px_watcher_policy(px_watcher_t *w, const px_policy_t *policy)
{
	if (px_quota_use_policy(w->q, policy))
		schedule_resync(w, "policy", "conntrack watcher: the IPv6 "
				"source prefix or the udp-concurrent mode changed");
	act(w);
}

void px_watcher_policy_patched(px_watcher_t *w)
{
	px_quota_policy_changed(w->q);
	act(w);
}

void px_watcher_stats(px_watcher_t *w, px_watcher_stats_t *out)
{
	*out = w->st;
	px_quota_stats(w->q, &out->quota);
}

size_t px_watcher_top_half_open(px_watcher_t *w, px_entry_t *out,
				uint32_t *count, size_t k)
{
	return px_quota_top_half_open(w->q, out, count, k);
}

void px_watcher_on_end(px_watcher_t *w, px_ct_end_cb cb, void *arg)
{
	w->end_cb = cb;
	w->end_arg = arg;
	if (cb && !w->closing)
		w->closing = xcalloc(CLOSING_SLOTS, sizeof(*w->closing));
}

void px_watcher_set_rcvbuf(px_watcher_t *w, uint32_t bytes)
{
	set_rcvbuf(w, bytes);
	px_log(PX_LOG_INFO, "conntrack events: receive buffer set to %u KB",
	       w->st.rcvbuf >> 10);
}

void px_watcher_stop(px_watcher_t *w)
{
	size_t i;

	if (!w)
		return;
	/* Nobody renews or lifts the blocks after this: lift them now
	 * rather than let them run out. */
	px_quota_actions_clear(&w->acts);
	px_quota_unblock_all(w->q, &w->acts);
	if (w->acts.n)
		px_log(PX_LOG_INFO, "half-open: lifting %zu blocks on stop",
		       w->acts.n);
	for (i = 0; i < w->acts.n; i++)
		w->acts.v[i].log = false;
	do_actions(w);
	close_handles(w);
}

/* ---- resource protection: ending idle connections ---- */

typedef struct {
	uint32_t min_timeout; /* entries with less remaining are idle */
	struct nf_conntrack **idle;
	size_t n, cap;
} idle_scan_t;

static int idle_entry(enum nf_conntrack_msg_type type,
		      struct nf_conntrack *ct, void *arg)
{
	idle_scan_t *s = arg;

	(void)type;
	if (nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_TCP ||
	    nfct_get_attr_u8(ct, ATTR_TCP_STATE) != PX_TCP_ESTABLISHED ||
	    !nfct_attr_is_set(ct, ATTR_TIMEOUT) ||
	    nfct_get_attr_u32(ct, ATTR_TIMEOUT) > s->min_timeout)
		return NFCT_CB_CONTINUE;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->idle = xrealloc(s->idle, s->cap * sizeof(*s->idle));
	}
	s->idle[s->n++] = nfct_clone(ct);
	return NFCT_CB_CONTINUE;
}

/* End established TCP connections idle idle_s or more: their
 * remaining time-out is at most the full time-out minus that.  One
 * bounded dump, taken only when the table comes under pressure. */
uint64_t px_ct_end_idle(uint64_t full_timeout, uint64_t idle_s)
{
	struct nfct_handle *h = NULL;
	idle_scan_t s = { 0, NULL, 0, 0 };
	uint32_t family = AF_UNSPEC;
	uint64_t ended = 0;
	size_t i;

	if (full_timeout <= idle_s)
		return 0;
	s.min_timeout = (uint32_t)(full_timeout - idle_s);
	h = nfct_open(CONNTRACK, 0);
	if (!h) {
		px_log(PX_LOG_ERR, "conntrack (ending idle connections): %s", strerror(errno));
		return 0;
	}
	nfct_callback_register(h, NFCT_T_ALL, idle_entry, &s);
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0)
		px_log(PX_LOG_WARN, "conntrack dump (idle connections): %s",
		       strerror(errno));
	nfct_callback_unregister(h);
	for (i = 0; i < s.n; i++) {
		if (nfct_query(h, NFCT_Q_DESTROY, s.idle[i]) == 0)
			ended++;
		nfct_destroy(s.idle[i]);
	}
	free(s.idle);
	nfct_close(h);
	return ended;
}
