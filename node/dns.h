/* dns.h - the DNS inspection of a published DNS server (issue 12 item 8,
 * docs/protection.md): the checks ISA's DNS intrusion detection filter
 * makes, on one packet's payload.  Plain C over bytes, no I/O; node/nfq.c
 * feeds it the packets the kernel queues and gives the verdict.
 *
 * Every byte is hostile: every length is checked before it is read, and
 * the work is bounded by the payload's length (a name is at most 255
 * bytes and follows at most PX_DNS_HOPS_MAX compression pointers). */
#ifndef PX_DNS_H
#define PX_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	PX_DNS_PASS = 0,         /* nothing the filter looks for */
	PX_DNS_ZONE_TRANSFER,    /* a query asks for AXFR (252) or IXFR (251) */
	PX_DNS_NAME_OVERFLOW,    /* a name over 255 bytes (or that never ends:
				  * a compression loop) */
	PX_DNS_LENGTH_OVERFLOW,  /* an RDLENGTH past the message, or an
				  * address record's not 4 (A) / 16 (AAAA) */
} px_dns_verdict_t;

/* A legitimate name has at most 127 labels in its 255 bytes; more
 * pointers than that cannot spell one. */
#define PX_DNS_HOPS_MAX 127

/* One DNS message m of len bytes (a UDP payload, or one TCP message
 * without its length prefix).  From the client (response false) only
 * the questions are read: PX_DNS_ZONE_TRANSFER or PX_DNS_PASS.  From the
 * server every name and record is.  A message cut short (fewer bytes
 * than its counts promise, a pointer past its end) is PX_DNS_PASS: the
 * filter drops what the seed names, nothing else. */
px_dns_verdict_t px_dns_check_msg(const uint8_t *m, size_t len,
				  bool response);

/* A transport payload p of len bytes.  UDP: one message.  TCP: checked
 * only when the segment holds whole messages (each with its 2-byte
 * length, ending exactly at the segment's end) or, from the client, one
 * whole query sent after its length prefix in a segment of its own; a
 * segment that continues a message is PX_DNS_PASS (the member does not
 * reassemble streams).  The first verdict other than PX_DNS_PASS. */
px_dns_verdict_t px_dns_check(const uint8_t *p, size_t len, bool tcp,
			      bool response);

/* "dns-zone-transfer", "dns-host-name-overflow", "dns-length-overflow":
 * the log reasons, ISA's names of the three attacks; "" for PASS. */
const char *px_dns_verdict_name(px_dns_verdict_t v);

#endif
