/* metrics.c - the store's Prometheus endpoint (see metrics.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alerts.h"
#include "metrics.h"
#include "px.h"

/* A scraper or two, but idle connections must not lock them out (16
 * idle connections once did): many slots (epoll, so no FD_SETSIZE cap;
 * 512 leaves half of the usual 1024 descriptors to the store), at most
 * 64 from one address (an idle flood from one host takes 1/8 of them),
 * and an idle connection is closed after 5 s (Prometheus reconnects;
 * a scrape answers in well under a second). */
#define CONN_LIMIT 512
#define CONN_PER_IP 64
#define CONN_TIMEOUT_S 5

struct px_metrics {
	struct MHD_Daemon *d;
	pthread_mutex_t mu;
	char *text;   /* published exposition, NUL-terminated */
	size_t len;
};

/* Parse addr into sa; false if it is not HOST:PORT. */
static bool parse_addr(const char *addr, struct sockaddr_storage *sa,
		       socklen_t *salen)
{
	const char *colon = strrchr(addr, ':');
	char host[64];
	size_t hl;
	uint64_t port;

	if (!colon || px_parse_u64(colon + 1, 1, 65535, &port) < 0)
		return false;
	hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return false;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	memset(sa, 0, sizeof(*sa));
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

		if (hl < 3 || host[hl - 1] != ']')
			return false;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return false;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*salen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		if (hl == 0 || strcmp(host, "*") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return false;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*salen = sizeof(*s4);
	}
	return true;
}

bool px_metrics_addr_valid(const char *addr)
{
	struct sockaddr_storage sa;
	socklen_t len;

	return parse_addr(addr, &sa, &len);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *body, size_t len, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(len, (void *)body,
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	px_metrics_t *m = cls;
	enum MHD_Result rc;
	static const char plain[] = "text/plain; charset=utf-8";

	(void)version;
	(void)upload;
	(void)con_cls;
	if (*upload_len)
		return MHD_NO; /* nothing here takes a body */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			     "only GET /metrics\n", 18, plain);
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "only GET /metrics\n", 18,
			     plain);
	pthread_mutex_lock(&m->mu);
	rc = reply(c, MHD_HTTP_OK, m->text ? m->text : "",
		   m->text ? m->len : 0, "text/plain; version=0.0.4; "
		   "charset=utf-8");
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int px_metrics_start(px_metrics_t **out, const char *addr)
{
	px_metrics_t *m;
	struct sockaddr_storage sa;
	socklen_t salen;

	*out = NULL;
	if (!parse_addr(addr, &sa, &salen)) {
		px_log(PX_LOG_ERR, "metrics: not an address and port: `%s'",
		       addr);
		return -EINVAL;
	}
	m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	m->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD |
				MHD_USE_ERROR_LOG |
				(sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, on_request, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				(unsigned)CONN_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)CONN_TIMEOUT_S, MHD_OPTION_END);
	if (!m->d) {
		px_log(PX_LOG_ERR, "metrics: cannot listen on %s", addr);
		pthread_mutex_destroy(&m->mu);
		free(m);
		return -EADDRNOTAVAIL;
	}
	px_log(PX_LOG_INFO, "metrics: serving http://%s/metrics", addr);
	*out = m;
	return 0;
}

void px_metrics_stop(px_metrics_t *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	pthread_mutex_destroy(&m->mu);
	free(m->text);
	free(m);
}

/* ---- the exposition ----
 * Every sample of a metric follows its # TYPE line, so each metric is
 * written to its own stream and the streams are joined at the end. */

enum {
	F_VERSION, F_EPOCH, F_UP, F_APPLIED, F_HB_AGE, F_BLOCKED, F_WOULD,
	F_ALERTS, F_ABSORBED, F_DROPPED, F_SUPPRESSED, F_LOST, F_ACTIVE,
	F_SEQ, F_CT, F_CT_MAX, NF
};

static const struct {
	const char *name, *type, *help;
} families[NF] = {
	[F_VERSION] = { "phalanx_store_version", "gauge",
		"The store's policy version." },
	[F_EPOCH] = { "phalanx_store_epoch", "gauge",
		"The store pair's epoch." },
	[F_UP] = { "phalanx_member_up", "gauge",
		"1 if the member's last heartbeat is within the member timeout." },
	[F_APPLIED] = { "phalanx_member_applied_version", "gauge",
		"The policy version the member has applied." },
	[F_HB_AGE] = { "phalanx_member_heartbeat_age_seconds", "gauge",
		"Seconds since the member's last heartbeat." },
	[F_BLOCKED] = { "phalanx_quota_blocked_total", "counter",
		"Sources refused or sessions ended by a quota since the member "
		"started." },
	[F_WOULD] = { "phalanx_quota_would_block_total", "counter",
		"What a quota in observe mode would have refused." },
	[F_ALERTS] = { "phalanx_alerts_total", "counter",
		"Alerts the store recorded, by member, type and state." },
	[F_ABSORBED] = { "phalanx_alerts_absorbed_total", "counter",
		"Repeats of a manual-reset alert that was still active." },
	[F_DROPPED] = { "phalanx_alerts_dropped_total", "counter",
		"Alerts of a disabled type." },
	[F_SUPPRESSED] = { "phalanx_alerts_suppressed_total", "counter",
		"Alerts the member's global cap suppressed (as it reported)." },
	[F_LOST] = { "phalanx_events_lost_total", "counter",
		"Conntrack event overruns (ENOBUFS) on the member since it "
		"started, as of its latest events-lost alert." },
	[F_ACTIVE] = { "phalanx_alerts_active", "gauge",
		"Active alerts (exceeded and not recovered, or manual and not "
		"reset)." },
	[F_SEQ] = { "phalanx_alerts_seq", "gauge",
		"The store's newest alert sequence number." },
	[F_CT] = { "phalanx_conntrack_entries", "gauge",
		"Entries in the member's connection table (its fill)." },
	[F_CT_MAX] = { "phalanx_conntrack_max", "gauge",
		"The member's connection table size, as resource protection "
		"counts it." },
};

/* Label values here are member ids, quota and alert type names: checked
 * characters, escaped anyway as the format says. */
static void label(FILE *f, const char *name, const char *v, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

struct build {
	FILE *f[NF];
};

static void on_count(const char *member, const char *type, const char *what,
		     uint64_t n, void *arg)
{
	struct build *b = arg;
	int fam = strcmp(what, "absorbed") == 0 ? F_ABSORBED :
		  strcmp(what, "dropped") == 0 ? F_DROPPED : F_ALERTS;
	FILE *f = b->f[fam];

	fprintf(f, "%s{", families[fam].name);
	label(f, "member", member, true);
	label(f, "type", type, false);
	if (fam == F_ALERTS)
		label(f, "state", what, false);
	fprintf(f, "} %" PRIu64 "\n", n);
}

static void on_member(const char *member, uint64_t lost, uint64_t suppressed,
		      void *arg)
{
	struct build *b = arg;

	fprintf(b->f[F_SUPPRESSED], "%s{", families[F_SUPPRESSED].name);
	label(b->f[F_SUPPRESSED], "member", member, true);
	fprintf(b->f[F_SUPPRESSED], "} %" PRIu64 "\n", suppressed);
	fprintf(b->f[F_LOST], "%s{", families[F_LOST].name);
	label(b->f[F_LOST], "member", member, true);
	fprintf(b->f[F_LOST], "} %" PRIu64 "\n", lost);
}

static void one(FILE *f, int fam, const char *member, uint64_t v)
{
	fputs(families[fam].name, f);
	if (member) {
		fputc('{', f);
		label(f, "member", member, true);
		fputc('}', f);
	}
	fprintf(f, " %" PRIu64 "\n", v);
}

void px_metrics_update(px_metrics_t *m, const px_store_t *st)
{
	char *part[NF], *text = NULL;
	size_t plen[NF], len = 0, i;
	struct build b;
	uint64_t now = px_now_ms();
	FILE *out;
	int fam, id;

	if (!m)
		return;
	for (fam = 0; fam < NF; fam++) {
		part[fam] = NULL;
		b.f[fam] = open_memstream(&part[fam], &plen[fam]);
		if (!b.f[fam])
			abort(); /* only out-of-memory */
	}
	one(b.f[F_VERSION], F_VERSION, NULL, st->policy.version);
	one(b.f[F_EPOCH], F_EPOCH, NULL, st->policy.epoch);
	for (i = 0; i < st->nmembers; i++) {
		const px_member_t *mb = &st->members[i];

		one(b.f[F_UP], F_UP, mb->id, px_member_up(st, mb, now));
		one(b.f[F_APPLIED], F_APPLIED, mb->id, mb->applied);
		one(b.f[F_CT], F_CT, mb->id, mb->ct_count);
		one(b.f[F_CT_MAX], F_CT_MAX, mb->id, mb->ct_max);
		one(b.f[F_HB_AGE], F_HB_AGE, mb->id, now > mb->last_hb_ms ?
		    (now - mb->last_hb_ms) / 1000 : 0);
		for (id = 0; id < PX_LIM_COUNT; id++) {
			const px_member_quota_t *q = &mb->quotas[id];
			int k;

			if (px_limit_defs[id].setting)
				continue;
			for (k = 0; k < 2; k++) {
				FILE *f = b.f[k ? F_WOULD : F_BLOCKED];

				fprintf(f, "%s{", families[k ? F_WOULD :
							   F_BLOCKED].name);
				label(f, "member", mb->id, true);
				label(f, "quota", px_limit_defs[id].name, false);
				fprintf(f, "} %" PRIu64 "\n",
					k ? q->would_block : q->blocked);
			}
		}
	}
	if (st->alerts) {
		px_alerts_counts(st->alerts, on_count, on_member, &b);
		one(b.f[F_ACTIVE], F_ACTIVE, NULL, px_alerts_active(st->alerts));
		one(b.f[F_SEQ], F_SEQ, NULL, px_alerts_seq(st->alerts));
	}
	out = open_memstream(&text, &len);
	if (!out)
		abort();
	for (fam = 0; fam < NF; fam++) {
		fclose(b.f[fam]);
		if (plen[fam])
			fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s",
				families[fam].name, families[fam].help,
				families[fam].name, families[fam].type,
				part[fam]);
		free(part[fam]);
	}
	fclose(out);
	pthread_mutex_lock(&m->mu);
	free(m->text);
	m->text = text;
	m->len = len;
	pthread_mutex_unlock(&m->mu);
}
