/* sync.c - the member's side of the store protocol. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alerting.h"
#include "blocks.h"
#include "codec.h"
#include "delta.h"
#include "nflog.h"
#include "pressure.h"
#include "node.h"
#include "px.h"
#include "ratelog.h"
#include "state.h"
#include "vrrp.h"
#include "vocab.h"
#include "wire.h"

/* A snapshot that has not finished in this long is asked for again. */
#define SNAPSHOT_RETRY_MS 5000
/* Behind the store's heartbeat version with nothing arriving for this
 * long: a change was lost (PUB drops silently), so resnapshot. */
#define BEHIND_GRACE_MS 1500
/* Changes and snapshot chunks waiting while an apply runs: a 1M-entry
 * import is 123 parts of PX_CHUNK_ENTRIES, so this holds 8 of them;
 * past it the queue is dropped and a snapshot asked for. */
#define INQ_MAX 1024
/* The loop handles queued messages for at most this long per turn, so
 * heartbeats and timers go on between them. */
#define INQ_SLICE_MS 20
#define DRAIN_SLICE_MS 20
enum { DRAIN_SYNC = 1, DRAIN_SUB = 2 }; /* n->drain_more */

/* Parts of one version, or chunks of one snapshot, collected before
 * the worker assembles them: past this many the store is asked for a
 * snapshot (a 1M-entry version is 123: PX_MSG_MAX allows no more
 * than ~4M entries in one import). */
#define COLLECT_MAX 4096

/* One apply off the loop thread.  The job owns the collected messages
 * and the policy the worker makes of them (target): a change's parts on
 * top of a copy of n->applied, or a snapshot's chunks.  The worker
 * builds and sends the netlink batch through n->nft and writes the
 * state; the loop neither uses n->nft nor changes n->applied while
 * n->apply_job is set (px_node_applying()).  Results come back in the
 * job, read by the loop in apply_after().  The conntrack watcher reads
 * n->applied itself (borrowed, on the loop: the worker only reads it)
 * and is told of every change.
 *
 * An entry-only change (delta.h) goes in place instead: the worker plans
 * it against n->applied (read only) and sends its elements alone; the
 * loop patches n->applied and tells the watcher (apply_after); a second
 * turn of the worker writes the cache from n->applied, which nobody
 * changes meanwhile because the job is still set. */
enum { STAGE_APPLY, STAGE_CACHE };
typedef struct apply_job {
	uv_work_t req;
	px_node_t *n;
	bool snapshot, rebuild, fell_back;
	bool in_place;          /* delta holds the change, target unused */
	bool save_only;         /* state_retry: write n->applied, no kernel */
	int stage;
	px_delta_t delta;
	uint64_t started_ns, work_ns, cache_ns; /* uv_hrtime() */
	struct Phalanx__Envelope **envs;
	size_t nenvs;
	uint64_t version, epoch;
	px_policy_t target;
	int refused;            /* assembling failed: nothing applied */
	uint32_t refused_part;
	char refused_why[160];  /* validation's reason, "" for others */
	int rc, cache_rc;
	px_state_stats_t sst;
	px_nft_stats_t st;
} apply_job_t;

static void set_health(px_node_t *n, int health, const char *detail)
{
	if (n->health != health || strcmp(n->detail, detail) != 0)
		px_log(health ? PX_LOG_WARN : PX_LOG_INFO, "health: %s%s%s",
		       health == 0 ? "ok" : health == 1 ? "degraded" : "failed",
		       detail[0] ? ": " : "", detail);
	n->health = health;
	snprintf(n->detail, sizeof(n->detail), "%s", detail);
}

/* The health the member has without a transient trouble: degraded while
 * the kernel holds a kept table or the guard, or while the store is
 * lost; ok otherwise. */
static void health_settle(px_node_t *n)
{
	if (n->kernel_unknown)
		set_health(n, 1, n->state_detail);
	else if (n->store_lost)
		set_health(n, 1, "store lost");
	else if (n->state_behind)
		set_health(n, 1, "state not written: the kernel holds a newer "
			   "version than a restart would restore");
	else
		set_health(n, 0, "");
}

void px_node_state_unknown(px_node_t *n)
{
	health_settle(n);
}

/* The kernel holds the policy of the store again: the guard or the kept
 * table is gone, and so is the reason to be degraded. */
static void state_known(px_node_t *n)
{
	if (!n->kernel_unknown)
		return;
	px_log(PX_LOG_INFO, "table inet %s rebuilt at version %llu from the "
	       "store: local state trouble over", n->o.table,
	       (unsigned long long)n->applied.version);
	if (n->state_unusable)
		px_alerting_observe(n, "state-unusable", NULL, 0, 0, false,
				    "a snapshot from the store was applied: "
				    "the kernel holds the array policy again");
	n->kernel_unknown = n->state_unusable = false;
	n->state_detail[0] = '\0';
	health_settle(n);
}

/* Whether a part before envs[i]'s k-th set operation touched set. */
static bool touched_before(Phalanx__Envelope *const *envs, size_t i,
			   size_t k, const char *set)
{
	for (size_t a = 0; a <= i; a++) {
		const Phalanx__Change *c = envs[a]->change;

		for (size_t b = 0; b < (a < i ? c->n_sets : k); b++)
			if (strcmp(c->sets[b]->set, set) == 0)
				return true;
	}
	return false;
}

/* The sets a change's parts touched, each once, in the policy they made:
 * entry counts, order and overlaps (O(entries of those sets); a 1M
 * import is 123 parts of one set, checked once, not 123 times).  A
 * refusal names the first part that touched the set. */
static int change_sets_acceptable(const px_policy_t *p, apply_job_t *j)
{
	for (size_t i = 0; i < j->nenvs; i++) {
		const Phalanx__Change *c = j->envs[i]->change;

		for (size_t k = 0; k < c->n_sets; k++) {
			const char *name = c->sets[k]->set;
			const px_set_t *s = px_policy_find(p, name);
			int rc;

			if (!s || touched_before(j->envs, i, k, name))
				continue;
			rc = px_policy_validate_set(s, j->refused_why,
						    sizeof(j->refused_why));
			if (rc < 0) {
				j->refused_part = c->part;
				return rc;
			}
		}
	}
	return 0;
}

/* The state's write of a whole apply, on a thread of its own: written
 * while the kernel loads, committed once the kernel took it. */
typedef struct {
	px_node_t *n;
	apply_job_t *j;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kernel_done;
	int kernel_rc, rc;
} state_write_t;

static int kernel_verdict(void *arg)
{
	state_write_t *w = arg;
	int rc;

	pthread_mutex_lock(&w->mu);
	while (!w->kernel_done)
		pthread_cond_wait(&w->cv, &w->mu);
	rc = w->kernel_rc;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void *state_write(void *arg)
{
	state_write_t *w = arg;
	px_state_gate_t gate = { kernel_verdict, w };

	/* The state's delta base is what the kernel held before. */
	w->rc = px_state_save_gated(w->n->state, &w->n->applied, &w->j->target,
				    &gate, &w->j->sst);
	return NULL;
}

/* The kernel part of an apply: any thread, as long as it alone uses
 * n->nft and nobody changes n->applied meanwhile.  The state is written
 * at the same time by a second thread (both only read applied and
 * target), which commits only once the kernel took the version and
 * aborts if it did not: a 1M-entry import's LMDB write (1-2 s) no longer
 * waits for its kernel batch (2-6 s). */
static void apply_kernel(px_node_t *n, apply_job_t *j)
{
	state_write_t w = { .n = n, .j = j };
	pthread_t th;
	bool threaded = false;

	if (n->state) {
		pthread_mutex_init(&w.mu, NULL);
		pthread_cond_init(&w.cv, NULL);
		threaded = pthread_create(&th, NULL, state_write, &w) == 0;
	}
	memset(&j->st, 0, sizeof(j->st));
	j->rc = px_nft_apply(n->nft, j->rebuild ? NULL : &n->applied,
			     &j->target, &j->st);
	if (j->rc == PX_EKERNEL && !j->rebuild) {
		j->fell_back = true;
		j->rc = px_nft_apply(n->nft, NULL, &j->target, &j->st);
	}
	if (threaded) {
		pthread_mutex_lock(&w.mu);
		w.kernel_rc = j->rc;
		w.kernel_done = true;
		pthread_cond_signal(&w.cv);
		pthread_mutex_unlock(&w.mu);
		pthread_join(th, NULL);
	} else if (n->state && j->rc == 0) {
		w.kernel_done = true;
		state_write(&w);
	}
	if (n->state) {
		pthread_cond_destroy(&w.cv);
		pthread_mutex_destroy(&w.mu);
	}
	/* A version the kernel refused was not written: nothing to say. */
	j->cache_rc = j->rc == 0 ? w.rc : 0;
}

/* After n->applied became the kernel's policy, by either path. */
static void applied_after(px_node_t *n, const apply_job_t *j)
{
	/* Not kept until the state holds it: a restart would restore the
	 * older version.  Not acknowledged; written again on the tick. */
	n->state_behind = j->cache_rc < 0;
	if (!n->state_behind)
		n->kept_version = n->applied.version;
	if (j->cache_rc < 0)
		px_log(PX_LOG_ERR, "state %s not written: %s (kernel holds "
		       "version %llu, not acknowledged until the state has "
		       "it too)", n->o.state_dir, px_strerror(j->cache_rc),
		       (unsigned long long)n->applied.version);
	else if (n->state && !j->sst.skipped)
		px_log(PX_LOG_INFO, "state: version %llu written (%s): +%llu "
		       "-%llu entry records, %.1f ms",
		       (unsigned long long)n->applied.version,
		       j->sst.full ? "all" : "delta",
		       (unsigned long long)j->sst.puts,
		       (unsigned long long)j->sst.dels, j->sst.usec / 1000.0);
	if (n->state_behind ||
	    (n->health && (strncmp(n->detail, "apply", 5) == 0 ||
			   strstr(n->detail, "refused before apply") ||
			   strncmp(n->detail, "state not written", 17) == 0)))
		health_settle(n);
	state_known(n);
	px_vrrp_applied(n, 0);
}

/* The loop's part: make target the applied policy, or report. */
static int apply_finish(px_node_t *n, apply_job_t *j)
{
	px_policy_t *target = &j->target;

	if (j->fell_back)
		px_log(PX_LOG_WARN, "version %llu: kernel check failed, "
		       "rebuilt the table", (unsigned long long)target->version);
	if (j->rc < 0) {
		char d[200];

		snprintf(d, sizeof(d), "apply of version %llu failed: %s",
			 (unsigned long long)target->version,
			 px_strerror(j->rc));
		px_log(PX_LOG_ERR, "%s; kernel keeps version %llu", d,
		       (unsigned long long)n->applied.version);
		set_health(n, 1, d);
		n->failed_version = target->version ? target->version :
				    j->version;
		n->rebuild_next = true;
		px_vrrp_applied(n, j->rc);
		return j->rc;
	}
	/* Timings: kernel is px_nft_apply() (plan, diff, encode, commit);
	 * worker adds the copy, assembly, validation and cache; in all is
	 * from the hand-over to the worker (0 for a startup apply). */
	px_log(PX_LOG_INFO, "applied version %llu%s: +%llu -%llu elements, "
	       "%u messages, %zu bytes, %.1f ms (worker %.1f ms, %.1f ms in "
	       "all)", (unsigned long long)target->version,
	       j->rebuild ? " (rebuild)" : "",
	       (unsigned long long)j->st.elems_added,
	       (unsigned long long)j->st.elems_deleted, j->st.messages,
	       j->st.batch_bytes, j->st.usec / 1000.0, j->work_ns / 1e6,
	       j->started_ns ? (uv_hrtime() - j->started_ns) / 1e6 : 0.0);
	px_policy_free(&n->applied);
	n->applied = *target;
	memset(target, 0, sizeof(*target));
	n->seq.applied = n->applied.version;
	n->failed_version = 0;
	n->rebuild_next = false;
	if (n->watcher)
		px_watcher_policy(n->watcher, &n->applied);
	applied_after(n, j);
	return 0;
}

/* The loop's part of an in-place apply, once the cache is written:
 * n->applied already holds the change (apply_after). */
static void in_place_finish(px_node_t *n, apply_job_t *j)
{
	px_log(PX_LOG_INFO, "applied version %llu: +%llu -%llu elements, "
	       "%u messages, %zu bytes, %.1f ms (in place: worker %.1f ms, "
	       "cache %.1f ms, %.1f ms in all)",
	       (unsigned long long)n->applied.version,
	       (unsigned long long)j->st.elems_added,
	       (unsigned long long)j->st.elems_deleted, j->st.messages,
	       j->st.batch_bytes, j->st.usec / 1000.0, j->work_ns / 1e6,
	       j->cache_ns / 1e6, (uv_hrtime() - j->started_ns) / 1e6);
	n->seq.applied = n->applied.version;
	n->failed_version = 0;
	applied_after(n, j);
}

int px_node_apply(px_node_t *n, px_policy_t *target, bool rebuild)
{
	apply_job_t j;
	int rc;

	memset(&j, 0, sizeof(j));
	j.n = n;
	j.target = *target;
	/* The kernel holds something else than `applied' (main.c): a diff
	 * against it would be wrong. */
	j.rebuild = rebuild || n->kernel_unknown;
	apply_kernel(n, &j);
	rc = apply_finish(n, &j);
	if (rc == 0)
		memset(target, 0, sizeof(*target));
	return rc;
}

bool px_node_applying(const px_node_t *n)
{
	return n->apply_job != NULL;
}

/* Worker: the policy of the collected parts or chunks. */
static int assemble(px_node_t *n, apply_job_t *j)
{
	size_t i, bad = 0;
	int rc = 0;

	if (!j->snapshot)
		px_policy_copy(&j->target, &n->applied);
	for (i = 0; i < j->nenvs && rc == 0; i++) {
		if (j->snapshot) {
			const Phalanx__SnapshotChunk *c = j->envs[i]->snapshot_chunk;

			rc = px_policy_apply_chunk(&j->target, c);
			j->refused_part = c->seq;
			continue;
		}
		const Phalanx__Change *c = j->envs[i]->change;

		rc = px_policy_apply_setops(&j->target, c->sets, c->n_sets, &bad);
		if (rc == 0)
			rc = px_policy_apply_limitops(&j->target, c->limits,
						      c->n_limits);
		if (rc == 0)
			rc = px_policy_apply_lists(&j->target, c->rules_set,
						   c->rules, c->n_rules,
						   c->services_set, c->services,
						   c->n_services);
		if (rc == 0)
			rc = px_policy_apply_protection(&j->target,
							c->protection,
							j->refused_why,
							sizeof(j->refused_why));
		j->refused_part = c->part;
	}
	if (j->snapshot)
		j->target.epoch = j->epoch;
	else
		j->target.version = j->version;
	/* Hostile input is checked before any batch is built from it: a
	 * snapshot whole, a change's touched sets once each, the rest
	 * shallowly. */
	if (rc == 0 && !j->snapshot)
		rc = change_sets_acceptable(&j->target, j);
	if (rc == 0)
		rc = j->snapshot ?
		     px_policy_validate(&j->target, j->refused_why,
					sizeof(j->refused_why)) :
		     px_policy_validate_shallow(&j->target, j->refused_why,
						sizeof(j->refused_why));
	return rc;
}

static void envs_free(apply_job_t *j)
{
	size_t i;

	for (i = 0; i < j->nenvs; i++)
		px_wire_free(j->envs[i]);
	free(j->envs);
	j->envs = NULL;
	j->nenvs = 0;
}

/* Worker: an entry-only change planned against n->applied and sent as
 * its elements alone.  False if the change is not one (or the kernel
 * refused the elements): the whole path runs instead, from the same
 * parts. */
static bool apply_in_place(px_node_t *n, apply_job_t *j)
{
	px_nft_elems_t *e;
	int rc;

	if (j->snapshot || j->rebuild || px_nft_rules_pending(n->nft) ||
	    !px_delta_entry_only(j->envs, j->nenvs))
		return false;
	rc = px_delta_plan(&n->applied, j->envs, j->nenvs, &j->delta,
			   &j->refused_part, j->refused_why,
			   sizeof(j->refused_why));
	if (rc == 1)
		return false;
	if (rc < 0) {
		j->refused = rc;
		return true;
	}
	e = xcalloc(j->delta.n ? j->delta.n : 1, sizeof(*e));
	for (size_t i = 0; i < j->delta.n; i++)
		e[i] = (px_nft_elems_t){ j->delta.v[i].set, &j->delta.v[i].add,
					 &j->delta.v[i].del };
	j->rc = px_nft_apply_elems(n->nft, e, j->delta.n, &j->st);
	free(e);
	if (j->rc == -ENFILE)
		px_log(PX_LOG_INFO, "version %llu: a set would outgrow its "
		       "kernel size; applying the whole policy, which makes "
		       "it again, bigger", (unsigned long long)j->version);
	else if (j->rc < 0)
		px_log(PX_LOG_WARN, "version %llu: in-place apply refused: %s; "
		       "applying the whole policy", (unsigned long long)j->version,
		       px_strerror(j->rc));
	if (j->rc < 0) {
		px_delta_free(&j->delta);
		j->rc = 0;
		return false;
	}
	j->in_place = true;
	/* The state follows in the same worker: applied is still the
	 * version before (the loop changes it only after the job). */
	if (n->state) {
		uint64_t t0 = uv_hrtime();

		j->cache_rc = px_state_save_delta(n->state, &n->applied,
						  j->version, &j->delta, &j->sst);
		j->cache_ns = uv_hrtime() - t0;
	}
	return true;
}

static void apply_job(uv_work_t *req)
{
	apply_job_t *j = req->data;
	px_node_t *n = j->n;
	uint64_t t0 = uv_hrtime();

	if (j->stage == STAGE_CACHE) {
		/* The state did not hold the version before: all of it. */
		j->cache_rc = n->state ? px_state_save(n->state, NULL,
						       &n->applied, &j->sst) : 0;
		j->cache_ns = uv_hrtime() - t0;
		return;
	}
	if (apply_in_place(n, j)) {
		envs_free(j);
		j->work_ns = uv_hrtime() - t0;
		return;
	}
	j->refused = assemble(n, j);
	/* Freed here: a 1M-entry version is a million small allocations,
	 * 160 ms of free() that the loop need not spend. */
	envs_free(j);
	if (j->refused < 0)
		return;
	apply_kernel(n, j);
	j->work_ns = uv_hrtime() - t0;
}

/* LMDB keeps every page a write transaction dirtied in a malloc'd list of
 * its own until the environment closes (~50 MB after a 1M import, all
 * RssAnon): after RELEASE_RECORDS entry records written, the state is
 * closed and opened again, here in the worker (15-53 ms after a 2M
 * write, t_member_state's logs), never on the loop, which does not use
 * the state while a job is set. */
#define RELEASE_RECORDS 65536

static void apply_work(uv_work_t *req)
{
	apply_job_t *j = req->data;

	apply_job(req);
	if (j->n->state)
		px_state_release(j->n->state, RELEASE_RECORDS);
}

static void on_inq_idle(uv_idle_t *h);
static void request_snapshot(px_node_t *n, const char *why);
static void store_leader_hint(px_node_t *n, const char *ep);
static void send_heartbeat(px_node_t *n);
static void send_ack(px_node_t *n);

static void job_free(apply_job_t *j)
{
	envs_free(j);
	px_delta_free(&j->delta);
	px_policy_free(&j->target);
	free(j);
}

/* A state write that failed is tried again this often (a whole save:
 * seconds for millions of entries). */
#define STATE_RETRY_MS 10000

static void apply_after(uv_work_t *req, int status);

static void save_only_after(px_node_t *n, apply_job_t *j)
{
	n->apply_job = NULL;
	if (j->cache_rc == 0) {
		n->state_behind = false;
		n->kept_version = n->applied.version;
		px_log(PX_LOG_INFO, "state %s: version %llu written (%.1f ms) "
		       "after the earlier failure: acknowledged",
		       n->o.state_dir, (unsigned long long)n->applied.version,
		       j->sst.usec / 1000.0);
		health_settle(n);
		send_ack(n);
	} else {
		px_log(PX_LOG_ERR, "state %s still not written: %s (version "
		       "%llu not acknowledged; next try in %d s)",
		       n->o.state_dir, px_strerror(j->cache_rc),
		       (unsigned long long)n->applied.version,
		       STATE_RETRY_MS / 1000);
	}
	job_free(j);
	if (!n->stopping && n->inq_n)
		uv_idle_start(&n->inq_idle, on_inq_idle);
}

/* On the tick: write the state of n->applied again in the worker, as an
 * apply job (nothing changes n->applied meanwhile). */
static void state_retry(px_node_t *n, uint64_t now)
{
	apply_job_t *j;

	if (!n->state_behind || !n->state || n->apply_job ||
	    now - n->state_retry_ms < STATE_RETRY_MS)
		return;
	n->state_retry_ms = now;
	j = xcalloc(1, sizeof(*j));
	j->n = n;
	j->save_only = true;
	j->stage = STAGE_CACHE;
	/* version 0: the heartbeat says "applying" nothing new; target
	 * stays zeroed (an empty policy to free). */
	j->started_ns = uv_hrtime();
	n->apply_job = j;
	j->req.data = j;
	if (uv_queue_work(n->loop, &j->req, apply_work, apply_after) != 0) {
		apply_work(&j->req);
		apply_after(&j->req, 0);
	}
}

static void apply_after(uv_work_t *req, int status)
{
	apply_job_t *j = req->data;
	px_node_t *n = j->n;
	bool acked = false;
	char why[400];

	/* Never cancelled (nothing calls uv_cancel): status is 0. */
	(void)status;
	if (j->save_only) {
		save_only_after(n, j);
		return;
	}
	if (j->in_place && j->stage == STAGE_APPLY) {
		/* The kernel holds the change: so does applied from now on,
		 * and the cache is written from it by the worker while the
		 * job stays set (nobody changes applied meanwhile). */
		px_delta_apply(&n->applied, &j->delta);
		n->applied.version = j->version;
		if (n->watcher)
			px_watcher_policy_patched(n->watcher);
		j->stage = STAGE_CACHE;
		if (j->cache_rc == PX_ESTATE) {
			if (uv_queue_work(n->loop, &j->req, apply_work,
					  apply_after) == 0)
				return;
			apply_work(&j->req);
		}
	}
	n->apply_job = NULL;
	if (j->refused < 0 && j->snapshot) {
		snprintf(why, sizeof(why), "snapshot of version %llu refused "
			 "before apply: %s%s%s", (unsigned long long)j->version,
			 px_strerror(j->refused), j->refused_why[0] ? ": " : "",
			 j->refused_why);
		px_log(PX_LOG_ERR, "%s (chunk %u); kernel keeps version %llu",
		       why, j->refused_part,
		       (unsigned long long)n->applied.version);
		set_health(n, 1, why);
		n->failed_version = j->version;
		/* The store's policy cannot be enforced here: not ready. */
		px_vrrp_applied(n, j->refused);
	} else if (j->refused < 0) {
		snprintf(why, sizeof(why), "version %llu part %u refused "
			 "before apply: %s%s%s", (unsigned long long)j->version,
			 j->refused_part, px_strerror(j->refused),
			 j->refused_why[0] ? ": " : "", j->refused_why);
		n->failed_version = j->version;
		request_snapshot(n, why);
	} else if (j->in_place) {
		in_place_finish(n, j);
		if (!n->state_behind) {
			send_ack(n);
			acked = true;
		}
		px_seq_done(&n->seq, false);
	} else {
		if (j->snapshot && j->target.version < n->applied.version)
			px_log(PX_LOG_WARN, "snapshot version %llu is older "
			       "than the applied %llu: taking the store's word",
			       (unsigned long long)j->target.version,
			       (unsigned long long)n->applied.version);
		/* In the kernel and the cache: the store hears it now
		 * (a --wait is answered on it). */
		if (apply_finish(n, j) == 0 && !n->state_behind) {
			send_ack(n);
			acked = true;
		}
		/* A change's version stayed pending in seq until now;
		 * apply_finish set seq.applied on success. */
		if (!j->snapshot)
			px_seq_done(&n->seq, false);
	}
	job_free(j);
	/* An applied version is acknowledged at once (the ack answers a
	 * --wait); a refusal or failure changes the member's health, which
	 * the store hears at once too. */
	if (!acked)
		send_heartbeat(n);
	if (!n->stopping && n->inq_n)
		uv_idle_start(&n->inq_idle, on_inq_idle);
}

static void collect_drop(px_node_t *n)
{
	size_t i;

	for (i = 0; i < n->ncollect; i++)
		px_wire_free(n->collect[i]);
	n->ncollect = 0;
}

/* Keep env as the next part or chunk; false if there are too many. */
static bool collect(px_node_t *n, Phalanx__Envelope *env)
{
	if (n->ncollect == COLLECT_MAX)
		return false;
	if (n->ncollect == n->collect_cap) {
		n->collect_cap = n->collect_cap ? 2 * n->collect_cap : 16;
		n->collect = xrealloc(n->collect,
				      n->collect_cap * sizeof(*n->collect));
	}
	n->collect[n->ncollect++] = env;
	return true;
}

/* Hand the collected parts (or a snapshot's chunks) of version to the
 * worker.  Only one apply runs at a time: the callers run only with
 * none in flight (changes and chunks wait in inq meanwhile). */
static void apply_start(px_node_t *n, bool snapshot, uint64_t version)
{
	apply_job_t *j = xcalloc(1, sizeof(*j));
	int rc;

	j->n = n;
	j->req.data = j;
	j->snapshot = snapshot;
	/* The kernel holds a kept table or the guard (main.c), not
	 * n->applied: a diff against it would be wrong. */
	j->rebuild = n->kernel_unknown || n->rebuild_next;
	j->version = version;
	j->epoch = n->epoch;
	j->started_ns = uv_hrtime();
	j->envs = n->collect;
	j->nenvs = n->ncollect;
	n->collect = NULL;
	n->ncollect = n->collect_cap = 0;
	/* target stays zeroed: an empty policy to free, and what
	 * px_policy_copy() and the first chunk expect. */
	n->apply_job = j;
	rc = uv_queue_work(n->loop, &j->req, apply_work, apply_after);
	if (rc < 0) {
		/* Only with a bad argument; apply on the loop rather than
		 * lose the version. */
		px_log(PX_LOG_WARN, "thread pool: %s; applying version %llu "
		       "on the loop", uv_strerror(rc),
		       (unsigned long long)version);
		apply_work(&j->req);
		apply_after(&j->req, 0);
		return;
	}
	/* The store learns at once that this member is busy, not gone. */
	send_heartbeat(n);
}

int px_sync_send(px_node_t *n, Phalanx__Envelope *env)
{
	if (!n->sync)
		return -ENOTCONN;
	env->epoch = n->epoch;
	return px_wire_send(n->sync, NULL, env);
}

static bool send_env(px_node_t *n, Phalanx__Envelope *env)
{
	int rc = px_sync_send(n, env);

	/* EAGAIN: ZMQ_IMMEDIATE and no store connected; the next tick
	 * tries again, nothing to queue. */
	if (rc < 0 && rc != -EAGAIN)
		px_log(PX_LOG_WARN, "send to store: %s", px_strerror(rc));
	return rc == 0;
}

static void on_snap_retry(uv_timer_t *t)
{
	px_node_t *n = t->data;

	if (n->snapping && !n->snap_sent)
		request_snapshot(n, "store not connected yet, asking again");
}

static void request_snapshot(px_node_t *n, const char *why)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__SnapshotRequest req = PHALANX__SNAPSHOT_REQUEST__INIT;

	if (!n->snapping || n->snap_sent)
		px_log(PX_LOG_INFO, "requesting a snapshot: %s", why);
	else
		px_log(PX_LOG_DEBUG, "requesting a snapshot: %s", why);
	px_policy_free(&n->snap);
	collect_drop(n);
	n->snapping = true;
	n->snap_next = 0;
	n->snap_started_ms = px_mono_ms();
	px_policy_free(&n->pending);
	px_seq_done(&n->seq, false);
	req.member = n->o.id;
	env.epoch = n->epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_REQUEST;
	env.snapshot_request = &req;
	n->snap_sent = send_env(n, &env);
	/* Not connected yet (ZMQ_IMMEDIATE): ask again shortly rather than
	 * at the next tick, so a starting member syncs at once. */
	if (!n->snap_sent)
		uv_timer_start(&n->snap_retry, on_snap_retry, 100, 0);
}

static void send_ack(px_node_t *n)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__Ack ack = PHALANX__ACK__INIT;

	ack.member = n->o.id;
	ack.applied_version = n->applied.version;
	env.epoch = n->epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	send_env(n, &env);
}

/* Quota activity for the heartbeat: the watcher's quotas here, the
 * kernel's from its named counters (quota_kernel). */
typedef struct {
	Phalanx__QuotaCount qv[PX_LIM_COUNT], *qp[PX_LIM_COUNT];
	ProtobufCBinaryData bins[PX_LIM_COUNT][PX_QUOTA_RECENT];
	uint8_t buf[PX_LIM_COUNT][PX_QUOTA_RECENT][PX_ENTRY_WIRE_MAX];
	uint64_t blocked[PX_LIM_COUNT], would[PX_LIM_COUNT];
	px_entry_t src[PX_LIM_COUNT][PX_QUOTA_RECENT];
	size_t nsrc[PX_LIM_COUNT];
} quota_report_t;

static void quota_watcher(px_node_t *n, quota_report_t *r)
{
	px_watcher_stats_t ws;
	int q;

	if (!n->watcher)
		return;
	px_watcher_stats(n->watcher, &ws);
	for (q = 0; q < PX_Q_COUNT; q++) {
		const px_quota_count_t *c = &ws.quota.q[q];
		int id = px_quota_limit_id(q);

		r->blocked[id] += c->blocked;
		r->would[id] += c->would_block;
		r->nsrc[id] = c->nrecent;
		memcpy(r->src[id], c->recent, c->nrecent * sizeof(px_entry_t));
	}
}

static void on_counter(const char *name, uint64_t packets, void *arg)
{
	quota_report_t *r = arg;
	size_t nw = strlen(PX_CTR_WOULD), nb = strlen(PX_CTR_BLOCKED);
	bool would = strncmp(name, PX_CTR_WOULD, nw) == 0;
	int id;

	if (!would && strncmp(name, PX_CTR_BLOCKED, nb) != 0)
		return;
	id = px_limit_find(name + (would ? nw : nb));
	if (id < 0)
		return;
	if (would)
		r->would[id] += packets;
	else
		r->blocked[id] += packets;
}

/* The block set of a kernel quota ("tcp_block"), NULL if it has none. */
static const char *block_set(int id)
{
	switch (id) {
	case PX_LIM_TCP_CONNECT_RATE: return PX_SET_TCP_BLOCK;
	case PX_LIM_HTTP_REQUEST_RATE: return PX_SET_HTTP_BLOCK;
	default: return NULL;
	}
}

static void add_sources(px_node_t *n, quota_report_t *r, int id,
			const char *kset)
{
	size_t got = 0, room = PX_QUOTA_RECENT - r->nsrc[id];

	if (room && px_nft_list_small(n->nft, kset, &r->src[id][r->nsrc[id]],
				      room, &got) == 0)
		r->nsrc[id] += got;
}

/* Counters of the kernel's quotas, and the sources in their block and
 * observe sets (small sets, bounded by the quota's own timeout). */
static void quota_kernel(px_node_t *n, quota_report_t *r)
{
	char kset[64];
	int id, fam;

	px_nft_counters(n->nft, "", on_counter, r);
	for (id = 0; id < PX_LIM_COUNT; id++) {
		if (!r->blocked[id] && !r->would[id])
			continue;
		for (fam = 4; fam <= 6; fam += 2) {
			if (block_set(id)) {
				snprintf(kset, sizeof(kset), "%s%d", block_set(id), fam);
				add_sources(n, r, id, kset);
			}
			snprintf(kset, sizeof(kset), "%s%s%d", PX_SET_OBS,
				 px_limit_defs[id].name, fam);
			add_sources(n, r, id, kset);
		}
	}
}

static void quota_report(px_node_t *n, quota_report_t *r,
			 Phalanx__Heartbeat *hb)
{
	int id;
	size_t j;

	memset(r, 0, sizeof(*r));
	quota_watcher(n, r);
	quota_kernel(n, r);
	for (id = 0; id < PX_LIM_COUNT; id++) {
		Phalanx__QuotaCount *c = &r->qv[hb->n_quotas];

		if (!r->blocked[id] && !r->would[id])
			continue;
		phalanx__quota_count__init(c);
		c->quota = (char *)px_limit_defs[id].name;
		c->blocked = r->blocked[id];
		c->would_block = r->would[id];
		for (j = 0; j < r->nsrc[id]; j++) {
			r->bins[id][j].data = r->buf[id][j];
			r->bins[id][j].len = px_entry_encode(&r->src[id][j],
							     r->buf[id][j]);
		}
		c->sources = r->bins[id];
		c->n_sources = r->nsrc[id];
		r->qp[hb->n_quotas++] = c;
	}
	hb->quotas = r->qp;
}

static void send_heartbeat(px_node_t *n)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__Heartbeat hb = PHALANX__HEARTBEAT__INIT;
	static quota_report_t report;
	static size_t report_n;

	hb.member = n->o.id;
	/* Applied is enforced and kept: while the state lags the kernel,
	 * the version a restart would come back with. */
	hb.applied_version = n->state_behind ? n->kept_version :
					       n->applied.version;
	hb.vrrp_role = (char *)px_vrrp_role(n);
	px_vrrp_addresses(&hb);
	hb.health = n->health;
	hb.detail = n->detail;
	hb.store_lost = n->store_lost;
	if (n->apply_job) {
		/* n->nft is the worker's: repeat the last quota report, and
		 * say what keeps the member busy. */
		hb.applying_version = n->apply_job->version;
		hb.quotas = report.qp;
		hb.n_quotas = report_n;
	} else {
		quota_report(n, &report, &hb);
		report_n = hb.n_quotas;
	}
	hb.ct_count = n->ct_count;
	hb.ct_max = n->ct_max;
	hb.failed_version = n->failed_version;
	env.epoch = n->epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	send_env(n, &env);
	n->heartbeat_sent_ms = px_mono_ms();
}

static void store_seen(px_node_t *n)
{
	n->store_seen_ms = px_mono_ms();
	if (n->store_lost) {
		n->store_lost = false;
		px_log(PX_LOG_INFO, "store is back; resyncing from version %llu",
		       (unsigned long long)n->applied.version);
		health_settle(n);
		/* Tell the store at once how we are (a member under the
		 * guard is degraded until the snapshot is applied). */
		send_heartbeat(n);
		/* A request sent while it was away went nowhere. */
		if (n->snapping)
			request_snapshot(n, "store is back");
	}
}

static void drop_held(px_node_t *n)
{
	size_t i;

	for (i = 0; i < n->nheld; i++)
		px_wire_free(n->held[i]);
	n->nheld = 0;
}

/* A part of a change: checked for sequence and kept (true) until its
 * version is complete, then handed to the worker with the others. */
static bool on_change(px_node_t *n, Phalanx__Envelope *env)
{
	const Phalanx__Change *c = env->change;
	char why[160];

	switch (px_seq_check(&n->seq, c->version, c->part, c->nparts)) {
	case PX_SEQ_IGNORE:
		return false;
	case PX_SEQ_GAP:
		snprintf(why, sizeof(why), "gap: at version %llu, got "
			 "version %llu part %u/%u",
			 (unsigned long long)n->applied.version,
			 (unsigned long long)c->version, c->part, c->nparts);
		request_snapshot(n, why);
		return false;
	case PX_SEQ_START:
		collect_drop(n);
		break;
	case PX_SEQ_CONTINUE:
		break;
	}
	if (!collect(n, env)) {
		snprintf(why, sizeof(why), "version %llu has more than %d "
			 "parts", (unsigned long long)c->version, COLLECT_MAX);
		request_snapshot(n, why);
		return false;
	}
	if (px_seq_complete(&n->seq))
		apply_start(n, false, c->version);
	return true;
}

static void inq_drop(px_node_t *n)
{
	while (n->inq_n) {
		px_wire_free(n->inq[n->inq_head]);
		n->inq_head = (n->inq_head + 1) % INQ_MAX;
		n->inq_n--;
	}
}

/* Changes held during a snapshot go back to the front of the queue, in
 * order, to be handled once the snapshot's apply is done: those it
 * already covers are ignored by the sequencing, the rest apply on top.
 * They arrived before anything still queued. */
static void replay_held(px_node_t *n)
{
	size_t k = n->nheld;

	if (n->inq_n + k > INQ_MAX) {
		px_log(PX_LOG_WARN, "%zu changes held during the snapshot and "
		       "%zu queued: more than %d; dropping them", k, n->inq_n,
		       INQ_MAX);
		drop_held(n);
		inq_drop(n);
		return;
	}
	while (k--) {
		n->inq_head = (n->inq_head + INQ_MAX - 1) % INQ_MAX;
		n->inq[n->inq_head] = n->held[k];
		n->inq_n++;
	}
	n->nheld = 0;
	if (!n->stopping)
		uv_idle_start(&n->inq_idle, on_inq_idle);
}

/* A snapshot chunk: kept (true) until the last, then all go to the
 * worker, which assembles and applies them. */
static bool on_chunk(px_node_t *n, Phalanx__Envelope *env)
{
	const Phalanx__SnapshotChunk *c = env->snapshot_chunk;

	if (!n->snapping || c->seq != n->snap_next) {
		/* Before chunk 0, other chunks are the tail of an earlier
		 * stream: ignore them rather than ask again for each. */
		if (n->snapping && n->snap_next > 0)
			request_snapshot(n, "snapshot chunk missing");
		return false;
	}
	if (!collect(n, env)) {
		request_snapshot(n, "snapshot has too many chunks");
		return false;
	}
	n->snap_next++;
	if (!c->last)
		return true;
	n->snapping = false;
	apply_start(n, true, c->version);
	/* Held changes wait behind the snapshot's apply, in order. */
	replay_held(n);
	return true;
}

/* A queued change or chunk, in arrival order.  Returns true if it kept
 * env (held during a snapshot, or collected). */
static bool dispatch(px_node_t *n, Phalanx__Envelope *env)
{
	if (env->body_case == PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK)
		return on_chunk(n, env);
	if (!n->snapping)
		return on_change(n, env);
	if (n->nheld == sizeof(n->held) / sizeof(n->held[0])) {
		/* Bounded: past this the heartbeat check resyncs. */
		px_log(PX_LOG_WARN, "more than %zu changes during a "
		       "snapshot: dropping them", n->nheld);
		drop_held(n);
	}
	n->held[n->nheld++] = env;
	return true;
}

/* Whether the change at the head of inq waits for a canary's verdict
 * (canary.h): then it and all behind it stay queued, in order. */
static bool inq_held(const px_node_t *n)
{
	const Phalanx__Envelope *env;

	if (!n->inq_n)
		return false;
	env = n->inq[n->inq_head];
	/* A member with no policy yet (version 0: the guard) takes the
	 * snapshot rather than refuse everything until the verdict. */
	if (env->body_case == PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK)
		return n->applied.version &&
		       px_canary_holds_snapshot(&n->canary, n->o.id,
						env->snapshot_chunk->version);
	return env->body_case == PHALANX__ENVELOPE__BODY_CHANGE &&
	       px_canary_holds(&n->canary, n->o.id, env->change->version,
			       env->change->canary);
}

/* The version at the head of inq (a change's or a snapshot's). */
static uint64_t inq_head_version(const px_node_t *n)
{
	const Phalanx__Envelope *env = n->inq[n->inq_head];

	return env->body_case == PHALANX__ENVELOPE__BODY_CHANGE ?
	       env->change->version : env->snapshot_chunk->version;
}

/* Queued messages in order, until t0 + INQ_SLICE_MS, none while an
 * apply runs (apply_after() starts the idle handle again) and none
 * while the head is held for a canary (canary_heard() starts it). */
static void inq_run(px_node_t *n, uint64_t t0)
{
	while (n->inq_n && !n->apply_job && !n->stopping && !inq_held(n) &&
	       px_mono_ms() - t0 < INQ_SLICE_MS) {
		Phalanx__Envelope *env = n->inq[n->inq_head];

		n->inq_head = (n->inq_head + 1) % INQ_MAX;
		n->inq_n--;
		if (!dispatch(n, env))
			px_wire_free(env);
	}
	if (inq_held(n) && inq_head_version(n) != n->canary_logged) {
		const Phalanx__Envelope *env = n->inq[n->inq_head];
		bool snap = env->body_case ==
			    PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;

		n->canary_logged = inq_head_version(n);
		if (snap && !n->canary.heard)
			px_log(PX_LOG_INFO, "version %llu (a snapshot): held "
			       "until a store heartbeat says whether a canary "
			       "is in progress",
			       (unsigned long long)n->canary_logged);
		else
			px_log(PX_LOG_INFO, "version %llu%s: held until the "
			       "store's verdict on canary %s",
			       (unsigned long long)n->canary_logged,
			       snap ? " (a snapshot)" : "", snap ?
			       n->canary.canary_member : env->change->canary);
	}
}

static void drain(px_node_t *n, void *sock);

/* Idle handle: the loop's slow work in slices, a turn at a time, so
 * that timers (heartbeats) and other sockets get their turn between:
 * the rest of a drain, then queued changes and chunks. */
static void on_inq_idle(uv_idle_t *h)
{
	px_node_t *n = h->data;
	int more = n->drain_more;

	n->drain_more = 0;
	if (more & DRAIN_SYNC)
		drain(n, n->sync);
	if (more & DRAIN_SUB)
		drain(n, n->sub);
	inq_run(n, px_mono_ms());
	if (!n->drain_more &&
	    (!n->inq_n || n->apply_job || n->stopping || inq_held(n)))
		uv_idle_stop(h);
}

static void inq_push(px_node_t *n, Phalanx__Envelope *env)
{
	if (n->inq_n == INQ_MAX) {
		px_log(PX_LOG_WARN, "%d changes and snapshot chunks queued "
		       "behind the apply of version %llu: dropping them",
		       INQ_MAX, n->apply_job ?
		       (unsigned long long)n->apply_job->version : 0ULL);
		inq_drop(n);
		request_snapshot(n, "change queue overflowed");
	}
	n->inq[(n->inq_head + n->inq_n) % INQ_MAX] = env;
	n->inq_n++;
	if (!n->stopping)
		uv_idle_start(&n->inq_idle, on_inq_idle);
}

/* A store heartbeat's word on the canary: changes held for one that it
 * settled go on.  True if the member is behind only by what it holds. */
static bool canary_heard(px_node_t *n, const Phalanx__StoreHeartbeat *hb)
{
	bool was_held = inq_held(n);

	px_canary_gate_heard(&n->canary, hb->version, hb->canary_version,
			     hb->canary_member);
	if (was_held && !inq_held(n)) {
		px_log(PX_LOG_INFO, "version %llu: the canary's verdict is in: "
		       "applying what was held",
		       (unsigned long long)inq_head_version(n));
		if (!n->stopping)
			uv_idle_start(&n->inq_idle, on_inq_idle);
	}
	return px_canary_behind_held(&n->canary, n->o.id, n->applied.version);
}

/* A store with another database: its versions say nothing about ours.
 * Take its snapshot, whatever its version. */
static void epoch_moved(px_node_t *n, uint64_t epoch)
{
	px_log(PX_LOG_WARN, "store epoch changed from %llu to %llu: a new "
	       "store database; resyncing from a snapshot",
	       (unsigned long long)n->epoch, (unsigned long long)epoch);
	n->epoch = epoch;
	n->seq.applied = 0;
	store_seen(n);
	request_snapshot(n, "new store epoch");
}

/* A message of a store with Raft (env->term set).  The stores share one
 * database and its versions: a move between them costs no snapshot, a
 * gap in the versions does (seq, heartbeats).  A term older than one
 * heard in the same epoch is a deposed leader's, or a store cut off
 * from the majority: ignored.  Another epoch is another database (the
 * array's first entry gives the stores theirs; a rebuilt array): its
 * snapshot, whatever its version.  False if env goes no further. */
static bool raft_heard(px_node_t *n, const Phalanx__Envelope *env)
{
	if (n->epoch && env->epoch == n->epoch && env->term < n->term) {
		px_refused(n->o.store, "a message of Raft term %llu, older than "
			   "term %llu heard already: a deposed leader's",
			   (unsigned long long)env->term,
			   (unsigned long long)n->term);
		return false;
	}
	if (env->term > n->term && n->term)
		px_log(PX_LOG_INFO, "store %s: Raft term %llu (was %llu)",
		       n->o.store, (unsigned long long)env->term,
		       (unsigned long long)n->term);
	n->term = env->term;
	if (n->epoch && env->epoch != n->epoch) {
		epoch_moved(n, env->epoch);
		return false;
	}
	return true;
}

/* Returns true if it kept env (the caller must not free it). */
static bool on_message(px_node_t *n, Phalanx__Envelope *env)
{
	if (env->term) {
		if (!raft_heard(n, env))
			return false;
	} else if (env->epoch < n->epoch) {
		px_refused(n->o.store, "a message of an older store epoch "
			   "(current epoch %llu)",
			   (unsigned long long)n->epoch);
		return false;
	} else if (n->epoch && env->epoch > n->epoch) {
		epoch_moved(n, env->epoch);
		return false;
	}
	n->epoch = env->epoch;
	store_seen(n);
	switch (env->body_case) {
	case PHALANX__ENVELOPE__BODY_CHANGE:
		n->behind_since_ms = 0;
		inq_push(n, env);
		return true;
	case PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK:
		inq_push(n, env);
		return true;
	case PHALANX__ENVELOPE__BODY_ALERT_ACK:
		px_alerting_ack(n, env->alert_ack);
		break;
	case PHALANX__ENVELOPE__BODY_BLOCK_LIST:
		px_blocks_in(n, env->block_list);
		break;
	case PHALANX__ENVELOPE__BODY_STORE_HEARTBEAT: {
		/* first: the readiness gate counts what is held as current */
		bool held = canary_heard(n, env->store_heartbeat);

		px_alerting_store_heartbeat(n, env->store_heartbeat);
		px_vrrp_store_heartbeat(n, env->store_heartbeat);
		store_leader_hint(n, env->store_heartbeat->leader_endpoint);
		if (held) {
			/* Holding for a canary in progress: not lost. */
			n->behind_since_ms = 0;
		} else if (env->store_heartbeat->version < n->applied.version &&
		    !n->snapping) {
			char why[96];

			/* Same epoch, yet the store is behind us: it lost
			 * data.  Its word is the policy. */
			snprintf(why, sizeof(why), "store is at version %llu, "
				 "below the applied %llu",
				 (unsigned long long)env->store_heartbeat->version,
				 (unsigned long long)n->applied.version);
			n->seq.applied = 0;
			request_snapshot(n, why);
		} else if (!px_seq_behind(&n->seq, env->store_heartbeat->version) ||
		    n->snapping || n->apply_job || n->inq_n) {
			/* Busy applying, or the changes are queued behind
			 * an apply: not lost. */
			n->behind_since_ms = 0;
		} else if (!n->behind_since_ms) {
			n->behind_since_ms = px_mono_ms();
		} else if (px_mono_ms() - n->behind_since_ms > BEHIND_GRACE_MS) {
			char why[96];

			snprintf(why, sizeof(why), "store is at version %llu, "
				 "member at %llu",
				 (unsigned long long)env->store_heartbeat->version,
				 (unsigned long long)n->applied.version);
			n->behind_since_ms = 0;
			request_snapshot(n, why);
		}
		break;
	}
	default:
		px_log(PX_LOG_WARN, "refused a message of type %d from the store",
		       env->body_case);
	}
	return false;
}

/* ZMQ_FD is edge-triggered: on every wake, read until ZMQ_EVENTS says
 * there is nothing more, or the next edge may never come.  Bounded: past
 * DRAIN_SLICE_MS (a 1M-entry version is 123 parts of a few ms each to
 * unpack) the idle handle goes on reading next turn. */
static void drain(px_node_t *n, void *sock)
{
	uint64_t t0 = px_mono_ms();

	for (;;) {
		Phalanx__Envelope *env;
		int events = 0;
		size_t sz = sizeof(events);
		int rc;

		if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) < 0 ||
		    !(events & ZMQ_POLLIN))
			return;
		if (px_mono_ms() - t0 >= DRAIN_SLICE_MS && !n->stopping) {
			n->drain_more |= sock == n->sync ? DRAIN_SYNC : DRAIN_SUB;
			uv_idle_start(&n->inq_idle, on_inq_idle);
			return;
		}
		rc = px_wire_recv(sock, ZMQ_DONTWAIT, NULL, &env);
		if (rc == -EAGAIN)
			return;
		if (rc < 0)
			continue; /* refused and logged by px_wire_recv */
		if (!on_message(n, env))
			px_wire_free(env);
	}
}

static void on_sync(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	drain(h->data, ((px_node_t *)h->data)->sync);
}

static void on_sub(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	drain(h->data, ((px_node_t *)h->data)->sub);
}

/* The store refusing our key (not enrolled, revoked) or not holding the
 * pinned key fails the CURVE handshake; ZeroMQ retries quietly, so the
 * monitor says it in the log, once each time it changes. */
static void *monitor_open(px_node_t *n, void *sock, const char *ep)
{
	void *mon = NULL;

	if (zmq_socket_monitor(sock, ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
			       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
			       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
			       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0 ||
	    !(mon = zmq_socket(n->zctx, ZMQ_PAIR)) ||
	    zmq_connect(mon, ep) < 0) {
		px_log(PX_LOG_WARN, "socket monitor %s: %s: handshake failures "
		       "with the store are not logged", ep,
		       zmq_strerror(errno));
		if (mon)
			zmq_close(mon);
		return NULL;
	}
	return mon;
}

/* Read the events of one monitor (bounded: a turn's worth). */
static void monitor_read(px_node_t *n, void *mon)
{
	zmq_msg_t m;
	uint16_t ev;
	int i;

	for (i = 0; mon && i < 64; i++) {
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		ev = 0;
		if (zmq_msg_size(&m) >= 2)
			memcpy(&ev, zmq_msg_data(&m), 2);
		while (zmq_msg_more(&m)) {
			zmq_msg_close(&m);
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, mon, 0) < 0)
				break;
		}
		zmq_msg_close(&m);
		if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && n->store_refused) {
			n->store_refused = false;
			px_log(PX_LOG_INFO, "store %s accepts our key again",
			       n->o.store);
		} else if (ev && ev != ZMQ_EVENT_HANDSHAKE_SUCCEEDED &&
			   !n->store_refused) {
			n->store_refused = true;
			px_log(PX_LOG_ERR, "store %s refused the handshake (%s): "
			       "our key is not enrolled or was revoked "
			       "(`phalanxctl members enroll %s KEY'), or the "
			       "store's key is not the one --store-key pins",
			       n->o.store,
			       ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ?
			       "authentication failed" : "CURVE failed",
			       n->o.id);
		}
	}
}

/* --store a,b,c (issue 9: every store of a Raft array).  Every store
 * applies the committed writes and publishes them, so a member follows
 * any one: the first, and the next when the one it follows is silent
 * for the store timeout.  One node per process: file state. */
#define STORES_MAX 8
static struct {
	char base[STORES_MAX][256];
	size_t n, cur;
	uint64_t switched_ms;
	size_t hint, hints;  /* the leader the heartbeats name, how often */
} stores;

static void stores_parse(const char *list)
{
	const char *p = list;

	stores.n = 0;
	while (*p && stores.n < STORES_MAX) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len && len < sizeof(stores.base[0])) {
			memcpy(stores.base[stores.n], p, len);
			stores.base[stores.n++][len] = '\0';
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!stores.n)
		snprintf(stores.base[stores.n++], sizeof(stores.base[0]), "%s",
			 list);
	stores.cur = 0;
}

static void store_reconnect(px_node_t *n, void *s, int which,
			    const char *from, const char *to)
{
	const char *key = px_store_key_for(n->o.store_pubs, n->o.nstore_pubs,
					   stores.cur);
	char ep[300];

	px_endpoint(from, which, ep, sizeof(ep));
	zmq_disconnect(s, ep);
	px_endpoint(to, which, ep, sizeof(ep));
	/* Each store its own key: pinned for the connection made next. */
	if (key && zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, key,
				  PX_KEY_Z85_LEN + 1) < 0)
		px_log(PX_LOG_ERR, "CURVE key of store %s: %s", to,
		       zmq_strerror(errno));
	if (zmq_connect(s, ep) < 0)
		px_log(PX_LOG_ERR, "connect %s: %s", ep, zmq_strerror(errno));
}

/* Follow store `to' of the list.  Its epoch may be another number (each
 * store's database has its own): forget ours and take its snapshot; the
 * versions are the same on every store. */
static void store_follow(px_node_t *n, size_t to, uint64_t now)
{
	size_t from = stores.cur;

	stores.cur = to;
	stores.switched_ms = now;
	stores.hints = 0;
	store_reconnect(n, n->sync, PX_EP_SYNC, stores.base[from],
			stores.base[stores.cur]);
	store_reconnect(n, n->sub, PX_EP_PUB, stores.base[from],
			stores.base[stores.cur]);
	if (n->term && n->epoch) {
		/* Raft's stores share one database and its versions: the
		 * new store's change stream goes on from ours.  A gap in
		 * it, or its heartbeat ahead of us past the grace, asks
		 * for a snapshot (on_message); another epoch too. */
		px_log(PX_LOG_INFO, "following store %s from version %llu "
		       "(epoch %llu)", stores.base[stores.cur],
		       (unsigned long long)n->applied.version,
		       (unsigned long long)n->epoch);
		return;
	}
	n->epoch = 0;
	request_snapshot(n, "another store followed");
	/* The request may have gone down the old connection as it closed:
	 * ask again on the next tick, once the new one is up (ZMQ_IMMEDIATE
	 * holds it until then). */
	n->snap_sent = false;
}

/* The store followed is silent: follow the next one. */
static void store_switch(px_node_t *n, uint64_t now)
{
	px_log(PX_LOG_WARN, "store %s silent for %llu ms: following store %s "
	       "instead", stores.base[stores.cur],
	       (unsigned long long)(now - n->store_seen_ms),
	       stores.base[(stores.cur + 1) % stores.n]);
	store_follow(n, (stores.cur + 1) % stores.n, now);
}

/* The store followed is a Raft follower naming its leader: follow the
 * leader (its --wait needs this member's acks, its history the alerts)
 * once two heartbeats in a row name the same one of --store's list, so
 * an election's passing view moves nobody. */
static void store_leader_hint(px_node_t *n, const char *ep)
{
	size_t k;

	if (!n->o.follow_leader || !ep || !ep[0] || stores.n < 2) {
		stores.hints = 0;
		return;
	}
	for (k = 0; k < stores.n && strcmp(stores.base[k], ep) != 0; k++)
		;
	if (k == stores.n || k == stores.cur) {
		if (k == stores.n && stores.hints++ == 0)
			px_log(PX_LOG_WARN, "store %s names leader %s, which "
			       "is not in --store: staying", stores.base[stores.cur],
			       ep);
		return;
	}
	if (stores.hint != k) {
		stores.hint = k;
		stores.hints = 1;
		return;
	}
	if (++stores.hints < 2)
		return;
	px_log(PX_LOG_INFO, "store %s follows the Raft leader %s: following "
	       "it too", stores.base[stores.cur], stores.base[k]);
	store_follow(n, k, px_mono_ms());
}

void px_node_sync_tick(px_node_t *n)
{
	uint64_t now = px_mono_ms();

	if (n->store_lost && stores.n > 1 &&
	    now - (stores.switched_ms > n->store_seen_ms ?
		   stores.switched_ms : n->store_seen_ms) >
	    n->o.store_timeout_ms)
		store_switch(n, now);

	if (!n->store_lost && now - n->store_seen_ms > n->o.store_timeout_ms) {
		n->store_lost = true;
		px_log(PX_LOG_WARN, "store %s silent for %llu ms: enforcing "
		       "version %llu until it is back", n->o.store,
		       (unsigned long long)(now - n->store_seen_ms),
		       (unsigned long long)n->applied.version);
		health_settle(n);
	}
	if (n->snapping && !n->snap_sent)
		request_snapshot(n, "store not connected yet, asking again");
	else if (n->apply_job || n->inq_n)
		n->snap_started_ms = now; /* its chunks wait in the queue */
	else if (n->snapping && now - n->snap_started_ms > SNAPSHOT_RETRY_MS)
		request_snapshot(n, "previous snapshot did not complete");
	state_retry(n, now);
	/* On the 1 s tick: --heartbeat-ms rounds to whole ticks (half a
	 * tick early counts, so 1000 is every tick despite jitter). */
	if (now + 500 >= n->heartbeat_sent_ms + n->o.heartbeat_ms)
		send_heartbeat(n);
	monitor_read(n, n->sync_mon);
	monitor_read(n, n->sub_mon);
	/* Edges can be consumed by zmq_send on the same socket; a periodic
	 * drain makes sure nothing waits for a wake that already passed. */
	drain(n, n->sync);
	drain(n, n->sub);
}

static void *open_socket(px_node_t *n, int type, int which)
{
	char ep[300];
	void *s = zmq_socket(n->zctx, type);
	int zero = 0, one = 1, ivl = 200;
	int64_t max = PX_MSG_MAX;

	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	/* Reconnect fast: a store that restarts is back within a second. */
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	if (type == ZMQ_DEALER)
		zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one));
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	/* CURVE with the pinned store key: a store holding another key
	 * fails the handshake and is never heard. */
	if (px_curve_client(s, &n->o.keys,
			    px_store_key_for(n->o.store_pubs, n->o.nstore_pubs,
					     stores.cur)) < 0) {
		px_log(PX_LOG_ERR, "CURVE on the store socket: %s",
		       zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	px_endpoint(stores.base[stores.cur], which, ep, sizeof(ep));
	if (zmq_connect(s, ep) < 0) {
		px_log(PX_LOG_ERR, "connect %s: %s", ep, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

static int poll_socket(px_node_t *n, void *sock, uv_poll_t *p, uv_poll_cb cb)
{
	int fd;
	size_t sz = sizeof(fd);

	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) < 0)
		return -errno;
	uv_poll_init(n->loop, p, fd);
	p->data = n;
	return uv_poll_start(p, UV_READABLE, cb);
}

int px_node_sync_start(px_node_t *n)
{
	stores_parse(n->o.store);
	n->zctx = zmq_ctx_new();
	n->sync = open_socket(n, ZMQ_DEALER, PX_EP_SYNC);
	n->sub = open_socket(n, ZMQ_SUB, PX_EP_PUB);
	if (!n->sync || !n->sub)
		return -EINVAL;
	n->sync_mon = monitor_open(n, n->sync, "inproc://phalanx-node-sync-mon");
	n->sub_mon = monitor_open(n, n->sub, "inproc://phalanx-node-sub-mon");
	poll_socket(n, n->sync, &n->sync_poll, on_sync);
	poll_socket(n, n->sub, &n->sub_poll, on_sub);
	uv_timer_init(n->loop, &n->snap_retry);
	n->snap_retry.data = n;
	n->inq = xcalloc(INQ_MAX, sizeof(*n->inq));
	uv_idle_init(n->loop, &n->inq_idle);
	n->inq_idle.data = n;
	n->store_seen_ms = px_mono_ms();
	n->seq.applied = n->applied.version;
	/* Subscribe first, then ask: changes that arrive while the snapshot
	 * streams are covered by it or caught by the heartbeat check. */
	px_alerting_start(n);
	request_snapshot(n, "startup");
	return 0;
}

void px_node_sync_stop(px_node_t *n)
{
	if (!n->zctx)
		return;
	n->stopping = true;
	uv_poll_stop(&n->sync_poll);
	uv_poll_stop(&n->sub_poll);
	uv_idle_stop(&n->inq_idle);
	if (n->apply_job)
		px_log(PX_LOG_INFO, "waiting for the apply of version %llu to "
		       "finish", (unsigned long long)n->apply_job->version);
	/* The worker owns n->nft and reads n->applied until it is done. */
	while (n->apply_job)
		uv_run(n->loop, UV_RUN_ONCE);
	px_alerting_stop(n);
	uv_timer_stop(&n->snap_retry);
	uv_close((uv_handle_t *)&n->snap_retry, NULL);
	drop_held(n);
	inq_drop(n);
	collect_drop(n);
	free(n->collect);
	n->collect = NULL;
	free(n->inq);
	n->inq = NULL;
	uv_close((uv_handle_t *)&n->inq_idle, NULL);
	uv_close((uv_handle_t *)&n->sync_poll, NULL);
	uv_close((uv_handle_t *)&n->sub_poll, NULL);
	zmq_close(n->sync);
	zmq_close(n->sub);
	if (n->sync_mon)
		zmq_close(n->sync_mon);
	if (n->sub_mon)
		zmq_close(n->sub_mon);
	zmq_ctx_term(n->zctx);
	n->zctx = NULL;
}
