/* versions.c - what changed between two versions, composed from the
 * records the commits keep (store/db.c): one pass over the records in
 * between, each entry's first and last event deciding whether it was
 * there at either end.  O(k log k) for k recorded entries, never a copy
 * of a set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"
#include "versions.h"
#include "wire.h"

typedef struct {
	uint32_t set;      /* index in d->sets */
	uint64_t version;
	bool added;
	px_entry_t e;
} event_t;

typedef struct {
	px_vdiff_t *d;
	uint64_t lo, hi, next;  /* records (lo, hi]; the one expected */
	event_t *ev;
	size_t nev, cap;
	uint8_t *exist_first, *exist_last; /* per set: 0, CREATED, DESTROYED */
	int rc;
	char *err;
	size_t errlen;
} walk_t;

enum { CREATED = 1, DESTROYED = 2 };

static size_t vset_of(walk_t *w, const char *name)
{
	px_vdiff_t *d = w->d;
	size_t i;

	for (i = 0; i < d->nsets; i++)
		if (strcmp(d->sets[i].name, name) == 0)
			return i;
	d->sets = xrealloc(d->sets, (d->nsets + 1) * sizeof(*d->sets));
	w->exist_first = xrealloc(w->exist_first, d->nsets + 1);
	w->exist_last = xrealloc(w->exist_last, d->nsets + 1);
	memset(&d->sets[d->nsets], 0, sizeof(*d->sets));
	snprintf(d->sets[d->nsets].name, sizeof(d->sets[d->nsets].name), "%s",
		 name);
	px_entries_init(&d->sets[d->nsets].add);
	px_entries_init(&d->sets[d->nsets].del);
	w->exist_first[d->nsets] = w->exist_last[d->nsets] = 0;
	return d->nsets++;
}

static int events_add(walk_t *w, size_t set, uint64_t version, bool added,
		      const ProtobufCBinaryData *bins, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		event_t *ev;

		if (w->nev == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 1024;
			w->ev = xrealloc(w->ev, w->cap * sizeof(*w->ev));
		}
		ev = &w->ev[w->nev];
		if (px_entry_decode(bins[i].data, bins[i].len, &ev->e) < 0)
			return PX_EDBCORRUPT;
		ev->set = (uint32_t)set;
		ev->version = version;
		ev->added = added;
		w->nev++;
	}
	return 0;
}

static uint8_t *dup_bytes(const ProtobufCBinaryData *b, size_t *len)
{
	uint8_t *p = xmalloc(b->len ? b->len : 1);

	if (b->len)
		memcpy(p, b->data, b->len);
	*len = b->len;
	return p;
}

static int on_record(const Phalanx__VersionRecord *r, void *arg)
{
	walk_t *w = arg;
	px_vdiff_t *d = w->d;
	size_t i;
	int rc;

	if (r->version != w->next)
		return 1; /* a gap: the caller says which */
	w->next++;
	for (i = 0; i < r->n_sets; i++) {
		const Phalanx__SetDelta *sd = r->sets[i];
		size_t s;

		if (!px_setname_valid(sd->set))
			return PX_EDBCORRUPT;
		s = vset_of(w, sd->set);
		if (sd->created || sd->destroyed) {
			uint8_t k = sd->created ? CREATED : DESTROYED;

			if (!w->exist_first[s])
				w->exist_first[s] = k;
			w->exist_last[s] = k;
		}
		if ((rc = events_add(w, s, r->version, true, sd->added,
				     sd->n_added)) < 0 ||
		    (rc = events_add(w, s, r->version, false, sd->removed,
				     sd->n_removed)) < 0)
			return rc;
	}
	if (r->meta_changed) {
		if (!d->meta) {
			d->meta = true;
			d->meta_from = dup_bytes(&r->meta_before,
						 &d->meta_from_len);
		}
		free(d->meta_to);
		d->meta_to = dup_bytes(&r->meta_after, &d->meta_to_len);
	}
	return 0;
}

static int event_cmp(const void *a, const void *b)
{
	const event_t *x = a, *y = b;
	int c;

	if (x->set != y->set)
		return x->set < y->set ? -1 : 1;
	if ((c = px_entry_cmp(&x->e, &y->e)) != 0)
		return c;
	return x->version < y->version ? -1 : x->version > y->version;
}

static int oldest_cb(const Phalanx__VersionRecord *r, void *arg)
{
	*(uint64_t *)arg = r->version;
	return 1;
}

static void swap_ends(px_vdiff_t *d)
{
	size_t i, l;
	uint8_t *m;

	for (i = 0; i < d->nsets; i++) {
		px_vset_t *s = &d->sets[i];
		px_entries_t t = s->add;
		bool c = s->created;

		s->add = s->del;
		s->del = t;
		s->created = s->destroyed;
		s->destroyed = c;
	}
	m = d->meta_from;
	d->meta_from = d->meta_to;
	d->meta_to = m;
	l = d->meta_from_len;
	d->meta_from_len = d->meta_to_len;
	d->meta_to_len = l;
}

int px_versions_diff(px_db_t *db, uint64_t from, uint64_t to,
		     px_vdiff_t *d, char *err, size_t errlen)
{
	walk_t w;
	size_t i, j;
	int rc;

	memset(d, 0, sizeof(*d));
	memset(&w, 0, sizeof(w));
	d->from = from;
	d->to = to;
	w.d = d;
	w.lo = from < to ? from : to;
	w.hi = from < to ? to : from;
	w.next = w.lo + 1;
	if (w.lo == w.hi)
		return 0;
	rc = px_db_versions(db, w.lo + 1, w.hi, on_record, &w);
	if (rc == 0 && w.next != w.hi + 1)
		rc = 1;
	if (rc == 1) {
		uint64_t oldest = 0;

		px_db_versions(db, 0, UINT64_MAX, oldest_cb, &oldest);
		snprintf(err, errlen, "the store keeps what each of the last "
			 "%d versions changed: the oldest it can compare or "
			 "roll back to is version %llu", PX_VERSIONS_KEPT,
			 oldest ? (unsigned long long)oldest - 1 : 0ULL);
		rc = PX_ERANGE;
	} else if (rc < 0) {
		snprintf(err, errlen, "reading the versions' records: %s",
			 px_strerror(rc));
	}
	if (rc < 0)
		goto out;
	for (i = 0; i < d->nsets; i++) {
		d->sets[i].created = w.exist_first[i] == CREATED &&
				     w.exist_last[i] == CREATED;
		d->sets[i].destroyed = w.exist_first[i] == DESTROYED &&
				       w.exist_last[i] == DESTROYED;
	}
	/* An entry's first event says whether it was there at lo (it was
	 * if it was removed first), its last whether it is at hi. */
	if (w.nev)
		qsort(w.ev, w.nev, sizeof(*w.ev), event_cmp);
	for (i = 0; i < w.nev; i = j) {
		bool at_lo, at_hi;

		for (j = i + 1; j < w.nev && w.ev[j].set == w.ev[i].set &&
		     px_entry_cmp(&w.ev[j].e, &w.ev[i].e) == 0; j++)
			;
		at_lo = !w.ev[i].added;
		at_hi = w.ev[j - 1].added;
		if (at_hi && !at_lo)
			px_entries_push(&d->sets[w.ev[i].set].add, &w.ev[i].e);
		else if (at_lo && !at_hi)
			px_entries_push(&d->sets[w.ev[i].set].del, &w.ev[i].e);
	}
	/* The events were sorted: add and del are too. */
	if (from > to)
		swap_ends(d);
out:
	free(w.ev);
	free(w.exist_first);
	free(w.exist_last);
	return rc;
}

void px_vdiff_free(px_vdiff_t *d)
{
	size_t i;

	for (i = 0; i < d->nsets; i++) {
		px_entries_free(&d->sets[i].add);
		px_entries_free(&d->sets[i].del);
	}
	free(d->sets);
	free(d->meta_from);
	free(d->meta_to);
	memset(d, 0, sizeof(*d));
}

/* ---- the undo of one version ---- */

/* A meta record unpacked; length 0 is the defaults'. */
static Phalanx__SnapshotChunk *meta_unpack(const uint8_t *buf, size_t len)
{
	Phalanx__SnapshotChunk *c;
	px_policy_t p;
	uint8_t *def;
	size_t dlen;

	if (len)
		return phalanx__snapshot_chunk__unpack(NULL, len, buf);
	px_policy_init(&p);
	px_db_meta_pack(&p, &def, &dlen);
	px_policy_free(&p);
	c = phalanx__snapshot_chunk__unpack(NULL, dlen, def);
	free(def);
	return c;
}

/* The four parts of a meta record, each packed alone for comparing. */
enum { PART_LIMITS, PART_RULES, PART_SERVICES, PART_PROTECTION, NPARTS };

static void part_take(Phalanx__SnapshotChunk *dst,
		      const Phalanx__SnapshotChunk *src, int part)
{
	switch (part) {
	case PART_LIMITS:
		dst->limits = src->limits;
		dst->n_limits = src->n_limits;
		break;
	case PART_RULES:
		dst->rules_set = src->rules_set;
		dst->rules = src->rules;
		dst->n_rules = src->n_rules;
		break;
	case PART_SERVICES:
		dst->services_set = src->services_set;
		dst->services = src->services;
		dst->n_services = src->n_services;
		break;
	case PART_PROTECTION:
		dst->protection = src->protection;
		break;
	}
}

static bool msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a),
	       lb = protobuf_c_message_get_packed_size(b);
	uint8_t *ba, *bb;
	bool eq;

	if (la != lb)
		return false;
	ba = xmalloc(la + 1);
	bb = xmalloc(lb + 1);
	protobuf_c_message_pack(a, ba);
	protobuf_c_message_pack(b, bb);
	eq = memcmp(ba, bb, la) == 0;
	free(ba);
	free(bb);
	return eq;
}

static bool part_equal(const Phalanx__SnapshotChunk *a,
		       const Phalanx__SnapshotChunk *b, int part)
{
	Phalanx__SnapshotChunk x = PHALANX__SNAPSHOT_CHUNK__INIT,
			       y = PHALANX__SNAPSHOT_CHUNK__INIT;

	part_take(&x, a, part);
	part_take(&y, b, part);
	return msg_equal(&x.base, &y.base);
}

/* d->meta_from is the meta after v, d->meta_to before it: each part the
 * current policy still holds as v left it goes back; the others keep
 * their current state.  d->meta_from becomes the current record. */
static int meta_undo(px_vdiff_t *d, const px_policy_t *p)
{
	Phalanx__SnapshotChunk *after, *before, *cur,
			       out = PHALANX__SNAPSHOT_CHUNK__INIT;
	uint8_t *cbuf;
	size_t clen;
	bool changed = false;
	int part, rc = 0;

	px_db_meta_pack(p, &cbuf, &clen);
	after = meta_unpack(d->meta_from, d->meta_from_len);
	before = meta_unpack(d->meta_to, d->meta_to_len);
	cur = phalanx__snapshot_chunk__unpack(NULL, clen, cbuf);
	if (!after || !before || !cur) {
		rc = PX_EDBCORRUPT;
		goto out;
	}
	for (part = 0; part < NPARTS; part++) {
		if (part_equal(cur, after, part) &&
		    !part_equal(after, before, part)) {
			part_take(&out, before, part);
			changed = true;
		} else {
			part_take(&out, cur, part);
		}
	}
	free(d->meta_from);
	d->meta_from = cbuf;
	d->meta_from_len = clen;
	cbuf = NULL;
	free(d->meta_to);
	d->meta_to = NULL;
	d->meta_to_len = 0;
	d->meta = changed;
	if (changed) {
		d->meta_to_len = phalanx__snapshot_chunk__get_packed_size(&out);
		d->meta_to = xmalloc(d->meta_to_len + 1);
		phalanx__snapshot_chunk__pack(&out, d->meta_to);
	}
out:
	free(cbuf);
	if (after)
		phalanx__snapshot_chunk__free_unpacked(after, NULL);
	if (before)
		phalanx__snapshot_chunk__free_unpacked(before, NULL);
	if (cur)
		phalanx__snapshot_chunk__free_unpacked(cur, NULL);
	return rc;
}

/* Keep of each entry list only what still applies to set s. */
static void entries_filter(px_entries_t *e, const px_set_t *s, bool want_in)
{
	size_t i, k = 0;

	for (i = 0; i < e->n; i++) {
		bool in = s && px_set_has(s, &e->v[i]);

		if (in != want_in)
			continue;
		if (!want_in && s && px_set_overlap(s, &e->v[i]))
			continue;
		e->v[k++] = e->v[i];
	}
	e->n = k;
}

int px_versions_undo(px_db_t *db, const px_policy_t *p, uint64_t v,
		     px_vdiff_t *d, char *err, size_t errlen)
{
	size_t i;
	int rc;

	if (v == 0) {
		memset(d, 0, sizeof(*d));
		snprintf(err, errlen, "version 0 has nothing to undo");
		return PX_ERANGE;
	}
	if ((rc = px_versions_diff(db, v, v - 1, d, err, errlen)) < 0)
		return rc;
	for (i = 0; i < d->nsets; i++) {
		px_vset_t *vs = &d->sets[i];
		const px_set_t *s = px_policy_find(p, vs->name);

		/* v destroyed the set and it was made again since, or v
		 * changed a set destroyed since: left as the later change
		 * left it. */
		if ((vs->created && s) || (!s && !vs->created)) {
			px_entries_free(&vs->add);
			px_entries_free(&vs->del);
			vs->created = vs->destroyed = false;
			continue;
		}
		entries_filter(&vs->del, s, true);
		entries_filter(&vs->add, vs->created ? NULL : s, false);
		/* v made the set: it goes only if nothing uses it and it
		 * holds just what v put there; else only v's entries go. */
		if (vs->destroyed) {
			if (px_policy_set_in_use(p, vs->name) ||
			    px_set_count(s) != vs->del.n)
				vs->destroyed = false;
			else
				px_entries_free(&vs->del);
		}
	}
	if (d->meta && (rc = meta_undo(d, p)) < 0)
		snprintf(err, errlen, "version %llu: its limits and lists "
			 "record does not decode", (unsigned long long)v);
	return rc;
}

/* ---- pending confirmations ---- */

typedef struct {
	uint64_t now_ms, version, want, skip;
	bool found;
} due_t;

static int due_cb(uint64_t version, uint64_t deadline_ms, void *arg)
{
	due_t *u = arg;

	if (u->want) {
		if (version == u->want)
			u->found = true;
		return u->found;
	}
	if (deadline_ms <= u->now_ms && version != u->skip &&
	    (!u->version || version < u->version))
		u->version = version;
	return 0;
}

uint64_t px_versions_due(px_db_t *db, uint64_t now_ms, uint64_t skip)
{
	due_t u = { now_ms, 0, 0, skip, false };

	if (px_db_confirm_list(db, due_cb, &u) < 0)
		return 0;
	return u.version;
}

bool px_versions_pending(px_db_t *db, uint64_t v)
{
	due_t u = { 0, 0, v, 0, false };

	px_db_confirm_list(db, due_cb, &u);
	return u.found;
}

/* ---- DIFF's reply ---- */

/* Named lists (rules: their order counts too): names added, removed and
 * changed, pointing into a and b. */
typedef struct {
	char **v;
	size_t n;
} names_t;

static void names_push(names_t *l, char *name)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = name;
}

static void list_diff(ProtobufCMessage **a, char **an, size_t na,
		      ProtobufCMessage **b, char **bn, size_t nb, bool ordered,
		      names_t *added, names_t *removed, names_t *changed)
{
	size_t i, j;

	for (i = 0; i < na; i++) {
		for (j = 0; j < nb && strcmp(an[i], bn[j]) != 0; j++)
			;
		if (j == nb)
			names_push(removed, an[i]);
		else if (!msg_equal(a[i], b[j]) || (ordered && i != j))
			names_push(changed, an[i]);
	}
	for (j = 0; j < nb; j++) {
		for (i = 0; i < na && strcmp(an[i], bn[j]) != 0; i++)
			;
		if (i == na)
			names_push(added, bn[j]);
	}
}

static Phalanx__LimitOp *limit_find(const Phalanx__SnapshotChunk *c,
				    const Phalanx__LimitOp *op)
{
	size_t i;

	for (i = 0; i < c->n_limits; i++)
		if (strcmp(c->limits[i]->name, op->name) == 0 &&
		    strcmp(c->limits[i]->tier, op->tier) == 0)
			return c->limits[i];
	return NULL;
}

static void limits_diff(const Phalanx__SnapshotChunk *a,
			const Phalanx__SnapshotChunk *b,
			Phalanx__LimitChange **out, size_t *n)
{
	size_t i, k = 0;

	*out = xcalloc(a->n_limits + b->n_limits + 1, sizeof(**out));
	for (i = 0; i < a->n_limits + b->n_limits; i++) {
		bool in_a = i < a->n_limits;
		const Phalanx__LimitOp *x = in_a ? a->limits[i] :
					    b->limits[i - a->n_limits];
		const Phalanx__LimitOp *y = limit_find(in_a ? b : a, x);
		const Phalanx__LimitOp *f = in_a ? x : y, *t = in_a ? y : x;
		Phalanx__LimitChange *c = &(*out)[k];

		if (!in_a && y)
			continue; /* seen from a's side */
		if (f && t && f->value == t->value &&
		    strcmp(f->mode, t->mode) == 0)
			continue;
		phalanx__limit_change__init(c);
		c->name = x->name;
		c->tier = x->tier;
		c->from = f ? f->value : 0;
		c->to = t ? t->value : 0;
		c->mode_from = f ? f->mode : "";
		c->mode_to = t ? t->mode : "";
		k++;
	}
	*n = k;
}

#define LIST_NAMES(c, field, type)                                         \
	do {                                                               \
		size_t i_;                                                 \
		msgs = xcalloc((c)->n_##field + 1, sizeof(*msgs));         \
		nm = xcalloc((c)->n_##field + 1, sizeof(*nm));             \
		for (i_ = 0; i_ < (c)->n_##field; i_++) {                  \
			msgs[i_] = &(c)->field[i_]->base;                  \
			nm[i_] = ((type *)(c)->field[i_])->name;           \
		}                                                          \
	} while (0)

static void lists_diff(const Phalanx__SnapshotChunk *a,
		       const Phalanx__SnapshotChunk *b, bool rules,
		       names_t out[3])
{
	ProtobufCMessage **msgs, **am, **bm;
	char **nm, **an, **bnn;
	size_t na, nb;

	if (rules) {
		LIST_NAMES(a, rules, Phalanx__Rule);
		am = msgs, an = nm, na = a->n_rules;
		LIST_NAMES(b, rules, Phalanx__Rule);
		bm = msgs, bnn = nm, nb = b->n_rules;
	} else {
		LIST_NAMES(a, services, Phalanx__Service);
		am = msgs, an = nm, na = a->n_services;
		LIST_NAMES(b, services, Phalanx__Service);
		bm = msgs, bnn = nm, nb = b->n_services;
	}
	list_diff(am, an, na, bm, bnn, nb, rules, &out[0], &out[1], &out[2]);
	free(am);
	free(an);
	free(bm);
	free(bnn);
}

int px_vdiff_reply(const px_vdiff_t *dp, Phalanx__DiffReply **out,
		   char *err, size_t errlen)
{
	Phalanx__DiffReply r = PHALANX__DIFF_REPLY__INIT;
	Phalanx__SnapshotChunk *a = NULL, *b = NULL;
	Phalanx__SetDelta *sd = NULL, **sdp = NULL;
	ProtobufCBinaryData **bins = NULL;
	uint8_t **bufs = NULL, *buf = NULL;
	Phalanx__LimitChange *lc = NULL, **lcp = NULL;
	names_t ln[2][3];
	const px_vdiff_t d = *dp;
	size_t i, k, len;
	int rc = 0;

	*out = NULL;
	memset(ln, 0, sizeof(ln));
	r.from = d.from;
	r.to = d.to;
	sd = xcalloc(d.nsets + 1, sizeof(*sd));
	sdp = xcalloc(d.nsets + 1, sizeof(*sdp));
	bins = xcalloc(2 * d.nsets + 1, sizeof(*bins));
	bufs = xcalloc(2 * d.nsets + 1, sizeof(*bufs));
	for (i = 0; i < d.nsets; i++) {
		const px_vset_t *v = &d.sets[i];
		Phalanx__SetDelta *s = &sd[r.n_sets];

		if (!v->created && !v->destroyed && !v->add.n && !v->del.n)
			continue;
		phalanx__set_delta__init(s);
		s->set = (char *)v->name;
		s->created = v->created;
		s->destroyed = v->destroyed;
		s->added_count = v->add.n;
		s->removed_count = v->del.n;
		s->n_added = v->add.n < PX_DIFF_ENTRIES_MAX ? v->add.n :
			     PX_DIFF_ENTRIES_MAX;
		s->n_removed = v->del.n < PX_DIFF_ENTRIES_MAX ? v->del.n :
			       PX_DIFF_ENTRIES_MAX;
		px_wire_pack_entries(v->add.v, s->n_added, &bins[2 * i],
				     &bufs[2 * i]);
		px_wire_pack_entries(v->del.v, s->n_removed, &bins[2 * i + 1],
				     &bufs[2 * i + 1]);
		s->added = bins[2 * i];
		s->removed = bins[2 * i + 1];
		sdp[r.n_sets++] = s;
	}
	r.sets = sdp;
	if (d.meta) {
		a = meta_unpack(d.meta_from, d.meta_from_len);
		b = meta_unpack(d.meta_to, d.meta_to_len);
		if (!a || !b) {
			rc = PX_EDBCORRUPT;
			snprintf(err, errlen, "a limits and lists record "
				 "between versions %llu and %llu does not "
				 "decode", (unsigned long long)d.from,
				 (unsigned long long)d.to);
			goto out;
		}
		limits_diff(a, b, &lc, &r.n_limits);
		lcp = xcalloc(r.n_limits + 1, sizeof(*lcp));
		for (k = 0; k < r.n_limits; k++)
			lcp[k] = &lc[k];
		r.limits = lcp;
		lists_diff(a, b, true, ln[0]);
		lists_diff(a, b, false, ln[1]);
		r.rules_added = ln[0][0].v, r.n_rules_added = ln[0][0].n;
		r.rules_removed = ln[0][1].v, r.n_rules_removed = ln[0][1].n;
		r.rules_changed = ln[0][2].v, r.n_rules_changed = ln[0][2].n;
		r.services_added = ln[1][0].v, r.n_services_added = ln[1][0].n;
		r.services_removed = ln[1][1].v;
		r.n_services_removed = ln[1][1].n;
		r.services_changed = ln[1][2].v;
		r.n_services_changed = ln[1][2].n;
		r.protection_changed = !part_equal(a, b, PART_PROTECTION);
	}
	/* Packed and read back: one allocation the caller frees with
	 * protobuf-c's own free. */
	len = phalanx__diff_reply__get_packed_size(&r);
	buf = xmalloc(len + 1);
	phalanx__diff_reply__pack(&r, buf);
	*out = phalanx__diff_reply__unpack(NULL, len, buf);
	if (!*out) {
		rc = -ENOMEM;
		snprintf(err, errlen, "diff: out of memory");
	}
out:
	for (i = 0; bins && i < 2 * d.nsets; i++) {
		free(bins[i]);
		free(bufs[i]);
	}
	for (i = 0; i < 2; i++)
		for (k = 0; k < 3; k++)
			free(ln[i][k].v);
	free(bins);
	free(bufs);
	free(sd);
	free(sdp);
	free(lc);
	free(lcp);
	free(buf);
	if (a)
		phalanx__snapshot_chunk__free_unpacked(a, NULL);
	if (b)
		phalanx__snapshot_chunk__free_unpacked(b, NULL);
	return rc;
}

int px_versions_diff_reply(px_db_t *db, uint64_t from, uint64_t to,
			   Phalanx__DiffReply **out, char *err,
			   size_t errlen)
{
	px_vdiff_t d;
	int rc;

	*out = NULL;
	if ((rc = px_versions_diff(db, from, to, &d, err, errlen)) == 0)
		rc = px_vdiff_reply(&d, out, err, errlen);
	px_vdiff_free(&d);
	return rc;
}

void px_versions_diff_reply_free(Phalanx__DiffReply *r)
{
	if (r)
		phalanx__diff_reply__free_unpacked(r, NULL);
}

/* ---- PENDING's reply ---- */

typedef struct {
	px_db_t *db;
	Phalanx__VersionRecord **v;
	size_t n;
} pend_t;

static int pend_rec(const Phalanx__VersionRecord *r, void *arg)
{
	Phalanx__VersionRecord *o = arg;

	o->who = xstrdup(r->who);
	o->time_ms = r->time_ms;
	o->canary_member = xstrdup(r->canary_member);
	o->canary_s = r->canary_s;
	return 1;
}

static int pend_cb(uint64_t version, uint64_t deadline_ms, void *arg)
{
	pend_t *p = arg;
	Phalanx__VersionRecord *o = xcalloc(1, sizeof(*o));

	phalanx__version_record__init(o);
	o->version = version;
	o->confirm_by_ms = deadline_ms;
	o->who = NULL;
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = o;
	return p->n >= 10000;
}

int px_versions_pending_list(px_db_t *db, Phalanx__VersionRecord ***out,
			     size_t *n)
{
	pend_t p = { db, NULL, 0 };
	int rc = px_db_confirm_list(db, pend_cb, &p);
	size_t i;

	/* Who made each: read after the list's transaction (one read
	 * transaction at a time per thread). */
	for (i = 0; i < p.n; i++) {
		px_db_versions(db, p.v[i]->version, p.v[i]->version, pend_rec,
			       p.v[i]);
		if (!p.v[i]->who)
			p.v[i]->who = xstrdup("?");
	}
	*out = p.v;
	*n = p.n;
	return rc;
}

void px_versions_pending_free(Phalanx__VersionRecord **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i]->who);
		if (v[i]->canary_member != protobuf_c_empty_string)
			free(v[i]->canary_member);
		free(v[i]);
	}
	free(v);
}
