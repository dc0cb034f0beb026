/* nftcount - look at one set of an inet table from outside, by netlink
 * (nft list set takes 30 s on a 1M-entry set, and `nft get element` 10 s).
 *   nftcount TABLE SET                 the number of elements
 *   nftcount TABLE SET --has ADDR...   one line per ADDR: "ADDR yes|no"
 *   nftcount TABLE SET --watch MS      for each ADDR read from stdin (one
 *                                      a line), look every 1 ms until the
 *                                      set holds it: "ADDR yes T" with T the
 *                                      wall clock (s.us) it was first seen,
 *                                      or "ADDR no" after MS (benchmarks:
 *                                      tests/bench/wait.sh)
 * --has asks the kernel for each element with one lookup (px_nft_has):
 * a host in a hash set is that element, a host in an interval set is
 * covered by a range, a prefix is a range of exactly that extent.
 * Exit status 0, 1 on errors (no such table or set), 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "nft.h"
#include "px.h"

static int has(px_nft_t *nft, const char *set, int n, char **addrs)
{
	int rc = 0;

	for (int i = 0; i < n; i++) {
		px_entry_t e;
		bool present = false;

		rc = px_entry_parse(addrs[i], &e);
		if (rc < 0) {
			fprintf(stderr, "nftcount: `%s': %s\n", addrs[i],
				px_strerror(rc));
			return 2;
		}
		rc = px_nft_has(nft, set, &e, &present);
		if (rc < 0) {
			fprintf(stderr, "nftcount: %s: %s\n", set,
				px_strerror(rc));
			return 1;
		}
		printf("%s %s\n", addrs[i], present ? "yes" : "no");
	}
	return 0;
}

/* --watch: bounded by MS per address; a lookup is a few microseconds,
 * so one each millisecond costs the member nothing worth measuring. */
static int watch(px_nft_t *nft, const char *set, const char *ms_arg)
{
	char line[128];
	uint64_t ms;

	if (px_parse_u64(ms_arg, 1, 600000, &ms) < 0) {
		fprintf(stderr, "nftcount: --watch: not a time in ms (1..600000): "
			"`%s'\n", ms_arg);
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t end = px_mono_ms() + ms;
		struct timespec pause = { 0, 1000000 };
		px_entry_t e;
		bool present = false;
		int rc;

		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if ((rc = px_entry_parse(line, &e)) < 0) {
			fprintf(stderr, "nftcount: `%s': %s\n", line,
				px_strerror(rc));
			return 2;
		}
		while (!present && px_mono_ms() < end) {
			rc = px_nft_has(nft, set, &e, &present);
			if (rc < 0) {
				fprintf(stderr, "nftcount: %s: %s\n", set,
					px_strerror(rc));
				return 1;
			}
			if (!present)
				nanosleep(&pause, NULL);
		}
		if (present) {
			struct timeval tv;

			gettimeofday(&tv, NULL);
			printf("%s yes %lld.%06ld\n", line, (long long)tv.tv_sec,
			       (long)tv.tv_usec);
		} else {
			printf("%s no\n", line);
		}
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	px_nft_t *nft = NULL;
	uint64_t n = 0;
	int rc;

	bool watching = argc == 5 && strcmp(argv[3], "--watch") == 0;

	if (!watching && (argc < 3 ||
			  (argc > 3 && strcmp(argv[3], "--has") != 0) ||
			  argc == 4)) {
		fprintf(stderr, "usage: nftcount TABLE SET [--has ADDR...]\n"
			"       nftcount TABLE SET --watch MS (addresses on "
			"stdin)\n");
		return 2;
	}
	px_log_init("nftcount", 0);
	rc = px_nft_open(&nft, argv[1]);
	if (rc == 0 && watching) {
		rc = watch(nft, argv[2], argv[4]);
		px_nft_close(nft);
		return rc;
	}
	if (rc == 0 && argc > 3) {
		rc = has(nft, argv[2], argc - 4, argv + 4);
		px_nft_close(nft);
		return rc;
	}
	if (rc == 0)
		rc = px_nft_count(nft, argv[2], &n);
	px_nft_close(nft);
	if (rc < 0) {
		fprintf(stderr, "nftcount: %s %s: %s\n", argv[1], argv[2],
			px_strerror(rc));
		return 1;
	}
	printf("%llu\n", (unsigned long long)n);
	return 0;
}
