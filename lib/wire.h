/* wire.h - the message layer shared by the three binaries: one
 * phalanx.Envelope per ZeroMQ message (after the routing frame on
 * ROUTER sockets), endpoint naming, entry packing. */
#ifndef PX_WIRE_H
#define PX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "phalanx.pb-c.h"

#define PX_PROTO_VERSION 1

/* A store listens on three consecutive ports of one base endpoint:
 *   base+0  ctl      ROUTER  (phalanxctl: REQ or DEALER)
 *   base+1  sync     ROUTER  (member DEALER: snapshots, heartbeats)
 *   base+2  pub      PUB     (changes, store heartbeats)
 * Everyone is configured with the base, e.g. tcp://192.0.2.10:7700. */
#define PX_PORT_DEFAULT 7700
enum { PX_EP_CTL = 0, PX_EP_SYNC = 1, PX_EP_PUB = 2 };
/* Derive endpoint `which` from base into out (size len).  Accepts
 * tcp://HOST:PORT and tcp://[V6]:PORT; 0 or PX_EBADREQ. */
int px_endpoint(const char *base, int which, char *out, size_t len);

/* Largest message a daemon accepts (ZMQ_MAXMSGSIZE): room for a
 * 1,000,000-entry IPv6 import (18 B + 2 B framing an entry). */
#define PX_MSG_MAX (64LL << 20)
/* The largest ctl request: a whole set, PX_SET_ENTRIES_MAX entries of
 * at most PX_ENTRY_WIRE_MAX bytes, each framed by a field tag and a
 * one-byte length, plus 1 MiB for the rest of the request (names, a
 * rule, a limit: all small).  2,000,000 * 20 + 1 MiB = 41 MiB: a bigger
 * message could only be refused, so the store's libzmq drops it before
 * the store reads or decodes a byte of it (and phalanxctl refuses to
 * send it, naming its size). */
#define PX_CTL_MSG_MAX ((int64_t)PX_SET_ENTRIES_MAX * \
			(PX_ENTRY_WIRE_MAX + 2) + (1 << 20))
/* Entries per Change part / SnapshotChunk: bounds every message.  A
 * member unpacks each on its loop thread: 65536 took 40-120 ms on a
 * loaded 2-core host (one allocation an entry), 8192 keep that a few ms
 * and the loop's turns under 50 ms. */
#define PX_CHUNK_ENTRIES 8192

/* A ROUTER peer: its routing id, whether it framed its message with
 * the empty delimiter REQ sockets add (the reply must too), and its
 * name for log lines: ZeroMQ's "Peer-Address" ("?" if unknown) and the
 * connection, e.g. "192.0.2.1#80000002"; and whose key sent it. */
typedef struct {
	uint8_t id[256];
	size_t len;
	int delimited;
	char peer[64];
	/* The ZAP handler's User-Id for the connection (the peer's public
	 * key in z85, store/auth.c), "" on sockets without CURVE. */
	char user[48];
} px_rid_t;

/* Largest message a member sends the store on the sync socket
 * (ZMQ_MAXMSGSIZE there): a LogBatch of 512 records (node/nflog.c) of
 * at most 768 B JSON + 320 B text + ~100 B of other fields is ~600 KB;
 * alert batches (256 alerts) and heartbeats are smaller.  ZeroMQ drops
 * a larger message and its connection before the store reads a byte. */
#define PX_SYNC_MSG_MAX (1LL << 20)

/* Encode env (proto_version is set here) and send it; rid (may be NULL)
 * is sent first as the routing frame.  0 or -errno. */
int px_wire_send(void *sock, const px_rid_t *rid, Phalanx__Envelope *env);
/* Receive one message (flags: 0 or ZMQ_DONTWAIT).  rid is filled on
 * ROUTER sockets (pass NULL otherwise).  Returns 0 with *out owned by
 * the caller (px_wire_free), -EAGAIN, or PX_EDECODE / PX_EPROTO_VERSION
 * after logging what was refused; the message is consumed either way. */
int px_wire_recv(void *sock, int flags, px_rid_t *rid,
		 Phalanx__Envelope **out);
void px_wire_free(Phalanx__Envelope *env);
/* The decoding half of px_wire_recv for a message already in buf: unpack,
 * check the protocol version, drop unknown fields.  A refusal is logged
 * (rate-limited) under peer.  0 with *out the caller's, or PX_EDECODE /
 * PX_EPROTO_VERSION. */
int px_wire_decode(const void *buf, size_t n, const char *peer,
		   Phalanx__Envelope **out);

/* Free every unknown field of msg and of every message inside it (a
 * peer's extra bytes are never kept, stored or served again).
 * px_wire_recv does this to every message it returns; msg must come
 * from an unpack with the default allocator. */
void px_wire_drop_unknown(ProtobufCMessage *msg);

/* Pack n entries into a ProtobufCBinaryData array backed by one buffer:
 * *bins and *buf are the caller's to free(). */
void px_wire_pack_entries(const px_entry_t *v, size_t n,
			  ProtobufCBinaryData **bins, uint8_t **buf);
/* Decode and validate; on error *bad is the 1-based index. */
int px_wire_unpack_entries(const ProtobufCBinaryData *bins, size_t n,
			   px_entries_t *out, size_t *bad);

#endif
