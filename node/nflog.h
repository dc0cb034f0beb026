/* nflog.h - the member's firewall log: all its I/O.
 *
 * In:  NFLOG group PX_FWLOG_GROUP (libmnl + libnetfilter_log; libuv owns
 *      the socket): one packet per refusal of the log statements compile.c
 *      puts in its refusal rules, and the conntrack watcher's connection
 *      ends (ct.h px_watcher_on_end).
 * Out: one record each (fwlog.h), after the per-second caps (denied
 *      --log-rate, default 100; ended --log-ended-rate, default 1000;
 *      what a cap turns away is counted exactly and reported the next
 *      second in one "suppressed" record):
 *        - a JSON lines file, --fwlog (default <cache>.fwlog.jsonl), at
 *          most --fwlog-max-mb (64) before it is renamed FILE.1 (one
 *          rotation);
 *        - syslog (daemon.info) with --fwlog-syslog on;
 *        - the store: LogBatch messages on the sync socket once a second,
 *          best effort (no ack, no resend) from a bounded queue of 4096
 *          records; what the queue drops is counted in LogBatch.lost.
 * The watcher turns on conntrack accounting and timestamps in the
 * member's namespace (ct.c), so ended records carry bytes and
 * durations.  NFLOG's per-instance sequence numbers count the
 * records the kernel could not queue to it (receive buffer overrun):
 * reported in "lost" records.
 *
 * The kernel side switch of flood-mitigation records is the array-wide
 * setting log-flood-blocks (compile.c leaves the log statements out);
 * --log-flood-blocks off drops them here, on this member only. */
#ifndef PX_NFLOG_H
#define PX_NFLOG_H

#include "node.h"

/* Options of phalanx-node this file owns: "fwlog", "fwlog-max-mb",
 * "fwlog-syslog", "log-rate", "log-ended-rate", "log-flood-blocks".  0,
 * PX_ERANGE / PX_EBADREQ on a bad value, PX_EOPTION for another key. */
int px_nflog_option(px_node_opts_t *o, const char *key, const char *value);
/* The usage lines of those options. */
extern const char px_nflog_usage[];

/* Start: sysctls, the NFLOG socket, the file, the watcher's ends.  Sets
 * n->nflog; never fails (what it cannot do is logged and left out). */
void px_nflog_start(px_node_t *n);
/* Once a second: summaries that are due, the file flushed, records sent
 * to the store on n->sync.  NULL n->nflog is a no-op. */
void px_nflog_tick(px_node_t *n);
/* Write what is due, close everything; the poll handle is freed by the
 * loop (run it once more).  NULL n->nflog is a no-op. */
void px_nflog_stop(px_node_t *n);
/* A packet another file dropped (nfq.c), logged as if NFLOG had brought
 * it with prefix: the same record, cap and alerts.  family 4 or 6, p
 * the packet from its IP header. */
void px_nflog_denied(px_node_t *n, const char *prefix, int family,
		     const uint8_t *p, size_t len);

#endif
