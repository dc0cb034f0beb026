/* pop3.h - the POP3 inspection of a published POP3 server (issue 12
 * item 8, docs/protection.md): ISA's POP intrusion detection ("POP
 * buffer overflow"), on one TCP segment from the client.  Plain C over
 * bytes, no I/O; node/nfq.c feeds it.
 *
 * RFC 1939 section 3: "Keywords are three or four characters long.  Each
 * argument may be up to 40 characters long."  RFC 2449 bounds a command
 * line at 255 octets with its CRLF.  A line whose keyword is one of RFC
 * 1939's commands (USER, PASS, APOP, STAT, LIST, RETR, DELE, NOOP, RSET,
 * QUIT, TOP, UIDL; any case) and breaks either bound is an overflow.
 * PASS's argument is the rest of the line (RFC 1939 lets it hold
 * spaces).  Other lines pass: extension commands (AUTH's SASL lines are
 * long base64) and a line's continuation in a later segment (the member
 * does not reassemble streams). */
#ifndef PX_POP3_H
#define PX_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_POP3_ARG_MAX 40   /* RFC 1939 section 3 */
#define PX_POP3_LINE_MAX 255 /* RFC 2449 section 4, with the CRLF */

/* True when a line of the segment p (len bytes) is an overflowing RFC
 * 1939 command.  Work: one pass over p. */
bool px_pop3_overflow(const uint8_t *p, size_t len);

#endif
