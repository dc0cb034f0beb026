/* policy.h - the array policy as plain structs: exception sets and
 * limit values at one version.  Shared by store snapshots, the member's
 * applied state, its cache file and the nftables translation. */
#ifndef PX_POLICY_H
#define PX_POLICY_H

#include <stdint.h>

#include "addr.h"
#include "limit.h"

typedef struct {
	char name[PX_SETNAME_MAX + 1];
	px_entries_t entries; /* sorted, unique */
} px_set_t;

typedef struct {
	uint64_t version, epoch;
	px_set_t *sets; /* sorted by name */
	size_t nsets;
	px_limits_t limits;
} px_policy_t;

void px_policy_init(px_policy_t *p);  /* empty, with flood-exceptions */
void px_policy_free(px_policy_t *p);
void px_policy_copy(px_policy_t *dst, const px_policy_t *src);
px_set_t *px_policy_find(const px_policy_t *p, const char *name);
/* Create an empty set (returns the existing one if present). */
px_set_t *px_policy_add_set(px_policy_t *p, const char *name);
void px_policy_del_set(px_policy_t *p, const char *name);

#endif
