/* main.c - phalanx-store: options, sockets and the loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "alerts.h"
#include "auth.h"
#include "keys.h"
#include "logring.h"
#include "metrics.h"
#include "fsm.h"
#include "px.h"
#include "raft.h"
#include "replicate.h"
#include "store.h"
#include "watchdog.h"

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
	char raft_dir[4096];
	char raft_peers[1024];
	char raft_ctl[1600];
	uint64_t raft_id;
	uint64_t snap_threshold, snap_trailing;
	bool raft_join;             /* --raft-join gave raft_peers */
} options_t;

/* Entries between snapshots and kept after one (C-Raft's defaults, set
 * here so that they are a decision): operations are deltas, so 1024 of
 * them bound what a restart replays; 128 kept spare a follower a few
 * seconds behind a whole snapshot. */
#define RAFT_SNAPSHOT_THRESHOLD 1024
#define RAFT_SNAPSHOT_TRAILING 128

static int stopping;
static char **saved_argv;

/* A Raft restore replaced the database file with the leader's snapshot
 * (store/fsm.c): every view of it in this process (policy, keys,
 * members, alerts, the sockets' state) is stale.  Start over as the
 * same process, arguments and environment; every descriptor is
 * close-on-exec (LMDB, ZeroMQ, libuv, the log file). */
static void reexec(void *arg)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	(void)arg;
	/* By its own path, so that its name stays phalanx-store (exec of
	 * /proc/self/exe would name it "exe"); the link itself if the file
	 * was replaced meanwhile (an upgrade: "... (deleted)"). */
	if (n > 0) {
		path[n] = '\0';
		if (access(path, X_OK) == 0)
			execv(path, saved_argv);
	}
	execv("/proc/self/exe", saved_argv);
	px_log(PX_LOG_ERR, "cannot restart to load the new database: %s; "
	       "stopping: the next start loads it", strerror(errno));
	exit(1);
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
"  --raft-peers LIST      replicate with Raft among these stores (1, 3 or 5):\n"
"                         name=id@a.b.c.d:port,... (the Raft transport's own\n"
"                         address: put it on a dedicated replication link;\n"
"                         it refuses connections from other addresses).\n"
"                         Default off.  Every write then goes through Raft:\n"
"                         the leader answers once a majority has it; the\n"
"                         others send phalanxctl to the leader\n"
"  --raft-join LIST       instead of --raft-peers, for a store joining a\n"
"                         running cluster: the cluster's stores and this\n"
"                         one, the same form; nothing is bootstrapped, the\n"
"                         store waits for the leader's configuration (run\n"
"                         `phalanxctl store add NAME ID@A.B.C.D:PORT' once it\n"
"                         listens); after that the Raft log's configuration\n"
"                         is the one that counts, at every start\n"
"  --raft-id N            this store's id in --raft-peers (--raft-join)\n"
"  --raft-ctl-endpoints LIST  each store's ctl endpoint, tcp://H:P,... in\n"
"                         the order of --raft-peers (the leader hint a\n"
"                         follower gives); default: each store's Raft\n"
"                         address with the ctl port of --listen\n"
"  --raft-dir DIR         the Raft log (default /var/lib/phalanx/raft); on a\n"
"                         disk, never tmpfs\n"
"  --raft-snapshot-threshold N  entries between two snapshots of the\n"
"                         database (1024)\n"
"  --raft-snapshot-trailing N   entries kept in the log after a snapshot\n"
"                         (128): a store further behind than that gets the\n"
"                         leader's snapshot, replaces its database with it\n"
"                         and restarts itself\n"
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
	else if (strcmp(key, "raft-dir") == 0)
		snprintf(o->raft_dir, sizeof(o->raft_dir), "%s", value);
	else if (strcmp(key, "raft-peers") == 0 ||
		 strcmp(key, "raft-join") == 0) {
		if (strlen(value) >= sizeof(o->raft_peers))
			return PX_ETOOBIG;
		if (o->raft_peers[0] &&
		    o->raft_join != (strcmp(key, "raft-join") == 0)) {
			fprintf(stderr, "phalanx-store: --raft-peers and "
				"--raft-join: one or the other (--raft-join "
				"for a store joining a running cluster)\n");
			return PX_EBADREQ;
		}
		o->raft_join = strcmp(key, "raft-join") == 0;
		strcpy(o->raft_peers, value);
	} else if (strcmp(key, "raft-ctl-endpoints") == 0) {
		if (strlen(value) >= sizeof(o->raft_ctl))
			return PX_ETOOBIG;
		strcpy(o->raft_ctl, value);
	} else if (strcmp(key, "raft-id") == 0)
		return px_parse_u64(value, 1, UINT32_MAX, &o->raft_id);
	else if (strcmp(key, "raft-snapshot-threshold") == 0)
		return px_parse_u64(value, 2, 1 << 20, &o->snap_threshold);
	else if (strcmp(key, "raft-snapshot-trailing") == 0)
		return px_parse_u64(value, 1, 1 << 20, &o->snap_trailing);
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
		"secret-key", "admin-key", "raft-dir", "raft-peers", "raft-join", "raft-id",
		"raft-ctl-endpoints", "raft-snapshot-threshold",
		"raft-snapshot-trailing", NULL,
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


static void *bind_socket(void *ctx, int type, const char *base, int which,
			 const px_keypair_t *kp, char *ep)
{
	static const char *const domains[] = {
		[PX_EP_CTL] = PX_ZAP_CTL, [PX_EP_SYNC] = PX_ZAP_SYNC,
		[PX_EP_PUB] = PX_ZAP_PUB,
	};
	void *s = zmq_socket(ctx, type);
	int zero = 0, hwm = 100000;
	int64_t max = which == PX_EP_CTL ? PX_CTL_MSG_MAX : PX_MSG_MAX;

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

/* The loop (libuv, as the member's): every socket's ZMQ_FD is polled,
 * the once-a-second work is a timer, signals are uv_signal.  ZMQ_FD is
 * edge-triggered and any send or ZMQ_EVENTS call can take the edge of
 * a message already queued, so the sockets are drained before the loop
 * blocks (a prepare handle runs after every timer, I/O and Raft
 * callback of the turn), not only when their fd wakes. */
typedef struct {
	px_store_t *st;
	uv_poll_t ctl_poll, sync_poll, zap_poll;
	uv_timer_t tick;     /* heartbeat, metrics, pub re-bind */
	uv_timer_t pump;     /* snapshots in flight: wake within PUMP_MS */
	uv_timer_t waiters;  /* the next held request's deadline */
	uv_prepare_t drain;  /* before blocking: read every socket dry */
	uv_idle_t more;      /* a drain stopped at its bound: no blocking */
	uv_signal_t sigterm, sigint;
	px_watchdog_t watchdog;
} loop_t;

/* One turn reads the sockets round-robin, one message each a round as
 * the old zmq_poll loop did, until they are dry or DRAIN_SLICE_MS has
 * passed: then the loop's timers (the heartbeat is due each second,
 * Raft's tick each 100 ms) get their turn before more is read.  A ctl
 * request can take seconds alone; the slice only stops a run of short
 * messages from holding the loop. */
#define DRAIN_SLICE_MS 20
/* How soon the snapshots in flight are refilled (the old loop's 10 ms
 * poll timeout): a chunk is PX_CHUNK_ENTRIES entries, the sync socket
 * holds SNDHWM of them, so 10 ms keeps a member's pipe full. */
#define PUMP_MS 10

static bool readable(void *sock)
{
	int events = 0;
	size_t sz = sizeof(events);

	return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) == 0 &&
	       (events & ZMQ_POLLIN);
}

/* True if a socket still has messages when the slice is over (the
 * caller keeps the loop from blocking). */
static bool drain_sockets(px_store_t *st)
{
	uint64_t t0 = px_mono_ms();

	for (;;) {
		bool any = false;

		if (readable(st->zap)) {
			px_auth_zap(st->auth, st->zap);
			any = true;
		}
		if (readable(st->ctl)) {
			px_store_ctl(st);
			any = true;
		}
		if (readable(st->sync)) {
			px_store_sync(st);
			any = true;
		}
		if (!any)
			return false;
		if (px_mono_ms() - t0 >= DRAIN_SLICE_MS)
			return true;
	}
}

static void on_idle(uv_idle_t *h)
{
	(void)h; /* only keeps the poll from blocking: on_prepare drains */
}

static void on_pump(uv_timer_t *h)
{
	(void)h; /* only wakes the loop: on_prepare pumps */
}

static void on_prepare(uv_prepare_t *h)
{
	loop_t *l = h->data;
	bool more = drain_sockets(l->st);

	/* A heartbeat asked for meanwhile (a canary's verdict). */
	px_store_heartbeat_flush(l->st);

	/* Held requests whose answer came or whose time is up
	 * (waiters.c); the timer wakes the loop at the next deadline. */
	uv_timer_start(&l->waiters, on_pump,
		       (uint64_t)px_store_waiters_run(l->st, HEARTBEAT_MS), 0);
	/* After the drain: a request read now is pumped now. */
	if (px_store_snapshots_pump(l->st) &&
	    !uv_is_active((uv_handle_t *)&l->pump))
		uv_timer_start(&l->pump, on_pump, PUMP_MS, 0);
	/* The pump's sends may have taken the sync socket's edge. */
	more |= readable(l->st->sync);
	if (more)
		uv_idle_start(&l->more, on_idle);
	else
		uv_idle_stop(&l->more);
}

static void on_socket(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	/* on_prepare reads the sockets before the loop blocks again; a
	 * wake alone is all this handle is for. */
	(void)h;
}

static void on_tick(uv_timer_t *h)
{
	px_store_t *st = ((loop_t *)h->data)->st;

	px_store_pub_rebind(st);
	px_store_heartbeat(st);
	/* before the confirm tick: a canary past its deadline is reverted
	 * with its own reason */
	px_store_canary_tick(st);
	px_store_confirm_tick(st);
	px_metrics_update(st->metrics, st);
}

static void on_signal(uv_signal_t *h, int sig)
{
	px_log(PX_LOG_INFO, "signal %d: stopping", sig);
	stopping = 1;
	uv_stop(h->loop);
}

static int poll_socket(uv_loop_t *loop, void *sock, uv_poll_t *p, void *data)
{
	int fd, rc;
	size_t sz = sizeof(fd);

	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) < 0) {
		px_log(PX_LOG_ERR, "ZMQ_FD: %s", zmq_strerror(errno));
		return -EINVAL;
	}
	if ((rc = uv_poll_init(loop, p, fd)) < 0 ||
	    (rc = uv_poll_start(p, UV_READABLE, on_socket)) < 0) {
		px_log(PX_LOG_ERR, "poll of fd %d: %s", fd, uv_strerror(rc));
		return -EINVAL;
	}
	p->data = data;
	return 0;
}

static int loop_start(loop_t *l, px_store_t *st)
{
	uv_loop_t *loop = st->loop;

	memset(l, 0, sizeof(*l));
	l->st = st;
	uv_timer_init(loop, &l->tick);
	uv_timer_init(loop, &l->pump);
	uv_timer_init(loop, &l->waiters);
	uv_prepare_init(loop, &l->drain);
	uv_idle_init(loop, &l->more);
	uv_signal_init(loop, &l->sigterm);
	uv_signal_init(loop, &l->sigint);
	l->tick.data = l->pump.data = l->waiters.data = l->drain.data = l->more.data = l;
	if (poll_socket(loop, st->ctl, &l->ctl_poll, l) < 0 ||
	    poll_socket(loop, st->sync, &l->sync_poll, l) < 0 ||
	    poll_socket(loop, st->zap, &l->zap_poll, l) < 0)
		return -EINVAL;
	uv_prepare_start(&l->drain, on_prepare);
	uv_timer_start(&l->tick, on_tick, HEARTBEAT_MS, HEARTBEAT_MS);
	/* A store that holds its loop longer than a Raft heartbeat period
	 * is late to its followers or its leader: an operator hunting a
	 * slow answer or an election reads it here. */
	px_watchdog_start(&l->watchdog, loop, PX_RAFT_HEARTBEAT_MS, NULL, NULL);
	uv_signal_start(&l->sigterm, on_signal, SIGTERM);
	uv_signal_start(&l->sigint, on_signal, SIGINT);
	return 0;
}

/* --raft-peers: C-Raft on the store's loop, its state machine the
 * store's database (fsm.c).  0 without the option. */
static int raft_start(px_store_t *st, const options_t *o, px_fsm_t **fsm)
{
	px_raft_peer_t peers[PX_RAFT_SERVERS_MAX];
	px_raft_config_t cfg = { 0 };
	char err[512];
	int rc;

	if (!o->raft_peers[0]) {
		if (o->raft_id)
			px_log(PX_LOG_ERR, "--raft-id %llu without --raft-peers",
			       (unsigned long long)o->raft_id);
		return o->raft_id ? PX_EBADREQ : 0;
	}
	rc = o->raft_join ?
	     px_raft_peers_parse_join(o->raft_peers, peers, &cfg.npeers, err,
				      sizeof(err)) :
	     px_raft_peers_parse(o->raft_peers, peers, &cfg.npeers, err,
				 sizeof(err));
	if (rc < 0) {
		px_log(PX_LOG_ERR, "%s", err);
		return rc;
	}
	if (!o->raft_id) {
		px_log(PX_LOG_ERR, "--raft-peers needs --raft-id: which of them "
		       "this store is");
		return PX_EBADREQ;
	}
	if ((rc = px_store_replicate_init(st, peers, cfg.npeers, o->raft_ctl,
					  o->listen, err, sizeof(err))) < 0) {
		px_log(PX_LOG_ERR, "%s", err);
		return rc;
	}
	if ((rc = px_fsm_open(fsm, st->db, px_store_replicate_apply, st)) < 0) {
		px_log(PX_LOG_ERR, "raft state in the database: %s",
		       px_strerror(rc));
		return rc;
	}
	px_fsm_on_replaced(*fsm, reexec, NULL);
	cfg.dir = o->raft_dir;
	cfg.id = o->raft_id;
	cfg.join = o->raft_join;
	cfg.peers = peers;
	cfg.snapshot_threshold = (unsigned)o->snap_threshold;
	cfg.snapshot_trailing = (unsigned)o->snap_trailing;
	cfg.fsm = px_fsm_callbacks(*fsm);
	st->fsm = *fsm;
	return px_raft_open(&st->raft, st->loop, &cfg);
}

static void raft_closed(void *arg)
{
	uv_stop(arg);
}

static void close_one(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Close every handle left on the loop (ours and Raft's after its own
 * close) and run it until they are gone. */
static void loop_close(uv_loop_t *loop)
{
	uv_walk(loop, close_one, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	if (uv_loop_close(loop) != 0)
		px_log(PX_LOG_WARN, "the loop still holds handles at exit");
}

int main(int argc, char **argv)
{
	options_t o = { "/var/lib/phalanx/store", "tcp://127.0.0.1:7700", "", "",
			"", "", 3000, 4096, 0, "/var/lib/phalanx/raft", "", "", 0,
			RAFT_SNAPSHOT_THRESHOLD, RAFT_SNAPSHOT_TRAILING, false };
	char err[4096 + 256], admin[PX_KEY_Z85_LEN + 1], ep[300];
	px_keypair_t kp;
	px_store_t st;
	uv_loop_t loop;
	loop_t lp;
	px_fsm_t *fsm = NULL;
	int rc, status = 1;

	if ((rc = parse_args(argc, argv, &o)) != 0)
		return rc;
	saved_argv = argv;
	if (o.log[0] && (rc = px_log_to_file(o.log)) < 0) {
		fprintf(stderr, "phalanx-store: --log %s: %s\n", o.log,
			strerror(-rc));
		return 1;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	px_log_init("phalanx-store", o.verbose);
	memset(&st, 0, sizeof(st));
	memset(&lp, 0, sizeof(lp));
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
	if ((rc = uv_loop_init(&loop)) < 0) {
		px_log(PX_LOG_ERR, "event loop: %s", uv_strerror(rc));
		return 1;
	}
	st.loop = &loop;
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
	/* Followers die on a write to the killed leader's socket
	 * otherwise (C-Raft's TCP transport). */
	signal(SIGPIPE, SIG_IGN);
	if (loop_start(&lp, &st) < 0 || raft_start(&st, &o, &fsm) < 0)
		goto out;
	px_log(PX_LOG_INFO, "listening on %s (+1 sync, +2 changes), database %s "
	       "at version %llu, epoch %llu, %zu sets", o.listen, o.db,
	       (unsigned long long)st.policy.version,
	       (unsigned long long)st.policy.epoch, st.policy.nsets);
	uv_run(st.loop, UV_RUN_DEFAULT);
	px_watchdog_stop(&lp.watchdog);
	if (!stopping)
		goto out;
	px_log(PX_LOG_INFO, "stopping at version %llu",
	       (unsigned long long)st.policy.version);
	status = 0;
out:
	/* Raft lets go of its handles first (its own close sequence),
	 * then the polls go before the sockets whose fds they watch. */
	if (st.raft) {
		px_raft_close(st.raft, raft_closed, st.loop);
		st.raft = NULL;
		uv_run(st.loop, UV_RUN_DEFAULT);
	}
	loop_close(st.loop);
	px_store_replicate_free(&st);
	px_fsm_close(fsm);
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
