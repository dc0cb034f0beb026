/* test_failclosed.c - the member's cache loader on damaged and hostile
 * files, and the validator every change and snapshot passes before a
 * batch is built (issue 7, defect 3). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "px.h"
#include "unit.h"

static void put(px_policy_t *p, const char *set, const char *addr)
{
	px_set_t *s = px_policy_add_set(p, set);
	px_entry_t e;

	if (px_entry_parse(addr, &e) == 0) {
		px_entries_push(&s->entries, &e);
		px_entries_normalize(&s->entries);
	}
}

/* A policy with a bit of everything: sets, prefixes, a tier, a rule. */
static void sample(px_policy_t *p)
{
	px_policy_init(p);
	p->version = 42;
	p->epoch = 9;
	put(p, "flood-exceptions", "203.0.113.9");
	put(p, "partners", "198.51.100.0/24");
	put(p, "partners", "2001:db8::/32");
	put(p, "partners", "192.0.2.77");
	px_limits_set_tier(&p->limits, PX_LIM_TCP_CONNECT_RATE, "partners",
			   5000);
	p->rules = xcalloc(1, sizeof(*p->rules));
	p->nrules = 1;
	strcpy(p->rules[0].name, "deny443");
	p->rules[0].action = PX_DENY;
	p->rules[0].proto = PX_PROTO_TCP;
	p->rules[0].port = 443;
}

static char *read_all(const char *path, size_t *n)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = xmalloc((size_t)st.st_size + 1);
	*n = (size_t)read(fd, buf, (size_t)st.st_size);
	close(fd);
	return buf;
}

static void write_all(const char *path, const char *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0) {
		if (write(fd, buf, n) != (ssize_t)n)
			abort();
		close(fd);
	}
}

static int load(const char *path, char *why, size_t len)
{
	px_policy_t q;
	int rc;

	px_policy_init(&q);
	rc = px_policy_load(path, &q, why, len);
	px_policy_free(&q);
	return rc;
}

/* The lab's reproducer, everywhere: 7 bytes overwritten at any offset,
 * every truncation, a byte flipped anywhere, a file grown by garbage. */
TEST(cache_damage_anywhere_is_refused)
{
	char path[] = "/dev/shm/px-unit-fc-XXXXXX", why[200];
	px_policy_t p;
	size_t n = 0, off, k;
	char *good, *bad;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	sample(&p);
	CHECK_INT(px_policy_save(path, &p), 0);
	px_policy_free(&p);
	good = read_all(path, &n);
	CHECK(good && n > 40);
	CHECK_INT(load(path, why, sizeof(why)), 0);
	bad = xmalloc(n + 64);
	for (off = 0; off + 7 <= n; off++) {
		memcpy(bad, good, n);
		memcpy(bad + off, "XXXXXXX", 7);
		if (memcmp(bad, good, n) == 0)
			continue;
		write_all(path, bad, n);
		if (load(path, why, sizeof(why)) == 0) {
			px_test_fail(__FILE__, __LINE__, "expected 7 bytes at "
				     "offset %zu refused, saw it load", off);
			goto out;
		}
	}
	for (off = 0; off < n; off++) {
		k = off % 8;
		memcpy(bad, good, n);
		bad[off] ^= (char)(1 << k);
		write_all(path, bad, n);
		if (load(path, why, sizeof(why)) == 0) {
			px_test_fail(__FILE__, __LINE__, "expected bit %zu of "
				     "byte %zu flipped refused, saw it load",
				     k, off);
			goto out;
		}
	}
	for (k = 0; k < n; k++) {
		write_all(path, good, k);
		if (load(path, why, sizeof(why)) == 0) {
			px_test_fail(__FILE__, __LINE__, "expected a cache cut "
				     "to %zu of %zu bytes refused", k, n);
			goto out;
		}
	}
	memcpy(bad, good, n);
	memset(bad + n, 0, 64);
	write_all(path, bad, n + 64);
	if (load(path, why, sizeof(why)) == 0)
		px_test_fail(__FILE__, __LINE__, "expected a grown cache "
			     "refused");
	/* Random bytes behind a valid header: never a crash. */
	srand(7);
	for (k = 0; k < 300; k++) {
		size_t len = 12 + (size_t)(rand() % 200);

		memcpy(bad, good, 12);
		for (off = 12; off < len && off < n + 64; off++)
			bad[off] = (char)rand();
		write_all(path, bad, len);
		(void)load(path, why, sizeof(why));
	}
	CHECK_INT(load("/nonexistent/px-cache", why, sizeof(why)), -ENOENT);
out:
	unlink(path);
	free(good);
	free(bad);
}

/* A file whose checksum is right but whose policy is hostile (what a
 * buggy or malicious writer could leave): the validator refuses it. */
TEST(cache_with_valid_checksum_but_hostile_policy_is_refused)
{
	char path[] = "/dev/shm/px-unit-fc-XXXXXX", why[200];
	px_policy_t p;
	px_set_t *s;
	px_entry_t a, b;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	sample(&p);
	s = px_policy_find(&p, "partners");
	/* Overlapping prefixes pushed past normalize: 10.0.0.0/8 and
	 * 10.1.0.0/16 in one interval set would fail in the kernel. */
	px_entry_parse("10.0.0.0/8", &a);
	px_entry_parse("10.1.0.0/16", &b);
	px_entries_push(&s->entries, &a);
	px_entries_push(&s->entries, &b);
	px_entries_normalize(&s->entries);
	CHECK_INT(px_policy_save(path, &p), 0);
	CHECK_INT(load(path, why, sizeof(why)), PX_EOVERLAP);
	CHECK(strstr(why, "partners") != NULL);
	px_policy_free(&p);
	unlink(path);
}

TEST(validator_accepts_a_sane_policy)
{
	px_policy_t p;
	char why[200];

	sample(&p);
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), 0);
	px_policy_free(&p);
	px_policy_init(&p);
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), 0);
	px_policy_free(&p);
}

TEST(validator_refuses_hostile_policies)
{
	px_policy_t p;
	px_set_t *s;
	px_entry_t e;
	char why[200];

	/* Overlapping prefixes in one set. */
	sample(&p);
	s = px_policy_find(&p, "partners");
	px_entry_parse("198.51.100.128/25", &e);
	px_entries_push(&s->entries, &e);
	px_entries_normalize(&s->entries);
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EOVERLAP);
	CHECK(strstr(why, "198.51.100.128/25") != NULL);
	px_policy_free(&p);

	/* Entries out of order, duplicated, or not canonical. */
	sample(&p);
	s = px_policy_find(&p, "partners");
	e = s->entries.v[0];
	s->entries.v[0] = s->entries.v[1];
	s->entries.v[1] = e;
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EBADREQ);
	px_policy_free(&p);
	sample(&p);
	s = px_policy_find(&p, "partners");
	s->entries.v[1] = s->entries.v[0];
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EBADREQ);
	px_policy_free(&p);
	sample(&p);
	s = px_policy_find(&p, "partners");
	s->entries.v[s->entries.n - 1].addr[15] = 1; /* host bits, /32 */
	CHECK(px_policy_validate(&p, why, sizeof(why)) < 0);
	px_policy_free(&p);
	sample(&p);
	s = px_policy_find(&p, "partners");
	s->entries.v[0].family = 5;
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EBADADDR);
	px_policy_free(&p);

	/* Counts over the limits. */
	sample(&p);
	p.nrules = PX_RULES_MAX + 1;
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ETOOBIG);
	p.nrules = 1;
	s = px_policy_find(&p, "partners");
	s->entries.n = PX_SET_ENTRIES_MAX + 1; /* checked before any read */
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ETOOBIG);
	s->entries.n = 0;
	px_policy_free(&p);

	/* Set names: bad, unsorted. */
	sample(&p);
	strcpy(p.sets[0].name, "Bad Name");
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ESETNAME);
	px_policy_free(&p);
	sample(&p);
	strcpy(p.sets[0].name, "zzz");
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EBADREQ);
	px_policy_free(&p);

	/* Limits and tiers out of range, a tier or rule naming no set. */
	sample(&p);
	p.limits.value[PX_LIM_TCP_CONCURRENT] = 0;
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ERANGE);
	px_policy_free(&p);
	sample(&p);
	p.limits.mode[PX_LIM_BLOCK_TIME] = PX_MODE_OBSERVE;
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EBADREQ);
	px_policy_free(&p);
	sample(&p);
	px_limits_set_tier(&p.limits, PX_LIM_TCP_CONNECT_RATE, "gone", 100);
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ENOSET);
	px_policy_free(&p);
	sample(&p);
	strcpy(p.rules[0].src_set, "gone");
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_ENOSET);
	px_policy_free(&p);
	sample(&p);
	p.rules[0].proto = PX_PROTO_ICMP; /* a port on an ICMP rule */
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), PX_EBADREQ);
	px_policy_free(&p);
}

/* A change is checked in two halves: the sets it touched (as each part
 * arrives) and the rest of the policy (before the batch). */
TEST(change_validator_halves)
{
	px_policy_t p;
	px_set_t *s;
	px_entry_t e;
	char why[200];

	sample(&p);
	s = px_policy_find(&p, "partners");
	px_entry_parse("198.51.100.0/25", &e);
	px_entries_push(&s->entries, &e);
	px_entries_normalize(&s->entries);
	CHECK_INT(px_policy_validate_set(s, why, sizeof(why)), PX_EOVERLAP);
	CHECK(strstr(why, "198.51.100.0/25") != NULL);
	/* The shallow half leaves entries to the per-set check... */
	CHECK_INT(px_policy_validate_shallow(&p, why, sizeof(why)), 0);
	/* ...but not a rule naming a set the change destroyed. */
	strcpy(p.rules[0].src_set, "partners");
	px_policy_del_set(&p, "partners");
	CHECK_INT(px_policy_validate_shallow(&p, why, sizeof(why)), PX_ENOSET);
	CHECK(strstr(why, "deny443") != NULL);
	px_policy_free(&p);
	sample(&p);
	CHECK_INT(px_policy_validate_set(px_policy_find(&p, "partners"), why,
					 sizeof(why)), 0);
	px_policy_free(&p);
}
