/* raftprobe - the store's Raft module (store/raft.c) without the ctl
 * path, for tests/lab/t_raft.sh.
 *
 *   raftprobe serve --dir DIR --id N --peers name=id@a.b.c.d:port,...
 *                   --sock PATH [--threshold N] [--trailing N] [-v]
 *       one store: the Raft log in DIR/raft, the state machine an LMDB
 *       environment in DIR/fsm (a key -> value table and the applied
 *       index, written in one transaction per entry), answering one
 *       command per connection on the unix socket PATH
 *   raftprobe ctl PATH COMMAND [ARGS]
 *       send one command, print the answer; exit 0 if it starts "ok"
 *
 * Commands: status; put KEY VALUE (proposed, answered once committed
 * and applied here, or refused: "error not leader; leader NAME ADDR",
 * "error no quorum ..."); fill N PREFIX (N puts PREFIX-i=i at once,
 * answered when all are done); seq N PREFIX (N puts, each proposed when
 * the one before is acknowledged; the answer gives the time); get KEY. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "px.h"
#include "raft.h"

#define LINE_MAX_ 4096
#define MAP_SIZE ((size_t)256 << 20)

typedef struct {
	MDB_env *env;
	MDB_dbi kv, meta;
	char dir[4096];   /* DIR/fsm */
	char base[4096];  /* DIR */
	uint64_t applied;
} fsm_t;

static fsm_t fsm;
static px_raft_t *raft;
static uv_loop_t *loop;
static uv_pipe_t server;
static uv_signal_t sigterm, sigint;

/* --- the state machine: LMDB ------------------------------------------------------ */

static void fatal_db(const char *what, int rc)
{
	/* A store that cannot write what the majority committed must not
	 * answer as if it had: stop, and replay from the log at restart. */
	px_log(PX_LOG_ERR, "state machine: %s: %s; stopping (the Raft log "
	       "replays it at the next start)", what, mdb_strerror(rc));
	exit(1);
}

static int fsm_open_env(fsm_t *f)
{
	MDB_txn *txn;
	MDB_val k = { 7, "applied" }, v;
	int rc;

	if (mkdir(f->dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((rc = mdb_env_create(&f->env)) ||
	    (rc = mdb_env_set_maxdbs(f->env, 4)) ||
	    (rc = mdb_env_set_mapsize(f->env, MAP_SIZE)) ||
	    (rc = mdb_env_open(f->env, f->dir, 0, 0600)) ||
	    (rc = mdb_txn_begin(f->env, NULL, 0, &txn)))
		fatal_db("open", rc);
	if ((rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &f->kv)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &f->meta)))
		fatal_db("open", rc);
	f->applied = 0;
	if (mdb_get(txn, f->meta, &k, &v) == 0 && v.mv_size == 8)
		memcpy(&f->applied, v.mv_data, 8);
	if ((rc = mdb_txn_commit(txn)))
		fatal_db("open", rc);
	return 0;
}

static int fsm_apply(void *arg, uint64_t index, const void *buf, size_t len)
{
	fsm_t *f = arg;
	char op[LINE_MAX_], key[256], val[1024];
	MDB_txn *txn;
	MDB_val k, v, ak = { 7, "applied" }, av = { 8, &index };
	int rc, outcome = 0;

	if (index <= f->applied) {
		px_log(PX_LOG_DEBUG, "entry %llu: applied already (at %llu)",
		       (unsigned long long)index, (unsigned long long)f->applied);
		return 0;
	}
	snprintf(op, sizeof(op), "%.*s", (int)(len < sizeof(op) ? len : 0),
		 (const char *)buf);
	if ((rc = mdb_txn_begin(f->env, NULL, 0, &txn)))
		fatal_db("apply", rc);
	if (sscanf(op, "put %255s %1023s", key, val) == 2) {
		k.mv_size = strlen(key);
		k.mv_data = key;
		v.mv_size = strlen(val);
		v.mv_data = val;
		if ((rc = mdb_put(txn, f->kv, &k, &v, 0)))
			fatal_db("apply", rc);
	} else {
		outcome = PX_EBADREQ; /* the same on every store */
	}
	if ((rc = mdb_put(txn, f->meta, &ak, &av, 0)) ||
	    (rc = mdb_txn_commit(txn)))
		fatal_db("apply", rc);
	f->applied = index;
	return outcome;
}

static int fsm_snapshot(void *arg, void **buf, size_t *len)
{
	fsm_t *f = arg;
	int fd = memfd_create("raftprobe-snapshot", MFD_CLOEXEC), rc;
	off_t size;
	char *b;

	if (fd < 0)
		return -errno;
	/* A compacting copy runs in a read transaction of its own: a
	 * consistent state at the last applied entry. */
	if ((rc = mdb_env_copyfd2(f->env, fd, MDB_CP_COMPACT))) {
		close(fd);
		return PX_EDB;
	}
	size = lseek(fd, 0, SEEK_END);
	b = xmalloc(size > 0 ? (size_t)size : 1);
	if (size <= 0 || pread(fd, b, (size_t)size, 0) != size) {
		free(b);
		close(fd);
		return PX_EDB;
	}
	close(fd);
	*buf = b;
	*len = (size_t)size;
	return 0;
}

/* Load into a fresh environment beside the live one, fsync it, swap
 * the directories, fsync their parent: a crash leaves either state
 * whole. */
static int fsm_restore(void *arg, uint64_t index, const void *buf, size_t len)
{
	fsm_t *f = arg;
	char fresh[4200], old[4200], path[4300];
	int fd, dfd;
	MDB_txn *txn;
	MDB_val ak = { 7, "applied" }, av = { 8, &index };
	int rc;

	if (index <= f->applied) {
		px_log(PX_LOG_INFO, "snapshot at index %llu: the state machine "
		       "is at %llu already, kept", (unsigned long long)index,
		       (unsigned long long)f->applied);
		return 0;
	}
	snprintf(fresh, sizeof(fresh), "%s/fsm.new", f->base);
	snprintf(old, sizeof(old), "%s/fsm.old", f->base);
	snprintf(path, sizeof(path), "%s/data.mdb", fresh);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", fresh);
	unlink(path);
	rmdir(fresh);
	if (mkdir(fresh, 0700) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/data.mdb", fresh);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (px_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	close(fd);
	mdb_env_close(f->env);
	f->env = NULL;
	snprintf(path, sizeof(path), "%s/data.mdb", old);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", old);
	unlink(path);
	rmdir(old);
	if (rename(f->dir, old) < 0 || rename(fresh, f->dir) < 0) {
		px_log(PX_LOG_ERR, "restore: swap %s: %s", f->dir, strerror(errno));
		exit(1);
	}
	if ((dfd = open(f->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	snprintf(path, sizeof(path), "%s/data.mdb", old);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", old);
	unlink(path);
	rmdir(old);
	fsm_open_env(f);
	/* The copy recorded the last command applied; entries after it up
	 * to index were barriers or configurations. */
	if ((rc = mdb_txn_begin(f->env, NULL, 0, &txn)) ||
	    (rc = mdb_put(txn, f->meta, &ak, &av, 0)) ||
	    (rc = mdb_txn_commit(txn)))
		fatal_db("restore", rc);
	f->applied = index;
	px_log(PX_LOG_INFO, "restored a snapshot at index %llu (%zu bytes)",
	       (unsigned long long)index, len);
	return 0;
}

/* Keys, and an FNV-1a digest of every key and value in order: equal
 * states have equal digests. */
static void fsm_digest(fsm_t *f, uint64_t *count, uint64_t *digest)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t h = 1469598103934665603ull;

	*digest = 0;

	*count = 0;
	if (mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn))
		return;
	if (mdb_cursor_open(txn, f->kv, &c) == 0) {
		while (mdb_cursor_get(c, &k, &v, *count ? MDB_NEXT : MDB_FIRST) == 0) {
			const unsigned char *p;
			size_t i;

			for (p = k.mv_data, i = 0; i < k.mv_size; i++)
				h = (h ^ p[i]) * 1099511628211ull;
			h = (h ^ 0) * 1099511628211ull;
			for (p = v.mv_data, i = 0; i < v.mv_size; i++)
				h = (h ^ p[i]) * 1099511628211ull;
			h = (h ^ 0) * 1099511628211ull;
			(*count)++;
		}
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	*digest = h;
}

/* --- control socket ------------------------------------------------------------- */

typedef struct {
	uv_pipe_t pipe;
	char line[LINE_MAX_];
	size_t len;
	bool handled;
	/* fill: proposals outstanding, acknowledged, failed */
	unsigned pending, ok, failed;
	int last_err;
	/* seq: puts left to propose one after the other, and their key */
	uint64_t seq_left, seq_n, t0_ms;
	char seq_prefix[256];
} client_t;

static void client_closed(uv_handle_t *h)
{
	client_t *c = h->data;

	if (c->pending == 0)
		free(c);
	else
		c->pipe.data = NULL; /* proposals still point at c */
}

typedef struct {
	uv_write_t w;
	char buf[LINE_MAX_ + 512];
} reply_t;

static void reply_done(uv_write_t *w, int status)
{
	(void)status;
	uv_close((uv_handle_t *)w->handle, client_closed);
	free(w->data);
}

static void reply(client_t *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reply(client_t *c, const char *fmt, ...)
{
	reply_t *r = xcalloc(1, sizeof(*r));
	uv_buf_t b;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->buf, sizeof(r->buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > sizeof(r->buf) - 2)
		n = (int)sizeof(r->buf) - 2;
	r->buf[n++] = '\n';
	r->w.data = r;
	b = uv_buf_init(r->buf, (unsigned)n);
	if (uv_write(&r->w, (uv_stream_t *)&c->pipe, &b, 1, reply_done) < 0) {
		free(r);
		uv_close((uv_handle_t *)&c->pipe, client_closed);
	}
}

static void refuse(client_t *c, int rc)
{
	const px_raft_peer_t *l = px_raft_leader(raft);

	if (rc == PX_ENOTLEADER && l)
		reply(c, "error not leader; leader %s %s", l->name, l->addr);
	else if (rc == PX_ENOTLEADER)
		reply(c, "error no quorum: not the leader and no leader known "
		      "(an election is on, or this store is cut off)");
	else if (rc == PX_ENOQUORUM)
		reply(c, "error no quorum: leadership lost before the entry "
		      "committed (outcome unknown)");
	else
		reply(c, "error %s", px_strerror(rc));
}

static void on_put(void *arg, int status, int outcome, uint64_t index)
{
	client_t *c = arg;

	c->pending--;
	if (!c->pipe.data) { /* the client went away */
		if (c->pending == 0)
			free(c);
		return;
	}
	if (status < 0)
		refuse(c, status);
	else if (outcome < 0)
		reply(c, "error %s (index %llu)", px_strerror(outcome),
		      (unsigned long long)index);
	else
		reply(c, "ok index=%llu", (unsigned long long)index);
}

static void on_fill(void *arg, int status, int outcome, uint64_t index)
{
	client_t *c = arg;

	(void)index;
	c->pending--;
	if (status == 0 && outcome == 0)
		c->ok++;
	else {
		c->failed++;
		c->last_err = status ? status : outcome;
	}
	if (c->pending)
		return;
	if (!c->pipe.data) {
		free(c);
		return;
	}
	if (c->failed)
		refuse(c, c->last_err);
	else
		reply(c, "ok %u committed", c->ok);
}

static int seq_next(client_t *c);

/* seq: each put proposed once the one before it is acknowledged: the
 * rate of acknowledged single changes of one client. */
static void on_seq(void *arg, int status, int outcome, uint64_t index)
{
	client_t *c = arg;

	(void)index;
	c->pending--;
	if (status == 0 && outcome == 0)
		c->ok++;
	else {
		c->failed++;
		c->last_err = status ? status : outcome;
	}
	if (!c->pipe.data) {
		free(c);
		return;
	}
	if (c->failed || !c->seq_left || seq_next(c) < 0) {
		uint64_t ms = px_mono_ms() - c->t0_ms;

		if (c->failed)
			refuse(c, c->last_err);
		else
			reply(c, "ok %u acknowledged one at a time in %llu ms",
			      c->ok, (unsigned long long)ms);
	}
}

static int seq_next(client_t *c)
{
	char op[LINE_MAX_];
	int rc;

	snprintf(op, sizeof(op), "put %s-%llu %llu", c->seq_prefix,
		 (unsigned long long)(c->seq_n - c->seq_left),
		 (unsigned long long)c->seq_left);
	c->seq_left--;
	c->pending++;
	if ((rc = px_raft_propose(raft, op, strlen(op), on_seq, c)) < 0) {
		c->pending--;
		c->failed++;
		c->last_err = rc;
	}
	return rc;
}

static void command(client_t *c)
{
	char *argv[4] = { 0 }, *save = NULL, *t;
	int argc = 0, rc;
	px_raft_status_t s;
	uint64_t count, digest, n;
	char op[LINE_MAX_];

	for (t = strtok_r(c->line, " \t\r\n", &save); t && argc < 4;
	     t = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = t;
	if (argc == 1 && strcmp(argv[0], "status") == 0) {
		px_raft_status(raft, &s);
		fsm_digest(&fsm, &count, &digest);
		reply(c, "ok name=%s role=%s term=%llu leader=%s leader_addr=%s "
		      "commit=%llu applied=%llu last=%llu fsm_applied=%llu "
		      "count=%llu digest=%016llx", s.self->name, s.role,
		      (unsigned long long)s.term,
		      s.leader ? s.leader->name : "-",
		      s.leader ? s.leader->addr : "-",
		      (unsigned long long)s.commit,
		      (unsigned long long)s.applied,
		      (unsigned long long)s.last_index,
		      (unsigned long long)fsm.applied,
		      (unsigned long long)count, (unsigned long long)digest);
	} else if (argc == 3 && strcmp(argv[0], "put") == 0) {
		snprintf(op, sizeof(op), "put %s %s", argv[1], argv[2]);
		c->pending++;
		if ((rc = px_raft_propose(raft, op, strlen(op), on_put, c)) < 0) {
			c->pending--;
			refuse(c, rc);
		}
	} else if (argc == 3 && strcmp(argv[0], "fill") == 0 &&
		   px_parse_u64(argv[1], 1, 100000, &n) == 0) {
		for (uint64_t i = 0; i < n; i++) {
			snprintf(op, sizeof(op), "put %s-%llu %llu", argv[2],
				 (unsigned long long)i, (unsigned long long)i);
			c->pending++;
			if ((rc = px_raft_propose(raft, op, strlen(op), on_fill,
						  c)) < 0) {
				c->pending--;
				c->failed++;
				c->last_err = rc;
				break;
			}
		}
		if (c->pending == 0)
			refuse(c, c->last_err);
	} else if (argc == 3 && strcmp(argv[0], "seq") == 0 &&
		   px_parse_u64(argv[1], 1, 100000, &n) == 0) {
		c->seq_n = c->seq_left = n;
		c->t0_ms = px_mono_ms();
		snprintf(c->seq_prefix, sizeof(c->seq_prefix), "%s", argv[2]);
		if (seq_next(c) < 0)
			refuse(c, c->last_err);
	} else if (argc == 2 && strcmp(argv[0], "get") == 0) {
		MDB_txn *txn;
		MDB_val k = { strlen(argv[1]), argv[1] }, v;

		if (mdb_txn_begin(fsm.env, NULL, MDB_RDONLY, &txn) == 0 &&
		    mdb_get(txn, fsm.kv, &k, &v) == 0)
			reply(c, "ok %.*s", (int)v.mv_size, (char *)v.mv_data);
		else
			reply(c, "error no key %s", argv[1]);
		mdb_txn_abort(txn);
	} else {
		reply(c, "error usage: status | put KEY VALUE | fill N PREFIX | "
		      "seq N PREFIX | get KEY");
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	client_t *c = h->data;

	(void)hint;
	*b = uv_buf_init(c->line + c->len, (unsigned)(sizeof(c->line) - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	client_t *c = s->data;

	(void)b;
	if (n < 0 || c->handled) {
		if (!c->handled)
			uv_close((uv_handle_t *)s, client_closed);
		return;
	}
	c->len += (size_t)n;
	c->line[c->len] = '\0';
	if (strchr(c->line, '\n') || c->len >= sizeof(c->line) - 1) {
		c->handled = true;
		uv_read_stop(s);
		command(c);
	}
}

static void on_connection(uv_stream_t *srv, int status)
{
	client_t *c;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	uv_pipe_init(loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->pipe) < 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0)
		uv_close((uv_handle_t *)&c->pipe, client_closed);
}

/* --- main ------------------------------------------------------------------------ */

static void on_raft_closed(void *arg)
{
	(void)arg;
	uv_stop(loop);
}

static void on_signal(uv_signal_t *h, int sig)
{
	(void)h;
	px_log(PX_LOG_INFO, "signal %d: stopping", sig);
	uv_signal_stop(&sigterm);
	uv_signal_stop(&sigint);
	uv_close((uv_handle_t *)&server, NULL);
	px_raft_close(raft, on_raft_closed, NULL);
}

static int ctl(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 15, 0 };
	char line[LINE_MAX_], out[LINE_MAX_ + 512];
	size_t len = 0;
	ssize_t n;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: raftprobe ctl SOCK COMMAND [ARGS]\n");
		return 2;
	}
	line[0] = '\0';
	for (int i = 3; i < argc; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
					i > 3 ? " " : "", argv[i]);
	if (len >= sizeof(line) - 2)
		return 2;
	line[len++] = '\n';
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Bounded: a frozen probe costs the caller 15 s, not a hang. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    px_write_all(fd, line, len) < 0) {
		fprintf(stderr, "raftprobe: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	len = 0;
	while (len < sizeof(out) - 1 &&
	       (n = read(fd, out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	out[len] = '\0';
	if (!len) {
		fprintf(stderr, "raftprobe: %s: no answer\n", argv[2]);
		return 1;
	}
	fputs(out, stdout);
	return strncmp(out, "ok", 2) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *peers = NULL, *sock = NULL;
	px_raft_peer_t pv[PX_RAFT_SERVERS_MAX];
	px_raft_config_t cfg = { 0 };
	uint64_t id = 0, threshold = 0, trailing = 0;
	char err[512], rdir[4200];
	int verbose = 0, rc;

	if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
		return ctl(argc, argv);
	if (argc < 2 || strcmp(argv[1], "serve") != 0) {
		fprintf(stderr, "usage: raftprobe serve --dir DIR --id N --peers "
			"LIST --sock PATH [--threshold N] [--trailing N] [-v]\n"
			"       raftprobe ctl SOCK COMMAND [ARGS]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-v") == 0) {
			verbose = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "raftprobe: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--dir") == 0)
			dir = v;
		else if (strcmp(a, "--peers") == 0)
			peers = v;
		else if (strcmp(a, "--sock") == 0)
			sock = v;
		else if (strcmp(a, "--id") == 0 && px_parse_u64(v, 1, UINT32_MAX, &id) == 0)
			;
		else if (strcmp(a, "--threshold") == 0 &&
			 px_parse_u64(v, 1, 1 << 20, &threshold) == 0)
			;
		else if (strcmp(a, "--trailing") == 0 &&
			 px_parse_u64(v, 1, 1 << 20, &trailing) == 0)
			;
		else {
			fprintf(stderr, "raftprobe: %s `%s': unknown option or "
				"bad value\n", a, v);
			return 2;
		}
	}
	if (!dir || !peers || !sock || !id) {
		fprintf(stderr, "raftprobe serve: --dir, --id, --peers and "
			"--sock are required\n");
		return 2;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	px_log_init("raftprobe", verbose);
	signal(SIGPIPE, SIG_IGN);
	if (px_raft_peers_parse(peers, pv, &cfg.npeers, err, sizeof(err)) < 0) {
		px_log(PX_LOG_ERR, "%s", err);
		return 2;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		px_log(PX_LOG_ERR, "%s: %s", dir, strerror(errno));
		return 1;
	}
	snprintf(fsm.base, sizeof(fsm.base), "%s", dir);
	snprintf(fsm.dir, sizeof(fsm.dir), "%s/fsm", dir);
	snprintf(rdir, sizeof(rdir), "%s/raft", dir);
	if ((rc = fsm_open_env(&fsm)) < 0) {
		px_log(PX_LOG_ERR, "%s: %s", fsm.dir, strerror(-rc));
		return 1;
	}
	loop = uv_default_loop();
	cfg.dir = rdir;
	cfg.id = id;
	cfg.peers = pv;
	cfg.snapshot_threshold = (unsigned)threshold;
	cfg.snapshot_trailing = (unsigned)trailing;
	cfg.fsm = (px_raft_fsm_t){ fsm_apply, fsm_snapshot, fsm_restore, &fsm };
	if (px_raft_open(&raft, loop, &cfg) < 0)
		return 1;
	unlink(sock);
	uv_pipe_init(loop, &server, 0);
	if ((rc = uv_pipe_bind(&server, sock)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&server, 16, on_connection)) < 0) {
		px_log(PX_LOG_ERR, "control socket %s: %s", sock, uv_strerror(rc));
		return 1;
	}
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_run(loop, UV_RUN_DEFAULT);
	mdb_env_close(fsm.env);
	px_log(PX_LOG_INFO, "stopped at applied index %llu",
	       (unsigned long long)fsm.applied);
	return 0;
}
