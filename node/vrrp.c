/* vrrp.c - the readiness gate's track files and the VRRP role (vrrp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alerting.h"
#include "gate.h"
#include "px.h"
#include "vrrp.h"

/* Re-assert the track files this often: keepalived reads them through
 * inotify at once; 200 ms bounds how long its init_file can stand. */
#define VRRP_TICK_MS 200
/* The tick comes every VRRP_TICK_MS; one this much later, with the
 * process's CPU time hardly moved (FREEZE_CPU_DIV: under a tenth of the
 * gap), means the process did not run (SIGSTOP, a paused VM).  A slow
 * apply also delays the tick (a 1M-element change held the loop 4 s) but
 * burns CPU the whole time.  A starved process was seen missing 1.7 s on
 * the loaded lab machine, and a false freeze costs the master's
 * addresses; a peer replaces a silent master within about 1 s (3 adverts
 * of 0.3 s), so after 4 s one certainly has. */
#define FREEZE_GAP_MS 4000
#define FREEZE_CPU_DIV 10
/* A freeze shorter than FREEZE_GAP_MS is seen by a watch thread of
 * its own: it sleeps WATCH_MS at a time and asks the kernel how long it
 * ran and waited for a CPU meanwhile (/proc/thread-self/schedstat).  A
 * starved thread shows as waiting; a stopped process (SIGSTOP) as
 * neither, for the whole stop.  The thread does nothing else, so a loop
 * held in a slow fsync (node/outbox.c writes the alert outbox in the
 * loop) or a long apply cannot look stopped.  FREEZE_STOPPED_MS: 1 s is
 * about when a peer has taken the addresses (3 adverts of 0.3 s); a
 * shorter stop moves nothing, so the gate need not hold. */
#define WATCH_MS 100
#define FREEZE_STOPPED_MS 1000

struct px_vrrp {
	px_node_t *n;
	px_gate_t gate;
	uv_timer_t tick;
	uint64_t tick_ms, tick_cpu_ms; /* the last tick: monotonic, CPU */
	/* The watch thread: the longest stop it saw since the last tick,
	 * ms (read and reset by the tick); whether it runs. */
	_Atomic uint64_t stopped_ms;
	_Atomic bool watch_quit;
	uint64_t freeze_seen_ms; /* the tick that last saw a freeze */
	pthread_t watch;
	bool watching;
	int last;            /* px_gate_verdict_t, -1 before the first */
	const char *last_why;
	char role[16];
};

const char px_vrrp_usage[] =
"  --track-file PATH      keepalived track file (weight 0) of the readiness\n"
"                         gate: 0 while this member enforces the current\n"
"                         policy and is not drained, 1 otherwise\n"
"  --track-stale-file PATH\n"
"                         weighted keepalived track file: 1 while the\n"
"                         member enforces a cached policy it could not\n"
"                         check against any store (lower priority)\n"
"  --vrrp-state-file PATH keepalived's state as written by px-vrrp-notify\n"
"                         (the role in heartbeats and `members list')\n"
"  --resume-hold-ms MS    after a freeze, stay at fault this long while\n"
"                         conntrackd resyncs (default 3000, 0..60000)\n";

int px_vrrp_option(px_node_opts_t *o, const char *key, const char *value)
{
	char *dst;
	size_t len;

	if (strcmp(key, "track-file") == 0)
		dst = o->track_file, len = sizeof(o->track_file);
	else if (strcmp(key, "track-stale-file") == 0)
		dst = o->track_stale_file, len = sizeof(o->track_stale_file);
	else if (strcmp(key, "vrrp-state-file") == 0)
		dst = o->vrrp_state_file, len = sizeof(o->vrrp_state_file);
	else if (strcmp(key, "resume-hold-ms") == 0) {
		int rc = px_parse_u64(value, 0, 60000, &o->resume_hold_ms);

		o->resume_hold_set = rc == 0;
		return rc;
	} else
		return PX_EOPTION;
	if (!value[0] || strlen(value) >= len)
		return PX_ERANGE;
	strcpy(dst, value);
	return 0;
}

/* The first byte of path, -1 if it cannot be read. */
static int read_first(const char *path)
{
	char c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = read(fd, &c, 1);
	close(fd);
	return got == 1 ? c : -1;
}

/* Write "V\n" to path unless it holds it: by rename, so keepalived never
 * reads an empty file (it would take it for 0, eligible). */
static int track_fill(int fd, void *arg)
{
	return px_write_all(fd, arg, 2);
}

static int track_write(const char *path, int v)
{
	char buf[2] = { (char)('0' + v), '\n' };

	if (!path[0] || read_first(path) == buf[0])
		return 0;
	/* No fsync: keepalived reads it at once, a reboot rewrites it. */
	return px_file_replace(path, 0644, false, track_fill, buf);
}

/* The alert "vrrp-master" is exceeding while this member holds the
 * virtual addresses: every change of master shows on the central
 * stream as one member's alert ending and another's starting. */
static void role_changed(struct px_vrrp *v, const char *old)
{
	char text[160];
	bool master = strcmp(v->role, "master") == 0;

	px_log(PX_LOG_INFO, "VRRP role %s (was %s)", v->role[0] ? v->role :
	       "unknown", old[0] ? old : "unknown");
	if (!master && strcmp(old, "master") != 0)
		return;
	snprintf(text, sizeof(text), master ? "%s holds the virtual "
		 "addresses (VRRP master)" : "%s gave up the virtual "
		 "addresses: VRRP %s", v->n->o.id,
		 v->role[0] ? v->role : "unknown");
	px_alerting_observe(v->n, "vrrp-master", NULL, 0, 0, master, text);
}

static void read_role(struct px_vrrp *v)
{
	char buf[32] = "", old[sizeof(v->role)];
	FILE *f;

	memcpy(old, v->role, sizeof(old));
	v->role[0] = 0;
	if (!v->n->o.vrrp_state_file[0])
		return;
	f = fopen(v->n->o.vrrp_state_file, "re");
	if (f && fscanf(f, "%15s", buf) == 1) {
		if (strcmp(buf, "MASTER") == 0)
			strcpy(v->role, "master");
		else if (strcmp(buf, "BACKUP") == 0)
			strcpy(v->role, "backup");
		else if (strcmp(buf, "FAULT") == 0)
			strcpy(v->role, v->gate.drained ? "drained" : "fault");
	}
	if (f)
		fclose(f);
	if (strcmp(old, v->role) != 0)
		role_changed(v, old);
}

static void evaluate(struct px_vrrp *v)
{
	px_node_t *n = v->n;
	const char *why = "";
	px_gate_verdict_t g = px_gate_decide(&v->gate, px_mono_ms(),
					     n->applied.version,
					     n->store_lost, &why);
	int rc;

	if ((int)g != v->last || why != v->last_why) {
		px_log(g == PX_GATE_FAULT ? PX_LOG_WARN : PX_LOG_INFO,
		       "readiness gate: %s (%s; applied version %llu, store "
		       "at %llu)", px_gate_verdict_name(g), why,
		       (unsigned long long)n->applied.version,
		       (unsigned long long)v->gate.store_version);
		/* the start's "waiting for the store" is no alarm */
		if (v->last >= 0) {
			char text[200];

			snprintf(text, sizeof(text), "readiness gate %s: %s "
				 "(applied version %llu, store at %llu)",
				 px_gate_verdict_name(g), why,
				 (unsigned long long)n->applied.version,
				 (unsigned long long)v->gate.store_version);
			px_alerting_observe(n, "readiness-gate", NULL, 0, 0,
					    g == PX_GATE_FAULT, text);
		}
		v->last = (int)g;
		v->last_why = why;
	}
	rc = track_write(n->o.track_file, g == PX_GATE_FAULT);
	if (rc < 0)
		px_log(PX_LOG_ERR, "track file %s: %s", n->o.track_file,
		       strerror(-rc));
	rc = track_write(n->o.track_stale_file, g == PX_GATE_STALE);
	if (rc < 0)
		px_log(PX_LOG_ERR, "track file %s: %s",
		       n->o.track_stale_file, strerror(-rc));
	read_role(v);
}

static uint64_t cpu_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The calling thread's time run plus time waiting for a CPU, in ms,
 * from the kernel's schedstat; -1 if it cannot be read (a kernel
 * without CONFIG_SCHED_INFO: only FREEZE_GAP_MS then). */
static int64_t sched_ms(void)
{
	unsigned long long run = 0, wait = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "re");
	int got = f ? fscanf(f, "%llu %llu", &run, &wait) : 0;

	if (f)
		fclose(f);
	return got == 2 ? (int64_t)((run + wait) / 1000000) : -1;
}

static void *watch_main(void *arg)
{
	struct px_vrrp *v = arg;
	struct timespec nap = { 0, WATCH_MS * 1000000L };
	uint64_t t0 = px_mono_ms();
	int64_t s0 = sched_ms();

	while (!atomic_load(&v->watch_quit) && s0 >= 0) {
		uint64_t t1, lost;
		int64_t s1;

		nanosleep(&nap, NULL);
		t1 = px_mono_ms();
		s1 = sched_ms();
		if (s1 < 0)
			break;
		/* time neither asleep (WATCH_MS) nor running nor waiting */
		lost = t1 - t0 > WATCH_MS + (uint64_t)(s1 - s0) ?
		       t1 - t0 - WATCH_MS - (uint64_t)(s1 - s0) : 0;
		if (lost > atomic_load(&v->stopped_ms))
			atomic_store(&v->stopped_ms, lost);
		t0 = t1;
		s0 = s1;
	}
	return NULL;
}

static void on_tick(uv_timer_t *t)
{
	struct px_vrrp *v = t->data;
	uint64_t now = px_mono_ms(), cpu = cpu_ms();
	uint64_t gap = now - v->tick_ms, used = cpu - v->tick_cpu_ms;
	uint64_t lost = atomic_exchange(&v->stopped_ms, 0);
	/* The loop often runs its late tick before the watch thread has
	 * woken to report the same stop: a stop that ended before the last
	 * freeze seen (it lasted longer than the time since) is that one. */
	bool stopped = lost > FREEZE_STOPPED_MS &&
		       (!v->freeze_seen_ms || now - v->freeze_seen_ms > lost);

	if (v->tick_ms && (stopped || (gap > FREEZE_GAP_MS &&
				       used < gap / FREEZE_CPU_DIV))) {
		px_log(PX_LOG_WARN, "did not run for %llu ms (%llu ms of CPU, "
		       "%llu ms stopped): frozen; at fault for %llu ms while "
		       "conntrackd resyncs", (unsigned long long)gap,
		       (unsigned long long)used, (unsigned long long)lost,
		       (unsigned long long)v->gate.resume_hold_ms);
		px_gate_resumed(&v->gate, now);
		v->freeze_seen_ms = now;
	}
	v->tick_ms = now;
	v->tick_cpu_ms = cpu;
	evaluate(v);
}

int px_vrrp_start(px_node_t *n)
{
	struct px_vrrp *v;
	int rc;

	n->vrrp = NULL;
	if (!n->o.track_file[0])
		return 0;
	v = xcalloc(1, sizeof(*v));
	v->n = n;
	v->last = -1;
	px_gate_init(&v->gate, px_mono_ms(), n->o.store_timeout_ms);
	if (n->o.resume_hold_set)
		v->gate.resume_hold_ms = n->o.resume_hold_ms;
	/* At fault until the gate says otherwise, whatever a previous run
	 * left in the file. */
	rc = track_write(n->o.track_file, 1);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "track file %s: %s", n->o.track_file,
		       strerror(-rc));
		free(v);
		return rc;
	}
	n->vrrp = v;
	if (sched_ms() < 0)
		px_log(PX_LOG_WARN, "no /proc/thread-self/schedstat: freezes "
		       "shorter than %d ms go unseen", FREEZE_GAP_MS);
	else if ((rc = pthread_create(&v->watch, NULL, watch_main, v)) != 0)
		px_log(PX_LOG_WARN, "freeze watch thread: %s: freezes "
		       "shorter than %d ms go unseen", strerror(rc),
		       FREEZE_GAP_MS);
	else
		v->watching = true;
	uv_timer_init(n->loop, &v->tick);
	v->tick.data = v;
	uv_timer_start(&v->tick, on_tick, 0, VRRP_TICK_MS);
	return 0;
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

void px_vrrp_stop(px_node_t *n)
{
	struct px_vrrp *v = n->vrrp;

	if (!v)
		return;
	n->vrrp = NULL;
	if (v->watching) {
		atomic_store(&v->watch_quit, true);
		pthread_join(v->watch, NULL); /* within WATCH_MS */
	}
	uv_close((uv_handle_t *)&v->tick, free_on_close);
}

static void set_drained(px_node_t *n, bool drained)
{
	if (n->vrrp->gate.drained == drained)
		return;
	px_log(PX_LOG_INFO, "%s by the store", drained ?
	       "drained: giving up the virtual addresses" : "undrained");
	n->vrrp->gate.drained = drained;
	evaluate(n->vrrp);
}

void px_vrrp_store_heartbeat(px_node_t *n, const Phalanx__StoreHeartbeat *hb)
{
	bool drained = false;

	if (!n->vrrp)
		return;
	/* A version held for a canary on another member (canary.h) is not
	 * one this member is behind. */
	px_gate_heartbeat(&n->vrrp->gate,
			  px_canary_store_version(&n->canary, n->o.id,
						  hb->version));
	for (size_t i = 0; i < hb->n_drained; i++)
		if (strcmp(hb->drained[i], n->o.id) == 0)
			drained = true;
	set_drained(n, drained);
}

void px_vrrp_applied(px_node_t *n, int rc)
{
	if (!n->vrrp)
		return;
	n->vrrp->gate.apply_failed = rc < 0;
	evaluate(n->vrrp);
}

const char *px_vrrp_role(px_node_t *n)
{
	return n->vrrp ? n->vrrp->role : "";
}

void px_vrrp_addresses(Phalanx__Heartbeat *hb)
{
	static char buf[16][INET6_ADDRSTRLEN];
	static char *ptr[16];
	struct ifaddrs *ifa, *i;
	size_t n = 0;

	hb->addresses = ptr;
	hb->n_addresses = 0;
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && n < 16; i = i->ifa_next) {
		const void *a;
		int fam;

		if (!i->ifa_addr)
			continue;
		fam = i->ifa_addr->sa_family;
		if (fam == AF_INET) {
			const struct sockaddr_in *s = (void *)i->ifa_addr;

			a = &s->sin_addr;
			if ((ntohl(s->sin_addr.s_addr) >> 24) == 127)
				continue;
		} else if (fam == AF_INET6) {
			const struct sockaddr_in6 *s = (void *)i->ifa_addr;

			a = &s->sin6_addr;
			if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) ||
			    IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr))
				continue;
		} else {
			continue;
		}
		if (!inet_ntop(fam, a, buf[n], sizeof(buf[n])))
			continue;
		ptr[n] = buf[n];
		n++;
	}
	freeifaddrs(ifa);
	hb->n_addresses = n;
}
