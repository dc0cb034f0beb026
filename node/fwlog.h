/* fwlog.h - the member's firewall log records: what a denied packet or an
 * ended connection becomes, with the result codes a TMG administrator
 * knows (seeds/004 "Logging Flood Manipulation"; seeds/002 for why a
 * client's reset of a TLS tunnel is no fault), and the per-second record
 * cap.  Plain C over plain structs, no I/O: nflog.c feeds it NFLOG packets
 * and conntrack ends and writes what it returns (unit-tested in
 * tests/unit/test_fwlog.c).
 *
 * Denied records come from `log group PX_FWLOG_GROUP prefix "px:K:NAME"'
 * statements that node/compile.c puts in its refusal rules; the prefix says
 * what refused the packet (px_fwlog_prefix_parse).  Ended records come
 * from conntrack DESTROY events (ct.h, px_ct_end_t).
 *
 * Records are one JSON object a line (px_fwrec_json) and one human line
 * (px_fwrec_text, also the syslog message).  docs/fwlog.md lists every
 * field. */
#ifndef PX_FWLOG_H
#define PX_FWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct.h"
#include "vocab.h"

/* The NFLOG group of the member's log statements.  The kernel keeps one
 * group per network namespace, and a member owns its namespace. */
#define PX_FWLOG_GROUP 7
/* Bytes of a logged packet the kernel copies: an IPv6 header (40), a
 * few extension-header bytes and the TCP header's first 20 bytes fit;
 * nothing of the payload is wanted. */
#define PX_FWLOG_SNAPLEN 80
/* Log prefixes, "px:" KIND ":" NAME.  The kernel takes at most 127
 * bytes; names here are at most 32 (px_setname_valid) or 31 (quotas). */
#define PX_FWLOG_PFX_QUOTA "px:q:"   /* + quota: a per-source quota refused */
#define PX_FWLOG_PFX_RULE_RATE "px:n:" /* + rule: its new-session quota */
#define PX_FWLOG_PFX_SERVICE "px:s:" /* + service: its connection limit */
#define PX_FWLOG_PFX_DENY "px:d:"    /* + rule: a deny rule */
#define PX_FWLOG_PFX_PROTECT "px:p:" /* + reason: attack protection
				      * (PX_REASON_* of vocab.h) */
#define PX_FWLOG_PREFIX_MAX 64       /* with the NUL */
/* The forward chain sets PX_CT_MARK_RST_ORIG or _REPLY (vocab.h) in the
 * conntrack mark on a TCP reset, by the direction of the RST. */

/* Result codes, Forefront TMG's names and values (Wspfwerr.h, the
 * Firewall log's result codes; Winsock errors are decimal there). */
typedef enum {
	PX_FWR_NONE = 0,
	PX_FWR_RWS_QUOTA,        /* WSA_RWS_QUOTA 0x80074E23 */
	PX_FWR_RULE_QUOTA,       /* FWX_E_RULE_QUOTA_EXCEEDED_DROPPED 0xC0040033 */
	PX_FWR_TCP_RATE_QUOTA,   /* FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED 0xC0040037 */
	PX_FWR_BAD_TCP_CHECKSUM, /* FWX_E_BAD_TCP_CHECKSUM_DROPPED 0xC0040031 */
	PX_FWR_SPOOFED,          /* FWX_E_FWE_SPOOFING_PACKET_DROPPED 0xC0040014 */
	PX_FWR_POLICY_DENIED,    /* FWX_E_POLICY_RULES_DENIED 0xC004000D */
	PX_FWR_GRACEFUL,         /* FWX_E_GRACEFUL_SHUTDOWN 0x80074E20 */
	PX_FWR_ABORTIVE,         /* FWX_E_ABORTIVE_SHUTDOWN 0x80074E21 */
	PX_FWR_NO_SERVER_REPLY,  /* FWX_E_TCP_NO_SERVER_REPLY 0xC0040038 */
	PX_FWR_CONN_REFUSED,     /* WSAECONNREFUSED 10061 */
	PX_FWR_TIMED_OUT,        /* WSAETIMEDOUT 10060 */
	/* Intrusion detection (lib/ids.h); port-scan has none in TMG. */
	PX_FWR_PING_OF_DEATH,    /* FWX_E_PING_OF_DEATH_PACKET_DROPPED 0xC0040019 */
	PX_FWR_OUT_OF_BAND,      /* FWX_E_OUT_OF_BAND_PACKET_DROPPED 0xC004001A */
	PX_FWR_IP_HALF_SCAN,     /* FWX_E_IP_HALF_SCAN_PACKET_DROPPED 0xC004001B */
	PX_FWR_LAND_ATTACK,      /* FWX_E_LAND_ATTACK_DROPPED 0xC004001C */
	PX_FWR_UDP_BOMB,         /* FWX_E_UDP_BOMB_DROPPED 0xC004001D */
	PX_FWR_SYN_ATTACK,       /* FWX_E_SYN_ATTACK_START 0xC004002A */
	PX_FWR_COUNT
} px_fw_result_t;

typedef struct {
	const char *name;   /* "FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED" */
	uint32_t code;      /* 0xC0040037 */
	bool decimal;       /* a Winsock error: shown in decimal */
	const char *text;   /* TMG's message text */
} px_fw_result_def_t;

extern const px_fw_result_def_t px_fw_results[PX_FWR_COUNT];

/* "0xC0040037", "10061", "" for PX_FWR_NONE; buf of 12 bytes. */
void px_fw_result_code(px_fw_result_t r, char *buf, size_t len);

/* What a log prefix says refused a packet. */
typedef enum {
	PX_FWD_QUOTA,     /* a per-source quota (tcp-connect-rate ...) */
	PX_FWD_RULE_RATE, /* a rule's new-session quota (nontcp-session-rate) */
	PX_FWD_SERVICE,   /* a published service's connection limit */
	PX_FWD_RULE,      /* a deny rule */
	PX_FWD_PROTECT,   /* attack protection: name is the reason */
} px_fw_denied_kind_t;

typedef struct {
	px_fw_denied_kind_t kind;
	char name[40];          /* the quota, rule or service */
	px_fw_result_t result;
	bool flood;             /* blocked by flood mitigation: the
				 * log-flood-blocks switch covers it */
} px_fw_prefix_t;

/* Parse a log prefix of compile.c's.  Quotas map to their code:
 * tcp-connect-rate to FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED, the other
 * per-source quotas and service limits to WSA_RWS_QUOTA, a rule's
 * session quota to FWX_E_RULE_QUOTA_EXCEEDED_DROPPED, a deny rule to
 * FWX_E_POLICY_RULES_DENIED.  0, or PX_EBADREQ for anything else (not
 * ours, unknown quota, bad name). */
int px_fwlog_prefix_parse(const char *prefix, px_fw_prefix_t *out);

/* The headers of a logged packet. */
typedef struct {
	uint8_t family;        /* 4 or 6 */
	uint8_t proto;         /* IPPROTO_* of the transport */
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* 0 without ports (or not captured) */
	uint8_t tcp_flags;     /* TCP header flags, 0 if none */
	bool has_ports;
} px_fw_packet_t;

/* Read the network and transport headers of packet p[0..len), which
 * starts at the IP header (NFULA_PAYLOAD).  family 4 or 6, or 0 to take
 * it from the version nibble.  IPv6 extension headers (hop-by-hop,
 * routing, destination options, fragment) are skipped; a packet cut
 * before its ports has has_ports false.  0, or PX_EBADREQ if not even
 * the addresses are there. */
int px_fwlog_parse_packet(int family, const uint8_t *p, size_t len,
			  px_fw_packet_t *out);

/* How a connection ended (from conntrack's view at its DESTROY). */
typedef enum {
	PX_END_CLOSED,       /* FIN both ways (TIME_WAIT): normal */
	PX_END_CLIENT_ABORT, /* the client reset an established connection:
			      * a TLS tunnel's usual end (seeds/002) */
	PX_END_SERVER_ABORT, /* the server reset an established connection */
	PX_END_RESET,        /* reset, side unknown (or both) */
	PX_END_REFUSED,      /* reset before the handshake completed */
	PX_END_NO_REPLY,     /* the server never answered the SYN */
	PX_END_TIMEOUT,      /* idle or half-closed past conntrack's timeout;
			      * UDP sessions always end this way */
	PX_END_QUOTA,        /* ended by the watcher (udp-concurrent) */
	PX_END_KILLED,       /* ended by another process (conntrack -D) */
	PX_END_ENDED,        /* TCP without a state: how is unknown */
	PX_END_COUNT
} px_fw_end_t;

/* "closed", "client-abort", ... */
const char *px_fw_end_name(px_fw_end_t e);
/* Classify: who ended it (e->by) first, then for TCP the state at the
 * end (TIME_WAIT: closed; CLOSE: a reset, its side from the mark bits
 * PX_CT_MARK_RST_*, refused if the connection was never assured;
 * SYN_SENT: no reply; other states: timeout). */
px_fw_end_t px_fwlog_end_reason(const px_ct_end_t *e);
/* The end's result code: closed GRACEFUL, resets ABORTIVE, refused
 * CONN_REFUSED, no reply NO_SERVER_REPLY, TCP timeout TIMED_OUT, UDP
 * timeout GRACEFUL (TMG logs a UDP session's end so), quota RWS_QUOTA,
 * killed ABORTIVE, ended NONE. */
px_fw_result_t px_fwlog_end_result(px_fw_end_t end, uint8_t proto);
/* Whether the end is a normal one, nothing for an administrator to look
 * at: closed, client-abort, UDP timeout, ended.  (A server's reset, a
 * refusal, no reply, a TCP timeout, a quota's or another process's kill
 * are worth a look.) */
bool px_fwlog_end_expected(px_fw_end_t end, uint8_t proto);

typedef enum {
	PX_FWREC_DENIED,
	PX_FWREC_ENDED,
	PX_FWREC_SUPPRESSED, /* the per-second cap dropped count records */
	PX_FWREC_LOST,       /* count records never reached the member
			      * (kernel queue overrun) */
	PX_FWREC_TYPES
} px_fwrec_type_t;

/* "denied", "ended", "suppressed", "lost". */
const char *px_fwrec_type_name(px_fwrec_type_t t);

typedef struct {
	px_fwrec_type_t type;
	uint64_t seq;            /* the member's, from 1 at each start */
	uint64_t time_ms;        /* CLOCK_REALTIME */
	px_fw_packet_t pkt;      /* denied: the packet; ended: the original
				  * direction of the connection */
	px_fw_prefix_t why;      /* denied */
	px_fw_result_t result;   /* denied, ended */
	px_fw_end_t end;         /* ended */
	uint8_t tcp_state;       /* ended: at the end, PX_TCP_UNKNOWN if none */
	uint32_t mark;           /* ended: PX_CT_MARK_RST_* bits */
	bool acct;               /* ended: packets and bytes are known */
	uint64_t packets[2], bytes[2]; /* [0] original, [1] reply */
	bool stamps;             /* ended: start_ms and duration are known */
	uint64_t start_ms, duration_ms;
	bool to_expiry;          /* ended: no close was seen, duration runs to
				  * the entry's end: it includes conntrack's
				  * timeout of its last state (UDP always) */
	px_fwrec_type_t of;      /* suppressed, lost: which records */
	uint64_t count;          /* suppressed, lost */
	uint64_t from_ms, to_ms; /* suppressed: first and last of them */
	uint32_t cap;            /* suppressed: the cap per second */
} px_fwrec_t;

/* A denied record from a log prefix and the logged packet (NFLOG
 * payload from the IP header, family 4/6 or 0).  seq is left 0.
 * 0, or PX_EBADREQ (prefix not ours, packet unreadable). */
int px_fwlog_denied(px_fwrec_t *out, const char *prefix, int family,
		    const uint8_t *p, size_t len, uint64_t now_ms);
/* An ended record from a conntrack end.  seq is left 0. */
void px_fwlog_ended(px_fwrec_t *out, const px_ct_end_t *e, uint64_t now_ms);

/* Longest line either function writes, with the NUL. */
#define PX_FWREC_JSON_MAX 768
#define PX_FWREC_TEXT_MAX 320

/* One JSON object (no newline) into buf: the fields of docs/fwlog.md,
 * strings escaped.  member: the member's id.  Returns the length; the
 * line is always complete and terminated (len >= PX_FWREC_JSON_MAX is
 * always enough). */
size_t px_fwrec_json(const px_fwrec_t *r, const char *member, char *buf,
		     size_t len);
/* One human line (no time, no member, no newline): "denied tcp
 * 198.51.100.3:40000 -> 203.0.113.100:443 [S] quota tcp-connect-rate
 * FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED 0xC0040037".  Returns the
 * length. */
size_t px_fwrec_text(const px_fwrec_t *r, char *buf, size_t len);

/* The per-second cap of one class of records (ISA limits "the total
 * records logged per second").  Seconds are wall-clock seconds of
 * now_ms; the count of what it turned away is exact. */
typedef struct {
	uint32_t per_second;    /* 0: no cap */
	uint64_t second;        /* now_ms / 1000 of the last admit */
	uint32_t used;          /* admitted in that second */
	uint64_t suppressed;    /* turned away, not reported yet */
	uint64_t first_ms, last_ms; /* when the first and last of them came */
	uint64_t total;         /* turned away since init */
} px_fwlog_cap_t;

void px_fwlog_cap_init(px_fwlog_cap_t *c, uint32_t per_second);
/* Whether one more record may be written at now_ms; if not it is
 * counted. */
bool px_fwlog_cap_admit(px_fwlog_cap_t *c, uint64_t now_ms);
/* The records turned away in seconds before the second of now_ms and
 * not reported yet (the caller writes one summary record with this
 * count); 0 if none.  *first_ms and *last_ms span them.  Call before
 * each admit and once a second, so a summary is at most one per second
 * and follows its second at once.  all: report the current second's too
 * (at stop). */
uint64_t px_fwlog_cap_due(px_fwlog_cap_t *c, uint64_t now_ms, bool all,
			  uint64_t *first_ms, uint64_t *last_ms);

/* A summary record of count suppressed records of class of. */
void px_fwlog_summary(px_fwrec_t *out, px_fwrec_type_t type,
		      px_fwrec_type_t of, uint64_t count, uint64_t from_ms,
		      uint64_t to_ms, uint32_t cap, uint64_t now_ms);

#endif
