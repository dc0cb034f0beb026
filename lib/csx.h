/* csx.h - the TCP checksum-validation exclusion list of KB 911554
 * (../shared/seeds/000_*.txt, issue 12 item 5), in the article's own
 * format:
 *
 *   SourceIp:SourcePort>DestinationIp:DestinationPort;
 *
 * every entry ends with `;' (even when alone), a field that is 0 is a
 * wildcard (0.0.0.0 any address, 0 any port), any other address is that
 * exact address.  IPv4 only, as the article's.  Example:
 * "12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>14.15.16.17:80;".
 *
 * Plain C, no I/O: the store and ctl parse what an operator typed, a
 * member parses what the store sent (hostile input), node/compile.c
 * turns the list into the kernel set `csx' (docs/protection.md). */
#ifndef PX_CSX_H
#define PX_CSX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many entries: the article's lists are a handful (one per
 * IPsec NAT-T client or web listener); 256 keep the kernel set and the
 * policy copy small (12 bytes an entry). */
#define PX_CSX_MAX 256
/* The longest entry, "255.255.255.255:65535>255.255.255.255:65535;". */
#define PX_CSX_ENTRY_STR_MAX 44
/* The longest list as text, without the NUL. */
#define PX_CSX_STR_MAX (PX_CSX_MAX * PX_CSX_ENTRY_STR_MAX)

typedef struct {
	uint8_t src[4], dst[4]; /* network order; 0.0.0.0: any */
	uint16_t sport, dport;  /* host order; 0: any */
} px_csx_entry_t;

typedef struct {
	px_csx_entry_t v[PX_CSX_MAX]; /* in the order given */
	size_t n;
} px_csx_t;

/* Parse s (NUL-terminated) into *out.  "" is the empty list.  Strict, so
 * that px_csx_format() gives s back byte for byte: decimal numbers
 * without leading zeros or signs, no spaces.  0, or PX_ETOOBIG (longer
 * than PX_CSX_STR_MAX, checked before parsing, or more than PX_CSX_MAX
 * entries) or PX_EBADREQ, with why (may be NULL) naming the entry
 * (1-based) and the character position (1-based) and what was expected
 * there.  On error *out is the empty list. */
int px_csx_parse(const char *s, px_csx_t *out, char *why, size_t len);

/* buf := c in the article's format, NUL-terminated; buf holds at least
 * PX_CSX_STR_MAX + 1 bytes.  Returns the length. */
size_t px_csx_format(const px_csx_t *c, char *buf, size_t len);

/* One entry as text (at least PX_CSX_ENTRY_STR_MAX + 1 bytes). */
void px_csx_entry_format(const px_csx_entry_t *e, char *buf, size_t len);

/* Whether every tuple a matches, b matches too (b covers a). */
bool px_csx_covers(const px_csx_entry_t *b, const px_csx_entry_t *a);

/* Check c as hostile input: at most PX_CSX_MAX entries, and every pair
 * the kernel's concatenated interval set can hold together.  That set
 * (pipapo) refuses an element whose first or last key falls inside
 * another element, unless one covers the other (the compiler leaves the
 * covered one out, px_csx_reduce): it happens only when one entry has an
 * exact 255.255.255.255 or port 65535 where the other has a wildcard,
 * and is refused here naming both entries.  0, PX_ETOOBIG or
 * PX_EBADREQ with why (may be NULL). */
int px_csx_validate(const px_csx_t *c, char *why, size_t len);

/* out := the entries of in that no other entry covers (of equal ones,
 * the first), in order: what the kernel set holds.  out may not be in. */
void px_csx_reduce(const px_csx_t *in, px_csx_t *out);

/* The set key of e's first (last: false) or last (true) tuple:
 * saddr(4) . sport(2, 2 zero bytes) . daddr(4) . dport(2, 2 zero) in
 * network order, as nftables lays out a concatenation of 32-bit
 * registers.  key holds 16 bytes. */
#define PX_CSX_KEY_LEN 16
void px_csx_key(const px_csx_entry_t *e, bool last, uint8_t *key);

/* A 64-bit hash of c's entries (FNV-1a), to tell two lists apart. */
uint64_t px_csx_hash(const px_csx_t *c);

#endif
