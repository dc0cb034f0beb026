/* fsm.c - the store's Raft state machine over its LMDB environment. */
#include <errno.h>
#include <stdbool.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fsm.h"
#include "px.h"

struct px_fsm {
	px_db_t *db;
	MDB_env *env;
	MDB_dbi dbi;          /* "raft": "applied" -> u64 */
	MDB_dbi req;          /* "raft-req": request id -> req_rec_t + error */
	MDB_dbi reqseq;       /* "raft-reqseq": be64 index -> request id */
	uint64_t applied;
	px_fsm_op_cb handler;
	void *arg;
	void (*replaced)(void *arg);
	void *replaced_arg;
	uint64_t cur_index;       /* the entry being applied (apply_hook) */
	px_fsm_result_t *cur_res;
};

static const MDB_val applied_key = { 7, "applied" };

/* The store cannot write what a majority committed: it must not go on
 * answering as if it had.  Stop; the log replays it at the next start. */
static void fatal(uint64_t index, int rc)
{
	px_log(PX_LOG_ERR, "raft entry %llu: the database refused the write "
	       "(%s); stopping: the Raft log replays the entry at the next "
	       "start", (unsigned long long)index, px_strerror(rc));
	exit(1);
}

int px_fsm_open(px_fsm_t **out, px_db_t *db, px_fsm_op_cb handler, void *arg)
{
	px_fsm_t *f = xcalloc(1, sizeof(*f));
	MDB_txn *txn = NULL;
	MDB_val v;
	int rc;

	f->db = db;
	f->env = px_db_env(db);
	f->handler = handler;
	f->arg = arg;
	if ((rc = mdb_txn_begin(f->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "raft", MDB_CREATE, &f->dbi)) != 0 ||
	    (rc = mdb_dbi_open(txn, "raft-req", MDB_CREATE, &f->req)) != 0 ||
	    (rc = mdb_dbi_open(txn, "raft-reqseq", MDB_CREATE, &f->reqseq)) != 0)
		goto fail;
	rc = mdb_get(txn, f->dbi, (MDB_val *)&applied_key, &v);
	if (rc == 0 && v.mv_size == sizeof(f->applied))
		memcpy(&f->applied, v.mv_data, sizeof(f->applied));
	else if (rc != MDB_NOTFOUND && rc != 0)
		goto fail;
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	*out = f;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	free(f);
	*out = NULL;
	return px_db_error(rc);
}

void px_fsm_close(px_fsm_t *f)
{
	free(f);
}

void px_fsm_on_replaced(px_fsm_t *f, void (*cb)(void *arg), void *arg)
{
	f->replaced = cb;
	f->replaced_arg = arg;
}

uint64_t px_fsm_applied(const px_fsm_t *f)
{
	return f->applied;
}

/* A request's record in "raft-req": fixed fields, then the error text
 * (not NUL-terminated). */
typedef struct {
	uint64_t index, version, bad_entry, overlap_entry;
	int32_t outcome;
	uint32_t pad;
} req_rec_t;

int px_fsm_request_find(px_fsm_t *f, const char *id, px_fsm_result_t *res)
{
	MDB_txn *txn;
	MDB_val k = { strlen(id), (void *)id }, v;
	req_rec_t rec;
	size_t elen;
	int rc;

	if (!id[0] || k.mv_size > PX_FSM_REQID_MAX)
		return 0;
	if ((rc = mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn)) != 0)
		return px_db_error(rc);
	rc = mdb_get(txn, f->req, &k, &v);
	if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size < sizeof(rec))) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	memcpy(&rec, v.mv_data, sizeof(rec));
	elen = v.mv_size - sizeof(rec);
	if (elen > PX_FSM_ERROR_MAX)
		elen = PX_FSM_ERROR_MAX;
	snprintf(res->request_id, sizeof(res->request_id), "%s", id);
	memcpy(res->error, (const char *)v.mv_data + sizeof(rec), elen);
	res->error[elen] = '\0';
	res->outcome = rec.outcome;
	res->version = rec.version;
	res->bad_entry = rec.bad_entry;
	res->overlap_entry = rec.overlap_entry;
	mdb_txn_abort(txn);
	return 1;
}

/* Record res's request (first outcome) in txn and forget the oldest
 * past PX_FSM_REQUESTS. */
static int request_put(px_fsm_t *f, MDB_txn *txn, uint64_t index,
		       const px_fsm_result_t *res)
{
	size_t idlen = strlen(res->request_id), elen = strlen(res->error);
	unsigned char key[8], buf[sizeof(req_rec_t) + PX_FSM_ERROR_MAX];
	MDB_val k = { idlen, (void *)res->request_id }, v, sk = { 8, key };
	req_rec_t rec = { index, res->version, res->bad_entry,
			  res->overlap_entry, res->outcome, 0 };
	MDB_cursor *cur;
	MDB_stat ms;
	int rc;

	if (!idlen || idlen > PX_FSM_REQID_MAX)
		return 0;
	if (elen > PX_FSM_ERROR_MAX)
		elen = PX_FSM_ERROR_MAX;
	memcpy(buf, &rec, sizeof(rec));
	memcpy(buf + sizeof(rec), res->error, elen);
	v.mv_size = sizeof(rec) + elen;
	v.mv_data = buf;
	px_be64_put(key, index);
	if ((rc = mdb_put(txn, f->req, &k, &v, 0)) != 0 ||
	    (rc = mdb_put(txn, f->reqseq, &sk, &k, 0)) != 0 ||
	    (rc = mdb_stat(txn, f->reqseq, &ms)) != 0)
		return rc;
	if (ms.ms_entries <= PX_FSM_REQUESTS)
		return 0;
	/* One over: the oldest index goes, with its request. */
	if ((rc = mdb_cursor_open(txn, f->reqseq, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &sk, &v, MDB_FIRST);
	if (rc == 0) {
		MDB_val old = v;

		rc = mdb_del(txn, f->req, &old, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc == 0)
			rc = mdb_cursor_del(cur, 0);
	}
	mdb_cursor_close(cur);
	return rc;
}

/* Inside each write transaction of an entry's apply: the index and
 * the request (outcome ok, its version not known yet) go with the
 * entry's own writes, so a crash never leaves them applied and the
 * index not recorded.  The record is completed after the handler. */
static int apply_hook(void *arg, MDB_txn *txn)
{
	px_fsm_t *f = arg;
	MDB_val v = { sizeof(f->cur_index), &f->cur_index };
	int rc;

	if ((rc = mdb_put(txn, f->dbi, (MDB_val *)&applied_key, &v, 0)) != 0)
		return rc;
	if (!f->cur_res->duplicate)
		return request_put(f, txn, f->cur_index, f->cur_res);
	return 0;
}

static int apply(void *arg, uint64_t index, const void *op, size_t len)
{
	px_fsm_t *f = arg;
	MDB_txn *txn;
	MDB_val v = { sizeof(index), &index };
	px_fsm_result_t res;
	int rc;

	if (index <= f->applied)
		return 0; /* replayed at a start: applied before */
	memset(&res, 0, sizeof(res));
	f->cur_index = index;
	f->cur_res = &res;
	px_db_set_commit_hook(f->db, apply_hook, f);
	rc = f->handler ? f->handler(f->arg, index, op, len, &res) : 0;
	px_db_set_commit_hook(f->db, NULL, NULL);
	if (rc < 0)
		fatal(index, rc);
	/* The index again (an entry that wrote nothing: a refusal, a
	 * duplicate) and the request's whole record. */
	if ((rc = mdb_txn_begin(f->env, NULL, 0, &txn)) != 0)
		fatal(index, px_db_error(rc));
	if ((rc = mdb_put(txn, f->dbi, (MDB_val *)&applied_key, &v, 0)) != 0 ||
	    (!res.duplicate && (rc = request_put(f, txn, index, &res)) != 0) ||
	    (rc = mdb_txn_commit(txn)) != 0)
		fatal(index, px_db_error(rc));
	f->applied = index;
	return res.outcome;
}

/* A compacting copy in a read transaction of its own: the state as of
 * the last applied entry (the loop applies nothing meanwhile).  It runs
 * on the loop thread: a threadpool copy (snapshot_async) is the next
 * step once snapshots are big. */
static int snapshot(void *arg, void **buf, size_t *len)
{
	px_fsm_t *f = arg;
	int fd = memfd_create("phalanx-store-snapshot", MFD_CLOEXEC), rc;
	off_t size;
	char *b;

	if (fd < 0)
		return -errno;
	if ((rc = mdb_env_copyfd2(f->env, fd, MDB_CP_COMPACT)) != 0) {
		close(fd);
		return px_db_error(rc);
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0) {
		close(fd);
		return PX_EDB;
	}
	b = xmalloc((size_t)size);
	if (pread(fd, b, (size_t)size, 0) != size) {
		rc = errno ? -errno : PX_EDB;
		free(b);
		close(fd);
		return rc;
	}
	close(fd);
	*buf = b;
	*len = (size_t)size;
	return 0;
}

/* A snapshot's database, written to path.tmp by px_file_replace before
 * it is renamed over the live file. */
typedef struct {
	const char *tmp;
	uint64_t index;
	const void *buf;
	size_t len;
} install_t;

/* Check the copy is an LMDB environment of this program's state at or
 * below index, and record index as applied: entries between the FSM's
 * last one and the snapshot's index are Raft's own (configuration,
 * barriers), so the state is the one as of index. */
static int install_check(const install_t *in)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi, meta;
	MDB_val v, nv = { sizeof(in->index), (void *)&in->index };
	uint64_t applied = 0;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
	    (rc = mdb_env_open(env, in->tmp, MDB_NOSUBDIR | MDB_NOLOCK,
			       0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", 0, &meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "raft", MDB_CREATE, &dbi)) != 0)
		goto out;
	rc = mdb_get(txn, dbi, (MDB_val *)&applied_key, &v);
	if (rc == 0 && v.mv_size == sizeof(applied))
		memcpy(&applied, v.mv_data, sizeof(applied));
	else if (rc != MDB_NOTFOUND) {
		rc = rc ? rc : MDB_CORRUPTED;
		goto out;
	}
	if (applied > in->index) {
		px_log(PX_LOG_ERR, "raft snapshot at index %llu holds a database "
		       "applied up to %llu: refused",
		       (unsigned long long)in->index,
		       (unsigned long long)applied);
		rc = MDB_CORRUPTED;
		goto out;
	}
	if ((rc = mdb_put(txn, dbi, (MDB_val *)&applied_key, &nv, 0)) == 0)
		rc = mdb_txn_commit(txn);
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc ? px_db_error(rc) : 0;
}

static int install_fill(int fd, void *arg)
{
	const install_t *in = arg;
	int rc = px_write_all(fd, in->buf, in->len);

	return rc < 0 ? rc : install_check(in);
}

/* Replace data.mdb of f's environment by the snapshot's, fsync'd, and
 * drop the lock file that describes the old one.  The environment open
 * in this process still maps the old file: the caller reloads. */
static int install(px_fsm_t *f, uint64_t index, const void *buf, size_t len)
{
	const char *dir;
	char path[4096], tmp[4200];
	install_t in = { tmp, index, buf, len };
	int rc;

	if ((rc = mdb_env_get_path(f->env, &dir)) != 0)
		return px_db_error(rc);
	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((rc = px_file_replace(path, 0600, true, install_fill, &in)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int restore(void *arg, uint64_t index, const void *buf, size_t len)
{
	px_fsm_t *f = arg;
	int rc;

	if (index <= f->applied) {
		px_log(PX_LOG_INFO, "raft snapshot at index %llu: the database "
		       "is at %llu already, kept", (unsigned long long)index,
		       (unsigned long long)f->applied);
		return 0;
	}
	/* Behind the leader's log: the leader sent its database.  Serving
	 * the old one would not be the cluster's state. */
	if ((rc = install(f, index, buf, len)) < 0) {
		px_log(PX_LOG_ERR, "raft snapshot at index %llu (%zu bytes): "
		       "cannot replace this store's database (at %llu) with "
		       "it: %s; stopping rather than serving a state that is "
		       "not the cluster's", (unsigned long long)index, len,
		       (unsigned long long)f->applied, px_strerror(rc));
		exit(1);
	}
	px_log(PX_LOG_WARN, "raft snapshot at index %llu (%zu bytes): this "
	       "store's database was at %llu and is now the leader's copy; "
	       "restarting to load it", (unsigned long long)index, len,
	       (unsigned long long)f->applied);
	if (!f->replaced) {
		px_log(PX_LOG_ERR, "nothing reloads the database; stopping: the "
		       "next start loads it");
		exit(1);
	}
	f->replaced(f->replaced_arg); /* the store re-executes itself */
	f->applied = index;
	return 0;
}

px_raft_fsm_t px_fsm_callbacks(px_fsm_t *f)
{
	return (px_raft_fsm_t){ apply, snapshot, restore, f };
}
