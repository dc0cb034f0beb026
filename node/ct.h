/* ct.h - the conntrack watcher: all conntrack I/O of a member (libmnl
 * sockets, libnetfilter_conntrack messages, libuv owns the fds).
 *
 * It follows the kernel's conntrack events (NEW, UPDATE, DESTROY; TCP and
 * UDP, IPv4 and IPv6) and enforces the two quotas the kernel cannot hold
 * (quota.h): more than tcp-half-open half-open connections from a source
 * put the source in the block set "halfopen_block4" / "halfopen_block6" of
 * the member's table with a 10 s timeout, renewed every 3 s while it stays
 * over and deleted when it is back at or under the limit; more than
 * udp-concurrent UDP sessions from a source end its oldest sessions
 * (conntrack entries destroyed) until it is at the limit.
 *
 * The block sets are nft.c's: this file only adds and deletes elements
 * with px_nft_elem().  Assumptions about them (docs/nft-layout.md):
 *   - halfopen_block4 is keyed by the IPv4 source address;
 *   - halfopen_block6 is keyed by the IPv6 source address masked to the
 *     policy's ipv6-source-prefix bits (default 64): the rule must match
 *     `ip6 saddr and <that mask> @halfopen_block6`;
 *   - both have `flags timeout`, and px_nft_elem(add) on an element that
 *     is already there renews its timeout (kernel 6.18 does when the
 *     element carries NFTA_SET_ELEM_EXPIRATION as well as the timeout).
 *
 * Losing events (ENOBUFS) only delays decisions: the receive buffer grows
 * (8 MB, doubling up to 64 MB), and the tables are rebuilt from a full
 * conntrack dump (a bounded synchronous read, at most one every 5 s).
 * The watcher runs in the member's network namespace and needs
 * CAP_NET_ADMIN. */
#ifndef PX_CT_H
#define PX_CT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "nft.h"
#include "policy.h"
#include "quota.h"

typedef struct px_watcher px_watcher_t;

typedef struct {
	px_quota_stats_t quota;  /* per quota: blocked, would_block, active,
				  * recent sources; sources and sessions
				  * tracked, what the caps turned away */
	uint64_t events;         /* conntrack events received */
	uint64_t events_lost;    /* times the kernel dropped events (ENOBUFS) */
	uint64_t resyncs;        /* full dumps taken (the first included) */
	uint64_t last_resync_ms; /* how long the last dump took */
	uint64_t nft_errors;     /* block set changes the kernel refused */
	uint64_t destroy_errors; /* session ends the kernel refused (other
				  * than "already gone") */
	uint32_t rcvbuf;         /* event socket receive buffer, bytes */
} px_watcher_stats_t;

/* Subscribe to conntrack events, take the first dump and start watching
 * on loop.  nft: the member's table handle (the caller keeps it open
 * until px_watcher_stop).  mgmt: management prefixes, never limited
 * (copied; NULL for none).  policy: borrowed (see px_watcher_policy).
 * Returns NULL after logging why (no CAP_NET_ADMIN, no conntrack). */
px_watcher_t *px_watcher_start(uv_loop_t *loop, px_nft_t *nft,
			       const px_entries_t *mgmt,
			       const px_policy_t *policy);

/* A new policy was applied: limits, modes, tiers and exception sets are
 * read from it from now on (borrowed, not copied: the member's applied
 * policy, which the caller keeps until px_watcher_stop and tells the
 * watcher of every change to); every source is decided again at once. */
void px_watcher_policy(px_watcher_t *w, const px_policy_t *policy);
/* An entry-only change was applied in place to that policy (delta.h):
 * tiers are decided again, nothing resyncs. */
void px_watcher_policy_patched(px_watcher_t *w);

void px_watcher_stats(px_watcher_t *w, px_watcher_stats_t *out);
/* The k sources with the most half-open connections now, highest
 * first (px_quota_top_half_open): how many. */
size_t px_watcher_top_half_open(px_watcher_t *w, px_entry_t *out,
				uint32_t *count, size_t k);

/* Set the event socket's receive buffer to bytes from now on (it still
 * doubles on each loss, up to the cap).  For tests of the event-loss path
 * (phalanx-node --ct-rcvbuf); the default start is 8 MB. */
void px_watcher_set_rcvbuf(px_watcher_t *w, uint32_t bytes);

/* How a TCP or UDP connection ended (a DESTROY event), for the firewall
 * log (fwlog.h): its original direction, what conntrack knew at the end
 * and who ended it.  Counters need net.netfilter.nf_conntrack_acct = 1,
 * times nf_conntrack_timestamp = 1: px_watcher_start sets both in the
 * member's namespace (/proc/sys) and logs if it cannot. */
typedef enum {
	PX_CT_BY_KERNEL,   /* timeout, close, early drop: the kernel's own */
	PX_CT_BY_WATCHER,  /* this watcher ended it (udp-concurrent) */
	PX_CT_BY_OTHER,    /* another process asked (conntrack -D, -F) */
} px_ct_by_t;

typedef struct {
	px_ct_tuple_t t;
	uint8_t tcp_state;   /* at the end; PX_TCP_UNKNOWN if not given */
	uint32_t status;     /* IPS_* bits (linux/netfilter/nf_conntrack_common.h) */
	uint32_t mark;       /* the connection's ct mark */
	bool acct;           /* packets and bytes were given */
	uint64_t packets[2], bytes[2]; /* [0] original, [1] reply direction */
	uint64_t start_ns, stop_ns;    /* CLOCK_REALTIME ns; 0 if not given */
	/* When the watcher saw a TCP connection enter TIME_WAIT or CLOSE
	 * (its last FIN exchange or a reset), 0 if it did not: the kernel
	 * stops an entry only when it reaps it, after the state's timeout
	 * (TIME_WAIT 120 s) and its garbage collector's delay. */
	uint64_t closed_ns;
	px_ct_by_t by;
} px_ct_end_t;

typedef void (*px_ct_end_cb)(const px_ct_end_t *end, void *arg);

/* Call cb(end, arg) for every TCP and UDP connection that ends, from
 * the event callback (it must not block); cb NULL stops.  Ends lost with
 * events (ENOBUFS) are not reported.  Close times are remembered for at
 * most 65,536 connections closing at once (a direct-mapped table by
 * conntrack id; a collision forgets the older). */
void px_watcher_on_end(px_watcher_t *w, px_ct_end_cb cb, void *arg);

/* Delete the block elements it added, close its sockets and free it once
 * libuv has closed its handles (run the loop once more, e.g.
 * uv_run(loop, UV_RUN_NOWAIT)).  NULL is a no-op. */
void px_watcher_stop(px_watcher_t *w);

/* Resource protection: end established TCP connections idle idle_s
 * seconds or more, when the established time-out is full_timeout (their
 * remaining time-out is at most full_timeout - idle_s).  One bounded
 * dump on its own handle; returns how many were ended. */
uint64_t px_ct_end_idle(uint64_t full_timeout, uint64_t idle_s);

#endif
