/* pop3.c - POP3 inspection of one segment (pop3.h). */
#include <string.h>
#include <strings.h>

#include "pop3.h"

static const char *const commands[] = {
	"USER", "PASS", "APOP", "STAT", "LIST", "RETR", "DELE", "NOOP",
	"RSET", "QUIT", "TOP", "UIDL",
};

static bool rfc1939_command(const uint8_t *k, size_t n)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strlen(commands[i]) == n &&
		    strncasecmp(commands[i], (const char *)k, n) == 0)
			return true;
	return false;
}

/* One line l of n bytes without its line end; crlf: the bytes of its
 * end that the segment holds (0 when the segment ends inside it). */
static bool line_overflow(const uint8_t *l, size_t n, size_t crlf)
{
	size_t k = 0, arg;
	bool pass;

	while (k < n && l[k] != ' ')
		k++;
	if (!rfc1939_command(l, k))
		return false;
	if (n + crlf > PX_POP3_LINE_MAX)
		return true;
	pass = k == 4 && strncasecmp((const char *)l, "PASS", 4) == 0;
	while (k < n) {
		k++; /* the space */
		arg = 0;
		while (k < n && (pass || l[k] != ' ')) {
			k++;
			arg++;
		}
		if (arg > PX_POP3_ARG_MAX)
			return true;
	}
	return false;
}

bool px_pop3_overflow(const uint8_t *p, size_t len)
{
	size_t start = 0;

	while (start < len) {
		const uint8_t *nl = memchr(p + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - p) : len;
		size_t n = end - start, crlf = nl ? 1 : 0;

		if (n && p[start + n - 1] == '\r') {
			n--;
			crlf++;
		}
		if (line_overflow(p + start, n, crlf))
			return true;
		start = nl ? end + 1 : len;
	}
	return false;
}
