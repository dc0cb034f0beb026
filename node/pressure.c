/* pressure.c - resource protection (see pressure.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting.h"
#include "pressure.h"
#include "px.h"

#define SYSCTL_DIR "/proc/sys/net/netfilter/"
#define TCP_ESTABLISHED_TIMEOUT SYSCTL_DIR "nf_conntrack_tcp_timeout_established"

static int read_u64(const char *path, uint64_t *v)
{
	char buf[32];
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -EIO;
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	rc = px_parse_u64(buf, 0, UINT64_MAX, v);
	return rc;
}

static int write_u64(const char *path, uint64_t v)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), n, rc = 0;

	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	if (write(fd, buf, (size_t)n) != n)
		rc = -errno;
	close(fd);
	return rc;
}

/* 0, or the failure (the caller keeps its level and tries again on the
 * next tick: the alert must not say new connections are refused while
 * the kernel does not refuse them). */
static int rebuild_rules(px_node_t *n, bool on)
{
	int rc;

	px_nft_set_pressure(n->nft, on);
	/* The kernel holds a kept table or the guard, not `applied' (main.c):
	 * a diff would rewrite its rules from the wrong policy.  The next
	 * apply rebuilds with the pressure flag as it is then. */
	if (n->kernel_unknown) {
		px_log(PX_LOG_WARN, "pressure: refusal of new connections %s "
		       "with the first snapshot (table not rebuilt yet)",
		       on ? "installed" : "removed");
		return 0;
	}
	/* Same policy: only the rules change (the pressure chain). */
	rc = px_nft_apply(n->nft, &n->applied, &n->applied, NULL);
	if (rc < 0)
		px_log(PX_LOG_ERR, "pressure: %s the refusal of new connections "
		       "failed: %s (trying again in a second)",
		       on ? "installing" : "removing", px_strerror(rc));
	return rc;
}

static void enter_low(px_node_t *n)
{
	uint64_t full = 0, idle = n->o.pressure_idle_s;

	if (read_u64(TCP_ESTABLISHED_TIMEOUT, &full) < 0 || full <= idle)
		return;
	n->pressure_saved_timeout = full;
	if (write_u64(TCP_ESTABLISHED_TIMEOUT, idle) < 0)
		px_log(PX_LOG_WARN, "pressure: cannot lower the established "
		       "TCP time-out: %s", strerror(errno));
	px_log(PX_LOG_WARN, "pressure: established TCP time-out lowered from "
	       "%" PRIu64 " s to %" PRIu64 " s; ended %" PRIu64 " connections "
	       "idle %" PRIu64 " s or more", full, idle, px_ct_end_idle(full, idle),
	       idle);
}

static void leave_low(px_node_t *n)
{
	if (!n->pressure_saved_timeout)
		return;
	if (write_u64(TCP_ESTABLISHED_TIMEOUT, n->pressure_saved_timeout) < 0)
		px_log(PX_LOG_WARN, "pressure: cannot restore the established "
		       "TCP time-out: %s", strerror(errno));
	else
		px_log(PX_LOG_INFO, "pressure: established TCP time-out back "
		       "to %" PRIu64 " s", n->pressure_saved_timeout);
	n->pressure_saved_timeout = 0;
}

void px_pressure_tick(px_node_t *n)
{
	uint64_t count, max = n->o.ct_max;
	char text[160];
	int level;

	if (read_u64(SYSCTL_DIR "nf_conntrack_count", &count) < 0)
		return;
	if (!max && read_u64(SYSCTL_DIR "nf_conntrack_max", &max) < 0)
		return;
	n->ct_count = count;
	n->ct_max = max;
	level = px_pressure_level(n->pressure, count, max);
	/* Refusing new connections is an apply: while one runs off the
	 * loop (n->nft is its worker's), it waits for the next tick. */
	if (px_node_applying(n) && (level == PX_PRESSURE_EXTREME) !=
	    (n->pressure == PX_PRESSURE_EXTREME))
		return;
	if (level != n->pressure) {
		px_log(level > n->pressure ? PX_LOG_WARN : PX_LOG_INFO,
		       "pressure: conntrack table %" PRIu64 " of %" PRIu64
		       " entries (%" PRIu64 "%%): %s", count, max,
		       count * 100 / max,
		       level == PX_PRESSURE_EXTREME ? "refusing new connections "
		       "except from exception sets" : level == PX_PRESSURE_LOW ?
		       "headroom low" : "recovered");
		if (level >= PX_PRESSURE_LOW && n->pressure == PX_PRESSURE_NONE)
			enter_low(n);
		if ((level == PX_PRESSURE_EXTREME ||
		     n->pressure == PX_PRESSURE_EXTREME) &&
		    rebuild_rules(n, level == PX_PRESSURE_EXTREME) < 0)
			return;
		if (level == PX_PRESSURE_NONE)
			leave_low(n);
		n->pressure = level;
	}
	if (level == PX_PRESSURE_NONE && !n->pressure_alerted)
		return;
	snprintf(text, sizeof(text), "connection table headroom %s: %" PRIu64
		 " of %" PRIu64 " entries%s", level ? "low" : "recovered",
		 count, max, level == PX_PRESSURE_EXTREME ?
		 "; new connections refused except from exception sets" : "");
	px_alerting_observe(n, "conntrack-headroom", NULL, count, max,
			    level != PX_PRESSURE_NONE, text);
	n->pressure_alerted = level != PX_PRESSURE_NONE;
}

void px_pressure_stop(px_node_t *n)
{
	leave_low(n);
}
