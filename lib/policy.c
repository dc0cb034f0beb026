/* policy.c - the policy value: sets and limits at one version. */
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
	for (i = 0; i < p->nsets; i++)
		px_entries_free(&p->sets[i].entries);
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
	memmove(&p->sets[i], &p->sets[i + 1],
		(p->nsets - i - 1) * sizeof(*p->sets));
	p->nsets--;
	px_limits_drop_set(&p->limits, name);
}

bool px_policy_set_in_use(const px_policy_t *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nrules; i++)
		if (strcmp(p->rules[i].src_set, name) == 0)
			return true;
	for (i = 0; i < p->nservices; i++)
		if (strcmp(p->services[i].exempt_set, name) == 0)
			return true;
	return false;
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
