/* config.c - `phalanxctl config plan|apply': the whole policy a file
 * states, as the change from the store's current policy (a px_vdiff_t
 * that store/ops.c commits as one version, or that DIFF's reply shows).
 * Everything in the request is hostile until checked here: set names,
 * counts before decoding, entries, overlaps, and the limits and lists
 * applied to a policy of the file's own sets. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "px.h"
#include "wire.h"

#define FLOOD_EXCEPTIONS "flood-exceptions"

static int refuse(char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return rc;
}

static px_vset_t *plan_set(px_vdiff_t *d, const char *name)
{
	px_vset_t *v;

	d->sets = xrealloc(d->sets, (d->nsets + 1) * sizeof(*d->sets));
	v = &d->sets[d->nsets++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	px_entries_init(&v->add);
	px_entries_init(&v->del);
	return v;
}

/* The file's limits and lists on a policy of its own sets, packed the
 * way the store keeps them: equal bytes are an equal meta. */
static int meta_canonical(const Phalanx__ConfigApply *ca, uint8_t **buf,
			  size_t *len, char *err, size_t errlen)
{
	px_policy_t sk;
	size_t i;
	int rc = 0;

	px_policy_init(&sk);
	for (i = 0; i < ca->n_sets; i++)
		if (!px_policy_find(&sk, ca->sets[i]->set))
			px_policy_add_set(&sk, ca->sets[i]->set);
	if (ca->meta.len &&
	    (rc = px_db_meta_apply(&sk, ca->meta.data, ca->meta.len)) < 0)
		refuse(err, errlen, rc, "the limits, rules, services or "
		       "protection do not apply: %s (a rule or service names a "
		       "set the file does not have, a value out of range, an "
		       "unknown name)", px_strerror(rc));
	else
		px_db_meta_pack(&sk, buf, len);
	px_policy_free(&sk);
	return rc;
}

int px_config_plan(const px_policy_t *p, const Phalanx__ConfigApply *ca,
		   px_vdiff_t *d, char *err, size_t errlen)
{
	const px_entry_t *x, *y;
	uint8_t *cur = NULL, *want = NULL;
	size_t i, j, bad, ncur, nwant;
	bool flood = false;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	d->from = d->to = p->version;
	if (ca->n_sets > PX_SETS_MAX)
		return refuse(err, errlen, PX_ERANGE, "%zu sets: at most %d",
			      ca->n_sets, PX_SETS_MAX);
	for (i = 0; i < ca->n_sets; i++) {
		const Phalanx__SetEntries *e = ca->sets[i];

		if (!px_setname_valid(e->set))
			return refuse(err, errlen, PX_ESETNAME, "invalid set "
				      "name `%.40s'", e->set);
		for (j = 0; j < i; j++)
			if (strcmp(ca->sets[j]->set, e->set) == 0)
				return refuse(err, errlen, PX_EBADREQ, "set %s "
					      "named twice", e->set);
		if (e->n_entries > PX_SET_ENTRIES_MAX)
			return refuse(err, errlen, PX_ETOOBIG, "set %s: %zu "
				      "entries, a set holds at most %d", e->set,
				      e->n_entries, PX_SET_ENTRIES_MAX);
		flood |= strcmp(e->set, FLOOD_EXCEPTIONS) == 0;
	}
	if (!flood)
		return refuse(err, errlen, PX_EPROTECTED, "set %s always "
			      "exists: the file must name it (with no entries "
			      "for an empty one)", FLOOD_EXCEPTIONS);
	if ((rc = meta_canonical(ca, &want, &nwant, err, errlen)) < 0)
		return rc;
	/* Sets that go. */
	for (i = 0; i < p->nsets; i++) {
		for (j = 0; j < ca->n_sets; j++)
			if (strcmp(p->sets[i].name, ca->sets[j]->set) == 0)
				break;
		if (j == ca->n_sets) {
			px_vset_t *v = plan_set(d, p->sets[i].name);

			/* what it held: for the plan's reader */
			v->destroyed = true;
			px_set_settle((px_set_t *)&p->sets[i]);
			px_entries_copy(&v->del, &p->sets[i].entries);
		}
	}
	/* Sets that come or change: the file's entries against the set's. */
	for (i = 0; i < ca->n_sets && rc == 0; i++) {
		const Phalanx__SetEntries *e = ca->sets[i];
		px_set_t *s = px_policy_find(p, e->set);
		px_entries_t in;
		px_vset_t *v;

		px_entries_init(&in);
		if ((rc = px_wire_unpack_entries(e->entries, e->n_entries, &in,
						 &bad)) < 0) {
			refuse(err, errlen, rc, "set %s: entry %zu: %s", e->set,
			       bad, px_strerror(rc));
			px_entries_free(&in);
			break;
		}
		px_entries_normalize(&in);
		if ((rc = px_entries_check_overlap(&in, &x, &y)) < 0) {
			char a[PX_ENTRY_STR_MAX], b[PX_ENTRY_STR_MAX];

			px_entry_format(x, a, sizeof(a));
			px_entry_format(y, b, sizeof(b));
			refuse(err, errlen, rc, "set %s: %s overlaps %s", e->set,
			       a, b);
			px_entries_free(&in);
			break;
		}
		v = plan_set(d, e->set);
		if (!s) {
			v->created = true;
			v->add = in;
			continue;
		}
		px_set_settle((px_set_t *)s);
		px_entries_diff(&s->entries, &in, &v->add, &v->del);
		px_entries_free(&in);
	}
	if (rc == 0) {
		px_db_meta_pack(p, &cur, &ncur);
		if (ncur != nwant || memcmp(cur, want, ncur) != 0) {
			d->meta = true;
			d->meta_from = cur;
			d->meta_from_len = ncur;
			d->meta_to = want;
			d->meta_to_len = nwant;
			cur = want = NULL;
		}
	}
	free(cur);
	free(want);
	return rc;
}
