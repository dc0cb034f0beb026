/* nfq.c - payload inspection through NFQUEUE (nfq.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "alert.h"
#include "alerting.h"
#include "dns.h"
#include "fwlog.h"
#include "nflog.h"
#include "nfq.h"
#include "pop3.h"
#include "px.h"
#include "ratelog.h"
#include "vocab.h"

/* A whole packet: the inspected payload is at most an IP datagram. */
#define COPY_MAX 0xffff
/* Packets the kernel holds for the agent; past it they pass (fail
 * open).  The agent answers each at once, so the queue only fills when
 * the loop is stalled. */
#define QUEUE_MAXLEN 1024
/* A receive buffer for QUEUE_MAXLEN packets of a typical DNS size. */
#define RCVBUF (4 << 20)
/* Packets per wake: the loop's other handles get their turn. */
#define RECV_ROUNDS 64
#define LOG_EVERY_MS 60000

typedef struct px_nfq {
	px_node_t *n;
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	uv_poll_t poll;
	bool polling;
	char *buf;
	uint64_t seen, dropped;
	px_every_t err_log;
} px_nfq_t;

/* The addresses and ports of one IPv4 or IPv6 packet with TCP or UDP,
 * and where its transport payload starts. */
typedef struct {
	int family;
	const uint8_t *src, *dst;
	uint16_t sport, dport;
	bool tcp;
	size_t off;
} pkt_t;


/* 0, or -1 for anything else (the packet passes): a fragment after the
 * first (conntrack reassembles before forward; a fragment here is not
 * ours to read), an IPv6 extension header, a header cut short. */
static int parse(const uint8_t *p, size_t len, pkt_t *k)
{
	size_t l3, l4;
	uint8_t proto;

	if (len < 1)
		return -1;
	if (p[0] >> 4 == 4) {
		if (len < 20)
			return -1;
		l3 = (size_t)(p[0] & 0x0f) * 4;
		if (l3 < 20 || l3 > len || (px_be16_get(p + 6) & 0x1fff))
			return -1;
		k->family = 4;
		proto = p[9];
		k->src = p + 12;
		k->dst = p + 16;
	} else if (p[0] >> 4 == 6) {
		if (len < 40)
			return -1;
		l3 = 40;
		k->family = 6;
		proto = p[6];
		k->src = p + 8;
		k->dst = p + 24;
	} else {
		return -1;
	}
	if (proto == IPPROTO_UDP) {
		if (len - l3 < 8)
			return -1;
		l4 = 8;
	} else if (proto == IPPROTO_TCP) {
		if (len - l3 < 20)
			return -1;
		l4 = (size_t)(p[l3 + 12] >> 4) * 4;
		if (l4 < 20 || l4 > len - l3)
			return -1;
	} else {
		return -1;
	}
	k->tcp = proto == IPPROTO_TCP;
	k->sport = px_be16_get(p + l3);
	k->dport = px_be16_get(p + l3 + 2);
	k->off = l3 + l4;
	return 0;
}

static bool same_addr(const px_service_t *s, const pkt_t *k,
		      const uint8_t *a)
{
	return s->dst.family == k->family &&
	       memcmp(s->dst.addr, a, k->family == 4 ? 4 : 16) == 0;
}

/* The inspected service k is to (*response false) or from (true). */
static const px_service_t *service_of(const px_policy_t *p, const pkt_t *k,
				      bool *response)
{
	for (size_t i = 0; i < p->nservices; i++) {
		const px_service_t *s = &p->services[i];

		if (s->inspect == PX_INSPECT_NONE)
			continue;
		if (k->dport == s->port && same_addr(s, k, k->dst)) {
			*response = false;
			return s;
		}
		if (k->sport == s->port && same_addr(s, k, k->src)) {
			*response = true;
			return s;
		}
	}
	return NULL;
}

static void host_of(const pkt_t *k, const uint8_t *a, px_entry_t *e)
{
	memset(e, 0, sizeof(*e));
	e->family = (uint8_t)k->family;
	e->plen = k->family == 4 ? 32 : 128;
	memcpy(e->addr, a, k->family == 4 ? 4 : 16);
}

/* Whether src is in set name of the member's policy (a host or inside
 * a prefix of it: O(log n)). */
static bool in_set(const px_policy_t *p, const char *name,
		   const px_entry_t *src)
{
	const px_set_t *s = name[0] ? px_policy_find(p, name) : NULL;

	return s && (px_entries_contains(&s->entries, src) ||
		     px_entries_covering(&s->entries, src));
}

/* POP3's log reason: the seed's "POP buffer overflow". */
#define REASON_POP3 "pop-buffer-overflow"

/* The firewall log's record and the alert of one drop (v: DNS's, or
 * PX_DNS_PASS for POP3's overflow). */
static void report(px_nfq_t *q, const px_service_t *s, const pkt_t *k,
		   px_dns_verdict_t v, const uint8_t *p, size_t len)
{
	char prefix[64], text[PX_ALERT_TEXT_MAX];
	char a[PX_ENTRY_STR_MAX], b[PX_ENTRY_STR_MAX];
	bool pop3 = s->inspect == PX_INSPECT_POP3;
	px_entry_t src, dst;

	snprintf(prefix, sizeof(prefix), "%s%s", PX_FWLOG_PFX_PROTECT,
		 pop3 ? REASON_POP3 : px_dns_verdict_name(v));
	px_nflog_denied(q->n, prefix, k->family, p, len);
	host_of(k, k->src, &src);
	host_of(k, k->dst, &dst);
	px_entry_format(&src, a, sizeof(a));
	px_entry_format(&dst, b, sizeof(b));
	snprintf(text, sizeof(text), "%.49s to %.49s (service %.32s): %s",
		 a, b, s->name, pop3 ? "POP3 command longer than RFC 1939 "
		 "allows" : v == PX_DNS_ZONE_TRANSFER ?
		 "zone transfer from a source not allowed" :
		 v == PX_DNS_NAME_OVERFLOW ? "host name overflow" :
		 "length overflow");
	px_alerting_observe(q->n, pop3 ? "pop-intrusion" : "dns-intrusion",
			    &src, 1, 0, true, text);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
		     struct nfq_data *nfad, void *data)
{
	px_nfq_t *q = data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfad);
	const px_service_t *s;
	px_dns_verdict_t v = PX_DNS_PASS;
	bool drop = false;
	unsigned char *p = NULL;
	bool response = false;
	pkt_t k;
	int len;

	(void)msg;
	if (!ph)
		return 0;
	q->seen++;
	len = nfq_get_payload(nfad, &p);
	s = len > 0 && parse(p, (size_t)len, &k) == 0 ?
	    service_of(&q->n->applied, &k, &response) : NULL;
	if (s && s->inspect == PX_INSPECT_POP3) {
		/* The client's commands; the server's replies pass. */
		drop = !response && k.tcp &&
		       px_pop3_overflow(p + k.off, (size_t)len - k.off);
		if (drop)
			report(q, s, &k, PX_DNS_PASS, p, (size_t)len);
	} else if (s) {
		v = px_dns_check(p + k.off, (size_t)len - k.off, k.tcp,
				 response);
		if (v == PX_DNS_ZONE_TRANSFER) {
			px_entry_t src;

			host_of(&k, k.src, &src);
			if (in_set(&q->n->applied, s->xfr_set, &src))
				v = PX_DNS_PASS;
		}
		drop = v != PX_DNS_PASS;
		if (drop)
			report(q, s, &k, v, p, (size_t)len);
	}
	if (drop)
		q->dropped++;
	return nfq_set_verdict(qh, ntohl(ph->packet_id),
			       drop ? NF_DROP : NF_ACCEPT, 0, NULL);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	px_nfq_t *q = h->data;
	int fd = nfq_fd(q->h);

	(void)events;
	if (status < 0) {
		/* A netlink overrun: the packets it lost stay queued until
		 * the queue fills and fails open.  Clear it, poll again. */
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (px_every(&q->err_log, px_mono_ms(), LOG_EVERY_MS, 1, NULL))
			px_log(PX_LOG_WARN, "inspection: NFQUEUE socket: %s",
			       strerror(err));
		if (!uv_is_closing((uv_handle_t *)h))
			uv_poll_start(h, UV_READABLE, on_readable);
	}
	for (int round = 0; round < RECV_ROUNDS; round++) {
		ssize_t n = recv(fd, q->buf, COPY_MAX + 4096, MSG_DONTWAIT);

		if (n < 0 && (errno == EINTR || errno == ENOBUFS))
			continue;
		if (n <= 0)
			break;
		nfq_handle_packet(q->h, q->buf, (int)n);
	}
}

static void free_nfq(px_nfq_t *q)
{
	if (q->qh)
		nfq_destroy_queue(q->qh);
	if (q->h)
		nfq_close(q->h);
	free(q->buf);
	free(q);
}

static void on_closed(uv_handle_t *h)
{
	free_nfq(h->data);
}

void px_nfq_start(px_node_t *n)
{
	px_nfq_t *q = xcalloc(1, sizeof(*q));
	int rcv = RCVBUF, one = 1;
	const char *step = "open";

	q->n = n;
	q->buf = xmalloc(COPY_MAX + 4096);
	q->h = nfq_open();
	if (!q->h)
		goto fail;
	step = "bind";
	q->qh = nfq_create_queue(q->h, PX_NFQUEUE_NUM, on_packet, q);
	if (!q->qh)
		goto fail;
	step = "configure";
	if (nfq_set_mode(q->qh, NFQNL_COPY_PACKET, COPY_MAX) < 0 ||
	    nfq_set_queue_maxlen(q->qh, QUEUE_MAXLEN) < 0 ||
	    nfq_set_queue_flags(q->qh, NFQA_CFG_F_FAIL_OPEN,
				NFQA_CFG_F_FAIL_OPEN) < 0)
		goto fail;
	/* Best effort: without them the defaults apply. */
	(void)setsockopt(nfq_fd(q->h), SOL_SOCKET, SO_RCVBUFFORCE, &rcv,
			 sizeof(rcv));
	(void)setsockopt(nfq_fd(q->h), SOL_NETLINK, NETLINK_NO_ENOBUFS, &one,
			 sizeof(one));
	uv_poll_init(n->loop, &q->poll, nfq_fd(q->h));
	q->poll.data = q;
	q->polling = true;
	uv_poll_start(&q->poll, UV_READABLE, on_readable);
	n->nfq = q;
	return;
fail:
	px_log(PX_LOG_ERR, "inspection: NFQUEUE %d: %s: %s%s; inspected "
	       "services pass uninspected", PX_NFQUEUE_NUM, step,
	       strerror(errno), errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
	free_nfq(q);
}

void px_nfq_stop(px_node_t *n)
{
	px_nfq_t *q = n->nfq;

	if (!q)
		return;
	n->nfq = NULL;
	px_log(PX_LOG_INFO, "inspection: %llu packets, %llu dropped",
	       (unsigned long long)q->seen, (unsigned long long)q->dropped);
	/* The queue is unbound after libuv has let go of its fd. */
	if (q->polling)
		uv_close((uv_handle_t *)&q->poll, on_closed);
	else
		free_nfq(q);
}
