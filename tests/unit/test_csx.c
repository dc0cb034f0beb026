/* test_csx.c - the KB 911554 checksum exclusion list (issue 12 item 5):
 * the parser and formatter (lib/csx.c: exact round trip, every refusal
 * with its entry and position, the bounds), the kernel-set checks
 * (validate, reduce, keys), the wire (lib/codec.c: a member refuses a
 * hostile list), the store's request (store/protect.c), the compiled
 * rules (node/compile.c) and the log prefix (node/fwlog.c).  No socket,
 * no root. */
#include <stdlib.h>

#include <linux/netfilter/nf_tables.h>

#include "codec.h"
#include "compile.h"
#include "csx.h"
#include "fwlog.h"
#include "layout.h"
#include "policy.h"
#include "px.h"
#include "rules.h"
#include "unit.h"

/* store/protect.c (declared in store/store.h, outside the unit tests'
 * include path). */
int px_store_protect_request(px_policy_t *next, const Phalanx__CtlRequest *req,
			     char *err, size_t len, char *what, size_t wlen);

/* parse s, format it back: the same string. */
static int round_trip(const char *s, char *out, size_t len)
{
	px_csx_t *c = xmalloc(sizeof(*c));
	int rc = px_csx_parse(s, c, NULL, 0);

	if (rc == 0)
		px_csx_format(c, out, len);
	free(c);
	return rc;
}

TEST(csx_round_trip_exact)
{
	static const char *ok[] = {
		"",
		"12.34.55.66:45587>54.127.232.0:80;",      /* the script's */
		"12.0.0.0:0>14.15.16.17:80;",              /* its example */
		"12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>14.15.16.17:80;",
		"0.0.0.0:0>10.1.2.3:443;",                 /* web listener */
		"0.0.0.0:0>0.0.0.0:0;",
		"255.255.255.254:65535>1.2.3.4:1;9.9.9.9:0>9.9.9.9:0;",
	};
	char *out = xmalloc(PX_CSX_STR_MAX + 1);

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(round_trip(ok[i], out, PX_CSX_STR_MAX + 1), 0);
		CHECK_STR(out, ok[i]);
	}
	free(out);
}

TEST(csx_parse_fields)
{
	px_csx_t *c = xmalloc(sizeof(*c));
	static const uint8_t a[4] = { 12, 34, 55, 66 }, b[4] = { 54, 127, 232, 0 };

	CHECK_INT(px_csx_parse("12.34.55.66:45587>54.127.232.0:80;0.0.0.0:0>"
			       "1.2.3.4:0;", c, NULL, 0), 0);
	CHECK_INT(c->n, 2);
	CHECK(memcmp(c->v[0].src, a, 4) == 0 && memcmp(c->v[0].dst, b, 4) == 0);
	CHECK_INT(c->v[0].sport, 45587);
	CHECK_INT(c->v[0].dport, 80);
	CHECK_INT(c->v[1].sport, 0);
	CHECK_INT(c->v[1].src[0] | c->v[1].src[1] | c->v[1].src[2] |
		  c->v[1].src[3], 0);
	free(c);
}

TEST(csx_every_refusal_names_entry_and_position)
{
	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "12.0.0.0:0>14.15.16.17:80", "entry 1, position 26: expected "
		  "`;' (every entry ends with `;', the last too), saw the end "
		  "of the string" },
		{ "12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>14.15.16.17",
		  "entry 2, position 49: expected `:' after the destination "
		  "address, saw the end of the string" },
		{ "x", "entry 1, position 1: expected a digit (the source "
		  "address's byte 1), saw `x'" },
		{ " 1.2.3.4:0>5.6.7.8:8;", "entry 1, position 1: expected a "
		  "digit (the source address's byte 1), saw byte 0x20" },
		{ "1.2.3:0>5.6.7.8:8;", "entry 1, position 6: expected `.' in "
		  "the source address, saw `:'" },
		{ "1.2.3.4.5:0>5.6.7.8:8;", "entry 1, position 8: expected `:' "
		  "after the source address, saw `.'" },
		{ "1.2.3.256:0>5.6.7.8:8;", "entry 1, position 7: expected the "
		  "source address's byte 4 of 0 to 255, saw `2'" },
		{ "01.2.3.4:0>5.6.7.8:8;", "entry 1, position 2: expected no "
		  "leading zero in the source address's byte 1 (0 alone, or a "
		  "number from 1), saw `1'" },
		{ "1.2.3.4:65536>5.6.7.8:8;", "entry 1, position 9: expected "
		  "the source port of 0 to 65535, saw `6'" },
		{ "1.2.3.4:00>5.6.7.8:8;", "entry 1, position 10: expected no "
		  "leading zero in the source port (0 alone, or a number from "
		  "1), saw `0'" },
		{ "1.2.3.4:0-5.6.7.8:8;", "entry 1, position 10: expected `>' "
		  "after the source port, saw `-'" },
		{ "1.2.3.4:0>5.6.7.8;", "entry 1, position 18: expected `:' "
		  "after the destination address, saw `;'" },
		{ "1.2.3.4:0>5.6.7.8:;", "entry 1, position 19: expected a "
		  "digit (the destination port), saw `;'" },
		{ "1.2.3.4:0>5.6.7.8:8;;", "entry 2, position 21: expected a "
		  "digit (the source address's byte 1), saw `;'" },
		{ "1.2.3.4:0>5.6.7.8:8,", "entry 1, position 20: expected `;' "
		  "(every entry ends with `;', the last too), saw `,'" },
		{ "1.2.3.4:+1>5.6.7.8:8;", "entry 1, position 9: expected a "
		  "digit (the source port), saw `+'" },
		{ "2001:db8::1:0>5.6.7.8:8;", "entry 1, position 1: expected the "
		  "source address's byte 1 of 0 to 255, saw `2'" },
		{ "1.2.3.4:0>5.6.7.8:8;\n", "entry 2, position 21: expected a "
		  "digit (the source address's byte 1), saw byte 0x0a" },
	};
	px_csx_t *c = xmalloc(sizeof(*c));
	char why[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c->n = 7;
		CHECK_INT(px_csx_parse(bad[i].s, c, why, sizeof(why)),
			  PX_EBADREQ);
		CHECK_STR(why, bad[i].why);
		CHECK_INT(c->n, 0);  /* nothing half-parsed */
	}
	free(c);
}

TEST(csx_bounds)
{
	px_csx_t *c = xmalloc(sizeof(*c));
	size_t len = (PX_CSX_MAX + 1) * 24 + 1, at = 0;
	char *s = xmalloc(PX_CSX_STR_MAX + 2), *out = xmalloc(PX_CSX_STR_MAX + 1);
	char *big = xmalloc(len), why[200];
	size_t off = 0;

	/* 256 of the longest entries: exactly the string bound, accepted
	 * and given back whole. */
	for (int i = 0; i < PX_CSX_MAX; i++)
		off += (size_t)snprintf(s + off, PX_CSX_STR_MAX + 2 - off,
			"255.255.%d.%d:65535>255.255.255.255:65535;",
			100 + i / 100, 100 + i % 100);
	CHECK_INT(off, PX_CSX_STR_MAX);
	CHECK_INT(px_csx_parse(s, c, why, sizeof(why)), 0);
	CHECK_INT(c->n, PX_CSX_MAX);
	CHECK_INT(px_csx_format(c, out, PX_CSX_STR_MAX + 1), PX_CSX_STR_MAX);
	CHECK_STR(out, s);
	/* One character more: refused before parsing. */
	strcpy(s + off, "1");
	CHECK_INT(px_csx_parse(s, c, why, sizeof(why)), PX_ETOOBIG);
	CHECK_STR(why, "more than 11264 characters: at most 256 entries of at "
		  "most 44");
	/* 257 short entries: the entry bound, naming the 257th. */
	off = 0;
	for (int i = 0; i <= PX_CSX_MAX; i++) {
		at = off;
		off += (size_t)snprintf(big + off, len - off, "1.1.%d.%d:1>2.2.2.2:2;",
					i / 256, i % 256);
	}
	CHECK_INT(at, 5522); /* 10 of 20 characters, 90 of 21, 156 of 22 */
	CHECK_INT(px_csx_parse(big, c, why, sizeof(why)), PX_ETOOBIG);
	CHECK_STR(why, "entry 257, position 5523: at most 256 entries");
	CHECK_INT(c->n, 0);
	/* A hostile count (a member's copy): refused by validate. */
	c->n = PX_CSX_MAX + 1;
	CHECK_INT(px_csx_validate(c, why, sizeof(why)), PX_ETOOBIG);
	free(c);
	free(s);
	free(out);
	free(big);
}

TEST(csx_covers_reduce_and_kernel_overlaps)
{
	px_csx_t *c = xmalloc(sizeof(*c)), *r = xmalloc(sizeof(*r));
	char why[300];

	/* The article's example: the second entry is inside the first. */
	CHECK_INT(px_csx_parse("12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>"
			       "14.15.16.17:80;12.0.0.0:0>14.15.16.17:80;",
			       c, NULL, 0), 0);
	CHECK(px_csx_covers(&c->v[0], &c->v[1]));
	CHECK(!px_csx_covers(&c->v[1], &c->v[0]));
	CHECK_INT(px_csx_validate(c, why, sizeof(why)), 0);
	px_csx_reduce(c, r);
	CHECK_INT(r->n, 1);  /* equal entries: the first stays */
	CHECK_INT(r->v[0].sport, 0);
	/* Partial overlap through wildcards alone: the kernel takes both. */
	CHECK_INT(px_csx_parse("1.2.3.4:0>0.0.0.0:80;0.0.0.0:5>5.6.7.8:0;", c,
			       NULL, 0), 0);
	CHECK_INT(px_csx_validate(c, why, sizeof(why)), 0);
	px_csx_reduce(c, r);
	CHECK_INT(r->n, 2);
	/* An exact port 65535 facing a wildcard: one's last key lies in
	 * the other, which the kernel refuses; so is the list. */
	CHECK_INT(px_csx_parse("0.0.0.0:65535>0.0.0.0:0;1.2.3.4:0>0.0.0.0:0;",
			       c, NULL, 0), 0);
	CHECK_INT(px_csx_validate(c, why, sizeof(why)), PX_EBADREQ);
	CHECK(strstr(why, "entries 1 (0.0.0.0:65535>0.0.0.0:0;) and 2 "
		     "(1.2.3.4:0>0.0.0.0:0;)") != NULL);
	free(c);
	free(r);
}

TEST(csx_keys)
{
	px_csx_t *c = xmalloc(sizeof(*c));
	uint8_t k[PX_CSX_KEY_LEN];
	static const uint8_t first[PX_CSX_KEY_LEN] = {
		12, 0, 0, 0, 0, 0, 0, 0, 14, 15, 16, 17, 0, 80, 0, 0 };
	static const uint8_t last[PX_CSX_KEY_LEN] = {
		12, 0, 0, 0, 0xff, 0xff, 0, 0, 14, 15, 16, 17, 0, 80, 0, 0 };
	static const uint8_t any_last[PX_CSX_KEY_LEN] = {
		255, 255, 255, 255, 0xb2, 0x13, 0, 0, 255, 255, 255, 255,
		0xff, 0xff, 0, 0 };

	CHECK_INT(px_csx_parse("12.0.0.0:0>14.15.16.17:80;0.0.0.0:45587>"
			       "0.0.0.0:0;", c, NULL, 0), 0);
	px_csx_key(&c->v[0], false, k);
	CHECK(memcmp(k, first, sizeof(k)) == 0);
	px_csx_key(&c->v[0], true, k);
	CHECK(memcmp(k, last, sizeof(k)) == 0);
	px_csx_key(&c->v[1], true, k);
	CHECK(memcmp(k, any_last, sizeof(k)) == 0);
	CHECK(px_csx_hash(c) != 0);
	free(c);
}

TEST(csx_wire_round_trip_and_hostile)
{
	px_policy_t p, q;
	px_protection_t w;
	Phalanx__Protection hostile = PHALANX__PROTECTION__INIT;
	char why[300];
	static const char *s = "12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>"
			       "14.15.16.17:80;";

	px_policy_init(&p);
	CHECK_INT(px_csx_parse(s, &p.protect.csx, NULL, 0), 0);
	px_protection_build(&p.protect, &w);
	CHECK_STR(w.pr.checksum_exclusions, s);
	px_policy_init(&q);
	CHECK_INT(px_policy_apply_protection(&q, &w.pr, NULL, 0), 0);
	CHECK(memcmp(&q.protect, &p.protect, sizeof(p.protect)) == 0);
	px_protection_free(&w);
	/* A member refuses a malformed list and keeps what it had. */
	hostile.checksum_exclusions = "1.2.3.4:0>5.6.7.8:80";
	CHECK_INT(px_policy_apply_protection(&q, &hostile, why, sizeof(why)),
		  PX_EBADREQ);
	CHECK_STR(why, "checksum exclusions: entry 1, position 21: expected "
		  "`;' (every entry ends with `;', the last too), saw the end "
		  "of the string");
	CHECK_INT(q.protect.csx.n, 2);
	/* A Protection is the whole of it: one without the field (an older
	 * store's) has no exclusions. */
	hostile.checksum_exclusions = NULL;
	CHECK_INT(px_policy_apply_protection(&q, &hostile, NULL, 0), 0);
	CHECK_INT(q.protect.csx.n, 0);
	px_policy_free(&p);
	px_policy_free(&q);
}

TEST(csx_store_request)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	char err[300], what[256];
	px_policy_t p;

	px_policy_init(&p);
	req.op = PHALANX__CTL_REQUEST__OP__PROTECT;
	req.protect = &op;
	op.kind = PHALANX__PROTECT_OP__KIND__CHECKSUM_EXCLUSIONS;
	op.value = "0.0.0.0:0>10.1.2.3:443;";
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), 0);
	CHECK_STR(what, "checksum-exclusions set \"0.0.0.0:0>10.1.2.3:443;\" "
		  "(1 entry)");
	CHECK_INT(p.protect.csx.n, 1);
	op.value = "0.0.0.0:0>10.1.2.3:443";
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), PX_EBADREQ);
	CHECK_STR(err, "checksum-exclusions set: entry 1, position 23: "
		  "expected `;' (every entry ends with `;', the last too), saw "
		  "the end of the string");
	op.value = "";
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), 0);
	CHECK_STR(what, "checksum-exclusions set \"\" (cleared)");
	CHECK_INT(p.protect.csx.n, 0);
	px_policy_free(&p);
}

static void compile(const px_policy_t *p, struct rules *out)
{
	px_layout_t l;
	px_batch_t b;

	CHECK_INT(px_layout_build(p, false, &l), 0);
	px_batch_init(&b, 100);
	px_compile_rules(&b, "phalanx", &l);
	px_batch_finish(&b);
	px_test_read_rules(&b, out);
	px_batch_free(&b);
	px_layout_free(&l);
}

TEST(csx_compile)
{
	struct rules *rs = xcalloc(1, sizeof(*rs));
	px_layout_t l;
	px_policy_t p;
	int acc, inv;
	const px_lset_t *set = NULL;

	px_policy_init(&p);
	/* Without exclusions: no raw rules, no untracked accept; the guard
	 * drops invalid TCP to the member anyway (after the management
	 * and local returns). */
	compile(&p, rs);
	CHECK(px_test_find_rule(rs, "raw", NULL) < 0);
	CHECK(px_test_find_rule(rs, "forward", "ct load state", "0x00000040",
				NULL) < 0);
	inv = px_test_find_rule(rs, "guard", "cmp eq reg 1 0x00000006",
				"ct load state", "0x00000001", "drop", NULL);
	CHECK(inv > px_test_find_rule(rs, "guard", "set mgmt4", NULL));
	CHECK(inv > px_test_find_rule(rs, "guard", "fib saddr type", NULL));
	CHECK(px_test_find_rule(rs, "input", "ct load state", NULL) < 0);
	CHECK_INT(px_csx_parse("12.0.0.0:0>14.15.16.17:80;", &p.protect.csx,
			       NULL, 0), 0);
	/* udp-bomb's rule reads `ct state invalid' too (test_ids.c). */
	p.protect.ids[PX_IDS_UDP_BOMB].off = true;
	compile(&p, rs);
	/* Both directions, each field in its own 32-bit register. */
	CHECK(px_test_find_rule(rs, "raw", "network header + 12 => reg 8",
				"transport header + 0 => reg 9",
				"network header + 16 => reg 10",
				"transport header + 2 => reg 11",
				"lookup reg 1 set csx", "notrack", NULL) >= 0);
	CHECK(px_test_find_rule(rs, "raw", "network header + 16 => reg 8",
				"transport header + 2 => reg 9",
				"network header + 12 => reg 10",
				"transport header + 0 => reg 11",
				"lookup reg 1 set csx", "notrack", NULL) >= 0);
	/* The stateless accept comes before `ct state invalid drop'. */
	acc = px_test_find_rule(rs, "forward", "ct load state", "0x00000040",
				"accept", NULL);
	inv = px_test_find_rule(rs, "forward", "ct load state", "0x00000001",
				"drop", NULL);
	CHECK(acc >= 0 && inv > acc);
	acc = px_test_find_rule(rs, "input", "ct load state", "0x00000040",
				"accept", NULL);
	CHECK(acc >= 0 && acc < px_test_find_rule(rs, "input", "jump -> guard",
						  NULL));
	/* The set: concatenated intervals, 16-byte keys. */
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	for (size_t i = 0; i < l.nsets; i++)
		if (l.sets[i].csx)
			set = &l.sets[i];
	CHECK(set != NULL);
	CHECK_STR(set->name, "csx");
	CHECK_INT(set->key_len, 16);
	CHECK_INT(set->flags, NFT_SET_INTERVAL | NFT_SET_CONCAT);
	px_layout_free(&l);
	px_policy_free(&p);
	free(rs);
}

TEST(csx_fwlog_prefix)
{
	px_fw_prefix_t f;
	char code[16];

	CHECK_INT(px_fwlog_prefix_parse(PX_FWLOG_PFX_PROTECT
					PX_REASON_BAD_CHECKSUM, &f), 0);
	CHECK_INT(f.kind, PX_FWD_PROTECT);
	CHECK_STR(px_fw_results[f.result].name,
		  "FWX_E_BAD_TCP_CHECKSUM_DROPPED");
	px_fw_result_code(f.result, code, sizeof(code));
	CHECK_STR(code, "0xC0040031");
	CHECK(!f.flood);
}
