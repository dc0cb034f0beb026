/* test_protect.c - attack protection (issue 12): the settings table and
 * its validation (lib/policy.c), the wire round trip (lib/codec.c), the
 * store's requests (store/protect.c), interface binding (node/layout.c),
 * the compiled rules read back as libnftnl text (node/compile.c, as
 * test_compile.c does) and the firewall log's reading of their prefixes
 * (node/fwlog.c).  No socket, no root. */
#include <stdlib.h>

#include "codec.h"
#include "compile.h"
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

static void compile(const px_policy_t *p, const px_ifaddrs_t *ifs,
		    struct rules *out)
{
	px_layout_t l;
	px_batch_t b;

	CHECK_INT(px_layout_build(p, false, &l), 0);
	px_layout_bind(&l, ifs);
	px_batch_init(&b, 100);
	px_compile_rules(&b, "phalanx", &l);
	px_batch_finish(&b);
	px_test_read_rules(&b, out);
	px_batch_free(&b);
	px_layout_free(&l);
}

static size_t count_in(const struct rules *rs, const char *chain)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->n; i++)
		n += strcmp(rs->chain[i], chain) == 0;
	return n;
}

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

static void add_network(px_policy_t *p, const char *name, bool intra,
			const char *pfx)
{
	px_network_t *n = &p->protect.networks[p->protect.nnetworks++];

	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->intra_array = intra;
	CHECK_INT(px_entry_parse(pfx, &n->prefixes[n->nprefixes++]), 0);
}

static void add_if(px_ifaddrs_t *ifs, const char *name, const char *addr)
{
	snprintf(ifs->v[ifs->n].name, PX_IFNAME_LEN, "%s", name);
	CHECK_INT(px_entry_parse(addr, &ifs->v[ifs->n].addr), 0);
	ifs->n++;
}

/* The lab's shape: clients behind `client', servers behind `srv', the
 * management network intra-array. */
static void lab_policy(px_policy_t *p, px_ifaddrs_t *ifs)
{
	px_policy_init(p);
	add_network(p, "clients", false, "198.51.100.0/24");
	add_network(p, "servers", false, "203.0.113.0/24");
	add_network(p, "mgmt", true, "192.0.2.0/24");
	memset(ifs, 0, sizeof(*ifs));
	add_if(ifs, "lo", "127.0.0.1");
	add_if(ifs, "mgmt", "192.0.2.1");
	add_if(ifs, "srv", "203.0.113.1");
	add_if(ifs, "client", "198.51.100.1");
	add_if(ifs, "sync", "169.254.77.1");
}

TEST(protect_defaults_and_table)
{
	px_policy_t p;

	px_policy_init(&p);
	/* A zeroed protection is the default: nothing cut by an upgrade. */
	CHECK_STR(px_prot_value_name(PX_PROT_DEFAULT_POLICY,
		  p.protect.setting[PX_PROT_DEFAULT_POLICY]), "accept");
	CHECK_STR(px_prot_value_name(PX_PROT_FRAGMENTS,
		  p.protect.setting[PX_PROT_FRAGMENTS]), "allow");
	CHECK_STR(px_prot_value_name(PX_PROT_IP_OPTIONS,
		  p.protect.setting[PX_PROT_IP_OPTIONS]), "block-source-route");
	CHECK_INT(px_prot_find("fragments"), PX_PROT_FRAGMENTS);
	CHECK_INT(px_prot_find("fragment"), PX_EOPTION);
	CHECK_INT(px_prot_value(PX_PROT_IP_OPTIONS, "block-all"),
		  PX_IPOPT_BLOCK_ALL);
	CHECK_INT(px_prot_value(PX_PROT_FRAGMENTS, "maybe"), PX_ERANGE);
	CHECK_INT(px_policy_validate(&p, NULL, 0), 0);
	px_policy_free(&p);
}

TEST(protect_validate_refuses_overlap_and_bad_values)
{
	char why[200];
	px_policy_t p;

	px_policy_init(&p);
	add_network(&p, "servers", false, "203.0.113.0/24");
	add_network(&p, "inner", false, "203.0.113.128/25");
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EOVERLAP);
	CHECK_STR(why, "network inner: 203.0.113.128/25 overlaps "
		  "203.0.113.0/24 of network servers");
	p.protect.nnetworks = 1;
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), 0);
	p.protect.setting[PX_PROT_FRAGMENTS] = 2; /* allow, block: no third */
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ERANGE);
	p.protect.setting[PX_PROT_FRAGMENTS] = 0;
	p.protect.networks[0].nprefixes = 0;
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ETOOBIG);
	px_policy_free(&p);
}

/* What the store sends (Change, chunk, its own record) decodes to the
 * same protection; a hostile one changes nothing. */
TEST(protect_wire_round_trip)
{
	px_policy_t p, q;
	px_ifaddrs_t ifs;
	px_protection_t w;
	Phalanx__ProtectSetting bad = PHALANX__PROTECT_SETTING__INIT;
	Phalanx__ProtectSetting *badp = &bad;
	Phalanx__Protection hostile = PHALANX__PROTECTION__INIT;

	lab_policy(&p, &ifs);
	p.protect.setting[PX_PROT_DEFAULT_POLICY] = PX_DEFAULT_DENY;
	p.protect.setting[PX_PROT_FRAGMENTS] = PX_FRAG_BLOCK;
	px_protection_build(&p.protect, &w);
	px_policy_init(&q);
	CHECK_INT(px_policy_apply_protection(&q, &w.pr, NULL, 0), 0);
	CHECK(memcmp(&q.protect, &p.protect, sizeof(p.protect)) == 0);
	px_protection_free(&w);
	bad.name = "fragments";
	bad.value = "sometimes";
	hostile.settings = &badp;
	hostile.n_settings = 1;
	CHECK(px_policy_apply_protection(&q, &hostile, NULL, 0) < 0);
	CHECK_INT((int)q.protect.setting[PX_PROT_FRAGMENTS], PX_FRAG_BLOCK);
	px_policy_free(&p);
	px_policy_free(&q);
}

TEST(protect_store_requests)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	char err[300], what[256];
	px_policy_t p;

	px_policy_init(&p);
	req.op = PHALANX__CTL_REQUEST__OP__PROTECT;
	req.protect = &op;
	op.kind = PHALANX__PROTECT_OP__KIND__SET;
	op.name = "default-policy";
	op.value = "deny";
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), 0);
	CHECK_STR(what, "protection set default-policy deny");
	CHECK_INT((int)p.protect.setting[PX_PROT_DEFAULT_POLICY],
		  PX_DEFAULT_DENY);
	op.value = "reject";
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), PX_ERANGE);
	CHECK_STR(err, "protection set default-policy: `reject' is not one "
		  "of accept|deny");
	op.kind = PHALANX__PROTECT_OP__KIND__NETWORK_DEL;
	op.name = "nowhere";
	CHECK_INT(px_store_protect_request(&p, &req, err, sizeof(err), what,
					   sizeof(what)), PX_ENOSET);
	px_policy_free(&p);
}

TEST(protect_bind_interfaces)
{
	px_policy_t p;
	px_ifaddrs_t ifs;
	px_layout_t l;

	lab_policy(&p, &ifs);
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	px_layout_bind(&l, &ifs);
	/* lo is never bound, sync is in no network: external. */
	CHECK_INT((int)l.nbinds, 3);
	CHECK_STR(l.binds[0].name, "mgmt");
	CHECK_STR(p.protect.networks[l.binds[0].net].name, "mgmt");
	CHECK_STR(l.binds[1].name, "srv");
	CHECK_STR(p.protect.networks[l.binds[1].net].name, "servers");
	CHECK_STR(l.binds[2].name, "client");
	CHECK_STR(p.protect.networks[l.binds[2].net].name, "clients");
	CHECK(px_layout_has_chain(&l, "spoof"));
	CHECK(px_layout_has_chain(&l, "net_servers"));
	px_layout_free(&l);
	px_policy_free(&p);
}

/* Without networks and with the defaults: no spoof chains, a
 * prerouting chain with only ping of death (and the loopback and
 * management returns before it, test_ids.c) after the return of IPv4
 * packets that are not fragments, first: without spoof detection they
 * pay no lookup there; broadcast and source-route drops at the top of
 * forward, no default deny. */
TEST(protect_compile_defaults)
{
	static struct rules rs;
	px_policy_t p;
	int whole;

	px_policy_init(&p);
	compile(&p, NULL, &rs);
	CHECK_INT((int)count_in(&rs, "prerouting"), 5);
	whole = px_test_find_rule(&rs, "prerouting", "cmp eq reg 1 0x00000002",
				  "payload load 2b @ network header + 6",
				  "& 0x0000ff3f )", "cmp eq reg 1 0x00000000",
				  "immediate reg 0 return", NULL);
	CHECK(whole >= 0 &&
	      whole < px_test_find_rule(&rs, "prerouting", "set mgmt4", NULL));
	CHECK(px_test_find_rule(&rs, "prerouting", "px:p:ping-of-death",
				NULL) > whole);
	CHECK_INT((int)count_in(&rs, "spoof"), 0);
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "forward", "pkttype", NULL)),
		  "inet phalanx forward\n"
		  "  [ meta load pkttype => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000001 ]\n"
		  "  [ log prefix px:p:broadcast group 7 snaplen 80 qthreshold 0 ]\n"
		  "  [ immediate reg 0 drop ]");
	/* `ip option lsrr exists' */
	CHECK(px_test_find_rule(&rs, "forward", "exthdr load ipv4 1b @ 131 + 0 present",
		   "px:p:ip-options", "drop", NULL) >= 0);
	CHECK(px_test_find_rule(&rs, "forward", "exthdr load ipv4 1b @ 137 + 0 present",
		   NULL) >= 0);
	/* IP options come before anything accepts; broadcasts right after
	 * the established accept (no fib lookup for a connection's packets),
	 * before the rules. */
	CHECK(px_test_find_rule(&rs, "forward", "px:p:ip-options", NULL) <
	      px_test_find_rule(&rs, "forward", "immediate reg 0 accept", NULL));
	CHECK(px_test_find_rule(&rs, "forward", "immediate reg 0 accept", NULL) <
	      px_test_find_rule(&rs, "forward", "pkttype", NULL));
	CHECK(px_test_find_rule(&rs, "forward", "px:p:default-deny", NULL) < 0);
	CHECK(px_test_find_rule(&rs, "forward", "fib daddr type", "px:p:broadcast",
		   NULL) >= 0);
	px_policy_free(&p);
}

TEST(protect_compile_spoof_detection)
{
	static struct rules rs;
	px_policy_t p;
	px_ifaddrs_t ifs;

	lab_policy(&p, &ifs);
	compile(&p, &ifs, &rs);
	/* prerouting: loopback and management return, then spoof; every
	 * packet is checked, fragment or not. */
	CHECK(px_test_find_rule(&rs, "prerouting", "immediate reg 0 jump -> spoof",
		   NULL) >= 0);
	CHECK(px_test_find_rule(&rs, "prerouting", "network header + 6",
				"immediate reg 0 return", NULL) < 0);
	/* The intra-array network returns before any binding. */
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "spoof", "0x000200c0", NULL)),
		  "inet phalanx spoof\n"
		  "  [ meta load nfproto => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000002 ]\n"
		  "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0x00ffffff ) ^ 0x00000000 ]\n"
		  "  [ cmp eq reg 1 0x000200c0 ]\n"
		  "  [ immediate reg 0 return ]");
	CHECK(px_test_find_rule(&rs, "spoof", "0x000200c0", NULL) <
	      px_test_find_rule(&rs, "spoof", "iifname", NULL));
	/* srv is bound to servers. */
	CHECK(px_test_find_rule(&rs, "spoof", "meta load iifname", "0x00767273",
		   "goto -> net_servers", NULL) >= 0);
	/* net_servers passes its prefix to rpf, drops the rest. */
	CHECK(px_test_find_rule(&rs, "net_servers", "cmp eq reg 1 0x007100cb",
		   "goto -> rpf", NULL) >= 0);
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "net_servers", "px:p:", NULL)),
		  "inet phalanx net_servers\n"
		  "  [ log prefix px:p:spoof-network group 7 snaplen 80 qthreshold 0 ]\n"
		  "  [ immediate reg 0 drop ]");
	/* rpf: fib saddr . iif oif missing */
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "rpf", NULL)),
		  "inet phalanx rpf\n"
		  "  [ fib saddr . iif oif => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000000 ]\n"
		  "  [ log prefix px:p:spoof-route group 7 snaplen 80 qthreshold 0 ]\n"
		  "  [ immediate reg 0 drop ]");
	/* The network broadcast of servers is dropped in forward. */
	CHECK(px_test_find_rule(&rs, "forward", "network header + 16",
		   "cmp eq reg 1 0xff7100cb", "px:p:broadcast", NULL) >= 0);
	/* The way out: forward jumps to spoof_out after the established
	 * accept; srv sends only to servers' destinations. */
	CHECK(px_test_find_rule(&rs, "forward", "immediate reg 0 accept", NULL) <
	      px_test_find_rule(&rs, "forward", "jump -> spoof_out", NULL));
	CHECK(px_test_find_rule(&rs, "spoof_out", "meta load oifname",
		   "0x00767273", "goto -> dst_servers", NULL) >= 0);
	CHECK(px_test_find_rule(&rs, "spoof_out", "0x000200c0",
		   "immediate reg 0 return", NULL) <
	      px_test_find_rule(&rs, "spoof_out", "oifname", NULL));
	CHECK(px_test_find_rule(&rs, "dst_servers", "network header + 16",
		   "cmp eq reg 1 0x007100cb", "return", NULL) >= 0);
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "dst_servers", "px:p:",
				 NULL)),
		  "inet phalanx dst_servers\n"
		  "  [ log prefix px:p:spoof-destination group 7 snaplen 80 "
		  "qthreshold 0 ]\n"
		  "  [ immediate reg 0 drop ]");
	/* external interfaces: a network's destination is spoofed there */
	CHECK(px_test_find_rule(&rs, "spoof_out", "network header + 16",
		   "cmp eq reg 1 0x006433c6", "px:p:spoof-destination",
		   NULL) >= 0);
	px_policy_free(&p);
}

TEST(protect_compile_fragments_options_default_deny)
{
	static struct rules rs;
	px_policy_t p;
	int deny, last_rule;

	px_policy_init(&p);
	p.protect.setting[PX_PROT_FRAGMENTS] = PX_FRAG_BLOCK;
	p.protect.setting[PX_PROT_IP_OPTIONS] = PX_IPOPT_BLOCK_ALL;
	p.protect.setting[PX_PROT_DEFAULT_POLICY] = PX_DEFAULT_DENY;
	/* ping of death reads frag-off too (test_ids.c) */
	p.protect.ids[PX_IDS_PING_OF_DEATH].off = true;
	compile(&p, NULL, &rs);
	/* `ip frag-off & 0x3fff != 0' before defragmentation */
	CHECK_STR(text(&rs, px_test_find_rule(&rs, "prerouting", "network header + 6",
				 "px:p:fragment", NULL)),
		  "inet phalanx prerouting\n"
		  "  [ meta load nfproto => reg 1 ]\n"
		  "  [ cmp eq reg 1 0x00000002 ]\n"
		  "  [ payload load 2b @ network header + 6 => reg 1 ]\n"
		  "  [ bitwise reg 1 = ( reg 1 & 0x0000ff3f ) ^ 0x00000000 ]\n"
		  "  [ cmp neq reg 1 0x00000000 ]\n"
		  "  [ log prefix px:p:fragment group 7 snaplen 80 qthreshold 0 ]\n"
		  "  [ immediate reg 0 drop ]");
	CHECK(px_test_find_rule(&rs, "prerouting", "exthdr load ipv6 1b @ 44 + 0 present",
		   "px:p:fragment", NULL) >= 0);
	/* `ip hdrlength != 5' */
	CHECK(px_test_find_rule(&rs, "forward", "payload load 1b @ network header + 0",
		   "cmp neq reg 1 0x00000005", "px:p:ip-options", NULL) >= 0);
	CHECK(px_test_find_rule(&rs, "forward", "exthdr load ipv4", NULL) < 0);
	/* The last rule of forward drops what nothing accepted; management
	 * prefixes are accepted just before it. */
	deny = px_test_find_rule(&rs, "forward", "px:p:default-deny", NULL);
	last_rule = -1;
	for (size_t i = 0; i < rs.n; i++)
		if (strcmp(rs.chain[i], "forward") == 0)
			last_rule = (int)i;
	CHECK(deny >= 0 && deny == last_rule);
	CHECK(px_test_find_rule(&rs, "forward", "lookup reg 1 set mgmt4",
		   "immediate reg 0 accept", NULL) >= 0);
	px_policy_free(&p);
}

TEST(protect_fwlog_prefixes)
{
	px_fw_prefix_t f;

	CHECK_INT(px_fwlog_prefix_parse("px:p:spoof-route", &f), 0);
	CHECK_INT(f.kind, PX_FWD_PROTECT);
	CHECK_STR(px_fw_results[f.result].name,
		  "FWX_E_FWE_SPOOFING_PACKET_DROPPED");
	CHECK(!f.flood);
	CHECK_INT(px_fwlog_prefix_parse("px:p:default-deny", &f), 0);
	CHECK_STR(px_fw_results[f.result].name, "FWX_E_POLICY_RULES_DENIED");
	/* No TMG code is invented for the others. */
	CHECK_INT(px_fwlog_prefix_parse("px:p:fragment", &f), 0);
	CHECK_INT(f.result, PX_FWR_NONE);
}
