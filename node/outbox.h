/* outbox.h - the member's durable queue of alerts for the store.
 *
 * Every alert the member raises is queued here and written to the
 * member's state (state.h, sub-database "outbox": one record per alert,
 * added and deleted in place) by px_outbox_flush, once a second before
 * sending.  It is sent in AlertBatch messages until the store
 * acknowledges its id, and survives a member restart; the store dedups by
 * id, so sending twice is harmless.
 *
 * Ids are "member:boot:seq": the state keeps a boot counter that every
 * open increments (and writes at once), and seq counts from 1 within a
 * boot, so ids stay unique across restarts.  A new state (also one made
 * after a damaged one was set aside) or a damaged boot record makes the
 * counter start from the clock (seconds since the epoch, above any
 * counter a lost state could have reached); a damaged alert record is
 * dropped (and deleted), its boot still counted.
 *
 * The queue of an older member, the file "<cache>.alerts" (magic
 * "PXOUTBOX1\n", u64 boot, u32 count, count [u32 length][packed Alert]
 * records, u64 FNV-1a hash), is read once, written to the state and
 * renamed "<file>.migrated".
 *
 * Bounded: at most max alerts wait; past that new alerts are dropped and
 * counted (px_outbox_dropped), with one log line when it fills and one
 * when it has room again. */
#ifndef PX_OUTBOX_H
#define PX_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "phalanx.pb-c.h"
#include "state.h"

#define PX_OUTBOX_MAX 10000

typedef struct px_outbox px_outbox_t;

/* Open the queue of member in st (which must outlive it), load what it
 * holds (and the older file legacy, if not NULL and there) and start a
 * new boot.  Always returns a queue (*out); the return value is 0, or a
 * negative error if the state could not be read or written (logged; the
 * queue then works in memory and tries again at each flush).  st NULL:
 * in memory only (PX_EDB).  max 0: PX_OUTBOX_MAX. */
int px_outbox_open(px_outbox_t **out, px_state_t *st, const char *legacy,
		   const char *member, size_t max);
void px_outbox_close(px_outbox_t *o); /* NULL is a no-op; does not flush */

uint64_t px_outbox_boot(const px_outbox_t *o);
size_t px_outbox_len(const px_outbox_t *o);       /* waiting for an ack */
uint64_t px_outbox_dropped(const px_outbox_t *o); /* dropped: full */

/* Queue a with the next id (copied to id, at least 96 bytes, if not
 * NULL) and the member name.  0, or PX_ERANGE if the queue is full (the
 * alert is dropped and counted). */
int px_outbox_add(px_outbox_t *o, const px_alert_t *a, char *id, size_t len);

/* Write what changed since the last flush (new alerts, acked ones, the
 * boot) in one state transaction.  0 or a negative error (logged once per
 * run of failures).  Waits for a write transaction of another thread. */
int px_outbox_flush(px_outbox_t *o);

/* The store has these ids: forget them.  Returns how many were queued. */
size_t px_outbox_ack(px_outbox_t *o, char *const *ids, size_t n);

/* Up to max queued alerts that were not sent in the last resend_ms,
 * oldest first, marked as sent at now_ms.  The pointers stay valid until
 * the next add, ack or close. */
size_t px_outbox_due(px_outbox_t *o, uint64_t now_ms, uint64_t resend_ms,
		     Phalanx__Alert **v, size_t max);

/* A reply of the store may ask to send everything again at once (after
 * it restarted): the next px_outbox_due returns every alert. */
void px_outbox_resend_all(px_outbox_t *o);

/* One outbox record of the state: checksum, Alert, and an id matching
 * the key.  0 (*out owned by the caller: phalanx__alert__free_unpacked)
 * or PX_EDECODE. */
int px_outbox_record_decode(const uint8_t *key, size_t klen,
			    const uint8_t *val, size_t vlen,
			    Phalanx__Alert **out);

#endif
