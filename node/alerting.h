/* alerting.h - the member's alerts: what it observes, once a second, fed
 * to the engine (alert.h), queued durably (outbox.h) and sent to the
 * store until acknowledged.
 *
 * Observations:
 *   - the kernel's block sets tcp_block4/6, http_block4/6 and
 *     halfopen_block4/6: a source in one is exceeding that quota; the
 *     observe sets obs_<quota>4/6: a source there would have been refused
 *     (alert text says "observe mode");
 *   - the conntrack watcher: sources it acted on since the last second
 *     (tcp-half-open, udp-concurrent: the newest of its recent sources),
 *     and its events_lost counter: an increase is an "events-lost" excess;
 *   - the store: silent past --store-timeout is a "store-lost" excess,
 *     its return ends it.
 * Alert types the store has disabled (its heartbeat lists them) are not
 * raised. */
#ifndef PX_ALERTING_H
#define PX_ALERTING_H

#include "node.h"
#include "phalanx.pb-c.h"

/* Options of phalanx-node this file owns: "alert-window-ms",
 * "alert-rate", "ct-rcvbuf".  0, PX_ERANGE / PX_EBADREQ on a bad value,
 * PX_EBADREQ for another key. */
int px_alerting_option(px_node_opts_t *o, const char *key, const char *value);
/* The usage lines of those options. */
extern const char px_alerting_usage[];

/* Start: engine, outbox (in n->state), the watcher's receive buffer
 * (--ct-rcvbuf).  Sets n->alerting; never fails (a failing outbox file is
 * logged, alerts are then kept in memory). */
void px_alerting_start(px_node_t *n);
/* Once a second: observe, raise, write the outbox, send what is due. */
void px_alerting_tick(px_node_t *n);
/* The store acknowledged these ids. */
void px_alerting_ack(px_node_t *n, const Phalanx__AlertAck *ack);
/* The store's heartbeat: which alert types are disabled. */
void px_alerting_store_heartbeat(px_node_t *n, const Phalanx__StoreHeartbeat *hb);
/* A detector's observation, e.g. "conntrack-headroom" (source NULL) or
 * "denied-packet-rate": raised with the next tick. */
void px_alerting_observe(px_node_t *n, const char *type,
			 const px_entry_t *source, uint64_t count,
			 uint64_t limit, bool exceeding, const char *text);
/* Write the outbox and free everything.  NULL n->alerting is a no-op. */
void px_alerting_stop(px_node_t *n);

#endif
