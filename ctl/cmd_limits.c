/* cmd_limits.c - phalanxctl limits show|set.  Units, ranges and
 * descriptions come from px_limit_defs, the table the store and the
 * members enforce. */
#include <stdbool.h>
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

/* A setting (block-time ...) has no tiers and no mode; a limit this
 * build does not know is shown as a quota. */
static bool is_setting(const Phalanx__LimitInfo *li)
{
	const px_limit_def_t *d = def_of(li->name);

	return d && d->setting;
}

static void show_json(const Phalanx__CtlReply *r, const Phalanx__CtlReply *st)
{
	size_t i, j;

	printf("{\"version\":%llu,\"limits\":[", (unsigned long long)r->version);
	for (i = 0; i < r->n_limits; i++) {
		const Phalanx__LimitInfo *li = r->limits[i];
		const px_limit_def_t *d = def_of(li->name);
		bool setting = is_setting(li);

		printf("%s{\"name\":", i ? "," : "");
		px_json_str(stdout, li->name);
		printf(",\"setting\":%s,\"value\":%llu,\"unit\":",
		       setting ? "true" : "false", (unsigned long long)li->value);
		px_json_str(stdout, d ? d->unit : "");
		if (!setting) {
			fputs(",\"mode\":", stdout);
			px_json_str(stdout, li->mode);
		}
		fputs(",\"enforced\":", stdout);
		px_json_str(stdout, d ? d->enforced : "");
		fputs(",\"description\":", stdout);
		px_json_str(stdout, d ? d->help : "");
		if (d)
			printf(",\"min\":%llu,\"max\":%llu,\"default\":%llu",
			       (unsigned long long)d->min,
			       (unsigned long long)d->max,
			       (unsigned long long)d->def);
		if (!setting) {
			fputs(",\"tiers\":[", stdout);
			for (j = 0; j < li->n_tiers; j++) {
				printf("%s{\"set\":", j ? "," : "");
				px_json_str(stdout, li->tiers[j]->tier);
				printf(",\"value\":%llu}",
				       (unsigned long long)li->tiers[j]->value);
			}
			putchar(']');
		}
		putchar('}');
	}
	fputs("],\"activity\":", stdout);
	px_ctl_activity_json(st, PX_ACT_UP);
	fputs("}\n", stdout);
}

enum { COL_NAME, COL_VALUE, COL_TIERS, COL_MODE, COL_ENFORCED, COL_HELP,
       NCOLS };
enum { SET_NAME, SET_VALUE, SET_HELP, NSETCOLS };

/* Quotas in a table, then what the members' quotas did, then the
 * settings, which have no tiers and no mode: name, value, what it is. */
static void show_table(const Phalanx__CtlReply *r, const Phalanx__CtlReply *st)
{
	static const char *const head[NCOLS] = { "LIMIT", "VALUE",
		"EXCEPTIONS", "MODE", "ENFORCED", "DESCRIPTION" };
	char **cell = xcalloc(r->n_limits * NCOLS + 1, sizeof(*cell));
	char **scell = xcalloc(r->n_limits * NSETCOLS + 1, sizeof(*scell));
	size_t i, nquotas = 0, nsettings = 0;

	for (i = 0; i < r->n_limits; i++) {
		const Phalanx__LimitInfo *li = r->limits[i];
		const px_limit_def_t *d = def_of(li->name);
		char **row;

		if (is_setting(li)) {
			row = scell + nsettings++ * NSETCOLS;
			row[SET_NAME] = px_ctl_asprintf("%s", str(li->name));
			row[SET_VALUE] = with_unit(d, li->value);
			row[SET_HELP] = px_ctl_asprintf("%s", d->help);
			continue;
		}
		row = cell + nquotas++ * NCOLS;
		row[COL_NAME] = px_ctl_asprintf("%s", str(li->name));
		row[COL_VALUE] = with_unit(d, li->value);
		row[COL_TIERS] = tiers_text(li);
		row[COL_MODE] = px_ctl_asprintf("%s", str(li->mode));
		row[COL_ENFORCED] = px_ctl_asprintf("%s", d ? d->enforced : "?");
		row[COL_HELP] = px_ctl_asprintf("%s", d ? d->help : "");
	}
	px_ctl_table("", head, NCOLS, cell, nquotas);
	px_ctl_activity_print(st, PX_ACT_UP);
	if (nsettings)
		fputs("settings:\n", stdout);
	px_ctl_table("  ", NULL, NSETCOLS, scell, nsettings);
}

int px_cmd_limits_show(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL, *status = NULL;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	/* The members' counts travel in their heartbeats: STATUS has them. */
	if (px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__LIMIT_SHOW, &env) < 0 ||
	    px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__STATUS, &status) < 0)
		goto out;
	if (ctl->json)
		show_json(env->ctl_reply, status->ctl_reply);
	else
		show_table(env->ctl_reply, status->ctl_reply);
	rc = PX_EXIT_OK;
out:
	px_wire_free(status);
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
	char q[PX_CTL_QUOTE_MAX];
	uint64_t value = 0;
	px_mode_t mode;
	int id, err;

	(void)argc;
	id = px_limit_find(argv[0]);
	if (id < 0)
		return unknown_limit(ctl, argv[0]);
	/* A setting is one array-wide value: the store refuses a mode or a
	 * tier for it, and a tier for a quota without exception tiers. */
	if (px_limit_defs[id].setting && (ctl->mode || ctl->set))
		return px_ctl_usage(ctl, "--%s: %s is a setting, not a quota: "
				    "it has no %s", ctl->mode ? "mode" : "set",
				    px_limit_defs[id].name, ctl->mode ? "mode" :
				    "exception tiers");
	if (ctl->set && !px_limit_defs[id].exc_def)
		return px_ctl_usage(ctl, "--set: %s has no exception tiers",
				    px_limit_defs[id].name);
	/* A tier has a value only; the mode belongs to the limit. */
	if (ctl->set && ctl->mode)
		return px_ctl_usage(ctl, "--mode applies to the limit, not to "
				    "the exception tier named by --set");
	if (ctl->set && px_ctl_check_name(ctl, "--set", "set", ctl->set) < 0)
		return PX_EXIT_FAIL;
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
	/* A refusal names the tier's set the store did not find. */
	return px_ctl_write(ctl, &req, "--set", ctl->set);
}
