/* cmd_limits.c - phalanxctl limits show|set.  Units, ranges and
 * descriptions come from px_limit_defs, the table the store and the
 * members enforce. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "json.h"
#include "limit.h"
#include "px.h"
#include "wire.h"

static const char *str(const char *s)
{
	return s ? s : "";
}

static const px_limit_def_t *def_of(const char *name)
{
	int id = px_limit_find(str(name));

	return id < 0 ? NULL : &px_limit_defs[id];
}

/* "600/minute", "160 connections"; malloc'd. */
static char *with_unit(const px_limit_def_t *d, uint64_t v)
{
	if (!d)
		return px_ctl_asprintf("%llu", (unsigned long long)v);
	return px_ctl_asprintf("%llu%s%s", (unsigned long long)v,
			       d->unit[0] == '/' ? "" : " ", d->unit);
}

/* "flood-exceptions=6000,vip=9000" or "-"; malloc'd. */
static char *tiers_text(const Phalanx__LimitInfo *li)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	if (li->n_tiers == 0)
		return px_ctl_asprintf("-");
	f = open_memstream(&buf, &len);
	if (!f)
		return px_ctl_asprintf("?");
	for (i = 0; i < li->n_tiers; i++)
		fprintf(f, "%s%s=%llu", i ? "," : "", str(li->tiers[i]->tier),
			(unsigned long long)li->tiers[i]->value);
	fclose(f);
	return buf;
}

static void show_json(const Phalanx__CtlReply *r)
{
	size_t i, j;

	printf("{\"version\":%llu,\"limits\":[", (unsigned long long)r->version);
	for (i = 0; i < r->n_limits; i++) {
		const Phalanx__LimitInfo *li = r->limits[i];
		const px_limit_def_t *d = def_of(li->name);

		printf("%s{\"name\":", i ? "," : "");
		px_json_str(stdout, li->name);
		printf(",\"value\":%llu,\"unit\":",
		       (unsigned long long)li->value);
		px_json_str(stdout, d ? d->unit : "");
		fputs(",\"mode\":", stdout);
		px_json_str(stdout, li->mode);
		fputs(",\"enforced\":", stdout);
		px_json_str(stdout, d ? d->enforced : "");
		fputs(",\"description\":", stdout);
		px_json_str(stdout, d ? d->help : "");
		if (d)
			printf(",\"min\":%llu,\"max\":%llu,\"default\":%llu",
			       (unsigned long long)d->min,
			       (unsigned long long)d->max,
			       (unsigned long long)d->def);
		fputs(",\"tiers\":[", stdout);
		for (j = 0; j < li->n_tiers; j++) {
			printf("%s{\"set\":", j ? "," : "");
			px_json_str(stdout, li->tiers[j]->tier);
			printf(",\"value\":%llu}",
			       (unsigned long long)li->tiers[j]->value);
		}
		fputs("]}", stdout);
	}
	fputs("]}\n", stdout);
}

enum { COL_NAME, COL_VALUE, COL_TIERS, COL_MODE, COL_ENFORCED, COL_HELP,
       NCOLS };

static void show_table(const Phalanx__CtlReply *r)
{
	static const char *const head[NCOLS] = { "LIMIT", "VALUE",
		"EXCEPTIONS", "MODE", "ENFORCED", "DESCRIPTION" };
	char **cell = xcalloc(r->n_limits * NCOLS + 1, sizeof(*cell));
	size_t w[NCOLS], i;
	int c;

	for (c = 0; c < NCOLS; c++)
		w[c] = strlen(head[c]);
	for (i = 0; i < r->n_limits; i++) {
		const Phalanx__LimitInfo *li = r->limits[i];
		const px_limit_def_t *d = def_of(li->name);
		char **row = cell + i * NCOLS;

		row[COL_NAME] = px_ctl_asprintf("%s", str(li->name));
		row[COL_VALUE] = with_unit(d, li->value);
		row[COL_TIERS] = tiers_text(li);
		row[COL_MODE] = px_ctl_asprintf("%s", str(li->mode));
		row[COL_ENFORCED] = px_ctl_asprintf("%s", d ? d->enforced : "?");
		row[COL_HELP] = px_ctl_asprintf("%s", d ? d->help : "");
		for (c = 0; c < NCOLS; c++)
			if (strlen(row[c]) > w[c])
				w[c] = strlen(row[c]);
	}
	for (c = 0; c < NCOLS - 1; c++)
		printf("%-*s  ", (int)w[c], head[c]);
	printf("%s\n", head[NCOLS - 1]);
	for (i = 0; i < r->n_limits; i++) {
		char **row = cell + i * NCOLS;

		for (c = 0; c < NCOLS - 1; c++)
			printf("%-*s  ", (int)w[c], row[c]);
		printf("%s\n", row[NCOLS - 1]);
	}
	for (i = 0; i < r->n_limits * NCOLS; i++)
		free(cell[i]);
	free(cell);
}

int px_cmd_limits_show(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	req.op = PHALANX__CTL_REQUEST__OP__LIMIT_SHOW;
	req.set = "";
	if (px_ctl_call(ctl, &req, &env) < 0)
		goto out;
	if (env->ctl_reply->status != 0) {
		px_ctl_fail(ctl, "%s", px_ctl_reply_error(ctl, env->ctl_reply));
		goto out;
	}
	if (ctl->json)
		show_json(env->ctl_reply);
	else
		show_table(env->ctl_reply);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}

static int unknown_limit(const px_ctl_t *ctl, const char *name)
{
	char q[PX_CTL_QUOTE_MAX], names[512];
	size_t o = 0;
	int i;

	for (i = 0; i < PX_LIM_COUNT && o < sizeof(names); i++)
		o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
				      i ? ", " : "", px_limit_defs[i].name);
	px_ctl_quote(q, sizeof(q), name);
	return px_ctl_fail(ctl, "%s: `%s' (limits: %s)",
			   px_strerror(PX_ENOLIMIT), q, names);
}

static int bad_value(const px_ctl_t *ctl, int id, int err, const char *s)
{
	const px_limit_def_t *d = &px_limit_defs[id];
	int rate = strcmp(d->unit, "/minute") == 0;
	char q[PX_CTL_QUOTE_MAX];

	px_ctl_quote(q, sizeof(q), s);
	if (err == PX_ERANGE)
		return px_ctl_fail(ctl, "%s for %s (%llu..%llu%s%s%s): `%s'",
				   px_strerror(PX_ERANGE), d->name,
				   (unsigned long long)d->min,
				   (unsigned long long)d->max,
				   rate ? "" : " ", d->unit,
				   ctl->set ? "; 0 removes the tier" : "", q);
	return px_ctl_fail(ctl, "not a value for %s (want a number%s): `%s'",
			   d->name, rate ? ", N/minute or N/second" : "", q);
}

int px_cmd_limits_set(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__LimitOp op = PHALANX__LIMIT_OP__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	char q[PX_CTL_QUOTE_MAX];
	uint64_t value = 0;
	px_mode_t mode;
	int id, err, rc = PX_EXIT_FAIL;

	(void)argc;
	id = px_limit_find(argv[0]);
	if (id < 0)
		return unknown_limit(ctl, argv[0]);
	/* A tier has a value only; the mode belongs to the limit. */
	if (ctl->set && ctl->mode)
		return px_ctl_usage(ctl, "--mode applies to the limit, not to "
				    "the exception tier named by --set");
	if (ctl->set && !px_setname_valid(ctl->set)) {
		px_ctl_quote(q, sizeof(q), ctl->set);
		return px_ctl_fail(ctl, "--set: %s: `%s'",
				   px_strerror(PX_ESETNAME), q);
	}
	if (ctl->set && px_parse_u64(argv[1], 0, 0, &value) == 0)
		err = 0; /* 0 removes the tier */
	else
		err = px_limit_parse(id, argv[1], &value);
	if (err < 0)
		return bad_value(ctl, id, err, argv[1]);
	if (ctl->mode && px_mode_parse(ctl->mode, &mode) < 0) {
		px_ctl_quote(q, sizeof(q), ctl->mode);
		return px_ctl_fail(ctl, "--mode: not a mode (want enforce or "
				   "observe): `%s'", q);
	}

	op.name = (char *)px_limit_defs[id].name;
	op.tier = (char *)(ctl->set ? ctl->set : "");
	op.value = value;
	op.mode = (char *)(ctl->mode ? px_mode_name(mode) : "");
	req.op = PHALANX__CTL_REQUEST__OP__LIMIT_SET;
	req.set = "";
	req.limit = &op;
	if (px_ctl_call(ctl, &req, &env) < 0)
		goto out;
	r = env->ctl_reply;
	if (r->status != 0) {
		const char *e = px_ctl_reply_error(ctl, r);

		/* Name the tier's set the store did not find. */
		if (r->status == PX_ENOSET && ctl->set && !strstr(e, ctl->set)) {
			px_ctl_quote(q, sizeof(q), ctl->set);
			px_ctl_fail(ctl, "--set: %s: `%s'", e, q);
		} else {
			px_ctl_fail(ctl, "%s", e);
		}
		goto out;
	}
	rc = px_ctl_write_done(ctl, r->version);
out:
	px_wire_free(env);
	return rc;
}
