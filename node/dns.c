/* dns.c - DNS inspection of one payload (dns.h). */
#include "dns.h"
#include "px.h"

#define HDR_LEN 12
#define QTYPE_IXFR 251
#define QTYPE_AXFR 252
#define TYPE_A 1
#define TYPE_NS 2
#define TYPE_CNAME 5
#define TYPE_SOA 6
#define TYPE_PTR 12
#define TYPE_MX 15
#define TYPE_AAAA 28
#define CLASS_IN 1
#define NAME_MAX_BYTES 255 /* RFC 1035 3.1: the wire form, with the root */

enum { NAME_OK, NAME_LONG, NAME_CUT };


/* The name at *off in m[0..len): NAME_OK with *off past its bytes in
 * place, NAME_LONG past 255 bytes or PX_DNS_HOPS_MAX pointers (a loop
 * is one of these), NAME_CUT when it runs past len or uses a label type
 * other than length and pointer (RFC 6891 made 0x40 and 0x80 unusable). */
static int name_skip(const uint8_t *m, size_t len, size_t *off)
{
	size_t p = *off, end = 0, total = 0;
	unsigned hops = 0;

	for (;;) {
		uint8_t c;

		if (p >= len)
			return NAME_CUT;
		c = m[p];
		if ((c & 0xc0) == 0xc0) {
			if (len - p < 2)
				return NAME_CUT;
			if (!hops)
				end = p + 2;
			if (++hops > PX_DNS_HOPS_MAX)
				return NAME_LONG;
			p = (size_t)(c & 0x3f) << 8 | m[p + 1];
			continue;
		}
		if (c & 0xc0)
			return NAME_CUT;
		total += 1 + (size_t)c;
		if (total > NAME_MAX_BYTES)
			return NAME_LONG;
		if (c == 0) {
			if (!hops)
				end = p + 1;
			break;
		}
		p += 1 + (size_t)c;
	}
	*off = end;
	return NAME_OK;
}

/* The names inside the RDATA of the types that carry host names. */
static px_dns_verdict_t rdata_names(const uint8_t *m, size_t len,
				    unsigned type, size_t off)
{
	int names = type == TYPE_SOA ? 2 : 1;

	if (type == TYPE_MX)
		off += 2; /* preference */
	else if (type != TYPE_NS && type != TYPE_CNAME &&
		 type != TYPE_PTR && type != TYPE_SOA)
		return PX_DNS_PASS;
	for (int i = 0; i < names; i++) {
		int r = name_skip(m, len, &off);

		if (r == NAME_LONG)
			return PX_DNS_NAME_OVERFLOW;
		if (r != NAME_OK)
			break;
	}
	return PX_DNS_PASS;
}

px_dns_verdict_t px_dns_check_msg(const uint8_t *m, size_t len,
				  bool response)
{
	size_t off = HDR_LEN;
	unsigned long nrr;
	unsigned qd;

	if (len < HDR_LEN)
		return PX_DNS_PASS;
	qd = px_be16_get(m + 4);
	nrr = (unsigned long)px_be16_get(m + 6) + px_be16_get(m + 8) + px_be16_get(m + 10);
	for (unsigned i = 0; i < qd; i++) {
		int r = name_skip(m, len, &off);

		if (r == NAME_LONG)
			return response ? PX_DNS_NAME_OVERFLOW : PX_DNS_PASS;
		if (r != NAME_OK || len - off < 4)
			return PX_DNS_PASS;
		if (!response && (px_be16_get(m + off) == QTYPE_AXFR ||
				  px_be16_get(m + off) == QTYPE_IXFR))
			return PX_DNS_ZONE_TRANSFER;
		off += 4;
	}
	if (!response)
		return PX_DNS_PASS;
	/* Each record takes at least 11 bytes: the loop ends with the
	 * message whatever the counts say. */
	for (unsigned long i = 0; i < nrr; i++) {
		unsigned type, cls, rdlen;
		px_dns_verdict_t v;
		int r = name_skip(m, len, &off);

		if (r == NAME_LONG)
			return PX_DNS_NAME_OVERFLOW;
		if (r != NAME_OK || len - off < 10)
			return PX_DNS_PASS;
		type = px_be16_get(m + off);
		cls = px_be16_get(m + off + 2);
		rdlen = px_be16_get(m + off + 8);
		off += 10;
		if (rdlen > len - off)
			return PX_DNS_LENGTH_OVERFLOW;
		/* The seed: "responses for IP addresses contain a length
		 * field, which should be 4 bytes". */
		if (cls == CLASS_IN && ((type == TYPE_A && rdlen != 4) ||
					(type == TYPE_AAAA && rdlen != 16)))
			return PX_DNS_LENGTH_OVERFLOW;
		v = rdata_names(m, len, type, off);
		if (v != PX_DNS_PASS)
			return v;
		off += rdlen;
	}
	return PX_DNS_PASS;
}

/* Whether the whole messages, each after its length, fill p exactly. */
static bool tcp_tiles(const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n;

		if (len - off < 2)
			return false;
		n = px_be16_get(p + off);
		if (n > len - off - 2)
			return false;
		off += 2 + n;
	}
	return len > 0;
}

/* A query sent without its length prefix: one question that ends the
 * segment exactly. */
static bool bare_query(const uint8_t *p, size_t len)
{
	size_t off = HDR_LEN;

	if (len < HDR_LEN || px_be16_get(p + 4) != 1)
		return false;
	if (name_skip(p, len, &off) != NAME_OK)
		return false;
	return len - off == 4;
}

px_dns_verdict_t px_dns_check(const uint8_t *p, size_t len, bool tcp,
			      bool response)
{
	size_t off = 0;

	if (!tcp)
		return px_dns_check_msg(p, len, response);
	if (!tcp_tiles(p, len))
		return !response && bare_query(p, len) ?
		       px_dns_check_msg(p, len, false) : PX_DNS_PASS;
	while (off < len) {
		size_t n = px_be16_get(p + off);
		px_dns_verdict_t v = px_dns_check_msg(p + off + 2, n, response);

		if (v != PX_DNS_PASS)
			return v;
		off += 2 + n;
	}
	return PX_DNS_PASS;
}

const char *px_dns_verdict_name(px_dns_verdict_t v)
{
	switch (v) {
	case PX_DNS_ZONE_TRANSFER: return "dns-zone-transfer";
	case PX_DNS_NAME_OVERFLOW: return "dns-host-name-overflow";
	case PX_DNS_LENGTH_OVERFLOW: return "dns-length-overflow";
	case PX_DNS_PASS: break;
	}
	return "";
}
