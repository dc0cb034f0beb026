/* cmd_alerts.c - phalanxctl alerts list|watch|reset|define: the alerts of
 * the whole array, as the store keeps them (store/alerts.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "json.h"
#include "px.h"
#include "wire.h"

static const char *str(const char *s)
{
	return s ? s : "";
}

/* --since: "30s", "10m", "2h", "1d" ago; "YYYY-MM-DD[THH:MM[:SS]]" local
 * time; "@SECONDS" since the epoch.  0 or a usage error. */
int px_ctl_parse_since(px_ctl_t *ctl, const char *s, uint64_t *ms)
{
	char q[PX_CTL_QUOTE_MAX], num[24], *end;
	size_t n = strlen(s);
	uint64_t v, unit = 0;
	struct tm tm;

	if (s[0] == '@') {
		if (px_parse_u64(s + 1, 0, UINT64_MAX / 1000, &v) == 0) {
			*ms = v * 1000;
			return 0;
		}
	} else if (n >= 2 && n < sizeof(num) && strchr("smhd", s[n - 1])) {
		static const uint64_t units[] = { 1000, 60000, 3600000,
						  86400000 };

		unit = units[strchr("smhd", s[n - 1]) - "smhd"];
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		if (px_parse_u64(num, 0, 3650ull * 86400000 / unit, &v) == 0) {
			uint64_t now = px_now_ms();

			*ms = v * unit < now ? now - v * unit : 0;
			return 0;
		}
	} else {
		static const char *const fmts[] = { "%Y-%m-%dT%H:%M:%S",
			"%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
			"%Y-%m-%d" };
		size_t i;

		for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
			time_t t;

			memset(&tm, 0, sizeof(tm));
			end = strptime(s, fmts[i], &tm);
			if (!end || *end)
				continue;
			tm.tm_isdst = -1;
			t = mktime(&tm);
			if (t == (time_t)-1 || t < 0)
				break;
			*ms = (uint64_t)t * 1000;
			return 0;
		}
	}
	px_ctl_quote(q, sizeof(q), s);
	return px_ctl_usage(ctl, "--since: not a time (want 30s, 10m, 2h, 1d, "
			    "YYYY-MM-DD[THH:MM[:SS]] or @EPOCH_SECONDS): `%s'",
			    q);
}

/* An alert without a source (events-lost ...) shows "-". */
static void source_text(const Phalanx__Alert *a, char *buf, size_t len)
{
	if (!a->source.len)
		snprintf(buf, len, "-");
	else
		px_ctl_source_text(&a->source, buf, len);
}

static void print_json(const Phalanx__Alert *a)
{
	char src[PX_ENTRY_STR_MAX];

	source_text(a, src, sizeof(src));
	printf("{\"seq\":%llu,\"id\":", (unsigned long long)a->seq);
	px_json_str(stdout, a->id);
	fputs(",\"member\":", stdout);
	px_json_str(stdout, a->member);
	printf(",\"time_ms\":%llu,\"type\":", (unsigned long long)a->time_ms);
	px_json_str(stdout, a->type);
	fputs(",\"state\":", stdout);
	px_json_str(stdout, a->state);
	fputs(",\"source\":", stdout);
	if (a->source.len)
		px_json_str(stdout, src);
	else
		fputs("null", stdout);
	printf(",\"count\":%llu,\"limit\":%llu,\"suppressed\":%llu,"
	       "\"active\":%s,\"text\":", (unsigned long long)a->count,
	       (unsigned long long)a->limit, (unsigned long long)a->suppressed,
	       a->active ? "true" : "false");
	px_json_str(stdout, a->text);
	putchar('}');
}

/* One line: "#42  2025-01-02 10:11:12.345  fw1  tcp-connect-rate
 * exceeded  198.51.100.3  limit 20  ACTIVE  fw1:3:17: text". */
static void print_line(const Phalanx__Alert *a)
{
	char src[PX_ENTRY_STR_MAX], when[48], text[600], q[PX_CTL_QUOTE_MAX];

	source_text(a, src, sizeof(src));
	px_ctl_time_text(a->time_ms, when, sizeof(when));
	/* Members' free text: keep control bytes off the terminal. */
	px_ctl_quote(text, sizeof(text), str(a->text));
	px_ctl_quote(q, sizeof(q), str(a->id));
	printf("#%llu  %s  %s  %s  %s  %s", (unsigned long long)a->seq, when,
	       str(a->member), str(a->type), str(a->state), src);
	if (a->count)
		printf("  count %llu", (unsigned long long)a->count);
	if (a->limit)
		printf("  limit %llu", (unsigned long long)a->limit);
	if (a->active)
		fputs("  ACTIVE", stdout);
	printf("  %s: %s", q, text);
	if (a->suppressed)
		printf(" (%llu suppressed before)",
		       (unsigned long long)a->suppressed);
	putchar('\n');
}

static void req_filters(const px_ctl_t *ctl, Phalanx__CtlRequest *req)
{
	req->op = PHALANX__CTL_REQUEST__OP__ALERT_LIST;
	req->member = (char *)str(ctl->member);
	req->type = (char *)str(ctl->type);
	req->active_only = ctl->active;
}

int px_cmd_alerts_list(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	uint64_t n = 0, seq = 0;
	size_t i;
	int rc;

	(void)argc;
	(void)argv;
	req_filters(ctl, &req);
	if (ctl->since && (rc = px_ctl_parse_since(ctl, ctl->since, &req.since_ms)))
		return rc;
	if (ctl->json)
		fputs("{\"alerts\":[", stdout);
	/* Pages of the store's size, each after the last one's newest. */
	for (;;) {
		const Phalanx__CtlReply *r;

		if (px_ctl_request(ctl, &req, &env) < 0)
			return PX_EXIT_FAIL;
		r = env->ctl_reply;
		seq = r->alert_seq;
		for (i = 0; i < r->n_alerts; i++, n++) {
			if (ctl->json) {
				if (n)
					putchar(',');
				print_json(r->alerts[i]);
			} else {
				print_line(r->alerts[i]);
			}
		}
		if (!r->alerts_more || r->n_alerts == 0) {
			px_wire_free(env);
			break;
		}
		req.after_seq = r->alerts[r->n_alerts - 1]->seq;
		px_wire_free(env);
	}
	if (ctl->json)
		printf("],\"alert_seq\":%llu}\n", (unsigned long long)seq);
	else if (n == 0)
		fprintf(stderr, "no %salerts\n", ctl->active ? "active " : "");
	return PX_EXIT_OK;
}

static uint64_t watch_head(const Phalanx__CtlReply *r)
{
	return r->alert_seq;
}

static bool watch_page(const px_ctl_t *ctl, Phalanx__CtlRequest *req,
		       const Phalanx__CtlReply *r, uint64_t want, uint64_t *seen)
{
	size_t i;

	for (i = 0; i < r->n_alerts && (!want || *seen < want); i++) {
		if (ctl->json) {
			print_json(r->alerts[i]);
			putchar('\n');
		} else {
			print_line(r->alerts[i]);
		}
		(*seen)++;
	}
	/* Everything up to alert_seq has been looked at, unless the page
	 * was cut. */
	req->after_seq = r->alerts_more && r->n_alerts ?
		r->alerts[r->n_alerts - 1]->seq :
		r->alert_seq > req->after_seq ? r->alert_seq : req->after_seq;
	return r->alerts_more;
}

/* Alert numbers survive a store restart: no start over. */
static const px_ctl_follow_t watch = { watch_head, false, watch_page };

int px_cmd_alerts_watch(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	uint64_t want = 0;
	char q[PX_CTL_QUOTE_MAX];

	(void)argc;
	(void)argv;
	if (ctl->count && px_parse_u64(ctl->count, 1, UINT64_MAX, &want) < 0) {
		px_ctl_quote(q, sizeof(q), ctl->count);
		return px_ctl_usage(ctl, "--count: not a number (1 or more): "
				    "`%s'", q);
	}
	req_filters(ctl, &req);
	return px_ctl_follow(ctl, &req, want, &watch);
}

int px_cmd_alerts_reset(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	int rc = PX_EXIT_FAIL;

	if ((argc == 1) == ctl->all)
		return px_ctl_usage(ctl, "give one alert ID or --all");
	req.op = PHALANX__CTL_REQUEST__OP__ALERT_RESET;
	req.all = ctl->all;
	if (argc == 1)
		req.alert_id = argv[0];
	if (px_ctl_request(ctl, &req, &env) < 0)
		goto out;
	r = env->ctl_reply;
	if (ctl->json)
		printf("{\"reset\":%llu}\n", (unsigned long long)r->alerts_reset);
	else
		printf("%llu alert%s reset\n", (unsigned long long)r->alerts_reset,
		       r->alerts_reset == 1 ? "" : "s");
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}

int px_cmd_alerts_define(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__AlertDef def = PHALANX__ALERT_DEF__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	char q[PX_CTL_QUOTE_MAX];
	size_t i;
	int rc = PX_EXIT_FAIL;

	if (ctl->enable && ctl->disable)
		return px_ctl_usage(ctl, "--enable or --disable, not both");
	if (argc == 0 && (ctl->enable || ctl->disable || ctl->reset))
		return px_ctl_usage(ctl, "missing argument TYPE");
	if (argc == 1 && !ctl->enable && !ctl->disable && !ctl->reset)
		return px_ctl_usage(ctl, "give --enable, --disable or --reset "
				    "auto|manual");
	if (ctl->reset && strcmp(ctl->reset, "auto") != 0 &&
	    strcmp(ctl->reset, "manual") != 0) {
		px_ctl_quote(q, sizeof(q), ctl->reset);
		return px_ctl_usage(ctl, "--reset: want auto or manual: `%s'", q);
	}
	req.op = PHALANX__CTL_REQUEST__OP__ALERT_DEFINE;
	if (argc == 1) {
		def.type = argv[0];
		def.enabled = ctl->enable;
		def.manual = ctl->reset && strcmp(ctl->reset, "manual") == 0;
		req.alert_def = &def;
		req.define_enabled = ctl->enable || ctl->disable;
		req.define_manual = ctl->reset != NULL;
	}
	if (px_ctl_request(ctl, &req, &env) < 0)
		goto out;
	r = env->ctl_reply;
	if (ctl->json)
		fputs("{\"alert_defs\":[", stdout);
	else
		printf("%-22s %-9s %s\n", "TYPE", "STATE", "RESET");
	for (i = 0; i < r->n_alert_defs; i++) {
		const Phalanx__AlertDef *d = r->alert_defs[i];

		if (ctl->json) {
			printf("%s{\"type\":", i ? "," : "");
			px_json_str(stdout, d->type);
			printf(",\"enabled\":%s,\"reset\":\"%s\"}",
			       d->enabled ? "true" : "false",
			       d->manual ? "manual" : "auto");
		} else {
			printf("%-22s %-9s %s\n", str(d->type),
			       d->enabled ? "enabled" : "disabled",
			       d->manual ? "manual" : "auto");
		}
	}
	if (ctl->json)
		fputs("]}\n", stdout);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}
