/* limits.c - the quota table and configured values. */
#include <stdlib.h>
#include <string.h>

#include "limit.h"
#include "px.h"

/* Defaults are ISA Server 2006's (seeds/004_072d8037c45ed682.txt,
 * "Flood mitigation settings"); half-open is half of concurrent. */
const px_limit_def_t px_limit_defs[PX_LIM_COUNT] = {
	[PX_LIM_TCP_CONNECT_RATE] = { "tcp-connect-rate", 600, 6000, 1,
		100000000, "/minute", "kernel",
		"TCP connect requests per minute per source IP" },
	[PX_LIM_TCP_CONCURRENT] = { "tcp-concurrent", 160, 400, 1, 1000000,
		"connections", "kernel",
		"concurrent TCP connections per source IP" },
	[PX_LIM_TCP_HALF_OPEN] = { "tcp-half-open", 80, 200, 1, 1000000,
		"connections", "watcher",
		"half-open TCP connections per source IP" },
	[PX_LIM_HTTP_REQUEST_RATE] = { "http-request-rate", 600, 6000, 1,
		100000000, "/minute", "kernel",
		"HTTP requests per minute per source IP" },
	[PX_LIM_NONTCP_SESSION_RATE] = { "nontcp-session-rate", 1000, 0, 1,
		100000000, "/minute", "kernel",
		"non-TCP new sessions per minute per rule" },
	[PX_LIM_UDP_CONCURRENT] = { "udp-concurrent", 160, 400, 1, 1000000,
		"sessions", "watcher",
		"concurrent UDP sessions per source IP" },
	[PX_LIM_DENIED_PACKET_RATE] = { "denied-packet-rate", 600, 600, 1,
		100000000, "/minute", "watcher (alert only)",
		"denied packets per minute per source IP" },
	/* ISA blocks a source over a rate quota for one minute. */
	[PX_LIM_BLOCK_TIME] = { "block-time", 60, 0, 1, 86400, "seconds",
		"kernel", "how long a source over a rate quota is refused",
		true },
	/* One IPv6 host can own a whole /64: count sources by prefix. */
	[PX_LIM_IPV6_PREFIX] = { "ipv6-source-prefix", 64, 0, 32, 128, "bits",
		"kernel, watcher", "IPv6 sources are counted per prefix of "
		"this length", true },
	/* ISA: "Log traffic blocked by flood mitigation settings". */
	[PX_LIM_LOG_FLOOD_BLOCKS] = { "log-flood-blocks", 1, 0, 0, 1,
		"(1 on, 0 off)", "kernel", "log traffic blocked by flood "
		"mitigation in the firewall log", true },
};

int px_limit_find(const char *name)
{
	int i;

	for (i = 0; i < PX_LIM_COUNT; i++)
		if (strcmp(px_limit_defs[i].name, name) == 0)
			return i;
	return PX_ENOLIMIT;
}

int px_limit_parse(int id, const char *s, uint64_t *out)
{
	const px_limit_def_t *d = &px_limit_defs[id];
	char num[32];
	const char *slash = strchr(s, '/');
	uint64_t mult = 1, v;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int rc;

	if (n == 0 || n >= sizeof(num))
		return PX_EBADREQ;
	memcpy(num, s, n);
	num[n] = '\0';
	if (slash) {
		/* Rates are kept per minute; a unit is only valid on a rate. */
		if (strcmp(d->unit, "/minute") != 0)
			return PX_EBADREQ;
		if (strcmp(slash, "/minute") == 0)
			mult = 1;
		else if (strcmp(slash, "/second") == 0)
			mult = 60;
		else
			return PX_EBADREQ;
	}
	rc = px_parse_u64(num, 0, UINT64_MAX / 60, &v);
	if (rc < 0)
		return rc;
	v *= mult;
	if (v < d->min || v > d->max)
		return PX_ERANGE;
	*out = v;
	return 0;
}

int px_mode_parse(const char *s, px_mode_t *out)
{
	if (strcmp(s, "enforce") == 0)
		*out = PX_MODE_ENFORCE;
	else if (strcmp(s, "observe") == 0)
		*out = PX_MODE_OBSERVE;
	else
		return PX_EBADREQ;
	return 0;
}

const char *px_mode_name(px_mode_t m)
{
	return m == PX_MODE_OBSERVE ? "observe" : "enforce";
}

void px_limits_init(px_limits_t *l)
{
	int i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < PX_LIM_COUNT; i++) {
		l->value[i] = px_limit_defs[i].def;
		if (px_limit_defs[i].exc_def)
			px_limits_set_tier(l, i, "flood-exceptions",
					   px_limit_defs[i].exc_def);
	}
}

void px_limits_free(px_limits_t *l)
{
	if (!l)
		return;
	free(l->tiers);
	l->tiers = NULL;
	l->ntiers = 0;
}

void px_limits_copy(px_limits_t *dst, const px_limits_t *src)
{
	*dst = *src;
	dst->tiers = xmalloc(src->ntiers * sizeof(*src->tiers));
	if (src->ntiers)
		memcpy(dst->tiers, src->tiers, src->ntiers * sizeof(*src->tiers));
}

uint64_t px_limits_tier(const px_limits_t *l, int id, const char *set)
{
	size_t i;

	for (i = 0; i < l->ntiers; i++)
		if ((int)l->tiers[i].id == id && strcmp(l->tiers[i].set, set) == 0)
			return l->tiers[i].value;
	return 0;
}

void px_limits_set_tier(px_limits_t *l, int id, const char *set,
			uint64_t value)
{
	size_t i;

	for (i = 0; i < l->ntiers; i++) {
		px_tier_t *t = &l->tiers[i];

		if ((int)t->id != id || strcmp(t->set, set) != 0)
			continue;
		if (value) {
			t->value = value;
		} else {
			*t = l->tiers[--l->ntiers];
		}
		return;
	}
	if (!value)
		return;
	l->tiers = xrealloc(l->tiers, (l->ntiers + 1) * sizeof(*l->tiers));
	l->tiers[l->ntiers].id = (px_limit_id_t)id;
	strncpy(l->tiers[l->ntiers].set, set, PX_SETNAME_MAX);
	l->tiers[l->ntiers].set[PX_SETNAME_MAX] = '\0';
	l->ntiers++;
	l->tiers[l->ntiers - 1].value = value;
}

void px_limits_drop_set(px_limits_t *l, const char *set)
{
	size_t i = 0;

	while (i < l->ntiers) {
		if (strcmp(l->tiers[i].set, set) == 0)
			l->tiers[i] = l->tiers[--l->ntiers];
		else
			i++;
	}
}

void px_limits_clear_tiers(px_limits_t *l)
{
	l->ntiers = 0;
}
