/* alerts.h - the store's alerts: the central node's history of every
 * member's alerts, their active set, the array-wide definitions, and the
 * counters the metrics endpoint serves.
 *
 * LMDB database "alerts" in the store's environment, one key space by
 * prefix byte:
 *   's' u64be seq      -> [disposition][packed Alert]: the history, in
 *                         arrival order; disposition 0 recorded, 1
 *                         absorbed (manual reset), 2 dropped (disabled):
 *                         only recorded ones are listed, the others are
 *                         kept so a resent id stays a duplicate
 *   'i' id             -> u64be seq: dedup index of the history
 *   'a' member NUL type NUL source -> packed Alert (seq set): the active
 *                         alert of that key
 *   'd' type           -> packed AlertDef
 *   'c' member NUL type NUL what -> u64: alerts counted per member, type
 *                         and what ("exceeded", "recovered", "info",
 *                         "absorbed", "dropped")
 *   'l' member         -> u64: the member's conntrack events lost (the
 *                         count of its latest events-lost alert)
 *   'u' member         -> u64: alerts its global cap suppressed (sum of
 *                         the .suppressed it reported)
 * The history is bounded: past max records the oldest go, with their
 * index entries.  A batch from a member is one transaction; the member
 * gets its AlertAck only after the commit, so an alert is either in the
 * database or still queued on the member. */
#ifndef PX_STORE_ALERTS_H
#define PX_STORE_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PX_ALERTS_HISTORY 100000
/* Alerts in one ALERT_LIST reply when the request does not say. */
#define PX_ALERTS_PAGE 10000

typedef struct px_alerts px_alertdb_t;

/* Open the alerts database in db's environment and load definitions and
 * counters.  max: history bound (0: PX_ALERTS_HISTORY).  0 or a negative
 * error (px_db_strerror / px_strerror). */
int px_alerts_open(px_alertdb_t **out, px_db_t *db, size_t max);
void px_alerts_close(px_alertdb_t *a); /* NULL is a no-op */

/* An AlertBatch from a member on the sync socket (peer rid): commit
 * what is new, then acknowledge every id that is now in the database or
 * refused for good (malformed).  With Raft the batch is one entry
 * (replicate.c): the leader acknowledges it once committed and applied,
 * a follower not at all (the member sends it again to the leader). */
void px_store_alerts_in(px_store_t *st, const px_rid_t *rid,
			const Phalanx__AlertBatch *b);
/* Acknowledge b's ids to the member at rid. */
void px_store_alerts_ack(px_store_t *st, const px_rid_t *rid,
			 const Phalanx__AlertBatch *b);
/* 0 if b fits the map with the policy's reserve left free, else the
 * error (checked before b is proposed). */
int px_store_alerts_fit(px_store_t *st, const Phalanx__AlertBatch *b);
/* A committed batch, on every store alike: 0, or the project's error
 * code with nothing kept. */
int px_store_alerts_apply(px_store_t *st, const Phalanx__AlertBatch *b);

/* ALERT_LIST, ALERT_RESET, ALERT_DEFINE: fill rep (alerts, alert_seq,
 * alerts_more, alert_defs, alerts_reset).  Returns 0, or a negative error
 * with a message in err.  *mem holds what rep points to: free it with
 * px_store_alerts_reply_free after the reply is sent. */
int px_store_alerts_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
			Phalanx__CtlReply *rep, char *err, size_t errlen,
			void **mem);
void px_store_alerts_reply_free(void *mem);

/* The store's alert "member-down" about member: exceeded (down) or
 * recovered, recorded only on a change of the active state (at most one
 * active per member, kept across store restarts).  0, or a negative
 * error (logged).  With Raft only the leader raises it, as an entry
 * (0: proposed; PX_ENOTLEADER on a follower). */
int px_store_alerts_member_down(px_store_t *st, const char *member, bool down,
				const char *text);
/* A committed member-down entry (member, state, time, text of in; its
 * id and sequence given here), on every store alike. */
int px_store_alerts_member_down_apply(px_store_t *st, const Phalanx__Alert *in);

/* The alert types that are disabled, for the store heartbeat: points
 * hb->alerts_disabled at static storage valid until the next call. */
void px_store_alerts_heartbeat(px_store_t *st, Phalanx__StoreHeartbeat *hb);

/* Counters, for the metrics: cb once per (member, type, what) with a
 * count, and once per member with events lost and suppressed. */
typedef void (*px_alerts_count_cb)(const char *member, const char *type,
				   const char *what, uint64_t n, void *arg);
typedef void (*px_alerts_member_cb)(const char *member, uint64_t events_lost,
				    uint64_t suppressed, void *arg);
void px_alerts_counts(const px_alertdb_t *a, px_alerts_count_cb cb,
		      px_alerts_member_cb mcb, void *arg);
/* The store's newest alert sequence number and active alerts. */
uint64_t px_alerts_seq(const px_alertdb_t *a);
uint64_t px_alerts_active(const px_alertdb_t *a);

#endif
