/* logring.c - the newest firewall log records of the array, in memory
 * (see logring.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logring.h"
#include "px.h"

/* Longest strings a record may carry: a member's JSON line is at most
 * 768 bytes and its text 320 (node/fwlog.h); more is not a member's. */
#define JSON_MAX 1024
#define TEXT_MAX 512
#define NAME_MAX_ 63
/* Members a TOP entry names, at most. */
#define TOP_MEMBERS 8

struct rec {
	uint64_t store_seq, recv_ms, seq, time_ms, bytes, count;
	bool has_src, has_dst;
	px_entry_t src, dst;
	/* One allocation: member, type, quota, result, of, json, text. */
	char *strs;
	const char *member, *type, *quota, *result, *of, *json, *text;
};

struct px_logring {
	struct rec *v;
	size_t max, head, n;   /* v[head] is the oldest */
	uint64_t next_seq;
};

px_logring_t *px_logring_new(size_t max)
{
	px_logring_t *r = xcalloc(1, sizeof(*r));

	r->max = max ? max : PX_LOGRING_MAX;
	r->v = xcalloc(r->max, sizeof(*r->v));
	r->next_seq = 1;
	return r;
}

void px_logring_free(px_logring_t *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->max; i++)
		free(r->v[i].strs);
	free(r->v);
	free(r);
}

static struct rec *at(const px_logring_t *r, size_t i)
{
	return &r->v[(r->head + i) % r->max];
}

static bool type_ok(const char *t)
{
	return strcmp(t, "denied") == 0 || strcmp(t, "ended") == 0 ||
	       strcmp(t, "suppressed") == 0 || strcmp(t, "lost") == 0;
}

/* The next slot, the oldest record going if the ring is full. */
static struct rec *push(px_logring_t *r)
{
	struct rec *e;

	if (r->n == r->max) {
		e = at(r, 0);
		free(e->strs);
		r->head = (r->head + 1) % r->max;
		r->n--;
	}
	e = at(r, r->n++);
	memset(e, 0, sizeof(*e));
	e->store_seq = r->next_seq++;
	e->recv_ms = px_now_ms();
	return e;
}

static void set_strings(struct rec *e, const char *const s[7])
{
	size_t len[7], total = 0, i;
	char *p;
	const char **dst[7] = { &e->member, &e->type, &e->quota, &e->result,
				&e->of, &e->json, &e->text };

	for (i = 0; i < 7; i++)
		total += (len[i] = strlen(s[i])) + 1;
	p = e->strs = xmalloc(total);
	for (i = 0; i < 7; i++) {
		memcpy(p, s[i], len[i] + 1);
		*dst[i] = p;
		p += len[i] + 1;
	}
}

static const char *str(const char *s)
{
	return s ? s : "";
}

static void add_record(px_logring_t *r, const Phalanx__LogRecord *lr)
{
	const char *s[7] = { str(lr->member), str(lr->type), str(lr->quota),
			     str(lr->result), str(lr->of), str(lr->json),
			     str(lr->text) };
	struct rec *e;
	size_t i;

	if (!px_member_id_valid(s[0]) || !type_ok(s[1]) || strlen(s[5]) > JSON_MAX ||
	    strlen(s[6]) > TEXT_MAX)
		return;
	for (i = 2; i <= 4; i++)
		if (strlen(s[i]) > NAME_MAX_)
			return;
	e = push(r);
	e->seq = lr->seq;
	e->time_ms = lr->time_ms;
	e->bytes = lr->bytes;
	e->count = lr->count;
	e->has_src = lr->source.len &&
		px_entry_decode(lr->source.data, lr->source.len, &e->src) == 0;
	e->has_dst = lr->dest.len &&
		px_entry_decode(lr->dest.data, lr->dest.len, &e->dst) == 0;
	set_strings(e, s);
}

/* The member's queue for the store dropped records: one record says so. */
static void add_lost(px_logring_t *r, const char *member, uint64_t n)
{
	char json[256], text[128], t[32];
	const char *s[7] = { member, "lost", "", "", "store", json, text };
	uint64_t now = px_now_ms();
	time_t sec = (time_t)(now / 1000);
	struct tm tm;
	struct rec *e;

	if (!gmtime_r(&sec, &tm) || !strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S",
					      &tm))
		snprintf(t, sizeof(t), "?");
	snprintf(json, sizeof(json), "{\"seq\":0,\"time\":\"%s.%03uZ\","
		 "\"time_ms\":%" PRIu64 ",\"member\":\"%s\",\"type\":\"lost\","
		 "\"of\":\"store\",\"count\":%" PRIu64 "}", t,
		 (unsigned)(now % 1000), now, member, n);
	snprintf(text, sizeof(text), "lost %" PRIu64 " records on the way to "
		 "the store (the member's queue was full)", n);
	e = push(r);
	e->time_ms = now;
	e->count = n;
	set_strings(e, s);
}

void px_store_log_in(px_store_t *st, const Phalanx__LogBatch *b)
{
	size_t i;

	if (!st->log)
		return;
	if (b->lost && px_member_id_valid(str(b->member)))
		add_lost(st->log, b->member, b->lost);
	for (i = 0; i < b->n_records; i++)
		add_record(st->log, b->records[i]);
}

/* ---- replies ---- */

struct reply_mem {
	Phalanx__LogRecord *recs, **recp;
	Phalanx__TopEntry *top, **topp;
	uint8_t *bufs;
	char **names;      /* per top entry: members then blocked */
};

void px_store_log_reply_free(void *mem)
{
	struct reply_mem *m = mem;

	if (!m)
		return;
	free(m->recs);
	free(m->recp);
	free(m->top);
	free(m->topp);
	free(m->bufs);
	free(m->names);
	free(m);
}

static bool matches(const struct rec *e, const Phalanx__CtlRequest *req)
{
	return (!req->member[0] || strcmp(e->member, req->member) == 0) &&
	       (!req->type[0] || strcmp(e->type, req->type) == 0);
}

static void to_proto(const struct rec *e, Phalanx__LogRecord *r,
		     uint8_t *buf)
{
	phalanx__log_record__init(r);
	r->seq = e->seq;
	r->member = (char *)e->member;
	r->time_ms = e->time_ms;
	r->type = (char *)e->type;
	if (e->has_src) {
		r->source.data = buf;
		r->source.len = px_entry_encode(&e->src, buf);
	}
	if (e->has_dst) {
		r->dest.data = buf + PX_ENTRY_WIRE_MAX;
		r->dest.len = px_entry_encode(&e->dst, buf + PX_ENTRY_WIRE_MAX);
	}
	r->quota = (char *)e->quota;
	r->result = (char *)e->result;
	r->bytes = e->bytes;
	r->count = e->count;
	r->of = (char *)e->of;
	r->json = (char *)e->json;
	r->text = (char *)e->text;
	r->store_seq = e->store_seq;
}

static void list(px_logring_t *r, const Phalanx__CtlRequest *req,
		 Phalanx__CtlReply *rep, struct reply_mem *m)
{
	size_t max = req->max && req->max < PX_LOG_PAGE ? req->max : PX_LOG_PAGE;
	size_t first = r->n, k = 0, i;

	rep->log_seq = r->next_seq - 1;
	if (req->after_seq == UINT64_MAX || !r->n)
		return;
	if (req->newest) {
		/* Back from the newest: the last max that match. */
		for (i = r->n; i-- > 0 && k < max;) {
			const struct rec *e = at(r, i);

			if (e->store_seq <= req->after_seq)
				break;
			if (matches(e, req)) {
				first = i;
				k++;
			}
		}
	} else {
		/* Sequence numbers are consecutive in the ring: skip to
		 * the first after after_seq. */
		uint64_t oldest = at(r, 0)->store_seq;

		first = req->after_seq < oldest ? 0 :
			req->after_seq - oldest + 1 >= r->n ? r->n :
			(size_t)(req->after_seq - oldest + 1);
	}
	m->recs = xcalloc(max, sizeof(*m->recs));
	m->recp = xcalloc(max, sizeof(*m->recp));
	m->bufs = xcalloc(max, 2 * PX_ENTRY_WIRE_MAX);
	k = 0;
	for (i = first; i < r->n; i++) {
		const struct rec *e = at(r, i);

		if (!matches(e, req))
			continue;
		if (k == max) {
			rep->log_more = true;
			break;
		}
		to_proto(e, &m->recs[k], m->bufs + k * 2 * PX_ENTRY_WIRE_MAX);
		m->recp[k] = &m->recs[k];
		k++;
	}
	rep->log_records = m->recp;
	rep->n_log_records = k;
}

/* ---- top ---- */

struct item {
	px_entry_t src, dst;
	bool has_dst, denied;
	uint64_t bytes;
	const char *member;
};

struct agg {
	px_entry_t src;
	uint64_t denied, conns, bytes, dests;
	const char *members[TOP_MEMBERS];
	size_t nmembers;
};

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = px_entry_cmp(&x->src, &y->src);

	if (c)
		return c;
	if (x->has_dst != y->has_dst)
		return x->has_dst ? 1 : -1;
	return px_entry_cmp(&x->dst, &y->dst);
}

/* arg: the column to sort by, 0 denied, 1 connections, 2 bytes. */
static int agg_cmp(const void *a, const void *b, void *arg)
{
	const struct agg *x = a, *y = b;
	int by = *(const int *)arg;
	uint64_t kx[3] = { x->denied, x->conns, x->bytes };
	uint64_t ky[3] = { y->denied, y->conns, y->bytes };
	int i;

	if (kx[by] != ky[by])
		return kx[by] > ky[by] ? -1 : 1;
	for (i = 0; i < 3; i++)
		if (kx[i] != ky[i])
			return kx[i] > ky[i] ? -1 : 1;
	return px_entry_cmp(&x->src, &y->src);
}

static void add_member(struct agg *g, const char *member)
{
	size_t i;

	for (i = 0; i < g->nmembers; i++)
		if (strcmp(g->members[i], member) == 0)
			return;
	if (g->nmembers < TOP_MEMBERS)
		g->members[g->nmembers++] = member;
}

/* The quotas whose block sets hold src now, by the heartbeats of the
 * members that are up; names are px_limit_defs' (static). */
static size_t blocked_by(const px_store_t *st, const px_entry_t *src,
			 const char **out)
{
	uint64_t now = px_now_ms();
	size_t i, j, n = 0;
	int id;

	for (id = 0; id < PX_LIM_COUNT; id++) {
		bool found = false;

		for (i = 0; i < st->nmembers && !found; i++) {
			const px_member_t *m = &st->members[i];
			const px_member_quota_t *q = &m->quotas[id];

			if (!px_member_up(st, m, now))
				continue;
			for (j = 0; j < q->nsources && !found; j++)
				found = px_entry_cmp(&q->sources[j], src) == 0;
		}
		if (found)
			out[n++] = px_limit_defs[id].name;
	}
	return n;
}

static int top(px_store_t *st, const Phalanx__CtlRequest *req,
	       Phalanx__CtlReply *rep, struct reply_mem *m, char *err,
	       size_t errlen)
{
	px_logring_t *r = st->log;
	uint64_t now = px_now_ms(), from = now > PX_TOP_WINDOW_MS ?
		now - PX_TOP_WINDOW_MS : 0;
	size_t want = req->max ? req->max : PX_TOP_DEFAULT;
	struct item *items;
	struct agg *aggs;
	size_t nitems = 0, naggs = 0, i, k;
	const char *b = req->top_by;
	const size_t per = TOP_MEMBERS + PX_LIM_COUNT;
	int by;

	if (!b[0] || strcmp(b, "denied") == 0)
		by = 0;
	else if (strcmp(b, "connections") == 0)
		by = 1;
	else if (strcmp(b, "rate") == 0)
		by = 2;
	else {
		snprintf(err, errlen, "top: --by: want denied, connections "
			 "or rate, not `%.40s'", b);
		return PX_EBADREQ;
	}
	if (want > PX_TOP_MAX)
		want = PX_TOP_MAX;
	rep->top_window_ms = PX_TOP_WINDOW_MS;
	items = xcalloc(r->n + 1, sizeof(*items));
	for (i = 0; i < r->n; i++) {
		const struct rec *e = at(r, i);
		bool denied = strcmp(e->type, "denied") == 0;

		if (e->recv_ms < from)
			continue;
		if (strcmp(e->type, "suppressed") == 0 &&
		    strcmp(e->of, "denied") == 0)
			rep->top_suppressed += e->count;
		if (!e->has_src || (!denied && strcmp(e->type, "ended") != 0))
			continue;
		items[nitems].src = e->src;
		items[nitems].dst = e->dst;
		items[nitems].has_dst = e->has_dst;
		items[nitems].denied = denied;
		items[nitems].bytes = e->bytes;
		items[nitems].member = e->member;
		nitems++;
	}
	qsort(items, nitems, sizeof(*items), item_cmp);
	aggs = xcalloc(nitems + 1, sizeof(*aggs));
	for (i = 0; i < nitems; i++) {
		const struct item *it = &items[i];
		struct agg *g;

		if (!naggs || px_entry_cmp(&aggs[naggs - 1].src, &it->src) != 0) {
			g = &aggs[naggs++];
			g->src = it->src;
		}
		g = &aggs[naggs - 1];
		if (it->denied)
			g->denied++;
		else {
			g->conns++;
			g->bytes += it->bytes;
		}
		if (it->has_dst && (i == 0 || item_cmp(&items[i - 1], it) != 0))
			g->dests++;
		add_member(g, it->member);
	}
	qsort_r(aggs, naggs, sizeof(*aggs), agg_cmp, &by);
	k = naggs < want ? naggs : want;
	/* Only sources with something in the chosen column. */
	while (k && (by == 0 ? aggs[k - 1].denied : by == 1 ?
		     aggs[k - 1].conns : aggs[k - 1].bytes) == 0)
		k--;
	m->top = xcalloc(k + 1, sizeof(*m->top));
	m->topp = xcalloc(k + 1, sizeof(*m->topp));
	m->bufs = xcalloc(k + 1, PX_ENTRY_WIRE_MAX);
	m->names = xcalloc((k + 1) * per, sizeof(*m->names));
	for (i = 0; i < k; i++) {
		Phalanx__TopEntry *t = &m->top[i];
		const struct agg *g = &aggs[i];
		char **names = m->names + i * per;
		const char *blocked[PX_LIM_COUNT];
		size_t nb = blocked_by(st, &g->src, blocked), j;

		phalanx__top_entry__init(t);
		t->source.data = m->bufs + i * PX_ENTRY_WIRE_MAX;
		t->source.len = px_entry_encode(&g->src, t->source.data);
		t->denied = g->denied;
		t->connections = g->conns;
		t->bytes = g->bytes;
		t->destinations = g->dests;
		for (j = 0; j < g->nmembers; j++)
			names[j] = (char *)g->members[j];
		t->members = names;
		t->n_members = g->nmembers;
		for (j = 0; j < nb; j++)
			names[TOP_MEMBERS + j] = (char *)blocked[j];
		t->blocked = names + TOP_MEMBERS;
		t->n_blocked = nb;
		m->topp[i] = t;
	}
	rep->top = m->topp;
	rep->n_top = k;
	free(items);
	free(aggs);
	return 0;
}

int px_store_log_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
		     Phalanx__CtlReply *rep, char *err, size_t errlen,
		     void **mem)
{
	struct reply_mem *m = xcalloc(1, sizeof(*m));

	*mem = m;
	if (!st->log) {
		snprintf(err, errlen, "the firewall log is not available on "
			 "this store");
		return -ENOTSUP;
	}
	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__LOG_LIST:
		list(st->log, req, rep, m);
		return 0;
	case PHALANX__CTL_REQUEST__OP__TOP:
		return top(st, req, rep, m, err, errlen);
	default:
		snprintf(err, errlen, "not a firewall log request");
		return PX_EBADREQ;
	}
}
