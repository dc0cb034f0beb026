/* test_compile.c - the rule compiler against expected expressions: a
 * policy's layout is compiled into a batch, each rule message is read
 * back with libnftnl (nftnl_rule_nlmsg_parse) and printed with
 * nftnl_rule_snprintf, and the text is compared with what the layout
 * (docs/nft-layout.md) says the rule is.  No socket, no root. */
#include <stdlib.h>

#include "compile.h"
#include "layout.h"
#include "policy.h"
#include "px.h"
#include "rules.h"
#include "unit.h"

static int compile(const px_policy_t *p, bool pressure, struct rules *out)
{
	px_layout_t l;
	px_batch_t b;
	int rc = px_layout_build(p, pressure, &l);

	if (rc < 0)
		return rc;
	px_batch_init(&b, 100);
	px_compile_rules(&b, "phalanx", &l);
	px_batch_finish(&b);
	px_test_read_rules(&b, out);
	px_batch_free(&b);
	px_layout_free(&l);
	return 0;
}

/* rs->text[i] without its trailing newlines. */
static const char *text(struct rules *rs, int i)
{
	size_t n;

	if (i < 0)
		return "(no such rule)";
	n = strlen(rs->text[i]);
	while (n && rs->text[i][n - 1] == '\n')
		rs->text[i][--n] = 0;
	return rs->text[i];
}

/* The default policy and two rules: a deny rule (telnet) and an allow
 * rule of another protocol than TCP (DNS), which gets a session quota. */
static void policy_with_rules(px_policy_t *p)
{
	px_rule_t *ru;

	px_policy_init(p);
	p->rules = xcalloc(2, sizeof(*p->rules));
	ru = &p->rules[p->nrules++];
	snprintf(ru->name, sizeof(ru->name), "no-telnet");
	ru->action = PX_DENY;
	ru->proto = PX_PROTO_TCP;
	ru->port = 23;
	ru = &p->rules[p->nrules++];
	snprintf(ru->name, sizeof(ru->name), "dns");
	ru->action = PX_ALLOW;
	ru->proto = PX_PROTO_UDP;
	ru->port = 53;
}

/* The rules a rule of the model compiles to (docs/nft-layout.md):
 * `ct state new meta l4proto tcp th dport 23 counter name rule_no-telnet
 * log prefix "px:d:no-telnet" group 7 snaplen 80 drop'. */
TEST(compile_deny_rule)
{
	static struct rules rs;
	px_policy_t p;

	policy_with_rules(&p);
	CHECK_INT(compile(&p, false, &rs), 0);
	px_policy_free(&p);
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "forward", "rule_no-telnet", NULL)),
		  "inet phalanx forward\n"
		  "  [ ct load state => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0x00000008 ) ^ 0x00000000 ]\n"
		  "  [ cmp neq reg 1 0x00000000 ]\n"
		  "  [ meta load l4proto => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000006 ]\n"
		  "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00001700 ]\n"
		  "  [ objref type 1 name rule_no-telnet ]\n"
		  "  [ log prefix px:d:no-telnet group 7 snaplen 80 qthreshold 0 ]\n"
		  "  [ immediate reg 0 drop ]");
	/* The DNS allow rule: its session limit first (a drop over it),
	 * then the accept, both counted under rule_dns. */
	CHECK(px_test_find_rule(&rs, "forward", "cmp eq reg 1 0x00003500",
		   "objref type 4 name rule_dns",
		   "log prefix px:n:dns", "drop", NULL) >= 0);
	CHECK(px_test_find_rule(&rs, "forward", "cmp eq reg 1 0x00003500",
		   "objref type 1 name rule_dns", "accept", NULL) >= 0);
}

/* A quota rule: tcp-connect-rate of the default tier, IPv4.  The family
 * first, then the trigger (assured, first counted: ct mark 0x1), the
 * meter with the default limit 600/minute, and the block set. */
TEST(compile_quota_rule)
{
	static struct rules rs;
	px_policy_t p;

	policy_with_rules(&p);
	CHECK_INT(compile(&p, false, &rs), 0);
	px_policy_free(&p);
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "tier_dflt", "dflt_conn_rate4", NULL)),
		  "inet phalanx tier_dflt\n"
		  "  [ meta load nfproto => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000002 ]\n"
		  "  [ meta load l4proto => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000006 ]\n"
		  "  [ ct load direction => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000000 ]\n"
		  "  [ ct load status => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0x00000004 ) ^ 0x00000000 ]\n"
		  "  [ cmp neq reg 1 0x00000000 ]\n"
		  "  [ ct load mark => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0x00000001 ) ^ 0x00000000 ]\n"
		  "  [ cmp eq reg 1 0x00000000 ]\n"
		  "  [ ct load mark => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0xfffffffe ) ^ 0x00000001 ]\n"
		  "  [ ct set mark with reg 1 ]\n"
		  "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
		  "  [ dynset update reg_key 1 set dflt_conn_rate4 expr [ limit rate 600/minute burst 600 type packets flags 0x1 ] ]\n"
		  "  [ dynset add reg_key 1 set tcp_block4 ]");
	/* The flood-exceptions tier: its own value (6000), its own meter. */
	CHECK(px_test_find_rule(&rs, "tier_x_flood-exceptions",
		   "set x_flood-exceptions_conn_rate4",
		   "limit rate 6000/minute burst 6000", NULL) >= 0);
	/* IPv6 sources are keyed by their /64. */
	CHECK(px_test_find_rule(&rs, "tier_dflt", "set dflt_conn_rate6",
		   "& 0xffffffff 0xffffffff 0x00000000 0x00000000", NULL) >= 0);
}

/* In observe mode the quota refuses nobody: the source goes into
 * obs_Q4/6 and would_Q counts, and the guard has no refusal for it. */
TEST(compile_quota_observe)
{
	static struct rules rs;
	px_policy_t p;

	policy_with_rules(&p);
	p.limits.mode[PX_LIM_TCP_CONNECT_RATE] = PX_MODE_OBSERVE;
	CHECK_INT(compile(&p, false, &rs), 0);
	px_policy_free(&p);
	CHECK(px_test_find_rule(&rs, "tier_dflt", "set dflt_conn_rate4",
		   "dynset update reg_key 1 set obs_tcp-connect-rate4",
		   "name would_tcp-connect-rate", NULL) >= 0);
	CHECK_INT(px_test_find_rule(&rs, "tier_dflt", "set tcp_block4", NULL), -1);
	CHECK_INT(px_test_find_rule(&rs, "guard", "set tcp_block4", NULL), -1);
	CHECK(px_test_find_rule(&rs, "guard", "set halfopen_block4", NULL) >= 0);
}

/* The guard chain: loopback returns first, then the management sets,
 * the refusals of blocked sources, the tier dispatch, tier_dflt last. */
TEST(compile_guard_chain)
{
	static struct rules rs;
	px_policy_t p;
	int lo, mgmt4, block4, disp, last;

	policy_with_rules(&p);
	CHECK_INT(compile(&p, false, &rs), 0);
	px_policy_free(&p);
	lo = px_test_find_rule(&rs, "guard", "meta load iif", NULL);
	CHECK_STR(text(&rs, lo), "inet phalanx guard\n"
		  "  [ meta load iif => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000001 ]\n"
		  "  [ immediate reg 0 return ]");
	mgmt4 = px_test_find_rule(&rs, "guard", "lookup reg 1 set mgmt4", "return", NULL);
	block4 = px_test_find_rule(&rs, "guard", "reg 1 & 0x00000008",
		      "lookup reg 1 set tcp_block4",
		      "name blocked_tcp-connect-rate",
		      "log prefix px:q:tcp-connect-rate",
		      "reject type 1 code 0", NULL);
	disp = px_test_find_rule(&rs, "guard", "set flood-exceptions.n6",
		    "goto -> tier_x_flood-exceptions", NULL);
	last = px_test_find_rule(&rs, "guard", "goto -> tier_dflt", NULL);
	CHECK(lo >= 0 && mgmt4 > lo && block4 > mgmt4 && disp > block4 &&
	      last > disp);
	/* After guard come the quota rules alone: 2 tiers (dflt and
	 * flood-exceptions) x 3 quotas x 2 families. */
	CHECK_INT(last, (int)rs.n - 1 - 12);
	CHECK_INT(px_test_find_rule(&rs, "guard", "pressure", NULL), -1);
}

/* Under pressure guard jumps to chain pressure before the tiers: members
 * of exception sets return, every other new connection is dropped. */
TEST(compile_pressure_chain)
{
	static struct rules rs;
	px_policy_t p;
	int jump, disp;

	policy_with_rules(&p);
	CHECK_INT(compile(&p, true, &rs), 0);
	px_policy_free(&p);
	jump = px_test_find_rule(&rs, "guard", "jump -> pressure", NULL);
	disp = px_test_find_rule(&rs, "guard", "goto -> tier_x_flood-exceptions", NULL);
	CHECK(jump >= 0 && disp > jump);
	CHECK(px_test_find_rule(&rs, "pressure", "set flood-exceptions.v4", "return",
		   NULL) >= 0);
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "pressure", "drop", NULL)),
		  "inet phalanx pressure\n"
		  "  [ ct load state => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0x00000008 ) ^ 0x00000000 ]\n"
		  "  [ cmp neq reg 1 0x00000000 ]\n"
		  "  [ immediate reg 0 drop ]");
}

static px_entry_t E(const char *s)
{
	px_entry_t e;

	if (px_entry_parse(s, &e) != 0)
		memset(&e, 0xee, sizeof(e));
	return e;
}

/* The fail-closed guard: a new table whose base chains drop by policy
 * and accept loopback, replies, ICMPv6 and the management prefixes
 * (from them, and forwarded, to them). */
TEST(compile_fail_closed_guard)
{
	static struct rules rs;
	px_entries_t mgmt, extra;
	px_entry_t e;
	px_batch_t b;

	px_entries_init(&mgmt);
	px_entries_init(&extra);
	e = E("192.0.2.0/24");
	px_entries_push(&mgmt, &e);
	e = E("2001:db8:5::7");
	px_entries_push(&extra, &e);
	px_batch_init(&b, 1);
	px_compile_guard(&b, "phalanx", &mgmt, &extra);
	px_batch_finish(&b);
	px_test_read_rules(&b, &rs);
	px_batch_free(&b);
	px_entries_free(&mgmt);
	px_entries_free(&extra);
	/* begin, 3 table messages, 2 chains, end; 3 fixed rules and 3 per
	 * allowed entry */
	CHECK_INT(rs.other, 7);
	CHECK_INT(rs.n, 3 + 2 * 3);
	CHECK_STR(text(&rs, 0), "inet phalanx input\n"
		  "  [ meta load iif => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000001 ]\n"
		  "  [ immediate reg 0 accept ]");
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "input", "network header + 12", NULL)),
		  "inet phalanx input\n"
		  "  [ meta load nfproto => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000002 ]\n"
		  "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0x00ffffff ) ^ 0x00000000 ]\n"
		  "  [ cmp eq reg 1 0x000200c0 ]\n"
		  "  [ immediate reg 0 accept ]");
	CHECK(px_test_find_rule(&rs, "forward", "network header + 16",
		   "cmp eq reg 1 0x000200c0", "accept", NULL) >= 0);
	CHECK(px_test_find_rule(&rs, "forward", "16b @ network header + 24",
		   "0xb80d0120 0x00000500 0x00000000 0x07000000", "accept",
		   NULL) >= 0);
}

/* The segments of established TCP connections that nothing after them
 * acts on are accepted near the top of forward (docs/nft-layout.md):
 * after the IP option drops and the detection blocks, before the
 * detections, `jump guard' and the reset marks; both test the flags
 * (SYN, ACK, RST, URG: ACK alone) and ct state established; one takes
 * the reply direction, the other connections already counted (ct mark
 * 0x1) not to port 80. */
TEST(compile_forward_established_skips_guard)
{
	static struct rules rs;
	px_policy_t p;
	int opts, blk, reply, counted, scan, guard, rst, est;

	policy_with_rules(&p);
	CHECK_INT(compile(&p, false, &rs), 0);
	px_policy_free(&p);
	opts = px_test_find_rule(&rs, "forward", "px:p:ip-options", NULL);
	blk = px_test_find_rule(&rs, "forward", "lookup reg 1 set ids_block4",
				NULL);
	reply = px_test_find_rule(&rs, "forward", "transport header + 13",
				  "& 0x00000036 )", "cmp eq reg 1 0x00000010",
				  "ct load state", "& 0x00000002 )",
				  "ct load direction",
				  "cmp eq reg 1 0x00000001",
				  "immediate reg 0 accept", NULL);
	counted = px_test_find_rule(&rs, "forward", "transport header + 13",
				    "& 0x00000036 )",
				    "cmp eq reg 1 0x00000010",
				    "ct load state", "& 0x00000002 )",
				    "ct load mark",
				    "bitwise reg 1 = ( reg 1 & 0x00000001 ) "
				    "^ 0x00000000",
				    "cmp eq reg 1 0x00000001",
				    "transport header + 2",
				    "cmp neq reg 1 0x00005000",
				    "immediate reg 0 accept", NULL);
	scan = px_test_find_rule(&rs, "forward", "px:p:half-scan", NULL);
	guard = px_test_find_rule(&rs, "forward",
				  "immediate reg 0 jump -> guard", NULL);
	rst = px_test_find_rule(&rs, "forward", "transport header + 13",
				"ct set mark", NULL);
	est = px_test_find_rule(&rs, "forward", "ct load state",
				"& 0x00000006 )", "immediate reg 0 accept",
				NULL);
	CHECK(opts >= 0 && opts < blk);
	CHECK(blk >= 0 && blk < reply);
	CHECK(reply >= 0 && reply < counted);
	CHECK(counted >= 0 && counted < scan);
	CHECK(scan < guard && guard < rst && rst < est);
}
