/* activity.c - what the members' quotas did, as they report it in their
 * heartbeats: shown by status and by limits show.
 *
 * The counts and sources come from the members through the store: the
 * quota name is quoted before it reaches the terminal, and a source
 * that does not decode is shown as "?" (null in JSON) rather than
 * failing the command that shows it. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "ctl.h"
#include "json.h"

static const char *str(const char *s)
{
	return s ? s : "";
}

static bool shown(const Phalanx__MemberStatus *m, const Phalanx__QuotaCount *q,
		  unsigned filter)
{
	if ((filter & PX_ACT_UP) && !m->up)
		return false;
	if ((filter & PX_ACT_NONZERO) && q->blocked == 0 && q->would_block == 0)
		return false;
	return true;
}

void px_ctl_activity_print(const Phalanx__CtlReply *r, unsigned filter)
{
	char quota[PX_CTL_QUOTE_MAX], src[PX_ENTRY_STR_MAX];
	size_t i, j, k, mw = 0, qw = 0, n = 0;

	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		for (j = 0; j < m->n_quotas; j++) {
			if (!shown(m, m->quotas[j], filter))
				continue;
			px_ctl_quote(quota, sizeof(quota), str(m->quotas[j]->quota));
			if (strlen(str(m->member)) > mw)
				mw = strlen(str(m->member));
			if (strlen(quota) > qw)
				qw = strlen(quota);
			n++;
		}
	}
	if (n == 0)
		return;
	fputs("quota activity:\n", stdout);
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		for (j = 0; j < m->n_quotas; j++) {
			const Phalanx__QuotaCount *q = m->quotas[j];

			if (!shown(m, q, filter))
				continue;
			px_ctl_quote(quota, sizeof(quota), str(q->quota));
			printf("  %-*s  %-*s  blocked %llu  would-block %llu",
			       (int)mw, str(m->member), (int)qw, quota,
			       (unsigned long long)q->blocked,
			       (unsigned long long)q->would_block);
			if (q->n_sources)
				fputs("  recent:", stdout);
			for (k = 0; k < q->n_sources; k++) {
				px_ctl_source_text(&q->sources[k], src,
						   sizeof(src));
				printf(" %s", src);
			}
			putchar('\n');
		}
	}
}

/* One count's fields after the opening brace, without the closing one. */
static void quota_json(const Phalanx__QuotaCount *q)
{
	char src[PX_ENTRY_STR_MAX];
	size_t k;

	fputs("\"quota\":", stdout);
	px_json_str(stdout, q->quota);
	printf(",\"blocked\":%llu,\"would_block\":%llu,\"sources\":[",
	       (unsigned long long)q->blocked,
	       (unsigned long long)q->would_block);
	for (k = 0; k < q->n_sources; k++) {
		if (k)
			putchar(',');
		if (px_ctl_source_text(&q->sources[k], src, sizeof(src)))
			px_json_str(stdout, src);
		else
			fputs("null", stdout);
	}
	putchar(']');
}

void px_ctl_activity_json(const Phalanx__CtlReply *r, unsigned filter)
{
	size_t i, j;
	int first = 1;

	putchar('[');
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		for (j = 0; j < m->n_quotas; j++) {
			if (!shown(m, m->quotas[j], filter))
				continue;
			printf("%s{\"member\":", first ? "" : ",");
			px_json_str(stdout, m->member);
			putchar(',');
			quota_json(m->quotas[j]);
			putchar('}');
			first = 0;
		}
	}
	putchar(']');
}

void px_ctl_quotas_json(const Phalanx__MemberStatus *m)
{
	size_t j;

	putchar('[');
	for (j = 0; j < m->n_quotas; j++) {
		printf("%s{", j ? "," : "");
		quota_json(m->quotas[j]);
		putchar('}');
	}
	putchar(']');
}
