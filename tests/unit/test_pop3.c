/* test_pop3.c - the POP3 inspection (node/pop3.c, issue 12 item 8):
 * RFC 1939's 40-character arguments and RFC 2449's 255-octet lines. */
#include <stdlib.h>
#include <string.h>

#include "pop3.h"
#include "unit.h"

static bool over(const char *s)
{
	return px_pop3_overflow((const uint8_t *)s, strlen(s));
}

TEST(pop3_commands_within_bounds_pass)
{
	CHECK(!over("USER alice\r\n"));
	CHECK(!over("PASS correct horse battery staple\r\n"));
	CHECK(!over("STAT\r\nLIST 1\r\nRETR 1\r\nTOP 1 10\r\nQUIT\r\n"));
	CHECK(!over("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"));
	CHECK(!over(""));
	/* Extension commands and data are not RFC 1939's: AUTH's base64
	 * lines are long. */
	char b[400];

	memset(b, 'Q', sizeof(b) - 3);
	memcpy(b + sizeof(b) - 3, "\r\n", 3);
	CHECK(!over(b));
	memcpy(b, "AUTH PLAIN ", 11);
	CHECK(!over(b));
}

TEST(pop3_long_argument_or_line_is_overflow)
{
	char b[400];

	/* USER with 41 characters: one over RFC 1939's 40. */
	strcpy(b, "USER ");
	memset(b + 5, 'a', 41);
	strcpy(b + 46, "\r\n");
	CHECK(over(b));
	b[45] = '\r';
	b[46] = '\n';
	b[47] = '\0';
	CHECK(!over(b)); /* 40: passes */
	/* PASS's argument is the rest of the line, spaces and all. */
	strcpy(b, "pass ");
	for (int i = 0; i < 9; i++)
		strcat(b, "word ");
	strcat(b, "\r\n");
	CHECK(over(b));
	/* A line over 255 octets with short arguments. */
	strcpy(b, "LIST");
	for (int i = 0; i < 60; i++)
		strcat(b, " 1234");
	strcat(b, "\r\n");
	CHECK(over(b));
	/* Cut by the segment's end: what is there already overflows. */
	strcpy(b, "USER ");
	memset(b + 5, 'a', 60);
	CHECK(px_pop3_overflow((const uint8_t *)b, 65));
	/* A good line, then a bad one. */
	strcpy(b, "NOOP\r\nAPOP ");
	memset(b + 11, 'x', 50);
	strcpy(b + 61, " d\r\n");
	CHECK(over(b));
}

TEST(pop3_random_segments_stay_in_bounds)
{
	uint32_t x = 777;

	for (int i = 0; i < 20000; i++) {
		size_t n;
		uint8_t *buf;

		x = x * 1103515245u + 12345u;
		n = (x >> 8) % 300;
		buf = malloc(n ? n : 1);
		CHECK(buf != NULL);
		for (size_t k = 0; k < n; k++) {
			x = x * 1103515245u + 12345u;
			/* Mostly letters, spaces and line ends. */
			buf[k] = "USERPASS \r\nlist 1a"[(x >> 16) % 18];
		}
		(void)px_pop3_overflow(buf, n);
		free(buf);
	}
}
