/* auth.c - identities in LMDB, the ZAP handler, the permission table.
 *
 * Database "keys": "a:NAME" (an administrator) or "m:NAME" (a member)
 * -> "ROLE KEY", ROLE one of viewer/operator/admin/member and KEY the
 * z85 public key.  The store holds a copy in memory: every handshake
 * and every message looks its key up there (a linear scan of at most
 * PX_IDENTS_MAX: microseconds, and messages of an array are few). */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "auth.h"
#include "px.h"
#include "ratelog.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct px_auth {
	px_db_t *db;
	MDB_env *env;
	MDB_dbi dbi;
	px_ident_t *v;
	size_t n;
};

static const char *const role_names[] = {
	[PX_ROLE_NONE] = "none",
	[PX_ROLE_VIEWER] = "viewer",
	[PX_ROLE_OPERATOR] = "operator",
	[PX_ROLE_ADMIN] = "admin",
	[PX_ROLE_MEMBER] = "member",
};

const char *px_role_name(px_role_t r)
{
	return (unsigned)r <= PX_ROLE_MEMBER ? role_names[r] : "?";
}

int px_role_parse(const char *s, px_role_t *out)
{
	px_role_t r;

	for (r = PX_ROLE_VIEWER; r <= PX_ROLE_ADMIN; r++)
		if (strcmp(s, role_names[r]) == 0) {
			*out = r;
			return 0;
		}
	return PX_EBADREQ;
}

/* The permission table: the least role for each request.  A viewer
 * reads; an operator also does the day's work on exception sets,
 * alerts and maintenance (drain); everything that changes the array's
 * shape, limits, rules, services, alert definitions, members and keys
 * is an admin's.  Keep docs/permissions.md in step. */
static const struct {
	Phalanx__CtlRequest__Op op;
	px_role_t role;
} perms[] = {
	{ PHALANX__CTL_REQUEST__OP__STATUS, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__SET_LIST, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__LIMIT_SHOW, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__RULE_LIST, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__SERVICE_LIST, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__ALERT_LIST, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__LOG_LIST, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__TOP, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__HISTORY, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__DIFF, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__PENDING, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__ROLLBACK, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__CONFIRM, PX_ROLE_OPERATOR },
	{ PHALANX__CTL_REQUEST__OP__CONFIG_SHOW, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__CONFIG_PLAN, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__CONFIG_APPLY, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__WAIT, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__DRAINED_WAIT, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT, PX_ROLE_VIEWER },
	/* a --canary's verdict: a read, as --wait's WAIT */
	{ PHALANX__CTL_REQUEST__OP__CANARY_WAIT, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__SET_ADD, PX_ROLE_OPERATOR },
	{ PHALANX__CTL_REQUEST__OP__SET_DEL, PX_ROLE_OPERATOR },
	{ PHALANX__CTL_REQUEST__OP__SET_IMPORT, PX_ROLE_OPERATOR },
	{ PHALANX__CTL_REQUEST__OP__ALERT_RESET, PX_ROLE_OPERATOR },
	{ PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN, PX_ROLE_OPERATOR },
	{ PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN, PX_ROLE_OPERATOR },
	{ PHALANX__CTL_REQUEST__OP__SET_CREATE, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__SET_DESTROY, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__LIMIT_SET, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__RULE_ADD, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__RULE_DEL, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__SERVICE_ADD, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__SERVICE_DEL, PX_ROLE_ADMIN },
	/* attack protection (issue 12); SHOW is a viewer's: store/ctl.c */
	{ PHALANX__CTL_REQUEST__OP__PROTECT, PX_ROLE_ADMIN },
	/* ALERT_DEFINE without a definition only lists them: store/ctl.c
	 * lets a viewer do that. */
	{ PHALANX__CTL_REQUEST__OP__ALERT_DEFINE, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__ADMIN_ADD, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__ADMIN_DEL, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__ADMIN_LIST, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__STORE_STATUS, PX_ROLE_VIEWER },
	{ PHALANX__CTL_REQUEST__OP__STORE_TRANSFER, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__STORE_ADD, PX_ROLE_ADMIN },
	{ PHALANX__CTL_REQUEST__OP__STORE_REMOVE, PX_ROLE_ADMIN },
};

px_role_t px_ctl_min_role(Phalanx__CtlRequest__Op op)
{
	size_t i;

	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (perms[i].op == op)
			return perms[i].role;
	return PX_ROLE_ADMIN;
}

static void dbkey(char *out, size_t len, const char *name, bool member)
{
	snprintf(out, len, "%c:%s", member ? 'm' : 'a', name);
}

static int load(px_auth_t *a)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(a->env, NULL, MDB_RDONLY, &txn))) < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		char val[128], *sp;
		px_ident_t id;
		px_role_t r;

		memset(&id, 0, sizeof(id));
		/* Skip what this version could not have written. */
		if (k.mv_size < 3 || k.mv_size > PX_IDENT_NAME_MAX + 2 ||
		    d.mv_size >= sizeof(val) || a->n >= PX_IDENTS_MAX)
			continue;
		memcpy(id.name, (char *)k.mv_data + 2, k.mv_size - 2);
		memcpy(val, d.mv_data, d.mv_size);
		val[d.mv_size] = '\0';
		sp = strchr(val, ' ');
		if (!sp || !px_key_valid(sp + 1))
			continue;
		*sp = '\0';
		if (strcmp(val, "member") == 0)
			r = PX_ROLE_MEMBER;
		else if (px_role_parse(val, &r) < 0)
			continue;
		if ((((char *)k.mv_data)[0] == 'm') != (r == PX_ROLE_MEMBER))
			continue;
		id.role = r;
		memcpy(id.key, sp + 1, PX_KEY_Z85_LEN + 1);
		a->v[a->n++] = id;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

int px_auth_open(px_auth_t **out, px_db_t *db, const char *admin_key)
{
	px_auth_t *a = xcalloc(1, sizeof(*a));
	int rc;

	a->db = db;
	a->env = px_db_env(db);
	a->v = xcalloc(PX_IDENTS_MAX, sizeof(*a->v));
	if ((rc = px_db_named(db, "keys", &a->dbi)) < 0 || (rc = load(a)) < 0)
		goto fail;
	if (admin_key && !px_auth_find(a, admin_key)) {
		rc = px_auth_put(a, "admin", admin_key, PX_ROLE_ADMIN);
		if (rc < 0)
			goto fail;
		px_log(PX_LOG_INFO, "keys: administrator \"admin\" (role admin) "
		       "enrolled from --admin-key");
	}
	*out = a;
	return 0;
fail:
	px_auth_close(a);
	return rc;
}

void px_auth_close(px_auth_t *a)
{
	if (!a)
		return;
	free(a->v);
	free(a);
}

const px_ident_t *px_auth_find(const px_auth_t *a, const char *key)
{
	size_t i;

	if (!key || !key[0])
		return NULL;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, key) == 0)
			return &a->v[i];
	return NULL;
}

const px_ident_t *px_auth_find_name(const px_auth_t *a, const char *name,
				    bool member)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if ((a->v[i].role == PX_ROLE_MEMBER) == member &&
		    strcmp(a->v[i].name, name) == 0)
			return &a->v[i];
	return NULL;
}

const px_ident_t *px_auth_list(const px_auth_t *a, size_t *n)
{
	*n = a->n;
	return a->v;
}

int px_auth_put(px_auth_t *a, const char *name, const char *key,
		px_role_t role)
{
	bool member = role == PX_ROLE_MEMBER;
	const px_ident_t *holder = px_auth_find(a, key);
	px_ident_t *slot = (px_ident_t *)px_auth_find_name(a, name, member);
	char k[PX_IDENT_NAME_MAX + 3], val[128];
	px_dbfit_t w;
	MDB_txn *txn;
	MDB_val mk, md;
	int rc;

	if (!name[0] || strlen(name) > PX_IDENT_NAME_MAX ||
	    strpbrk(name, " \t\r\n") || !px_key_valid(key) ||
	    role == PX_ROLE_NONE)
		return PX_EBADREQ;
	if (holder && holder != slot)
		return PX_EEXIST;
	if (!slot && a->n >= PX_IDENTS_MAX)
		return PX_ETOOBIG;
	dbkey(k, sizeof(k), name, member);
	snprintf(val, sizeof(val), "%s %s", px_role_name(role), key);
	memset(&w, 0, sizeof(w));
	w.keys = 1;
	w.key_max = strlen(k);
	w.val_max = strlen(val);
	w.trees = 1;
	if ((rc = px_db_fits(a->db, a->dbi, &w, 0, "key")) < 0)
		return rc;
	if ((rc = px_db_error(mdb_txn_begin(a->env, NULL, 0, &txn))) < 0)
		return rc;
	mk.mv_data = k;
	mk.mv_size = strlen(k);
	md.mv_data = val;
	md.mv_size = strlen(val);
	if ((rc = px_db_error(mdb_put(txn, a->dbi, &mk, &md, 0))) < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	if ((rc = px_db_error(px_db_txn_commit(a->db, txn))) < 0)
		return rc;
	if (!slot)
		slot = &a->v[a->n++];
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	memcpy(slot->key, key, PX_KEY_Z85_LEN + 1);
	slot->role = role;
	return 0;
}

int px_auth_del(px_auth_t *a, const char *name, bool member)
{
	const px_ident_t *id = px_auth_find_name(a, name, member);
	char k[PX_IDENT_NAME_MAX + 3];
	MDB_txn *txn;
	MDB_val mk;
	int rc;

	if (!id)
		return PX_ENOMEMBER;
	dbkey(k, sizeof(k), name, member);
	if ((rc = px_db_error(mdb_txn_begin(a->env, NULL, 0, &txn))) < 0)
		return rc;
	mk.mv_data = k;
	mk.mv_size = strlen(k);
	rc = mdb_del(txn, a->dbi, &mk, NULL);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc == MDB_NOTFOUND ? PX_ENOMEMBER : px_db_error(rc);
	}
	if ((rc = px_db_error(px_db_txn_commit(a->db, txn))) < 0)
		return rc;
	a->v[id - a->v] = a->v[--a->n];
	return 0;
}

void *px_auth_zap_bind(void *zctx)
{
	void *s = zmq_socket(zctx, ZMQ_REP);
	int zero = 0;

	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_bind(s, ZAP_ENDPOINT) < 0) {
		px_log(PX_LOG_ERR, "cannot bind the ZAP handler on %s: %s",
		       ZAP_ENDPOINT, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

/* ZAP (RFC 27): the request is version, request id, domain, address,
 * routing id, mechanism, then the mechanism's credentials (CURVE: the
 * client's 32-byte public key).  The reply is version, request id,
 * status code, status text, user id, metadata. */
#define ZAP_FRAMES 7

static void zap_one(px_auth_t *a, void *zap)
{
	zmq_msg_t f[ZAP_FRAMES];
	char domain[64] = "", addr[64] = "", key[PX_KEY_Z85_LEN + 1] = "";
	const char *code = "400", *text = "unknown key", *user = "";
	const px_ident_t *id = NULL;
	size_t n = 0, i;
	int more = 1;

	/* Take every frame of the request, however many a peer's libzmq
	 * sends; only a well-formed CURVE request can be admitted. */
	while (more) {
		zmq_msg_t extra, *m = n < ZAP_FRAMES ? &f[n] : &extra;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, zap, n ? 0 : ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(m);
			if (n == 0)
				return;
			break;
		}
		more = zmq_msg_more(m);
		if (m == &extra)
			zmq_msg_close(m);
		else
			n++;
	}
	/* A REP socket must answer even a malformed request (then it
	 * refuses): otherwise it would wait for the reply forever. */
	if (n == ZAP_FRAMES && zmq_msg_size(&f[5]) == 5 &&
	    memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
	    zmq_msg_size(&f[6]) == 32) {
		snprintf(domain, sizeof(domain), "%.*s",
			 (int)zmq_msg_size(&f[2]), (char *)zmq_msg_data(&f[2]));
		snprintf(addr, sizeof(addr), "%.*s",
			 (int)zmq_msg_size(&f[3]), (char *)zmq_msg_data(&f[3]));
		zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
		id = px_auth_find(a, key);
	} else
		text = "not a CURVE handshake";
	/* A member key speaks on sync and changes only, an administrator's
	 * on ctl only. */
	if (id && (id->role == PX_ROLE_MEMBER ?
		   strcmp(domain, PX_ZAP_SYNC) == 0 ||
		   strcmp(domain, PX_ZAP_PUB) == 0 :
		   strcmp(domain, PX_ZAP_CTL) == 0)) {
		code = "200";
		text = "OK";
		user = id->key;
	} else if (id)
		text = "key not allowed on this socket";
	if (!user[0])
		px_refused(addr[0] ? addr : "?", "handshake on %s: %s%s%s",
			   domain[0] ? domain : "?", text,
			   key[0] ? ", key " : "", key);
	else
		px_log(PX_LOG_DEBUG, "%s: %s \"%s\" (%s) admitted from %s",
		       domain, id->role == PX_ROLE_MEMBER ? "member" :
		       "administrator", id->name, px_role_name(id->role), addr);
	if (zmq_send(zap, "1.0", 3, ZMQ_SNDMORE) < 0 ||
	    zmq_send(zap, n > 1 ? zmq_msg_data(&f[1]) : "",
		     n > 1 ? zmq_msg_size(&f[1]) : 0, ZMQ_SNDMORE) < 0 ||
	    zmq_send(zap, code, 3, ZMQ_SNDMORE) < 0 ||
	    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE) < 0 ||
	    zmq_send(zap, user, strlen(user), ZMQ_SNDMORE) < 0 ||
	    zmq_send(zap, "", 0, 0) < 0)
		px_log(PX_LOG_ERR, "ZAP reply: %s", zmq_strerror(errno));
	for (i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
}

void px_auth_zap(px_auth_t *a, void *zap)
{
	int events = 0;
	size_t sz = sizeof(events);

	/* Bounded: the handshakes of one turn, then the loop's other work. */
	for (int i = 0; i < 256; i++) {
		if (zmq_getsockopt(zap, ZMQ_EVENTS, &events, &sz) < 0 ||
		    !(events & ZMQ_POLLIN))
			return;
		zap_one(a, zap);
	}
}

