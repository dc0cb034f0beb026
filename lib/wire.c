/* wire.c - Envelope framing over ZeroMQ, endpoints, entry packing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "px.h"
#include "ratelog.h"
#include "wire.h"

int px_endpoint(const char *base, int which, char *out, size_t len)
{
	const char *colon = strrchr(base, ':');
	uint64_t port;
	int n;

	if (strncmp(base, "tcp://", 6) != 0 || !colon || colon < base + 6)
		return PX_EBADREQ;
	if (px_parse_u64(colon + 1, 1, 65535 - 2, &port) < 0)
		return PX_EBADREQ;
	n = snprintf(out, len, "%.*s:%u", (int)(colon - base), base,
		     (unsigned)(port + (uint64_t)which));
	return n < 0 || (size_t)n >= len ? PX_EBADREQ : 0;
}

int px_wire_send(void *sock, const px_rid_t *rid, Phalanx__Envelope *env)
{
	zmq_msg_t msg;
	size_t n;
	int rc = -1;

	env->proto_version = PX_PROTO_VERSION;
	n = phalanx__envelope__get_packed_size(env);
	if (zmq_msg_init_size(&msg, n) != 0)
		return -errno;
	phalanx__envelope__pack(env, zmq_msg_data(&msg));
	if (rid && (zmq_send(sock, rid->id, rid->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    (rid->delimited && zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0))) {
		rc = -errno;
		zmq_msg_close(&msg);
		goto out;
	}
	if (zmq_msg_send(&msg, sock, ZMQ_DONTWAIT) < 0) {
		rc = -errno;
		zmq_msg_close(&msg);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static void drain_more(void *sock)
{
	int more = 0;
	size_t sz = sizeof(more);
	zmq_msg_t m;

	while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
		zmq_msg_init(&m);
		zmq_msg_recv(&m, sock, 0);
		zmq_msg_close(&m);
	}
}

/* The sender's address, from the message's metadata. */
static void peer_name(zmq_msg_t *m, char *out, size_t len)
{
	const char *a = zmq_msg_gets(m, "Peer-Address");

	snprintf(out, len, "%s", a && a[0] ? a : "?");
}

void px_wire_drop_unknown(ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d;
	unsigned i;
	size_t j;

	if (!msg)
		return;
	for (j = 0; j < msg->n_unknown_fields; j++)
		free(msg->unknown_fields[j].data);
	free(msg->unknown_fields);
	msg->unknown_fields = NULL;
	msg->n_unknown_fields = 0;
	d = msg->descriptor;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *base = (char *)msg;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)(base + f->quantifier_offset);
			ProtobufCMessage **v =
				*(ProtobufCMessage ***)(base + f->offset);

			for (j = 0; j < n; j++)
				px_wire_drop_unknown(v[j]);
			continue;
		}
		/* A oneof member is there only if the case names it. */
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		px_wire_drop_unknown(*(ProtobufCMessage **)(base + f->offset));
	}
}

int px_wire_recv(void *sock, int flags, px_rid_t *rid,
		 Phalanx__Envelope **out)
{
	char peer[64];
	zmq_msg_t msg;
	int rc;

	*out = NULL;
	if (rid) {
		rid->len = 0;
		rid->user[0] = '\0';
		snprintf(rid->peer, sizeof(rid->peer), "?");
	}
	if (rid) {
		rc = zmq_recv(sock, rid->id, sizeof(rid->id), flags);
		if (rc < 0)
			return -errno;
		rid->len = (size_t)rc > sizeof(rid->id) ? sizeof(rid->id) : (size_t)rc;
		rid->delimited = 0;
		flags = 0; /* the rest of a multipart message is already here */
	}
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, sock, flags) < 0) {
		rc = -errno;
		zmq_msg_close(&msg);
		return rc;
	}
	if (rid && zmq_msg_size(&msg) == 0 && zmq_msg_more(&msg)) {
		rid->delimited = 1;
		if (zmq_msg_recv(&msg, sock, 0) < 0) {
			rc = -errno;
			zmq_msg_close(&msg);
			return rc;
		}
	}
	drain_more(sock);
	if (rid) {
		size_t n;

		const char *user = zmq_msg_gets(&msg, "User-Id");

		peer_name(&msg, rid->peer, sizeof(rid->peer));
		snprintf(rid->user, sizeof(rid->user), "%s", user ? user : "");
		/* ROUTER's own routing ids are 0 then a 32-bit counter:
		 * name the connection too (two from one host differ). */
		n = strlen(rid->peer);
		if (rid->len == 5 && rid->id[0] == 0)
			snprintf(rid->peer + n, sizeof(rid->peer) - n,
				 "#%02x%02x%02x%02x", rid->id[1], rid->id[2],
				 rid->id[3], rid->id[4]);
	} else
		peer_name(&msg, peer, sizeof(peer));
	rc = px_wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg),
			    rid ? rid->peer : peer, out);
	zmq_msg_close(&msg);
	return rc;
}

int px_wire_decode(const void *buf, size_t n, const char *peer,
		   Phalanx__Envelope **out)
{
	Phalanx__Envelope *env;

	*out = NULL;
	env = phalanx__envelope__unpack(NULL, n, buf);
	if (!env) {
		px_refused(peer, "%s", px_strerror(PX_EDECODE));
		return PX_EDECODE;
	}
	if (env->proto_version != PX_PROTO_VERSION) {
		px_refused(peer, "protocol version %u (this build speaks %u)",
			   env->proto_version, PX_PROTO_VERSION);
		phalanx__envelope__free_unpacked(env, NULL);
		return PX_EPROTO_VERSION;
	}
	px_wire_drop_unknown(&env->base);
	*out = env;
	return 0;
}

void px_wire_free(Phalanx__Envelope *env)
{
	if (env)
		phalanx__envelope__free_unpacked(env, NULL);
}

void px_wire_pack_entries(const px_entry_t *v, size_t n,
			  ProtobufCBinaryData **bins, uint8_t **buf)
{
	uint8_t *p;
	size_t i;

	*bins = xcalloc(n, sizeof(**bins));
	*buf = p = xmalloc(n * PX_ENTRY_WIRE_MAX);
	for (i = 0; i < n; i++) {
		(*bins)[i].data = p;
		(*bins)[i].len = px_entry_encode(&v[i], p);
		p += (*bins)[i].len;
	}
}

int px_wire_unpack_entries(const ProtobufCBinaryData *bins, size_t n,
			   px_entries_t *out, size_t *bad)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		px_entry_t e;

		rc = px_entry_decode(bins[i].data, bins[i].len, &e);
		if (rc < 0) {
			*bad = i + 1;
			return rc;
		}
		px_entries_push(out, &e);
	}
	return 0;
}
