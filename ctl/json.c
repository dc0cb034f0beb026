/* json.c - JSON string escaping. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF), 0 if invalid. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	/* The string's NUL fails the range test, so we never read past it. */
	for (i = 1; i < n; i++) {
		unsigned char min = i == 1 ? lo : 0x80;
		unsigned char max = i == 1 ? hi : 0xbf;

		if (p[i] < min || p[i] > max)
			return 0;
	}
	return n;
}

/* The characters JSON escapes with a letter (or themselves). */
static const char short_escape[] = {
	['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',
	['\r'] = 'r', ['\t'] = 't',
};

void px_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	putc('"', f);
	while (*p) {
		unsigned char c = *p;
		size_t n;

		if (c < sizeof(short_escape) && short_escape[c]) {
			putc('\\', f);
			putc(short_escape[c], f);
		} else if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
		} else if (c < 0x80) {
			putc(c, f);
		} else if ((n = utf8_len(p)) != 0) {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		} else {
			fputs("\\ufffd", f);
		}
		p++;
	}
	putc('"', f);
}
