/* quota.c - half-open TCP and concurrent UDP quotas per source: the
 * decisions, over a bounded table of sources and connections. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "px.h"
#include "quota.h"
#include "ratelog.h"

#define DEF_MAX_SOURCES 65536
/* The conntrack table size on the reference machine (nf_conntrack_max):
 * there cannot be more connections to follow. */
#define DEF_MAX_CONNS 262144
#define DEF_BLOCK_MS 10000
/* Three renewals per timeout: one lost renewal never lets the block lapse. */
#define DEF_REFRESH_MS 3000
#define DEF_LOG_EVERY_MS 60000
/* A new source in a full table looks at this many of the least recently
 * active sources for one to replace: bounded work per event. */
#define EVICT_SCAN 16

_Static_assert(sizeof(px_ct_tuple_t) == 44,
	       "px_ct_tuple_t has padding: tuples are compared with memcmp");

struct source;

/* A tracked connection: half-open TCP or a UDP session.  A ghost (src
 * NULL) is a UDP session observe mode would have ended: it no longer
 * counts but stays known until the kernel destroys it. */
struct conn {
	struct conn *hnext;       /* id hash chain */
	struct conn *prev, *next; /* the source's list, oldest first */
	struct source *src;
	px_ct_tuple_t t;
	uint64_t born;
	uint8_t kind;             /* PX_Q_HALF_OPEN or PX_Q_UDP */
};

struct source {
	struct source *hnext;
	struct source *lru_prev, *lru_next;   /* most recently active first */
	struct source *dirty_next;
	struct source *over_prev, *over_next; /* over the half-open limit */
	px_entry_t key;
	struct conn *head[PX_Q_COUNT], *tail[PX_Q_COUNT];
	uint32_t n[PX_Q_COUNT];
	uint64_t limit[PX_Q_COUNT];
	uint32_t gen;            /* of the policy the limits come from */
	bool dirty, in_over;
	bool blocked;            /* in the kernel block set */
	bool would;              /* observe mode: would be blocked */
	bool logged;             /* the current block was reported */
	uint64_t refresh_at;
	px_every_t log[PX_Q_COUNT]; /* lines of each quota, and held back */
};

struct px_quota {
	px_quota_conf_t c;
	uint64_t seed;
	struct source **sb;      /* source hash buckets */
	size_t smask;
	struct conn **cb;        /* connection hash buckets, by conntrack id */
	size_t cmask;
	size_t nsources, nconns;
	size_t nhalf;            /* half-open connections tracked */
	struct source *lru_head, *lru_tail;
	struct source *dirty;
	struct source *over;
	const px_policy_t *policy; /* own, or the caller's (px_quota_use_policy) */
	px_policy_t own;
	unsigned v6_plen;
	bool udp_observe;        /* udp-concurrent's mode when last told */
	uint32_t gen;
	px_entries_t mgmt, local;
	px_quota_stats_t st;
};

static const int limit_ids[PX_Q_COUNT] = {
	[PX_Q_HALF_OPEN] = PX_LIM_TCP_HALF_OPEN,
	[PX_Q_UDP] = PX_LIM_UDP_CONCURRENT,
};

int px_quota_limit_id(px_quota_id_t q)
{
	return limit_ids[q];
}

/* ---- actions ---- */

void px_quota_actions_init(px_quota_actions_t *a)
{
	memset(a, 0, sizeof(*a));
}

void px_quota_actions_clear(px_quota_actions_t *a)
{
	a->n = 0;
	a->nsessions = 0;
}

void px_quota_actions_free(px_quota_actions_t *a)
{
	if (!a)
		return;
	free(a->v);
	free(a->sessions);
	memset(a, 0, sizeof(*a));
}

static px_quota_action_t *push_action(px_quota_actions_t *a,
				      px_qa_kind_t kind, px_quota_id_t quota,
				      const struct source *s)
{
	px_quota_action_t *act;

	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	act = &a->v[a->n++];
	memset(act, 0, sizeof(*act));
	act->kind = kind;
	act->quota = quota;
	act->src = s->key;
	act->count = s->n[quota];
	act->limit = s->limit[quota];
	act->first = a->nsessions;
	return act;
}

static void push_session(px_quota_actions_t *a, const px_ct_tuple_t *t)
{
	if (a->nsessions == a->capsessions) {
		a->capsessions = a->capsessions ? a->capsessions * 2 : 64;
		a->sessions = xrealloc(a->sessions,
				       a->capsessions * sizeof(*a->sessions));
	}
	a->sessions[a->nsessions++] = *t;
}

/* ---- hashing: seeded, so addresses an attacker picks do not pile up in
 * one chain ---- */

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static size_t source_hash(const px_quota_t *q, const px_entry_t *k)
{
	uint64_t w[2];

	memcpy(w, k->addr, 16);
	return (size_t)(mix(mix(q->seed ^ k->family ^ w[0]) ^ w[1]) & q->smask);
}

static size_t conn_hash(const px_quota_t *q, uint32_t id)
{
	return (size_t)(mix(q->seed ^ id) & q->cmask);
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* ---- sources ---- */

void px_quota_source_of(int family, const uint8_t *addr, unsigned v6_plen,
			px_entry_t *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)family;
	if (family == 4) {
		memcpy(out->addr, addr, 4);
		out->plen = 32;
		return;
	}
	if (v6_plen == 0 || v6_plen > 128)
		v6_plen = 128;
	memcpy(out->addr, addr, 16);
	for (i = 0; i < 16; i++) {
		unsigned bit = i * 8;

		if (bit + 8 <= v6_plen)
			continue;
		out->addr[i] &= bit >= v6_plen ? 0 :
			(uint8_t)(0xff << (8 - (v6_plen - bit)));
	}
	out->plen = (uint8_t)v6_plen;
	out->prefix = v6_plen != 128;
}

static void lru_unlink(px_quota_t *q, struct source *s)
{
	if (s->lru_prev)
		s->lru_prev->lru_next = s->lru_next;
	else
		q->lru_head = s->lru_next;
	if (s->lru_next)
		s->lru_next->lru_prev = s->lru_prev;
	else
		q->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
}

static void lru_push(px_quota_t *q, struct source *s)
{
	s->lru_prev = NULL;
	s->lru_next = q->lru_head;
	if (q->lru_head)
		q->lru_head->lru_prev = s;
	q->lru_head = s;
	if (!q->lru_tail)
		q->lru_tail = s;
}

static void touch(px_quota_t *q, struct source *s)
{
	if (q->lru_head == s)
		return;
	lru_unlink(q, s);
	lru_push(q, s);
}

static void mark_dirty(px_quota_t *q, struct source *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	s->dirty_next = q->dirty;
	q->dirty = s;
}

static void over_link(px_quota_t *q, struct source *s)
{
	if (s->in_over)
		return;
	s->in_over = true;
	s->over_prev = NULL;
	s->over_next = q->over;
	if (q->over)
		q->over->over_prev = s;
	q->over = s;
}

static void over_unlink(px_quota_t *q, struct source *s)
{
	if (!s->in_over)
		return;
	if (s->over_prev)
		s->over_prev->over_next = s->over_next;
	else
		q->over = s->over_next;
	if (s->over_next)
		s->over_next->over_prev = s->over_prev;
	s->over_prev = s->over_next = NULL;
	s->in_over = false;
}

static void conn_unhash(px_quota_t *q, struct conn *c)
{
	struct conn **pp = &q->cb[conn_hash(q, c->t.id)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	q->nconns--;
}

static void conn_unlist(px_quota_t *q, struct conn *c)
{
	struct source *s = c->src;
	int k = c->kind;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->head[k] = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail[k] = c->prev;
	c->prev = c->next = NULL;
	s->n[k]--;
	if (k == PX_Q_HALF_OPEN)
		q->nhalf--;
	c->src = NULL;
}

/* Unhash and free a source that is in no list but the LRU: its
 * connections are forgotten. */
static void source_free(px_quota_t *q, struct source *s)
{
	struct source **pp = &q->sb[source_hash(q, &s->key)];
	int k;

	for (k = 0; k < PX_Q_COUNT; k++) {
		while (s->head[k]) {
			struct conn *c = s->head[k];

			conn_unlist(q, c);
			conn_unhash(q, c);
			free(c);
		}
	}
	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	lru_unlink(q, s);
	q->nsources--;
	free(s);
}

/* Room for one more source: the least recently active one that is not
 * blocked, over a limit or waiting for a decision gives its place. */
static bool make_room(px_quota_t *q)
{
	struct source *s = q->lru_tail;
	int i;

	for (i = 0; s && i < EVICT_SCAN; i++, s = s->lru_prev) {
		if (s->blocked || s->in_over || s->dirty)
			continue;
		source_free(q, s);
		q->st.sources_evicted++;
		return true;
	}
	return false;
}

static struct source *source_get(px_quota_t *q, const px_entry_t *key)
{
	size_t b = source_hash(q, key);
	struct source *s;

	for (s = q->sb[b]; s; s = s->hnext)
		if (memcmp(&s->key, key, sizeof(*key)) == 0)
			return s;
	if (q->nsources >= q->c.max_sources) {
		if (!make_room(q)) {
			q->st.sources_dropped++;
			return NULL;
		}
		b = source_hash(q, key);
	}
	s = xcalloc(1, sizeof(*s));
	s->key = *key;
	s->gen = q->gen - 1; /* limits not computed yet */
	s->hnext = q->sb[b];
	q->sb[b] = s;
	lru_push(q, s);
	q->nsources++;
	return s;
}

static void source_limits(px_quota_t *q, struct source *s)
{
	const px_set_t *set;
	int k;

	if (s->gen == q->gen)
		return;
	set = px_policy_tier_of(q->policy, s->key.family, s->key.addr);
	for (k = 0; k < PX_Q_COUNT; k++)
		s->limit[k] = px_policy_tier_limit(q->policy, set,
						   limit_ids[k]);
	s->gen = q->gen;
}

static void mark_all_dirty(px_quota_t *q)
{
	struct source *s;

	for (s = q->lru_head; s; s = s->lru_next)
		mark_dirty(q, s);
}

/* ---- exemptions ---- */

static bool prefix_match(const px_entry_t *e, int family, const uint8_t *a)
{
	unsigned full = e->plen / 8, rest = e->plen % 8;

	if (e->family != family || memcmp(e->addr, a, full) != 0)
		return false;
	return !rest || ((e->addr[full] ^ a[full]) &
			 (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool in_list(const px_entries_t *l, int family, const uint8_t *a)
{
	size_t i;

	/* A few management prefixes and interface addresses: a scan. */
	for (i = 0; i < l->n; i++)
		if (prefix_match(&l->v[i], family, a))
			return true;
	return false;
}

bool px_quota_exempt(const px_quota_t *q, int family, const uint8_t *addr)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (family == 4 && addr[0] == 127)
		return true;
	if (family == 6 && memcmp(addr, v6_loopback, 16) == 0)
		return true;
	return in_list(&q->mgmt, family, addr) ||
	       in_list(&q->local, family, addr);
}

/* ---- connections ---- */

static struct conn *conn_find(const px_quota_t *q, const px_ct_tuple_t *t)
{
	struct conn *c;

	for (c = q->cb[conn_hash(q, t->id)]; c; c = c->hnext)
		if (memcmp(&c->t, t, sizeof(*t)) == 0)
			return c;
	return NULL;
}

static struct conn *conn_add(px_quota_t *q, const px_ct_t *ct, int kind)
{
	struct source *s;
	struct conn *c;
	px_entry_t key;
	size_t b;

	if (px_quota_exempt(q, ct->t.family, ct->t.src))
		return NULL;
	if (q->nconns >= q->c.max_conns) {
		q->st.conns_dropped++;
		return NULL;
	}
	px_quota_source_of(ct->t.family, ct->t.src, q->v6_plen, &key);
	s = source_get(q, &key);
	if (!s)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->t = ct->t;
	c->born = ct->born;
	c->kind = (uint8_t)kind;
	c->src = s;
	b = conn_hash(q, c->t.id);
	c->hnext = q->cb[b];
	q->cb[b] = c;
	q->nconns++;
	c->prev = s->tail[kind];
	if (s->tail[kind])
		s->tail[kind]->next = c;
	else
		s->head[kind] = c;
	s->tail[kind] = c;
	s->n[kind]++;
	if (kind == PX_Q_HALF_OPEN)
		q->nhalf++;
	touch(q, s);
	mark_dirty(q, s);
	return c;
}

static void conn_del(px_quota_t *q, struct conn *c)
{
	if (c->src) {
		touch(q, c->src);
		mark_dirty(q, c->src);
		conn_unlist(q, c);
	}
	conn_unhash(q, c);
	free(c);
}

static bool half_open(uint8_t state)
{
	return state == PX_TCP_SYN_SENT || state == PX_TCP_SYN_RECV ||
	       state == PX_TCP_SYN_SENT2;
}

void px_quota_event(px_quota_t *q, px_ct_type_t type, const px_ct_t *ct)
{
	struct conn *c;

	if ((ct->t.proto != 6 && ct->t.proto != 17) ||
	    (ct->t.family != 4 && ct->t.family != 6))
		return;
	c = conn_find(q, &ct->t);
	if (type == PX_CT_DESTROY) {
		if (c)
			conn_del(q, c);
		return;
	}
	if (ct->t.proto == 6) {
		if (ct->tcp_state == PX_TCP_UNKNOWN)
			return;
		if (c && !half_open(ct->tcp_state))
			conn_del(q, c);
		else if (!c && half_open(ct->tcp_state))
			conn_add(q, ct, PX_Q_HALF_OPEN);
		return;
	}
	/* UDP: only a NEW starts a session.  An UPDATE of an unknown one is
	 * a session this watcher just ended (the event was queued before
	 * the destroy) or never saw: counting it would end a wrong one. */
	if (type == PX_CT_NEW && !c)
		conn_add(q, ct, PX_Q_UDP);
}

/* ---- decisions ---- */

static void remember(px_quota_count_t *qc, const px_entry_t *src)
{
	size_t i, n = qc->nrecent;

	for (i = 0; i < n; i++)
		if (memcmp(&qc->recent[i], src, sizeof(*src)) == 0)
			break;
	if (i == n && n < PX_QUOTA_RECENT)
		qc->nrecent = ++n;
	if (i == n)
		i = n - 1;
	memmove(&qc->recent[1], &qc->recent[0], i * sizeof(*src));
	qc->recent[0] = *src;
}

/* Rate-limits the lines of one source and quota; weight is how many
 * like actions the line stands for. */
static void log_due(const px_quota_t *q, struct source *s, int k,
		    px_quota_action_t *act, uint64_t now, uint64_t weight)
{
	if (px_every(&s->log[k], now, q->c.log_every_ms, weight,
		     &act->suppressed))
		act->log = true;
}

static bool observing(const px_quota_t *q, int k)
{
	return q->policy->limits.mode[limit_ids[k]] == PX_MODE_OBSERVE;
}

static void unblock(px_quota_t *q, struct source *s, px_quota_actions_t *a,
		    bool observe)
{
	px_quota_action_t *act = push_action(a, PX_QA_UNBLOCK, PX_Q_HALF_OPEN,
					     s);

	act->apply = !observe;
	act->observe = observe;
	act->log = s->logged;
	s->logged = false;
	if (observe) {
		s->would = false;
	} else {
		s->blocked = false;
		q->st.q[PX_Q_HALF_OPEN].active--;
	}
}

static void decide_half_open(px_quota_t *q, struct source *s, uint64_t now,
			     px_quota_actions_t *a)
{
	px_quota_count_t *qc = &q->st.q[PX_Q_HALF_OPEN];
	bool observe = observing(q, PX_Q_HALF_OPEN);
	px_quota_action_t *act;

	if (s->n[PX_Q_HALF_OPEN] <= s->limit[PX_Q_HALF_OPEN]) {
		if (s->blocked)
			unblock(q, s, a, false);
		if (s->would)
			unblock(q, s, a, true);
		over_unlink(q, s);
		return;
	}
	over_link(q, s);
	if (observe && s->blocked)
		unblock(q, s, a, false); /* the quota went to observe mode */
	if (!observe && s->would)
		unblock(q, s, a, true);
	if ((observe && s->would) || (!observe && s->blocked))
		return;
	act = push_action(a, PX_QA_BLOCK, PX_Q_HALF_OPEN, s);
	act->apply = !observe;
	act->observe = observe;
	if (observe) {
		s->would = true;
		qc->would_block++;
	} else {
		s->blocked = true;
		s->refresh_at = now + q->c.refresh_ms;
		qc->blocked++;
		qc->active++;
	}
	remember(qc, &s->key);
	log_due(q, s, PX_Q_HALF_OPEN, act, now, 1);
	s->logged = act->log;
}

static void decide_udp(px_quota_t *q, struct source *s, uint64_t now,
		       px_quota_actions_t *a)
{
	px_quota_count_t *qc = &q->st.q[PX_Q_UDP];
	bool observe = observing(q, PX_Q_UDP);
	px_quota_action_t *act;
	uint64_t k, i;

	if (s->n[PX_Q_UDP] <= s->limit[PX_Q_UDP])
		return;
	k = s->n[PX_Q_UDP] - s->limit[PX_Q_UDP];
	act = push_action(a, PX_QA_EVICT, PX_Q_UDP, s);
	act->apply = !observe;
	act->observe = observe;
	act->n = (size_t)k;
	for (i = 0; i < k; i++) {
		struct conn *c = s->head[PX_Q_UDP];

		conn_unlist(q, c);
		if (observe)
			continue; /* a ghost until the kernel ends it */
		push_session(a, &c->t);
		conn_unhash(q, c);
		free(c);
	}
	if (observe)
		qc->would_block += k;
	else
		qc->blocked += k;
	remember(qc, &s->key);
	log_due(q, s, PX_Q_UDP, act, now, k);
}

void px_quota_decide(px_quota_t *q, uint64_t now, px_quota_actions_t *a)
{
	struct source *s, *next;

	for (s = q->dirty; s; s = next) {
		next = s->dirty_next;
		s->dirty = false;
		s->dirty_next = NULL;
		source_limits(q, s);
		decide_half_open(q, s, now, a);
		decide_udp(q, s, now, a);
		if (!s->n[PX_Q_HALF_OPEN] && !s->n[PX_Q_UDP] && !s->in_over)
			source_free(q, s);
	}
	q->dirty = NULL;
	for (s = q->over; s; s = s->over_next) {
		px_quota_action_t *act;

		if (s->blocked && now >= s->refresh_at) {
			act = push_action(a, PX_QA_BLOCK, PX_Q_HALF_OPEN, s);
			act->apply = act->refresh = true;
			s->refresh_at = now + q->c.refresh_ms;
		}
		/* A block whose line was held back is reported once lines
		 * are due again, so the log ends on the true state. */
		if (!s->logged && px_every_due(&s->log[PX_Q_HALF_OPEN], now)) {
			act = push_action(a, PX_QA_BLOCK, PX_Q_HALF_OPEN, s);
			act->observe = s->would;
			log_due(q, s, PX_Q_HALF_OPEN, act, now, 0);
			s->logged = true;
		}
	}
}

void px_quota_unblock_all(px_quota_t *q, px_quota_actions_t *a)
{
	while (q->over) {
		struct source *s = q->over;

		if (s->blocked)
			unblock(q, s, a, false);
		s->would = false;
		over_unlink(q, s);
		mark_dirty(q, s);
	}
}

/* ---- policy, exemptions, resync ---- */

bool px_quota_set_policy(px_quota_t *q, const px_policy_t *p)
{
	px_policy_t copy;

	px_policy_copy(&copy, p);
	px_policy_free(&q->own);
	q->own = copy;
	return px_quota_use_policy(q, &q->own);
}

bool px_quota_use_policy(px_quota_t *q, const px_policy_t *p)
{
	uint64_t plen = p->limits.value[PX_LIM_IPV6_PREFIX];
	bool udp_observe = p->limits.mode[PX_LIM_UDP_CONCURRENT] ==
			   PX_MODE_OBSERVE;
	bool resync;

	if (plen == 0 || plen > 128)
		plen = 128;
	resync = plen != q->v6_plen || (q->udp_observe && !udp_observe);
	if (p != &q->own) {
		px_policy_free(&q->own);
		px_policy_init(&q->own);
	}
	q->policy = p;
	q->v6_plen = (unsigned)plen;
	q->udp_observe = udp_observe;
	px_quota_policy_changed(q);
	return resync;
}

void px_quota_policy_changed(px_quota_t *q)
{
	q->gen++;
	mark_all_dirty(q);
}

static void set_list(px_entries_t *dst, const px_entries_t *src)
{
	px_entries_free(dst);
	if (src)
		px_entries_copy(dst, src);
	else
		px_entries_init(dst);
}

void px_quota_set_mgmt(px_quota_t *q, const px_entries_t *mgmt)
{
	set_list(&q->mgmt, mgmt);
}

void px_quota_set_local(px_quota_t *q, const px_entries_t *local)
{
	set_list(&q->local, local);
}

struct order {
	uint64_t born;
	size_t i;
	bool ghost;
};

static int order_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->born != y->born)
		return x->born < y->born ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static void drop_all_conns(px_quota_t *q)
{
	struct source *s;
	size_t b;

	for (b = 0; b <= q->cmask; b++) {
		while (q->cb[b]) {
			struct conn *c = q->cb[b];

			q->cb[b] = c->hnext;
			free(c);
		}
	}
	q->nconns = 0;
	q->nhalf = 0;
	for (s = q->lru_head; s; s = s->lru_next) {
		memset(s->head, 0, sizeof(s->head));
		memset(s->tail, 0, sizeof(s->tail));
		memset(s->n, 0, sizeof(s->n));
	}
}

void px_quota_resync(px_quota_t *q, px_ct_t *v, size_t n)
{
	struct order *o = xmalloc((n ? n : 1) * sizeof(*o));
	bool observe = observing(q, PX_Q_UDP);
	size_t i;

	for (i = 0; i < n; i++) {
		const struct conn *c = conn_find(q, &v[i].t);

		o[i].born = c ? c->born : v[i].born;
		o[i].i = i;
		o[i].ghost = c && !c->src;
	}
	qsort(o, n, sizeof(*o), order_cmp);
	drop_all_conns(q);
	for (i = 0; i < n; i++) {
		px_ct_t *ct = &v[o[i].i];
		struct conn *c = NULL;

		ct->born = o[i].born;
		if (ct->t.family != 4 && ct->t.family != 6)
			continue;
		if (ct->t.proto == 6 && half_open(ct->tcp_state))
			c = conn_add(q, ct, PX_Q_HALF_OPEN);
		else if (ct->t.proto == 17)
			c = conn_add(q, ct, PX_Q_UDP);
		/* Observe mode counted these already: ghosts again, not
		 * counted twice.  In enforce mode they are ended for real. */
		if (c && o[i].ghost && observe)
			conn_unlist(q, c);
	}
	free(o);
	mark_all_dirty(q);
}

/* ---- life cycle, stats ---- */

px_quota_t *px_quota_new(const px_quota_conf_t *conf)
{
	px_quota_t *q = xcalloc(1, sizeof(*q));

	if (conf)
		q->c = *conf;
	if (!q->c.max_sources)
		q->c.max_sources = DEF_MAX_SOURCES;
	if (!q->c.max_conns)
		q->c.max_conns = DEF_MAX_CONNS;
	if (!q->c.block_ms)
		q->c.block_ms = DEF_BLOCK_MS;
	if (!q->c.refresh_ms)
		q->c.refresh_ms = DEF_REFRESH_MS;
	if (!q->c.log_every_ms)
		q->c.log_every_ms = DEF_LOG_EVERY_MS;
	if (getrandom(&q->seed, sizeof(q->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(q->seed))
		q->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
	q->smask = pow2_at_least(q->c.max_sources) - 1;
	q->sb = xcalloc(q->smask + 1, sizeof(*q->sb));
	q->cmask = pow2_at_least(q->c.max_conns) - 1;
	q->cb = xcalloc(q->cmask + 1, sizeof(*q->cb));
	px_policy_init(&q->own);
	q->policy = &q->own;
	q->v6_plen = (unsigned)q->own.limits.value[PX_LIM_IPV6_PREFIX];
	q->udp_observe = q->own.limits.mode[PX_LIM_UDP_CONCURRENT] ==
			 PX_MODE_OBSERVE;
	q->gen = 1;
	px_entries_init(&q->mgmt);
	px_entries_init(&q->local);
	return q;
}

void px_quota_free(px_quota_t *q)
{
	if (!q)
		return;
	drop_all_conns(q);
	while (q->lru_head) {
		struct source *s = q->lru_head;

		q->lru_head = s->lru_next;
		free(s);
	}
	free(q->sb);
	free(q->cb);
	px_policy_free(&q->own);
	px_entries_free(&q->mgmt);
	px_entries_free(&q->local);
	free(q);
}

void px_quota_stats(const px_quota_t *q, px_quota_stats_t *out)
{
	*out = q->st;
	out->sources = q->nsources;
	out->conns = q->nconns;
	out->half_open = q->nhalf;
}

size_t px_quota_top_half_open(const px_quota_t *q, px_entry_t *out,
			      uint32_t *count, size_t k)
{
	size_t n = 0;

	for (const struct source *s = q->lru_head; s && k; s = s->lru_next) {
		uint32_t c = s->n[PX_Q_HALF_OPEN];
		size_t i;

		if (!c || (n == k && c <= count[n - 1]))
			continue;
		/* insertion into out[0..n), highest first */
		i = n < k ? n++ : n - 1;
		while (i > 0 && count[i - 1] < c) {
			out[i] = out[i - 1];
			count[i] = count[i - 1];
			i--;
		}
		out[i] = s->key;
		count[i] = c;
	}
	return n;
}
