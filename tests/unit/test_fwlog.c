/* test_fwlog.c - firewall log records (node/fwlog.c): prefixes and result
 * codes, packet headers, end reasons, JSON and text lines, the
 * per-second cap with its exact suppressed count. */
#include <netinet/in.h>
#include <string.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "fwlog.h"
#include "px.h"
#include "unit.h"

/* 2024-01-02T03:04:05.678Z */
#define T0 1704164645678ull

static px_fw_result_t result_of(const char *prefix)
{
	px_fw_prefix_t p;

	return px_fwlog_prefix_parse(prefix, &p) == 0 ? p.result :
		(px_fw_result_t)-1;
}

TEST(fwlog_prefix_maps_to_tmg_result_codes)
{
	px_fw_prefix_t p;
	char code[16];

	CHECK_INT(result_of("px:q:tcp-connect-rate"), PX_FWR_TCP_RATE_QUOTA);
	CHECK_INT(result_of("px:q:tcp-concurrent"), PX_FWR_RWS_QUOTA);
	CHECK_INT(result_of("px:q:tcp-half-open"), PX_FWR_RWS_QUOTA);
	CHECK_INT(result_of("px:q:http-request-rate"), PX_FWR_RWS_QUOTA);
	CHECK_INT(result_of("px:s:web-tls"), PX_FWR_RWS_QUOTA);
	CHECK_INT(result_of("px:n:udp-echo"), PX_FWR_RULE_QUOTA);
	CHECK_INT(result_of("px:d:no-443"), PX_FWR_POLICY_DENIED);

	CHECK_INT(px_fwlog_prefix_parse("px:n:udp-echo", &p), 0);
	CHECK_INT(p.kind, PX_FWD_RULE_RATE);
	CHECK_STR(p.name, "udp-echo");
	CHECK(p.flood);
	CHECK_INT(px_fwlog_prefix_parse("px:d:no-443", &p), 0);
	CHECK_INT(p.kind, PX_FWD_RULE);
	CHECK(!p.flood); /* deny rules are not flood mitigation */

	/* Not ours, a setting, an unknown quota, bad names. */
	CHECK_INT(px_fwlog_prefix_parse("IN=eth0 ", &p), PX_EBADREQ);
	CHECK_INT(px_fwlog_prefix_parse("px:q:block-time", &p), PX_EBADREQ);
	CHECK_INT(px_fwlog_prefix_parse("px:q:nope", &p), PX_EBADREQ);
	CHECK_INT(px_fwlog_prefix_parse("px:d:", &p), PX_EBADREQ);
	CHECK_INT(px_fwlog_prefix_parse("px:d:Bad Name", &p), PX_EBADREQ);
	CHECK_INT(px_fwlog_prefix_parse("px:x:foo", &p), PX_EBADREQ);

	CHECK_STR(px_fw_results[PX_FWR_RWS_QUOTA].name, "WSA_RWS_QUOTA");
	px_fw_result_code(PX_FWR_RWS_QUOTA, code, sizeof(code));
	CHECK_STR(code, "0x80074E23");
	px_fw_result_code(PX_FWR_RULE_QUOTA, code, sizeof(code));
	CHECK_STR(code, "0xC0040033");
	CHECK_STR(px_fw_results[PX_FWR_RULE_QUOTA].name,
		  "FWX_E_RULE_QUOTA_EXCEEDED_DROPPED");
	px_fw_result_code(PX_FWR_TCP_RATE_QUOTA, code, sizeof(code));
	CHECK_STR(code, "0xC0040037");
	CHECK_STR(px_fw_results[PX_FWR_TCP_RATE_QUOTA].name,
		  "FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED");
	px_fw_result_code(PX_FWR_BAD_TCP_CHECKSUM, code, sizeof(code));
	CHECK_STR(code, "0xC0040031");
	CHECK_STR(px_fw_results[PX_FWR_BAD_TCP_CHECKSUM].name,
		  "FWX_E_BAD_TCP_CHECKSUM_DROPPED");
	px_fw_result_code(PX_FWR_SPOOFED, code, sizeof(code));
	CHECK_STR(code, "0xC0040014");
	px_fw_result_code(PX_FWR_POLICY_DENIED, code, sizeof(code));
	CHECK_STR(code, "0xC004000D");
	px_fw_result_code(PX_FWR_CONN_REFUSED, code, sizeof(code));
	CHECK_STR(code, "10061");
	px_fw_result_code(PX_FWR_NONE, code, sizeof(code));
	CHECK_STR(code, "");
}

/* An IPv4 TCP SYN 198.51.100.3:40000 -> 203.0.113.100:443. */
static size_t ipv4_tcp_syn(uint8_t *p)
{
	static const uint8_t pkt[] = {
		0x45, 0, 0, 60, 0x12, 0x34, 0x40, 0, 64, IPPROTO_TCP, 0, 0,
		198, 51, 100, 3, 203, 0, 113, 100,
		0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0,
		0xa0, 0x02, 0xff, 0xff, 0, 0, 0, 0,
	};

	memcpy(p, pkt, sizeof(pkt));
	return sizeof(pkt);
}

TEST(fwlog_packet_headers_ipv4)
{
	uint8_t p[80];
	size_t n = ipv4_tcp_syn(p);
	px_fw_packet_t k;

	CHECK_INT(px_fwlog_parse_packet(4, p, n, &k), 0);
	CHECK_INT(k.family, 4);
	CHECK_INT(k.proto, IPPROTO_TCP);
	CHECK_INT(memcmp(k.src, "\xc6\x33\x64\x03", 4), 0);
	CHECK_INT(memcmp(k.dst, "\xcb\x00\x71\x64", 4), 0);
	CHECK(k.has_ports);
	CHECK_INT(k.sport, 40000);
	CHECK_INT(k.dport, 443);
	CHECK_INT(k.tcp_flags, 0x02);
	/* The family from the version nibble. */
	CHECK_INT(px_fwlog_parse_packet(0, p, n, &k), 0);
	CHECK_INT(k.family, 4);
	/* Cut before the ports: addresses only. */
	CHECK_INT(px_fwlog_parse_packet(4, p, 22, &k), 0);
	CHECK(!k.has_ports);
	/* A later fragment has no transport header. */
	p[6] = 0x00;
	p[7] = 0x10;
	CHECK_INT(px_fwlog_parse_packet(4, p, n, &k), 0);
	CHECK(!k.has_ports);
	/* Too short, not IPv4. */
	CHECK_INT(px_fwlog_parse_packet(4, p, 19, &k), PX_EBADREQ);
	p[0] = 0x65;
	CHECK_INT(px_fwlog_parse_packet(4, p, n, &k), PX_EBADREQ);
	CHECK_INT(px_fwlog_parse_packet(4, p, 0, &k), PX_EBADREQ);
}

TEST(fwlog_packet_headers_ipv6_extension_headers)
{
	uint8_t p[80];
	px_fw_packet_t k;

	memset(p, 0, sizeof(p));
	p[0] = 0x60;
	p[6] = IPPROTO_HOPOPTS;
	p[8] = 0x20; p[9] = 0x01; p[10] = 0x0d; p[11] = 0xb8; p[23] = 0x02;
	p[24] = 0x20; p[25] = 0x01; p[26] = 0x0d; p[27] = 0xb8; p[39] = 0x01;
	/* hop-by-hop: next UDP, 8 bytes */
	p[40] = IPPROTO_UDP;
	p[41] = 0;
	p[48] = 0x13; p[49] = 0x88; p[50] = 0x00; p[51] = 0x07;
	CHECK_INT(px_fwlog_parse_packet(6, p, 56, &k), 0);
	CHECK_INT(k.family, 6);
	CHECK_INT(k.proto, IPPROTO_UDP);
	CHECK(k.has_ports);
	CHECK_INT(k.sport, 5000);
	CHECK_INT(k.dport, 7);
	CHECK_INT(k.src[0], 0x20);
	CHECK_INT(k.src[15], 0x02);
	CHECK_INT(k.dst[15], 0x01);
	/* A later fragment: the protocol is known, the ports are not. */
	p[6] = IPPROTO_FRAGMENT;
	p[40] = IPPROTO_UDP;
	p[42] = 0x00;
	p[43] = 0x08; /* offset 1 */
	CHECK_INT(px_fwlog_parse_packet(0, p, 56, &k), 0);
	CHECK_INT(k.proto, IPPROTO_UDP);
	CHECK(!k.has_ports);
	CHECK_INT(px_fwlog_parse_packet(6, p, 39, &k), PX_EBADREQ);
}

static px_ct_end_t tcp_end(uint8_t state, uint32_t status, uint32_t mark)
{
	px_ct_end_t e;

	memset(&e, 0, sizeof(e));
	e.t.family = 4;
	e.t.proto = IPPROTO_TCP;
	e.tcp_state = state;
	e.status = status;
	e.mark = mark;
	return e;
}

static px_fw_end_t reason(uint8_t state, uint32_t status, uint32_t mark)
{
	px_ct_end_t e = tcp_end(state, status, mark);

	return px_fwlog_end_reason(&e);
}

TEST(fwlog_end_reason_from_state_and_flags)
{
	const uint32_t A = IPS_ASSURED | IPS_SEEN_REPLY;
	const uint32_t O = PX_CT_MARK_RST_ORIG, R = PX_CT_MARK_RST_REPLY;
	px_ct_end_t e;

	CHECK_INT(reason(TCP_CONNTRACK_TIME_WAIT, A, 0), PX_END_CLOSED);
	/* A mark bit of the connect-rate count (0x1) changes nothing. */
	CHECK_INT(reason(TCP_CONNTRACK_TIME_WAIT, A, 0x1), PX_END_CLOSED);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, A, O), PX_END_CLIENT_ABORT);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, A, O | 0x1), PX_END_CLIENT_ABORT);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, A, R), PX_END_SERVER_ABORT);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, A, O | R), PX_END_RESET);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, A, 0), PX_END_RESET);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, 0, R), PX_END_REFUSED);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, 0, 0), PX_END_REFUSED);
	CHECK_INT(reason(TCP_CONNTRACK_CLOSE, 0, O), PX_END_RESET);
	CHECK_INT(reason(TCP_CONNTRACK_SYN_SENT, 0, 0), PX_END_NO_REPLY);
	CHECK_INT(reason(TCP_CONNTRACK_SYN_SENT2, 0, 0), PX_END_NO_REPLY);
	CHECK_INT(reason(TCP_CONNTRACK_SYN_RECV, IPS_SEEN_REPLY, 0),
		  PX_END_TIMEOUT);
	CHECK_INT(reason(TCP_CONNTRACK_ESTABLISHED, A, 0), PX_END_TIMEOUT);
	CHECK_INT(reason(TCP_CONNTRACK_FIN_WAIT, A, 0), PX_END_TIMEOUT);
	CHECK_INT(reason(TCP_CONNTRACK_LAST_ACK, A, 0), PX_END_TIMEOUT);
	CHECK_INT(reason(PX_TCP_UNKNOWN, A, 0), PX_END_ENDED);

	/* Who ended it comes first. */
	e = tcp_end(TCP_CONNTRACK_ESTABLISHED, A, 0);
	e.by = PX_CT_BY_OTHER;
	CHECK_INT(px_fwlog_end_reason(&e), PX_END_KILLED);
	e.t.proto = IPPROTO_UDP;
	e.by = PX_CT_BY_WATCHER;
	CHECK_INT(px_fwlog_end_reason(&e), PX_END_QUOTA);
	e.by = PX_CT_BY_KERNEL;
	CHECK_INT(px_fwlog_end_reason(&e), PX_END_TIMEOUT);

	/* Result codes and what counts as a fault. */
	CHECK_INT(px_fwlog_end_result(PX_END_CLOSED, IPPROTO_TCP),
		  PX_FWR_GRACEFUL);
	CHECK_INT(px_fwlog_end_result(PX_END_CLIENT_ABORT, IPPROTO_TCP),
		  PX_FWR_ABORTIVE);
	CHECK_INT(px_fwlog_end_result(PX_END_REFUSED, IPPROTO_TCP),
		  PX_FWR_CONN_REFUSED);
	CHECK_INT(px_fwlog_end_result(PX_END_NO_REPLY, IPPROTO_TCP),
		  PX_FWR_NO_SERVER_REPLY);
	CHECK_INT(px_fwlog_end_result(PX_END_TIMEOUT, IPPROTO_TCP),
		  PX_FWR_TIMED_OUT);
	CHECK_INT(px_fwlog_end_result(PX_END_TIMEOUT, IPPROTO_UDP),
		  PX_FWR_GRACEFUL);
	CHECK_INT(px_fwlog_end_result(PX_END_QUOTA, IPPROTO_UDP),
		  PX_FWR_RWS_QUOTA);
	CHECK(px_fwlog_end_expected(PX_END_CLOSED, IPPROTO_TCP));
	CHECK(px_fwlog_end_expected(PX_END_CLIENT_ABORT, IPPROTO_TCP));
	CHECK(!px_fwlog_end_expected(PX_END_SERVER_ABORT, IPPROTO_TCP));
	CHECK(!px_fwlog_end_expected(PX_END_RESET, IPPROTO_TCP));
	CHECK(!px_fwlog_end_expected(PX_END_TIMEOUT, IPPROTO_TCP));
	CHECK(px_fwlog_end_expected(PX_END_TIMEOUT, IPPROTO_UDP));
	CHECK(!px_fwlog_end_expected(PX_END_QUOTA, IPPROTO_UDP));
	CHECK_STR(px_fw_end_name(PX_END_CLIENT_ABORT), "client-abort");
	CHECK_STR(px_fw_end_name(PX_END_QUOTA), "ended-by-quota");
}

TEST(fwlog_denied_record_json_and_text)
{
	uint8_t p[80];
	size_t n = ipv4_tcp_syn(p);
	px_fwrec_t r;
	char buf[PX_FWREC_JSON_MAX], text[PX_FWREC_TEXT_MAX];

	CHECK_INT(px_fwlog_denied(&r, "px:q:tcp-connect-rate", 4, p, n, T0), 0);
	r.seq = 7;
	px_fwrec_json(&r, "fw1", buf, sizeof(buf));
	CHECK_STR(buf, "{\"seq\":7,\"time\":\"2024-01-02T03:04:05.678Z\","
		  "\"time_ms\":1704164645678,\"member\":\"fw1\","
		  "\"type\":\"denied\",\"proto\":\"tcp\","
		  "\"src\":\"198.51.100.3\",\"sport\":40000,"
		  "\"dst\":\"203.0.113.100\",\"dport\":443,\"tcp_flags\":\"S\","
		  "\"quota\":\"tcp-connect-rate\",\"reason\":\"quota exceeded\","
		  "\"result\":\"FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED\","
		  "\"result_code\":\"0xC0040037\"}");
	px_fwrec_text(&r, text, sizeof(text));
	CHECK_STR(text, "denied tcp 198.51.100.3:40000 -> 203.0.113.100:443 "
		  "[S] quota tcp-connect-rate: "
		  "FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED 0xC0040037");

	/* A rule's session quota names the rule and the quota. */
	p[9] = IPPROTO_UDP;
	CHECK_INT(px_fwlog_denied(&r, "px:n:udp-echo", 0, p, n, T0), 0);
	px_fwrec_json(&r, "fw2", buf, sizeof(buf));
	CHECK(strstr(buf, "\"proto\":\"udp\",") != NULL);
	CHECK(strstr(buf, "\"rule\":\"udp-echo\",\"quota\":"
		     "\"nontcp-session-rate\"") != NULL);
	CHECK(strstr(buf, "\"result_code\":\"0xC0040033\"") != NULL);
	CHECK(strstr(buf, "tcp_flags") == NULL);

	CHECK_INT(px_fwlog_denied(&r, "px:d:no-443", 0, p, n, T0), 0);
	px_fwrec_json(&r, "fw2", buf, sizeof(buf));
	CHECK(strstr(buf, "\"rule\":\"no-443\",\"reason\":\"denied by "
		     "rule\",\"result\":\"FWX_E_POLICY_RULES_DENIED\"") != NULL);
	CHECK_INT(px_fwlog_denied(&r, "nope", 0, p, n, T0), PX_EBADREQ);
}

TEST(fwlog_json_escapes_strings)
{
	px_fwrec_t r;
	char buf[PX_FWREC_JSON_MAX];

	px_fwlog_summary(&r, PX_FWREC_LOST, PX_FWREC_DENIED, 3, 0, 0, 0, T0);
	px_fwrec_json(&r, "a\"b\\c\n\x01\xc3", buf, sizeof(buf));
	CHECK(strstr(buf, "\"member\":\"a\\\"b\\\\c\\u000a\\u0001\\u00c3\"")
	      != NULL);
	CHECK(strstr(buf, "\"type\":\"lost\",\"of\":\"denied\",\"count\":3}")
	      != NULL);
	/* A buffer too small still gets a closed object. */
	px_fwrec_json(&r, "fw1", buf, 40);
	CHECK_INT(buf[strlen(buf) - 1], '}');
	CHECK(strlen(buf) < 40);
}

TEST(fwlog_ended_record_bytes_duration)
{
	px_ct_end_t e = tcp_end(TCP_CONNTRACK_CLOSE, IPS_ASSURED,
				PX_CT_MARK_RST_ORIG | 0x1);
	px_fwrec_t r;
	char buf[PX_FWREC_JSON_MAX], text[PX_FWREC_TEXT_MAX];

	e.t.family = 6;
	e.t.src[0] = 0x20; e.t.src[1] = 0x01; e.t.src[2] = 0x0d;
	e.t.src[3] = 0xb8; e.t.src[15] = 0x05;
	e.t.dst[0] = 0x20; e.t.dst[1] = 0x01; e.t.dst[2] = 0x0d;
	e.t.dst[3] = 0xb8; e.t.dst[15] = 0x01;
	e.t.sport = 50000;
	e.t.dport = 443;
	e.acct = true;
	e.packets[0] = 10;
	e.packets[1] = 8;
	e.bytes[0] = 1200;
	e.bytes[1] = 5400;
	/* Closed (reset) 1.5 s after the start, reaped 10 s later: the
	 * duration runs to the close. */
	e.start_ns = (T0 - 1500) * 1000000ull;
	e.closed_ns = T0 * 1000000ull + 250000;
	e.stop_ns = (T0 + 10000) * 1000000ull;
	px_fwlog_ended(&r, &e, T0);
	r.seq = 9;
	px_fwrec_json(&r, "fw1", buf, sizeof(buf));
	CHECK_STR(buf, "{\"seq\":9,\"time\":\"2024-01-02T03:04:05.678Z\","
		  "\"time_ms\":1704164645678,\"member\":\"fw1\","
		  "\"type\":\"ended\",\"proto\":\"tcp\",\"src\":\"2001:db8::5\","
		  "\"sport\":50000,\"dst\":\"2001:db8::1\",\"dport\":443,"
		  "\"end\":\"client-abort\",\"expected\":true,"
		  "\"reset_by\":\"client\",\"tcp_state\":\"CLOSE\","
		  "\"result\":\"FWX_E_ABORTIVE_SHUTDOWN\","
		  "\"result_code\":\"0x80074E21\",\"bytes_orig\":1200,"
		  "\"bytes_reply\":5400,\"packets_orig\":10,\"packets_reply\":8,"
		  "\"start\":\"2024-01-02T03:04:04.178Z\",\"duration_ms\":1500}");
	px_fwrec_text(&r, text, sizeof(text));
	CHECK_STR(text, "ended tcp [2001:db8::5]:50000 -> [2001:db8::1]:443 "
		  "client-abort by client (expected), 1500 ms, 1200/5400 bytes: "
		  "FWX_E_ABORTIVE_SHUTDOWN 0x80074E21");

	/* No close seen: to the entry's end, and it says so. */
	e.closed_ns = 0;
	px_fwlog_ended(&r, &e, T0);
	px_fwrec_json(&r, "fw1", buf, sizeof(buf));
	CHECK(strstr(buf, "\"duration_ms\":11500,"
		     "\"duration_includes_timeout\":true}") != NULL);
	px_fwrec_text(&r, text, sizeof(text));
	CHECK(strstr(text, "11500 ms (with its timeout)") != NULL);

	/* Without accounting and timestamps those fields are left out. */
	e = tcp_end(TCP_CONNTRACK_TIME_WAIT, IPS_ASSURED, 0);
	px_fwlog_ended(&r, &e, T0);
	px_fwrec_json(&r, "fw1", buf, sizeof(buf));
	CHECK(strstr(buf, "\"end\":\"closed\",\"expected\":true,"
		     "\"tcp_state\":\"TIME_WAIT\"") != NULL);
	CHECK(strstr(buf, "bytes") == NULL);
	CHECK(strstr(buf, "duration") == NULL);
	e.t.proto = IPPROTO_UDP;
	e.by = PX_CT_BY_WATCHER;
	px_fwlog_ended(&r, &e, T0);
	px_fwrec_json(&r, "fw1", buf, sizeof(buf));
	CHECK(strstr(buf, "\"end\":\"ended-by-quota\",\"expected\":false,"
		     "\"result\":\"WSA_RWS_QUOTA\",\"result_code\":"
		     "\"0x80074E23\"") != NULL);
}

TEST(fwlog_cap_counts_suppressed_exactly)
{
	px_fwlog_cap_t c;
	uint64_t first = 0, last = 0, admitted = 0, reported = 0, n;
	int i;

	px_fwlog_cap_init(&c, 3);
	for (i = 0; i < 10; i++)
		admitted += px_fwlog_cap_admit(&c, 5000 + (uint64_t)i * 10);
	CHECK_INT(admitted, 3);
	/* Not while its second lasts. */
	CHECK_INT(px_fwlog_cap_due(&c, 5999, false, &first, &last), 0);
	n = px_fwlog_cap_due(&c, 6000, false, &first, &last);
	CHECK_INT(n, 7);
	CHECK_INT(first, 5030);
	CHECK_INT(last, 5090);
	CHECK_INT(px_fwlog_cap_due(&c, 6001, false, &first, &last), 0);

	/* A long flood: every second reports its own, exactly. */
	px_fwlog_cap_init(&c, 100);
	admitted = 0;
	for (i = 0; i < 25000; i++) {
		uint64_t now = 10000 + (uint64_t)i / 7; /* 7 a ms */

		reported += px_fwlog_cap_due(&c, now, false, &first, &last);
		admitted += px_fwlog_cap_admit(&c, now);
	}
	reported += px_fwlog_cap_due(&c, 20000, true, &first, &last);
	CHECK_INT(admitted + reported, 25000);
	CHECK_INT(admitted, 400); /* four seconds, 100 each */
	CHECK_INT(c.total, 25000 - 400);
	/* At stop the current second's go too. */
	px_fwlog_cap_init(&c, 1);
	px_fwlog_cap_admit(&c, 1000);
	px_fwlog_cap_admit(&c, 1001);
	CHECK_INT(px_fwlog_cap_due(&c, 1002, false, &first, &last), 0);
	CHECK_INT(px_fwlog_cap_due(&c, 1002, true, &first, &last), 1);
	/* No cap. */
	px_fwlog_cap_init(&c, 0);
	for (i = 0; i < 1000; i++)
		CHECK(px_fwlog_cap_admit(&c, 1000));
}

TEST(fwlog_summary_record)
{
	px_fwrec_t r;
	char buf[PX_FWREC_JSON_MAX], text[PX_FWREC_TEXT_MAX];

	px_fwlog_summary(&r, PX_FWREC_SUPPRESSED, PX_FWREC_DENIED, 480,
			 T0 - 900, T0 - 100, 100, T0);
	r.seq = 3;
	px_fwrec_json(&r, "fw1", buf, sizeof(buf));
	CHECK(strstr(buf, "\"type\":\"suppressed\",\"of\":\"denied\","
		     "\"count\":480,\"from\":\"2024-01-02T03:04:04.778Z\","
		     "\"to\":\"2024-01-02T03:04:05.578Z\",\"cap\":100}") != NULL);
	px_fwrec_text(&r, text, sizeof(text));
	CHECK_STR(text, "suppressed 480 denied records (more than 100 a "
		  "second)");
}
