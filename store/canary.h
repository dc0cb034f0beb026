/* canary.h - `--canary MEMBER': a version applied on one member first.
 *
 * The store commits the version as usual; its record ("versions")
 * names the member and the seconds it must stay healthy, and the
 * "confirm" database holds it with a deadline (S + 30 s), so that it
 * is replicated and survives a restart or a failover like a --confirm.
 * The leader (or the only store) decides once a second: released (the
 * store's own canary_release write settles it: every member applies
 * it) or reverted (the store's own revert, only that change). */
#ifndef PX_STORE_CANARY_H
#define PX_STORE_CANARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px.h"

#define PX_CANARY_DEFAULT_S 10
#define PX_CANARY_MAX_S 3600
/* What the member gets on top of its seconds to apply the version and
 * say so: past it, the change is reverted. */
#define PX_CANARY_GRACE_S 30
/* A member finds a new leader after its old store went silent for ~4 s
 * (node/sync.c), then follows a hint: seen taking 5 s in
 * t_canary_raft.sh; three times that before "down" counts. */
#define PX_CANARY_FRESH_MS 15000

typedef struct px_canary_s {
	uint64_t version;
	char member[PX_MEMBER_ID_MAX + 1];
	uint32_t for_s;
	uint64_t deadline_ms;   /* wall clock */
} px_canary_t;

/* The canary member as the store last heard it. */
typedef struct {
	bool known, up, drained;
	/* This store has not watched the canary for PX_CANARY_FRESH_MS
	 * yet (it just became leader, or started): a member it has not
	 * heard may only not have found it yet, so not down. */
	bool fresh;
	/* Its last heartbeat says it lost the store: unhealthy for a
	 * reason that is not the change's (the healthy count restarts). */
	bool store_lost;
	uint64_t applied;
	uint64_t failed_version;  /* its heartbeat: an apply that failed */
	int health;               /* Heartbeat.Health */
	const char *detail;
} px_canary_member_t;

/* A store's own bookkeeping of canaries (ops.c), in px_store_t. */
#define PX_CANARY_VERDICTS_KEPT 16
typedef struct {
	/* Verdicts of the last canaries, as this store applied them: what
	 * a CANARY_WAIT is answered with.  A store that restarted since
	 * (or applied them before it ran) does not know them, and says
	 * so. */
	struct {
		uint64_t version, revert_version;
		bool reverted;
		char why[200];
	} verdicts[PX_CANARY_VERDICTS_KEPT];
	size_t verdict_next;
	/* The leader's: since when the canary in progress has been applied
	 * and healthy (for_s counts from it), the last release or revert
	 * it proposed (not again within 5 s), and since when it watches
	 * (px_mono_ms). */
	uint64_t ok_version, ok_since_ms, asked_version, asked_ms;
	uint64_t watch_since_ms;
	/* The canary in progress as last read from the database: reading
	 * it decodes each pending version's record (a 1M-entry import's
	 * is ~18 MB), and the heartbeat asks every second.  It changes
	 * only with a commit (a new version) or a settlement (gen). */
	struct {
		bool valid;
		uint64_t version, gen;
		int found;
		px_canary_t c;
	} cache;
	uint64_t gen;
} px_canary_book_t;

typedef enum { PX_CANARY_WAIT, PX_CANARY_RELEASE, PX_CANARY_REVERT }
	px_canary_verdict_t;

/* Pure: what to do with canary c at now_ms, its member being m.
 * *ok_since_ms is the caller's (0 at first, kept for the same version):
 * since when the member has had the version and been healthy.  On
 * PX_CANARY_REVERT, why says why (len bytes). */
px_canary_verdict_t px_canary_decide(const px_canary_t *c,
				     const px_canary_member_t *m,
				     uint64_t now_ms, uint64_t *ok_since_ms,
				     char *why, size_t len);

#endif
