/* config.h - the policy a `config apply' file states, as a change. */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include "phalanx.pb-c.h"
#include "policy.h"
#include "versions.h"

/* The change from p to the policy ca states (d->from = d->to = p's
 * version): sets destroyed, created, their entries added and deleted, and
 * the meta record when it differs.  ca is checked whole first: 0, or an
 * error code with err saying what is wrong (nothing is changed either
 * way).  d is the caller's to px_vdiff_free. */
int px_config_plan(const px_policy_t *p, const Phalanx__ConfigApply *ca,
		   px_vdiff_t *d, char *err, size_t errlen);

#endif
