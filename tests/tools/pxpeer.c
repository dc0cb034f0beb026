/* pxpeer - a hostile or odd sync/ctl peer of phalanx-store for the lab
 * tests (tests/lab/t_store_bounds.sh).  Speaks raw ZeroMQ and the
 * project's wire layer; every loop is bounded by its count argument.
 *
 *   pxpeer snapflood BASE N SECONDS [MEMBER]
 *                                      N snapshot requests as MEMBER
 *                                      (probe1), then hold the connection
 *                                      SECONDS without reading a byte
 *   pxpeer hb BASE MEMBER VERSION N    N heartbeats (100 ms apart)
 *                                      claiming MEMBER at VERSION
 *   pxpeer alert BASE MEMBER BYTES     one alert carrying an unknown
 *                                      field of BYTES bytes; waits up to
 *                                      5 s for the ack: prints acked=0|1
 *   pxpeer alertsize BASE              ALERT_LIST: prints reply_bytes=
 *                                      and alerts=
 *   pxpeer log BASE MEMBER JSON        one denied log record whose JSON
 *                                      line is JSON, as given
 *   pxpeer garbage BASE N              N messages that do not decode
 *
 * BASE is the store's base endpoint (tcp://H:P).  Exit 0, 1 on failure,
 * 2 on usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "px.h"
#include "wire.h"

static void *ctx;

/* CURVE keys from the environment (the lab exports them): on ctl the
 * administrator's PHALANX_KEY, on sync PXPEER_KEY (a member key the
 * test enrolled); the store's public key is PHALANX_STORE_KEY.
 * Without them the peer speaks plain ZeroMQ. */
static void curve(void *s, int which)
{
	const char *kf = getenv(which == PX_EP_CTL ? "PHALANX_KEY" : "PXPEER_KEY");
	const char *sf = getenv("PHALANX_STORE_KEY");
	char err[4096 + 256], server[PX_KEY_Z85_LEN + 1];
	px_keypair_t kp;

	if (!kf || !*kf || !sf || !*sf)
		return;
	if (px_key_secret_load(kf, &kp, err, sizeof(err)) < 0 ||
	    px_key_public_load(sf, server, err, sizeof(err)) < 0) {
		fprintf(stderr, "pxpeer: %s\n", err);
		exit(1);
	}
	if (px_curve_client(s, &kp, server) < 0) {
		fprintf(stderr, "pxpeer: CURVE: %s\n", zmq_strerror(errno));
		exit(1);
	}
}

static void *peer(const char *base, int which, int rcvhwm)
{
	char ep[300];
	void *s;
	int zero = 0, bufsz = 4096;

	if (px_endpoint(base, which, ep, sizeof(ep)) < 0) {
		fprintf(stderr, "pxpeer: not an endpoint: `%s'\n", base);
		exit(2);
	}
	s = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	curve(s, which);
	if (rcvhwm) {
		/* A peer that never reads: take as little as ZeroMQ lets. */
		zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm));
		zmq_setsockopt(s, ZMQ_RCVBUF, &bufsz, sizeof(bufsz));
	}
	if (zmq_connect(s, ep) < 0) {
		fprintf(stderr, "pxpeer: connect %s: %s\n", ep,
			zmq_strerror(errno));
		exit(1);
	}
	return s;
}

static void send_env(void *s, Phalanx__Envelope *env)
{
	int rc;
	int tries = 0;

	/* A DEALER queues until connected; EAGAIN only if its queue is
	 * full: retry a bounded number of times. */
	while ((rc = px_wire_send(s, NULL, env)) == -EAGAIN && tries++ < 500)
		usleep(10000);
	if (rc < 0) {
		fprintf(stderr, "pxpeer: send: %s\n", px_strerror(rc));
		exit(1);
	}
}

static unsigned long num(const char *s, unsigned long max)
{
	uint64_t v;

	if (px_parse_u64(s, 0, max, &v) < 0) {
		fprintf(stderr, "pxpeer: not a number (0..%lu): `%s'\n", max, s);
		exit(2);
	}
	return (unsigned long)v;
}

static int snapflood(const char *base, unsigned long n, unsigned long secs,
		     const char *member)
{
	void *s = peer(base, PX_EP_SYNC, 1);
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__SnapshotRequest req = PHALANX__SNAPSHOT_REQUEST__INIT;
	unsigned long i;

	req.member = (char *)member;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_REQUEST;
	env.snapshot_request = &req;
	for (i = 0; i < n; i++)
		send_env(s, &env);
	printf("sent=%lu\n", n);
	fflush(stdout);
	sleep((unsigned)secs);
	zmq_close(s);
	return 0;
}

static int heartbeats(const char *base, const char *member, uint64_t version,
		      unsigned long n)
{
	void *s = peer(base, PX_EP_SYNC, 0);
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__Heartbeat hb = PHALANX__HEARTBEAT__INIT;
	unsigned long i;

	hb.member = (char *)member;
	hb.applied_version = version;
	env.body_case = PHALANX__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	for (i = 0; i < n; i++) {
		send_env(s, &env);
		usleep(100000);
	}
	printf("sent=%lu\n", n);
	zmq_close(s);
	return 0;
}

static int alert(const char *base, const char *member, unsigned long bytes)
{
	void *s = peer(base, PX_EP_SYNC, 0);
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT, *in = NULL;
	Phalanx__AlertBatch b = PHALANX__ALERT_BATCH__INIT;
	Phalanx__Alert al = PHALANX__ALERT__INIT, *alp = &al;
	ProtobufCMessageUnknownField uf;
	char id[128];
	int acked = 0, timeout = 5000;
	uint8_t *blob = xmalloc(bytes + 10);
	size_t pre = 0;
	unsigned long v = bytes;

	/* protobuf-c keeps a length-delimited unknown field with its
	 * length prefix (a varint) in data, and packs data as it is. */
	do {
		blob[pre++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	memset(blob + pre, 'U', bytes);
	snprintf(id, sizeof(id), "%s:%ld:1", member, (long)time(NULL));
	al.id = id;
	al.member = (char *)member;
	al.time_ms = px_now_ms();
	al.type = "tcp-connect-rate";
	al.state = "exceeded";
	al.text = "pxpeer: an alert with an unknown field";
	/* Field 1000, length-delimited: no schema has it. */
	uf.tag = 1000;
	uf.wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	uf.len = pre + bytes;
	uf.data = blob;
	if (bytes) {
		al.base.n_unknown_fields = 1;
		al.base.unknown_fields = &uf;
	}
	b.alerts = &alp;
	b.n_alerts = 1;
	env.body_case = PHALANX__ENVELOPE__BODY_ALERT_BATCH;
	env.alert_batch = &b;
	send_env(s, &env);
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	if (px_wire_recv(s, 0, NULL, &in) == 0 &&
	    in->body_case == PHALANX__ENVELOPE__BODY_ALERT_ACK)
		acked = 1;
	px_wire_free(in);
	printf("id=%s\nacked=%d\n", id, acked);
	free(blob);
	zmq_close(s);
	return acked ? 0 : 1;
}

static int alertsize(const char *base)
{
	void *s = peer(base, PX_EP_CTL, 0);
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT, *in = NULL;
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	zmq_msg_t msg;
	int timeout = 5000, rc = 1;

	req.op = PHALANX__CTL_REQUEST__OP__ALERT_LIST;
	env.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &req;
	send_env(s, &env);
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	/* The bytes as served (px_wire_recv would drop unknown fields). */
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, s, 0) >= 0) {
		in = phalanx__envelope__unpack(NULL, zmq_msg_size(&msg),
					       zmq_msg_data(&msg));
		if (in && in->body_case == PHALANX__ENVELOPE__BODY_CTL_REPLY) {
			printf("reply_bytes=%zu\nalerts=%zu\n",
			       zmq_msg_size(&msg), in->ctl_reply->n_alerts);
			rc = 0;
		}
	}
	zmq_msg_close(&msg);
	px_wire_free(in);
	zmq_close(s);
	return rc;
}

static int logrec(const char *base, const char *member, const char *json)
{
	void *s = peer(base, PX_EP_SYNC, 0);
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__LogBatch b = PHALANX__LOG_BATCH__INIT;
	Phalanx__LogRecord r = PHALANX__LOG_RECORD__INIT, *rp = &r;

	r.seq = 1;
	r.member = (char *)member;
	r.time_ms = px_now_ms();
	r.type = "denied";
	r.json = (char *)json;
	r.text = "pxpeer record";
	b.records = &rp;
	b.n_records = 1;
	b.member = (char *)member;
	env.body_case = PHALANX__ENVELOPE__BODY_LOG_BATCH;
	env.log_batch = &b;
	send_env(s, &env);
	/* Let the I/O thread deliver it before the socket goes. */
	usleep(300000);
	printf("sent=1\n");
	zmq_close(s);
	return 0;
}

static int garbage(const char *base, unsigned long n)
{
	void *s = peer(base, PX_EP_SYNC, 0);
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	unsigned long i, sent = 0;
	int tries;

	for (i = 0; i < n; i++) {
		for (tries = 0; tries < 500; tries++) {
			if (zmq_send(s, junk, sizeof(junk), ZMQ_DONTWAIT) >= 0) {
				sent++;
				break;
			}
			usleep(1000);
		}
	}
	usleep(500000);
	printf("sent=%lu\n", sent);
	zmq_close(s);
	return sent == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc = 2;

	px_log_init("pxpeer", 0);
	ctx = zmq_ctx_new();
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "snapflood") == 0)
		rc = snapflood(argv[2], num(argv[3], 100000), num(argv[4], 600),
			       argc == 6 ? argv[5] : "probe1");
	else if (argc == 6 && strcmp(argv[1], "hb") == 0)
		rc = heartbeats(argv[2], argv[3], num(argv[4], ~0UL),
				num(argv[5], 10000));
	else if (argc == 5 && strcmp(argv[1], "alert") == 0)
		rc = alert(argv[2], argv[3], num(argv[4], 64UL << 20));
	else if (argc == 3 && strcmp(argv[1], "alertsize") == 0)
		rc = alertsize(argv[2]);
	else if (argc == 5 && strcmp(argv[1], "log") == 0)
		rc = logrec(argv[2], argv[3], argv[4]);
	else if (argc == 4 && strcmp(argv[1], "garbage") == 0)
		rc = garbage(argv[2], num(argv[3], 1000000));
	else
		fprintf(stderr, "usage: see the head of tests/tools/pxpeer.c\n");
	zmq_ctx_term(ctx);
	return rc;
}
