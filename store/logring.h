/* logring.h - the store's view of the members' firewall logs: the newest
 * records of the whole array, in memory, numbered in arrival order, for
 * `phalanxctl log tail' (LOG_LIST) and `phalanxctl top' (TOP).
 *
 * Not durable and best effort on purpose: each member's own JSON lines
 * file is the log; members send copies in LogBatch messages without acks
 * (node/nflog.h).  A batch's lost count (records the member's queue
 * dropped) becomes one "lost" record here.
 *
 * TOP counts, per source address, the records received in the last
 * PX_TOP_WINDOW_MS: denied records, connections ended and their bytes,
 * distinct destinations, the members that logged it, and the quotas
 * whose block sets hold it now (the members' heartbeats).  "Now" is
 * that window: a connection still open has not ended and is not
 * counted, and a member's suppressed denied records are counted only in
 * total (top_suppressed), since they carry no source. */
#ifndef PX_STORE_LOGRING_H
#define PX_STORE_LOGRING_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PX_LOGRING_MAX 10000      /* records kept */
#define PX_LOG_PAGE 1000          /* records in one LOG_LIST reply at most */
#define PX_TOP_WINDOW_MS 60000
#define PX_TOP_DEFAULT 10
#define PX_TOP_MAX 100

typedef struct px_logring px_logring_t;

/* max 0: PX_LOGRING_MAX. */
px_logring_t *px_logring_new(size_t max);
void px_logring_free(px_logring_t *r); /* NULL is a no-op */
/* The number the next record will get (store/waiters.c: it moved, so
 * a held LOG_LIST may have something to answer). */
uint64_t px_logring_next_seq(const px_logring_t *r);

/* A LogBatch from a member (sync socket).  Hostile input: a record with
 * a bad member or type is skipped, bad addresses are left out, long
 * strings are refused. */
void px_store_log_in(px_store_t *st, const Phalanx__LogBatch *b);

/* LOG_LIST and TOP: fill rep (log_records, log_seq, log_more; top,
 * top_window_ms, top_suppressed).  0, or a negative error with a message
 * in err.  rep points into *mem and into the ring: send it before the
 * ring changes, then px_store_log_reply_free(*mem). */
int px_store_log_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
		     Phalanx__CtlReply *rep, char *err, size_t errlen,
		     void **mem);
void px_store_log_reply_free(void *mem);

#endif
