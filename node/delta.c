/* delta.c - entry-only changes planned against the applied policy and
 * applied to it in place (delta.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "px.h"
#include "wire.h"

/* Per-entry memmove up to this many entries a set, one merge pass above:
 * each memmove moves at most the whole array (22 MB at 1M entries, about
 * a millisecond), the merge allocates a second array once. */
#define MEMMOVE_MAX 64

static bool present(const px_entries_t *s, const px_entry_t *e, size_t at)
{
	return at < s->n && px_entry_cmp(&s->v[at], e) == 0;
}

bool px_delta_entry_only(Phalanx__Envelope *const *parts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const Phalanx__Change *c = parts[i]->change;

		if (!c || c->n_limits || c->rules_set || c->n_rules ||
		    c->services_set || c->n_services)
			return false;
		for (size_t k = 0; k < c->n_sets; k++)
			if (c->sets[k]->kind != PHALANX__SET_OP__KIND__ADD &&
			    c->sets[k]->kind != PHALANX__SET_OP__KIND__DEL)
				return false;
	}
	return true;
}

/* One operation against set s into d: only what changes the set. */
static int plan_op(const px_set_t *s, const Phalanx__SetOp *op,
		   px_set_delta_t *d, char *why, size_t len)
{
	bool add = op->kind == PHALANX__SET_OP__KIND__ADD;
	char a[PX_ENTRY_STR_MAX], b[PX_ENTRY_STR_MAX];
	const px_entry_t *x, *y;
	px_entries_t in;
	size_t bad = 0;
	int rc = -1;

	px_entries_init(&in);
	rc = px_wire_unpack_entries(op->entries, op->n_entries, &in, &bad);
	if (rc < 0) {
		px_refuse(why, len, rc, "set %s: entry %zu: %s", s->name, bad,
		       px_strerror(rc));
		goto out;
	}
	px_entries_normalize(&in);
	if (add && (rc = px_entries_check_overlap(&in, &x, &y)) < 0) {
		px_entry_format(x, a, sizeof(a));
		px_entry_format(y, b, sizeof(b));
		px_refuse(why, len, rc, "set %s: %s overlaps %s", s->name, a, b);
		goto out;
	}
	for (size_t i = 0; i < in.n; i++) {
		const px_entry_t *e = &in.v[i];
		size_t at = px_entries_lower_bound(&s->entries, e);

		/* An add of a present entry, a delete of an absent one:
		 * nothing for the kernel (which would refuse the delete). */
		if (present(&s->entries, e, at) != add)
			px_entries_push(add ? &d->add : &d->del, e);
	}
	for (size_t i = 0; add && i < d->add.n; i++) {
		const px_entry_t *e = &d->add.v[i];

		/* The member's sets hold no pending overlay: this is the
		 * store's check against the applied entries. */
		if ((x = px_set_overlap(s, e))) {
			px_entry_format(x, a, sizeof(a));
			px_entry_format(e, b, sizeof(b));
			rc = px_refuse(why, len, PX_EOVERLAP, "set %s: %s overlaps "
				    "%s", s->name, b, a);
			goto out;
		}
	}
	if (s->entries.n + d->add.n > PX_SET_ENTRIES_MAX) {
		rc = px_refuse(why, len, PX_ETOOBIG, "set %s: %zu entries and %zu "
			    "more: over %d", s->name, s->entries.n, d->add.n,
			    PX_SET_ENTRIES_MAX);
		goto out;
	}
	rc = 0;
out:
	px_entries_free(&in);
	return rc;
}

int px_delta_plan(const px_policy_t *p, Phalanx__Envelope *const *parts,
		  size_t n, px_delta_t *out, uint32_t *part, char *why,
		  size_t len)
{
	size_t nops = 0, nentries = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (why && len)
		why[0] = '\0';
	*part = 0;
	for (size_t i = 0; i < n; i++) {
		const Phalanx__Change *c = parts[i]->change;

		nops += c->n_sets;
		for (size_t k = 0; k < c->n_sets; k++)
			nentries += c->sets[k]->n_entries;
	}
	if (nentries > PX_DELTA_MAX)
		return 1;
	out->v = xcalloc(nops ? nops : 1, sizeof(*out->v));
	for (size_t i = 0; i < n; i++) {
		const Phalanx__Change *c = parts[i]->change;

		*part = c->part;
		for (size_t k = 0; k < c->n_sets; k++) {
			const Phalanx__SetOp *op = c->sets[k];
			px_set_delta_t *d = &out->v[out->n];
			const px_set_t *s;

			if (!px_setname_valid(op->set)) {
				rc = px_refuse(why, len, PX_ESETNAME, "set name "
					    "`%.40s'", op->set);
				goto fail;
			}
			for (size_t m = 0; m < out->n; m++)
				if (strcmp(out->v[m].set, op->set) == 0) {
					rc = 1;
					goto fail;
				}
			s = px_policy_find(p, op->set);
			if (!s) {
				rc = px_refuse(why, len, PX_ENOSET, "set %s",
					    op->set);
				goto fail;
			}
			snprintf(d->set, sizeof(d->set), "%s", op->set);
			px_entries_init(&d->add);
			px_entries_init(&d->del);
			out->n++;
			rc = plan_op(s, op, d, why, len);
			if (rc < 0)
				goto fail;
			out->nentries += d->add.n + d->del.n;
		}
	}
	*part = 0;
	return 0;
fail:
	px_delta_free(out);
	return rc;
}

static void grow(px_entries_t *s, size_t want)
{
	size_t cap = s->cap ? s->cap : 16;

	if (want <= s->cap)
		return;
	while (cap < want)
		cap *= 2;
	s->v = xrealloc(s->v, cap * sizeof(*s->v));
	s->cap = cap;
}

static void apply_set(px_entries_t *s, const px_set_delta_t *d)
{
	if (d->add.n + d->del.n > MEMMOVE_MAX) {
		px_entries_apply(s, &d->add, &d->del);
		return;
	}
	for (size_t i = 0; i < d->del.n; i++) {
		size_t at = px_entries_lower_bound(s, &d->del.v[i]);

		if (!present(s, &d->del.v[i], at))
			continue;
		memmove(&s->v[at], &s->v[at + 1],
			(s->n - at - 1) * sizeof(*s->v));
		s->n--;
	}
	grow(s, s->n + d->add.n);
	for (size_t i = 0; i < d->add.n; i++) {
		size_t at = px_entries_lower_bound(s, &d->add.v[i]);

		if (present(s, &d->add.v[i], at))
			continue;
		memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
		s->v[at] = d->add.v[i];
		s->n++;
	}
}

void px_delta_apply(px_policy_t *p, const px_delta_t *d)
{
	for (size_t i = 0; i < d->n; i++) {
		px_set_t *s = px_policy_find(p, d->v[i].set);

		/* Planned against p: the set is there. */
		if (s)
			apply_set(&s->entries, &d->v[i]);
	}
}

void px_delta_free(px_delta_t *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		px_entries_free(&d->v[i].add);
		px_entries_free(&d->v[i].del);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}
