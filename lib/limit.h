/* limits.h - the table of flood-mitigation quotas (ISA Server 2006
 * defaults, seeds/004) and their configured values.  One table drives
 * parsing, validation, `phalanxctl limits show` and enforcement. */
#ifndef PX_LIMITS_H
#define PX_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

typedef enum { PX_MODE_ENFORCE = 0, PX_MODE_OBSERVE = 1 } px_mode_t;

typedef enum {
	PX_LIM_TCP_CONNECT_RATE,
	PX_LIM_TCP_CONCURRENT,
	PX_LIM_TCP_HALF_OPEN,
	PX_LIM_HTTP_REQUEST_RATE,
	PX_LIM_NONTCP_SESSION_RATE,
	PX_LIM_UDP_CONCURRENT,
	PX_LIM_DENIED_PACKET_RATE,
	PX_LIM_BLOCK_TIME,      /* settings: no tiers, no mode */
	PX_LIM_IPV6_PREFIX,
	PX_LIM_LOG_FLOOD_BLOCKS, /* firewall log (node/fwlog.h) */
	PX_LIM_COUNT
} px_limit_id_t;

typedef struct {
	const char *name;       /* e.g. "tcp-connect-rate" */
	uint64_t def;           /* ISA default */
	uint64_t exc_def;       /* flood-exceptions default, 0 = no tier */
	uint64_t min, max;
	const char *unit;       /* "/minute", "connections" ... */
	const char *enforced;   /* "kernel" or "watcher" */
	const char *help;
	bool setting;           /* array-wide setting, not a quota */
} px_limit_def_t;

extern const px_limit_def_t px_limit_defs[PX_LIM_COUNT];

/* Exception tiers beyond the default: (quota, set) -> value. */
typedef struct {
	px_limit_id_t id;
	char set[PX_SETNAME_MAX + 1];
	uint64_t value;
} px_tier_t;

typedef struct {
	uint64_t value[PX_LIM_COUNT];
	px_mode_t mode[PX_LIM_COUNT];
	px_tier_t *tiers;
	size_t ntiers;
} px_limits_t;

int px_limit_find(const char *name); /* id, or PX_ENOLIMIT */
/* Parse a value for limit id: "600", "1000/minute", "17/second". */
int px_limit_parse(int id, const char *s, uint64_t *out);
int px_mode_parse(const char *s, px_mode_t *out);
const char *px_mode_name(px_mode_t m);

void px_limits_init(px_limits_t *l); /* defaults + flood-exceptions tiers */
void px_limits_free(px_limits_t *l);
void px_limits_copy(px_limits_t *dst, const px_limits_t *src);
/* Value of a tier, or 0 if not set. */
uint64_t px_limits_tier(const px_limits_t *l, int id, const char *set);
void px_limits_set_tier(px_limits_t *l, int id, const char *set,
			uint64_t value);
void px_limits_drop_set(px_limits_t *l, const char *set);
/* Forget every tier (before applying a complete limit state). */
void px_limits_clear_tiers(px_limits_t *l);

#endif
