/* policy.c - the policy value: sets and limits at one version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "px.h"

#define FLOOD_EXCEPTIONS "flood-exceptions"

void px_policy_init(px_policy_t *p)
{
	memset(p, 0, sizeof(*p));
	px_limits_init(&p->limits);
	px_policy_add_set(p, FLOOD_EXCEPTIONS);
}

void px_policy_free(px_policy_t *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nsets; i++) {
		px_entries_free(&p->sets[i].entries);
		px_entries_free(&p->sets[i].padd);
		px_entries_free(&p->sets[i].pdel);
	}
	free(p->sets);
	free(p->rules);
	free(p->services);
	px_limits_free(&p->limits);
	memset(p, 0, sizeof(*p));
}

void px_policy_copy(px_policy_t *dst, const px_policy_t *src)
{
	size_t i;

	*dst = *src;
	dst->sets = xcalloc(src->nsets, sizeof(*src->sets));
	for (i = 0; i < src->nsets; i++) {
		memcpy(dst->sets[i].name, src->sets[i].name,
		       sizeof(src->sets[i].name));
		px_entries_copy(&dst->sets[i].entries, &src->sets[i].entries);
		px_entries_copy(&dst->sets[i].padd, &src->sets[i].padd);
		px_entries_copy(&dst->sets[i].pdel, &src->sets[i].pdel);
	}
	px_limits_copy(&dst->limits, &src->limits);
	dst->rules = xmalloc(src->nrules * sizeof(*src->rules));
	if (src->nrules)
		memcpy(dst->rules, src->rules, src->nrules * sizeof(*src->rules));
	dst->services = xmalloc(src->nservices * sizeof(*src->services));
	if (src->nservices)
		memcpy(dst->services, src->services,
		       src->nservices * sizeof(*src->services));
}

static int set_cmp(const void *a, const void *b)
{
	return strcmp(((const px_set_t *)a)->name, ((const px_set_t *)b)->name);
}

px_set_t *px_policy_find(const px_policy_t *p, const char *name)
{
	px_set_t key;

	if (strlen(name) > PX_SETNAME_MAX || p->nsets == 0)
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, p->sets, p->nsets, sizeof(*p->sets), set_cmp);
}

px_set_t *px_policy_add_set(px_policy_t *p, const char *name)
{
	px_set_t *s = px_policy_find(p, name);

	if (s)
		return s;
	p->sets = xrealloc(p->sets, (p->nsets + 1) * sizeof(*p->sets));
	s = &p->sets[p->nsets++];
	memset(s, 0, sizeof(*s));
	strncpy(s->name, name, PX_SETNAME_MAX);
	px_entries_init(&s->entries);
	qsort(p->sets, p->nsets, sizeof(*p->sets), set_cmp);
	return px_policy_find(p, name);
}

void px_policy_del_set(px_policy_t *p, const char *name)
{
	px_set_t *s = px_policy_find(p, name);
	size_t i;

	if (!s)
		return;
	i = (size_t)(s - p->sets);
	px_entries_free(&s->entries);
	px_entries_free(&s->padd);
	px_entries_free(&s->pdel);
	memmove(&p->sets[i], &p->sets[i + 1],
		(p->nsets - i - 1) * sizeof(*p->sets));
	p->nsets--;
	px_limits_drop_set(&p->limits, name);
}

int px_inspect_parse(const char *s)
{
	if (!s || !s[0])
		return PX_INSPECT_NONE;
	if (strcmp(s, "dns") == 0)
		return PX_INSPECT_DNS;
	if (strcmp(s, "pop3") == 0)
		return PX_INSPECT_POP3;
	return PX_EBADREQ;
}

const char *px_inspect_name(int inspect)
{
	return inspect == PX_INSPECT_DNS ? "dns" :
	       inspect == PX_INSPECT_POP3 ? "pop3" : "";
}

bool px_policy_set_in_use(const px_policy_t *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nrules; i++)
		if (strcmp(p->rules[i].src_set, name) == 0)
			return true;
	for (i = 0; i < p->nservices; i++)
		if (strcmp(p->services[i].exempt_set, name) == 0 ||
		    strcmp(p->services[i].xfr_set, name) == 0)
			return true;
	return false;
}

/* ---- the store's set index ---- */

size_t px_set_count(const px_set_t *s)
{
	return s->entries.n - s->pdel.n + s->padd.n;
}

bool px_set_has(const px_set_t *s, const px_entry_t *e)
{
	if (px_entries_contains(&s->padd, e))
		return true;
	return px_entries_contains(&s->entries, e) &&
	       !px_entries_contains(&s->pdel, e);
}

/* In one sorted, overlap-free list (skipping what skip holds, if not
 * NULL): a prefix other than p overlapping prefix p.  Prefixes sort by
 * family then start: only the nearest one starting before p can cover
 * p, and the first one starting at or after p's start is the only one
 * that can start inside p first.  A skipped entry is passed over: the
 * next one is then the candidate (disjointness holds for what is left). */
static const px_entry_t *list_overlap(const px_entries_t *v,
				      const px_entries_t *skip,
				      const px_entry_t *p)
{
	px_entry_t key = *p;
	uint8_t last[16];
	size_t at, i;

	key.plen = 0;
	at = px_entries_lower_bound(v, &key);
	px_entry_last(p, last);
	for (i = at; i < v->n; i++) {
		const px_entry_t *e = &v->v[i];

		if (!e->prefix || e->family != p->family)
			break;
		if (skip && px_entries_contains(skip, e))
			continue;
		if (px_entry_cmp(e, p) == 0)
			continue;
		if (memcmp(e->addr, last, 16) <= 0)
			return e;
		break;
	}
	for (i = at; i-- > 0;) {
		const px_entry_t *e = &v->v[i];
		uint8_t elast[16];

		if (!e->prefix || e->family != p->family)
			break;
		if (skip && px_entries_contains(skip, e))
			continue;
		px_entry_last(e, elast);
		if (memcmp(elast, p->addr, 16) >= 0)
			return e;
		break;
	}
	return NULL;
}

const px_entry_t *px_set_overlap(const px_set_t *s, const px_entry_t *p)
{
	const px_entry_t *e;

	if (!p->prefix)
		return NULL;
	e = list_overlap(&s->entries, s->pdel.n ? &s->pdel : NULL, p);
	return e ? e : list_overlap(&s->padd, NULL, p);
}

/* Insert e into sorted v (absent), or remove it (present). */
static void list_insert(px_entries_t *v, const px_entry_t *e)
{
	size_t at = px_entries_lower_bound(v, e);

	px_entries_push(v, e);
	memmove(&v->v[at + 1], &v->v[at], (v->n - 1 - at) * sizeof(*e));
	v->v[at] = *e;
}

static bool list_remove(px_entries_t *v, const px_entry_t *e)
{
	size_t at = px_entries_lower_bound(v, e);

	if (at == v->n || px_entry_cmp(&v->v[at], e) != 0)
		return false;
	memmove(&v->v[at], &v->v[at + 1], (v->n - at - 1) * sizeof(*e));
	v->n--;
	return true;
}

void px_set_settle(px_set_t *s)
{
	if (!s->padd.n && !s->pdel.n)
		return;
	px_entries_apply(&s->entries, &s->padd, &s->pdel);
	s->padd.n = s->pdel.n = 0;
}

void px_set_change(px_set_t *s, const px_entries_t *add,
		   const px_entries_t *del)
{
	size_t i;

	/* A large change costs O(n) anyway: merge it at once. */
	if (s->padd.n + s->pdel.n + add->n + del->n > PX_SET_PENDING_MAX) {
		px_set_settle(s);
		px_entries_apply(&s->entries, add, del);
		return;
	}
	for (i = 0; i < add->n; i++)
		if (!list_remove(&s->pdel, &add->v[i]))
			list_insert(&s->padd, &add->v[i]);
	for (i = 0; i < del->n; i++)
		if (!list_remove(&s->padd, &del->v[i]))
			list_insert(&s->pdel, &del->v[i]);
}

void px_policy_settle(px_policy_t *p)
{
	size_t i;

	for (i = 0; i < p->nsets; i++)
		px_set_settle(&p->sets[i]);
}

static const struct {
	int proto;
	const char *name;
} protos[] = {
	{ PX_PROTO_ANY, "any" },
	{ PX_PROTO_TCP, "tcp" },
	{ PX_PROTO_UDP, "udp" },
	{ PX_PROTO_ICMP, "icmp" },
};

int px_proto_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcmp(protos[i].name, s) == 0)
			return protos[i].proto;
	return PX_EBADREQ;
}

const char *px_proto_name(int proto)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == proto)
			return protos[i].name;
	return "?";
}

static bool set_matches(const px_set_t *s, int family, const uint8_t *addr)
{
	px_entry_t key;

	memset(&key, 0, sizeof(key));
	key.family = (uint8_t)family;
	key.plen = family == 4 ? 32 : 128;
	memcpy(key.addr, addr, family == 4 ? 4 : 16);
	return px_entries_contains(&s->entries, &key) ||
	       px_entries_covering(&s->entries, &key) != NULL;
}

const px_set_t *px_policy_tier_of(const px_policy_t *p, int family,
				  const uint8_t *addr)
{
	const px_set_t *fe = px_policy_find(p, FLOOD_EXCEPTIONS);
	size_t i;

	if (fe && set_matches(fe, family, addr))
		return fe;
	for (i = 0; i < p->nsets; i++)
		if (&p->sets[i] != fe && set_matches(&p->sets[i], family, addr))
			return &p->sets[i];
	return NULL;
}

uint64_t px_policy_tier_limit(const px_policy_t *p, const px_set_t *tier,
			      int id)
{
	uint64_t v = tier ? px_limits_tier(&p->limits, id, tier->name) : 0;

	return v ? v : p->limits.value[id];
}

/* An entry exactly as px_entry_decode() would make it: family, length,
 * host bits and the host/prefix flag all consistent. */
static bool entry_canonical(const px_entry_t *e)
{
	uint8_t buf[PX_ENTRY_WIRE_MAX];
	px_entry_t d;

	if (e->family != 4 && e->family != 6)
		return false;
	if (px_entry_decode(buf, px_entry_encode(e, buf), &d) < 0)
		return false;
	return memcmp(&d, e, sizeof(d)) == 0;
}

static int validate_set(const px_set_t *s, char *why, size_t len)
{
	const px_entry_t *a, *b;
	char sa[PX_ENTRY_STR_MAX], sb[PX_ENTRY_STR_MAX];
	size_t i;

	if (s->entries.n > PX_SET_ENTRIES_MAX)
		return px_refuse(why, len, PX_ETOOBIG, "set %s: %zu entries, "
			       "over the %d a set may hold", s->name,
			       s->entries.n, PX_SET_ENTRIES_MAX);
	for (i = 0; i < s->entries.n; i++) {
		if (!entry_canonical(&s->entries.v[i]))
			return px_refuse(why, len, PX_EBADADDR, "set %s: entry "
				       "%zu is not an address or prefix",
				       s->name, i + 1);
		if (i && px_entry_cmp(&s->entries.v[i - 1],
				      &s->entries.v[i]) >= 0)
			return px_refuse(why, len, PX_EBADREQ, "set %s: entry "
				       "%zu is out of order or a duplicate",
				       s->name, i + 1);
	}
	if (px_entries_check_overlap(&s->entries, &a, &b) < 0) {
		px_entry_format(a, sa, sizeof(sa));
		px_entry_format(b, sb, sizeof(sb));
		return px_refuse(why, len, PX_EOVERLAP, "set %s: prefix %s "
			       "overlaps %s", s->name, sb, sa);
	}
	return 0;
}

static int validate_limits(const px_policy_t *p, char *why, size_t len)
{
	const px_limits_t *l = &p->limits;
	size_t i;
	int id;

	for (id = 0; id < PX_LIM_COUNT; id++) {
		const px_limit_def_t *d = &px_limit_defs[id];

		if (l->value[id] < d->min || l->value[id] > d->max)
			return px_refuse(why, len, PX_ERANGE, "limit %s: %llu "
				       "out of range %llu-%llu", d->name,
				       (unsigned long long)l->value[id],
				       (unsigned long long)d->min,
				       (unsigned long long)d->max);
		if (l->mode[id] != PX_MODE_ENFORCE &&
		    (d->setting || l->mode[id] != PX_MODE_OBSERVE))
			return px_refuse(why, len, PX_EBADREQ, "limit %s: bad "
				       "mode %d", d->name, (int)l->mode[id]);
	}
	for (i = 0; i < l->ntiers; i++) {
		const px_tier_t *t = &l->tiers[i];

		if ((int)t->id < 0 || t->id >= PX_LIM_COUNT ||
		    px_limit_defs[t->id].setting)
			return px_refuse(why, len, PX_EBADREQ, "tier %zu: not a "
				       "quota", i + 1);
		if (!px_policy_find(p, t->set))
			return px_refuse(why, len, PX_ENOSET, "limit %s: tier "
				       "of missing set %.32s",
				       px_limit_defs[t->id].name, t->set);
		if (t->value && (t->value < px_limit_defs[t->id].min ||
				 t->value > px_limit_defs[t->id].max))
			return px_refuse(why, len, PX_ERANGE, "limit %s set %s: "
				       "%llu out of range",
				       px_limit_defs[t->id].name, t->set,
				       (unsigned long long)t->value);
	}
	return 0;
}

static bool proto_known(int proto)
{
	return proto == PX_PROTO_ANY || proto == PX_PROTO_ICMP ||
	       proto == PX_PROTO_TCP || proto == PX_PROTO_UDP;
}

static int validate_lists(const px_policy_t *p, char *why, size_t len)
{
	size_t i, j;

	for (i = 0; i < p->nrules; i++) {
		const px_rule_t *r = &p->rules[i];

		if (!px_setname_valid(r->name))
			return px_refuse(why, len, PX_ESETNAME, "rule %zu: bad "
				       "name", i + 1);
		for (j = 0; j < i; j++)
			if (strcmp(p->rules[j].name, r->name) == 0)
				return px_refuse(why, len, PX_EEXIST, "rule %s "
					       "twice", r->name);
		if ((r->action != PX_ALLOW && r->action != PX_DENY) ||
		    !proto_known(r->proto) ||
		    (r->port && r->proto != PX_PROTO_TCP &&
		     r->proto != PX_PROTO_UDP) ||
		    r->rate > px_limit_defs[PX_LIM_NONTCP_SESSION_RATE].max ||
		    (r->has_dst && !entry_canonical(&r->dst)))
			return px_refuse(why, len, PX_EBADREQ, "rule %s: bad "
				       "action, protocol, port, rate or "
				       "destination", r->name);
		if (r->src_set[0] && !px_policy_find(p, r->src_set))
			return px_refuse(why, len, PX_ENOSET, "rule %s: no set "
				       "%.32s", r->name, r->src_set);
	}
	for (i = 0; i < p->nservices; i++) {
		const px_service_t *s = &p->services[i];

		if (!px_setname_valid(s->name))
			return px_refuse(why, len, PX_ESETNAME, "service %zu: "
				       "bad name", i + 1);
		for (j = 0; j < i; j++)
			if (strcmp(p->services[j].name, s->name) == 0)
				return px_refuse(why, len, PX_EEXIST, "service "
					       "%s twice", s->name);
		if (!entry_canonical(&s->dst) || s->dst.prefix ||
		    s->port == 0 || s->limit == 0 || s->limit > 1000000)
			return px_refuse(why, len, PX_EBADREQ, "service %s: bad "
				       "destination, port or limit", s->name);
		if (s->exempt_set[0] && !px_policy_find(p, s->exempt_set))
			return px_refuse(why, len, PX_ENOSET, "service %s: no "
				       "set %.32s", s->name, s->exempt_set);
		if (s->inspect != PX_INSPECT_NONE &&
		    s->inspect != PX_INSPECT_DNS &&
		    s->inspect != PX_INSPECT_POP3)
			return px_refuse(why, len, PX_EBADREQ, "service %s: bad "
				       "inspection", s->name);
		if (s->xfr_set[0] && s->inspect != PX_INSPECT_DNS)
			return px_refuse(why, len, PX_EBADREQ, "service %s: a "
				       "zone transfer set needs --inspect dns",
				       s->name);
		if (s->xfr_set[0] && !px_policy_find(p, s->xfr_set))
			return px_refuse(why, len, PX_ENOSET, "service %s: no "
				       "set %.32s", s->name, s->xfr_set);
	}
	return 0;
}

int px_policy_validate_set(const px_set_t *s, char *why, size_t len)
{
	if (why && len)
		why[0] = '\0';
	return validate_set(s, why, len);
}

static int validate(const px_policy_t *p, bool deep, char *why, size_t len)
{
	size_t i;
	int rc;

	if (why && len)
		why[0] = '\0';
	if (p->nsets > PX_SETS_MAX || p->nrules > PX_RULES_MAX ||
	    p->nservices > PX_SERVICES_MAX)
		return px_refuse(why, len, PX_ETOOBIG, "%zu sets, %zu rules, %zu "
			       "services: over the limits %d, %d, %d", p->nsets,
			       p->nrules, p->nservices, PX_SETS_MAX,
			       PX_RULES_MAX, PX_SERVICES_MAX);
	if ((p->nsets && !p->sets) || (p->nrules && !p->rules) ||
	    (p->nservices && !p->services))
		return px_refuse(why, len, PX_EBADREQ, "counts without data");
	for (i = 0; i < p->nsets; i++) {
		const px_set_t *s = &p->sets[i];

		if (memchr(s->name, '\0', sizeof(s->name)) == NULL ||
		    !px_setname_valid(s->name))
			return px_refuse(why, len, PX_ESETNAME, "set %zu: bad "
				       "name", i + 1);
		if (i && strcmp(p->sets[i - 1].name, s->name) >= 0)
			return px_refuse(why, len, PX_EBADREQ, "set %s: out of "
				       "order or a duplicate", s->name);
		if (!deep)
			continue;
		rc = validate_set(s, why, len);
		if (rc < 0)
			return rc;
	}
	rc = validate_limits(p, why, len);
	if (rc == 0)
		rc = validate_lists(p, why, len);
	if (rc == 0)
		rc = px_protect_validate(&p->protect, why, len);
	return rc;
}

int px_policy_validate(const px_policy_t *p, char *why, size_t len)
{
	return validate(p, true, why, len);
}

int px_policy_validate_shallow(const px_policy_t *p, char *why, size_t len)
{
	return validate(p, false, why, len);
}

/* ---- attack protection ---- */

const px_prot_def_t px_prot_defs[PX_PROT_COUNT] = {
	[PX_PROT_DEFAULT_POLICY] = { "default-policy", { "accept", "deny" },
		"forwarded traffic no rule matches (`policy default'); "
		"accept until an operator sets deny, so an upgrade never "
		"cuts traffic" },
	[PX_PROT_FRAGMENTS] = { "fragments", { "allow", "block" },
		"IP fragments; ISA: blocking breaks some streaming media and "
		"L2TP/IPsec" },
	[PX_PROT_IP_OPTIONS] = { "ip-options",
		{ "block-source-route", "block-all", "allow" },
		"forwarded packets with IP options: source routing (LSRR, "
		"SSRR) or any option" },
};

int px_prot_find(const char *name)
{
	for (int i = 0; i < PX_PROT_COUNT; i++)
		if (strcmp(px_prot_defs[i].name, name) == 0)
			return i;
	return PX_EOPTION;
}

int px_prot_value(int id, const char *value)
{
	if (id < 0 || id >= PX_PROT_COUNT)
		return PX_EOPTION;
	for (int v = 0; v < PX_PROT_VALUES_MAX; v++)
		if (px_prot_defs[id].values[v] &&
		    strcmp(px_prot_defs[id].values[v], value) == 0)
			return v;
	return PX_ERANGE;
}

const char *px_prot_value_name(int id, unsigned v)
{
	if (id < 0 || id >= PX_PROT_COUNT || v >= PX_PROT_VALUES_MAX ||
	    !px_prot_defs[id].values[v])
		return "?";
	return px_prot_defs[id].values[v];
}

int px_dhcp_interface_check(const px_protect_t *pr, size_t i, char *why,
			    size_t len)
{
	const char *f = pr->networks[i].dhcp_interface;
	size_t n = strnlen(f, sizeof(pr->networks[i].dhcp_interface));

	if (n == sizeof(pr->networks[i].dhcp_interface))
		return px_refuse(why, len, PX_ETOOBIG, "network %s: DHCP "
				 "interface name over %d characters",
				 pr->networks[i].name, PX_NET_IFNAME_MAX);
	if (n == 0)
		return 0;
	/* The kernel's dev_valid_name(): no `/', `:' or white space, not
	 * `.' or `..'. */
	if (strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
		return px_refuse(why, len, PX_EBADREQ, "network %s: DHCP "
				 "interface `%s' is not an interface name",
				 pr->networks[i].name, f);
	for (size_t k = 0; k < n; k++)
		if (f[k] == '/' || f[k] == ':' || f[k] <= ' ' || f[k] > '~')
			return px_refuse(why, len, PX_EBADREQ, "network %s: "
					 "DHCP interface `%s' is not an "
					 "interface name", pr->networks[i].name,
					 f);
	for (size_t j = 0; j < pr->nnetworks; j++)
		if (j != i && strcmp(pr->networks[j].dhcp_interface, f) == 0)
			return px_refuse(why, len, PX_EEXIST, "network %s: "
					 "DHCP interface %s is network %s's "
					 "already", pr->networks[i].name, f,
					 pr->networks[j].name);
	return 0;
}

px_network_t *px_protect_network(px_protect_t *pr, const char *name)
{
	for (size_t i = 0; i < pr->nnetworks; i++)
		if (strcmp(pr->networks[i].name, name) == 0)
			return &pr->networks[i];
	return NULL;
}

const px_network_t *px_protect_network_of(const px_protect_t *pr,
					  int family, const uint8_t *addr)
{
	px_entry_t h;

	memset(&h, 0, sizeof(h));
	h.family = (uint8_t)family;
	h.plen = family == 4 ? 32 : 128;
	memcpy(h.addr, addr, family == 4 ? 4 : 16);
	for (size_t i = 0; i < pr->nnetworks && i < PX_NETWORKS_MAX; i++)
		for (size_t j = 0; j < pr->networks[i].nprefixes &&
		     j < PX_NETWORK_PREFIXES_MAX; j++)
			if (px_entry_overlaps(&pr->networks[i].prefixes[j], &h))
				return &pr->networks[i];
	return NULL;
}

int px_protect_validate(const px_protect_t *pr, char *why, size_t len)
{
	size_t i, j, a, b;
	int rc;
	char as[PX_ENTRY_STR_MAX], bs[PX_ENTRY_STR_MAX];

	if (pr->nnetworks > PX_NETWORKS_MAX)
		return px_refuse(why, len, PX_ETOOBIG, "%zu networks: at most %d",
			       pr->nnetworks, PX_NETWORKS_MAX);
	for (i = 0; i < PX_PROT_COUNT; i++)
		if (pr->setting[i] >= PX_PROT_VALUES_MAX ||
		    !px_prot_defs[i].values[pr->setting[i]])
			return px_refuse(why, len, PX_ERANGE, "protection %s: "
				       "value %u out of range",
				       px_prot_defs[i].name, pr->setting[i]);
	for (i = 0; i < pr->nnetworks; i++) {
		const px_network_t *n = &pr->networks[i];

		if (memchr(n->name, '\0', sizeof(n->name)) == NULL ||
		    !px_setname_valid(n->name))
			return px_refuse(why, len, PX_ESETNAME, "network %zu: bad "
				       "name", i + 1);
		if (n->nprefixes == 0 || n->nprefixes > PX_NETWORK_PREFIXES_MAX)
			return px_refuse(why, len, PX_ETOOBIG, "network %s: %zu "
				       "prefixes, it needs 1 to %d", n->name,
				       n->nprefixes, PX_NETWORK_PREFIXES_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(pr->networks[j].name, n->name) == 0)
				return px_refuse(why, len, PX_EEXIST, "network %s "
					       "twice", n->name);
		rc = px_dhcp_interface_check(pr, i, why, len);
		if (rc < 0)
			return rc;
		for (a = 0; a < n->nprefixes; a++)
			if (!entry_canonical(&n->prefixes[a]))
				return px_refuse(why, len, PX_EBADADDR, "network "
					       "%s: prefix %zu is not an "
					       "address or prefix", n->name,
					       a + 1);
	}
	/* A source belongs to one network at most: no two prefixes of all
	 * networks overlap (within one network either, so each is one
	 * interval element in the kernel). */
	for (i = 0; i < pr->nnetworks; i++)
		for (a = 0; a < pr->networks[i].nprefixes; a++)
			for (j = i; j < pr->nnetworks; j++)
				for (b = j == i ? a + 1 : 0;
				     b < pr->networks[j].nprefixes; b++) {
					const px_entry_t *x = &pr->networks[i].prefixes[a];
					const px_entry_t *y = &pr->networks[j].prefixes[b];

					if (!px_entry_overlaps(x, y))
						continue;
					px_entry_format(x, as, sizeof(as));
					px_entry_format(y, bs, sizeof(bs));
					return px_refuse(why, len, PX_EOVERLAP,
						       "network %s: %s overlaps %s "
						       "of network %s",
						       pr->networks[j].name, bs, as,
						       pr->networks[i].name);
				}
	rc = px_csx_validate(&pr->csx, why, len);
	return rc < 0 ? rc : px_ids_validate(pr->ids, why, len);
}
