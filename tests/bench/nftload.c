/* nftload - bulk-load benchmark for node/nft.c.
 *
 * nftload N [--prefixes] [--v6] [--table NAME] [--keep]
 * nftload --count KSET [--table NAME]
 *
 * Builds a policy whose set flood-exceptions holds N hosts (or N disjoint,
 * non-adjacent prefixes), rebuilds the table with it in one batch, counts
 * the kernel set back, then times a one-entry add and a one-entry delete
 * and counts again.  --count only counts one kernel set of a table (the
 * benchmark script checks the `nft -f' peer with it).  Prints key=value
 * lines; exit status 0 if every count matched, 1 if not, 2 on usage
 * errors.  Run it in a network namespace: it replaces the table it is
 * given (default "phalanx"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../node/nft.h"
#include "px.h"

/* Largest N, with room for the one extra entry: hosts come from
 * 10.0.0.0/8 (2^24 of them), IPv4 prefixes are /24s 512 addresses apart
 * from 16.0.0.0 ((2^32 - 2^28) / 512, about 7.8M, fit). */
#define N_MAX (1u << 22)

#define SET "flood-exceptions"

struct opts {
	uint64_t n;
	bool prefixes, v6, keep;
	const char *table;
	const char *count; /* --count KSET */
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void make_entry(px_entry_t *e, int v6, const uint8_t *addr,
		       unsigned plen)
{
	uint8_t wire[PX_ENTRY_WIRE_MAX];
	size_t len = v6 ? 18 : 6;

	wire[0] = v6 ? 6 : 4;
	wire[1] = (uint8_t)plen;
	memcpy(wire + 2, addr, len - 2);
	if (px_entry_decode(wire, len, e) != 0) {
		fprintf(stderr, "nftload: bad generated entry\n");
		exit(1);
	}
}

/* Entry i of the load, generated in sort order:
 *   IPv4 hosts    10.0.0.0 + i
 *   IPv4 prefixes 16.0.0.0 + 512 i /24 (a gap after each, so no range
 *                 shares its end with the next one's start)
 *   IPv6 hosts    2001:db8::i
 *   IPv6 prefixes 2001:db8:0:2i::/64 */
static void nth_entry(const struct opts *o, uint64_t i, px_entry_t *e)
{
	uint8_t a[16] = { 0 };
	uint32_t v;

	if (!o->v6) {
		v = o->prefixes ? (16u << 24) + (uint32_t)i * 512
				: (10u << 24) + (uint32_t)i;
		a[0] = (uint8_t)(v >> 24);
		a[1] = (uint8_t)(v >> 16);
		a[2] = (uint8_t)(v >> 8);
		a[3] = (uint8_t)v;
		make_entry(e, 0, a, o->prefixes ? 24 : 32);
		return;
	}
	a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8;
	if (o->prefixes) {
		v = (uint32_t)i * 2;
		a[4] = (uint8_t)(v >> 24);
		a[5] = (uint8_t)(v >> 16);
		a[6] = (uint8_t)(v >> 8);
		a[7] = (uint8_t)v;
		make_entry(e, 1, a, 64);
		return;
	}
	v = (uint32_t)i;
	a[12] = (uint8_t)(v >> 24);
	a[13] = (uint8_t)(v >> 16);
	a[14] = (uint8_t)(v >> 8);
	a[15] = (uint8_t)v;
	make_entry(e, 1, a, 128);
}

static const char *kset_suffix(const struct opts *o)
{
	if (o->v6)
		return o->prefixes ? ".n6" : ".v6";
	return o->prefixes ? ".n4" : ".v4";
}

static int usage(void)
{
	fprintf(stderr, "usage: nftload N [--prefixes] [--v6] "
		"[--table NAME] [--keep]\n"
		"       nftload --count KSET [--table NAME]\n");
	return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->table = "phalanx";
	if (argc >= 3 && strcmp(argv[1], "--count") == 0) {
		o->count = argv[2];
	} else if (argc < 2 || px_parse_u64(argv[1], 1, N_MAX, &o->n) != 0) {
		fprintf(stderr, "nftload: N: want 1..%u, got `%s'\n", N_MAX,
			argc < 2 ? "" : argv[1]);
		return -1;
	}
	for (int i = o->count ? 3 : 2; i < argc; i++) {
		if (strcmp(argv[i], "--prefixes") == 0)
			o->prefixes = true;
		else if (strcmp(argv[i], "--v6") == 0)
			o->v6 = true;
		else if (strcmp(argv[i], "--keep") == 0)
			o->keep = true;
		else if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
			o->table = argv[++i];
		else
			return -1;
	}
	if (o->count && (o->prefixes || o->v6 || o->keep))
		return -1;
	return 0;
}

static int count_only(const struct opts *o)
{
	px_nft_t *nft = NULL;
	uint64_t n = 0, t0 = now_usec();
	int rc = px_nft_open(&nft, o->table);

	if (rc == 0)
		rc = px_nft_count(nft, o->count, &n);
	if (rc < 0)
		fprintf(stderr, "nftload: counting %s in %s: %s\n", o->count,
			o->table, px_strerror(rc));
	else
		printf("count=%llu\ncount_ms=%.1f\n", (unsigned long long)n,
		       (double)(now_usec() - t0) / 1000);
	px_nft_close(nft);
	return rc < 0 ? 1 : 0;
}

/* Count the set and print it as key=value; 0 if it holds want. */
static int check_count(px_nft_t *nft, const char *kset, const char *key,
		       uint64_t want)
{
	uint64_t have = 0, t0 = now_usec();
	int rc = px_nft_count(nft, kset, &have);

	if (rc < 0) {
		fprintf(stderr, "nftload: counting %s: %s\n", kset,
			px_strerror(rc));
		return rc;
	}
	printf("%s=%llu\n%s_ms=%.1f\n", key, (unsigned long long)have, key,
	       (double)(now_usec() - t0) / 1000);
	if (have != want) {
		fprintf(stderr, "nftload: %s: expected %llu elements, saw "
			"%llu\n", kset, (unsigned long long)want,
			(unsigned long long)have);
		return -1;
	}
	return 0;
}

/* Apply old -> new and print the timings under name. */
static int timed_apply(px_nft_t *nft, const px_policy_t *old,
		       const px_policy_t *new_, const char *name)
{
	px_nft_stats_t st;
	uint64_t t0 = now_usec();
	int rc = px_nft_apply(nft, old, new_, &st);

	if (rc < 0) {
		fprintf(stderr, "nftload: %s: %s\n", name, px_strerror(rc));
		return rc;
	}
	printf("%s_ms=%.1f\n%s_commit_ms=%.1f\n%s_messages=%u\n"
	       "%s_batch_bytes=%zu\n", name,
	       (double)(now_usec() - t0) / 1000, name, (double)st.usec / 1000,
	       name, st.messages, name, st.batch_bytes);
	return 0;
}

int main(int argc, char **argv)
{
	px_policy_t base, plus;
	char kset[PX_SETNAME_MAX + 8];
	px_nft_t *nft = NULL;
	px_entry_t extra;
	struct opts o;
	px_set_t *s;
	int rc = 1;

	if (parse(argc, argv, &o) < 0)
		return usage();
	px_log_init("nftload", 0);
	if (o.count)
		return count_only(&o);
	px_policy_init(&base);
	snprintf(kset, sizeof(kset), "%s%s", SET, kset_suffix(&o));

	s = px_policy_find(&base, SET);
	for (uint64_t i = 0; i < o.n; i++) {
		px_entry_t e;

		nth_entry(&o, i, &e);
		px_entries_push(&s->entries, &e);
	}
	/* One entry past the load, of the same kind. */
	nth_entry(&o, o.n, &extra);
	px_policy_copy(&plus, &base);
	px_entries_push(&px_policy_find(&plus, SET)->entries, &extra);

	rc = px_nft_open(&nft, o.table);
	if (rc < 0) {
		fprintf(stderr, "nftload: open: %s\n", px_strerror(rc));
		rc = 1;
		goto out;
	}
	printf("entries=%llu\nkind=%s%s\nkset=%s\n", (unsigned long long)o.n,
	       o.v6 ? "ipv6-" : "ipv4-", o.prefixes ? "prefixes" : "hosts",
	       kset);
	rc = 1;
	if (timed_apply(nft, NULL, &base, "load") < 0 ||
	    check_count(nft, kset, "count", o.n) < 0 ||
	    timed_apply(nft, &base, &plus, "add_one") < 0 ||
	    check_count(nft, kset, "count_after_add", o.n + 1) < 0 ||
	    timed_apply(nft, &plus, &base, "del_one") < 0 ||
	    check_count(nft, kset, "count_after_del", o.n) < 0)
		goto out;
	if (!o.keep && px_nft_delete_table(nft) < 0)
		goto out;
	rc = 0;
out:
	printf("result=%s\n", rc == 0 ? "ok" : "failed");
	px_nft_close(nft);
	px_policy_free(&plus);
	px_policy_free(&base);
	return rc;
}
