/* fuzz.h - helpers shared by the harnesses (static: each harness is one
 * program).  A harness that feeds a file loader writes the input into a
 * private directory made once per process (tmpfs /dev/shm when there is
 * one, so the loaders' fsync costs nothing), removed at exit. */
#ifndef PX_FUZZ_H
#define PX_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "policy.h"
#include "px.h"
#include "wire.h"

static char fuzz_dir[64];

static inline void fuzz_dir_remove(void)
{
	static const char *const leftovers[] = { "in", "in.tmp", "in.bad",
						 "in.migrated",
						 "out", "out.tmp",
						 "db/data.mdb", "db/lock.mdb" };
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(leftovers) / sizeof(leftovers[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_dir, leftovers[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/db", fuzz_dir);
	rmdir(path);
	rmdir(fuzz_dir);
}

/* The path of file name in the private directory (made on first use). */
static inline const char *fuzz_path(const char *name)
{
	static char path[128];

	if (!fuzz_dir[0]) {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "/dev/shm/pxfuzz.XXXXXX");
		if (!mkdtemp(fuzz_dir)) {
			snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/pxfuzz.XXXXXX");
			if (!mkdtemp(fuzz_dir)) {
				perror("fuzz: mkdtemp /tmp/pxfuzz.XXXXXX");
				abort();
			}
		}
		atexit(fuzz_dir_remove);
	}
	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
	return path;
}

/* Write data to the private file name (replacing it); its path. */
static inline const char *fuzz_file(const char *name, const uint8_t *data,
			     size_t size)
{
	const char *path = fuzz_path(name);
	FILE *f = fopen(path, "we");

	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
		perror(path);
		abort();
	}
	return path;
}

/* The same policy: version, sets and their entries, limits, tiers,
 * rules and services (the fields the codec carries). */
static inline int fuzz_policy_equal(const px_policy_t *a, const px_policy_t *b)
{
	size_t i;

	if (a->version != b->version || a->nsets != b->nsets ||
	    a->nrules != b->nrules || a->nservices != b->nservices)
		return 0;
	for (i = 0; i < a->nsets; i++)
		if (strcmp(a->sets[i].name, b->sets[i].name) ||
		    a->sets[i].entries.n != b->sets[i].entries.n ||
		    (a->sets[i].entries.n &&
		     memcmp(a->sets[i].entries.v, b->sets[i].entries.v,
			    a->sets[i].entries.n * sizeof(px_entry_t))))
			return 0;
	for (i = 0; i < PX_LIM_COUNT; i++)
		if (a->limits.value[i] != b->limits.value[i] ||
		    a->limits.mode[i] != b->limits.mode[i])
			return 0;
	for (i = 0; i < a->nrules; i++)
		if (memcmp(&a->rules[i], &b->rules[i], sizeof(px_rule_t)))
			return 0;
	for (i = 0; i < a->nservices; i++)
		if (memcmp(&a->services[i], &b->services[i],
			   sizeof(px_service_t)))
			return 0;
	return a->limits.ntiers == b->limits.ntiers;
}

/* The member's check before it builds a batch (px_policy_validate):
 * only policies that pass it must survive the round trips. */
static inline int fuzz_policy_consistent(const px_policy_t *p)
{
	char why[200];

	return px_policy_validate(p, why, sizeof(why)) == 0;
}

/* A px_policy_chunks callback: chunk c packed into an Envelope, unpacked
 * again and applied to the policy arg (what we pack we must unpack). */
static inline int fuzz_chunk_through_wire(Phalanx__SnapshotChunk *c, void *arg)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT, *got;
	px_policy_t *q = arg;
	uint8_t *buf;
	size_t n;
	int rc;

	env.proto_version = PX_PROTO_VERSION;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	n = phalanx__envelope__get_packed_size(&env);
	buf = xmalloc(n);
	phalanx__envelope__pack(&env, buf);
	got = phalanx__envelope__unpack(NULL, n, buf);
	free(buf);
	if (!got)
		__builtin_trap();
	rc = px_policy_apply_chunk(q, got->snapshot_chunk);
	phalanx__envelope__free_unpacked(got, NULL);
	return rc;
}

#endif
