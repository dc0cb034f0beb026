/* alert.h - the alert types and rules both daemons share: the engine
 * that decides which alerts a member raises from what it observes
 * (node/alerting.c feeds it and carries out what it decides) and the
 * store's admission of what members report (px_alert_admit, used by
 * store/alerts.c).  Plain C over plain structs, no I/O; unit-tested in
 * tests/unit/test_alert.c.
 *
 * An alert is about a key (type, source): a quota and a source address,
 * or a type alone ("events-lost", "store-lost").  Per key:
 *   - the first excess raises "exceeded";
 *   - while it keeps exceeding, at most one more "exceeded" per window
 *     (default 60 s: ISA's "one alert per source and quota per minute");
 *   - when it stops - an explicit "no longer exceeding" observation, or
 *     no excess observed for a whole window - one "recovered", and the key
 *     is forgotten: the next excess raises "exceeded" again.
 * Over all keys, at most conf.rate alerts a second go out (default 20);
 * the rest are suppressed and counted exactly: the next alert that goes
 * out carries the count in .suppressed, or, if none comes, px_alert_tick
 * raises an "alerts-suppressed" info alert with it.  The sum of
 * .suppressed over every alert raised equals the number suppressed.  A
 * suppressed alert still changes the key's state (a suppressed "exceeded"
 * is followed by its "recovered"), so every exceeded has one recovered.
 *
 * Bounded: at most conf.max_keys keys are tracked.  A recovered key is
 * removed at once and an idle key recovers after a window, so the table
 * only holds keys that are exceeding now.  A new key when the table is
 * full is not tracked and raises nothing (counted in stats.untracked):
 * the rate cap could not report it anyway (20/s is 1,200 a minute, the
 * default table holds 8,192).
 *
 * Manual reset is kept by the store, not here (px_alert_admit): members
 * always report exceeded/recovered as above. */
#ifndef PX_ALERT_H
#define PX_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define PX_ALERT_TYPE_MAX 32  /* with the NUL */
#define PX_ALERT_TEXT_MAX 200 /* with the NUL */
/* Distinct types one engine interns: px_alert_types() holds 32 today;
 * room for more (test_alert.c checks every type fits). */
#define PX_ALERT_TYPES 48

typedef enum {
	PX_ALERT_EXCEEDED = 0,
	PX_ALERT_RECOVERED = 1,
	PX_ALERT_INFO = 2,
} px_alert_state_t;

/* "exceeded", "recovered", "info". */
const char *px_alert_state_name(px_alert_state_t s);
/* The state named s, or -1. */
int px_alert_state_parse(const char *s);

/* Attack protection's drops that TMG names no alert for (issue 12,
 * docs/protection.md): one type each, raised by node/nflog.c from the
 * drop's log record, one per source per window like "ip-spoofing". */
#define PX_ALERT_BROADCAST "broadcast-dropped"
#define PX_ALERT_FRAGMENT "fragment-dropped"
#define PX_ALERT_IP_OPTIONS "ip-options-dropped"
#define PX_ALERT_DEFAULT_DENY "default-deny"
#define PX_ALERT_BAD_CHECKSUM "bad-tcp-checksum"

/* Whether t names an alert type: a quota of px_limit_defs (not a
 * setting), or one of "events-lost", "store-lost", "alerts-suppressed",
 * "alerts-dropped", ... (extra_types in alert.c). */
bool px_alert_type_valid(const char *t);
/* The types, for listings: *n set; a static array. */
const char *const *px_alert_types(size_t *n);

typedef struct {
	char type[PX_ALERT_TYPE_MAX];
	px_alert_state_t state;
	bool has_source;
	px_entry_t source;
	uint64_t count, limit;
	uint64_t time_ms;     /* the now_ms it was raised at */
	uint64_t suppressed;  /* alerts the cap dropped just before this one */
	char text[PX_ALERT_TEXT_MAX];
} px_alert_t;

/* A growing list of alerts (the engine appends; the caller clears). */
typedef struct {
	px_alert_t *v;
	size_t n, cap;
} px_alerts_t;

void px_alerts_init(px_alerts_t *l);
void px_alerts_clear(px_alerts_t *l); /* keeps the memory */
void px_alerts_free(px_alerts_t *l);

typedef struct {
	uint64_t window_ms;  /* 60000 */
	uint32_t rate;       /* alerts per second, over all keys: 20 */
	uint32_t max_keys;   /* 8192 */
} px_alert_conf_t;

#define PX_ALERT_WINDOW_MS 60000
#define PX_ALERT_RATE 20
#define PX_ALERT_MAX_KEYS 8192

typedef struct {
	uint64_t raised;      /* alerts that went out */
	uint64_t suppressed;  /* alerts the cap dropped */
	uint64_t untracked;   /* excesses of new keys with the table full */
	uint64_t keys;        /* tracked now */
} px_alert_stats_t;

/* One observation of a key. */
typedef struct {
	const char *type;          /* an alert type */
	const px_entry_t *source;  /* NULL: the key has no source */
	uint64_t count, limit;     /* what was counted, and its limit */
	bool exceeding;            /* false: explicitly no longer */
	const char *text;          /* for the alert; NULL: a default */
} px_alert_obs_t;

typedef struct px_alert_engine px_alert_engine_t;

/* conf NULL: the defaults; zero fields take their default too. */
px_alert_engine_t *px_alert_new(const px_alert_conf_t *conf);
void px_alert_free(px_alert_engine_t *e); /* NULL is a no-op */

/* Observe a key at now_ms (monotonic, non-decreasing across calls);
 * alerts due are appended to out. */
void px_alert_observe(px_alert_engine_t *e, const px_alert_obs_t *o,
		      uint64_t now_ms, px_alerts_t *out);

/* A one-off "info" alert (no key state; subject to the cap). */
void px_alert_info(px_alert_engine_t *e, const char *type,
		   const px_entry_t *source, uint64_t count, uint64_t limit,
		   const char *text, uint64_t now_ms, px_alerts_t *out);

/* Call at least once a second: keys with no excess for a window recover;
 * a suppressed count no alert has carried yet goes out as an
 * "alerts-suppressed" info alert if this second has room. */
void px_alert_tick(px_alert_engine_t *e, uint64_t now_ms, px_alerts_t *out);

/* Stop (or start again) raising alerts of a type; the keys it tracks
 * are forgotten without a recovered (the store drops that type too). */
void px_alert_set_enabled(px_alert_engine_t *e, const char *type,
			  bool enabled);
bool px_alert_enabled(const px_alert_engine_t *e, const char *type);

void px_alert_stats(const px_alert_engine_t *e, px_alert_stats_t *out);

/* The watcher keeps, per quota, the sources it acted on most recently,
 * newest first, each once (a source acted on again moves to the front).
 * Given that list a second ago (old) and now (cur), how many at the front
 * of cur were acted on since: the shortest prefix whose removal leaves the
 * old list's order.  (A source acted on again behind another one of the
 * prefix is not counted; its key is exceeding already.)  Call it only
 * when the quota's action count grew: at least 1 if cur is not empty. */
size_t px_alert_recent_new(const px_entry_t *old, size_t nold,
			   const px_entry_t *cur, size_t ncur);

/* ---- the store's side: array-wide definitions ----
 *
 * What the store does with an alert that arrives, given the definition
 * of its type and whether its key (member, type, source) has an active
 * alert:
 *   disabled type                   DROP (acknowledged, not kept)
 *   exceeded, not active            RECORD, it becomes the active alert
 *   exceeded, active, auto reset    RECORD, it becomes the active alert
 *   exceeded, active, manual reset  ABSORB: the alert stays active and
 *                                   is not raised again until reset
 *   recovered, auto reset           RECORD, the key is no longer active
 *   recovered, manual reset         RECORD, the key stays active until
 *                                   `phalanxctl alerts reset`
 *   info                            RECORD
 * *activate: 1 make this alert the key's active one, -1 the key is no
 * longer active, 0 no change. */
typedef enum { PX_ADMIT_RECORD, PX_ADMIT_ABSORB, PX_ADMIT_DROP } px_admit_t;

px_admit_t px_alert_admit(bool enabled, bool manual, bool active,
			  px_alert_state_t state, int *activate);

#endif
