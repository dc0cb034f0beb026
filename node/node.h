/* node.h - the member agent's state, shared by its files:
 *   main.c  options, startup from the cache, signals, the loop
 *   sync.c  the store: snapshots, the change stream, heartbeats, apply
 *           (on a worker thread: the loop never waits for the kernel)
 *   seq.c   version sequencing (pure)
 *   nft.c   all nftables I/O */
#ifndef PX_NODE_H
#define PX_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "canary.h"
#include "ct.h"
#include "keys.h"
#include "nft.h"
#include "policy.h"
#include "ratelog.h"
#include "seq.h"
#include "watchdog.h"

typedef struct {
	char id[64];
	char store[256];
	/* CURVE: this member's secret key file and the stores' public key
	 * files, one or one per store (required; main.c loads them into
	 * keys and store_pubs). */
	char secret_key[4096], store_key[4096];
	px_keypair_t keys;
	px_store_key_t store_pubs[PX_STORE_KEYS_MAX];
	size_t nstore_pubs;
	char cache[4096];
	char state_dir[4096];  /* --state-dir; "" : "<cache>.state" */
	char table[64];
	char log[4096];
	uint64_t store_timeout_ms;
	bool follow_leader;    /* --follow-leader yes: follow the Raft leader */
	uint64_t heartbeat_ms;   /* --heartbeat-ms, on the 1 s tick */
	uint64_t alert_window_ms, alert_rate, ct_rcvbuf; /* alerting.c; 0: default */
	/* nflog.c (the firewall log); "" / 0: default */
	char fwlog[4096];
	uint64_t log_rate, log_ended_rate, fwlog_max_mb;
	int log_flood_blocks;  /* 0 default (on), 1 on, -1 off */
	bool log_syslog;
	px_entries_t mgmt;     /* never limited */
	uint64_t ct_max;       /* conntrack table size for headroom, 0: the
				* kernel's nf_conntrack_max */
	uint64_t pressure_idle_s; /* idle time that ends a session under
				   * pressure (360) */
	bool no_cache_accept;  /* --no-cache-policy accept: an unusable
				* cache and no table start with an empty
				* policy instead of the guard */
	/* vrrp.c: keepalived's track files and state; "" none */
	char track_file[4096], track_stale_file[4096], vrrp_state_file[4096];
	uint64_t resume_hold_ms; /* --resume-hold-ms, if resume_hold_set */
	bool resume_hold_set;
	int verbose;
} px_node_opts_t;

typedef struct px_node {
	px_node_opts_t o;
	uv_loop_t *loop;
	px_nft_t *nft;             /* the worker's alone while apply_job runs */
	px_nft_t *nft_watch;       /* the watcher's own netlink handle */
	px_watcher_t *watcher;     /* NULL if conntrack is unavailable */
	struct px_alerting *alerting; /* alerting.c */
	struct px_nflog *nflog;    /* nflog.c: the firewall log */
	struct px_nfq *nfq;        /* nfq.c: payload inspection, or NULL */
	struct px_vrrp *vrrp;      /* vrrp.c: the readiness gate, NULL if off */
	struct px_blocks *blocks;  /* blocks.c: array-wide blocks */
	struct px_state *state;    /* state.c: NULL if it cannot be opened */
	px_policy_t applied;       /* what the kernel holds */
	px_policy_t pending;       /* change being assembled */
	px_seq_t seq;
	uint64_t epoch;            /* highest store epoch seen */
	uint64_t term;             /* Raft: the newest store term heard */

	void *zctx, *sync, *sub;
	void *sync_mon, *sub_mon; /* PAIRs: the sockets' handshake results */
	bool store_refused;   /* the last handshake with the store failed */
	uv_poll_t sync_poll, sub_poll;
	uv_timer_t tick;           /* main.c: the once-a-second schedule */

	/* Snapshot in progress: chunks assemble into snap; changes that
	 * arrive meanwhile are held and replayed on top of it. */
	bool snapping, snap_sent;
	uv_timer_t snap_retry;
	struct Phalanx__Envelope *held[256];
	size_t nheld;
	px_policy_t snap;
	uint32_t snap_next;
	uint64_t snap_started_ms;

	/* Store liveness (monotonic ms). */
	uint64_t store_seen_ms;
	uint64_t heartbeat_sent_ms; /* the last heartbeat (0: none yet) */
	bool store_lost;
	uint64_t behind_since_ms;
	/* --canary (canary.h): what the store heartbeats say of the
	 * canary in progress, and the last version whose apply failed here
	 * (0 once one succeeded since): the store's verdict reads it. */
	px_canary_gate_t canary;
	uint64_t failed_version;
	uint64_t canary_logged;   /* the held version last logged */
	/* The kernel refused the last apply: what its table holds is in
	 * doubt (someone else may have changed it), so the next apply
	 * rebuilds it rather than diff against applied. */
	bool rebuild_next;

	/* Resource protection (pressure.c). */
	int pressure;
	bool pressure_alerted;
	uint64_t pressure_saved_timeout, ct_count, ct_max;

	/* An apply runs off the loop thread (sync.c): while apply_job is
	 * set, the worker alone uses nft and reads applied; the loop reads
	 * applied but changes neither, and changes and snapshot chunks wait
	 * in inq, to be handled in order once it is done. */
	struct apply_job *apply_job;
	bool stopping;
	struct Phalanx__Envelope **inq;
	size_t inq_head, inq_n;
	uv_idle_t inq_idle;
	int drain_more;            /* sockets with messages left to read */
	/* Parts of the version, or chunks of the snapshot, collected for
	 * the worker (never both: changes are held while snapping). */
	struct Phalanx__Envelope **collect;
	size_t ncollect, collect_cap;

	/* Loop watchdog (main.c): iterations late by more than 50 ms. */
	px_watchdog_t watchdog;

	int health; /* PHALANX__HEARTBEAT__HEALTH__* */
	char detail[256];

	/* Local state unusable at startup (main.c): the kernel holds a kept
	 * table or the guard, not `applied'.  Until a policy from the store
	 * is applied (with a rebuild) health stays degraded with
	 * state_detail and a "state-unusable" alert is exceeding. */
	bool state_unusable;
	bool kernel_unknown;       /* also a fresh member under the guard */
	/* The kernel holds applied, the state an older version (a write
	 * failed): not acknowledged, saved again on the tick. */
	bool state_behind;
	uint64_t state_retry_ms;   /* its last try */
	uint64_t kept_version;     /* the last version the state took */
	char state_detail[200];
} px_node_t;

int px_node_sync_start(px_node_t *n);
/* Once a second (main.c's schedule), after the other modules' ticks:
 * store liveness, snapshot retries, the heartbeat, and a drain of the
 * sockets (their edge can be consumed by the sends of the tick). */
void px_node_sync_tick(px_node_t *n);
/* The one way to the store's sync socket (sync.c owns it): env goes
 * with the member's current epoch.  0; -EAGAIN when no store is
 * connected (ZMQ_IMMEDIATE: nothing queued, the caller keeps what it
 * has for its next tick); -ENOTCONN before the socket exists; another
 * negative error from the wire layer.  Callers log as they see fit. */
struct Phalanx__Envelope;
int px_sync_send(px_node_t *n, struct Phalanx__Envelope *env);
void px_node_sync_stop(px_node_t *n);
/* Apply target to the kernel (old NULL rebuilds), save the state and
 * make it the applied policy.  0 or negative error; on error nothing
 * changes. */
int px_node_apply(px_node_t *n, px_policy_t *target, bool rebuild);
/* After main.c found its local state unusable (state_detail set):
 * health degraded with that detail until px_node_apply() succeeds, which
 * then rebuilds the table, whatever rebuild says. */
void px_node_state_unknown(px_node_t *n);
/* True while an apply runs off the loop thread: n->nft is the worker's,
 * so the loop's other users of it (alerting, pressure) wait a tick. */
bool px_node_applying(const px_node_t *n);

#endif
