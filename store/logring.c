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

uint64_t px_logring_next_seq(const px_logring_t *r)
{
	return r ? r->next_seq : 0;
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

/* ---- the record's JSON, rebuilt ----
 *
 * A member's line is never passed through: the store writes the record
 * again from its checked fields (seq, time_ms, member, type) and the
 * line's other keys, if the line is one flat object of strings,
 * numbers, booleans and null (docs/fwlog.md).  Every string is escaped
 * again: control characters (C0, DEL, C1) as \u00XX, bad UTF-8 as
 * \ufffd; so `log tail --json' prints one valid line a record whatever
 * the member sent. */

#define KEY_MAX 32
#define KEYS_MAX 64

typedef struct {
	char *p;
	size_t len, max;   /* max excludes the NUL */
	bool full;
} out_t;

static void out_raw(out_t *o, const char *s, size_t n)
{
	if (o->full || o->len + n > o->max) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code
 * point, or 0 if it is not one. */
static size_t utf8_at(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t k, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4, c = s[0] & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (k == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return k;
}

static void out_str(out_t *o, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;
	char esc[8];

	out_raw(o, "\"", 1);
	while (i < n) {
		k = utf8_at(u + i, n - i, &cp);
		if (k == 0) {
			out_raw(o, "\\ufffd", 6);
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			esc[0] = '\\';
			esc[1] = (char)cp;
			out_raw(o, esc, 2);
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
			out_raw(o, esc, 6);
		} else {
			out_raw(o, s + i, k);
		}
		i += k;
	}
	out_raw(o, "\"", 1);
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static int hex4(const char *p, uint32_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

static size_t utf8_put(char *b, uint32_t c)
{
	if (c < 0x80) {
		b[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		b[0] = (char)(0xc0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		b[0] = (char)(0xe0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	b[0] = (char)(0xf0 | c >> 18);
	b[1] = (char)(0x80 | (c >> 12 & 0x3f));
	b[2] = (char)(0x80 | (c >> 6 & 0x3f));
	b[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* A JSON string at p (after its quote) decoded into buf (size len);
 * raw control bytes are taken as they are (escaped again on output).
 * Returns the end (after the closing quote) or NULL. */
static const char *parse_str(const char *p, char *buf, size_t len,
			     size_t *n)
{
	*n = 0;
	while (*p && *p != '"') {
		char tmp[4];
		size_t k = 1;
		uint32_t c, lo;

		if (*p != '\\') {
			tmp[0] = *p++;
		} else {
			p++;
			switch (*p) {
			case '"': case '\\': case '/': tmp[0] = *p; break;
			case 'b': tmp[0] = '\b'; break;
			case 'f': tmp[0] = '\f'; break;
			case 'n': tmp[0] = '\n'; break;
			case 'r': tmp[0] = '\r'; break;
			case 't': tmp[0] = '\t'; break;
			case 'u':
				if (hex4(p + 1, &c) < 0)
					return NULL;
				p += 4;
				if (c >= 0xd800 && c <= 0xdbff && p[1] == '\\' &&
				    p[2] == 'u' && hex4(p + 3, &lo) == 0 &&
				    lo >= 0xdc00 && lo <= 0xdfff) {
					c = 0x10000 + ((c - 0xd800) << 10) +
					    (lo - 0xdc00);
					p += 6;
				} else if (c >= 0xd800 && c <= 0xdfff) {
					c = 0xfffd;
				}
				k = utf8_put(tmp, c);
				break;
			default:
				return NULL;
			}
			p++;
		}
		if (*n + k >= len)
			return NULL;
		memcpy(buf + *n, tmp, k);
		*n += k;
	}
	if (*p != '"')
		return NULL;
	buf[*n] = '\0';
	return p + 1;
}

static bool key_ok(const char *k)
{
	size_t i;

	for (i = 0; k[i]; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') ||
		      k[i] == '_'))
			return false;
	return i > 0;
}

/* The member line's keys after the checked ones, into o; false (o
 * untouched past its start) if the line is not a flat object. */
static bool json_rest(const char *in, out_t *o)
{
	static const char *const fixed[] = { "seq", "time_ms", "member",
					     "type" };
	char keys[KEYS_MAX][KEY_MAX + 1], val[JSON_MAX + 1];
	size_t nkeys = 0, start = o->len, n, i;
	const char *p = skip_ws(in);

	if (*p++ != '{')
		return false;
	p = skip_ws(p);
	if (*p == '}')
		return *skip_ws(p + 1) == '\0';
	for (;;) {
		char key[KEY_MAX + 1];
		bool dup = false;
		const char *v;

		if (*p++ != '"' || !(p = parse_str(p, key, sizeof(key), &n)) ||
		    n != strlen(key) || !key_ok(key))
			goto bad;
		p = skip_ws(p);
		if (*p++ != ':')
			goto bad;
		v = p = skip_ws(p);
		for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			dup |= strcmp(key, fixed[i]) == 0;
		for (i = 0; i < nkeys; i++)
			dup |= strcmp(key, keys[i]) == 0;
		if (!dup && nkeys < KEYS_MAX)
			strcpy(keys[nkeys++], key);
		else
			dup = true;
		if (*p == '"') {
			if (!(p = parse_str(p + 1, val, sizeof(val), &n)))
				goto bad;
			if (!dup) {
				out_raw(o, ",", 1);
				out_str(o, key, strlen(key));
				out_raw(o, ":", 1);
				out_str(o, val, n);
			}
		} else {
			if (strncmp(p, "true", 4) == 0)
				p += 4;
			else if (strncmp(p, "false", 5) == 0)
				p += 5;
			else if (strncmp(p, "null", 4) == 0)
				p += 4;
			else {
				if (*p == '-')
					p++;
				if (*p < '0' || *p > '9')
					goto bad;
				while ((*p >= '0' && *p <= '9') || *p == '.' ||
				       *p == 'e' || *p == 'E' || *p == '+' ||
				       *p == '-')
					p++;
				if (p - v > 32)
					goto bad;
			}
			if (!dup) {
				out_raw(o, ",", 1);
				out_str(o, key, strlen(key));
				out_raw(o, ":", 1);
				out_raw(o, v, (size_t)(p - v));
			}
		}
		p = skip_ws(p);
		if (*p == '}')
			break;
		if (*p++ != ',')
			goto bad;
		p = skip_ws(p);
	}
	if (*skip_ws(p + 1) != '\0')
		goto bad;
	return true;
bad:
	o->len = start;
	o->p[start] = '\0';
	o->full = false;
	return false;
}

/* The record's JSON into buf (JSON_MAX + 1 bytes). */
static void json_rebuild(const Phalanx__LogRecord *lr, const char *member,
			 const char *type, char *buf)
{
	out_t o = { buf, 0, JSON_MAX, false };
	char head[64];
	size_t keep;

	buf[0] = '\0';
	snprintf(head, sizeof(head), "{\"seq\":%" PRIu64 ",\"time_ms\":%"
		 PRIu64 ",\"member\":", lr->seq, lr->time_ms);
	out_raw(&o, head, strlen(head));
	out_str(&o, member, strlen(member));
	out_raw(&o, ",\"type\":", 8);
	out_str(&o, type, strlen(type));
	keep = o.len;
	/* Room for the closing brace: the rest may not take it. */
	o.max = JSON_MAX - 1;
	if (!json_rest(str(lr->json), &o) || o.full) {
		o.len = keep;
		buf[keep] = '\0';
	}
	buf[o.len] = '}';
	buf[o.len + 1] = '\0';
}

static void add_record(px_logring_t *r, const Phalanx__LogRecord *lr)
{
	char json[JSON_MAX + 1];
	const char *s[7] = { str(lr->member), str(lr->type), str(lr->quota),
			     str(lr->result), str(lr->of), json,
			     str(lr->text) };
	struct rec *e;
	size_t i;

	if (!px_member_id_valid(s[0]) || !type_ok(s[1]) ||
	    strlen(str(lr->json)) > JSON_MAX || strlen(s[6]) > TEXT_MAX)
		return;
	for (i = 2; i <= 4; i++)
		if (strlen(s[i]) > NAME_MAX_)
			return;
	json_rebuild(lr, s[0], s[1], json);
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
