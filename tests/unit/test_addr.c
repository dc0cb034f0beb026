/* test_addr.c - address/prefix parsing, validation, ordering, diffing. */
#include "addr.h"
#include "px.h"
#include "unit.h"

static px_entry_t E(const char *s)
{
	px_entry_t e;

	if (px_entry_parse(s, &e) != 0)
		memset(&e, 0xee, sizeof(e));
	return e;
}

static const char *fmt(const px_entry_t *e)
{
	static char buf[4][PX_ENTRY_STR_MAX];
	static int k;

	k = (k + 1) % 4;
	px_entry_format(e, buf[k], sizeof(buf[k]));
	return buf[k];
}

TEST(parse_valid_entries)
{
	static const struct {
		const char *in, *out;
		int prefix;
	} cases[] = {
		{ "192.0.2.1", "192.0.2.1", 0 },
		{ "192.0.2.1/32", "192.0.2.1", 0 },
		{ "192.0.2.0/24", "192.0.2.0/24", 1 },
		{ "0.0.0.0/0", "0.0.0.0/0", 1 },
		{ "10.128.0.0/9", "10.128.0.0/9", 1 },
		{ "2001:db8::1", "2001:db8::1", 0 },
		{ "2001:db8::/32", "2001:db8::/32", 1 },
		{ "2001:db8:0:1::/64", "2001:db8:0:1::/64", 1 },
		{ "::/0", "::/0", 1 },
		{ "2001:DB8::1/128", "2001:db8::1", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		px_entry_t e;

		CHECK_INT(px_entry_parse(cases[i].in, &e), 0);
		CHECK_STR(fmt(&e), cases[i].out);
		CHECK_INT(e.prefix, cases[i].prefix);
	}
}

TEST(parse_rejects_malformed)
{
	static const char *bad[] = {
		"", "10.0.0.300", "10.0.0", "10.0.0.1/33", "10.0.0.1/", "/24",
		"10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/0x8", "10.0.0.0/8/8",
		"2001:db8::/129", "2001:db8:::1", "example.com", "10.0.0.1 ",
		" 10.0.0.1", "10.0.0.0/0008", "fe80::1%eth0",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999/128",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		px_entry_t e;
		int rc = px_entry_parse(bad[i], &e);

		if (rc != PX_EBADADDR) {
			px_test_fail(__FILE__, __LINE__, "`%s': expected "
				     "PX_EBADADDR, saw %d", bad[i], rc);
			return;
		}
	}
}

TEST(parse_rejects_host_bits)
{
	px_entry_t e;

	CHECK_INT(px_entry_parse("10.0.0.1/24", &e), PX_EHOSTBITS);
	CHECK_INT(px_entry_parse("11.0.0.0/7", &e), PX_EHOSTBITS);
	CHECK_INT(px_entry_parse("192.0.2.128/25", &e), 0);
	CHECK_INT(px_entry_parse("192.0.2.129/25", &e), PX_EHOSTBITS);
	CHECK_INT(px_entry_parse("2001:db8::1/64", &e), PX_EHOSTBITS);
	CHECK_INT(px_entry_parse("2001:db8:0:1::/63", &e), PX_EHOSTBITS);
}

TEST(wire_roundtrip_and_hostile_decode)
{
	const char *in[] = { "192.0.2.1", "198.51.100.0/24", "2001:db8::5",
			     "2001:db8:1::/48" };
	uint8_t buf[PX_ENTRY_WIRE_MAX];
	size_t i;

	for (i = 0; i < 4; i++) {
		px_entry_t e = E(in[i]), d;
		size_t n = px_entry_encode(&e, buf);

		CHECK_INT(n, e.family == 4 ? 6 : 18);
		CHECK_INT(px_entry_decode(buf, n, &d), 0);
		CHECK_INT(px_entry_cmp(&e, &d), 0);
	}
	/* Wrong length for the family, bad family, plen too big, host bits. */
	{
		uint8_t v4[6] = { 4, 24, 10, 0, 0, 1 };
		uint8_t v4b[6] = { 4, 33, 10, 0, 0, 0 };
		uint8_t fam[6] = { 5, 32, 10, 0, 0, 0 };
		px_entry_t d;

		CHECK_INT(px_entry_decode(v4, 6, &d), PX_EHOSTBITS);
		CHECK_INT(px_entry_decode(v4b, 6, &d), PX_EBADADDR);
		CHECK_INT(px_entry_decode(fam, 6, &d), PX_EBADADDR);
		CHECK_INT(px_entry_decode(v4, 5, &d), PX_EBADADDR);
		CHECK_INT(px_entry_decode(v4, 18, &d), PX_EBADADDR);
	}
}

TEST(set_names)
{
	CHECK(px_setname_valid("flood-exceptions"));
	CHECK(px_setname_valid("nat_gateways2"));
	CHECK(!px_setname_valid(""));
	CHECK(!px_setname_valid("-x"));
	CHECK(!px_setname_valid("Upper"));
	CHECK(!px_setname_valid("a b"));
	CHECK(!px_setname_valid("a.v4"));
	CHECK(!px_setname_valid("abcdefghijklmnopqrstuvwxyz0123456"));
}

static void fill(px_entries_t *s, const char **in, size_t n)
{
	size_t i;

	px_entries_init(s);
	for (i = 0; i < n; i++) {
		px_entry_t e = E(in[i]);

		px_entries_push(s, &e);
	}
	px_entries_normalize(s);
}

TEST(set_diff_and_apply)
{
	const char *a[] = { "10.0.0.1", "10.0.0.2", "10.1.0.0/16", "2001:db8::1",
			    "10.0.0.2" };
	const char *b[] = { "10.0.0.2", "10.0.0.3", "2001:db8::1",
			    "2001:db8:5::/48" };
	px_entries_t old, new_, add, del, cur;

	fill(&old, a, 5);
	fill(&new_, b, 4);
	CHECK_INT(old.n, 4); /* the duplicate went */
	px_entries_init(&add);
	px_entries_init(&del);
	px_entries_diff(&old, &new_, &add, &del);
	CHECK_INT(add.n, 2);
	CHECK_INT(del.n, 2);
	CHECK_STR(fmt(&add.v[0]), "10.0.0.3");
	CHECK_STR(fmt(&add.v[1]), "2001:db8:5::/48");
	CHECK_STR(fmt(&del.v[0]), "10.0.0.1");
	CHECK_STR(fmt(&del.v[1]), "10.1.0.0/16");
	px_entries_copy(&cur, &old);
	px_entries_apply(&cur, &add, &del);
	CHECK_INT(cur.n, new_.n);
	CHECK_INT(memcmp(cur.v, new_.v, cur.n * sizeof(px_entry_t)), 0);
	px_entries_free(&old);
	px_entries_free(&new_);
	px_entries_free(&add);
	px_entries_free(&del);
	px_entries_free(&cur);
}

TEST(set_diff_large_single_change)
{
	px_entries_t old, new_, add, del;
	px_entry_t e;
	size_t i;

	px_entries_init(&old);
	for (i = 0; i < 200000; i++) {
		e = px_test_host4(i);
		px_entries_push(&old, &e);
	}
	px_entries_normalize(&old);
	px_entries_copy(&new_, &old);
	/* Remove one in the middle: the diff is that one entry. */
	memmove(&new_.v[777], &new_.v[778], (new_.n - 778) * sizeof(e));
	new_.n--;
	px_entries_init(&add);
	px_entries_init(&del);
	px_entries_diff(&old, &new_, &add, &del);
	CHECK_INT(add.n, 0);
	CHECK_INT(del.n, 1);
	CHECK_INT(px_entry_cmp(&del.v[0], &old.v[777]), 0);
	px_entries_free(&old);
	px_entries_free(&new_);
	px_entries_free(&add);
	px_entries_free(&del);
}

TEST(overlap_detection)
{
	const char *ok[] = { "10.0.0.0/24", "10.0.1.0/24", "10.0.0.5",
			     "2001:db8::/64", "2001:db8:0:1::/64", "11.0.0.0/8" };
	const char *bad[] = { "10.0.0.0/8", "10.200.0.0/16", "192.0.2.0/24" };
	const char *bad6[] = { "2001:db8::/32", "2001:db8:ffff::/48" };
	const px_entry_t *a, *b;
	px_entries_t s;

	fill(&s, ok, 6);
	CHECK_INT(px_entries_check_overlap(&s, &a, &b), 0);
	px_entries_free(&s);
	fill(&s, bad, 3);
	CHECK_INT(px_entries_check_overlap(&s, &a, &b), PX_EOVERLAP);
	CHECK_STR(fmt(a), "10.0.0.0/8");
	CHECK_STR(fmt(b), "10.200.0.0/16");
	px_entries_free(&s);
	fill(&s, bad6, 2);
	CHECK_INT(px_entries_check_overlap(&s, &a, &b), PX_EOVERLAP);
	px_entries_free(&s);
}
