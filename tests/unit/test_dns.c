/* test_dns.c - the DNS inspection's parser (node/dns.c, issue 12 item
 * 8): queries and zone transfers, responses with a name over 255 bytes,
 * a compression loop, an RDLENGTH past the message, truncated messages,
 * TCP framing.  No socket, no root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "unit.h"

/* A message under construction. */
struct msg {
	uint8_t b[4096];
	size_t n;
};

static void put16(struct msg *m, unsigned v)
{
	m->b[m->n++] = (uint8_t)(v >> 8);
	m->b[m->n++] = (uint8_t)v;
}

static void put_hdr(struct msg *m, bool response, unsigned qd, unsigned an)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, response ? 0x8180 : 0x0100);
	put16(m, qd);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
}

/* "www.example.org" as labels. */
static void put_name(struct msg *m, const char *dotted)
{
	const char *s = dotted;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		m->b[m->n++] = (uint8_t)l;
		memcpy(m->b + m->n, s, l);
		m->n += l;
		s += l + (dot ? 1 : 0);
	}
	m->b[m->n++] = 0;
}

static void put_question(struct msg *m, const char *name, unsigned qtype)
{
	put_name(m, name);
	put16(m, qtype);
	put16(m, 1);
}

/* An A record owned by a pointer to the question's name (offset 12). */
static void put_a(struct msg *m, unsigned rdlen, size_t have)
{
	put16(m, 0xc00c);
	put16(m, 1);  /* A */
	put16(m, 1);  /* IN */
	put16(m, 0);
	put16(m, 300);
	put16(m, rdlen);
	for (size_t i = 0; i < have; i++)
		m->b[m->n++] = (uint8_t)(192 + i);
}

TEST(dns_good_query_and_answer_pass)
{
	struct msg m;

	put_hdr(&m, false, 1, 0);
	put_question(&m, "www.example.org", 1);
	CHECK_INT(px_dns_check_msg(m.b, m.n, false), PX_DNS_PASS);
	CHECK_INT(px_dns_check(m.b, m.n, false, false), PX_DNS_PASS);
	put_hdr(&m, true, 1, 1);
	put_question(&m, "www.example.org", 1);
	put_a(&m, 4, 4);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_PASS);
}

TEST(dns_axfr_and_ixfr_are_zone_transfers)
{
	struct msg m;
	uint8_t tcp[4096 + 2];

	put_hdr(&m, false, 1, 0);
	put_question(&m, "example.org", 252);
	CHECK_INT(px_dns_check(m.b, m.n, false, false), PX_DNS_ZONE_TRANSFER);
	CHECK_STR(px_dns_verdict_name(PX_DNS_ZONE_TRANSFER),
		  "dns-zone-transfer");
	/* Over TCP with its length prefix, and with the prefix sent in a
	 * segment of its own. */
	tcp[0] = (uint8_t)(m.n >> 8);
	tcp[1] = (uint8_t)m.n;
	memcpy(tcp + 2, m.b, m.n);
	CHECK_INT(px_dns_check(tcp, m.n + 2, true, false), PX_DNS_ZONE_TRANSFER);
	CHECK_INT(px_dns_check(tcp, 2, true, false), PX_DNS_PASS);
	CHECK_INT(px_dns_check(m.b, m.n, true, false), PX_DNS_ZONE_TRANSFER);
	put_hdr(&m, false, 1, 0);
	put_question(&m, "example.org", 251);
	CHECK_INT(px_dns_check(m.b, m.n, false, false), PX_DNS_ZONE_TRANSFER);
	/* An SOA query is not one. */
	put_hdr(&m, false, 1, 0);
	put_question(&m, "example.org", 6);
	CHECK_INT(px_dns_check(m.b, m.n, false, false), PX_DNS_PASS);
}

TEST(dns_long_name_is_host_name_overflow)
{
	struct msg m;
	char name[400];
	size_t n = 0;

	/* 5 labels of 63: 5 * 64 + 1 = 321 bytes on the wire. */
	for (int i = 0; i < 5; i++) {
		memset(name + n, 'a', 63);
		n += 63;
		name[n++] = i < 4 ? '.' : '\0';
	}
	put_hdr(&m, true, 1, 1);
	put_question(&m, name, 1);
	put_a(&m, 4, 4);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_NAME_OVERFLOW);
	CHECK_STR(px_dns_verdict_name(PX_DNS_NAME_OVERFLOW),
		  "dns-host-name-overflow");
	/* 4 labels of 63 are 4 * 64 + 1 = 257 bytes: over; 3 of 63 and
	 * one of 61 are 255: the longest legal name. */
	name[63 * 4 + 3] = '\0';
	put_hdr(&m, true, 1, 1);
	put_question(&m, name, 1);
	put_a(&m, 4, 4);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_NAME_OVERFLOW);
	name[63 * 3 + 3 + 61] = '\0';
	put_hdr(&m, true, 1, 1);
	put_question(&m, name, 1);
	put_a(&m, 4, 4);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_PASS);
	/* A long name in a CNAME's data, behind a good owner. */
	name[63 * 3 + 3 + 61] = 'a';
	name[63 * 3 + 3 + 62] = 'a';
	put_hdr(&m, true, 0, 1);
	put_name(&m, "www.example.org");
	put16(&m, 5);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 257);
	put_name(&m, name);
	CHECK_INT(m.n, 12 + 17 + 10 + 257);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_NAME_OVERFLOW);
}

TEST(dns_compression_loop_never_ends)
{
	struct msg m;

	/* The question's name points at itself. */
	put_hdr(&m, true, 1, 0);
	put16(&m, 0xc00c);
	put16(&m, 1);
	put16(&m, 1);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_NAME_OVERFLOW);
	/* A label then a pointer back to it: the name grows to 255. */
	put_hdr(&m, true, 1, 0);
	put_name(&m, "a");
	m.n--;
	put16(&m, 0xc00c);
	put16(&m, 1);
	put16(&m, 1);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_NAME_OVERFLOW);
	/* A query's loop is no zone transfer: it passes (the server's own
	 * parser refuses it). */
	m.b[2] = 0x01;
	CHECK_INT(px_dns_check_msg(m.b, m.n, false), PX_DNS_PASS);
}

TEST(dns_rdlength_overrun_is_length_overflow)
{
	struct msg m;

	put_hdr(&m, true, 1, 1);
	put_question(&m, "www.example.org", 1);
	put_a(&m, 200, 4); /* says 200 bytes, 4 follow */
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_LENGTH_OVERFLOW);
	CHECK_STR(px_dns_verdict_name(PX_DNS_LENGTH_OVERFLOW),
		  "dns-length-overflow");
	/* An A record of 8 bytes that are all there: the seed's "should
	 * be 4 bytes". */
	put_hdr(&m, true, 1, 1);
	put_question(&m, "www.example.org", 1);
	put_a(&m, 8, 8);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_LENGTH_OVERFLOW);
	/* A TXT record of any length that fits passes. */
	put_hdr(&m, true, 0, 1);
	put_name(&m, "t.example.org");
	put16(&m, 16);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 6);
	memcpy(m.b + m.n, "\x05hello", 6);
	m.n += 6;
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_PASS);
	CHECK_INT(px_dns_check_msg(m.b, m.n - 1, true), PX_DNS_LENGTH_OVERFLOW);
}

TEST(dns_truncated_messages_pass_and_read_nothing_past_the_end)
{
	struct msg m;

	put_hdr(&m, true, 1, 1);
	put_question(&m, "www.example.org", 1);
	put_a(&m, 4, 4);
	/* Every prefix of a good response: never a read past it (ASan),
	 * never a drop except where the cut falls inside the RDATA (the
	 * RDLENGTH then runs past the message). */
	for (size_t n = 0; n < m.n; n++) {
		px_dns_verdict_t v = px_dns_check_msg(m.b, n, true);

		if (n >= m.n - 4)
			CHECK_INT(v, PX_DNS_LENGTH_OVERFLOW);
		else
			CHECK_INT(v, PX_DNS_PASS);
		CHECK_INT(px_dns_check_msg(m.b, n, false), PX_DNS_PASS);
		CHECK_INT(px_dns_check(m.b, n, true, true), PX_DNS_PASS);
	}
	/* Counts that promise more than the message holds. */
	put_hdr(&m, true, 65535, 65535);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_PASS);
	/* A pointer past the end. */
	put_hdr(&m, true, 1, 0);
	put16(&m, 0xcfff);
	CHECK_INT(px_dns_check_msg(m.b, m.n, true), PX_DNS_PASS);
	/* A query cut inside its QTYPE. */
	put_hdr(&m, false, 1, 0);
	put_question(&m, "example.org", 252);
	CHECK_INT(px_dns_check_msg(m.b, m.n - 3, false), PX_DNS_PASS);
}

TEST(dns_tcp_checks_whole_messages_only)
{
	struct msg m;
	uint8_t tcp[2 * 4096 + 4];
	size_t n;

	put_hdr(&m, true, 1, 1);
	put_question(&m, "www.example.org", 1);
	put_a(&m, 200, 4);
	/* Two messages, the second bad. */
	n = 0;
	for (int i = 0; i < 2; i++) {
		tcp[n++] = (uint8_t)(m.n >> 8);
		tcp[n++] = (uint8_t)m.n;
		memcpy(tcp + n, m.b, m.n);
		if (i == 0)
			tcp[n + m.n - 4 - 1] = 4; /* rdlen low byte: good */
		n += m.n;
	}
	CHECK_INT(px_dns_check(tcp, n, true, true), PX_DNS_LENGTH_OVERFLOW);
	/* The segment cut: it does not start and end whole messages. */
	CHECK_INT(px_dns_check(tcp, n - 1, true, true), PX_DNS_PASS);
	CHECK_INT(px_dns_check(tcp + 1, n - 1, true, true), PX_DNS_PASS);
}

/* Hostile bytes: mutations of a good response and random messages, read
 * in every mode.  The checks are that nothing reads past the buffer (the
 * ASan build) and that every verdict is one of the four. */
TEST(dns_random_and_mutated_messages_stay_in_bounds)
{
	struct msg good, m;
	uint32_t x = 12345;

	put_hdr(&good, true, 1, 2);
	put_question(&good, "www.example.org", 1);
	put_a(&good, 4, 4);
	put_a(&good, 4, 4);
	for (int i = 0; i < 20000; i++) {
		size_t n;
		uint8_t *buf;

		m = good;
		for (int k = 0; k < 1 + i % 4; k++) {
			x = x * 1103515245u + 12345u;
			m.b[(x >> 8) % m.n] = (uint8_t)(x >> 24);
		}
		x = x * 1103515245u + 12345u;
		n = (x >> 8) % (m.n + 1);
		/* An exact-size copy: a read past n is a read past the heap
		 * block. */
		buf = malloc(n ? n : 1);
		CHECK(buf != NULL);
		memcpy(buf, m.b, n);
		for (int mode = 0; mode < 4; mode++) {
			px_dns_verdict_t v = px_dns_check(buf, n, mode & 1,
							  mode & 2);

			if (v > PX_DNS_LENGTH_OVERFLOW) {
				free(buf);
				CHECK_INT(v, PX_DNS_PASS);
			}
		}
		free(buf);
	}
}
