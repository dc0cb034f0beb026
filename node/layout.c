/* layout.c - the table layout model (layout.h): from a policy, the
 * kernel sets, named objects and chains of the member's table, as plain
 * structs.  No netlink here: compile.c encodes what this describes and
 * nft.c sends it.  docs/nft-layout.md is the contract. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "layout.h"
#include "px.h"

/* nftables' datatype ids TYPE_IPADDR and TYPE_IP6ADDR: nft reads them to
 * print the elements. */
#define KEYTYPE_IPV4 7
#define KEYTYPE_IPV6 8

/* nftables' datatype ids (src/datatype.h) for `nft list'; a concatenated
 * type is (first << 6) | second. */
#define KEYTYPE_STRING 5
#define KEYTYPE_INET_SERVICE 13
#define KEYTYPE_CONCAT_BITS 6

/* Meters and observe sets forget a source a minute after its last
 * counted packet: the quotas are per minute. */
#define MINUTE_MS 60000

/* The watcher gives each halfopen_block element its own timeout (10 s,
 * renewed while the source stays over); the set's default only bounds an
 * element added without one. */
#define HALFOPEN_TIMEOUT_MS 60000

const px_kind_t px_kinds[PX_KIND_COUNT] = {
	[PX_KIND_V4] = { PX_KSET_HOSTS4, 0, 4, KEYTYPE_IPV4, 4, 0, false },
	[PX_KIND_N4] = { PX_KSET_PREFIXES4, 1, 4, KEYTYPE_IPV4, 4,
			 NFT_SET_INTERVAL, true },
	[PX_KIND_V6] = { PX_KSET_HOSTS6, 0, 6, KEYTYPE_IPV6, 16, 0, false },
	[PX_KIND_N6] = { PX_KSET_PREFIXES6, 1, 6, KEYTYPE_IPV6, 16,
			 NFT_SET_INTERVAL, true },
};

const char px_http_methods[][4] = {
	{ 'G', 'E', 'T', ' ' }, { 'P', 'O', 'S', 'T' },
	{ 'H', 'E', 'A', 'D' }, { 'P', 'U', 'T', ' ' },
	{ 'D', 'E', 'L', 'E' }, { 'O', 'P', 'T', 'I' },
	{ 'P', 'A', 'T', 'C' }, { 'C', 'O', 'N', 'N' },
};
const size_t px_nhttp_methods = 8;

const px_quota_rule_t px_quota_rules[] = {
	{ PX_LIM_TCP_CONNECT_RATE, PX_METER_CONN_RATE, PX_TRIG_ASSURED, false,
	  PX_SET_TCP_BLOCK, PX_VERDICT_NONE, NULL },
	{ PX_LIM_TCP_CONCURRENT, PX_METER_CONN, PX_TRIG_NEW, true, NULL,
	  PX_VERDICT_RESET, PX_SET_CONN_OVER },
	{ PX_LIM_HTTP_REQUEST_RATE, PX_METER_HTTP_RATE, PX_TRIG_HTTP, false,
	  PX_SET_HTTP_BLOCK, NF_DROP, NULL },
};
const size_t px_nquota_rules =
	sizeof(px_quota_rules) / sizeof(px_quota_rules[0]);

const px_block_set_t px_block_sets[] = {
	{ PX_SET_TCP_BLOCK, PX_LIM_TCP_CONNECT_RATE, true },
	{ PX_SET_HALFOPEN_BLOCK, PX_LIM_TCP_HALF_OPEN, false },
	{ PX_SET_HTTP_BLOCK, PX_LIM_HTTP_REQUEST_RATE, true },
};
const size_t px_nblock_sets =
	sizeof(px_block_sets) / sizeof(px_block_sets[0]);

/* First index of s whose (prefix, family) is not below the given pair. */
static size_t lower_bound(const px_entries_t *s, uint8_t prefix,
			  uint8_t family)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const px_entry_t *e = &s->v[mid];

		if (e->prefix < prefix ||
		    (e->prefix == prefix && e->family < family))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Entries sort by prefix flag, then family (addr.h). */
void px_kind_span(const px_entries_t *s, int k, size_t *first, size_t *end)
{
	*first = lower_bound(s, px_kinds[k].prefix, px_kinds[k].family);
	*end = lower_bound(s, px_kinds[k].prefix, px_kinds[k].family + 1);
}

void px_count_kinds(const px_entries_t *s, size_t out[PX_KIND_COUNT])
{
	size_t first, end;

	for (int k = 0; k < PX_KIND_COUNT; k++) {
		out[k] = 0;
		if (!s)
			continue;
		px_kind_span(s, k, &first, &end);
		out[k] = end - first;
	}
}

void px_kset_name(char *buf, const char *set, int k)
{
	snprintf(buf, PX_KSET_NAME_MAX + 1, "%s%s", set, px_kinds[k].suffix);
}

uint32_t px_kset_capacity(int k, size_t n)
{
	uint64_t cap;

	if (px_kinds[k].interval || n < PX_KSET_SIZED_MIN)
		return 0;
	cap = (uint64_t)n + n / 2;
	cap = (cap + PX_KSET_SIZE_STEP - 1) / PX_KSET_SIZE_STEP *
	      PX_KSET_SIZE_STEP;
	return cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
}

bool px_addr_next(uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++a[i] != 0)
			return true;
	return false;
}

/* Quotas whose observe mode the kernel records in obs_<quota>4/6. */
static const px_limit_id_t observed[] = {
	PX_LIM_TCP_CONNECT_RATE, PX_LIM_TCP_CONCURRENT,
	PX_LIM_HTTP_REQUEST_RATE, PX_LIM_NONTCP_SESSION_RATE,
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

void px_layout_free(px_layout_t *l)
{
	free(l->sets);
	free(l->objs);
	free(l->tiers);
	free(l->chains);
	free(l->order);
	free(l->tier_of);
	memset(l, 0, sizeof(*l));
}

static px_lset_t *lset_push(px_layout_t *l, int family,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A set keyed by a source address of family (4, 6); 0 for other keys. */
static px_lset_t *lset_push(px_layout_t *l, int family,
			    const char *fmt, ...)
{
	px_lset_t *s = &l->sets[l->nsets++];
	va_list ap;

	memset(s, 0, sizeof(*s));
	va_start(ap, fmt);
	vsnprintf(s->name, sizeof(s->name), fmt, ap);
	va_end(ap);
	if (family) {
		s->key_type = family == 4 ? KEYTYPE_IPV4 : KEYTYPE_IPV6;
		s->key_len = family == 4 ? 4 : 16;
	}
	return s;
}

/* A dynamic source set: IPv6 keys are masked to the source prefix. */
static void dyn_set(px_layout_t *l, int family, uint64_t timeout_ms,
		    uint64_t value, const char *prefix, const char *suffix)
{
	px_lset_t *s = lset_push(l, family, "%s%s%d", prefix, suffix,
				 family);

	s->flags = NFT_SET_EVAL | (timeout_ms ? NFT_SET_TIMEOUT : 0);
	s->timeout_ms = timeout_ms;
	s->value = value;
	s->mask = family == 6 ? l->v6bits : 0;
}

static void lobj_push(px_layout_t *l, uint32_t type, uint64_t rate,
		      const char *prefix, const char *name)
{
	px_lobj_t *o = &l->objs[l->nobjs];

	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s%s", prefix, name);
	for (size_t i = 0; i < l->nobjs; i++)
		if (l->objs[i].type == type &&
		    strcmp(l->objs[i].name, o->name) == 0)
			return; /* two rules of one name share it */
	o->type = type;
	o->rate = rate;
	l->nobjs++;
}

bool px_rule_nontcp_limited(const px_rule_t *r)
{
	return r->action == PX_ALLOW && r->proto != PX_PROTO_TCP;
}

static uint64_t rule_rate(const px_policy_t *p, const px_rule_t *r)
{
	return r->rate ? r->rate : p->limits.value[PX_LIM_NONTCP_SESSION_RATE];
}

/* Intrusion detection's sets (docs/protection.md): the block sets
 * always (the store may send blocks another member raised), the land
 * check while land-attack is on, a count per source for each detection
 * that blocks after more than one packet. */
static void ids_sets(px_layout_t *l)
{
	const px_ids_t *ids = l->p->protect.ids;

	for (int f = 4; f <= 6; f += 2) {
		px_lset_t *s = lset_push(l, f, "%s%d", PX_SET_IDS_BLOCK, f);

		/* No timeout of its own: each element has its block's. */
		s->flags = NFT_SET_EVAL | NFT_SET_TIMEOUT;
	}
	if (!ids[PX_IDS_PING_OF_DEATH].off) {
		px_lset_t *s = lset_push(l, 0, "%s", PX_SET_IDS_POD);

		s->flags = NFT_SET_INTERVAL | NFT_SET_CONCAT;
		s->key_type = KEYTYPE_INET_SERVICE << KEYTYPE_CONCAT_BITS |
			      KEYTYPE_INET_SERVICE;
		s->key_len = 8; /* each 16-bit field in a 32-bit register */
		s->pod = true;
	}
	if (!ids[PX_IDS_LAND_ATTACK].off)
		for (int f = 4; f <= 6; f += 2) {
			px_lset_t *s = lset_push(l, 0, "%s%d", PX_SET_IDS_LAND,
						 f);
			uint32_t a = f == 4 ? KEYTYPE_IPV4 : KEYTYPE_IPV6;

			s->flags = NFT_SET_EVAL | NFT_SET_TIMEOUT;
			s->key_type = (((a << KEYTYPE_CONCAT_BITS |
					 KEYTYPE_INET_SERVICE) <<
					KEYTYPE_CONCAT_BITS | a) <<
				       KEYTYPE_CONCAT_BITS) |
				      KEYTYPE_INET_SERVICE;
			/* Each port takes a whole 32-bit register. */
			s->key_len = 2 * ((f == 4 ? 4 : 16) + 4);
			s->timeout_ms = PX_IDS_LAND_MS;
		}
	if (!ids[PX_IDS_PORT_SCAN].off)
		for (int f = 4; f <= 6; f += 2) {
			uint64_t w = (uint64_t)px_ids_window(PX_IDS_PORT_SCAN,
				&ids[PX_IDS_PORT_SCAN]) * 1000;
			px_lset_t *s = lset_push(l, 0, "%s%d", PX_SET_IDS_PORTS,
						 f);

			uint32_t a = f == 4 ? KEYTYPE_IPV4 : KEYTYPE_IPV6;
			uint32_t alen = f == 4 ? 4 : 16;

			/* saddr . daddr . dport seen in the window */
			s->flags = NFT_SET_EVAL | NFT_SET_TIMEOUT;
			s->key_type = ((a << KEYTYPE_CONCAT_BITS) | a) <<
				      KEYTYPE_CONCAT_BITS | KEYTYPE_INET_SERVICE;
			s->key_len = 2 * alen + 4;
			s->timeout_ms = w;
			/* distinct ports per source and destination: the
			 * meter, keyed saddr . daddr */
			s = lset_push(l, 0, "%s%s%d", PX_SET_IDS_METER,
				      px_ids_defs[PX_IDS_PORT_SCAN].name, f);
			s->key_type = (a << KEYTYPE_CONCAT_BITS) | a;
			s->key_len = 2 * alen;
			s->flags = NFT_SET_EVAL | NFT_SET_TIMEOUT;
			s->timeout_ms = w;
			s->value = px_ids_threshold(PX_IDS_PORT_SCAN,
						    &ids[PX_IDS_PORT_SCAN]);
		}
	for (int id = 0; id < PX_IDS_COUNT; id++) {
		if (!px_ids_meter(&ids[id], id))
			continue;
		for (int f = 4; f <= 6; f += 2) {
			px_lset_t *s = lset_push(l, f, "%s%s%d",
						 PX_SET_IDS_METER,
						 px_ids_defs[id].name, f);

			s->flags = NFT_SET_EVAL | NFT_SET_TIMEOUT;
			s->timeout_ms = (uint64_t)px_ids_window(id, &ids[id]) *
					1000;
			s->value = px_ids_threshold(id, &ids[id]);
		}
	}
}

bool px_ids_meter(const px_ids_t *s, int id)
{
	/* syn-attack is the watcher's count, not a kernel rule's. */
	return !s->off && px_ids_defs[id].built && id != PX_IDS_SYN_ATTACK &&
	       !px_ids_defs[id].kernel_counted && s->block_s &&
	       px_ids_threshold(id, s) > 1;
}

/* The layer of policy p.  PX_ENOSET if a rule or service names a set
 * the policy does not have, PX_ERANGE on a source prefix out of range:
 * the kernel would refuse the batch anyway, this says why. */
int px_layout_build(const px_policy_t *p, bool pressure,
		    px_layout_t *l)
{
	const px_limits_t *lim = &p->limits;
	const px_set_t *fe = px_policy_find(p, PX_SET_FLOOD_EXCEPTIONS);
	size_t n = 0;
	int rc = -1;

	memset(l, 0, sizeof(*l));
	l->p = p;
	l->v6bits = (unsigned)lim->value[PX_LIM_IPV6_PREFIX];
	if (l->v6bits < 1 || l->v6bits > 128) {
		px_log(PX_LOG_ERR, "nft: ipv6-source-prefix %u out of range",
		       l->v6bits);
		rc = PX_ERANGE;
		goto out;
	}
	l->order = xcalloc(p->nsets + 1, sizeof(*l->order));
	l->tier_of = xcalloc(p->nsets + 1, sizeof(*l->tier_of));
	l->tiers = xcalloc(p->nsets + 1, sizeof(*l->tiers));
	/* guard, pressure, tiers, spoof, rpf, net_N, spoof_out, dst_N */
	l->chains = xcalloc(p->nsets + 6 + 2 * p->protect.nnetworks,
			    sizeof(*l->chains));
	l->sets = xcalloc(17 + 9 + 2 * PX_IDS_COUNT + 2 * px_nblock_sets +
			  2 * COUNT_OF(observed) + 2 * px_nquota_rules +
			  2 * px_nquota_rules * (p->nsets + 1) +
			  p->nservices, sizeof(*l->sets));
	l->objs = xcalloc(2 * PX_LIM_COUNT + p->nservices + 2 * p->nrules,
			  sizeof(*l->objs));

	/* Tiers: a source's tier is the first set holding it (as
	 * px_policy_tier_of() decides for the watcher); a set without a
	 * value of its own for any kernel quota dispatches to dflt, and
	 * sets after the last one with values need no dispatch at all. */
	if (fe)
		l->order[n++] = fe;
	for (size_t i = 0; i < p->nsets; i++)
		if (&p->sets[i] != fe)
			l->order[n++] = &p->sets[i];
	snprintf(l->tiers[0].name, PX_TIER_LEN, "%s", PX_TIER_DEFAULT);
	memcpy(l->tiers[0].value, lim->value, sizeof(lim->value));
	l->ntiers = 1;
	for (size_t i = 0; i < n; i++) {
		px_ltier_t *t = &l->tiers[l->ntiers];
		bool custom = false;

		memcpy(t->value, lim->value, sizeof(lim->value));
		for (size_t q = 0; q < px_nquota_rules; q++) {
			int id = px_quota_rules[q].id;
			uint64_t v = px_limits_tier(lim, id, l->order[i]->name);

			if (v) {
				t->value[id] = v;
				custom = true;
			}
		}
		if (!custom)
			continue;
		snprintf(t->name, PX_TIER_LEN, "%s%s", PX_TIER_SET,
			 l->order[i]->name);
		l->tier_of[i] = l->ntiers++;
		l->ndisp = i + 1;
	}
	snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN, "%s",
		 PX_CHAIN_GUARD);
	l->pressure = pressure;
	if (pressure)
		snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN, "%s",
			 PX_CHAIN_PRESSURE);
	for (size_t t = 0; t < l->ntiers; t++)
		snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN, "%s%s",
			 PX_CHAIN_TIER,
			 l->tiers[t].name);
	/* Spoof detection once a network exists (docs/protection.md). */
	l->spoof = p->protect.nnetworks > 0;
	if (l->spoof) {
		snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN, "%s",
			 PX_CHAIN_SPOOF);
		snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN, "%s",
			 PX_CHAIN_RPF);
		for (size_t i = 0; i < p->protect.nnetworks; i++)
			snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN,
				 "%s%s", PX_CHAIN_NET,
				 p->protect.networks[i].name);
		snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN, "%s",
			 PX_CHAIN_SPOOF_OUT);
		for (size_t i = 0; i < p->protect.nnetworks; i++)
			snprintf(l->chains[l->nchains++], PX_NFT_NAME_LEN,
				 "%s%s", PX_CHAIN_DST,
				 p->protect.networks[i].name);
	}

	/* Sets. */
	for (int f = 4; f <= 6; f += 2) {
		px_lset_t *s = lset_push(l, f, "%s%d", PX_SET_MGMT, f);

		s->flags = NFT_SET_INTERVAL;
		s->mgmt = true;
	}
	{
		px_lset_t *s = lset_push(l, 0, "%s", PX_SET_HTTP_METHODS);

		s->flags = NFT_SET_CONSTANT;
		s->key_type = KEYTYPE_STRING;
		s->key_len = sizeof(px_http_methods[0]);
		s->methods = true;
	}
	if (p->protect.csx.n) {
		/* Wildcards are ranges: a concatenated interval set. */
		px_lset_t *s = lset_push(l, 0, "%s", PX_SET_CSX);

		s->flags = NFT_SET_INTERVAL | NFT_SET_CONCAT;
		s->key_type = (((KEYTYPE_IPV4 << KEYTYPE_CONCAT_BITS |
				 KEYTYPE_INET_SERVICE) << KEYTYPE_CONCAT_BITS |
				KEYTYPE_IPV4) << KEYTYPE_CONCAT_BITS) |
			      KEYTYPE_INET_SERVICE;
		s->key_len = PX_CSX_KEY_LEN;
		s->value = px_csx_hash(&p->protect.csx);
		s->csx = true;
	}
	for (size_t i = 0; i < px_nblock_sets; i++)
		for (int f = 4; f <= 6; f += 2)
			dyn_set(l, f, px_block_sets[i].block_time ?
				lim->value[PX_LIM_BLOCK_TIME] * 1000 :
				HALFOPEN_TIMEOUT_MS, 0, px_block_sets[i].name, "");
	ids_sets(l);
	for (size_t t = 0; t < l->ntiers; t++) {
		char pfx[PX_NFT_NAME_LEN];

		snprintf(pfx, sizeof(pfx), "%s_", l->tiers[t].name);
		for (size_t q = 0; q < px_nquota_rules; q++)
			for (int f = 4; f <= 6; f += 2)
				dyn_set(l, f, px_quota_rules[q].ct_count ? 0 :
					MINUTE_MS,
					l->tiers[t].value[px_quota_rules[q].id],
					pfx, px_quota_rules[q].meter);
	}
	for (size_t i = 0; i < COUNT_OF(observed); i++)
		for (int f = 4; f <= 6; f += 2)
			dyn_set(l, f, MINUTE_MS, 0, PX_SET_OBS,
				px_limit_defs[observed[i]].name);
	for (size_t q = 0; q < px_nquota_rules; q++)
		for (int f = 4; f <= 6 && px_quota_rules[q].note; f += 2)
			dyn_set(l, f, MINUTE_MS, 0, px_quota_rules[q].note, "");
	for (size_t i = 0; i < p->nservices; i++) {
		const px_service_t *sv = &p->services[i];
		px_lset_t *s;

		if (sv->dst.family != 4 && sv->dst.family != 6) {
			rc = PX_EBADADDR;
			goto out;
		}
		if (sv->exempt_set[0] && !px_policy_find(p, sv->exempt_set)) {
			px_log(PX_LOG_ERR, "nft: service %s: no set %s",
			       sv->name, sv->exempt_set);
			rc = PX_ENOSET;
			goto out;
		}
		s = lset_push(l, 0, "%s%s", PX_SET_SERVICE, sv->name);
		s->flags = NFT_SET_EVAL;
		s->key_type = ((sv->dst.family == 4 ? KEYTYPE_IPV4 :
				KEYTYPE_IPV6) << KEYTYPE_CONCAT_BITS) |
			      KEYTYPE_INET_SERVICE;
		/* The port takes a whole 32-bit register. */
		s->key_len = (sv->dst.family == 4 ? 4 : 16) + 4;
		s->value = sv->limit;
	}

	/* Named objects. */
	for (int id = 0; id < PX_LIM_COUNT; id++) {
		if (px_limit_defs[id].setting)
			continue;
		lobj_push(l, NFT_OBJECT_COUNTER, 0, PX_CTR_BLOCKED,
			  px_limit_defs[id].name);
		lobj_push(l, NFT_OBJECT_COUNTER, 0, PX_CTR_WOULD,
			  px_limit_defs[id].name);
	}
	for (size_t i = 0; i < p->nservices; i++)
		lobj_push(l, NFT_OBJECT_COUNTER, 0, PX_CTR_SERVICE,
			  p->services[i].name);
	for (size_t i = 0; i < p->nrules; i++) {
		const px_rule_t *r = &p->rules[i];

		if (r->src_set[0] && !px_policy_find(p, r->src_set)) {
			px_log(PX_LOG_ERR, "nft: rule %s: no set %s", r->name,
			       r->src_set);
			rc = PX_ENOSET;
			goto out;
		}
		if (r->has_dst && r->dst.family != 4 && r->dst.family != 6) {
			rc = PX_EBADADDR;
			goto out;
		}
		lobj_push(l, NFT_OBJECT_COUNTER, 0, PX_CTR_RULE, r->name);
		if (px_rule_nontcp_limited(r))
			lobj_push(l, NFT_OBJECT_LIMIT, rule_rate(p, r), PX_CTR_RULE,
				  r->name);
	}
	rc = 0;
out:
	if (rc < 0)
		px_layout_free(l);
	return rc;
}

/* Elements of a set stay valid only while everything they were made
 * with is the same: the timeout, the limit in their expression, the
 * IPv6 prefix of their keys. */
bool px_lset_same(const px_lset_t *a, const px_lset_t *b)
{
	return strcmp(a->name, b->name) == 0 && a->flags == b->flags &&
	       a->key_type == b->key_type && a->key_len == b->key_len &&
	       a->timeout_ms == b->timeout_ms && a->value == b->value &&
	       a->mask == b->mask && a->methods == b->methods &&
	       a->mgmt == b->mgmt && a->csx == b->csx && a->pod == b->pod;
}

void px_ids_pod_range(size_t i, uint16_t *len_lo, uint16_t *len_hi,
		      uint16_t *off_lo)
{
	/* Class k from 3 (offset 8191 ends past 65,535 from length 8*3+4
	 * on); the last element takes every longer length. */
	unsigned k = (unsigned)i + 3;

	if (i + 1 == PX_IDS_POD_RANGES) {
		*len_lo = 8 * k + 4;
		*len_hi = 65535;
		*off_lo = 3;
		return;
	}
	*len_lo = (uint16_t)(8 * k + 4);
	*len_hi = (uint16_t)(8 * k + 11);
	*off_lo = (uint16_t)(8194 - k);
}

bool px_layout_has_set(const px_layout_t *l, const px_lset_t *s)
{
	for (size_t i = 0; i < l->nsets; i++)
		if (px_lset_same(&l->sets[i], s))
			return true;
	return false;
}

bool px_layout_has_obj(const px_layout_t *l, const px_lobj_t *o)
{
	for (size_t i = 0; i < l->nobjs; i++)
		if (strcmp(l->objs[i].name, o->name) == 0 &&
		    l->objs[i].type == o->type && l->objs[i].rate == o->rate)
			return true;
	return false;
}

bool px_layout_has_chain(const px_layout_t *l, const char *name)
{
	for (size_t i = 0; i < l->nchains; i++)
		if (strcmp(l->chains[i], name) == 0)
			return true;
	return false;
}


void px_layout_bind(px_layout_t *l, const px_ifaddrs_t *ifs)
{
	const px_protect_t *pr = &l->p->protect;

	l->nbinds = 0;
	for (size_t i = 0; ifs && i < ifs->n && i < PX_IFADDRS_MAX; i++) {
		const px_network_t *n;
		bool seen = false;

		if (strcmp(ifs->v[i].name, "lo") == 0)
			continue;
		for (size_t j = 0; j < l->nbinds; j++)
			seen |= strcmp(l->binds[j].name, ifs->v[i].name) == 0;
		if (seen)
			continue;
		n = px_protect_network_of(pr, ifs->v[i].addr.family,
					  ifs->v[i].addr.addr);
		if (!n)
			continue;
		memcpy(l->binds[l->nbinds].name, ifs->v[i].name, PX_IFNAME_LEN);
		l->binds[l->nbinds].name[PX_IFNAME_LEN - 1] = '\0';
		l->binds[l->nbinds].net = (size_t)(n - pr->networks);
		l->nbinds++;
	}
}
