/* addr.c - parsing, ordering and diffing of exception-set entries. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "px.h"

static unsigned width(const px_entry_t *e)
{
	return e->family == 4 ? 32 : 128;
}

static bool host_bits_clear(const uint8_t *addr, unsigned plen,
			    unsigned bytes)
{
	unsigned i;

	for (i = 0; i < bytes; i++) {
		unsigned bit = i * 8;
		uint8_t mask;

		if (bit + 8 <= plen)
			continue;
		mask = bit >= plen ? 0xff : (uint8_t)(0xff >> (plen - bit));
		if (addr[i] & mask)
			return false;
	}
	return true;
}

static int entry_make(px_entry_t *e, int family, const uint8_t *addr,
		      unsigned plen)
{
	unsigned bytes = family == 4 ? 4 : 16;

	memset(e, 0, sizeof(*e));
	e->family = (uint8_t)family;
	if (plen > bytes * 8)
		return PX_EBADADDR;
	memcpy(e->addr, addr, bytes);
	e->plen = (uint8_t)plen;
	e->prefix = plen != bytes * 8;
	if (!host_bits_clear(e->addr, plen, bytes))
		return PX_EHOSTBITS;
	return 0;
}

int px_entry_parse(const char *s, px_entry_t *e)
{
	char buf[PX_ENTRY_STR_MAX + 1];
	uint8_t addr[16];
	char *slash, *end;
	unsigned long plen;
	int family;
	size_t n = strlen(s);

	if (n == 0 || n > PX_ENTRY_STR_MAX)
		return PX_EBADADDR;
	memcpy(buf, s, n + 1);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		family = 4;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		family = 6;
	else
		return PX_EBADADDR;
	plen = family == 4 ? 32 : 128;
	if (slash) {
		/* Digits only: strtoul would take " 8", "+8" and "0x8". */
		if (*slash < '0' || *slash > '9' || strlen(slash) > 3)
			return PX_EBADADDR;
		plen = strtoul(slash, &end, 10);
		if (*end != '\0' || plen > (family == 4 ? 32u : 128u))
			return PX_EBADADDR;
	}
	return entry_make(e, family, addr, (unsigned)plen);
}

void px_entry_format(const px_entry_t *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, a, sizeof(a));
	if (e->prefix)
		snprintf(buf, len, "%s/%u", a, e->plen);
	else
		snprintf(buf, len, "%s", a);
}

int px_entry_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(px_entry_t));
}

size_t px_entry_encode(const px_entry_t *e, uint8_t *out)
{
	size_t bytes = e->family == 4 ? 4 : 16;

	out[0] = e->family;
	out[1] = e->plen;
	memcpy(out + 2, e->addr, bytes);
	return bytes + 2;
}

int px_entry_decode(const uint8_t *buf, size_t len, px_entry_t *e)
{
	if (len == 6 && buf[0] == 4)
		return entry_make(e, 4, buf + 2, buf[1]);
	if (len == 18 && buf[0] == 6)
		return entry_make(e, 6, buf + 2, buf[1]);
	return PX_EBADADDR;
}

void px_entry_last(const px_entry_t *e, uint8_t last[16])
{
	unsigned i, bytes = width(e) / 8;

	memcpy(last, e->addr, 16);
	for (i = 0; i < bytes; i++) {
		unsigned bit = i * 8;

		if (bit >= e->plen)
			last[i] = 0xff;
		else if (bit + 8 > e->plen)
			last[i] |= (uint8_t)(0xff >> (e->plen - bit));
	}
}

bool px_entry_overlaps(const px_entry_t *a, const px_entry_t *b)
{
	uint8_t alast[16], blast[16];

	if (a->family != b->family)
		return false;
	px_entry_last(a, alast);
	px_entry_last(b, blast);
	/* [a, alast] and [b, blast] intersect unless one ends before the
	 * other starts. */
	return memcmp(alast, b->addr, 16) >= 0 && memcmp(blast, a->addr, 16) >= 0;
}

bool px_setname_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > PX_SETNAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '-' || c == '_'));
		if (!ok)
			return false;
	}
	return true;
}

void px_entries_init(px_entries_t *s)
{
	s->v = NULL;
	s->n = s->cap = 0;
}

void px_entries_free(px_entries_t *s)
{
	if (!s)
		return;
	free(s->v);
	px_entries_init(s);
}

static void reserve(px_entries_t *s, size_t n)
{
	if (n <= s->cap)
		return;
	s->cap = s->cap ? s->cap : 16;
	while (s->cap < n)
		s->cap *= 2;
	s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
}

void px_entries_push(px_entries_t *s, const px_entry_t *e)
{
	reserve(s, s->n + 1);
	s->v[s->n++] = *e;
}

void px_entries_copy(px_entries_t *dst, const px_entries_t *src)
{
	px_entries_init(dst);
	reserve(dst, src->n);
	if (src->n)
		memcpy(dst->v, src->v, src->n * sizeof(*src->v));
	dst->n = src->n;
}

void px_entries_normalize(px_entries_t *s)
{
	size_t i, j = 0;

	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(*s->v), px_entry_cmp);
	for (i = 1; i < s->n; i++)
		if (px_entry_cmp(&s->v[j], &s->v[i]) != 0)
			s->v[++j] = s->v[i];
	s->n = j + 1;
}

bool px_entries_contains(const px_entries_t *s, const px_entry_t *e)
{
	return s->n &&
	       bsearch(e, s->v, s->n, sizeof(*s->v), px_entry_cmp) != NULL;
}

size_t px_entries_lower_bound(const px_entries_t *s, const px_entry_t *e)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (px_entry_cmp(&s->v[mid], e) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const px_entry_t *px_entries_covering(const px_entries_t *s,
				      const px_entry_t *h)
{
	px_entry_t key = *h;
	size_t lo = 0, hi = s->n;
	uint8_t last[16];

	/* Prefixes are disjoint and sorted by start: the only candidate is
	 * the last prefix starting at or before h. */
	key.prefix = 1;
	key.plen = 255;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (px_entry_cmp(&s->v[mid], &key) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	h = &s->v[lo - 1];
	if (!h->prefix || h->family != key.family)
		return NULL;
	px_entry_last(h, last);
	return memcmp(key.addr, last, 16) <= 0 ? h : NULL;
}

void px_entries_diff(const px_entries_t *old, const px_entries_t *new_,
		     px_entries_t *add, px_entries_t *del)
{
	size_t i = 0, j = 0;

	while (i < old->n || j < new_->n) {
		int c;

		if (i == old->n)
			c = 1;
		else if (j == new_->n)
			c = -1;
		else
			c = px_entry_cmp(&old->v[i], &new_->v[j]);
		if (c < 0)
			px_entries_push(del, &old->v[i++]);
		else if (c > 0)
			px_entries_push(add, &new_->v[j++]);
		else
			i++, j++;
	}
}

void px_entries_apply(px_entries_t *s, const px_entries_t *add,
		      const px_entries_t *del)
{
	px_entries_t out;
	size_t i = 0, j = 0, k = 0;

	/* Appending after the last entry, nothing deleted: in place.  A
	 * change of a large set arrives in parts of PX_CHUNK_ENTRIES
	 * sorted entries, each after the one before (an import of 1M hosts
	 * is 123 parts): merging each into a new array was 123 copies of a
	 * growing set, ~60 M entries moved and the page faults of fresh
	 * arrays; appending moves each entry once. */
	if (del->n == 0 && add->n &&
	    (s->n == 0 || px_entry_cmp(&s->v[s->n - 1], &add->v[0]) < 0)) {
		reserve(s, s->n + add->n);
		for (j = 0; j < add->n; j++)
			if (s->n == 0 || j == 0 ||
			    px_entry_cmp(&s->v[s->n - 1], &add->v[j]) != 0)
				s->v[s->n++] = add->v[j];
		return;
	}
	px_entries_init(&out);
	reserve(&out, s->n + add->n);
	/* Three-way merge: walk s and add in order, skipping what del
	 * names (del is sorted too). */
	while (i < s->n || j < add->n) {
		const px_entry_t *e;
		int c;

		if (i == s->n)
			c = 1;
		else if (j == add->n)
			c = -1;
		else
			c = px_entry_cmp(&s->v[i], &add->v[j]);
		if (c < 0)
			e = &s->v[i++];
		else if (c > 0)
			e = &add->v[j++];
		else
			e = &s->v[i++], j++;
		while (k < del->n && px_entry_cmp(&del->v[k], e) < 0)
			k++;
		if (k < del->n && px_entry_cmp(&del->v[k], e) == 0)
			continue;
		if (out.n && px_entry_cmp(&out.v[out.n - 1], e) == 0)
			continue;
		out.v[out.n++] = *e;
	}
	px_entries_free(s);
	*s = out;
}

int px_entries_check_overlap(const px_entries_t *s, const px_entry_t **a,
			     const px_entry_t **b)
{
	const px_entry_t *widest = NULL;
	uint8_t end[16];
	size_t i;

	/* Prefixes sort after hosts, by family then start address, so in one
	 * pass it is enough to remember the prefix reaching furthest. */
	for (i = 0; i < s->n; i++) {
		const px_entry_t *e = &s->v[i];
		uint8_t last[16];

		if (!e->prefix)
			continue;
		if (widest && widest->family == e->family &&
		    memcmp(e->addr, end, 16) <= 0) {
			*a = widest;
			*b = e;
			return PX_EOVERLAP;
		}
		px_entry_last(e, last);
		if (!widest || widest->family != e->family ||
		    memcmp(last, end, 16) > 0) {
			widest = e;
			memcpy(end, last, 16);
		}
	}
	return 0;
}
