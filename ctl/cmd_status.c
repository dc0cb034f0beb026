/* cmd_status.c - phalanxctl status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "json.h"
#include "wire.h"

static const char *str(const char *s)
{
	return s ? s : "";
}

/* "0.4s ago", "3m07s ago", "2h05m ago", "never". */
static void age_format(const Phalanx__CtlReply *r,
		       const Phalanx__MemberStatus *m, char *buf, size_t len)
{
	uint64_t ms;

	if (m->last_heartbeat_ms == 0) {
		snprintf(buf, len, "never");
		return;
	}
	ms = px_ctl_heartbeat_age_ms(r, m);
	if (ms < 100000)
		snprintf(buf, len, "%.1fs ago", (double)ms / 1000.0);
	else if (ms < 6000000)
		snprintf(buf, len, "%llum%02llus ago",
			 (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms / 1000 % 60));
	else
		snprintf(buf, len, "%lluh%02llum ago",
			 (unsigned long long)(ms / 3600000),
			 (unsigned long long)(ms / 60000 % 60));
}

static void print_json(const px_ctl_t *ctl, const Phalanx__CtlReply *r)
{
	size_t i;

	fputs("{\"store\":", stdout);
	px_json_str(stdout, ctl->base);
	printf(",\"version\":%llu,\"epoch\":%llu,\"now_ms\":%llu,\"members\":[",
	       (unsigned long long)r->version, (unsigned long long)r->epoch,
	       (unsigned long long)r->now_ms);
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		printf("%s{\"member\":", i ? "," : "");
		px_json_str(stdout, m->member);
		printf(",\"applied_version\":%llu,\"last_heartbeat_ms\":%llu,",
		       (unsigned long long)m->applied_version,
		       (unsigned long long)m->last_heartbeat_ms);
		if (m->last_heartbeat_ms)
			printf("\"heartbeat_age_ms\":%llu,",
			       (unsigned long long)px_ctl_heartbeat_age_ms(r, m));
		else
			fputs("\"heartbeat_age_ms\":null,", stdout);
		printf("\"up\":%s,\"applying_version\":%llu,"
		       "\"out_of_service\":%s,\"health\":\"%s\",\"detail\":",
		       m->up ? "true" : "false",
		       (unsigned long long)m->applying_version,
		       m->out_of_service ? "true" : "false",
		       px_ctl_health_name(m->health));
		px_json_str(stdout, m->detail);
		fputs(",\"quotas\":", stdout);
		px_ctl_quotas_json(m);
		putchar('}');
	}
	fputs("],\"sets\":", stdout);
	px_ctl_sets_json(r);
	fputs("}\n", stdout);
}

static void print_human(const px_ctl_t *ctl, const Phalanx__CtlReply *r)
{
	size_t i, w = strlen("MEMBER");
	char age[32], applied[24], detail[1024];

	printf("store     %s  version %llu  epoch %llu\n", ctl->base,
	       (unsigned long long)r->version, (unsigned long long)r->epoch);
	for (i = 0; i < r->n_members; i++)
		if (strlen(str(r->members[i]->member)) > w)
			w = strlen(str(r->members[i]->member));
	if (r->n_members == 0)
		fputs("members: none has reported yet\n", stdout);
	else
		printf("%-*s  APPLIED  HEARTBEAT  STATE\n", (int)w, "MEMBER");
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		age_format(r, m, age, sizeof(age));
		snprintf(applied, sizeof(applied), "%llu",
			 (unsigned long long)m->applied_version);
		printf("%-*s  %-7s  %-9s  %s", (int)w, str(m->member), applied,
		       age, m->up ? "up" : "down");
		/* Health only when it has something to say. */
		if (m->health != PHALANX__HEARTBEAT__HEALTH__OK)
			printf(", %s", px_ctl_health_name(m->health));
		/* The detail is a member's free text: keep control bytes
		 * away from the terminal. */
		if (m->detail && m->detail[0]) {
			px_ctl_quote(detail, sizeof(detail), m->detail);
			printf(": %s", detail);
		}
		putchar('\n');
	}
	px_ctl_activity_print(r, PX_ACT_NONZERO);
	fputs("sets: ", stdout);
	if (r->n_sets == 0)
		fputs("none", stdout);
	for (i = 0; i < r->n_sets; i++)
		printf("%s%s (%llu %s)", i ? ", " : "", str(r->sets[i]->name),
		       (unsigned long long)r->sets[i]->count,
		       r->sets[i]->count == 1 ? "entry" : "entries");
	putchar('\n');
}

int px_cmd_status(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	if (px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__STATUS, &env) < 0)
		goto out;
	if (ctl->json)
		print_json(ctl, env->ctl_reply);
	else
		print_human(ctl, env->ctl_reply);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}
