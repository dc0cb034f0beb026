/* alert.c - the alert engine (see alert.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "limit.h"
#include "px.h"

static const char *const extra_types[] = {
	"events-lost", "store-lost", "alerts-suppressed", "alerts-dropped",
	"conntrack-headroom", "state-unusable", "readiness-gate", "vrrp-master",
	"member-down", /* raised by the store (store/alerts.c) */
	"ip-spoofing", /* attack protection (issue 12): node/nflog.c */
	PX_ALERT_BROADCAST, PX_ALERT_FRAGMENT, PX_ALERT_IP_OPTIONS,
	PX_ALERT_DEFAULT_DENY, PX_ALERT_BAD_CHECKSUM,
	/* intrusion detection (lib/ids.h px_ids_defs' names): nflog.c */
	"port-scan", "half-scan", "land-attack", "ping-of-death", "udp-bomb",
	"oob-attack", "syn-attack",
	"invalid-dhcp-offer", /* DHCP poisoning (issue 12): nflog.c */
	"dns-intrusion", "pop-intrusion", /* inspection (item 8): nfq.c */
};
#define NEXTRA (sizeof(extra_types) / sizeof(extra_types[0]))

const char *px_alert_state_name(px_alert_state_t s)
{
	switch (s) {
	case PX_ALERT_EXCEEDED: return "exceeded";
	case PX_ALERT_RECOVERED: return "recovered";
	case PX_ALERT_INFO: return "info";
	}
	return "?";
}

int px_alert_state_parse(const char *s)
{
	int i;

	for (i = PX_ALERT_EXCEEDED; i <= PX_ALERT_INFO; i++)
		if (strcmp(s, px_alert_state_name((px_alert_state_t)i)) == 0)
			return i;
	return -1;
}

const char *const *px_alert_types(size_t *n)
{
	static const char *all[PX_LIM_COUNT + NEXTRA];
	static size_t nall;
	size_t i;

	if (!nall) {
		for (i = 0; i < PX_LIM_COUNT; i++)
			if (!px_limit_defs[i].setting)
				all[nall++] = px_limit_defs[i].name;
		for (i = 0; i < NEXTRA; i++)
			all[nall++] = extra_types[i];
	}
	*n = nall;
	return all;
}

bool px_alert_type_valid(const char *t)
{
	size_t i, n;
	const char *const *all = px_alert_types(&n);

	for (i = 0; i < n; i++)
		if (strcmp(all[i], t) == 0)
			return true;
	return false;
}

void px_alerts_init(px_alerts_t *l)
{
	memset(l, 0, sizeof(*l));
}

void px_alerts_clear(px_alerts_t *l)
{
	l->n = 0;
}

void px_alerts_free(px_alerts_t *l)
{
	free(l->v);
	px_alerts_init(l);
}

static px_alert_t *alerts_push(px_alerts_t *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

/* ---- the key table: a chained hash over a fixed pool ---- */

#define NIL (-1)

struct key {
	bool used, has_source;
	uint8_t type;
	px_entry_t source;
	uint64_t first_ms, raised_ms, seen_ms;
	uint64_t count, count_max, limit;
	int32_t next;      /* bucket chain, or the free list */
};

struct px_alert_engine {
	px_alert_conf_t c;
	char types[PX_ALERT_TYPES][PX_ALERT_TYPE_MAX];
	bool disabled[PX_ALERT_TYPES];
	size_t ntypes;

	struct key *keys;  /* c.max_keys */
	int32_t *buckets;
	uint32_t nbuckets; /* a power of two */
	int32_t free_head;

	/* The cap: alerts out in second `second` of now_ms. */
	uint64_t second;
	uint32_t in_second;
	uint64_t pending;  /* suppressed, not yet carried by an alert */

	px_alert_stats_t st;
};

px_alert_engine_t *px_alert_new(const px_alert_conf_t *conf)
{
	px_alert_engine_t *e = xcalloc(1, sizeof(*e));
	uint32_t i;

	if (conf)
		e->c = *conf;
	if (!e->c.window_ms)
		e->c.window_ms = PX_ALERT_WINDOW_MS;
	if (!e->c.rate)
		e->c.rate = PX_ALERT_RATE;
	if (!e->c.max_keys)
		e->c.max_keys = PX_ALERT_MAX_KEYS;
	e->keys = xcalloc(e->c.max_keys, sizeof(*e->keys));
	/* At least twice the pool: chains stay short. */
	for (e->nbuckets = 16; e->nbuckets < 2 * e->c.max_keys; e->nbuckets *= 2)
		;
	e->buckets = xmalloc(e->nbuckets * sizeof(*e->buckets));
	for (i = 0; i < e->nbuckets; i++)
		e->buckets[i] = NIL;
	for (i = 0; i < e->c.max_keys; i++)
		e->keys[i].next = i + 1 < e->c.max_keys ? (int32_t)(i + 1) : NIL;
	e->free_head = 0;
	e->second = UINT64_MAX;
	return e;
}

void px_alert_free(px_alert_engine_t *e)
{
	if (!e)
		return;
	free(e->keys);
	free(e->buckets);
	free(e);
}

/* Index of type t, interned on first sight; -1 if the table is full. */
static int type_index(px_alert_engine_t *e, const char *t, bool intern)
{
	size_t i;

	for (i = 0; i < e->ntypes; i++)
		if (strcmp(e->types[i], t) == 0)
			return (int)i;
	if (!intern || e->ntypes == PX_ALERT_TYPES)
		return -1;
	snprintf(e->types[e->ntypes], PX_ALERT_TYPE_MAX, "%s", t);
	return (int)e->ntypes++;
}

/* FNV-1a over the type and the entry's bytes. */
static uint32_t key_hash(int type, const px_entry_t *src)
{
	const uint8_t *p = (const uint8_t *)src;
	uint32_t h = 2166136261u ^ (uint32_t)type;
	size_t i;

	h *= 16777619u;
	if (src)
		for (i = 0; i < sizeof(*src); i++) {
			h ^= p[i];
			h *= 16777619u;
		}
	return h;
}

static bool key_is(const struct key *k, int type, const px_entry_t *src)
{
	if (k->type != type || k->has_source != (src != NULL))
		return false;
	return !src || memcmp(&k->source, src, sizeof(*src)) == 0;
}

static struct key *key_find(px_alert_engine_t *e, int type,
			    const px_entry_t *src)
{
	int32_t i = e->buckets[key_hash(type, src) & (e->nbuckets - 1)];

	for (; i != NIL; i = e->keys[i].next)
		if (key_is(&e->keys[i], type, src))
			return &e->keys[i];
	return NULL;
}

static struct key *key_add(px_alert_engine_t *e, int type,
			   const px_entry_t *src)
{
	uint32_t b = key_hash(type, src) & (e->nbuckets - 1);
	struct key *k;
	int32_t i = e->free_head;

	if (i == NIL)
		return NULL;
	k = &e->keys[i];
	e->free_head = k->next;
	memset(k, 0, sizeof(*k));
	k->used = true;
	k->type = (uint8_t)type;
	k->has_source = src != NULL;
	if (src)
		k->source = *src;
	k->next = e->buckets[b];
	e->buckets[b] = i;
	e->st.keys++;
	return k;
}

static void key_del(px_alert_engine_t *e, struct key *k)
{
	int32_t idx = (int32_t)(k - e->keys);
	int32_t *p = &e->buckets[key_hash(k->type, k->has_source ? &k->source :
					  NULL) & (e->nbuckets - 1)];

	while (*p != idx)
		p = &e->keys[*p].next;
	*p = k->next;
	k->used = false;
	k->next = e->free_head;
	e->free_head = idx;
	e->st.keys--;
}

/* ---- raising ---- */

/* Room under the cap at now: else the alert is counted as suppressed. */
static px_alert_t *raise(px_alert_engine_t *e, const char *type,
			 px_alert_state_t state, const px_entry_t *src,
			 uint64_t now, px_alerts_t *out)
{
	px_alert_t *a;

	if (now / 1000 != e->second) {
		e->second = now / 1000;
		e->in_second = 0;
	}
	if (e->in_second >= e->c.rate) {
		e->pending++;
		e->st.suppressed++;
		return NULL;
	}
	e->in_second++;
	e->st.raised++;
	a = alerts_push(out);
	snprintf(a->type, sizeof(a->type), "%s", type);
	a->state = state;
	if (src) {
		a->has_source = true;
		a->source = *src;
	}
	a->time_ms = now;
	a->suppressed = e->pending;
	e->pending = 0;
	return a;
}

static void raise_key(px_alert_engine_t *e, struct key *k,
		      px_alert_state_t state, const char *text, uint64_t now,
		      px_alerts_t *out)
{
	px_alert_t *a = raise(e, e->types[k->type], state,
			      k->has_source ? &k->source : NULL, now, out);

	if (!a)
		return;
	a->count = state == PX_ALERT_RECOVERED ? k->count_max : k->count;
	a->limit = k->limit;
	if (text) {
		snprintf(a->text, sizeof(a->text), "%s", text);
	} else if (state == PX_ALERT_RECOVERED) {
		snprintf(a->text, sizeof(a->text), "no longer exceeded: first "
			 "%llu s ago, last %llu s ago",
			 (unsigned long long)((now - k->first_ms) / 1000),
			 (unsigned long long)((now - k->seen_ms) / 1000));
	} else if (now == k->first_ms) {
		snprintf(a->text, sizeof(a->text), "exceeded");
	} else {
		snprintf(a->text, sizeof(a->text), "still exceeded, for %llu s",
			 (unsigned long long)((now - k->first_ms) / 1000));
	}
}

void px_alert_observe(px_alert_engine_t *e, const px_alert_obs_t *o,
		      uint64_t now, px_alerts_t *out)
{
	int t = type_index(e, o->type, o->exceeding);
	struct key *k;

	if (t < 0 || e->disabled[t])
		return;
	k = key_find(e, t, o->source);
	if (!o->exceeding) {
		if (k) {
			raise_key(e, k, PX_ALERT_RECOVERED, o->text, now, out);
			key_del(e, k);
		}
		return;
	}
	if (!k) {
		k = key_add(e, t, o->source);
		if (!k) {
			e->st.untracked++;
			return;
		}
		k->first_ms = k->raised_ms = k->seen_ms = now;
		k->count = k->count_max = o->count;
		k->limit = o->limit;
		raise_key(e, k, PX_ALERT_EXCEEDED, o->text, now, out);
		return;
	}
	k->seen_ms = now;
	k->count = o->count;
	if (o->count > k->count_max)
		k->count_max = o->count;
	k->limit = o->limit;
	if (now - k->raised_ms >= e->c.window_ms) {
		k->raised_ms = now;
		raise_key(e, k, PX_ALERT_EXCEEDED, o->text, now, out);
	}
}

void px_alert_info(px_alert_engine_t *e, const char *type,
		   const px_entry_t *source, uint64_t count, uint64_t limit,
		   const char *text, uint64_t now, px_alerts_t *out)
{
	int t = type_index(e, type, true);
	px_alert_t *a;

	if (t >= 0 && e->disabled[t])
		return;
	a = raise(e, type, PX_ALERT_INFO, source, now, out);
	if (!a)
		return;
	a->count = count;
	a->limit = limit;
	snprintf(a->text, sizeof(a->text), "%s", text ? text : "");
}

void px_alert_tick(px_alert_engine_t *e, uint64_t now, px_alerts_t *out)
{
	uint32_t i;

	for (i = 0; i < e->c.max_keys; i++) {
		struct key *k = &e->keys[i];

		if (k->used && now - k->seen_ms >= e->c.window_ms) {
			raise_key(e, k, PX_ALERT_RECOVERED, NULL, now, out);
			key_del(e, k);
		}
	}
	/* Disabled: the count waits for the next alert that goes out. */
	if (e->pending && px_alert_enabled(e, "alerts-suppressed")) {
		char text[PX_ALERT_TEXT_MAX];
		px_alert_t *a;

		if (now / 1000 == e->second && e->in_second >= e->c.rate)
			return; /* this second is full: the next one */
		snprintf(text, sizeof(text), "%llu alerts suppressed by the "
			 "global cap of %u a second",
			 (unsigned long long)e->pending, e->c.rate);
		a = raise(e, "alerts-suppressed", PX_ALERT_INFO, NULL, now, out);
		if (a) {
			a->count = a->suppressed;
			a->limit = e->c.rate;
			snprintf(a->text, sizeof(a->text), "%s", text);
		}
	}
}

void px_alert_set_enabled(px_alert_engine_t *e, const char *type,
			  bool enabled)
{
	int t = type_index(e, type, true);
	uint32_t i;

	if (t < 0 || e->disabled[t] == !enabled)
		return;
	e->disabled[t] = !enabled;
	if (enabled)
		return;
	for (i = 0; i < e->c.max_keys; i++)
		if (e->keys[i].used && e->keys[i].type == t)
			key_del(e, &e->keys[i]);
}

bool px_alert_enabled(const px_alert_engine_t *e, const char *type)
{
	size_t i;

	for (i = 0; i < e->ntypes; i++)
		if (strcmp(e->types[i], type) == 0)
			return !e->disabled[i];
	return true;
}

void px_alert_stats(const px_alert_engine_t *e, px_alert_stats_t *out)
{
	*out = e->st;
}

size_t px_alert_recent_new(const px_entry_t *old, size_t nold,
			   const px_entry_t *cur, size_t ncur)
{
	size_t k, i, j, m;

	for (k = 1; k < ncur; k++) {
		/* Walk old, skipping what cur[0..k) took to the front; the
		 * rest must be cur[k..] in order. */
		for (i = k, j = 0; i < ncur && j < nold; j++) {
			bool taken = false;

			for (m = 0; m < k && !taken; m++)
				taken = memcmp(&cur[m], &old[j],
					       sizeof(*old)) == 0;
			if (taken)
				continue;
			if (memcmp(&cur[i], &old[j], sizeof(*old)) != 0)
				break;
			i++;
		}
		if (i == ncur)
			return k;
	}
	return ncur;
}

px_admit_t px_alert_admit(bool enabled, bool manual, bool active,
			  px_alert_state_t state, int *activate)
{
	*activate = 0;
	if (!enabled)
		return PX_ADMIT_DROP;
	switch (state) {
	case PX_ALERT_EXCEEDED:
		if (active && manual)
			return PX_ADMIT_ABSORB;
		*activate = 1;
		return PX_ADMIT_RECORD;
	case PX_ALERT_RECOVERED:
		if (!manual)
			*activate = -1;
		return PX_ADMIT_RECORD;
	case PX_ALERT_INFO:
		break;
	}
	return PX_ADMIT_RECORD;
}
