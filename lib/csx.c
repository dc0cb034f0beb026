/* csx.c - the KB 911554 checksum exclusion list (csx.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "csx.h"
#include "px.h"

/* The reader: s[i] is the next character, entry the 1-based entry. */
typedef struct {
	const char *s;
	size_t i;
	size_t entry;
	char *why;
	size_t len;
} rd_t;

/* "entry E, position P: expected WHAT, saw `C'" (positions 1-based). */
static int expected(rd_t *r, const char *what)
{
	char saw[24];
	unsigned char c = (unsigned char)r->s[r->i];

	if (!r->why || !r->len)
		return PX_EBADREQ;
	if (c == '\0')
		snprintf(saw, sizeof(saw), "the end of the string");
	else if (c >= 0x21 && c < 0x7f)
		snprintf(saw, sizeof(saw), "`%c'", c);
	else
		snprintf(saw, sizeof(saw), "byte 0x%02x", c);
	snprintf(r->why, r->len, "entry %zu, position %zu: expected %s, saw %s",
		 r->entry, r->i + 1, what, saw);
	return PX_EBADREQ;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A decimal number of at most max, no leading zero. */
static int number(rd_t *r, unsigned long max, const char *what,
		  unsigned long *out)
{
	char msg[96];
	size_t start = r->i;
	unsigned long v = 0;

	if (!digit(r->s[r->i])) {
		snprintf(msg, sizeof(msg), "a digit (%s)", what);
		return expected(r, msg);
	}
	while (digit(r->s[r->i])) {
		if (r->i > start && r->s[start] == '0') {
			snprintf(msg, sizeof(msg), "no leading zero in %s "
				 "(0 alone, or a number from 1)", what);
			return expected(r, msg);
		}
		v = v * 10 + (unsigned long)(r->s[r->i] - '0');
		if (v > max) {
			r->i = start;
			snprintf(msg, sizeof(msg), "%s of 0 to %lu", what, max);
			return expected(r, msg);
		}
		r->i++;
	}
	*out = v;
	return 0;
}

static int literal(rd_t *r, char c, const char *what)
{
	if (r->s[r->i] != c)
		return expected(r, what);
	r->i++;
	return 0;
}

static int address(rd_t *r, const char *side, uint8_t *a)
{
	char what[64];
	unsigned long v;
	int rc;

	for (int k = 0; k < 4; k++) {
		if (k) {
			snprintf(what, sizeof(what), "`.' in the %s address",
				 side);
			if ((rc = literal(r, '.', what)) < 0)
				return rc;
		}
		snprintf(what, sizeof(what), "the %s address's byte %d", side,
			 k + 1);
		if ((rc = number(r, 255, what, &v)) < 0)
			return rc;
		a[k] = (uint8_t)v;
	}
	return 0;
}

static int port(rd_t *r, const char *side, uint16_t *p)
{
	char what[40];
	unsigned long v;
	int rc;

	snprintf(what, sizeof(what), "the %s port", side);
	if ((rc = number(r, 65535, what, &v)) < 0)
		return rc;
	*p = (uint16_t)v;
	return 0;
}

int px_csx_parse(const char *s, px_csx_t *out, char *why, size_t len)
{
	rd_t r = { s, 0, 1, why, len };
	size_t n = strnlen(s, PX_CSX_STR_MAX + 1);
	int rc = 0;

	out->n = 0;
	if (why && len)
		why[0] = '\0';
	if (n > PX_CSX_STR_MAX) {
		if (why && len)
			snprintf(why, len, "more than %d characters: at most "
				 "%d entries of at most %d", PX_CSX_STR_MAX,
				 PX_CSX_MAX, PX_CSX_ENTRY_STR_MAX);
		return PX_ETOOBIG;
	}
	while (s[r.i]) {
		px_csx_entry_t e;

		if (out->n == PX_CSX_MAX) {
			if (why && len)
				snprintf(why, len, "entry %zu, position %zu: "
					 "at most %d entries", r.entry,
					 r.i + 1, PX_CSX_MAX);
			rc = PX_ETOOBIG;
			goto out;
		}
		memset(&e, 0, sizeof(e));
		if ((rc = address(&r, "source", e.src)) < 0 ||
		    (rc = literal(&r, ':', "`:' after the source address")) < 0 ||
		    (rc = port(&r, "source", &e.sport)) < 0 ||
		    (rc = literal(&r, '>', "`>' after the source port")) < 0 ||
		    (rc = address(&r, "destination", e.dst)) < 0 ||
		    (rc = literal(&r, ':', "`:' after the destination "
				  "address")) < 0 ||
		    (rc = port(&r, "destination", &e.dport)) < 0 ||
		    (rc = literal(&r, ';', "`;' (every entry ends with `;', "
				  "the last too)")) < 0)
			goto out;
		out->v[out->n++] = e;
		r.entry++;
	}
out:
	if (rc < 0)
		out->n = 0;
	return rc;
}

void px_csx_entry_format(const px_csx_entry_t *e, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u:%u>%u.%u.%u.%u:%u;", e->src[0],
		 e->src[1], e->src[2], e->src[3], e->sport, e->dst[0],
		 e->dst[1], e->dst[2], e->dst[3], e->dport);
}

size_t px_csx_format(const px_csx_t *c, char *buf, size_t len)
{
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < c->n && i < PX_CSX_MAX; i++) {
		char e[PX_CSX_ENTRY_STR_MAX + 1];
		size_t k;

		px_csx_entry_format(&c->v[i], e, sizeof(e));
		k = strlen(e);
		if (off + k + 1 > len)
			break;
		memcpy(buf + off, e, k + 1);
		off += k;
	}
	return off;
}

static const uint8_t any4[4];

static bool addr_in(const uint8_t *field, const uint8_t *a)
{
	return memcmp(field, any4, 4) == 0 || memcmp(field, a, 4) == 0;
}

static bool port_in(uint16_t field, uint16_t p)
{
	return field == 0 || field == p;
}

bool px_csx_covers(const px_csx_entry_t *b, const px_csx_entry_t *a)
{
	/* Fields are a point or everything: b's field holds a's when it is
	 * the wildcard or the same point. */
	return addr_in(b->src, a->src) && port_in(b->sport, a->sport) &&
	       addr_in(b->dst, a->dst) && port_in(b->dport, a->dport);
}

/* Whether a's last tuple (wildcards at their top) lies inside b. */
static bool last_inside(const px_csx_entry_t *a, const px_csx_entry_t *b)
{
	static const uint8_t top4[4] = { 255, 255, 255, 255 };

	return addr_in(b->src, memcmp(a->src, any4, 4) ? a->src : top4) &&
	       port_in(b->sport, a->sport ? a->sport : 65535) &&
	       addr_in(b->dst, memcmp(a->dst, any4, 4) ? a->dst : top4) &&
	       port_in(b->dport, a->dport ? a->dport : 65535);
}

int px_csx_validate(const px_csx_t *c, char *why, size_t len)
{
	char a[PX_CSX_ENTRY_STR_MAX + 1], b[PX_CSX_ENTRY_STR_MAX + 1];

	if (why && len)
		why[0] = '\0';
	if (c->n > PX_CSX_MAX) {
		if (why && len)
			snprintf(why, len, "checksum exclusions: %zu "
				 "entries, at most %d",
				 c->n, PX_CSX_MAX);
		return PX_ETOOBIG;
	}
	/* A tuple's first key lies inside another entry only when that
	 * entry covers it (an exact field is never 0); its last key can
	 * lie inside one that does not cover it, through an exact top
	 * value (255.255.255.255, 65535) facing a wildcard. */
	for (size_t i = 0; i < c->n; i++)
		for (size_t j = 0; j < c->n; j++) {
			const px_csx_entry_t *x = &c->v[i], *y = &c->v[j];

			if (i == j || px_csx_covers(y, x) || px_csx_covers(x, y) ||
			    !last_inside(x, y))
				continue;
			if (why && len) {
				px_csx_entry_format(x, a, sizeof(a));
				px_csx_entry_format(y, b, sizeof(b));
				snprintf(why, len, "checksum exclusions: entries "
					 "%zu (%s) and %zu "
					 "(%s) overlap in part at an exact "
					 "255.255.255.255 or port 65535 facing a "
					 "wildcard, which the kernel's set cannot "
					 "hold: list their overlap as an entry of "
					 "its own, or only one of them",
					 i < j ? i + 1 : j + 1, i < j ? a : b,
					 i < j ? j + 1 : i + 1, i < j ? b : a);
			}
			return PX_EBADREQ;
		}
	return 0;
}

void px_csx_reduce(const px_csx_t *in, px_csx_t *out)
{
	out->n = 0;
	for (size_t i = 0; i < in->n && i < PX_CSX_MAX; i++) {
		bool covered = false;

		for (size_t j = 0; j < in->n && !covered; j++) {
			if (j == i || !px_csx_covers(&in->v[j], &in->v[i]))
				continue;
			/* Of two equal entries the first stays. */
			covered = !px_csx_covers(&in->v[i], &in->v[j]) || j < i;
		}
		if (!covered)
			out->v[out->n++] = in->v[i];
	}
}

void px_csx_key(const px_csx_entry_t *e, bool last, uint8_t *key)
{
	static const uint8_t top4[4] = { 255, 255, 255, 255 };
	bool src_any = memcmp(e->src, any4, 4) == 0;
	bool dst_any = memcmp(e->dst, any4, 4) == 0;
	uint16_t sp = e->sport ? e->sport : last ? 65535 : 0;
	uint16_t dp = e->dport ? e->dport : last ? 65535 : 0;

	memset(key, 0, PX_CSX_KEY_LEN);
	memcpy(key, src_any && last ? top4 : e->src, 4);
	key[4] = (uint8_t)(sp >> 8);
	key[5] = (uint8_t)sp;
	memcpy(key + 8, dst_any && last ? top4 : e->dst, 4);
	key[12] = (uint8_t)(dp >> 8);
	key[13] = (uint8_t)dp;
}

uint64_t px_csx_hash(const px_csx_t *c)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < c->n && i < PX_CSX_MAX; i++) {
		const px_csx_entry_t *e = &c->v[i];
		uint8_t b[12];

		memcpy(b, e->src, 4);
		b[4] = (uint8_t)(e->sport >> 8);
		b[5] = (uint8_t)e->sport;
		memcpy(b + 6, e->dst, 4);
		b[10] = (uint8_t)(e->dport >> 8);
		b[11] = (uint8_t)e->dport;
		for (size_t k = 0; k < sizeof(b); k++)
			h = (h ^ b[k]) * 1099511628211ull;
	}
	return h ^ c->n;
}
