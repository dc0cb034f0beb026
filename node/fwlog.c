/* fwlog.c - firewall log records: parsing, classification, formatting,
 * the per-second cap (see fwlog.h).  No I/O. */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "fwlog.h"
#include "ids.h"
#include "limit.h"
#include "px.h"

const px_fw_result_def_t px_fw_results[PX_FWR_COUNT] = {
	[PX_FWR_NONE] = { "", 0, false, "" },
	[PX_FWR_RWS_QUOTA] = { "WSA_RWS_QUOTA", 0x80074E23, false,
		"A connection was refused because a quota was exceeded." },
	[PX_FWR_RULE_QUOTA] = { "FWX_E_RULE_QUOTA_EXCEEDED_DROPPED",
		0xC0040033, false, "A connection was rejected because the "
		"maximum number of connections created per second for this "
		"rule was exceeded." },
	[PX_FWR_TCP_RATE_QUOTA] = { "FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED",
		0xC0040037, false, "A connection was rejected because the "
		"maximum connections rate for a single client host was "
		"exceeded." },
	[PX_FWR_BAD_TCP_CHECKSUM] = { "FWX_E_BAD_TCP_CHECKSUM_DROPPED",
		0xC0040031, false, "A packet was dropped because verification "
		"of its TCP checksum failed." },
	[PX_FWR_SPOOFED] = { "FWX_E_FWE_SPOOFING_PACKET_DROPPED", 0xC0040014,
		false, "A packet was dropped because its source IP address "
		"is spoofed." },
	[PX_FWR_POLICY_DENIED] = { "FWX_E_POLICY_RULES_DENIED", 0xC004000D,
		false, "The policy rules do not allow the request." },
	[PX_FWR_GRACEFUL] = { "FWX_E_GRACEFUL_SHUTDOWN", 0x80074E20, false,
		"The connection was closed gracefully." },
	[PX_FWR_ABORTIVE] = { "FWX_E_ABORTIVE_SHUTDOWN", 0x80074E21, false,
		"The connection was closed abortively (reset)." },
	[PX_FWR_NO_SERVER_REPLY] = { "FWX_E_TCP_NO_SERVER_REPLY", 0xC0040038,
		false, "A connection was closed because no SYN/ACK reply was "
		"received from the server." },
	[PX_FWR_CONN_REFUSED] = { "WSAECONNREFUSED", 10061, true,
		"A connection was refused by the destination host." },
	[PX_FWR_TIMED_OUT] = { "WSAETIMEDOUT", 10060, true,
		"A connection timed out." },
	[PX_FWR_PING_OF_DEATH] = { "FWX_E_PING_OF_DEATH_PACKET_DROPPED",
		0xC0040019, false, "A packet was dropped because Forefront TMG "
		"detected a ping-of-death attack." },
	[PX_FWR_OUT_OF_BAND] = { "FWX_E_OUT_OF_BAND_PACKET_DROPPED",
		0xC004001A, false, "A packet was dropped because Forefront TMG "
		"detected a Windows out-of-band (WinNuke) attack." },
	[PX_FWR_IP_HALF_SCAN] = { "FWX_E_IP_HALF_SCAN_PACKET_DROPPED",
		0xC004001B, false, "A packet was dropped because Forefront TMG "
		"detected an IP half-scan attack." },
	[PX_FWR_LAND_ATTACK] = { "FWX_E_LAND_ATTACK_DROPPED", 0xC004001C,
		false, "A packet was dropped because Forefront TMG detected a "
		"land attack." },
	[PX_FWR_UDP_BOMB] = { "FWX_E_UDP_BOMB_DROPPED", 0xC004001D, false,
		"A packet was dropped because Forefront TMG detected a UDP "
		"bomb attack." },
	[PX_FWR_SYN_ATTACK] = { "FWX_E_SYN_ATTACK_START", 0xC004002A, false,
		"Forefront TMG detected a SYN attack." },
};

/* Intrusion detection's reasons (its names, lib/ids.h) and TMG's codes. */
static px_fw_result_t ids_result(const char *reason)
{
	switch (px_ids_find(reason)) {
	case PX_IDS_PING_OF_DEATH: return PX_FWR_PING_OF_DEATH;
	case PX_IDS_OOB_ATTACK: return PX_FWR_OUT_OF_BAND;
	case PX_IDS_HALF_SCAN: return PX_FWR_IP_HALF_SCAN;
	case PX_IDS_LAND_ATTACK: return PX_FWR_LAND_ATTACK;
	case PX_IDS_UDP_BOMB: return PX_FWR_UDP_BOMB;
	case PX_IDS_SYN_ATTACK: return PX_FWR_SYN_ATTACK;
	default: return PX_FWR_NONE; /* port-scan: TMG names no code */
	}
}

void px_fw_result_code(px_fw_result_t r, char *buf, size_t len)
{
	if (r == PX_FWR_NONE || r >= PX_FWR_COUNT)
		snprintf(buf, len, "%s", "");
	else if (px_fw_results[r].decimal)
		snprintf(buf, len, "%" PRIu32, px_fw_results[r].code);
	else
		snprintf(buf, len, "0x%08" PRIX32, px_fw_results[r].code);
}

/* ---- denied: prefixes and packets ---- */

/* Names in prefixes: quota names and px_setname_valid names. */
static bool name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

int px_fwlog_prefix_parse(const char *prefix, px_fw_prefix_t *out)
{
	static const struct {
		const char *pfx;
		px_fw_denied_kind_t kind;
	} kinds[] = {
		{ PX_FWLOG_PFX_QUOTA, PX_FWD_QUOTA },
		{ PX_FWLOG_PFX_RULE_RATE, PX_FWD_RULE_RATE },
		{ PX_FWLOG_PFX_SERVICE, PX_FWD_SERVICE },
		{ PX_FWLOG_PFX_DENY, PX_FWD_RULE },
		{ PX_FWLOG_PFX_PROTECT, PX_FWD_PROTECT },
	};
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(prefix, kinds[i].pfx, strlen(kinds[i].pfx)) == 0)
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return PX_EBADREQ;
	prefix += strlen(kinds[i].pfx);
	if (!name_ok(prefix))
		return PX_EBADREQ;
	out->kind = kinds[i].kind;
	snprintf(out->name, sizeof(out->name), "%s", prefix);
	switch (out->kind) {
	case PX_FWD_QUOTA: {
		int id = px_limit_find(prefix);

		if (id < 0 || px_limit_defs[id].setting)
			return PX_EBADREQ;
		out->result = id == PX_LIM_TCP_CONNECT_RATE ?
			PX_FWR_TCP_RATE_QUOTA : PX_FWR_RWS_QUOTA;
		out->flood = true;
		break;
	}
	case PX_FWD_RULE_RATE:
		out->result = PX_FWR_RULE_QUOTA;
		out->flood = true;
		break;
	case PX_FWD_SERVICE:
		out->result = PX_FWR_RWS_QUOTA;
		out->flood = true;
		break;
	case PX_FWD_RULE:
		out->result = PX_FWR_POLICY_DENIED;
		break;
	case PX_FWD_PROTECT:
		/* TMG's codes where it names one (spoofing, policy); the
		 * others carry their reason and no code rather than a
		 * made-up one. */
		if (strncmp(prefix, "spoof-", 6) == 0)
			out->result = PX_FWR_SPOOFED;
		else if (strcmp(prefix, PX_REASON_DEFAULT_DENY) == 0)
			out->result = PX_FWR_POLICY_DENIED;
		else if (strcmp(prefix, PX_REASON_BAD_CHECKSUM) == 0)
			out->result = PX_FWR_BAD_TCP_CHECKSUM;
		else
			out->result = ids_result(prefix);
		break;
	}
	return 0;
}


/* The transport header at p[0..len) of protocol proto. */
static void transport(px_fw_packet_t *out, const uint8_t *p, size_t len)
{
	if (out->proto != IPPROTO_TCP && out->proto != IPPROTO_UDP &&
	    out->proto != IPPROTO_SCTP && out->proto != IPPROTO_UDPLITE)
		return;
	if (len < 4)
		return;
	out->sport = px_be16_get(p);
	out->dport = px_be16_get(p + 2);
	out->has_ports = true;
	if (out->proto == IPPROTO_TCP && len >= 14)
		out->tcp_flags = p[13];
}

int px_fwlog_parse_packet(int family, const uint8_t *p, size_t len,
			  px_fw_packet_t *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return PX_EBADREQ;
	if (family == 0)
		family = p[0] >> 4 == 4 ? 4 : p[0] >> 4 == 6 ? 6 : 0;
	if (family == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;
		uint16_t frag;

		if (len < 20 || p[0] >> 4 != 4 || ihl < 20)
			return PX_EBADREQ;
		out->family = 4;
		out->proto = p[9];
		memcpy(out->src, p + 12, 4);
		memcpy(out->dst, p + 16, 4);
		frag = px_be16_get(p + 6) & 0x1fff;
		/* A later fragment carries no transport header. */
		if (frag == 0 && len > ihl)
			transport(out, p + ihl, len - ihl);
		return 0;
	}
	if (family == 6) {
		size_t off = 40;
		uint8_t next;
		int hops;

		if (len < 40 || p[0] >> 4 != 6)
			return PX_EBADREQ;
		out->family = 6;
		memcpy(out->src, p + 8, 16);
		memcpy(out->dst, p + 24, 16);
		next = p[6];
		/* Extension headers, a bounded number of them. */
		for (hops = 0; hops < 8; hops++) {
			if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
			    next == IPPROTO_DSTOPTS) {
				if (len < off + 2)
					break;
				next = p[off];
				off += ((size_t)p[off + 1] + 1) * 8;
			} else if (next == IPPROTO_FRAGMENT) {
				if (len < off + 8)
					break;
				next = p[off];
				if (px_be16_get(p + off + 2) & 0xfff8) {
					off = len; /* a later fragment */
					break;
				}
				off += 8;
			} else {
				break;
			}
		}
		out->proto = next;
		if (off < len)
			transport(out, p + off, len - off);
		return 0;
	}
	return PX_EBADREQ;
}

int px_fwlog_denied(px_fwrec_t *out, const char *prefix, int family,
		    const uint8_t *p, size_t len, uint64_t now_ms)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->type = PX_FWREC_DENIED;
	out->time_ms = now_ms;
	out->tcp_state = PX_TCP_UNKNOWN;
	rc = px_fwlog_prefix_parse(prefix, &out->why);
	if (rc == 0)
		rc = px_fwlog_parse_packet(family, p, len, &out->pkt);
	out->result = out->why.result;
	return rc;
}

/* ---- ended: end reasons ---- */

static const char *const end_names[PX_END_COUNT] = {
	[PX_END_CLOSED] = "closed",
	[PX_END_CLIENT_ABORT] = "client-abort",
	[PX_END_SERVER_ABORT] = "server-abort",
	[PX_END_RESET] = "reset",
	[PX_END_REFUSED] = "refused",
	[PX_END_NO_REPLY] = "no-reply",
	[PX_END_TIMEOUT] = "timeout",
	[PX_END_QUOTA] = "ended-by-quota",
	[PX_END_KILLED] = "killed",
	[PX_END_ENDED] = "ended",
};

const char *px_fw_end_name(px_fw_end_t e)
{
	return e < PX_END_COUNT ? end_names[e] : "?";
}

px_fw_end_t px_fwlog_end_reason(const px_ct_end_t *e)
{
	bool orig = e->mark & PX_CT_MARK_RST_ORIG;
	bool reply = e->mark & PX_CT_MARK_RST_REPLY;

	if (e->by == PX_CT_BY_WATCHER)
		return PX_END_QUOTA;
	if (e->by == PX_CT_BY_OTHER)
		return PX_END_KILLED;
	if (e->t.proto != IPPROTO_TCP)
		return PX_END_TIMEOUT;
	switch (e->tcp_state) {
	case TCP_CONNTRACK_TIME_WAIT:
		return PX_END_CLOSED;
	case TCP_CONNTRACK_CLOSE:
		/* Only an RST takes conntrack to CLOSE. */
		if (!(e->status & IPS_ASSURED))
			return orig && !reply ? PX_END_RESET : PX_END_REFUSED;
		if (orig && !reply)
			return PX_END_CLIENT_ABORT;
		if (reply && !orig)
			return PX_END_SERVER_ABORT;
		return PX_END_RESET;
	case TCP_CONNTRACK_SYN_SENT:
	case TCP_CONNTRACK_SYN_SENT2:
		return PX_END_NO_REPLY;
	case TCP_CONNTRACK_SYN_RECV:
	case TCP_CONNTRACK_ESTABLISHED:
	case TCP_CONNTRACK_FIN_WAIT:
	case TCP_CONNTRACK_CLOSE_WAIT:
	case TCP_CONNTRACK_LAST_ACK:
		return PX_END_TIMEOUT;
	default:
		return PX_END_ENDED;
	}
}

px_fw_result_t px_fwlog_end_result(px_fw_end_t end, uint8_t proto)
{
	switch (end) {
	case PX_END_CLOSED: return PX_FWR_GRACEFUL;
	case PX_END_CLIENT_ABORT:
	case PX_END_SERVER_ABORT:
	case PX_END_RESET:
	case PX_END_KILLED: return PX_FWR_ABORTIVE;
	case PX_END_REFUSED: return PX_FWR_CONN_REFUSED;
	case PX_END_NO_REPLY: return PX_FWR_NO_SERVER_REPLY;
	case PX_END_TIMEOUT:
		return proto == IPPROTO_TCP ? PX_FWR_TIMED_OUT : PX_FWR_GRACEFUL;
	case PX_END_QUOTA: return PX_FWR_RWS_QUOTA;
	default: return PX_FWR_NONE;
	}
}

bool px_fwlog_end_expected(px_fw_end_t end, uint8_t proto)
{
	switch (end) {
	case PX_END_CLOSED:
	case PX_END_CLIENT_ABORT:
	case PX_END_ENDED:
		return true;
	case PX_END_TIMEOUT:
		return proto != IPPROTO_TCP;
	default:
		return false;
	}
}

void px_fwlog_ended(px_fwrec_t *out, const px_ct_end_t *e, uint64_t now_ms)
{
	memset(out, 0, sizeof(*out));
	out->type = PX_FWREC_ENDED;
	out->time_ms = now_ms;
	out->pkt.family = e->t.family;
	out->pkt.proto = e->t.proto;
	memcpy(out->pkt.src, e->t.src, 16);
	memcpy(out->pkt.dst, e->t.dst, 16);
	out->pkt.sport = e->t.sport;
	out->pkt.dport = e->t.dport;
	out->pkt.has_ports = true;
	out->tcp_state = e->tcp_state;
	out->mark = e->mark & (PX_CT_MARK_RST_ORIG | PX_CT_MARK_RST_REPLY);
	out->end = px_fwlog_end_reason(e);
	out->result = px_fwlog_end_result(out->end, e->t.proto);
	out->acct = e->acct;
	memcpy(out->packets, e->packets, sizeof(out->packets));
	memcpy(out->bytes, e->bytes, sizeof(out->bytes));
	if (e->start_ns && e->stop_ns >= e->start_ns) {
		uint64_t end = e->closed_ns >= e->start_ns ? e->closed_ns :
			e->stop_ns;

		out->stamps = true;
		out->to_expiry = end == e->stop_ns;
		out->start_ms = e->start_ns / 1000000;
		out->duration_ms = (end - e->start_ns) / 1000000;
	}
}

void px_fwlog_summary(px_fwrec_t *out, px_fwrec_type_t type,
		      px_fwrec_type_t of, uint64_t count, uint64_t from_ms,
		      uint64_t to_ms, uint32_t cap, uint64_t now_ms)
{
	memset(out, 0, sizeof(*out));
	out->type = type;
	out->time_ms = now_ms;
	out->of = of;
	out->count = count;
	out->from_ms = from_ms;
	out->to_ms = to_ms;
	out->cap = cap;
	out->tcp_state = PX_TCP_UNKNOWN;
}

/* ---- the cap ---- */

void px_fwlog_cap_init(px_fwlog_cap_t *c, uint32_t per_second)
{
	memset(c, 0, sizeof(*c));
	c->per_second = per_second;
}

bool px_fwlog_cap_admit(px_fwlog_cap_t *c, uint64_t now_ms)
{
	uint64_t sec = now_ms / 1000;

	if (sec != c->second) {
		c->second = sec;
		c->used = 0;
	}
	if (!c->per_second || c->used < c->per_second) {
		c->used++;
		return true;
	}
	if (!c->suppressed)
		c->first_ms = now_ms;
	c->last_ms = now_ms;
	c->suppressed++;
	c->total++;
	return false;
}

uint64_t px_fwlog_cap_due(px_fwlog_cap_t *c, uint64_t now_ms, bool all,
			  uint64_t *first_ms, uint64_t *last_ms)
{
	uint64_t n = c->suppressed;

	/* Those counted in the current second wait for its end: the
	 * summary of a second comes once, with all of it. */
	if (!n || (!all && c->last_ms / 1000 == now_ms / 1000))
		return 0;
	*first_ms = c->first_ms;
	*last_ms = c->last_ms;
	c->suppressed = 0;
	return n;
}

/* ---- formatting ---- */

static const char *const type_names[PX_FWREC_TYPES] = {
	[PX_FWREC_DENIED] = "denied",
	[PX_FWREC_ENDED] = "ended",
	[PX_FWREC_SUPPRESSED] = "suppressed",
	[PX_FWREC_LOST] = "lost",
};

const char *px_fwrec_type_name(px_fwrec_type_t t)
{
	return t < PX_FWREC_TYPES ? type_names[t] : "?";
}

/* An appending writer into a fixed buffer: past the end it stops and
 * remembers it, so the caller can close the line properly. */
typedef struct {
	char *b;
	size_t len, cap;
	bool full;
} out_t;

static void put(out_t *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(out_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->b + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->b[o->len] = '\0'; /* drop the partial piece */
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* A JSON string: names here are ASCII; anything else is escaped. */
static void put_str(out_t *o, const char *s)
{
	char buf[3 * 64 * 2 + 3], *w = buf;
	const unsigned char *p = (const unsigned char *)s;

	*w++ = '"';
	for (; *p && w < buf + sizeof(buf) - 8; p++) {
		if (*p == '"' || *p == '\\') {
			*w++ = '\\';
			*w++ = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			w += snprintf(w, 7, "\\u%04x", *p);
		} else {
			*w++ = (char)*p;
		}
	}
	*w++ = '"';
	*w = '\0';
	put(o, "%s", buf);
}

static void addr_text(int family, const uint8_t *a, char *buf, size_t len)
{
	px_entry_t e;

	memset(&e, 0, sizeof(e));
	e.family = (uint8_t)family;
	e.plen = family == 4 ? 32 : 128;
	memcpy(e.addr, a, family == 4 ? 4 : 16);
	px_entry_format(&e, buf, len);
}

static void time_iso(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	if (!gmtime_r(&t, &tm) || !strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S",
					    &tm))
		snprintf(s, sizeof(s), "?");
	snprintf(buf, len, "%s.%03uZ", s, (unsigned)(ms % 1000));
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "ipv6-icmp";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_UDPLITE: return "udplite";
	default:
		snprintf(buf, len, "%u", p);
		return buf;
	}
}

/* "SA" for SYN+ACK: FIN S(yn) R(st) P(ush) A(ck) U(rg). */
static void tcp_flags_text(uint8_t f, char *buf)
{
	static const char letters[] = "FSRPAUEC";
	int i, n = 0;

	for (i = 0; i < 8; i++)
		if (f & (1u << i))
			buf[n++] = letters[i];
	buf[n] = '\0';
}

static const char *tcp_state_name(uint8_t s)
{
	static const char *const names[] = {
		[TCP_CONNTRACK_NONE] = "NONE",
		[TCP_CONNTRACK_SYN_SENT] = "SYN_SENT",
		[TCP_CONNTRACK_SYN_RECV] = "SYN_RECV",
		[TCP_CONNTRACK_ESTABLISHED] = "ESTABLISHED",
		[TCP_CONNTRACK_FIN_WAIT] = "FIN_WAIT",
		[TCP_CONNTRACK_CLOSE_WAIT] = "CLOSE_WAIT",
		[TCP_CONNTRACK_LAST_ACK] = "LAST_ACK",
		[TCP_CONNTRACK_TIME_WAIT] = "TIME_WAIT",
		[TCP_CONNTRACK_CLOSE] = "CLOSE",
		[TCP_CONNTRACK_SYN_SENT2] = "SYN_SENT2",
	};

	return s < sizeof(names) / sizeof(names[0]) && names[s] ? names[s] :
		NULL;
}

static const char *kind_key(px_fw_denied_kind_t k)
{
	switch (k) {
	case PX_FWD_QUOTA: return "quota";
	case PX_FWD_SERVICE: return "service";
	case PX_FWD_PROTECT: return "protection";
	default: return "rule";
	}
}

static const char *denied_reason(px_fw_denied_kind_t k)
{
	switch (k) {
	case PX_FWD_QUOTA: return "quota exceeded";
	case PX_FWD_RULE_RATE: return "rule session quota exceeded";
	case PX_FWD_SERVICE: return "service connection limit";
	case PX_FWD_PROTECT: return "attack protection";
	default: return "denied by rule";
	}
}

static const char *reset_by(uint32_t mark)
{
	bool o = mark & PX_CT_MARK_RST_ORIG, r = mark & PX_CT_MARK_RST_REPLY;

	return o && r ? "both" : o ? "client" : r ? "server" : NULL;
}

static void put_conn(out_t *o, const px_fw_packet_t *p)
{
	char a[PX_ENTRY_STR_MAX], pb[8];

	put(o, ",\"proto\":\"%s\"", proto_name(p->proto, pb, sizeof(pb)));
	addr_text(p->family, p->src, a, sizeof(a));
	put(o, ",\"src\":\"%s\"", a);
	if (p->has_ports)
		put(o, ",\"sport\":%u", p->sport);
	addr_text(p->family, p->dst, a, sizeof(a));
	put(o, ",\"dst\":\"%s\"", a);
	if (p->has_ports)
		put(o, ",\"dport\":%u", p->dport);
}

static void put_result(out_t *o, px_fw_result_t r)
{
	char code[16];

	if (r == PX_FWR_NONE) {
		put(o, ",\"result\":null,\"result_code\":null");
		return;
	}
	px_fw_result_code(r, code, sizeof(code));
	put(o, ",\"result\":\"%s\",\"result_code\":\"%s\"",
	    px_fw_results[r].name, code);
}

size_t px_fwrec_json(const px_fwrec_t *r, const char *member, char *buf,
		     size_t len)
{
	out_t o = { buf, 0, len, false };
	char t[40], t2[40], flags[9];

	if (len < 3) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	/* Keep room to close the object whatever happens. */
	o.cap = len - 2;
	buf[0] = '\0';
	time_iso(r->time_ms, t, sizeof(t));
	put(&o, "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"time_ms\":%" PRIu64
	    ",\"member\":", r->seq, t, r->time_ms);
	put_str(&o, member ? member : "");
	put(&o, ",\"type\":\"%s\"", px_fwrec_type_name(r->type));
	switch (r->type) {
	case PX_FWREC_DENIED:
		put_conn(&o, &r->pkt);
		if (r->pkt.proto == IPPROTO_TCP && r->pkt.has_ports) {
			tcp_flags_text(r->pkt.tcp_flags, flags);
			put(&o, ",\"tcp_flags\":\"%s\"", flags);
		}
		put(&o, ",\"%s\":", kind_key(r->why.kind));
		put_str(&o, r->why.name);
		if (r->why.kind == PX_FWD_RULE_RATE)
			put(&o, ",\"quota\":\"%s\"",
			    px_limit_defs[PX_LIM_NONTCP_SESSION_RATE].name);
		put(&o, ",\"reason\":\"%s\"", denied_reason(r->why.kind));
		put_result(&o, r->result);
		break;
	case PX_FWREC_ENDED: {
		const char *st = tcp_state_name(r->tcp_state);
		const char *by = reset_by(r->mark);

		put_conn(&o, &r->pkt);
		put(&o, ",\"end\":\"%s\",\"expected\":%s", px_fw_end_name(r->end),
		    px_fwlog_end_expected(r->end, r->pkt.proto) ? "true" :
		    "false");
		if (by)
			put(&o, ",\"reset_by\":\"%s\"", by);
		if (r->pkt.proto == IPPROTO_TCP && st)
			put(&o, ",\"tcp_state\":\"%s\"", st);
		put_result(&o, r->result);
		if (r->acct)
			put(&o, ",\"bytes_orig\":%" PRIu64 ",\"bytes_reply\":%"
			    PRIu64 ",\"packets_orig\":%" PRIu64
			    ",\"packets_reply\":%" PRIu64, r->bytes[0],
			    r->bytes[1], r->packets[0], r->packets[1]);
		if (r->stamps) {
			time_iso(r->start_ms, t2, sizeof(t2));
			put(&o, ",\"start\":\"%s\",\"duration_ms\":%" PRIu64, t2,
			    r->duration_ms);
			if (r->to_expiry)
				put(&o, ",\"duration_includes_timeout\":true");
		}
		break;
	}
	case PX_FWREC_SUPPRESSED:
	case PX_FWREC_LOST:
		put(&o, ",\"of\":\"%s\",\"count\":%" PRIu64,
		    px_fwrec_type_name(r->of), r->count);
		if (r->type == PX_FWREC_SUPPRESSED) {
			time_iso(r->from_ms, t, sizeof(t));
			time_iso(r->to_ms, t2, sizeof(t2));
			put(&o, ",\"from\":\"%s\",\"to\":\"%s\",\"cap\":%" PRIu32,
			    t, t2, r->cap);
		}
		break;
	default:
		break;
	}
	buf[o.len++] = '}';
	buf[o.len] = '\0';
	return o.len;
}

static void endpoint_text(int family, const uint8_t *a, bool ports,
			  uint16_t port, char *buf, size_t len)
{
	char s[PX_ENTRY_STR_MAX];

	addr_text(family, a, s, sizeof(s));
	if (!ports)
		snprintf(buf, len, "%s", s);
	else if (family == 6)
		snprintf(buf, len, "[%s]:%u", s, port);
	else
		snprintf(buf, len, "%s:%u", s, port);
}

size_t px_fwrec_text(const px_fwrec_t *r, char *buf, size_t len)
{
	out_t o = { buf, 0, len, false };
	char src[PX_ENTRY_STR_MAX + 8], dst[PX_ENTRY_STR_MAX + 8];
	char pb[8], code[16], flags[9];
	const px_fw_packet_t *p = &r->pkt;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (r->type == PX_FWREC_DENIED || r->type == PX_FWREC_ENDED) {
		endpoint_text(p->family, p->src, p->has_ports, p->sport, src,
			      sizeof(src));
		endpoint_text(p->family, p->dst, p->has_ports, p->dport, dst,
			      sizeof(dst));
		put(&o, "%s %s %s -> %s", px_fwrec_type_name(r->type),
		    proto_name(p->proto, pb, sizeof(pb)), src, dst);
		px_fw_result_code(r->result, code, sizeof(code));
	}
	switch (r->type) {
	case PX_FWREC_DENIED:
		if (p->proto == IPPROTO_TCP && p->has_ports) {
			tcp_flags_text(p->tcp_flags, flags);
			put(&o, " [%s]", flags);
		}
		put(&o, " %s %s: %s %s", kind_key(r->why.kind), r->why.name,
		    px_fw_results[r->result].name, code);
		break;
	case PX_FWREC_ENDED: {
		const char *by = reset_by(r->mark);

		put(&o, " %s%s%s%s", px_fw_end_name(r->end),
		    by ? " by " : "", by ? by : "",
		    px_fwlog_end_expected(r->end, p->proto) ? " (expected)" :
		    "");
		if (r->stamps)
			put(&o, ", %" PRIu64 " ms%s", r->duration_ms,
			    r->to_expiry ? " (with its timeout)" : "");
		if (r->acct)
			put(&o, ", %" PRIu64 "/%" PRIu64 " bytes", r->bytes[0],
			    r->bytes[1]);
		if (r->result != PX_FWR_NONE)
			put(&o, ": %s %s", px_fw_results[r->result].name, code);
		break;
	}
	case PX_FWREC_SUPPRESSED:
		put(&o, "suppressed %" PRIu64 " %s records (more than %" PRIu32
		    " a second)", r->count, px_fwrec_type_name(r->of), r->cap);
		break;
	case PX_FWREC_LOST:
		put(&o, "lost %" PRIu64 " %s records (kernel queue overrun)",
		    r->count, px_fwrec_type_name(r->of));
		break;
	default:
		break;
	}
	return o.len;
}
