/* ctlstart.c - where a phalanxctl call's time goes once the process runs:
 * the steps ctl/client.c takes, timed one by one, N times in one process
 * (the process start itself, exec and the dynamic loader, is measured by
 * tests/bench/ctlstart.sh from outside).
 *
 *   ctlstart ENDPOINT SECRET_KEY STORE_PUBLIC_KEY [N]
 *
 * Steps: keys (read and check both key files, derive our public key),
 * zmq (context, DEALER socket, CURVE options, monitor, connect), handshake
 * (TCP connect and the CURVE handshake, the store's ZAP check included,
 * until the monitor says it succeeded), request (one STATUS request and
 * its reply), close (zmq_close and zmq_ctx_term).  Prints key=value lines:
 * p50 and p99 of each step in ms. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "keys.h"
#include "px.h"
#include "wire.h"

#define STEPS 5
#define RUNS_MAX 10000
#define WAIT_MS 10000

static const char *const step_names[STEPS] = {
	"keys", "zmq", "handshake", "request", "close",
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The monitor's next event number, 0 on timeout. */
static unsigned next_event(void *mon, int ms)
{
	zmq_pollitem_t it = { mon, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t m;
	uint16_t ev = 0;

	if (zmq_poll(&it, 1, ms) <= 0)
		return 0;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, mon, 0) >= 2)
		memcpy(&ev, zmq_msg_data(&m), 2);
	while (zmq_msg_more(&m)) {
		zmq_msg_close(&m);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, mon, 0) < 0)
			break;
	}
	zmq_msg_close(&m);
	return ev;
}

/* One call; t[] gets each step's ms.  0 or -1 after saying why. */
static int one(const char *ep, const char *secpath, const char *pubpath,
	       double t[STEPS])
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT, *in = NULL;
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	px_keypair_t kp;
	char server[PX_KEY_Z85_LEN + 1], err[512];
	void *ctx = NULL, *sock = NULL, *mon = NULL;
	int zero = 0, rc = -1;
	unsigned ev;
	double t0 = now_ms(), t1;

	if (px_key_secret_load(secpath, &kp, err, sizeof(err)) < 0 ||
	    px_key_public_load(pubpath, server, err, sizeof(err)) < 0) {
		fprintf(stderr, "ctlstart: %s\n", err);
		return -1;
	}
	t1 = now_ms();
	t[0] = t1 - t0;
	t0 = t1;
	ctx = zmq_ctx_new();
	sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
	if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    px_curve_client(sock, &kp, server) < 0 ||
	    zmq_socket_monitor(sock, "inproc://ctlstart",
			       ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
			       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
			       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) < 0 ||
	    !(mon = zmq_socket(ctx, ZMQ_PAIR)) ||
	    zmq_connect(mon, "inproc://ctlstart") < 0 ||
	    zmq_connect(sock, ep) < 0) {
		fprintf(stderr, "ctlstart: zmq setup: %s\n",
			zmq_strerror(errno));
		goto out;
	}
	t1 = now_ms();
	t[1] = t1 - t0;
	t0 = t1;
	ev = next_event(mon, WAIT_MS);
	if (ev != ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
		fprintf(stderr, "ctlstart: handshake with %s: %s\n", ep,
			ev ? "refused" : "no answer within 10 s");
		goto out;
	}
	t1 = now_ms();
	t[2] = t1 - t0;
	t0 = t1;
	req.op = PHALANX__CTL_REQUEST__OP__STATUS;
	req.set = "";
	env.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &req;
	if (px_wire_send(sock, NULL, &env) < 0) {
		fprintf(stderr, "ctlstart: send: %s\n", zmq_strerror(errno));
		goto out;
	}
	{
		zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };

		if (zmq_poll(&it, 1, WAIT_MS) <= 0 ||
		    px_wire_recv(sock, 0, NULL, &in) < 0 || !in->ctl_reply) {
			fprintf(stderr, "ctlstart: no STATUS reply within "
				"10 s\n");
			goto out;
		}
	}
	t1 = now_ms();
	t[3] = t1 - t0;
	rc = 0;
out:
	px_wire_free(in);
	memset(&kp, 0, sizeof(kp));
	t0 = now_ms();
	if (mon)
		zmq_close(mon);
	if (sock)
		zmq_close(sock);
	if (ctx)
		zmq_ctx_term(ctx);
	t[4] = now_ms() - t0;
	return rc;
}

int main(int argc, char **argv)
{
	static double t[STEPS][RUNS_MAX];
	char ep[256];
	unsigned long n = 50;
	size_t i, k;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: ctlstart ENDPOINT SECRET_KEY "
			"STORE_PUBLIC_KEY [N]\n");
		return 2;
	}
	if (argc == 5) {
		char *end;

		errno = 0;
		n = strtoul(argv[4], &end, 10);
		if (errno || *end || n == 0 || n > RUNS_MAX) {
			fprintf(stderr, "ctlstart: N: not 1..%d: `%s'\n",
				RUNS_MAX, argv[4]);
			return 2;
		}
	}
	if (px_endpoint(argv[1], PX_EP_CTL, ep, sizeof(ep)) < 0) {
		fprintf(stderr, "ctlstart: not a store endpoint: `%s'\n",
			argv[1]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		double one_t[STEPS];

		if (one(ep, argv[2], argv[3], one_t) < 0)
			return 1;
		for (k = 0; k < STEPS; k++)
			t[k][i] = one_t[k];
	}
	printf("ctlstart_runs=%lu\n", n);
	for (k = 0; k < STEPS; k++) {
		qsort(t[k], n, sizeof(double), cmp_double);
		printf("ctlstart_%s_p50_ms=%.2f\n", step_names[k],
		       t[k][(n - 1) / 2]);
		printf("ctlstart_%s_p99_ms=%.2f\n", step_names[k],
		       t[k][(size_t)((double)(n - 1) * 0.99)]);
	}
	return 0;
}
