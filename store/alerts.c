/* alerts.c - the store's alerts: history, active set, definitions,
 * counters (see alerts.h).  All of it is LMDB I/O plus the decision of
 * px_alert_admit (lib/alert.c), which is unit-tested. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alert.h"
#include "alerts.h"
#include "replicate.h"
#include "px.h"
#include "ratelog.h"

/* Distinct members the counters keep (a hostile peer cannot grow them
 * past this; alerts of further members are still kept in the history). */
#define MEMBERS_MAX 256
#define ID_MAX 127
#define TEXT_MAX 1024
#define KEY_MAX 511 /* LMDB's default maximum key size */
#define NTYPES_MAX 64
/* Alert records (history, its index, active alerts) may use at most
 * 1/BUDGET_FRAC of the map's bytes: with LMDB's half-full pages at worst
 * that is a quarter of the map.  And an alert write is refused while it
 * would leave less than 1/RESERVE_FRAC of the map free: policy writes
 * keep that headroom whatever the members send. */
#define BUDGET_FRAC 8
#define RESERVE_FRAC 4
/* Active alerts beyond this go, oldest first: `alerts list --active`
 * reads them all and sorts them, so they must stay a page or so. */
#define ACTIVE_MAX 10000

enum { DISP_RECORD = 0, DISP_ABSORB = 1, DISP_DROP = 2 };

static const char *const whats[] = {
	"exceeded", "recovered", "info", "absorbed", "dropped",
};
#define NWHATS 5
#define WHAT_ABSORBED 3
#define WHAT_DROPPED 4

struct mstat {
	char member[PX_MEMBER_ID_MAX + 1];
	uint64_t events_lost, suppressed;
	uint64_t *counts;   /* [type index][what] */
};

struct def {
	bool enabled, manual;
};

struct px_alerts {
	px_db_t *db;
	MDB_env *env;
	MDB_dbi dbi;
	size_t max, budget, active_max;
	/* bytes: keys and values of the history, its index and the active
	 * alerts, as counted against budget */
	uint64_t next_seq, nhist, nactive, bytes;
	const char *const *types;
	size_t ntypes;
	struct def defs[NTYPES_MAX];
	struct mstat *m;
	size_t nm;
	const char *disabled[NTYPES_MAX];
};

static int type_index(const px_alertdb_t *a, const char *t)
{
	size_t i;

	for (i = 0; i < a->ntypes; i++)
		if (strcmp(a->types[i], t) == 0)
			return (int)i;
	return -1;
}

/* ---- keys ---- */

static MDB_val seq_key(uint8_t k[9], uint64_t seq)
{
	uint64_t be = htobe64(seq);

	k[0] = 's';
	memcpy(k + 1, &be, 8);
	return (MDB_val){ 9, k };
}

static MDB_val str_key(uint8_t *k, char prefix, const char *s)
{
	size_t n = strlen(s);

	k[0] = (uint8_t)prefix;
	memcpy(k + 1, s, n);
	return (MDB_val){ n + 1, k };
}

/* prefix a NUL b NUL c (c may hold bytes: clen). */
static MDB_val key3(uint8_t *k, char prefix, const char *a, const char *b,
		    const void *c, size_t clen)
{
	size_t na = strlen(a), nb = strlen(b), o = 0;

	k[o++] = (uint8_t)prefix;
	memcpy(k + o, a, na + 1);
	o += na + 1;
	memcpy(k + o, b, nb + 1);
	o += nb + 1;
	if (clen)
		memcpy(k + o, c, clen);
	return (MDB_val){ o + clen, k };
}

static MDB_val active_key(uint8_t *k, const Phalanx__Alert *al)
{
	return key3(k, 'a', al->member, al->type, al->source.data,
		    al->source.len);
}

static int put_u64(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, uint64_t n)
{
	MDB_val v = { sizeof(n), &n };

	return mdb_put(txn, dbi, k, &v, 0);
}

/* Puts al under k; adds the record's bytes to *bytes. */
static int put_alert(MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
		     const Phalanx__Alert *al, int disp, uint64_t *bytes)
{
	size_t n = phalanx__alert__get_packed_size(al);
	uint8_t *buf = xmalloc(n + 1);
	MDB_val v = { n + 1, buf };
	int rc;

	buf[0] = (uint8_t)disp;
	phalanx__alert__pack(al, buf + 1);
	rc = mdb_put(txn, dbi, k, &v, 0);
	free(buf);
	if (rc == 0)
		*bytes += k->mv_size + n + 1;
	return rc;
}

/* A history value: disposition, then the alert (NULL if undecodable). */
static Phalanx__Alert *history_alert(const MDB_val *v, int *disp)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size < 1)
		return NULL;
	*disp = p[0];
	return phalanx__alert__unpack(NULL, v->mv_size - 1, p + 1);
}

/* ---- in-memory state: definitions, counters ---- */

static struct mstat *mstat_get(px_alertdb_t *a, const char *member)
{
	size_t i;

	for (i = 0; i < a->nm; i++)
		if (strcmp(a->m[i].member, member) == 0)
			return &a->m[i];
	if (a->nm == MEMBERS_MAX)
		return NULL;
	a->m = xrealloc(a->m, (a->nm + 1) * sizeof(*a->m));
	memset(&a->m[a->nm], 0, sizeof(*a->m));
	snprintf(a->m[a->nm].member, sizeof(a->m[a->nm].member), "%s", member);
	a->m[a->nm].counts = xcalloc(a->ntypes * NWHATS, sizeof(uint64_t));
	return &a->m[a->nm++];
}

static void state_free(px_alertdb_t *a)
{
	size_t i;

	for (i = 0; i < a->nm; i++)
		free(a->m[i].counts);
	free(a->m);
	a->m = NULL;
	a->nm = 0;
}

/* Read everything the memory keeps from the database. */
static int load(px_alertdb_t *a)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t i;
	int rc;

	state_free(a);
	for (i = 0; i < a->ntypes; i++)
		a->defs[i] = (struct def){ true, false };
	a->next_seq = 1;
	a->nhist = a->nactive = a->bytes = 0;
	if ((rc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, &txn)) != 0)
		return px_db_error(rc);
	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *p = (const char *)k.mv_data + 1;
		size_t pl = k.mv_size - 1;
		char s1[PX_MEMBER_ID_MAX + 1], s2[PX_ALERT_TYPE_MAX], s3[16];
		struct mstat *ms;
		int t, w;

		if (k.mv_size < 1)
			continue;
		switch (((const char *)k.mv_data)[0]) {
		case 's':
			if (k.mv_size == 9) {
				uint64_t be;

				memcpy(&be, p, 8);
				a->nhist++;
				a->bytes += k.mv_size + v.mv_size;
				if (be64toh(be) >= a->next_seq)
					a->next_seq = be64toh(be) + 1;
			}
			break;
		case 'a':
			a->nactive++;
			a->bytes += k.mv_size + v.mv_size;
			break;
		case 'i':
			a->bytes += k.mv_size + v.mv_size;
			break;
		case 'd': {
			Phalanx__AlertDef *d = phalanx__alert_def__unpack(
				NULL, v.mv_size, v.mv_data);

			if (d && (t = type_index(a, d->type)) >= 0)
				a->defs[t] = (struct def){ d->enabled, d->manual };
			if (d)
				phalanx__alert_def__free_unpacked(d, NULL);
			break;
		}
		case 'c': {
			/* member NUL type NUL what */
			const char *e1 = memchr(p, 0, pl), *e2;

			if (!e1 || (size_t)(e1 - p) >= sizeof(s1))
				break;
			e2 = memchr(e1 + 1, 0, pl - (size_t)(e1 + 1 - p));
			if (!e2 || (size_t)(e2 - e1 - 1) >= sizeof(s2) ||
			    (size_t)(p + pl - e2 - 1) >= sizeof(s3))
				break;
			memcpy(s1, p, (size_t)(e1 - p) + 1);
			memcpy(s2, e1 + 1, (size_t)(e2 - e1));
			memcpy(s3, e2 + 1, (size_t)(p + pl - e2 - 1));
			s3[p + pl - e2 - 1] = '\0';
			t = type_index(a, s2);
			for (w = 0; w < NWHATS; w++)
				if (strcmp(whats[w], s3) == 0)
					break;
			if (t < 0 || w == NWHATS || !(ms = mstat_get(a, s1)))
				break;
			if (v.mv_size == 8)
				memcpy(&ms->counts[t * NWHATS + w], v.mv_data, 8);
			break;
		}
		case 'l':
		case 'u':
			if (pl >= sizeof(s1) || v.mv_size != 8)
				break;
			memcpy(s1, p, pl);
			s1[pl] = '\0';
			if (!(ms = mstat_get(a, s1)))
				break;
			memcpy(((const char *)k.mv_data)[0] == 'l' ?
			       &ms->events_lost : &ms->suppressed, v.mv_data, 8);
			break;
		}
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

int px_alerts_open(px_alertdb_t **out, px_db_t *db, size_t max)
{
	px_alertdb_t *a = xcalloc(1, sizeof(*a));
	int rc;

	a->db = db;
	a->env = px_db_env(db);
	a->max = max ? max : PX_ALERTS_HISTORY;
	a->budget = px_db_map_size(db) / BUDGET_FRAC;
	a->active_max = ACTIVE_MAX;
	a->types = px_alert_types(&a->ntypes);
	if (a->ntypes > NTYPES_MAX)
		a->ntypes = NTYPES_MAX;
	if ((rc = px_db_named(db, "alerts", &a->dbi)) < 0 || (rc = load(a)) < 0)
		goto fail;
	*out = a;
	px_log(PX_LOG_INFO, "alerts: %" PRIu64 " in the history (newest %"
	       PRIu64 ", at most %zu kept), %" PRIu64 " active (at most %zu), "
	       "%" PRIu64 " of %zu bytes", a->nhist, a->next_seq - 1, a->max,
	       a->nactive, a->active_max, a->bytes, a->budget);
	return 0;
fail:
	state_free(a);
	free(a);
	return rc;
}

void px_alerts_close(px_alertdb_t *a)
{
	if (!a)
		return;
	state_free(a);
	free(a);
}

uint64_t px_alerts_seq(const px_alertdb_t *a)
{
	return a->next_seq - 1;
}

uint64_t px_alerts_active(const px_alertdb_t *a)
{
	return a->nactive;
}

/* Count one alert of (member, type) as what: memory and database. */
static int count(px_alertdb_t *a, MDB_txn *txn, const char *member, int t,
		 int w)
{
	uint8_t kb[KEY_MAX];
	struct mstat *ms = mstat_get(a, member);
	MDB_val k;

	if (!ms)
		return 0;
	ms->counts[t * NWHATS + w]++;
	k = key3(kb, 'c', member, a->types[t], whats[w], strlen(whats[w]));
	return put_u64(txn, a->dbi, &k, ms->counts[t * NWHATS + w]);
}

static int member_stats(px_alertdb_t *a, MDB_txn *txn, const Phalanx__Alert *al)
{
	uint8_t kb[KEY_MAX];
	struct mstat *ms = mstat_get(a, al->member);
	MDB_val k;
	int rc = 0;

	if (!ms)
		return 0;
	if (al->suppressed) {
		ms->suppressed += al->suppressed;
		k = str_key(kb, 'u', al->member);
		rc = put_u64(txn, a->dbi, &k, ms->suppressed);
	}
	if (rc == 0 && strcmp(al->type, "events-lost") == 0) {
		ms->events_lost = al->count;
		k = str_key(kb, 'l', al->member);
		rc = put_u64(txn, a->dbi, &k, ms->events_lost);
	}
	return rc;
}

/* Append al to the history as seq with disposition disp. */
static int history_put(px_alertdb_t *a, MDB_txn *txn, Phalanx__Alert *al,
		       int disp)
{
	uint8_t sk[9], ik[ID_MAX + 2];
	uint64_t be;
	MDB_val k, v;
	int rc;

	al->seq = a->next_seq;
	al->active = false;
	k = seq_key(sk, al->seq);
	if ((rc = put_alert(txn, a->dbi, &k, al, disp, &a->bytes)) != 0)
		return rc;
	k = str_key(ik, 'i', al->id);
	be = htobe64(al->seq);
	v = (MDB_val){ 8, &be };
	if ((rc = mdb_put(txn, a->dbi, &k, &v, 0)) != 0)
		return rc;
	a->bytes += k.mv_size + v.mv_size;
	a->next_seq++;
	a->nhist++;
	return 0;
}

/* What a prune removed, for the log. */
struct pruned {
	uint64_t hist, active;
};

/* Delete the active alert of al's key if al is it (same seq). */
static int active_drop_if(px_alertdb_t *a, MDB_txn *txn,
			  const Phalanx__Alert *al, struct pruned *p)
{
	uint8_t ak[KEY_MAX];
	MDB_val k, v;
	Phalanx__Alert *cur;
	size_t size;
	bool same;
	int rc;

	if (strcmp(al->state, "exceeded") != 0)
		return 0;
	k = active_key(ak, al);
	rc = mdb_get(txn, a->dbi, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	cur = history_alert(&v, &(int){ 0 });
	same = cur && cur->seq == al->seq;
	size = k.mv_size + v.mv_size;
	if (cur)
		phalanx__alert__free_unpacked(cur, NULL);
	if (!same)
		return 0;
	if ((rc = mdb_del(txn, a->dbi, &k, NULL)) != 0)
		return rc;
	a->nactive--;
	a->bytes -= size;
	p->active++;
	return 0;
}

/* The first history record at or after seq: its key copied to sk (k
 * points there), its value in v until the next write.  0 or
 * MDB_NOTFOUND past the last, or an LMDB error. */
static int history_from(px_alertdb_t *a, MDB_txn *txn, uint64_t seq,
			uint8_t sk[9], MDB_val *k, MDB_val *v)
{
	MDB_cursor *cur;
	int rc;

	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) != 0)
		return rc;
	*k = seq_key(sk, seq);
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == 0 && (k->mv_size != 9 || ((char *)k->mv_data)[0] != 's'))
		rc = MDB_NOTFOUND;
	if (rc == 0) {
		memcpy(sk, k->mv_data, 9);
		k->mv_data = sk;
	}
	mdb_cursor_close(cur);
	return rc;
}

/* Drop the oldest history records past the bounds (count and bytes),
 * with their ids and the active alerts they raised; then, past the cap
 * of active alerts, the oldest active alerts until a tenth under it (so
 * that the walk is not made again at the next alert).  Keys are searched
 * again after each delete rather than stepped to. */
static int prune(px_alertdb_t *a, MDB_txn *txn, struct pruned *p)
{
	uint64_t from = 0;
	bool over;
	int rc = 0;

	while (a->nhist > a->max || a->bytes > a->budget) {
		uint8_t sk[9], ik[ID_MAX + 2];
		MDB_val k, v, ikv, iv;
		Phalanx__Alert *al;
		size_t size;
		int disp;

		if ((rc = history_from(a, txn, 0, sk, &k, &v)) != 0)
			break;
		size = k.mv_size + v.mv_size;
		al = history_alert(&v, &disp);
		if (al && strlen(al->id) <= ID_MAX) {
			ikv = str_key(ik, 'i', al->id);
			rc = mdb_get(txn, a->dbi, &ikv, &iv);
			if (rc == 0) {
				size += ikv.mv_size + iv.mv_size;
				rc = mdb_del(txn, a->dbi, &ikv, NULL);
			} else if (rc == MDB_NOTFOUND) {
				rc = 0;
			}
		}
		if (rc == 0 && al && disp == DISP_RECORD)
			rc = active_drop_if(a, txn, al, p);
		if (al)
			phalanx__alert__free_unpacked(al, NULL);
		if (rc == 0)
			rc = mdb_del(txn, a->dbi, &k, NULL);
		if (rc != 0)
			return rc;
		a->nhist--;
		a->bytes -= size;
		p->hist++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	rc = 0;
	over = a->nactive > a->active_max;
	while (over && a->nactive > a->active_max - a->active_max / 10) {
		uint8_t sk[9];
		MDB_val k, v;
		Phalanx__Alert *al;
		uint64_t be;
		int disp;

		if ((rc = history_from(a, txn, from, sk, &k, &v)) != 0)
			break;
		memcpy(&be, sk + 1, 8);
		from = be64toh(be) + 1;
		al = history_alert(&v, &disp);
		if (al && disp == DISP_RECORD)
			rc = active_drop_if(a, txn, al, p);
		if (al)
			phalanx__alert__free_unpacked(al, NULL);
		if (rc != 0)
			return rc;
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* What is wrong with an alert from a member, or NULL. */
static const char *invalid(const px_alertdb_t *a, const Phalanx__Alert *al)
{
	px_entry_t e;

	if (!al->id[0] || strlen(al->id) > ID_MAX)
		return "bad id";
	if (!px_member_id_valid(al->member))
		return "bad member";
	if (type_index(a, al->type) < 0)
		return "unknown type";
	if (px_alert_state_parse(al->state) < 0)
		return "unknown state";
	if (al->source.len &&
	    px_entry_decode(al->source.data, al->source.len, &e) < 0)
		return "bad source";
	if (strlen(al->text) > TEXT_MAX)
		return "text too long";
	return NULL;
}

/* One new alert of a member: admit, record. */
static int admit(px_alertdb_t *a, MDB_txn *txn, Phalanx__Alert *al)
{
	uint8_t ak[KEY_MAX];
	int t = type_index(a, al->type), act, disp, rc;
	px_alert_state_t state = (px_alert_state_t)px_alert_state_parse(al->state);
	MDB_val k = active_key(ak, al), v;
	size_t old;
	bool active;

	if (k.mv_size > KEY_MAX)
		return EINVAL;
	rc = mdb_get(txn, a->dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	active = rc == 0;
	old = active ? k.mv_size + v.mv_size : 0;
	switch (px_alert_admit(a->defs[t].enabled, a->defs[t].manual, active,
			       state, &act)) {
	case PX_ADMIT_ABSORB:
		disp = DISP_ABSORB;
		break;
	case PX_ADMIT_DROP:
		disp = DISP_DROP;
		break;
	default:
		disp = DISP_RECORD;
	}
	if ((rc = history_put(a, txn, al, disp)) != 0)
		return rc;
	if (disp == DISP_RECORD && act == 1) {
		al->active = true;
		rc = put_alert(txn, a->dbi, &k, al, 0, &a->bytes);
		if (rc == 0 && !active)
			a->nactive++;
		if (rc == 0)
			a->bytes -= old;
	} else if (disp == DISP_RECORD && act == -1 && active) {
		rc = mdb_del(txn, a->dbi, &k, NULL);
		if (rc == 0) {
			a->nactive--;
			a->bytes -= old;
		}
	}
	if (rc == 0)
		rc = count(a, txn, al->member, t, disp == DISP_ABSORB ?
			   WHAT_ABSORBED : disp == DISP_DROP ? WHAT_DROPPED :
			   (int)state);
	if (rc == 0)
		rc = member_stats(a, txn, al);
	return rc;
}

/* Whether batch b fits the map with the policy's reserve left free: its
 * history records, their index and active entries (the counters are
 * updated in place). */
static int batch_fits(px_alertdb_t *a, const Phalanx__AlertBatch *b)
{
	px_dbfit_t w = { 0 };
	size_t i;

	w.trees = 1;
	w.keys = 3 * b->n_alerts + 8;
	for (i = 0; i < b->n_alerts; i++) {
		const Phalanx__Alert *al = b->alerts[i];
		size_t kl = 4 + strlen(al->member) + strlen(al->type) +
			    al->source.len;

		if (kl < 2 + strlen(al->id))
			kl = 2 + strlen(al->id);
		if (kl > w.key_max)
			w.key_max = kl;
		/* history and active: counted as overflow pages, which
		 * over-counts small alerts but never big ones */
		w.big += 2 * (phalanx__alert__get_packed_size(al) + 1);
	}
	if (w.key_max > KEY_MAX)
		w.key_max = KEY_MAX;
	return px_db_fits(a->db, a->dbi, &w, RESERVE_FRAC, "alert batch");
}

/* The ids of b the member may forget once b is committed: every one
 * it can name (a malformed alert is refused for good, and acknowledged
 * so that it does not come back every second).  ids has b's room. */
static size_t ack_ids(const Phalanx__AlertBatch *b, char **ids)
{
	size_t i, n = 0;

	for (i = 0; i < b->n_alerts; i++)
		if (b->alerts[i]->id[0] && strlen(b->alerts[i]->id) <= ID_MAX)
			ids[n++] = b->alerts[i]->id;
	return n;
}

void px_store_alerts_ack(px_store_t *st, const px_rid_t *rid,
			 const Phalanx__AlertBatch *b)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__AlertAck ack = PHALANX__ALERT_ACK__INIT;
	char **ids = xcalloc(b->n_alerts ? b->n_alerts : 1, sizeof(*ids));
	int rc;

	ack.ids = ids;
	ack.n_ids = ack_ids(b, ids);
	px_store_stamp(st, &env);
	env.body_case = PHALANX__ENVELOPE__BODY_ALERT_ACK;
	env.alert_ack = &ack;
	rc = px_wire_send(st->sync, rid, &env);
	if (rc < 0)
		px_peer_warn(rid->peer, "alert ack lost (the member sends "
			     "again): %s", px_strerror(rc));
	free(ids);
}

int px_store_alerts_fit(px_store_t *st, const Phalanx__AlertBatch *b)
{
	return st->alerts ? batch_fits(st->alerts, b) : PX_EBADREQ;
}

static void log_pruned(const px_alertdb_t *a, const struct pruned *pr)
{
	if (pr->active)
		px_log(PX_LOG_INFO, "alerts: pruned %" PRIu64 " oldest history "
		       "records and %" PRIu64 " oldest active alerts (at most %zu "
		       "records, %zu bytes, %zu active)", pr->hist, pr->active,
		       a->max, a->budget, a->active_max);
	else if (pr->hist)
		px_log(PX_LOG_DEBUG, "alerts: pruned %" PRIu64 " oldest history "
		       "records (at most %zu records, %zu bytes)", pr->hist,
		       a->max, a->budget);
}

/* Admit every new alert of b (a resend is here already, a malformed one
 * is skipped: *why says which), prune, commit: 0, or the project's
 * error code with nothing kept. */
static int batch_commit(px_alertdb_t *a, const Phalanx__AlertBatch *b,
			const char **why)
{
	size_t i, nnew = 0, nbad = 0;
	struct pruned pr = { 0, 0 };
	MDB_txn *txn;
	int rc;

	if ((rc = batch_fits(a, b)) < 0)
		return rc;
	if ((rc = mdb_txn_begin(a->env, NULL, 0, &txn)) != 0)
		return px_db_error(rc);
	for (i = 0; i < b->n_alerts; i++) {
		Phalanx__Alert *al = b->alerts[i];
		uint8_t ik[ID_MAX + 2];
		MDB_val k, v;
		const char *w = invalid(a, al);

		if (w) {
			*why = w;
			nbad++;
			continue;
		}
		k = str_key(ik, 'i', al->id);
		rc = mdb_get(txn, a->dbi, &k, &v);
		if (rc == 0)
			continue; /* a resend: already here */
		if (rc != MDB_NOTFOUND || (rc = admit(a, txn, al)) != 0)
			goto fail;
		nnew++;
	}
	if ((rc = prune(a, txn, &pr)) != 0)
		goto fail;
	if ((rc = px_db_txn_commit(a->db, txn)) != 0)
		goto fail_commit;
	log_pruned(a, &pr);
	if (nnew)
		px_log(PX_LOG_DEBUG, "alerts: %zu new of %zu, newest %" PRIu64,
		       nnew, b->n_alerts, a->next_seq - 1);
	return nbad ? 1 : 0;
fail:
	mdb_txn_abort(txn);
fail_commit:
	/* The memory may have run ahead of the database: read it again. */
	load(a);
	return px_db_error(rc);
}

void px_store_alerts_in(px_store_t *st, const px_rid_t *rid,
			const Phalanx__AlertBatch *b)
{
	const char *why = NULL;
	int rc;

	if (!st->alerts || b->n_alerts == 0)
		return;
	if (st->raft) {
		px_store_replicate_alerts(st, rid, b);
		return;
	}
	if ((rc = batch_commit(st->alerts, b, &why)) < 0) {
		/* No ack: the member keeps it and sends it again at its
		 * own rate (one line a window). */
		px_peer_warn(rid->peer, "alerts: a batch not stored (the "
			     "member keeps it and sends it again): %s",
			     px_strerror(rc));
		return;
	}
	if (rc == 1)
		px_refused(rid->peer, "alerts: malformed alerts in a batch (%s)",
			   why);
	px_store_alerts_ack(st, rid, b);
}

int px_store_alerts_apply(px_store_t *st, const Phalanx__AlertBatch *b)
{
	const char *why = NULL;
	int rc;

	if (!st->alerts)
		return 0;
	rc = batch_commit(st->alerts, b, &why);
	if (rc == 1)
		px_log(PX_LOG_WARN, "alerts: malformed alerts in a committed "
		       "batch skipped (%s)", why);
	return rc < 0 ? rc : 0;
}

/* al (member, state, time, text set) recorded unless it is so already:
 * "member-down" exceeded when the member went silent, recovered when it
 * is heard again.  The active alert in the database is the dedup: a
 * second "down" while one is active, or a "recovered" with none active,
 * records nothing, across store restarts and leaders too.  0 recorded,
 * 1 nothing to record, or the project's error code. */
static int member_down_commit(px_alertdb_t *a, Phalanx__Alert *al)
{
	Phalanx__AlertBatch b = PHALANX__ALERT_BATCH__INIT;
	bool down = strcmp(al->state, "exceeded") == 0;
	char id[ID_MAX + 1];
	uint8_t ak[KEY_MAX + 1];
	struct pruned pr = { 0, 0 };
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	al->type = (char *)"member-down";
	/* "store:" keeps it apart from the members' "member:boot:seq" ids;
	 * the next sequence number makes it unique. */
	snprintf(id, sizeof(id), "store:%s:member-down:%" PRIu64, al->member,
		 a->next_seq);
	al->id = id;
	if (invalid(a, al))
		return PX_EBADREQ;
	b.alerts = &al;
	b.n_alerts = 1;
	if ((rc = batch_fits(a, &b)) < 0)
		return rc;
	if ((rc = px_db_error(mdb_txn_begin(a->env, NULL, 0, &txn))) < 0)
		return rc;
	k = active_key(ak, al);
	rc = mdb_get(txn, a->dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	if ((rc == 0) == down) {
		mdb_txn_abort(txn); /* already so: nothing to record */
		return 1;
	}
	if ((rc = admit(a, txn, al)) != 0 || (rc = prune(a, txn, &pr)) != 0)
		goto fail;
	if ((rc = px_db_txn_commit(a->db, txn)) != 0)
		goto fail_commit;
	log_pruned(a, &pr);
	px_log(PX_LOG_INFO, "alerts: member-down %s of member %s (seq %" PRIu64
	       ")", al->state, al->member, al->seq);
	return 0;
fail:
	mdb_txn_abort(txn);
fail_commit:
	load(a); /* the memory may have run ahead of the database */
	return px_db_error(rc);
}

int px_store_alerts_member_down(px_store_t *st, const char *member, bool down,
				const char *text)
{
	Phalanx__Alert al = PHALANX__ALERT__INIT;
	int rc;

	if (!st->alerts)
		return 0;
	al.member = (char *)member;
	al.type = (char *)"member-down";
	al.state = (char *)(down ? "exceeded" : "recovered");
	al.time_ms = px_now_ms();
	al.text = (char *)text;
	if (st->raft)
		return px_store_replicate_member_down(st, &al);
	rc = member_down_commit(st->alerts, &al);
	if (rc < 0)
		px_log(PX_LOG_ERR, "alerts: member-down %s of member %s not "
		       "stored: %s", al.state, member, px_strerror(rc));
	return rc < 0 ? rc : 0;
}

int px_store_alerts_member_down_apply(px_store_t *st, const Phalanx__Alert *in)
{
	Phalanx__Alert al = PHALANX__ALERT__INIT;
	int rc;

	if (!st->alerts)
		return 0;
	al.member = in->member;
	al.state = in->state;
	al.time_ms = in->time_ms;
	al.text = in->text;
	if (!al.member || !al.state || !al.text ||
	    (strcmp(al.state, "exceeded") != 0 &&
	     strcmp(al.state, "recovered") != 0))
		return PX_EBADREQ;
	rc = member_down_commit(st->alerts, &al);
	if (rc < 0)
		px_log(PX_LOG_ERR, "alerts: member-down %s of member %s not "
		       "stored: %s", al.state, al.member, px_strerror(rc));
	return rc < 0 ? rc : 0;
}

void px_store_alerts_heartbeat(px_store_t *st, Phalanx__StoreHeartbeat *hb)
{
	px_alertdb_t *a = st->alerts;
	size_t i;

	if (!a)
		return;
	hb->n_alerts_disabled = 0;
	for (i = 0; i < a->ntypes; i++)
		if (!a->defs[i].enabled)
			a->disabled[hb->n_alerts_disabled++] = a->types[i];
	hb->alerts_disabled = (char **)a->disabled;
}

void px_alerts_counts(const px_alertdb_t *a, px_alerts_count_cb cb,
		      px_alerts_member_cb mcb, void *arg)
{
	size_t i, t;
	int w;

	for (i = 0; i < a->nm; i++) {
		const struct mstat *ms = &a->m[i];

		for (t = 0; t < a->ntypes; t++)
			for (w = 0; w < NWHATS; w++)
				if (ms->counts[t * NWHATS + w])
					cb(ms->member, a->types[t], whats[w],
					   ms->counts[t * NWHATS + w], arg);
		mcb(ms->member, ms->events_lost, ms->suppressed, arg);
	}
}

/* ---- ctl: list, reset, define ---- */

struct reply_mem {
	Phalanx__Alert **v;
	size_t n, cap;
	Phalanx__AlertDef *defs;
	Phalanx__AlertDef **dp;
};

static void reply_push(struct reply_mem *m, Phalanx__Alert *al)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	m->v[m->n++] = al;
}

void px_store_alerts_reply_free(void *mem)
{
	struct reply_mem *m = mem;
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		phalanx__alert__free_unpacked(m->v[i], NULL);
	free(m->v);
	free(m->defs);
	free(m->dp);
	free(m);
}

static bool matches(const Phalanx__CtlRequest *req, const Phalanx__Alert *al)
{
	return al->seq > req->after_seq && al->time_ms >= req->since_ms &&
	       (!req->member[0] || strcmp(req->member, al->member) == 0) &&
	       (!req->type[0] || strcmp(req->type, al->type) == 0);
}

/* Whether history alert al is the active one of its key. */
static bool is_active(px_alertdb_t *a, MDB_txn *txn, const Phalanx__Alert *al)
{
	uint8_t ak[KEY_MAX];
	MDB_val k = active_key(ak, al), v;
	Phalanx__Alert *cur;
	bool yes;

	if (strcmp(al->state, "exceeded") != 0 || k.mv_size > KEY_MAX ||
	    mdb_get(txn, a->dbi, &k, &v) != 0)
		return false;
	cur = history_alert(&v, &(int){ 0 });
	yes = cur && cur->seq == al->seq;
	if (cur)
		phalanx__alert__free_unpacked(cur, NULL);
	return yes;
}

static int seq_cmp(const void *x, const void *y)
{
	const Phalanx__Alert *a = *(Phalanx__Alert *const *)x;
	const Phalanx__Alert *b = *(Phalanx__Alert *const *)y;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int list(px_alertdb_t *a, const Phalanx__CtlRequest *req,
		Phalanx__CtlReply *rep, struct reply_mem *m)
{
	size_t max = req->max && req->max < PX_ALERTS_PAGE ? req->max :
		     PX_ALERTS_PAGE;
	char prefix = req->active_only ? 'a' : 's';
	uint8_t sk[9];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc, disp;

	if (req->after_seq == UINT64_MAX)
		return 0;
	if ((rc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, &txn)) != 0)
		return px_db_error(rc);
	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	if (prefix == 's')
		k = seq_key(sk, req->after_seq + 1);
	else
		k = (MDB_val){ 1, "a" };
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Phalanx__Alert *al;

		if (((char *)k.mv_data)[0] != prefix)
			break;
		if (v.mv_size < 1)
			continue;
		if (prefix == 'a') {
			al = phalanx__alert__unpack(NULL, v.mv_size - 1,
						    (uint8_t *)v.mv_data + 1);
			disp = DISP_RECORD;
		} else {
			al = history_alert(&v, &disp);
		}
		if (!al)
			continue;
		if (disp != DISP_RECORD || !matches(req, al)) {
			phalanx__alert__free_unpacked(al, NULL);
			continue;
		}
		/* The history is in sequence order: a page ends there; the
		 * active set is keyed otherwise, so take it all and sort. */
		if (prefix == 's' && m->n == max) {
			rep->alerts_more = true;
			phalanx__alert__free_unpacked(al, NULL);
			break;
		}
		al->active = prefix == 'a' || is_active(a, txn, al);
		reply_push(m, al);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	/* qsort's array may not be NULL, even for no elements. */
	if (prefix == 'a' && m->n) {
		qsort(m->v, m->n, sizeof(*m->v), seq_cmp);
		if (m->n > max) {
			while (m->n > max)
				phalanx__alert__free_unpacked(m->v[--m->n], NULL);
			rep->alerts_more = true;
		}
	}
	rep->alerts = m->v;
	rep->n_alerts = m->n;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

/* Delete the active alerts for which hit(alert, arg) is true; for each,
 * first call done(alert, arg) (may be NULL), which may fail.  *n counts
 * them.  An LMDB error or done's. */
static int active_delete(px_alertdb_t *a, MDB_txn *txn,
			 bool (*hit)(const Phalanx__Alert *, const void *),
			 int (*done)(px_alertdb_t *, MDB_txn *,
				     const Phalanx__Alert *),
			 const void *arg, uint64_t *n)
{
	uint8_t kb[KEY_MAX];
	MDB_cursor *cur;
	MDB_val k = { 1, "a" }, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;) {
		Phalanx__Alert *al;
		size_t size;
		bool yes;

		if (((char *)k.mv_data)[0] != 'a' || k.mv_size > KEY_MAX)
			break;
		al = v.mv_size < 1 ? NULL : phalanx__alert__unpack(NULL,
				v.mv_size - 1, (uint8_t *)v.mv_data + 1);
		yes = al && hit(al, arg);
		if (yes && done)
			rc = done(a, txn, al);
		if (al)
			phalanx__alert__free_unpacked(al, NULL);
		if (rc != 0)
			break;
		if (!yes) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		/* Deleted, then found again from its key: the cursor's
		 * position after a delete is not a step to rely on. */
		memcpy(kb, k.mv_data, k.mv_size);
		k.mv_data = kb;
		size = k.mv_size + v.mv_size;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		a->nactive--;
		a->bytes -= size;
		(*n)++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A history record of the store's own: a reset. */
static int record_reset(px_alertdb_t *a, MDB_txn *txn, const Phalanx__Alert *was)
{
	Phalanx__Alert r = PHALANX__ALERT__INIT;
	char id[64], text[300];
	int t = type_index(a, was->type), rc;

	snprintf(id, sizeof(id), "store:%" PRIu64, a->next_seq);
	snprintf(text, sizeof(text), "reset by an administrator: alert %.100s "
		 "(#%" PRIu64 ")", was->id, was->seq);
	r.id = id;
	r.member = was->member;
	r.time_ms = px_now_ms();
	r.type = was->type;
	r.state = "info";
	r.source = was->source;
	r.count = was->count;
	r.limit = was->limit;
	r.text = text;
	if ((rc = history_put(a, txn, &r, DISP_RECORD)) != 0)
		return rc;
	return t >= 0 ? count(a, txn, was->member, t, PX_ALERT_INFO) : 0;
}

struct reset_arg {
	const Phalanx__CtlRequest *req;
	bool by_seq;
	uint64_t seq;
};

static bool reset_hit(const Phalanx__Alert *al, const void *arg)
{
	const struct reset_arg *r = arg;

	if (r->req->all)
		return true;
	return r->by_seq ? al->seq == r->seq :
	       strcmp(al->id, r->req->alert_id) == 0;
}

/* ID is an alert's id, or its store sequence number (#N in lists). */
static int reset(px_alertdb_t *a, const Phalanx__CtlRequest *req,
		 Phalanx__CtlReply *rep, char *err, size_t errlen)
{
	struct reset_arg r = { req, false, 0 };
	struct pruned pr = { 0, 0 };
	MDB_txn *txn;
	uint64_t n = 0;
	int rc;

	if (!req->all && !req->alert_id[0]) {
		snprintf(err, errlen, "give an alert id or --all");
		return PX_EBADREQ;
	}
	r.by_seq = !req->all && px_parse_u64(req->alert_id[0] == '#' ?
					     req->alert_id + 1 : req->alert_id,
					     1, UINT64_MAX, &r.seq) == 0;
	if ((rc = mdb_txn_begin(a->env, NULL, 0, &txn)) != 0)
		goto fail;
	rc = active_delete(a, txn, reset_hit, record_reset, &r, &n);
	if (rc != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if (n == 0 && !req->all) {
		mdb_txn_abort(txn);
		snprintf(err, errlen, "no active alert %.100s (see alerts list "
			 "--active)", req->alert_id);
		return -ENOENT;
	}
	/* Each reset is a history record of its own: keep the bounds. */
	if ((rc = prune(a, txn, &pr)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = px_db_txn_commit(a->db, txn)) != 0)
		goto fail;
	rep->alerts_reset = n;
	px_log(PX_LOG_INFO, "alerts: %" PRIu64 " reset (%s)", n,
	       req->all ? "all" : req->alert_id);
	return 0;
fail:
	load(a);
	rc = px_db_error(rc);
	snprintf(err, errlen, "alerts reset: %s", px_strerror(rc));
	return rc;
}

static bool type_hit(const Phalanx__Alert *al, const void *arg)
{
	return strcmp(al->type, arg) == 0;
}

static int define(px_alertdb_t *a, const Phalanx__CtlRequest *req,
		  Phalanx__CtlReply *rep, struct reply_mem *m, char *err,
		  size_t errlen)
{
	const Phalanx__AlertDef *in = req->alert_def;
	size_t i;

	if (in && in->type[0]) {
		int t = type_index(a, in->type);
		struct def d;
		Phalanx__AlertDef out = PHALANX__ALERT_DEF__INIT;
		uint8_t kb[KEY_MAX], *buf;
		MDB_txn *txn = NULL;
		MDB_val k, v;
		int rc;

		if (t < 0) {
			char list[512];
			size_t o = 0;

			for (i = 0; i < a->ntypes && o < sizeof(list); i++)
				o += (size_t)snprintf(list + o, sizeof(list) - o,
						      "%s%s", i ? ", " : "",
						      a->types[i]);
			snprintf(err, errlen, "unknown alert type `%.40s' (want "
				 "%s)", in->type, list);
			return PX_EBADREQ;
		}
		d = a->defs[t];
		if (req->define_enabled)
			d.enabled = in->enabled;
		if (req->define_manual)
			d.manual = in->manual;
		out.type = (char *)a->types[t];
		out.enabled = d.enabled;
		out.manual = d.manual;
		v.mv_size = phalanx__alert_def__get_packed_size(&out);
		v.mv_data = buf = xmalloc(v.mv_size + 1);
		phalanx__alert_def__pack(&out, buf);
		k = str_key(kb, 'd', a->types[t]);
		rc = mdb_txn_begin(a->env, NULL, 0, &txn);
		if (rc == 0)
			rc = mdb_put(txn, a->dbi, &k, &v, 0);
		/* A disabled type's active alerts would never recover: the
		 * members stop raising it. */
		if (rc == 0 && !d.enabled && a->defs[t].enabled) {
			uint64_t n = 0;

			rc = active_delete(a, txn, type_hit, NULL, a->types[t],
					   &n);
		}
		if (rc == 0)
			rc = px_db_txn_commit(a->db, txn);
		else
			mdb_txn_abort(txn);
		free(buf);
		if (rc != 0) {
			load(a);
			rc = px_db_error(rc);
			snprintf(err, errlen, "alerts define: %s",
				 px_strerror(rc));
			return rc;
		}
		a->defs[t] = d;
		px_log(PX_LOG_INFO, "alerts: %s %s, %s reset", a->types[t],
		       d.enabled ? "enabled" : "disabled",
		       d.manual ? "manual" : "auto");
	}
	m->defs = xcalloc(a->ntypes, sizeof(*m->defs));
	m->dp = xcalloc(a->ntypes, sizeof(*m->dp));
	for (i = 0; i < a->ntypes; i++) {
		phalanx__alert_def__init(&m->defs[i]);
		m->defs[i].type = (char *)a->types[i];
		m->defs[i].enabled = a->defs[i].enabled;
		m->defs[i].manual = a->defs[i].manual;
		m->dp[i] = &m->defs[i];
	}
	rep->alert_defs = m->dp;
	rep->n_alert_defs = a->ntypes;
	return 0;
}

int px_store_alerts_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
			Phalanx__CtlReply *rep, char *err, size_t errlen,
			void **mem)
{
	px_alertdb_t *a = st->alerts;
	struct reply_mem *m = xcalloc(1, sizeof(*m));
	int rc;

	*mem = m;
	if (!a) {
		snprintf(err, errlen, "alerts are not available on this store");
		return -ENOTSUP;
	}
	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__ALERT_LIST:
		rc = list(a, req, rep, m);
		if (rc < 0)
			snprintf(err, errlen, "alerts list: %s", px_strerror(rc));
		break;
	case PHALANX__CTL_REQUEST__OP__ALERT_RESET:
		rc = reset(a, req, rep, err, errlen);
		break;
	case PHALANX__CTL_REQUEST__OP__ALERT_DEFINE:
		rc = define(a, req, rep, m, err, errlen);
		break;
	default:
		snprintf(err, errlen, "not an alerts request");
		rc = PX_EBADREQ;
	}
	rep->alert_seq = a->next_seq - 1;
	return rc;
}
