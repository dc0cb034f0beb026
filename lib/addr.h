/* addr.h - exception-set entries: IPv4/IPv6 addresses and prefixes.
 *
 * An entry is a plain value whose byte order is its sort order
 * (memcmp): hosts before prefixes, then family, address, length.  Sets
 * are sorted, duplicate-free arrays of entries (px_entries_t). */
#ifndef PX_ADDR_H
#define PX_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t prefix;   /* 0: host (plen == width), 1: prefix */
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes, rest zero */
	uint8_t plen;
} px_entry_t;

#define PX_ENTRY_WIRE_MAX 18 /* [family][plen][16 bytes] */
#define PX_ENTRY_STR_MAX 50  /* INET6_ADDRSTRLEN + "/128" */
#define PX_SETNAME_MAX 32

/* Parse "192.0.2.1", "192.0.2.0/24", "2001:db8::/32".  "/32" and
 * "/128" make hosts.  Returns 0, PX_EBADADDR or PX_EHOSTBITS. */
int px_entry_parse(const char *s, px_entry_t *e);
/* Format into buf (PX_ENTRY_STR_MAX); hosts are printed without /len. */
void px_entry_format(const px_entry_t *e, char *buf, size_t len);
int px_entry_cmp(const void *a, const void *b);
/* Wire form: returns its length (6 or 18). */
size_t px_entry_encode(const px_entry_t *e, uint8_t *out);
/* Validates everything (hostile input): 0, PX_EBADADDR or PX_EHOSTBITS. */
int px_entry_decode(const uint8_t *buf, size_t len, px_entry_t *e);
/* Last address covered by e (first is e->addr). */
void px_entry_last(const px_entry_t *e, uint8_t last[16]);
/* True if the ranges of two entries of the same family intersect. */
bool px_entry_overlaps(const px_entry_t *a, const px_entry_t *b);

/* Set names: [a-z0-9][a-z0-9_-]{0,31}. */
bool px_setname_valid(const char *name);

typedef struct {
	px_entry_t *v;
	size_t n, cap;
} px_entries_t;

void px_entries_init(px_entries_t *s);
void px_entries_free(px_entries_t *s);
void px_entries_push(px_entries_t *s, const px_entry_t *e);
void px_entries_copy(px_entries_t *dst, const px_entries_t *src);
/* Sort and drop duplicates. */
void px_entries_normalize(px_entries_t *s);
bool px_entries_contains(const px_entries_t *s, const px_entry_t *e);
/* Index of the first entry of sorted s not below e (s->n: none). */
size_t px_entries_lower_bound(const px_entries_t *s, const px_entry_t *e);
/* The prefix of a sorted, overlap-free set that covers host h, or NULL.
 * O(log n). */
const px_entry_t *px_entries_covering(const px_entries_t *s,
				      const px_entry_t *h);
/* For sorted sets: what to add to and delete from old to get new. */
void px_entries_diff(const px_entries_t *old, const px_entries_t *new_,
		     px_entries_t *add, px_entries_t *del);
/* s := (s - del) + add, all sorted; result sorted and unique. */
void px_entries_apply(px_entries_t *s, const px_entries_t *add,
		      const px_entries_t *del);
/* First pair of overlapping prefixes in a sorted set: returns 0 if none,
 * else PX_EOVERLAP with *a and *b pointing at the pair. */
int px_entries_check_overlap(const px_entries_t *s, const px_entry_t **a,
			     const px_entry_t **b);

#endif
