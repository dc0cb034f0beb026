/* main.c - phalanx-node: options, startup from the local state, the loop. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting.h"
#include "blocks.h"
#include "codec.h"
#include "nflog.h"
#include "nfq.h"
#include "node.h"
#include "pressure.h"
#include "px.h"
#include "state.h"
#include "vocab.h"
#include "vrrp.h"
#include "wire.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: phalanx-node --id NAME --store tcp://HOST:PORT [options]\n"
"\n"
"The Phalanx member agent: applies the array policy to nftables and keeps\n"
"enforcing the last applied policy when the store is away.\n"
"\n"
"  --id NAME              member name, e.g. fw1 ([A-Za-z0-9._-], 1-63)\n"
"  --store tcp://H:P      the store's base endpoint (sync P+1, changes P+2)\n"
"                         or every store's, comma-separated\n"
"  --secret-key FILE      this member's CURVE secret key (z85, mode 0600;\n"
"                         `phalanxctl keys gen'); its public key must be\n"
"                         enrolled: `phalanxctl members enroll ID KEY'\n"
"  --store-key FILE[,..]  the stores' public keys: one file (every store\n"
"                         holds that key) or one per store in the order\n"
"                         of --store; a store holding any other key is\n"
"                         never talked to\n"
"  --state-dir DIR        the member's state: applied policy and alert\n"
"                         outbox, LMDB (default <cache>.state)\n"
"  --cache FILE           base name of the member's files (default\n"
"                         /var/lib/phalanx/node.cache); a policy cache\n"
"                         file of an older member there is migrated once\n"
"                         into the state and renamed FILE.migrated\n"
"  --table NAME           nftables table, family inet (default phalanx)\n"
"  --store-timeout MS     the store is lost after MS of silence (3000)\n"
"  --follow-leader yes|no with --store a,b,c: move to the Raft leader a\n"
"                         follower's heartbeats name (default yes: the\n"
"                         leader commits the member's alerts, answers\n"
"                         status and log reads and judges a canary; with\n"
"                         no, alerts wait until the store followed leads)\n"
"  --heartbeat-ms MS      send the store a heartbeat every MS (1000,\n"
"                         rounded up to whole seconds); keep the store's\n"
"                         --member-timeout well above it\n"
"  --mgmt PREFIX          management network, never limited (repeatable)\n"
"  --ct-max N             conntrack table size for resource protection\n"
"                         (default nf_conntrack_max; smaller for tests)\n"
"  --pressure-idle-s S    under pressure, end TCP connections idle S\n"
"                         seconds or more and time out idle ones after S\n"
"                         (default 360: six minutes, as ISA)\n"
"  --no-cache-policy guard|accept\n"
"                         with no usable state (missing, unreadable or\n"
"                         corrupt) and no table in the kernel: `guard'\n"
"                         refuses everything but loopback, the --mgmt\n"
"                         prefixes and the store until the first snapshot\n"
"                         (default); `accept' starts with an empty policy.\n"
"                         A table already in the kernel is always kept.\n"
"  --config FILE          read `key = value' lines with the same names\n"
"  --log FILE             append log lines to FILE instead of stderr\n"
"%s%s%s"
"  -v, --verbose          debug logging\n"
"  -h, --help             this text\n", px_alerting_usage, px_nflog_usage,
	px_vrrp_usage);
}

static int copy_opt(char *dst, size_t len, const char *value)
{
	if (strlen(value) >= len || !value[0])
		return PX_ERANGE;
	strcpy(dst, value);
	return 0;
}

static int set_option(const char *key, const char *value, void *arg)
{
	px_node_opts_t *o = arg;

	if (strcmp(key, "id") == 0) {
		if (!px_member_id_valid(value))
			return PX_EBADREQ;
		return copy_opt(o->id, sizeof(o->id), value);
	}
	if (strcmp(key, "store") == 0) {
		char ep[300];

		if (px_endpoint(value, 0, ep, sizeof(ep)) < 0)
			return PX_EBADREQ;
		return copy_opt(o->store, sizeof(o->store), value);
	}
	if (strcmp(key, "cache") == 0)
		return copy_opt(o->cache, sizeof(o->cache), value);
	if (strcmp(key, "state-dir") == 0)
		return copy_opt(o->state_dir, sizeof(o->state_dir), value);
	if (strcmp(key, "secret-key") == 0)
		return copy_opt(o->secret_key, sizeof(o->secret_key), value);
	if (strcmp(key, "store-key") == 0)
		return copy_opt(o->store_key, sizeof(o->store_key), value);
	if (strcmp(key, "table") == 0)
		return px_setname_valid(value) ?
			copy_opt(o->table, sizeof(o->table), value) : PX_EBADREQ;
	if (strcmp(key, "log") == 0)
		return copy_opt(o->log, sizeof(o->log), value);
	if (strcmp(key, "follow-leader") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			return PX_EBADREQ;
		o->follow_leader = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "no-cache-policy") == 0) {
		if (strcmp(value, "guard") != 0 && strcmp(value, "accept") != 0)
			return PX_EBADREQ;
		o->no_cache_accept = strcmp(value, "accept") == 0;
		return 0;
	}
	if (strcmp(key, "pressure-idle-s") == 0)
		return px_parse_u64(value, 1, 86400, &o->pressure_idle_s);
	if (strcmp(key, "ct-max") == 0)
		return px_parse_u64(value, 1, UINT32_MAX, &o->ct_max);
	if (strcmp(key, "store-timeout") == 0)
		return px_parse_u64(value, 100, 3600000, &o->store_timeout_ms);
	if (strcmp(key, "heartbeat-ms") == 0)
		return px_parse_u64(value, 1000, 60000, &o->heartbeat_ms);
	if (strcmp(key, "mgmt") == 0) {
		px_entry_t e;
		int rc = px_entry_parse(value, &e);

		if (rc == 0)
			px_entries_push(&o->mgmt, &e);
		return rc;
	}
	{
		int rc = px_nflog_option(o, key, value);

		if (rc != PX_EOPTION)
			return rc;
		rc = px_vrrp_option(o, key, value);
		if (rc != PX_EOPTION)
			return rc;
	}
	return px_alerting_option(o, key, value);
}

static int parse_args(int argc, char **argv, px_node_opts_t *o)
{
	static const char *const names[] = {
		"id", "store", "cache", "table", "store-timeout", "ct-max",
		"pressure-idle-s", "mgmt", "log", "alert-window-ms",
		"alert-rate", "ct-rcvbuf", "fwlog", "fwlog-max-mb",
		"fwlog-syslog", "log-rate", "log-ended-rate",
		"log-flood-blocks", "no-cache-policy", "track-file",
		"track-stale-file", "vrrp-state-file", "resume-hold-ms",
		"secret-key", "store-key", "state-dir", "heartbeat-ms",
		"follow-leader", NULL,
	};
	int rc = px_options_parse("phalanx-node", argc, argv, names,
				  set_option, o, &o->verbose);

	if (rc == PX_OPTS_HELP) {
		usage(stdout);
		exit(0);
	}
	if (rc == 0 && (!o->id[0] || !o->store[0])) {
		fprintf(stderr, "phalanx-node: --id and --store are required\n");
		rc = 2;
	} else if (rc == 0 && (!o->secret_key[0] || !o->store_key[0])) {
		fprintf(stderr, "phalanx-node: --secret-key and --store-key are "
			"required (every socket to the store is CURVE)\n");
		rc = 2;
	}
	if (rc == 2)
		usage(stderr);
	return rc;
}

/* The loop watchdog's bound (lib/watchdog.h): the member's heartbeats,
 * change stream and conntrack events wait while a callback runs. */
#define STALL_MS 50

static const char *doing(void *arg)
{
	return px_node_applying(arg) ? "; an apply is running" : "";
}

/* The member's once-a-second schedule, in one place: resource
 * protection, alerts, the firewall log, then the store protocol (its
 * heartbeat carries what the others just decided).  The conntrack
 * watcher (ct.c), array-wide blocks (blocks.c) and the readiness gate
 * (vrrp.c) keep timers of their own, at their own pace. */
#define TICK_MS 1000

/* After a new version is applied, give the freed heap back to the
 * system.  Applying a 1M-entry version decodes a million small entries
 * (protobuf-c allocates each) and frees them once the kernel has them;
 * the free pages stay in the heap under long-lived allocations made
 * meanwhile (47 MB of a 139 MB RssAnon with a 1M set, measured with
 * malloc_stats, tests/bench/rss.sh).  malloc_trim(0) returns them
 * (MADV_DONTNEED); it walks the free lists, about a millisecond, and runs
 * once per applied version at most once a tick.  Not while the worker
 * applies: its allocations are in flight.  (LMDB's own kept pages are
 * given back by the worker: node/sync.c apply_work.) */
static void trim_heap(px_node_t *n)
{
	static uint64_t trimmed = UINT64_MAX;

	if (n->applied.version == trimmed || px_node_applying(n))
		return;
	trimmed = n->applied.version;
	malloc_trim(0);
}

static void on_tick(uv_timer_t *t)
{
	px_node_t *n = t->data;

	/* Summaries of refusals counted in windows that are over. */
	px_refused_flush();
	px_pressure_tick(n);
	px_alerting_tick(n);
	px_nflog_tick(n);
	px_node_sync_tick(n);
	trim_heap(n);
}

static void on_signal(uv_signal_t *h, int sig)
{
	px_log(PX_LOG_INFO, "signal %d: stopping; table %s stays in the "
	       "kernel at version %llu", sig, ((px_node_t *)h->data)->o.table,
	       (unsigned long long)((px_node_t *)h->data)->applied.version);
	uv_stop(h->loop);
}

/* The address of every store --store names (tcp://192.0.2.10:7700,...):
 * the guard lets them through even outside the --mgmt prefixes. */
static void store_addr(const px_node_t *n, px_entries_t *out)
{
	const char *list = n->o.store;

	/* --store may list every store: each one's address. */
	while (*list) {
		size_t len = strcspn(list, ",");
		char ep[300], host[256];
		const char *h = ep, *end;
		px_entry_t e;

		if (len < sizeof(ep)) {
			memcpy(ep, list, len);
			ep[len] = '\0';
			if (strncmp(h, "tcp://", 6) == 0)
				h += 6;
			if (*h == '[') {
				h++;
				end = strchr(h, ']');
			} else {
				end = strrchr(h, ':');
			}
			if (end && (size_t)(end - h) < sizeof(host)) {
				memcpy(host, h, (size_t)(end - h));
				host[end - h] = '\0';
				if (px_entry_parse(host, &e) == 0)
					px_entries_push(out, &e);
			}
		}
		list += len;
		if (*list == ',')
			list++;
	}
}

/* No cache to trust: never weaken what the kernel enforces.  A table
 * that is there stays as it is; without one, the guard (or, with
 * --no-cache-policy accept, an empty policy).  Either way the next
 * apply rebuilds, and health says so until then. */
static int restore_unusable(px_node_t *n, int why_rc, const char *why)
{
	bool exists = false, fresh = why_rc == -ENOENT;
	px_entries_t extra;
	int rc;

	rc = px_nft_table_exists(n->nft, &exists);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "cannot tell whether table inet %s exists: "
		       "%s", n->o.table, px_strerror(rc));
		return rc;
	}
	if (fresh && !exists) {
		/* A new member: nothing was lost, but nothing is known
		 * either.  Guarded until its first snapshot (under a
		 * second in a healthy array). */
		snprintf(n->state_detail, sizeof(n->state_detail), "no policy "
			 "yet (no state in %.100s): %s until the first snapshot",
			 n->o.state_dir, n->o.no_cache_accept ? "empty policy" :
			 "guard");
	} else {
		snprintf(n->state_detail, sizeof(n->state_detail), "local "
			 "state unusable (%.60s: %.50s): %s until a "
			 "snapshot is applied", n->o.state_dir, why,
			 exists ? "kernel table kept" :
			 n->o.no_cache_accept ? "empty policy" : "guard");
	}
	if (exists) {
		px_log(PX_LOG_ERR, "%s", n->state_detail);
	} else if (n->o.no_cache_accept) {
		px_policy_t empty;

		px_log(PX_LOG_WARN, "%s", n->state_detail);
		px_policy_init(&empty);
		rc = px_node_apply(n, &empty, true);
		px_policy_free(&empty);
		if (rc < 0)
			return rc;
	} else {
		px_entries_init(&extra);
		store_addr(n, &extra);
		rc = px_nft_install_guard(n->nft, &extra);
		px_entries_free(&extra);
		if (rc < 0) {
			px_log(PX_LOG_ERR, "cannot install the guard in table "
			       "inet %s: %s", n->o.table, px_strerror(rc));
			return rc;
		}
		px_log(fresh ? PX_LOG_INFO : PX_LOG_ERR, "%s", n->state_detail);
	}
	n->state_unusable = !fresh || exists;
	n->kernel_unknown = true;
	px_node_state_unknown(n);
	return 0;
}

/* A damaged state: set aside (<dir>.bad) and a new one made, so that
 * the next applied version is written again.  The member works without
 * one (nothing written, logged) if even that fails. */
static void state_renew(px_node_t *n)
{
	char why[200];
	int rc;

	px_state_close(n->state);
	n->state = NULL;
	rc = px_state_set_aside(n->o.state_dir);
	if (rc < 0)
		px_log(PX_LOG_ERR, "state %s: cannot set it aside: %s",
		       n->o.state_dir, px_strerror(rc));
	else
		px_log(PX_LOG_WARN, "state %s set aside as %s.bad; a new one "
		       "is written from the next applied version",
		       n->o.state_dir, n->o.state_dir);
	rc = px_state_open(&n->state, n->o.state_dir, why, sizeof(why));
	if (rc < 0)
		px_log(PX_LOG_ERR, "state %s: cannot make a new one: %s (%s): "
		       "applied versions are not kept across restarts",
		       n->o.state_dir, why, px_strerror(rc));
}

/* Startup: put the policy of the local state in the kernel before
 * talking to the store, so a member that reboots while the store is
 * away enforces what it enforced before.  No state yet but a cache file
 * of an older member: that one, migrated into the state. */
static int restore(px_node_t *n)
{
	px_policy_t cached;
	bool legacy = false;
	char why[200] = "";
	uint64_t t0 = px_mono_ms();
	size_t i, entries = 0;
	int rc;

	px_policy_init(&cached);
	rc = px_state_open(&n->state, n->o.state_dir, why, sizeof(why));
	if (rc == -ENOENT) /* its parent directory: not "no state yet" */
		rc = PX_EDB;
	if (rc == 0)
		rc = px_state_load(n->state, &cached, why, sizeof(why));
	if (rc == -ENOENT && access(n->o.cache, F_OK) == 0) {
		px_policy_free(&cached);
		px_policy_init(&cached);
		legacy = true;
		rc = px_policy_load(n->o.cache, &cached, why, sizeof(why));
		px_log(rc < 0 ? PX_LOG_ERR : PX_LOG_INFO, "state %s is empty: "
		       "cache file %s of an older member %s%s",
		       n->o.state_dir, n->o.cache, rc < 0 ? "unusable: " :
		       "migrated into it", rc < 0 ? why : "");
	}
	if (rc < 0) {
		px_policy_free(&cached);
		if (rc != -ENOENT)
			px_log(PX_LOG_ERR, "state %s is unusable: %s (%s)",
			       legacy ? n->o.cache : n->o.state_dir, why,
			       px_strerror(rc));
		if (rc != -ENOENT && !legacy)
			state_renew(n);
		return restore_unusable(n, rc, why);
	}
	for (i = 0; i < cached.nsets; i++)
		entries += cached.sets[i].entries.n;
	px_log(PX_LOG_INFO, "%s %s: version %llu, %zu sets, %zu entries read "
	       "and checked in %llu ms", legacy ? "cache file" : "state",
	       legacy ? n->o.cache : n->o.state_dir,
	       (unsigned long long)cached.version, cached.nsets, entries,
	       (unsigned long long)(px_mono_ms() - t0));
	rc = px_node_apply(n, &cached, true);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "cannot install table inet %s: %s",
		       n->o.table, px_strerror(rc));
		px_policy_free(&cached);
		return rc;
	}
	/* Messages of an older store epoch are refused; a newer one means
	 * a new store database and a fresh snapshot. */
	n->epoch = n->applied.epoch;
	if (legacy && px_state_holds(n->state, n->applied.version,
				     n->applied.epoch)) {
		char done[sizeof(n->o.cache) + 16];

		snprintf(done, sizeof(done), "%s.migrated", n->o.cache);
		if (rename(n->o.cache, done) < 0)
			px_log(PX_LOG_ERR, "rename %s to %s: %s", n->o.cache,
			       done, strerror(errno));
	}
	if (n->applied.version)
		px_log(PX_LOG_INFO, "restored version %llu from state %s",
		       (unsigned long long)n->applied.version, n->o.state_dir);
	return 0;
}

int main(int argc, char **argv)
{
	px_node_t n;
	uv_signal_t sigterm, sigint;
	int rc;

	memset(&n, 0, sizeof(n));
	strcpy(n.o.cache, "/var/lib/phalanx/node.cache");
	strcpy(n.o.table, PX_NFT_TABLE);
	n.o.store_timeout_ms = 3000;
	n.o.follow_leader = true;
	n.o.heartbeat_ms = 1000;
	n.o.pressure_idle_s = PX_PRESSURE_IDLE_S;
	px_entries_init(&n.o.mgmt);
	if ((rc = parse_args(argc, argv, &n.o)) != 0)
		return rc;
	px_entries_normalize(&n.o.mgmt);
	if (!n.o.state_dir[0] &&
	    snprintf(n.o.state_dir, sizeof(n.o.state_dir), "%s.state",
		     n.o.cache) >= (int)sizeof(n.o.state_dir)) {
		fprintf(stderr, "phalanx-node: --cache %s: too long\n",
			n.o.cache);
		return 2;
	}
	if (n.o.log[0] && (rc = px_log_to_file(n.o.log)) < 0) {
		fprintf(stderr, "phalanx-node: --log %s: %s\n", n.o.log,
			strerror(-rc));
		return 1;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	px_log_init("phalanx-node", n.o.verbose);
	{
		char err[4096 + 256];

		if (px_key_secret_load(n.o.secret_key, &n.o.keys, err,
				       sizeof(err)) < 0 ||
		    px_store_keys_load(n.o.store_key, px_list_count(n.o.store),
				       n.o.store_pubs, &n.o.nstore_pubs, err,
				       sizeof(err)) < 0) {
			px_log(PX_LOG_ERR, "%s", err);
			return 1;
		}
	}
	px_policy_init(&n.applied);
	n.applied.version = 0;
	n.loop = uv_default_loop();
	rc = px_nft_open(&n.nft, n.o.table);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "netlink: %s", px_strerror(rc));
		return 1;
	}
	rc = px_nft_set_mgmt(n.nft, &n.o.mgmt);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "management prefixes: %s", px_strerror(rc));
		px_nft_close(n.nft);
		return 1;
	}
	if (restore(&n) < 0) {
		px_nft_close(n.nft);
		return 1;
	}
	/* Without conntrack events the kernel still enforces every quota
	 * it holds; only half-open and UDP eviction are lost. */
	/* The watcher writes through its own netlink handle: n.nft is the
	 * apply worker's while an apply runs. */
	rc = px_nft_open(&n.nft_watch, n.o.table);
	if (rc < 0)
		px_log(PX_LOG_ERR, "netlink for the conntrack watcher: %s",
		       px_strerror(rc));
	n.watcher = rc < 0 ? NULL :
		px_watcher_start(n.loop, n.nft_watch, &n.o.mgmt, &n.applied);
	if (!n.watcher)
		px_log(PX_LOG_ERR, "conntrack watcher not running: tcp-half-open "
		       "and udp-concurrent are not enforced");
	px_nflog_start(&n);
	px_nfq_start(&n);
	if (px_node_sync_start(&n) < 0) {
		px_nfq_stop(&n);
		px_nflog_stop(&n);
		px_watcher_stop(n.watcher);
		px_nft_close(n.nft);
		return 1;
	}
	if (n.state_unusable)
		px_alerting_observe(&n, "state-unusable", NULL, 0, 0, true,
				    n.state_detail);
	px_blocks_start(&n);
	if (px_vrrp_start(&n) < 0) {
		px_blocks_stop(&n);
		px_node_sync_stop(&n);
		px_nfq_stop(&n);
		px_nflog_stop(&n);
		px_watcher_stop(n.watcher);
		px_nft_close(n.nft);
		return 1;
	}
	uv_signal_init(n.loop, &sigterm);
	uv_signal_init(n.loop, &sigint);
	sigterm.data = sigint.data = &n;
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	px_watchdog_start(&n.watchdog, n.loop, STALL_MS, doing, &n);
	uv_timer_init(n.loop, &n.tick);
	n.tick.data = &n;
	uv_timer_start(&n.tick, on_tick, TICK_MS, TICK_MS);
	px_log(PX_LOG_INFO, "member %s up: table inet %s at version %llu, "
	       "store %s", n.o.id, n.o.table,
	       (unsigned long long)n.applied.version, n.o.store);
	uv_run(n.loop, UV_RUN_DEFAULT);
	uv_timer_stop(&n.tick);
	uv_close((uv_handle_t *)&n.tick, NULL);
	px_vrrp_stop(&n);
	px_blocks_stop(&n);
	px_nfq_stop(&n);
	px_nflog_stop(&n);
	px_node_sync_stop(&n);
	px_watchdog_stop(&n.watchdog);
	px_pressure_stop(&n);
	px_watcher_stop(n.watcher);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	uv_run(n.loop, UV_RUN_NOWAIT);
	px_nft_close(n.nft_watch);
	px_nft_close(n.nft);
	px_state_close(n.state);
	px_policy_free(&n.applied);
	px_policy_free(&n.pending);
	px_policy_free(&n.snap);
	px_entries_free(&n.o.mgmt);
	return 0;
}
