/* nflog.c - the member's firewall log I/O: NFLOG and conntrack ends in,
 * records out to a file, syslog and the store (see nflog.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>

#include "fwlog.h"
#include "ids.h"
#include "alert.h"
#include "alerting.h"
#include "nflog.h"
#include "px.h"
#include "ratelog.h"
#include "wire.h"

#define DEFAULT_LOG_RATE 100      /* denied records a second */
#define DEFAULT_ENDED_RATE 1000   /* ended records a second */
#define DEFAULT_MAX_MB 64
/* The kernel queues up to QTHRESH packets, or for QUEUE_CS hundredths of
 * a second, into one datagram of at most NLBUFSIZ bytes: under a flood
 * that is one wake per ~100 packets instead of one each (a logged packet
 * is ~200 bytes with its 80-byte snap), and a record is at most 100 ms
 * late. */
#define QTHRESH 100
#define QUEUE_CS 10               /* 1/100 s */
#define NLBUFSIZ (64 * 1024)
/* A burst of 4 MB of log messages (~20,000 packets) fits before the
 * kernel drops; drops are counted by sequence numbers. */
#define RCVBUF (4u << 20)
/* Sources counted for denied-packet-rate at once. */
#define DENIED_SLOTS 4096
/* Growth on overruns stops here: past it, shed load rather than memory. */
#define RCVBUF_MAX (64 << 20)
#define RECV_BUF (128 * 1024)     /* more than one NLBUFSIZ datagram */
#define RECV_ROUNDS 64            /* datagrams per wake: timers still run */
/* Records queued for the store: ~4 s of the default caps; a store away
 * longer loses the oldest (LogBatch.lost).  ~1 KB each. */
#define QUEUE_MAX 4096
#define BATCH_MAX 512             /* records per LogBatch */
#define BATCHES_PER_TICK 4
#define ERR_LOG_MS 60000          /* one line a minute per kind of trouble */

/* Bad TCP checksums (issue 12, docs/protection.md): conntrack finds
 * them (nf_conntrack_checksum) and, with nf_conntrack_log_invalid set to
 * TCP, reports each invalid TCP packet with its reason through the
 * namespace's IPv4/IPv6 logger.  Bound to nfnetlink_log, that logger
 * sends to group 0 (the kernel's default_loginfo), with the prefix
 * "nf_ct_proto_6: REASON ".  Recomputing checksums from NFLOG copies
 * instead misreports: packets from a veth carry partial checksums. */
#define CT_LOG_GROUP 0
#define CT_LOG_PROTO "6"          /* nf_conntrack_log_invalid: TCP only */
#define CT_LOG_PREFIX "nf_ct_proto_6: "
#define CT_BAD_CHECKSUM "bad checksum"

enum { CLS_DENIED, CLS_ENDED, CLS_COUNT };

const char px_nflog_usage[] =
"  --fwlog FILE           firewall log, JSON lines (default\n"
"                         <cache>.fwlog.jsonl; `off': no file)\n"
"  --fwlog-max-mb N       rename the firewall log to FILE.1 past N MB (64)\n"
"  --fwlog-syslog on|off  firewall log records to syslog too (off)\n"
"  --log-rate N           denied records a second at most (100); the rest\n"
"                         are counted in one `suppressed' record a second\n"
"  --log-ended-rate N     ended-connection records a second at most (1000)\n"
"  --log-flood-blocks on|off\n"
"                         log traffic blocked by flood mitigation (on; the\n"
"                         array-wide switch is `limits set log-flood-blocks')\n";

/* A record waiting for the store. */
struct pending {
	uint64_t seq, time_ms, bytes, count;
	px_fwrec_type_t type;
	bool has_src, has_dst;
	px_entry_t src, dst;
	char quota[40];
	const char *result;
	char *of;                    /* a static name, "" if none */
	char json[PX_FWREC_JSON_MAX];
	char text[PX_FWREC_TEXT_MAX];
};

typedef struct px_nflog {
	px_node_t *n;
	struct mnl_socket *nl;
	uv_poll_t poll;
	bool polling;
	uint8_t *buf;
	bool seq_known;
	uint32_t next_seq;
	uint64_t lost;               /* not reported yet */
	uint64_t overruns;           /* ENOBUFS on the socket */
	struct denied_src {
		px_entry_t src;
		uint64_t since_ms, count, limit;
	} denied[DENIED_SLOTS];      /* denied-packet-rate */
	px_ids_counter_t ids;        /* intrusion detection, per source */
	int rcvbuf;                  /* what we asked for */

	px_fwlog_cap_t cap[CLS_COUNT];
	uint64_t seq;                /* records written */
	bool flood_off, syslog;

	char path[4096 + 8];
	FILE *f;
	uint64_t fsize, max_bytes;

	struct pending *q;           /* ring of QUEUE_MAX */
	size_t qhead, qlen;
	uint64_t qlost;              /* dropped from the ring, not sent yet */
	Phalanx__LogRecord recs[BATCH_MAX], *recp[BATCH_MAX];
	uint8_t srcb[BATCH_MAX][PX_ENTRY_WIRE_MAX], dstb[BATCH_MAX][PX_ENTRY_WIRE_MAX];

	uint64_t unreadable, filtered, file_errors;
	uint64_t ct_invalid_other;   /* conntrack's other invalid reasons */
	px_every_t err_log[4];
} px_nflog_t;

enum { ERR_FILE, ERR_RECV, ERR_QUEUE, ERR_SEND };

/* One line per kind of trouble a minute. */
static bool err_due(px_nflog_t *l, int kind)
{
	return px_every(&l->err_log[kind], px_mono_ms(), ERR_LOG_MS, 1, NULL);
}

int px_nflog_option(px_node_opts_t *o, const char *key, const char *value)
{
	if (strcmp(key, "fwlog") == 0) {
		if (!value[0] || strlen(value) >= sizeof(o->fwlog))
			return PX_ERANGE;
		strcpy(o->fwlog, value);
		return 0;
	}
	if (strcmp(key, "fwlog-max-mb") == 0)
		return px_parse_u64(value, 1, 1u << 20, &o->fwlog_max_mb);
	if (strcmp(key, "log-rate") == 0)
		return px_parse_u64(value, 1, 1000000, &o->log_rate);
	if (strcmp(key, "log-ended-rate") == 0)
		return px_parse_u64(value, 1, 1000000, &o->log_ended_rate);
	if (strcmp(key, "log-flood-blocks") == 0 ||
	    strcmp(key, "fwlog-syslog") == 0) {
		int on = strcmp(value, "on") == 0 ? 1 :
			 strcmp(value, "off") == 0 ? 0 : -1;

		if (on < 0)
			return PX_EBADREQ;
		if (key[0] == 'l')
			o->log_flood_blocks = on ? 1 : -1;
		else
			o->log_syslog = on;
		return 0;
	}
	return PX_EOPTION;
}

/* ---- records out ---- */

static void file_open(px_nflog_t *l)
{
	struct stat st;
	int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0 || !(l->f = fdopen(fd, "a"))) {
		if (fd >= 0)
			close(fd);
		l->file_errors++;
		if (err_due(l, ERR_FILE))
			px_log(PX_LOG_ERR, "firewall log %s: %s; records go to "
			       "the store only", l->path, strerror(errno));
		return;
	}
	l->fsize = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* One rotation: FILE becomes FILE.1 (replacing it), a new FILE starts. */
static void file_rotate(px_nflog_t *l)
{
	char old[sizeof(l->path) + 2];

	fclose(l->f);
	l->f = NULL;
	snprintf(old, sizeof(old), "%s.1", l->path);
	if (rename(l->path, old) < 0 && err_due(l, ERR_FILE))
		px_log(PX_LOG_ERR, "firewall log: cannot rename %s to %s: %s",
		       l->path, old, strerror(errno));
	file_open(l);
}

static void file_write(px_nflog_t *l, const char *line, size_t len)
{
	if (!l->path[0])
		return;
	if (!l->f) {
		file_open(l);
		if (!l->f)
			return;
	}
	if (l->fsize && l->fsize + len + 1 > l->max_bytes)
		file_rotate(l);
	if (!l->f)
		return;
	if (fwrite(line, 1, len, l->f) != len || putc('\n', l->f) == EOF) {
		l->file_errors++;
		if (err_due(l, ERR_FILE))
			px_log(PX_LOG_ERR, "firewall log %s: write: %s",
			       l->path, strerror(errno));
		clearerr(l->f);
		return;
	}
	l->fsize += len + 1;
}

/* The writes stdio held back reach the file here: a failure (ENOSPC,
 * EIO) may lose the records in the buffer; counted and logged like one
 * of file_write's, never silent. */
static void file_flush(px_nflog_t *l)
{
	if (!l->f || fflush(l->f) == 0)
		return;
	l->file_errors++;
	if (err_due(l, ERR_FILE))
		px_log(PX_LOG_ERR, "firewall log %s: write: %s (records held in "
		       "the buffer may be lost)", l->path, strerror(errno));
	clearerr(l->f);
}

static void host_of(int family, const uint8_t *a, px_entry_t *e)
{
	memset(e, 0, sizeof(*e));
	e->family = (uint8_t)family;
	e->plen = family == 4 ? 32 : 128;
	memcpy(e->addr, a, family == 4 ? 4 : 16);
}

static void queue_push(px_nflog_t *l, const px_fwrec_t *r, const char *json,
		       const char *text)
{
	struct pending *p;

	if (l->qlen == QUEUE_MAX) {
		/* The oldest go: the newest say most about now. */
		l->qhead = (l->qhead + 1) % QUEUE_MAX;
		l->qlen--;
		l->qlost++;
		if (err_due(l, ERR_QUEUE))
			px_log(PX_LOG_WARN, "firewall log: the queue for the "
			       "store is full (%d records): dropping the "
			       "oldest", QUEUE_MAX);
	}
	p = &l->q[(l->qhead + l->qlen++) % QUEUE_MAX];
	memset(p, 0, offsetof(struct pending, json));
	p->seq = r->seq;
	p->time_ms = r->time_ms;
	p->type = r->type;
	p->count = r->count;
	if (r->type == PX_FWREC_DENIED || r->type == PX_FWREC_ENDED) {
		p->has_src = p->has_dst = true;
		host_of(r->pkt.family, r->pkt.src, &p->src);
		host_of(r->pkt.family, r->pkt.dst, &p->dst);
	}
	if (r->type == PX_FWREC_DENIED && r->why.kind == PX_FWD_QUOTA)
		snprintf(p->quota, sizeof(p->quota), "%s", r->why.name);
	else if (r->type == PX_FWREC_DENIED && r->why.kind == PX_FWD_RULE_RATE)
		snprintf(p->quota, sizeof(p->quota), "%s",
			 px_limit_defs[PX_LIM_NONTCP_SESSION_RATE].name);
	if (r->type == PX_FWREC_ENDED && r->acct)
		p->bytes = r->bytes[0] + r->bytes[1];
	p->result = px_fw_results[r->result].name;
	p->of = (char *)(r->type == PX_FWREC_SUPPRESSED ||
			 r->type == PX_FWREC_LOST ? px_fwrec_type_name(r->of) : "");
	snprintf(p->json, sizeof(p->json), "%s", json);
	snprintf(p->text, sizeof(p->text), "%s", text);
}

static void emit(px_nflog_t *l, px_fwrec_t *r)
{
	char json[PX_FWREC_JSON_MAX], text[PX_FWREC_TEXT_MAX];
	size_t n;

	r->seq = ++l->seq;
	n = px_fwrec_json(r, l->n->o.id, json, sizeof(json));
	px_fwrec_text(r, text, sizeof(text));
	file_write(l, json, n);
	if (l->syslog)
		syslog(LOG_INFO, "%s", text);
	queue_push(l, r, json, text);
}

static const px_fwrec_type_t cls_type[CLS_COUNT] = {
	[CLS_DENIED] = PX_FWREC_DENIED,
	[CLS_ENDED] = PX_FWREC_ENDED,
};

static void summary_due(px_nflog_t *l, int cls, uint64_t now, bool all)
{
	uint64_t first = 0, last = 0;
	uint64_t k = px_fwlog_cap_due(&l->cap[cls], now, all, &first, &last);
	px_fwrec_t s;

	if (!k)
		return;
	px_fwlog_summary(&s, PX_FWREC_SUPPRESSED, cls_type[cls], k, first,
			 last, l->cap[cls].per_second, now);
	emit(l, &s);
}

static void emit_capped(px_nflog_t *l, int cls, px_fwrec_t *r)
{
	summary_due(l, cls, r->time_ms, false);
	if (px_fwlog_cap_admit(&l->cap[cls], r->time_ms))
		emit(l, r);
}

static void lost_due(px_nflog_t *l, uint64_t now)
{
	px_fwrec_t s;

	if (!l->lost)
		return;
	px_fwlog_summary(&s, PX_FWREC_LOST, PX_FWREC_DENIED, l->lost, 0, 0, 0,
			 now);
	l->lost = 0;
	emit(l, &s);
}

/* ---- records in ---- */

static void on_end(const px_ct_end_t *e, void *arg)
{
	px_nflog_t *l = arg;
	px_fwrec_t r;

	px_fwlog_ended(&r, e, px_now_ms());
	emit_capped(l, CLS_ENDED, &r);
}

/* denied-packet-rate (alert only): denied packets per minute per source,
 * counted before the record cap.  A small table, one minute windows; a
 * source that keeps exceeding is deduplicated by the alert engine. */
static void denied_rate(px_nflog_t *l, const px_fw_packet_t *pkt)
{
	const px_policy_t *p = &l->n->applied;
	unsigned bits = pkt->family == 4 ? 32 :
			(unsigned)p->limits.value[PX_LIM_IPV6_PREFIX];
	uint64_t now = px_mono_ms();
	struct denied_src *d;
	const px_set_t *tier;
	px_entry_t src;
	uint32_t h = 2166136261u;
	size_t i;

	if (pkt->family != 4 && pkt->family != 6)
		return;
	memset(&src, 0, sizeof(src));
	src.family = pkt->family;
	src.plen = (uint8_t)bits;
	src.prefix = bits != (pkt->family == 4 ? 32u : 128u);
	memcpy(src.addr, pkt->src, pkt->family == 4 ? 4 : 16);
	for (i = 0; i < 16; i++) {
		unsigned bit = (unsigned)i * 8;

		if (bit >= bits)
			src.addr[i] = 0;
		else if (bit + 8 > bits)
			src.addr[i] &= (uint8_t)(0xff << (8 - (bits - bit)));
		h = (h ^ src.addr[i]) * 16777619u;
	}
	d = &l->denied[h % DENIED_SLOTS];
	/* One slot a hash: a collision restarts the count (bounded memory
	 * beats exactness for an alert-only quota). */
	if (px_entry_cmp(&d->src, &src) != 0 || now - d->since_ms >= 60000) {
		/* The source's limit once a window, not once a packet. */
		tier = px_policy_tier_of(p, src.family, src.addr);
		d->limit = px_policy_tier_limit(p, tier,
						PX_LIM_DENIED_PACKET_RATE);
		d->src = src;
		d->since_ms = now;
		d->count = 0;
	}
	d->count++;
	if (d->count > d->limit) {
		char text[128], s[PX_ENTRY_STR_MAX];

		px_entry_format(&src, s, sizeof(s));
		snprintf(text, sizeof(text), "%s: %" PRIu64 " denied packets "
			 "this minute (limit %" PRIu64 ")", s, d->count, d->limit);
		px_alerting_observe(l->n, "denied-packet-rate", &src, d->count,
				    d->limit, true, text);
	}
}

/* Attack protection's drops that TMG names no alert for: one type each
 * (lib/alert.h), the text saying what was dropped. */
static const struct {
	const char *reason, *alert, *what;
} drop_alerts[] = {
	{ PX_REASON_BROADCAST, PX_ALERT_BROADCAST,
	  "broadcast not forwarded between interfaces" },
	{ PX_REASON_FRAGMENT, PX_ALERT_FRAGMENT,
	  "IP fragment dropped (fragments block)" },
	{ PX_REASON_IP_OPTIONS, PX_ALERT_IP_OPTIONS, "IP options dropped" },
	{ PX_REASON_DEFAULT_DENY, PX_ALERT_DEFAULT_DENY,
	  "forwarded, no rule allowed it (policy default deny)" },
	{ PX_REASON_BAD_CHECKSUM, PX_ALERT_BAD_CHECKSUM,
	  "TCP segment with a bad checksum dropped" },
};
#define NDROP_ALERTS (sizeof(drop_alerts) / sizeof(drop_alerts[0]))

/* Attack protection's alerts (issue 12): every drop raises an alert for
 * its source (a spoofed packet `ip-spoofing', naming the reason; an
 * intrusion its detection's; the others drop_alerts' type); the alert
 * engine keeps each to one a source a window (ISA: one per source a
 * minute). */
static void protect_alert(px_nflog_t *l, const px_fwrec_t *r,
			  const uint8_t *p, size_t len)
{
	char text[PX_ALERT_TEXT_MAX], s[PX_ENTRY_STR_MAX], d[PX_ENTRY_STR_MAX];
	const px_fw_packet_t *pkt = &r->pkt;
	int ids = px_ids_find(r->why.name);
	bool dhcp = strcmp(r->why.name, PX_REASON_DHCP_OFFER) == 0;
	bool spoof = strncmp(r->why.name, "spoof-", 6) == 0;
	size_t drop = 0;
	px_entry_t src, dst;

	while (drop < NDROP_ALERTS &&
	       strcmp(r->why.name, drop_alerts[drop].reason) != 0)
		drop++;
	if ((ids < 0 && !dhcp && !spoof && drop == NDROP_ALERTS) ||
	    (pkt->family != 4 && pkt->family != 6))
		return;
	memset(&src, 0, sizeof(src));
	src.family = pkt->family;
	src.plen = pkt->family == 4 ? 32 : 128;
	memcpy(src.addr, pkt->src, pkt->family == 4 ? 4 : 16);
	dst = src;
	memcpy(dst.addr, pkt->dst, pkt->family == 4 ? 4 : 16);
	px_entry_format(&src, s, sizeof(s));
	px_entry_format(&dst, d, sizeof(d));
	if (drop < NDROP_ALERTS) {
		/* Addresses are at most 49 bytes each: the text fits. */
		snprintf(text, sizeof(text), "%.49s to %.49s: %s", s, d,
			 drop_alerts[drop].what);
		px_alerting_observe(l->n, drop_alerts[drop].alert, &src, 1, 0,
				    true, text);
		return;
	}
	if (ids >= 0) {
		/* Intrusion detection: an attack once threshold packets of
		 * it came from the source within the window; the engine
		 * raises one alert a source a window. */
		const px_ids_t *st = &l->n->applied.protect.ids[ids];
		/* A detection the kernel counts logs only past its
		 * threshold: its first record is the attack. */
		uint32_t th = px_ids_defs[ids].kernel_counted ? 1 :
			      px_ids_threshold(ids, st);
		uint32_t c = px_ids_count(&l->ids, ids, pkt->family, pkt->src,
					  px_ids_window(ids, st), px_mono_ms());

		if (c < th)
			return;
		snprintf(text, sizeof(text), "%.49s to %.49s: %s (%u in %u s)",
			 s, d, px_ids_defs[ids].help, c,
			 px_ids_window(ids, st));
		px_alerting_observe(l->n, px_ids_defs[ids].name, &src, c, th,
				    true, text);
		return;
	}
	if (dhcp) {
		/* DHCP poisoning: the offered address (yiaddr, 16 bytes
		 * into BOOTP after the UDP header) names the offer. */
		size_t off = pkt->family == 4 && len >= 20 ?
			     (size_t)(p[0] & 0x0f) * 4 + 8 + 16 : len;
		char y[INET_ADDRSTRLEN] = "?";

		if (off + 4 <= len)
			inet_ntop(AF_INET, p + off, y, sizeof(y));
		snprintf(text, sizeof(text), "%.49s to %.49s: DHCP offer of "
			 "%s outside the interface's network", s, d, y);
		px_alerting_observe(l->n, PX_REASON_DHCP_OFFER, &src, 1, 0,
				    true, text);
		return;
	}
	/* Addresses are at most 49 bytes each: the text fits the 200. */
	snprintf(text, sizeof(text), "%.49s to %.49s: spoofed: %s", s, d,
		 strcmp(r->why.name, PX_REASON_SPOOF_ROUTE) == 0 ?
		 "no route back through its interface" :
		 strcmp(r->why.name, PX_REASON_SPOOF_DEST) == 0 ?
		 "destination of another network than its way out" :
		 "source of another network");
	px_alerting_observe(l->n, "ip-spoofing", &src, 1, 0, true, text);
}

static void on_denied(px_nflog_t *l, int family, const char *prefix,
		      const uint8_t *p, size_t len)
{
	px_fwrec_t r;

	if (px_fwlog_denied(&r, prefix, family, p, len, px_now_ms()) < 0) {
		l->unreadable++;
		return;
	}
	denied_rate(l, &r.pkt);
	if (r.why.kind == PX_FWD_PROTECT)
		protect_alert(l, &r, p, len);
	if (r.why.flood && l->flood_off) {
		l->filtered++;
		return;
	}
	emit_capped(l, CLS_DENIED, &r);
}

void px_nflog_denied(px_node_t *n, const char *prefix, int family,
		     const uint8_t *p, size_t len)
{
	if (n->nflog)
		on_denied(n->nflog, family, prefix, p, len);
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	px_nflog_t *l = data;
	struct nlattr *a[NFULA_MAX + 1];
	const struct nfgenmsg *g;
	const char *prefix;
	int family;

	if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return MNL_CB_OK;
	memset(a, 0, sizeof(a));
	g = mnl_nlmsg_get_payload(nlh);
	if (nflog_nlmsg_parse(nlh, a) < 0) {
		l->unreadable++;
		return MNL_CB_OK;
	}
	if (a[NFULA_SEQ]) {
		uint32_t seq = ntohl(mnl_attr_get_u32(a[NFULA_SEQ]));

		/* Numbers the kernel used for packets it could not queue to
		 * this socket. */
		if (l->seq_known && seq != l->next_seq)
			l->lost += (uint32_t)(seq - l->next_seq);
		l->seq_known = true;
		l->next_seq = seq + 1;
	}
	if (!a[NFULA_PREFIX] || !a[NFULA_PAYLOAD]) {
		l->unreadable++;
		return MNL_CB_OK;
	}
	family = g->nfgen_family == NFPROTO_IPV4 ? 4 :
		 g->nfgen_family == NFPROTO_IPV6 ? 6 : 0;
	prefix = mnl_attr_get_str(a[NFULA_PREFIX]);
	if (ntohs(g->res_id) == CT_LOG_GROUP) {
		/* Only the bad checksums are dropped for a reason of ours
		 * (`ct state invalid drop'); other invalid TCP (out of
		 * window, flags) is counted, not logged as a checksum. */
		if (strncmp(prefix, CT_LOG_PREFIX, strlen(CT_LOG_PREFIX)) != 0 ||
		    strncmp(prefix + strlen(CT_LOG_PREFIX), CT_BAD_CHECKSUM,
			    strlen(CT_BAD_CHECKSUM)) != 0) {
			l->ct_invalid_other++;
			return MNL_CB_OK;
		}
		prefix = PX_FWLOG_PFX_PROTECT PX_REASON_BAD_CHECKSUM;
	}
	on_denied(l, family, prefix, mnl_attr_get_payload(a[NFULA_PAYLOAD]),
		  mnl_attr_get_payload_len(a[NFULA_PAYLOAD]));
	return MNL_CB_OK;
}

/* The kernel dropped log messages: count it, grow the buffer up to a
 * cap, and say so (the records' sequence numbers count what was lost;
 * enforcement is in the kernel and goes on). */
static void overrun(px_nflog_t *l, int fd)
{
	char text[160];

	l->overruns++;
	if (l->rcvbuf < RCVBUF_MAX) {
		l->rcvbuf *= 2;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &l->rcvbuf,
			       sizeof(l->rcvbuf)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &l->rcvbuf,
				   sizeof(l->rcvbuf));
	}
	snprintf(text, sizeof(text), "NFLOG events lost (ENOBUFS): %" PRIu64
		 " overruns since start, receive buffer now %d KB",
		 l->overruns, l->rcvbuf >> 10);
	if (err_due(l, ERR_RECV))
		px_log(PX_LOG_WARN, "firewall log: %s", text);
	px_alerting_observe(l->n, "events-lost", NULL, l->overruns, 0, true,
			    text);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	px_nflog_t *l = h->data;
	int fd = mnl_socket_get_fd(l->nl), round;

	(void)events;
	if (status < 0) {
		/* libuv stops a handle on POLLERR (a netlink overrun):
		 * take the error, which clears it, and poll again.  The
		 * sequence numbers count what was lost. */
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err == ENOBUFS)
			overrun(l, fd);
		if (!uv_is_closing((uv_handle_t *)h))
			uv_poll_start(h, UV_READABLE, on_readable);
	}
	for (round = 0; round < RECV_ROUNDS; round++) {
		ssize_t n = recv(fd, l->buf, RECV_BUF, MSG_DONTWAIT);

		if (n < 0 && errno == ENOBUFS)
			overrun(l, fd);
		if (n < 0 && (errno == EINTR || errno == ENOBUFS))
			continue;
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    err_due(l, ERR_RECV))
				px_log(PX_LOG_ERR, "firewall log: NFLOG recv: %s",
				       strerror(errno));
			break;
		}
		mnl_cb_run(l->buf, (size_t)n, 0, 0, on_msg, l);
	}
	file_flush(l);
}

/* ---- start and stop ---- */

/* Send one config message and read its ack.  0 or -errno. */
static int nflog_config(px_nflog_t *l, struct nlmsghdr *nlh, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	ssize_t n;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(l->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(l->nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if (mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(l->nl),
		       NULL, NULL) < 0)
		return -errno;
	return 0;
}

/* Write value to /proc/sys/net/netfilter/NAME unless it holds it. */
static int sysctl_set(const char *name, const char *value)
{
	char path[128], buf[32] = "";
	size_t len = strlen(value);
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		close(fd);
		if (strncmp(buf, value, len) == 0 && buf[len] == '\n')
			return 0;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, len) != (ssize_t)len)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Conntrack's report of bad TCP checksums (CT_LOG_GROUP above): checksum
 * checks on, invalid TCP logged, nfnetlink_log the namespace's IPv4 and
 * IPv6 logger, and group 0 bound on this socket.  Says what is missing:
 * without it bad checksums are still dropped (forward and input drop
 * `ct state invalid'), only not logged. */
static void ct_log_bind(px_nflog_t *l, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int rc;

	if ((rc = sysctl_set("nf_conntrack_checksum", "1")) < 0)
		px_log(PX_LOG_ERR, "checksum validation: cannot set "
		       "nf_conntrack_checksum to 1: %s: TCP segments with a bad "
		       "checksum are NOT dropped", strerror(-rc));
	if ((rc = sysctl_set("nf_conntrack_log_invalid", CT_LOG_PROTO)) < 0)
		px_log(PX_LOG_WARN, "checksum validation: cannot set "
		       "nf_conntrack_log_invalid to %s: %s: bad checksums are "
		       "dropped but not logged", CT_LOG_PROTO, strerror(-rc));
	for (int i = 0; i < 2; i++) {
		nlh = nflog_nlmsg_put_header(buf, NFULNL_MSG_CONFIG,
					     i ? AF_INET6 : AF_INET, 0);
		nflog_attr_put_cfg_cmd(nlh, NFULNL_CFG_CMD_PF_BIND);
		if ((rc = nflog_config(l, nlh, seq + (uint32_t)i)) < 0)
			px_log(PX_LOG_WARN, "checksum validation: cannot make "
			       "nfnetlink_log the IPv%d logger: %s: bad "
			       "checksums are dropped but not logged",
			       i ? 6 : 4, strerror(-rc));
	}
	nlh = nflog_nlmsg_put_header(buf, NFULNL_MSG_CONFIG, AF_UNSPEC,
				     CT_LOG_GROUP);
	nflog_attr_put_cfg_cmd(nlh, NFULNL_CFG_CMD_BIND);
	nflog_attr_put_cfg_mode(nlh, NFULNL_COPY_PACKET, PX_FWLOG_SNAPLEN);
	if ((rc = nflog_config(l, nlh, seq + 2)) < 0)
		px_log(PX_LOG_WARN, "checksum validation: NFLOG group %d: %s: "
		       "bad checksums are dropped but not logged", CT_LOG_GROUP,
		       strerror(-rc));
}

/* Bind the group with the mode, queueing and sequence numbers, in one
 * acknowledged config message.  0 or -errno. */
static int nflog_bind(px_nflog_t *l)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct timeval tv = { 1, 0 };
	uint32_t seq = (uint32_t)time(NULL);
	int rcvbuf = RCVBUF, rc;

	l->rcvbuf = rcvbuf;
	l->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!l->nl || mnl_socket_bind(l->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	if (setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVBUFFORCE,
		       &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVBUF,
			   &rcvbuf, sizeof(rcvbuf));
	setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	nlh = nflog_nlmsg_put_header(buf, NFULNL_MSG_CONFIG, AF_UNSPEC,
				     PX_FWLOG_GROUP);
	nflog_attr_put_cfg_cmd(nlh, NFULNL_CFG_CMD_BIND);
	nflog_attr_put_cfg_mode(nlh, NFULNL_COPY_PACKET, PX_FWLOG_SNAPLEN);
	mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(NLBUFSIZ));
	mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(QUEUE_CS));
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(QTHRESH));
	mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
	if ((rc = nflog_config(l, nlh, seq)) < 0)
		return rc;
	ct_log_bind(l, seq + 1);
	if (fcntl(mnl_socket_get_fd(l->nl), F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void free_nflog(px_nflog_t *l)
{
	if (l->nl)
		mnl_socket_close(l->nl);
	free(l->buf);
	free(l->q);
	free(l);
}

static void on_closed(uv_handle_t *h)
{
	free_nflog(h->data);
}

void px_nflog_start(px_node_t *n)
{
	px_nflog_t *l = xcalloc(1, sizeof(*l));
	const px_node_opts_t *o = &n->o;
	int rc;

	l->n = n;
	l->buf = xmalloc(RECV_BUF);
	l->q = xmalloc(QUEUE_MAX * sizeof(*l->q));
	l->flood_off = o->log_flood_blocks < 0;
	l->syslog = o->log_syslog;
	l->max_bytes = (o->fwlog_max_mb ? o->fwlog_max_mb : DEFAULT_MAX_MB)
		       << 20;
	px_fwlog_cap_init(&l->cap[CLS_DENIED], (uint32_t)(o->log_rate ?
			  o->log_rate : DEFAULT_LOG_RATE));
	px_fwlog_cap_init(&l->cap[CLS_ENDED], (uint32_t)(o->log_ended_rate ?
			  o->log_ended_rate : DEFAULT_ENDED_RATE));
	if (strcmp(o->fwlog, "off") != 0)
		snprintf(l->path, sizeof(l->path), "%s", o->fwlog[0] ?
			 o->fwlog : o->cache);
	if (!o->fwlog[0])
		strncat(l->path, ".fwlog.jsonl", sizeof(l->path) -
			strlen(l->path) - 1);
	if (l->path[0])
		file_open(l);
	if (l->syslog)
		openlog("phalanx-node", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	rc = nflog_bind(l);
	if (rc == 0) {
		uv_poll_init(n->loop, &l->poll, mnl_socket_get_fd(l->nl));
		l->poll.data = l;
		l->polling = true;
		uv_poll_start(&l->poll, UV_READABLE, on_readable);
	} else {
		px_log(PX_LOG_ERR, "firewall log: NFLOG group %d: %s%s; denied "
		       "traffic is not logged", PX_FWLOG_GROUP, strerror(-rc),
		       rc == -EPERM ? " (needs CAP_NET_ADMIN)" : rc == -EBUSY ?
		       " (another process has the group)" : "");
		if (l->nl)
			mnl_socket_close(l->nl);
		l->nl = NULL;
	}
	if (n->watcher)
		px_watcher_on_end(n->watcher, on_end, l);
	else
		px_log(PX_LOG_WARN, "firewall log: no conntrack watcher: ended "
		       "connections are not logged");
	n->nflog = l;
	px_log(PX_LOG_INFO, "firewall log: %s%s, at most %u denied and %u "
	       "ended records a second%s%s", l->path[0] ? l->path : "no file",
	       l->syslog ? " and syslog" : "", l->cap[CLS_DENIED].per_second,
	       l->cap[CLS_ENDED].per_second, l->flood_off ? ", flood "
	       "mitigation blocks not logged (--log-flood-blocks off)" : "",
	       l->nl ? "" : ", no denied records");
}

/* Records to the store, oldest first, until a send fails (no store:
 * they wait for the next second). */
static void ship(px_nflog_t *l)
{
	px_node_t *n = l->n;
	int b;

	for (b = 0; b < BATCHES_PER_TICK && (l->qlen || l->qlost); b++) {
		Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
		Phalanx__LogBatch batch = PHALANX__LOG_BATCH__INIT;
		size_t k = l->qlen < BATCH_MAX ? l->qlen : BATCH_MAX, i;
		int rc;

		for (i = 0; i < k; i++) {
			struct pending *p = &l->q[(l->qhead + i) % QUEUE_MAX];
			Phalanx__LogRecord *r = &l->recs[i];

			phalanx__log_record__init(r);
			r->seq = p->seq;
			r->member = n->o.id;
			r->time_ms = p->time_ms;
			r->type = (char *)px_fwrec_type_name(p->type);
			if (p->has_src) {
				r->source.data = l->srcb[i];
				r->source.len = px_entry_encode(&p->src, l->srcb[i]);
			}
			if (p->has_dst) {
				r->dest.data = l->dstb[i];
				r->dest.len = px_entry_encode(&p->dst, l->dstb[i]);
			}
			r->quota = p->quota;
			r->result = (char *)p->result;
			r->bytes = p->bytes;
			r->count = p->count;
			r->of = p->of;
			r->json = p->json;
			r->text = p->text;
			l->recp[i] = r;
		}
		batch.records = l->recp;
		batch.n_records = k;
		batch.lost = l->qlost;
		batch.member = n->o.id;
		env.body_case = PHALANX__ENVELOPE__BODY_LOG_BATCH;
		env.log_batch = &batch;
		rc = px_sync_send(n, &env);
		if (rc < 0) {
			if (rc != -EAGAIN && err_due(l, ERR_SEND))
				px_log(PX_LOG_WARN, "firewall log to the store: %s",
				       px_strerror(rc));
			return;
		}
		l->qhead = (l->qhead + k) % QUEUE_MAX;
		l->qlen -= k;
		l->qlost = 0;
	}
}

void px_nflog_tick(px_node_t *n)
{
	px_nflog_t *l = n->nflog;
	uint64_t now = px_now_ms();
	int c;

	if (!l)
		return;
	for (c = 0; c < CLS_COUNT; c++)
		summary_due(l, c, now, false);
	lost_due(l, now);
	file_flush(l);
	if (n->sync)
		ship(l);
}

void px_nflog_stop(px_node_t *n)
{
	px_nflog_t *l = n->nflog;
	uint64_t now = px_now_ms();
	int c;

	if (!l)
		return;
	n->nflog = NULL;
	if (n->watcher)
		px_watcher_on_end(n->watcher, NULL, NULL);
	for (c = 0; c < CLS_COUNT; c++)
		summary_due(l, c, now, true);
	lost_due(l, now);
	if (l->f)
		fclose(l->f);
	if (l->syslog)
		closelog();
	/* The socket closes after libuv has let go of its fd. */
	if (l->polling)
		uv_close((uv_handle_t *)&l->poll, on_closed);
	else
		free_nflog(l);
}
