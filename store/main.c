/* main.c - phalanx-store: options, sockets and the loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "alerts.h"
#include "auth.h"
#include "keys.h"
#include "logring.h"
#include "metrics.h"
#include "px.h"
#include "store.h"

#define HEARTBEAT_MS 1000

typedef struct {
	char db[4096];
	char listen[256];
	char log[4096];
	char metrics[128];
	char secret_key[4096];
	char admin_key[4096];
	uint64_t member_timeout_ms;
	uint64_t map_mb;
	int verbose;
} options_t;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: phalanx-store [options]\n"
"\n"
"The Phalanx configuration store: holds the array policy in LMDB, answers\n"
"phalanxctl, serves snapshots and publishes every change to the members.\n"
"\n"
"  --db DIR               LMDB directory (default /var/lib/phalanx/store)\n"
"  --listen tcp://H:P     base endpoint; ctl on P, sync on P+1, changes on P+2\n"
"                         (default tcp://127.0.0.1:7700)\n"
"  --secret-key FILE      this store's CURVE secret key (z85, `phalanxctl keys\n"
"                         gen'); mode 0600 or the store does not start.\n"
"                         Required: every socket is CURVE, and only keys\n"
"                         the store holds (admins, members) get in\n"
"  --admin-key FILE       public key of the first administrator (role admin,\n"
"                         name \"admin\"): enrolled at start if no one holds it\n"
"  --member-timeout MS    a member is down after MS without heartbeat (3000)\n"
"  --map-size MB          largest database size (4096); a write that would\n"
"                         not fit is refused (\"database full\"); alerts\n"
"                         use at most an eighth of it and leave a quarter\n"
"                         free for the policy\n"
"  --config FILE          read `key = value' lines with the same names\n"
"  --log FILE             append log lines to FILE instead of stderr\n"
"  --metrics ADDR:PORT    serve Prometheus metrics on http://ADDR:PORT/metrics\n"
"                         (default off)\n"
"  -v, --verbose          debug logging\n"
"  -h, --help             this text\n");
}

static int set_option(const char *key, const char *value, void *arg)
{
	options_t *o = arg;

	if (strcmp(key, "db") == 0)
		snprintf(o->db, sizeof(o->db), "%s", value);
	else if (strcmp(key, "listen") == 0)
		snprintf(o->listen, sizeof(o->listen), "%s", value);
	else if (strcmp(key, "log") == 0)
		snprintf(o->log, sizeof(o->log), "%s", value);
	else if (strcmp(key, "secret-key") == 0)
		snprintf(o->secret_key, sizeof(o->secret_key), "%s", value);
	else if (strcmp(key, "admin-key") == 0)
		snprintf(o->admin_key, sizeof(o->admin_key), "%s", value);
	else if (strcmp(key, "member-timeout") == 0)
		return px_parse_u64(value, 100, 3600000, &o->member_timeout_ms);
	else if (strcmp(key, "map-size") == 0)
		return px_parse_u64(value, 1, 1 << 20, &o->map_mb);
	else if (strcmp(key, "metrics") == 0) {
		if (!px_metrics_addr_valid(value) ||
		    strlen(value) >= sizeof(o->metrics))
			return PX_EBADREQ;
		strcpy(o->metrics, value);
	} else
		return PX_EOPTION;
	return 0;
}

static int parse_args(int argc, char **argv, options_t *o)
{
	static const char *const names[] = {
		"db", "listen", "member-timeout", "map-size", "log", "metrics",
		"secret-key", "admin-key", NULL,
	};
	int rc = px_options_parse("phalanx-store", argc, argv, names,
				  set_option, o, &o->verbose);

	if (rc == PX_OPTS_HELP) {
		usage(stdout);
		exit(0);
	}
	if (rc == 2)
		usage(stderr);
	return rc;
}

/* The largest ctl request: a whole set, PX_SET_ENTRIES_MAX entries of
 * at most PX_ENTRY_WIRE_MAX bytes, each framed by a field tag and a
 * one-byte length, plus 1 MiB for the rest of the request (names, a
 * rule, a limit: all small).  2,000,000 * 20 + 1 MiB = 41 MiB: a bigger
 * message could only be refused, so libzmq drops it before the store
 * reads or decodes a byte of it. */
#define CTL_MSG_MAX ((int64_t)PX_SET_ENTRIES_MAX * (PX_ENTRY_WIRE_MAX + 2) + \
		     (1 << 20))

static void *bind_socket(void *ctx, int type, const char *base, int which,
			 const px_keypair_t *kp, char *ep)
{
	static const char *const domains[] = {
		[PX_EP_CTL] = PX_ZAP_CTL, [PX_EP_SYNC] = PX_ZAP_SYNC,
		[PX_EP_PUB] = PX_ZAP_PUB,
	};
	void *s = zmq_socket(ctx, type);
	int zero = 0, hwm = 100000;
	int64_t max = which == PX_EP_CTL ? CTL_MSG_MAX : PX_MSG_MAX;

	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	/* Change parts are at most PX_CHUNK_ENTRIES entries; a deep queue
	 * rides out a slow member, and past it members resnapshot. */
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	if (which == PX_EP_SYNC)
		px_store_sync_sockopts(s);
	if (px_curve_server(s, kp, domains[which]) < 0) {
		px_log(PX_LOG_ERR, "cannot make socket %d a CURVE server: %s",
		       which, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	if (px_endpoint(base, which, ep, 300) < 0 ||
	    zmq_bind(s, ep) < 0) {
		px_log(PX_LOG_ERR, "cannot listen on %s: %s", ep,
		       zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

int main(int argc, char **argv)
{
	options_t o = { "/var/lib/phalanx/store", "tcp://127.0.0.1:7700", "", "",
			"", "", 3000, 4096, 0 };
	char err[4096 + 256], admin[PX_KEY_Z85_LEN + 1], ep[300];
	px_keypair_t kp;
	px_store_t st;
	uint64_t next_hb;
	int rc, status = 1;

	if ((rc = parse_args(argc, argv, &o)) != 0)
		return rc;
	if (o.log[0] && (rc = px_log_to_file(o.log)) < 0) {
		fprintf(stderr, "phalanx-store: --log %s: %s\n", o.log,
			strerror(-rc));
		return 1;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	px_log_init("phalanx-store", o.verbose);
	memset(&st, 0, sizeof(st));
	if (!o.secret_key[0]) {
		px_log(PX_LOG_ERR, "--secret-key FILE is required: make one with "
		       "`phalanxctl keys gen --out FILE'");
		return 2;
	}
	if (px_key_secret_load(o.secret_key, &kp, err, sizeof(err)) < 0 ||
	    (o.admin_key[0] &&
	     px_key_public_load(o.admin_key, admin, err, sizeof(err)) < 0)) {
		px_log(PX_LOG_ERR, "%s", err);
		return 1;
	}
	st.member_timeout_ms = o.member_timeout_ms;
	px_policy_init(&st.policy);
	rc = px_db_open(&st.db, o.db, (size_t)o.map_mb << 20);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "database %s: %s", o.db, px_db_strerror(rc));
		goto out;
	}
	rc = px_db_load(st.db, &st.policy);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "database %s: cannot load: %s", o.db,
		       px_strerror(rc));
		goto out;
	}
	rc = px_auth_open(&st.auth, st.db, o.admin_key[0] ? admin : NULL);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "database %s: cannot load the keys: %s", o.db,
		       px_strerror(rc));
		goto out;
	}
	px_store_members_load(&st);
	st.log = px_logring_new(0);
	/* Without its alerts the store still serves the policy; members
	 * keep theirs queued. */
	rc = px_alerts_open(&st.alerts, st.db, 0);
	if (rc < 0)
		px_log(PX_LOG_ERR, "alerts database: %s; alerts stay queued on "
		       "the members", px_db_strerror(rc));
	if (o.metrics[0] && px_metrics_start(&st.metrics, o.metrics) < 0)
		goto out;
	st.zctx = zmq_ctx_new();
	/* The ZAP handler first: a CURVE socket with no handler admits no
	 * one (ZMQ_ZAP_ENFORCE_DOMAIN), and this one admits known keys. */
	st.zap = px_auth_zap_bind(st.zctx);
	if (!st.zap)
		goto out;
	st.ctl = bind_socket(st.zctx, ZMQ_ROUTER, o.listen, PX_EP_CTL, &kp, ep);
	st.sync = bind_socket(st.zctx, ZMQ_ROUTER, o.listen, PX_EP_SYNC, &kp, ep);
	st.pub = bind_socket(st.zctx, ZMQ_PUB, o.listen, PX_EP_PUB, &kp,
			     st.pub_ep);
	memset(&kp, 0, sizeof(kp));
	if (!st.ctl || !st.sync || !st.pub)
		goto out;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	px_log(PX_LOG_INFO, "listening on %s (+1 sync, +2 changes), database %s "
	       "at version %llu, epoch %llu, %zu sets", o.listen, o.db,
	       (unsigned long long)st.policy.version,
	       (unsigned long long)st.policy.epoch, st.policy.nsets);
	next_hb = px_mono_ms();
	while (!stopping) {
		zmq_pollitem_t items[] = {
			{ st.ctl, 0, ZMQ_POLLIN, 0 },
			{ st.sync, 0, ZMQ_POLLIN, 0 },
			{ st.zap, 0, ZMQ_POLLIN, 0 },
		};
		uint64_t now = px_mono_ms();
		long wait = now >= next_hb ? 0 : (long)(next_hb - now);

		if (px_store_snapshots_pump(&st) && wait > 10)
			wait = 10; /* snapshots in flight: refill soon */
		/* Held requests whose answer came or whose time is up. */
		wait = px_store_waiters_run(&st, wait);

		if (zmq_poll(items, 3, wait) < 0) {
			if (errno == EINTR)
				continue;
			px_log(PX_LOG_ERR, "poll: %s", zmq_strerror(errno));
			goto out;
		}
		if (items[2].revents & ZMQ_POLLIN)
			px_auth_zap(st.auth, st.zap);
		if (items[0].revents & ZMQ_POLLIN)
			px_store_ctl(&st);
		if (items[1].revents & ZMQ_POLLIN)
			px_store_sync(&st);
		if (px_mono_ms() >= next_hb) {
			px_store_pub_rebind(&st);
			px_store_heartbeat(&st);
			px_metrics_update(st.metrics, &st);
			next_hb = px_mono_ms() + HEARTBEAT_MS;
		}
	}
	px_log(PX_LOG_INFO, "stopping at version %llu",
	       (unsigned long long)st.policy.version);
	status = 0;
out:
	if (st.ctl)
		zmq_close(st.ctl);
	if (st.sync)
		zmq_close(st.sync);
	if (st.pub)
		zmq_close(st.pub);
	if (st.zap)
		zmq_close(st.zap);
	if (st.zctx)
		zmq_ctx_term(st.zctx);
	px_store_waiters_free(&st);
	px_metrics_stop(st.metrics);
	px_alerts_close(st.alerts);
	px_logring_free(st.log);
	px_auth_close(st.auth);
	px_db_close(st.db);
	px_policy_free(&st.policy);
	free(st.members);
	return status;
}
