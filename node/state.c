/* state.c - the member's local state in LMDB (see state.h).  All LMDB
 * calls of the member are in this file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "delta.h"
#include "px.h"
#include "state.h"
#include "wire.h"

#define NDBS 3
static const char *const db_names[NDBS] = { "meta", "entries", "outbox" };

/* "PXS1", u64 version, u64 epoch, u32 CRC-32C of what follows it, then
 * one packed Envelope holding one SnapshotChunk. */
static const char policy_magic[4] = { 'P', 'X', 'S', '1' };
#define POLICY_HDR 24
#define POLICY_KEY "policy"
#define ENTRY_LEN ((size_t)sizeof(px_entry_t))
#define KEY_MAX (PX_SETNAME_MAX + 1 + 19)
/* A checker that has not read the environment in this long is stuck on
 * a damaged one (8M entries are read in a few seconds). */
#define CHECK_TIMEOUT_MS 300000
/* Records a checker walks at most: every set full, the outbox and a
 * margin; more means a cycle in a damaged tree. */
#define CHECK_RECORDS_MAX ((uint64_t)PX_SETS_MAX * PX_SET_ENTRIES_MAX + 1000000)

struct px_state {
	MDB_env *env;
	MDB_dbi dbi[NDBS];
	char *dir;
	/* What the environment holds, when known: the delta base. */
	bool in_sync;
	uint64_t version, epoch;
	/* Records written or deleted since the environment was opened: LMDB
	 * keeps every page a write transaction dirtied, malloc'd, in a free
	 * list of its own until the environment closes (mdb_page_free), ~50
	 * MB after a 1M-entry import (px_state_release). */
	uint64_t dirtied;
};

struct px_state_txn {
	px_state_t *st;
	MDB_txn *txn;
};

/* LMDB's codes into the project's range, here at the one file that
 * calls LMDB (its errno values are positive). */
static int map_rc(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return PX_EDBFULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_BAD_TXN:
	case MDB_BAD_VALSIZE:
	case MDB_INCOMPATIBLE:
		return PX_EDBCORRUPT;
	default:
		return rc > 0 ? -rc : PX_EDB;
	}
}

static void put_le32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static void put_le64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* ---- records ---- */

static int encode_chunk(Phalanx__SnapshotChunk *c, void *arg)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	struct { uint8_t *buf; size_t len; uint64_t epoch; } *out = arg;
	size_t n;

	env.proto_version = PX_PROTO_VERSION;
	env.epoch = out->epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	n = phalanx__envelope__get_packed_size(&env);
	out->buf = xmalloc(POLICY_HDR + n);
	phalanx__envelope__pack(&env, out->buf + POLICY_HDR);
	out->len = POLICY_HDR + n;
	return 0;
}

uint8_t *px_state_policy_encode(const px_policy_t *p, size_t *len)
{
	struct { uint8_t *buf; size_t len; uint64_t epoch; } out =
		{ NULL, 0, p->epoch };
	px_policy_t shallow = *p;
	size_t i;

	/* The sets without their entries: those are records of their own. */
	shallow.sets = p->nsets ? xcalloc(p->nsets, sizeof(*p->sets)) : NULL;
	for (i = 0; i < p->nsets; i++)
		memcpy(shallow.sets[i].name, p->sets[i].name,
		       sizeof(p->sets[i].name));
	px_policy_chunks(&shallow, 0, encode_chunk, &out);
	free(shallow.sets);
	memcpy(out.buf, policy_magic, 4);
	put_le64(out.buf + 4, p->version);
	put_le64(out.buf + 12, p->epoch);
	put_le32(out.buf + 20, px_crc32c(out.buf + POLICY_HDR,
					 out.len - POLICY_HDR));
	*len = out.len;
	return out.buf;
}

int px_state_policy_decode(const uint8_t *buf, size_t len, px_policy_t *p,
			   char *why, size_t wlen)
{
	Phalanx__Envelope *env = NULL;
	int rc = PX_EDECODE;

	if (len < POLICY_HDR || memcmp(buf, policy_magic, 4) != 0) {
		snprintf(why, wlen, "policy record: no PXS1 header (%zu bytes)",
			 len);
		return rc;
	}
	if (get_le32(buf + 20) != px_crc32c(buf + POLICY_HDR, len - POLICY_HDR)) {
		snprintf(why, wlen, "policy record: checksum mismatch");
		return rc;
	}
	env = phalanx__envelope__unpack(NULL, len - POLICY_HDR, buf + POLICY_HDR);
	if (!env || env->proto_version != PX_PROTO_VERSION ||
	    env->body_case != PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK ||
	    env->snapshot_chunk->seq != 0 || !env->snapshot_chunk->last) {
		snprintf(why, wlen, "policy record: not one complete snapshot "
			 "chunk");
		goto out;
	}
	rc = px_policy_apply_chunk(p, env->snapshot_chunk);
	if (rc < 0) {
		snprintf(why, wlen, "policy record refused: %s", px_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < p->nsets; i++)
		if (p->sets[i].entries.n) {
			snprintf(why, wlen, "policy record: set %s holds entries "
				 "(they are records of their own)",
				 p->sets[i].name);
			rc = PX_EDECODE;
			goto out;
		}
	p->version = get_le64(buf + 4);
	p->epoch = get_le64(buf + 12);
	if (p->epoch != env->epoch) {
		snprintf(why, wlen, "policy record: epoch %" PRIu64 " in the "
			 "header, %" PRIu64 " in the chunk", p->epoch, env->epoch);
		rc = PX_EDECODE;
		goto out;
	}
	/* Names, limits, rules and services must agree before any entry
	 * record is read (a tier or rule naming a set the record lacks);
	 * the loader checks the entries once they are in. */
	rc = px_policy_validate_shallow(p, why, wlen);
out:
	if (env)
		phalanx__envelope__free_unpacked(env, NULL);
	return rc;
}

static size_t entry_key(const char *set, const px_entry_t *e, uint8_t *key)
{
	size_t n = strlen(set);

	memcpy(key, set, n + 1);
	memcpy(key + n + 1, e, ENTRY_LEN);
	return n + 1 + ENTRY_LEN;
}

int px_state_entry_decode(const uint8_t *key, size_t klen, const uint8_t *val,
			  size_t vlen, char *name, px_entry_t *e)
{
	uint8_t wire[PX_ENTRY_WIRE_MAX];
	const uint8_t *nul;
	px_entry_t back;
	size_t n;

	if (klen <= ENTRY_LEN + 1 || klen > KEY_MAX || vlen != 4 ||
	    get_le32(val) != px_crc32c(key, klen))
		return PX_EDECODE;
	nul = memchr(key, '\0', klen - ENTRY_LEN);
	if (!nul || (size_t)(nul - key) != klen - ENTRY_LEN - 1)
		return PX_EDECODE;
	memcpy(name, key, (size_t)(nul - key) + 1);
	if (!px_setname_valid(name))
		return PX_EDECODE;
	memcpy(e, nul + 1, ENTRY_LEN);
	/* Canonical: through the wire form's validator and back. */
	n = px_entry_encode(e, wire);
	if (px_entry_decode(wire, n, &back) < 0 || memcmp(&back, e, ENTRY_LEN))
		return PX_EDECODE;
	return 0;
}

/* ---- the environment ---- */

static int env_create(MDB_env **env, const char *dir, unsigned flags)
{
	int rc = mdb_env_create(env);

	if (rc == 0)
		rc = mdb_env_set_maxdbs(*env, NDBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(*env, (size_t)PX_STATE_MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_open(*env, dir, flags | MDB_NOTLS, 0600);
	if (rc != 0 && *env) {
		mdb_env_close(*env);
		*env = NULL;
	}
	return rc;
}

/* The checker child: read every record of every sub-database, checking
 * the entries' checksums.  Exit 0, or 1 with a line on fd. */
static void check_child(const char *dir, int fd)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur;
	MDB_dbi dbi;
	MDB_val k, v;
	char msg[200] = "";
	uint64_t seen = 0;
	int rc, i;

	rc = env_create(&env, dir, MDB_RDONLY | MDB_NOLOCK);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		snprintf(msg, sizeof(msg), "open: %s", mdb_strerror(rc));
		goto fail;
	}
	for (i = 0; i < NDBS; i++) {
		rc = mdb_dbi_open(txn, db_names[i], 0, &dbi);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc == 0)
			rc = mdb_cursor_open(txn, dbi, &cur);
		if (rc != 0) {
			snprintf(msg, sizeof(msg), "sub-database %s: %s",
				 db_names[i], mdb_strerror(rc));
			goto fail;
		}
		while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
			if (++seen > CHECK_RECORDS_MAX) {
				snprintf(msg, sizeof(msg), "more than %" PRIu64
					 " records", CHECK_RECORDS_MAX);
				goto fail;
			}
			if (i == PX_STATE_ENTRIES &&
			    (v.mv_size != 4 || get_le32(v.mv_data) !=
			     px_crc32c(k.mv_data, k.mv_size))) {
				snprintf(msg, sizeof(msg), "entries: record %"
					 PRIu64 " fails its checksum", seen);
				goto fail;
			}
		}
		if (rc != MDB_NOTFOUND) {
			snprintf(msg, sizeof(msg), "sub-database %s: %s",
				 db_names[i], mdb_strerror(rc));
			goto fail;
		}
		mdb_cursor_close(cur);
	}
	_exit(0);
fail:
	if (write(fd, msg, strlen(msg)) < 0)
		_exit(2);
	_exit(1);
}

/* Read the environment at dir whole in a child: LMDB trusts its file, a
 * damaged page can send a reader anywhere.  0 or PX_EDBCORRUPT (why). */
static int check_env(const char *dir, char *why, size_t len)
{
	char msg[200] = "";
	uint64_t deadline = px_mono_ms() + CHECK_TIMEOUT_MS;
	int fds[2], status = 0, rc = 0;
	pid_t pid, w;
	ssize_t r;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (pid == 0) {
		close(fds[0]);
		check_child(dir, fds[1]);
	}
	close(fds[1]);
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 &&
	       px_mono_ms() < deadline) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(why, len, "reading it took over %d s", CHECK_TIMEOUT_MS /
			 1000);
		rc = PX_EDBCORRUPT;
	} else if (w < 0) {
		rc = -errno;
		snprintf(why, len, "checker: waitpid: %s", strerror(errno));
	} else if (WIFSIGNALED(status)) {
		snprintf(why, len, "reading it crashed a checker process "
			 "(signal %d)", WTERMSIG(status));
		rc = PX_EDBCORRUPT;
	} else if (WEXITSTATUS(status) != 0) {
		r = read(fds[0], msg, sizeof(msg) - 1);
		msg[r > 0 ? r : 0] = '\0';
		snprintf(why, len, "%s", msg[0] ? msg : "checker failed");
		rc = PX_EDBCORRUPT;
	}
	close(fds[0]);
	return rc;
}

/* Open st->dir's environment and its sub-databases: 0 or LMDB's code
 * (st->env NULL). */
static int attach(px_state_t *st)
{
	MDB_txn *txn = NULL;
	int rc = env_create(&st->env, st->dir, 0), i;

	if (rc == 0)
		rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	for (i = 0; rc == 0 && i < NDBS; i++)
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &st->dbi[i]);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (rc != 0 && st->env) {
		mdb_env_close(st->env);
		st->env = NULL;
	}
	st->dirtied = 0;
	return rc;
}

/* Every transaction begins here: an environment that could not be opened
 * again (px_state_release) is tried once more. */
static int txn_begin(px_state_t *st, unsigned flags, MDB_txn **txn)
{
	int rc = st->env ? 0 : attach(st);

	*txn = NULL;
	return rc ? rc : mdb_txn_begin(st->env, NULL, flags, txn);
}

int px_state_open(px_state_t **out, const char *dir, char *why, size_t len)
{
	px_state_t *st = NULL;
	char data[4200];
	struct stat sb;
	int rc;

	*out = NULL;
	if (why && len)
		why[0] = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, len, "mkdir: %s", strerror(errno));
		return rc;
	}
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	if (stat(data, &sb) == 0 && (rc = check_env(dir, why, len)) < 0)
		return rc;
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(dir);
	rc = attach(st);
	if (rc != 0) {
		snprintf(why, len, "%s", mdb_strerror(rc));
		px_state_close(st);
		return map_rc(rc);
	}
	*out = st;
	return 0;
}

int px_state_release(px_state_t *st, uint64_t min_records)
{
	uint64_t n = st->dirtied;
	int rc;

	struct timespec a, b;

	if (n < min_records || !st->env)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	mdb_env_close(st->env);
	st->env = NULL;
	rc = attach(st);
	if (rc != 0) {
		px_log(PX_LOG_ERR, "state %s: cannot open the environment "
		       "again: %s (tried again at its next use)", st->dir,
		       mdb_strerror(rc));
		return map_rc(rc);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	px_log(PX_LOG_INFO, "state %s: environment opened again after %"
	       PRIu64 " records written, to give back the pages LMDB kept "
	       "(%.2f ms)", st->dir, n, (double)(b.tv_sec - a.tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	return 0;
}

void px_state_close(px_state_t *st)
{
	if (!st)
		return;
	if (st->env)
		mdb_env_close(st->env);
	free(st->dir);
	free(st);
}

const char *px_state_dir(const px_state_t *st)
{
	return st->dir;
}

int px_state_set_aside(const char *dir)
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	char bad[4200], to[4300];
	size_t i;

	snprintf(bad, sizeof(bad), "%s.bad", dir);
	for (i = 0; i < 2; i++) {
		snprintf(to, sizeof(to), "%s/%s", bad, files[i]);
		unlink(to);
	}
	rmdir(bad);
	if (rename(dir, bad) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

bool px_state_holds(const px_state_t *st, uint64_t version, uint64_t epoch)
{
	return st && st->in_sync && st->version == version &&
	       st->epoch == epoch;
}

/* ---- load ---- */

int px_state_load(px_state_t *st, px_policy_t *p, char *why, size_t len)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = { sizeof(POLICY_KEY) - 1, (void *)POLICY_KEY }, v;
	char name[PX_SETNAME_MAX + 1];
	px_set_t *set = NULL;
	uint64_t nrec = 0;
	px_entry_t e;
	int rc;

	if (why && len)
		why[0] = '\0';
	st->in_sync = false;
	rc = txn_begin(st, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_get(txn, st->dbi[PX_STATE_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		snprintf(why, len, "no policy in it yet");
		rc = -ENOENT;
		goto out;
	}
	if (rc != 0) {
		snprintf(why, len, "policy record: %s", mdb_strerror(rc));
		rc = map_rc(rc);
		goto out;
	}
	rc = px_state_policy_decode(v.mv_data, v.mv_size, p, why, len);
	if (rc < 0)
		goto out;
	rc = mdb_cursor_open(txn, st->dbi[PX_STATE_ENTRIES], &cur);
	while (rc == 0 &&
	       (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		nrec++;
		if (px_state_entry_decode(k.mv_data, k.mv_size, v.mv_data,
					  v.mv_size, name, &e) < 0) {
			snprintf(why, len, "entry record %" PRIu64 " is damaged "
				 "(%zu-byte key)", nrec, k.mv_size);
			rc = PX_EDECODE;
			goto out;
		}
		if (!set || strcmp(set->name, name) != 0)
			set = px_policy_find(p, name);
		if (!set) {
			snprintf(why, len, "entry record %" PRIu64 " is of set "
				 "`%s', which the policy does not hold", nrec,
				 name);
			rc = PX_EDECODE;
			goto out;
		}
		if (set->entries.n >= PX_SET_ENTRIES_MAX) {
			snprintf(why, len, "set %s: over %d entries", name,
				 PX_SET_ENTRIES_MAX);
			rc = PX_ETOOBIG;
			goto out;
		}
		px_entries_push(&set->entries, &e);
	}
	if (rc != MDB_NOTFOUND) {
		snprintf(why, len, "entries: %s", mdb_strerror(rc));
		rc = map_rc(rc);
		goto out;
	}
	/* Order, uniqueness and overlaps: the same checks as a snapshot. */
	rc = px_policy_validate(p, why, len);
	if (rc == 0) {
		st->in_sync = true;
		st->version = p->version;
		st->epoch = p->epoch;
	}
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

/* ---- save ---- */

static int put_entry(MDB_txn *txn, MDB_dbi dbi, const char *set,
		     const px_entry_t *e, unsigned flags)
{
	uint8_t key[KEY_MAX], crc[4];
	MDB_val k, v = { 4, crc };

	k.mv_size = entry_key(set, e, key);
	k.mv_data = key;
	put_le32(crc, px_crc32c(key, k.mv_size));
	return mdb_put(txn, dbi, &k, &v, flags);
}

static int del_entry(MDB_txn *txn, MDB_dbi dbi, const char *set,
		     const px_entry_t *e)
{
	uint8_t key[KEY_MAX];
	MDB_val k;
	int rc;

	k.mv_size = entry_key(set, e, key);
	k.mv_data = key;
	rc = mdb_del(txn, dbi, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Every entry record of set (keys "set\0..."). */
static int del_set(MDB_txn *txn, MDB_dbi dbi, const char *set, uint64_t *n)
{
	size_t len = strlen(set) + 1;
	MDB_cursor *cur;
	MDB_val k = { len, (void *)set }, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc != 0)
		return rc;
	/* Sought again after each delete: where a cursor stands after
	 * mdb_cursor_del at the end of a page has varied between LMDB
	 * releases. */
	while (rc == 0) {
		k.mv_size = len;
		k.mv_data = (void *)set;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size <= len ||
		    memcmp(k.mv_data, set, len) != 0)
			break;
		rc = mdb_cursor_del(cur, 0);
		(*n)++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_set(MDB_txn *txn, MDB_dbi dbi, const px_set_t *s,
		   unsigned flags, uint64_t *n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < s->entries.n && rc == 0; i++)
		rc = put_entry(txn, dbi, s->name, &s->entries.v[i], flags);
	*n += i;
	return rc;
}

static int write_full(MDB_txn *txn, MDB_dbi dbi, const px_policy_t *t,
		      px_state_stats_t *s)
{
	size_t i;
	int rc = mdb_drop(txn, dbi, 0);

	/* Sets sorted by name, entries by their bytes: the keys come in
	 * order, so LMDB appends and fills its pages. */
	for (i = 0; i < t->nsets && rc == 0; i++)
		rc = put_set(txn, dbi, &t->sets[i], MDB_APPEND, &s->puts);
	return rc;
}

static int write_delta(MDB_txn *txn, MDB_dbi dbi, const px_policy_t *b,
		       const px_policy_t *t, px_state_stats_t *s)
{
	size_t i = 0, j = 0, k;
	int rc = 0;

	while (rc == 0 && (i < b->nsets || j < t->nsets)) {
		const px_set_t *os = i < b->nsets ? &b->sets[i] : NULL;
		const px_set_t *ns = j < t->nsets ? &t->sets[j] : NULL;
		int c = !os ? 1 : !ns ? -1 : strcmp(os->name, ns->name);
		px_entries_t add, del;

		if (c < 0) {
			rc = del_set(txn, dbi, os->name, &s->dels);
			i++;
			continue;
		}
		if (c > 0) {
			rc = put_set(txn, dbi, ns, 0, &s->puts);
			j++;
			continue;
		}
		i++;
		j++;
		if (os->entries.n == ns->entries.n &&
		    (!os->entries.n || memcmp(os->entries.v, ns->entries.v,
					      os->entries.n * ENTRY_LEN) == 0))
			continue;
		px_entries_init(&add);
		px_entries_init(&del);
		px_entries_diff(&os->entries, &ns->entries, &add, &del);
		for (k = 0; k < del.n && rc == 0; k++)
			rc = del_entry(txn, dbi, os->name, &del.v[k]);
		for (k = 0; k < add.n && rc == 0; k++)
			rc = put_entry(txn, dbi, ns->name, &add.v[k], 0);
		s->dels += del.n;
		s->puts += add.n;
		px_entries_free(&add);
		px_entries_free(&del);
	}
	return rc;
}

/* Entries added plus deleted from b to t, counted without copying
 * (sorted arrays merged). */
static uint64_t count_changes(const px_policy_t *b, const px_policy_t *t,
			      uint64_t *total)
{
	uint64_t n = 0;
	size_t i = 0, j = 0;

	*total = 0;
	for (size_t k = 0; k < t->nsets; k++)
		*total += t->sets[k].entries.n;
	while (i < b->nsets || j < t->nsets) {
		const px_set_t *os = i < b->nsets ? &b->sets[i] : NULL;
		const px_set_t *ns = j < t->nsets ? &t->sets[j] : NULL;
		int c = !os ? 1 : !ns ? -1 : strcmp(os->name, ns->name);
		size_t x = 0, y = 0;

		if (c < 0) {
			n += os->entries.n;
			i++;
			continue;
		}
		if (c > 0) {
			n += ns->entries.n;
			j++;
			continue;
		}
		while (x < os->entries.n && y < ns->entries.n) {
			int d = memcmp(&os->entries.v[x], &ns->entries.v[y],
				       ENTRY_LEN);

			n += d != 0;
			x += d <= 0;
			y += d >= 0;
		}
		n += (os->entries.n - x) + (ns->entries.n - y);
		i++;
		j++;
	}
	return n;
}

/* A put in the middle of the tree costs about this many appends (1M
 * IPv4 entries: 1.56 s of CPU put one by one into a set that held 7,
 * 0.27 s appended to an emptied database): past changes * DELTA_COST >
 * entries, rewriting everything is cheaper than the delta. */
#define DELTA_COST 6

/* The common end of both saves: the policy record of `meta' (its
 * version and epoch become the environment's) put in txn, which holds
 * the entry writes of a save that began at *start, then the commit.
 * rc is the entry writes' outcome; on any failure txn is aborted.  A
 * gate (may be NULL) is asked before the commit: non-zero aborts, the
 * environment as it was (its view kept), and is returned.  The in-memory
 * view is invalid until the commit succeeds: a failed save leaves the
 * old version, or (a failed commit) maybe not, so the next save writes
 * everything. */
static int save_finish(px_state_t *st, MDB_txn *txn, int rc,
		       const px_policy_t *meta, const struct timespec *start,
		       const px_state_gate_t *gate, px_state_stats_t *s)
{
	MDB_val k = { sizeof(POLICY_KEY) - 1, (void *)POLICY_KEY }, v;
	uint8_t *rec = NULL;
	struct timespec end, waited = { 0, 0 };
	int refused = 0;

	if (rc == 0) {
		rec = px_state_policy_encode(meta, &v.mv_size);
		v.mv_data = rec;
		rc = mdb_put(txn, st->dbi[PX_STATE_META], &k, &v, 0);
	}
	if (rc == 0 && gate && gate->fn) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		refused = gate->fn(gate->arg);
		clock_gettime(CLOCK_MONOTONIC, &b);
		waited.tv_sec = b.tv_sec - a.tv_sec;
		waited.tv_nsec = b.tv_nsec - a.tv_nsec;
	}
	if (refused) {
		mdb_txn_abort(txn);
		free(rec);
		st->dirtied += s->puts + s->dels;
		return refused;
	}
	st->in_sync = false;
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	free(rec);
	st->dirtied += s->puts + s->dels;
	clock_gettime(CLOCK_MONOTONIC, &end);
	s->usec = (uint64_t)(end.tv_sec - start->tv_sec - waited.tv_sec) *
		  1000000 + (uint64_t)((end.tv_nsec - start->tv_nsec -
					waited.tv_nsec) / 1000);
	if (rc != 0) {
		px_log(PX_LOG_ERR, "state %s: version %" PRIu64 " not written: "
		       "%s", st->dir, meta->version, mdb_strerror(rc));
		return map_rc(rc);
	}
	st->in_sync = true;
	st->version = meta->version;
	st->epoch = meta->epoch;
	return 0;
}

int px_state_save(px_state_t *st, const px_policy_t *base,
		  const px_policy_t *target, px_state_stats_t *stats)
{
	return px_state_save_gated(st, base, target, NULL, stats);
}

int px_state_save_gated(px_state_t *st, const px_policy_t *base,
			const px_policy_t *target, const px_state_gate_t *gate,
			px_state_stats_t *stats)
{
	px_state_stats_t local;
	px_state_stats_t *s = stats ? stats : &local;
	struct timespec a;
	MDB_txn *txn = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	if (px_state_holds(st, target->version, target->epoch)) {
		s->skipped = true;
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	s->full = !base || !px_state_holds(st, base->version, base->epoch);
	if (!s->full) {
		uint64_t total, changes = count_changes(base, target, &total);

		s->full = changes * DELTA_COST > total;
	}
	rc = txn_begin(st, 0, &txn);
	if (rc == 0)
		rc = s->full ? write_full(txn, st->dbi[PX_STATE_ENTRIES], target, s)
			     : write_delta(txn, st->dbi[PX_STATE_ENTRIES], base,
					   target, s);
	return save_finish(st, txn, rc, target, &a, gate, s);
}

/* An entry-only change as it was applied in place (node/delta.c): the
 * set records of d and the policy record of base at version/epoch, in
 * one transaction.  The environment must hold base's version, else
 * nothing is written and PX_ESTATE says the next save writes all. */
int px_state_save_delta(px_state_t *st, const px_policy_t *base,
			uint64_t version, const px_delta_t *d,
			px_state_stats_t *stats)
{
	px_state_stats_t local;
	px_state_stats_t *s = stats ? stats : &local;
	struct timespec a;
	MDB_txn *txn = NULL;
	MDB_dbi dbi = st->dbi[PX_STATE_ENTRIES];
	px_policy_t meta = *base;
	size_t i, e;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!px_state_holds(st, base->version, base->epoch))
		return PX_ESTATE;
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = txn_begin(st, 0, &txn);
	for (i = 0; rc == 0 && i < d->n; i++) {
		const px_set_delta_t *sd = &d->v[i];

		for (e = 0; rc == 0 && e < sd->del.n; e++)
			rc = del_entry(txn, dbi, sd->set, &sd->del.v[e]);
		for (e = 0; rc == 0 && e < sd->add.n; e++)
			rc = put_entry(txn, dbi, sd->set, &sd->add.v[e], 0);
		s->dels += sd->del.n;
		s->puts += sd->add.n;
	}
	meta.version = version;
	return save_finish(st, txn, rc, &meta, &a, NULL, s);
}

/* ---- raw records (outbox.c) ---- */

int px_state_get(px_state_t *st, int db, const void *key, size_t klen,
		 uint8_t **val, size_t *vlen)
{
	MDB_txn *txn;
	MDB_val k = { klen, (void *)key }, v;
	int rc = txn_begin(st, MDB_RDONLY, &txn);

	*val = NULL;
	*vlen = 0;
	if (rc == 0) {
		rc = mdb_get(txn, st->dbi[db], &k, &v);
		if (rc == 0) {
			*val = xmalloc(v.mv_size ? v.mv_size : 1);
			memcpy(*val, v.mv_data, v.mv_size);
			*vlen = v.mv_size;
		}
		mdb_txn_abort(txn);
	}
	return map_rc(rc);
}

int px_state_begin(px_state_t *st, px_state_txn_t **t)
{
	MDB_txn *txn;
	int rc = txn_begin(st, 0, &txn);

	*t = NULL;
	if (rc != 0)
		return map_rc(rc);
	*t = xmalloc(sizeof(**t));
	(*t)->st = st;
	(*t)->txn = txn;
	return 0;
}

int px_state_put(px_state_txn_t *t, int db, const void *key, size_t klen,
		 const void *val, size_t vlen)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };

	return map_rc(mdb_put(t->txn, t->st->dbi[db], &k, &v, 0));
}

int px_state_del(px_state_txn_t *t, int db, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc = mdb_del(t->txn, t->st->dbi[db], &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : map_rc(rc);
}

int px_state_commit(px_state_txn_t *t)
{
	int rc = mdb_txn_commit(t->txn);

	free(t);
	return map_rc(rc);
}

void px_state_abort(px_state_txn_t *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

int px_state_each(px_state_t *st, int db, px_state_record_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = txn_begin(st, MDB_RDONLY, &txn);

	if (rc != 0)
		return map_rc(rc);
	rc = mdb_cursor_open(txn, st->dbi[db], &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return map_rc(rc);
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		int r = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);

		if (r) {
			rc = 0;
			mdb_cursor_close(cur);
			mdb_txn_abort(txn);
			return r;
		}
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : map_rc(rc);
}
