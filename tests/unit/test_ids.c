/* test_ids.c - intrusion detection (issue 12 item 6): the settings table
 * and its validation (lib/ids.c), the wire round trip (lib/codec.c), the
 * store's `ids set' (store/protect.c), the compiled rules read back as
 * libnftnl text (node/compile.c), the firewall log's reasons and TMG
 * codes (node/fwlog.c) and the per-source count of the alert.  No
 * socket, no root. */
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>

#include "codec.h"
#include "compile.h"
#include "fwlog.h"
#include "ids.h"
#include "layout.h"
#include "policy.h"
#include "px.h"
#include "rules.h"
#include "unit.h"

int px_store_protect_request(px_policy_t *next, const Phalanx__CtlRequest *req,
			     char *err, size_t len, char *what, size_t wlen);

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

static size_t count_with(const struct rules *rs, const char *chain,
			 const char *needle)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->chain[i], chain) == 0 &&
		    strstr(rs->text[i], needle))
			n++;
	return n;
}

TEST(ids_table_defaults_and_bounds)
{
	px_ids_t ids[PX_IDS_COUNT];
	char why[200];

	memset(ids, 0, sizeof(ids));
	CHECK_INT(px_ids_find("land-attack"), PX_IDS_LAND_ATTACK);
	CHECK_INT(px_ids_find("oob-attack"), PX_IDS_OOB_ATTACK);
	CHECK(px_ids_find("winnuke") < 0);
	/* A zeroed table is the default: every detection on, no block. */
	CHECK_INT(px_ids_threshold(PX_IDS_PORT_SCAN, &ids[0]), 20);
	CHECK_INT(px_ids_threshold(PX_IDS_HALF_SCAN, &ids[1]), 3);
	CHECK_INT(px_ids_threshold(PX_IDS_LAND_ATTACK, &ids[2]), 1);
	CHECK_INT(px_ids_window(PX_IDS_HALF_SCAN, &ids[1]), 60);
	CHECK_INT(px_ids_block_max(ids), 0);
	CHECK_INT(px_ids_validate(ids, why, sizeof(why)), 0);
	ids[PX_IDS_LAND_ATTACK].block_s = 30;
	ids[PX_IDS_OOB_ATTACK].block_s = 90;
	CHECK_INT(px_ids_block_max(ids), 90);
	ids[PX_IDS_OOB_ATTACK].off = true; /* off blocks nothing */
	CHECK_INT(px_ids_block_max(ids), 30);
	ids[PX_IDS_UDP_BOMB].window_s = PX_IDS_WINDOW_MAX + 1;
	CHECK_INT(px_ids_validate(ids, why, sizeof(why)), PX_ERANGE);
	CHECK(strstr(why, "udp-bomb") != NULL);
	ids[PX_IDS_UDP_BOMB].window_s = 0;
	ids[PX_IDS_PORT_SCAN].block_s = PX_IDS_BLOCK_MAX + 1;
	CHECK_INT(px_ids_validate(ids, why, sizeof(why)), PX_ERANGE);
	CHECK(strstr(why, "port-scan") != NULL);
}

TEST(ids_wire_round_trip_and_hostile)
{
	px_policy_t a, b;
	px_protection_t w;
	Phalanx__Protection old = PHALANX__PROTECTION__INIT;
	Phalanx__IdsSetting bad = PHALANX__IDS_SETTING__INIT;
	Phalanx__IdsSetting *badp = &bad;
	char why[200];

	px_policy_init(&a);
	px_policy_init(&b);
	a.protect.ids[PX_IDS_LAND_ATTACK].off = true;
	a.protect.ids[PX_IDS_HALF_SCAN].threshold = 7;
	a.protect.ids[PX_IDS_HALF_SCAN].window_s = 10;
	a.protect.ids[PX_IDS_OOB_ATTACK].block_s = 120;
	px_protection_build(&a.protect, &w);
	CHECK_INT(w.pr.n_ids, PX_IDS_COUNT);
	CHECK_INT(px_policy_apply_protection(&b, &w.pr, why, sizeof(why)), 0);
	CHECK(memcmp(a.protect.ids, b.protect.ids, sizeof(a.protect.ids)) == 0);
	px_protection_free(&w);
	/* An older store sends no ids: every detection on, defaults. */
	CHECK_INT(px_policy_apply_protection(&b, &old, why, sizeof(why)), 0);
	CHECK(!b.protect.ids[PX_IDS_LAND_ATTACK].off);
	CHECK_INT(b.protect.ids[PX_IDS_HALF_SCAN].threshold, 0);
	/* Hostile: an unknown detection, a window past the bound; the
	 * member's policy is unchanged. */
	bad.name = (char *)"teardrop";
	old.ids = &badp;
	old.n_ids = 1;
	b.protect.ids[PX_IDS_OOB_ATTACK].block_s = 5;
	CHECK(px_policy_apply_protection(&b, &old, why, sizeof(why)) < 0);
	CHECK(strstr(why, "teardrop") != NULL);
	bad.name = (char *)"udp-bomb";
	bad.window_s = PX_IDS_WINDOW_MAX + 1;
	CHECK_INT(px_policy_apply_protection(&b, &old, why, sizeof(why)),
		  PX_ERANGE);
	CHECK_INT(b.protect.ids[PX_IDS_OOB_ATTACK].block_s, 5);
	px_policy_free(&a);
	px_policy_free(&b);
}

TEST(ids_store_request)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	Phalanx__IdsSetting d = PHALANX__IDS_SETTING__INIT;
	px_policy_t p;
	char err[200], what[256];

	px_policy_init(&p);
	req.protect = &op;
	op.kind = PHALANX__PROTECT_OP__KIND__IDS_SET;
	op.ids = &d;
	d.name = (char *)"half-scan";
	d.threshold = 5;
	d.window_s = 30;
	d.block_s = 60;
	d.given = 1 | 4; /* --threshold 5 --block 60, no --window */
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), 0);
	CHECK_INT(p.protect.ids[PX_IDS_HALF_SCAN].threshold, 5);
	CHECK_INT(p.protect.ids[PX_IDS_HALF_SCAN].window_s, 0);
	CHECK_INT(p.protect.ids[PX_IDS_HALF_SCAN].block_s, 60);
	CHECK(strstr(what, "ids set half-scan on (threshold 5, window 60 s, "
		     "block 60 s)") != NULL);
	/* `off' alone keeps the numbers. */
	d.off = true;
	d.given = 0;
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), 0);
	CHECK(p.protect.ids[PX_IDS_HALF_SCAN].off);
	CHECK_INT(p.protect.ids[PX_IDS_HALF_SCAN].threshold, 5);
	d.name = (char *)"teardrop";
	CHECK(px_store_protect_request(&p, &req, err, sizeof(err), what,
				       sizeof(what)) < 0);
	CHECK(strstr(err, "unknown detection `teardrop'") != NULL);
	px_policy_free(&p);
}

TEST(ids_compile_default)
{
	struct rules *rs = xcalloc(1, sizeof(*rs));
	px_policy_t p;
	px_layout_t l;
	int land, oob, inv, est, blk;

	px_policy_init(&p);
	compile(&p, rs);
	/* land-attack: the SYN's tuple into ids_land4, its reverse looked
	 * up (source address and port equal to the destination's). */
	land = px_test_find_rule(rs, "forward", "bitwise reg 1 = ( reg 1 & "
				 "0x00000012 ) ^ 0x00000000", "cmp eq reg 1 "
				 "0x00000002",
				 "network header + 12 => reg 8",
				 "transport header + 0 => reg 9",
				 "dynset update reg_key 8 set ids_land4",
				 "network header + 16 => reg 8",
				 "transport header + 2 => reg 9",
				 "network header + 12 => reg 10",
				 "lookup reg 1 set ids_land4",
				 "px:p:land-attack", "drop", NULL);
	CHECK(land >= 0);
	CHECK(px_test_find_rule(rs, "forward", "set ids_land6",
				"px:p:land-attack", NULL) >= 0);
	/* oob-attack: URG to 139. */
	oob = px_test_find_rule(rs, "forward", "& 0x00000020 )",
				"cmp eq reg 1 0x00000020",
				"transport header + 2 => reg 1",
				"cmp eq reg 1 0x00008b00",
				"px:p:oob-attack", "drop", NULL);
	CHECK(oob >= 0);
	/* half-scan: no SYN/ACK/RST; SYN+FIN; SYN+RST; a RST from the
	 * client after the SYN-ACK came back, before the final ACK (seen
	 * reply, not assured). */
	CHECK_INT(count_with(rs, "forward", "px:p:half-scan"), 4);
	CHECK(px_test_find_rule(rs, "forward", "& 0x00000004 )",
				"cmp eq reg 1 0x00000004",
				"ct load direction", "cmp eq reg 1 0x00000000",
				"ct load status", "& 0x00000006 )",
				"cmp eq reg 1 0x00000002", "px:p:half-scan",
				"drop", NULL) >= 0);
	CHECK(px_test_find_rule(rs, "forward", "& 0x00000016 )",
				"cmp eq reg 1 0x00000000", "px:p:half-scan",
				NULL) >= 0);
	CHECK(px_test_find_rule(rs, "forward", "& 0x00000003 )",
				"cmp eq reg 1 0x00000003", "px:p:half-scan",
				NULL) >= 0);
	CHECK(px_test_find_rule(rs, "forward", "& 0x00000006 )",
				"cmp eq reg 1 0x00000006", "px:p:half-scan",
				NULL) >= 0);
	/* udp-bomb: length under a header, or conntrack's invalid UDP. */
	CHECK(px_test_find_rule(rs, "forward", "cmp eq reg 1 0x00000011",
				"transport header + 4 => reg 1",
				"cmp lt reg 1 0x00000800", "px:p:udp-bomb",
				NULL) >= 0);
	CHECK(px_test_find_rule(rs, "forward", "cmp eq reg 1 0x00000011",
				"ct load state", "px:p:udp-bomb", NULL) >= 0);
	/* Before conntrack's own invalid drop (which would take half-scan
	 * flags and bad UDP unlogged) and before any accept but the early
	 * accepts of established TCP, whose flags test (SYN, ACK, RST, URG:
	 * ACK alone) leaves URG, RST and flags without ACK to the
	 * detections. */
	inv = px_test_find_rule(rs, "forward", "ct load state",
				"0x00000001", "immediate reg 0 drop", NULL);
	est = px_test_find_rule(rs, "forward", "ct load state", "accept",
				NULL);
	CHECK(land < inv || inv < 0);
	CHECK(est >= 0 && est < oob);
	for (int i = 0; i < oob; i++)
		if (strcmp(rs->chain[i], "forward") == 0 &&
		    strstr(rs->text[i], "accept"))
			CHECK(strstr(rs->text[i], "& 0x00000036 )") &&
			      strstr(rs->text[i], "cmp eq reg 1 0x00000010"));
	/* Blocked sources are dropped first; nothing adds to the block
	 * set without --block. */
	blk = px_test_find_rule(rs, "forward", "lookup reg 1 set ids_block4",
				"drop", NULL);
	CHECK(blk >= 0 && blk < land);
	CHECK_INT(count_with(rs, "forward", "set ids_block4 timeout"), 0);
	CHECK_INT(count_with(rs, "forward", "idsm_half-scan"), 0);
	CHECK_INT(count_with(rs, "forward", "timeout"), 0);
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	for (size_t i = 0; i < l.nsets; i++)
		if (strcmp(l.sets[i].name, "ids_land4") == 0)
			CHECK(l.sets[i].key_len == 16 &&
			      l.sets[i].timeout_ms == PX_IDS_LAND_MS);
	px_layout_free(&l);
	px_policy_free(&p);
	free(rs);
}

TEST(ids_compile_off_and_block)
{
	struct rules *rs = xcalloc(1, sizeof(*rs));
	px_policy_t p;
	px_layout_t l;
	bool land_set = false, meter = false;

	px_policy_init(&p);
	p.protect.ids[PX_IDS_LAND_ATTACK].off = true;
	p.protect.ids[PX_IDS_OOB_ATTACK].block_s = 30;   /* threshold 1 */
	p.protect.ids[PX_IDS_HALF_SCAN].block_s = 45;    /* threshold 3 */
	compile(&p, rs);
	CHECK_INT(count_with(rs, "forward", "land-attack"), 0);
	CHECK_INT(count_with(rs, "forward", "ids_land"), 0);
	/* oob: the source joins ids_block4/6 at once (30 s), then the
	 * packet is dropped and logged. */
	CHECK(px_test_find_rule(rs, "forward", "cmp eq reg 1 0x00008b00",
				"cmp eq reg 1 0x00000002",
				"network header + 12 => reg 1",
				"dynset add reg_key 1 set ids_block4 timeout "
				"30000ms", NULL) >= 0);
	CHECK(px_test_find_rule(rs, "forward", "cmp eq reg 1 0x00008b00",
				"dynset add reg_key 1 set ids_block6 timeout "
				"30000ms", NULL) >= 0);
	/* half-scan: after more than threshold - 1 (2) in its window. */
	CHECK(px_test_find_rule(rs, "forward", "& 0x00000016 )",
				"dynset update reg_key 1 set idsm_half-scan4 "
				"expr [ limit rate 2/minute burst 2 type "
				"packets flags 0x1 ]",
				"dynset add reg_key 1 set ids_block4 timeout "
				"45000ms", NULL) >= 0);
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	for (size_t i = 0; i < l.nsets; i++) {
		if (strncmp(l.sets[i].name, "ids_land", 8) == 0)
			land_set = true;
		if (strcmp(l.sets[i].name, "idsm_half-scan4") == 0)
			meter = l.sets[i].timeout_ms == 60000 &&
				l.sets[i].value == 3;
	}
	CHECK(!land_set);
	CHECK(meter);
	px_layout_free(&l);
	px_policy_free(&p);
	free(rs);
}

TEST(ids_port_scan_compile)
{
	struct rules *rs = xcalloc(1, sizeof(*rs));
	px_policy_t p;
	int det, add;

	px_policy_init(&p);
	p.protect.ids[PX_IDS_PORT_SCAN].threshold = 5;
	p.protect.ids[PX_IDS_PORT_SCAN].window_s = 30;
	compile(&p, rs);
	/* A SYN to a port of a host the source did not try in the window
	 * counts for the source and host; past 5 it is dropped and logged. */
	det = px_test_find_rule(rs, "forward", "cmp eq reg 1 0x00000002",
				"& 0x00000012 )",
				"network header + 12 => reg 8",
				"network header + 16 => reg 9",
				"transport header + 2 => reg 10",
				"lookup reg 1 set ids_ps4 0x1",
				"dynset update reg_key 8 set idsm_port-scan4 expr "
				/* libnftnl prints a 30 s unit as `error' */
				"[ limit rate 5/", "burst 5 type packets flags "
				"0x1 ]", "px:p:port-scan", "drop", NULL);
	/* then the port joins the source's ports */
	add = px_test_find_rule(rs, "forward", "cmp eq reg 1 0x00000002",
				"& 0x00000012 )",
				"dynset update reg_key 8 set ids_ps4", NULL);
	CHECK(det >= 0 && add > det);
	CHECK_INT(count_with(rs, "forward", "px:p:port-scan"), 4);
	CHECK(px_test_find_rule(rs, "forward", "cmp eq reg 1 0x00000011",
				"ct load state", "0x00000008",
				"lookup reg 1 set ids_ps4 0x1",
				"px:p:port-scan", NULL) >= 0);
	CHECK(px_test_find_rule(rs, "forward", "set ids_ps6 0x1",
				"set idsm_port-scan6", "px:p:port-scan",
				NULL) >= 0);
	/* --block: the same rule adds the source (no second count). */
	p.protect.ids[PX_IDS_PORT_SCAN].block_s = 60;
	compile(&p, rs);
	CHECK_INT(count_with(rs, "forward", "idsm_port-scan4"), 2);
	CHECK(px_test_find_rule(rs, "forward", "set idsm_port-scan4",
				"dynset add reg_key 1 set ids_block4 timeout "
				"60000ms", "px:p:port-scan", "drop", NULL) >= 0);
	px_policy_free(&p);
	free(rs);
}

TEST(ids_log_reasons_and_codes)
{
	static const struct {
		const char *reason, *name, *code;
	} want[] = {
		{ "px:p:land-attack", "FWX_E_LAND_ATTACK_DROPPED", "0xC004001C" },
		{ "px:p:udp-bomb", "FWX_E_UDP_BOMB_DROPPED", "0xC004001D" },
		{ "px:p:oob-attack", "FWX_E_OUT_OF_BAND_PACKET_DROPPED",
		  "0xC004001A" },
		{ "px:p:half-scan", "FWX_E_IP_HALF_SCAN_PACKET_DROPPED",
		  "0xC004001B" },
		{ "px:p:ping-of-death", "FWX_E_PING_OF_DEATH_PACKET_DROPPED",
		  "0xC0040019" },
	};
	px_fw_prefix_t f;
	char code[16];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_INT(px_fwlog_prefix_parse(want[i].reason, &f), 0);
		CHECK_INT(f.kind, PX_FWD_PROTECT);
		CHECK(!f.flood);
		CHECK_STR(px_fw_results[f.result].name, want[i].name);
		px_fw_result_code(f.result, code, sizeof(code));
		CHECK_STR(code, want[i].code);
	}
	/* TMG names no code for a port scan: none is invented. */
	CHECK_INT(px_fwlog_prefix_parse("px:p:port-scan", &f), 0);
	CHECK_INT(f.result, PX_FWR_NONE);
}

TEST(ids_count_per_source_and_window)
{
	px_ids_counter_t *c = xcalloc(1, sizeof(*c));
	uint8_t a[4] = { 198, 51, 100, 2 }, b[4] = { 198, 51, 100, 3 };

	CHECK_INT(px_ids_count(c, PX_IDS_HALF_SCAN, 4, a, 60, 1000), 1);
	CHECK_INT(px_ids_count(c, PX_IDS_HALF_SCAN, 4, a, 60, 2000), 2);
	CHECK_INT(px_ids_count(c, PX_IDS_HALF_SCAN, 4, b, 60, 2000), 1);
	CHECK_INT(px_ids_count(c, PX_IDS_LAND_ATTACK, 4, a, 60, 2000), 1);
	CHECK_INT(px_ids_count(c, PX_IDS_HALF_SCAN, 4, a, 60, 60999), 3);
	/* A window after the first: counted afresh. */
	CHECK_INT(px_ids_count(c, PX_IDS_HALF_SCAN, 4, a, 60, 61000), 1);
	free(c);
}

/* Every length and offset: in ids_pod exactly when the fragment's data
 * ends past 65,535 bytes (20-byte header), up to the exact lengths;
 * longer fragments with any offset from 3 on. */
TEST(ids_ping_of_death_ranges_exact)
{
	uint16_t llo, lhi, olo, prev_hi = 27;
	unsigned bad = 0;

	for (size_t i = 0; i < PX_IDS_POD_RANGES; i++) {
		px_ids_pod_range(i, &llo, &lhi, &olo);
		/* contiguous, ascending, no overlap */
		if (llo != prev_hi + 1 || lhi < llo)
			bad++;
		prev_hi = lhi;
		if (i + 1 == PX_IDS_POD_RANGES) {
			CHECK_INT(lhi, 65535);
			CHECK_INT(olo, 3);
			CHECK(llo > PX_IDS_POD_LEN_EXACT);
			continue;
		}
		for (unsigned len = llo; len <= lhi; len++) {
			/* the smallest offset that ends past 65,535 */
			unsigned want = (65535 - (len - 20)) / 8 + 1;

			if (want != olo)
				bad++;
		}
	}
	CHECK_INT(bad, 0);
	/* Below the first range no offset (at most 8191) ends past it. */
	CHECK(8 * 8191 + 27 - 20 <= 65535);
}

TEST(ids_ping_of_death_compile)
{
	struct rules *rs = xcalloc(1, sizeof(*rs));
	px_policy_t p;
	px_layout_t l;
	const px_lset_t *pod = NULL;
	int r, fr;

	px_policy_init(&p);
	p.protect.setting[PX_PROT_FRAGMENTS] = PX_FRAG_BLOCK;
	compile(&p, rs);
	/* In prerouting (-450, before defragmentation), after the
	 * loopback and management returns, before the fragments' drop. */
	r = px_test_find_rule(rs, "prerouting",
			      "cmp eq reg 1 0x00000002",
			      "payload load 2b @ network header + 2 => reg 8",
			      "payload load 2b @ network header + 6 => reg 9",
			      "bitwise reg 9 = ( reg 9 & 0x0000ff1f )",
			      "lookup reg 1 set ids_pod",
			      "px:p:ping-of-death", "drop", NULL);
	fr = px_test_find_rule(rs, "prerouting", "px:p:fragment", NULL);
	CHECK(r >= 0 && fr > r);
	CHECK(px_test_find_rule(rs, "prerouting", "set mgmt4", NULL) < r);
	CHECK_INT(count_with(rs, "forward", "ping-of-death"), 0);
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	for (size_t i = 0; i < l.nsets; i++)
		if (strcmp(l.sets[i].name, "ids_pod") == 0)
			pod = &l.sets[i];
	CHECK(pod && pod->pod && pod->key_len == 8 &&
	      pod->flags == (NFT_SET_INTERVAL | NFT_SET_CONCAT));
	px_layout_free(&l);
	/* Off: neither the rule nor the set. */
	p.protect.ids[PX_IDS_PING_OF_DEATH].off = true;
	p.protect.setting[PX_PROT_FRAGMENTS] = PX_FRAG_ALLOW;
	compile(&p, rs);
	CHECK_INT(count_with(rs, "prerouting", "ids_pod"), 0);
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	for (size_t i = 0; i < l.nsets; i++)
		CHECK(strcmp(l.sets[i].name, "ids_pod") != 0);
	px_layout_free(&l);
	px_policy_free(&p);
	free(rs);
}

/* syn-attack's decision: over the threshold raises, at most once a
 * window while the surge lasts; back at or under it ends the surge and
 * the next raises at once. */
TEST(ids_syn_attack_surge)
{
	px_ids_surge_t s;
	px_ids_t def;

	memset(&s, 0, sizeof(s));
	memset(&def, 0, sizeof(def));
	CHECK(px_ids_defs[PX_IDS_SYN_ATTACK].built);
	CHECK_INT(px_ids_threshold(PX_IDS_SYN_ATTACK, &def), 1000);
	CHECK_INT(px_ids_window(PX_IDS_SYN_ATTACK, &def), 60);
	CHECK(!px_ids_surge(&s, 30, 30, 60, 1000));   /* at: not over */
	CHECK(px_ids_surge(&s, 31, 30, 60, 2000));
	CHECK(!px_ids_surge(&s, 90, 30, 60, 3000));
	CHECK_INT(s.peak, 90);
	CHECK(!px_ids_surge(&s, 40, 30, 60, 61999));
	CHECK(px_ids_surge(&s, 40, 30, 60, 62000));    /* a window later */
	CHECK(!px_ids_surge(&s, 10, 30, 60, 63000));   /* over */
	CHECK_INT(s.peak, 0);
	CHECK(px_ids_surge(&s, 31, 30, 60, 64000));    /* a new surge */
	/* Not a kernel rule: no meter set even with --block. */
	def.block_s = 60;
	def.threshold = 30;
	CHECK(!px_ids_meter(&def, PX_IDS_SYN_ATTACK));
}

/* DHCP poisoning (item 7): a network's DHCP interface compiles to one
 * rule at input: iifname, UDP 67 -> 68, BOOTP reply, yiaddr not 0 and
 * outside each IPv4 prefix of the network, logged and dropped; the
 * setting round-trips on the wire and the store refuses a bad or
 * doubled interface. */
TEST(dhcp_offer_compile_wire_store)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	Phalanx__Network net = PHALANX__NETWORK__INIT;
	ProtobufCBinaryData bin;
	uint8_t buf[PX_ENTRY_WIRE_MAX];
	struct rules *rs = xcalloc(1, sizeof(*rs));
	px_policy_t p, q;
	px_protection_t w;
	px_network_t *n;
	px_entry_t e;
	char err[200], what[256];
	ssize_t i;

	px_policy_init(&p);
	px_policy_init(&q);
	compile(&p, rs);
	CHECK_INT(count_with(rs, "input", "invalid-dhcp-offer"), 0);
	free(rs);
	rs = xcalloc(1, sizeof(*rs));
	n = &p.protect.networks[p.protect.nnetworks++];
	snprintf(n->name, sizeof(n->name), "lan");
	snprintf(n->dhcp_interface, sizeof(n->dhcp_interface), "client");
	CHECK_INT(px_entry_parse("198.51.100.0/27", &n->prefixes[0]), 0);
	CHECK_INT(px_entry_parse("10.9.0.0/16", &n->prefixes[1]), 0);
	CHECK_INT(px_entry_parse("2001:db8:1::/64", &n->prefixes[2]), 0);
	n->nprefixes = 3;
	compile(&p, rs);
	CHECK_INT(count_with(rs, "input", "invalid-dhcp-offer"), 1);
	i = px_test_find_rule(rs, "input", "invalid-dhcp-offer", NULL);
	CHECK(i >= 0);
	if (i >= 0) {
		const char *t = rs->text[i];
		const char *want[] = {
			"meta load iifname => reg 1",
			"cmp eq reg 1 0x65696c63 0x0000746e", /* "client" */
			"cmp eq reg 1 0x00004300",            /* sport 67 */
			"cmp eq reg 1 0x00004400",            /* dport 68 */
			"transport header + 8 => reg 1",      /* op */
			"cmp eq reg 1 0x00000002",            /* reply */
			"cmp neq reg 1 0x00000000",           /* yiaddr set */
			"& 0xe0ffffff )", "cmp neq reg 1 0x006433c6",
			"& 0x0000ffff )", "cmp neq reg 1 0x0000090a",
			"drop",
		};

		for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
			if (!strstr(t, want[k])) {
				fprintf(stderr, "missing `%s' in:\n%s\n",
					want[k], t);
				CHECK(false);
			}
		/* The IPv6 prefix takes no part (DHCPv4). */
		CHECK_INT(count_with(rs, "input", "transport header + 24"), 1);
		CHECK(strstr(t, "0x00b80d20") == NULL);
	}
	/* The wire carries it; a member refuses a bad name. */
	px_protection_build(&p.protect, &w);
	CHECK_INT(px_policy_apply_protection(&q, &w.pr, err, sizeof(err)), 0);
	CHECK_STR(q.protect.networks[0].dhcp_interface, "client");
	w.nv[0].dhcp_interface = (char *)"a/b";
	CHECK(px_policy_apply_protection(&q, &w.pr, err, sizeof(err)) < 0);
	CHECK(strstr(err, "a/b") != NULL);
	px_protection_free(&w);
	/* The store: another network on the same interface is refused. */
	req.protect = &op;
	op.kind = PHALANX__PROTECT_OP__KIND__NETWORK_ADD;
	op.network = &net;
	net.name = (char *)"wan";
	CHECK_INT(px_entry_parse("192.0.2.128/25", &e), 0);
	bin.data = buf;
	bin.len = px_entry_encode(&e, buf);
	net.prefixes = &bin;
	net.n_prefixes = 1;
	net.dhcp_interface = (char *)"client";
	CHECK(px_store_protect_request(&p, &req, err, sizeof(err), what,
				       sizeof(what)) < 0);
	CHECK(strstr(err, "network lan's already") != NULL);
	net.dhcp_interface = (char *)"ext0";
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), 0);
	CHECK(strstr(what, "DHCP on ext0") != NULL);
	CHECK_STR(p.protect.networks[1].dhcp_interface, "ext0");
	px_policy_free(&p);
	px_policy_free(&q);
	free(rs);
}
