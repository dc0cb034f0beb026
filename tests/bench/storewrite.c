/* storewrite.c - acknowledged single adds from one process, through the
 * path `phalanxctl exceptions add' takes (ctl/cmd_exceptions.c and
 * ctl/client.c: one Operation a write, leader hints followed, a store
 * that does not answer given up for the next), without a process start
 * per write (tests/bench/store_failover.sh).
 *
 *   storewrite [--timeout MS] [--interval MS] [--stop-file PATH]
 *              [--max-s S] SET FIRST N
 *
 * The stores and keys come as for phalanxctl: PHALANX_STORE (every
 * store, comma-separated), PHALANX_KEY, PHALANX_STORE_KEY.  Write i
 * (0-based) adds the host FIRST + i of 10.128.0.0/9 to SET with the
 * request id "sw-PID-FIRST-i"; a write that fails is sent again with
 * the same id (the store applies it once) after --interval.  N writes
 * are made (N 0: until PATH exists or --max-s passed).
 *
 * Prints one line a request, "ok|fail SENT_NS DONE_NS STORE"
 * (CLOCK_REALTIME, comparable with a shell's `date +%s%N'; STORE the
 * endpoint that answered, or was asked last), then the summary: "writes=
 * failed= seconds= per_s= latency_p50_us= latency_p99_us=".  Exit 0 if
 * every write was acknowledged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "client.h"
#include "px.h"

/* What --max-s bounds when N is 0 and no stop file comes: an hour. */
#define MAX_S_DEFAULT 3600
#define WRITES_MAX 1000000

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, unsigned p)
{
	return n ? v[(n - 1) * p / 100] : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: storewrite [--timeout MS] [--interval MS] "
		"[--stop-file PATH] [--max-s S] SET FIRST N\n");
	return PX_EXIT_USAGE;
}

static int num(const char *opt, const char *s, uint64_t max, uint64_t *v)
{
	if (px_parse_u64(s, 0, max, v) < 0) {
		fprintf(stderr, "storewrite: %s: not a number (0..%llu): `%.*s'\n",
			opt, (unsigned long long)max, 40, s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	px_ctl_t ctl;
	uint64_t timeout = 1000, interval = 0, max_s = MAX_S_DEFAULT;
	uint64_t first, n, i, failed = 0, t_start, t_end, *lat = NULL;
	const char *stop = NULL, *set;
	char id[65], addr[32], *args[2];
	FILE *out;
	int a, rc = PX_EXIT_FAIL;

	for (a = 1; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a += 2) {
		const char *o = argv[a];

		if (a + 1 >= argc)
			return usage();
		if (strcmp(o, "--timeout") == 0) {
			if (num(o, argv[a + 1], 86400000, &timeout) < 0 || !timeout)
				return usage();
		} else if (strcmp(o, "--interval") == 0) {
			if (num(o, argv[a + 1], 60000, &interval) < 0)
				return usage();
		} else if (strcmp(o, "--max-s") == 0) {
			if (num(o, argv[a + 1], 86400, &max_s) < 0)
				return usage();
		} else if (strcmp(o, "--stop-file") == 0) {
			stop = argv[a + 1];
		} else {
			return usage();
		}
	}
	if (argc - a != 3)
		return usage();
	set = argv[a];
	if (num("FIRST", argv[a + 1], (1u << 23) - 1, &first) < 0 ||
	    num("N", argv[a + 2], WRITES_MAX, &n) < 0)
		return usage();
	if (first + (n ? n : WRITES_MAX) > (1u << 23))
		return usage();

	/* phalanxctl's own lines ("version N") go nowhere; ours to the
	 * original stdout. */
	out = fdopen(dup(STDOUT_FILENO), "w");
	if (!out || !freopen("/dev/null", "w", stdout)) {
		fprintf(stderr, "storewrite: stdout: %s\n", strerror(errno));
		return PX_EXIT_FAIL;
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.cmd = "exceptions add";
	ctl.timeout_ms = timeout;
	ctl.wait_ms = PX_CTL_WAIT_S * 1000;
	ctl.request_id = id;
	lat = xcalloc(n ? n : WRITES_MAX, sizeof(*lat));

	t_start = realtime_ns();
	for (i = 0; n ? i < n : i < WRITES_MAX; i++) {
		uint64_t h = (1u << 23) + first + i, sent, done;
		int r;

		if (!n && ((stop && access(stop, F_OK) == 0) ||
			   realtime_ns() - t_start >= max_s * 1000000000u))
			break;
		snprintf(addr, sizeof(addr), "10.%u.%u.%u",
			 (unsigned)(h >> 16), (unsigned)((h >> 8) & 255),
			 (unsigned)(h & 255));
		snprintf(id, sizeof(id), "sw-%ld-%llu-%llu", (long)getpid(),
			 (unsigned long long)first, (unsigned long long)i);
		args[0] = (char *)set;
		args[1] = addr;
		/* Bounded: each try ends within the client's own bounds
		 * (timeout, CTL_HOPS_MAX); the whole by max_s. */
		for (;;) {
			sent = realtime_ns();
			r = px_cmd_exceptions_add(&ctl, 2, args);
			done = realtime_ns();
			fprintf(out, "%s %llu %llu %s\n",
				r == PX_EXIT_OK ? "ok" : "fail",
				(unsigned long long)sent, (unsigned long long)done,
				ctl.base[0] ? ctl.base : "-");
			fflush(out);
			if (r == PX_EXIT_OK)
				break;
			failed++;
			/* A store that died under an open socket: start over. */
			px_ctl_close(&ctl);
			if (done - t_start >= max_s * 1000000000u)
				goto summary;
			if (interval)
				usleep((useconds_t)(interval * 1000));
		}
		lat[i] = (done - sent) / 1000;
		if (interval)
			usleep((useconds_t)(interval * 1000));
	}
summary:
	t_end = realtime_ns();
	qsort(lat, i, sizeof(*lat), cmp_u64);
	fprintf(out, "writes=%llu failed=%llu seconds=%.3f per_s=%.1f "
		"latency_p50_us=%llu latency_p99_us=%llu\n",
		(unsigned long long)i, (unsigned long long)failed,
		(double)(t_end - t_start) / 1e9,
		t_end > t_start ? (double)i * 1e9 / (double)(t_end - t_start) : 0,
		(unsigned long long)pct(lat, i, 50),
		(unsigned long long)pct(lat, i, 99));
	fflush(out);
	rc = n && i < n ? PX_EXIT_FAIL : PX_EXIT_OK;
	px_ctl_close(&ctl);
	free(lat);
	fclose(out);
	return rc;
}
