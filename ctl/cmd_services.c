/* cmd_services.c - phalanxctl services list|add|del: published services,
 * each a limit of concurrent connections to one address and port.
 *
 * Every value is checked here, before anything is sent, against the
 * ranges the store applies (px_service_from_proto); whether
 * --exempt-set exists only the store knows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "json.h"
#include "policy.h"
#include "px.h"
#include "wire.h"

/* The store's bound on a service's connections (px_service_from_proto). */
#define SERVICE_LIMIT_MAX 1000000

static const char *str(const char *s)
{
	return s ? s : "";
}

/* The address of s into buf (PX_ENTRY_STR_MAX); 0 or an error if the
 * store sent one this build cannot read. */
static int service_dst(const Phalanx__Service *s, char *buf, size_t len)
{
	px_entry_t e;
	int rc = px_entry_decode(s->dst.data, s->dst.len, &e);

	if (rc < 0)
		return rc;
	px_entry_format(&e, buf, len);
	return 0;
}

static void list_json(const Phalanx__CtlReply *r, char (*dst)[PX_ENTRY_STR_MAX])
{
	size_t i;

	printf("{\"version\":%llu,\"services\":[",
	       (unsigned long long)r->version);
	for (i = 0; i < r->n_services; i++) {
		const Phalanx__Service *s = r->services[i];

		printf("%s{\"name\":", i ? "," : "");
		px_json_str(stdout, s->name);
		fputs(",\"dst\":", stdout);
		px_json_str(stdout, dst[i]);
		printf(",\"port\":%u,\"limit\":%llu,\"exempt_set\":",
		       (unsigned)s->port, (unsigned long long)s->limit);
		if (s->exempt_set && s->exempt_set[0])
			px_json_str(stdout, s->exempt_set);
		else
			fputs("null", stdout);
		fputs(",\"inspect\":", stdout);
		px_json_str(stdout, str(s->inspect));
		fputs(",\"allow_zone_transfer\":", stdout);
		if (s->zone_transfer_set && s->zone_transfer_set[0])
			px_json_str(stdout, s->zone_transfer_set);
		else
			fputs("null", stdout);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

enum { COL_NAME, COL_DST, COL_PORT, COL_LIMIT, COL_EXEMPT, COL_INSPECT,
       NCOLS };

static void list_table(const Phalanx__CtlReply *r,
		       char (*dst)[PX_ENTRY_STR_MAX])
{
	static const char *const head[NCOLS] = { "NAME", "DESTINATION", "PORT",
		"LIMIT", "EXEMPT", "INSPECT" };
	char **cell = xcalloc(r->n_services * NCOLS + 1, sizeof(*cell));
	size_t i;

	for (i = 0; i < r->n_services; i++) {
		const Phalanx__Service *s = r->services[i];
		char **row = cell + i * NCOLS;

		row[COL_NAME] = px_ctl_asprintf("%s", str(s->name));
		row[COL_DST] = px_ctl_asprintf("%s", dst[i]);
		row[COL_PORT] = px_ctl_asprintf("%u", (unsigned)s->port);
		row[COL_LIMIT] = px_ctl_asprintf("%llu",
						 (unsigned long long)s->limit);
		row[COL_EXEMPT] = px_ctl_asprintf("%s", s->exempt_set &&
						  s->exempt_set[0] ?
						  s->exempt_set : "-");
		/* "dns" or "dns, zone transfers from SET". */
		row[COL_INSPECT] = px_ctl_asprintf("%s%s%s",
			s->inspect && s->inspect[0] ? s->inspect : "-",
			s->zone_transfer_set && s->zone_transfer_set[0] ?
			" xfr:" : "", str(s->zone_transfer_set));
	}
	px_ctl_table("", head, NCOLS, cell, r->n_services);
}

int px_cmd_services_list(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	char (*dst)[PX_ENTRY_STR_MAX] = NULL;
	size_t i;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	if (px_ctl_read(ctl, PHALANX__CTL_REQUEST__OP__SERVICE_LIST, &env) < 0)
		goto out;
	r = env->ctl_reply;
	dst = xcalloc(r->n_services + 1, sizeof(*dst));
	for (i = 0; i < r->n_services; i++) {
		if (service_dst(r->services[i], dst[i], sizeof(dst[i])) < 0) {
			px_ctl_fail(ctl, "the store sent an address this build "
				    "cannot read (service %zu of %zu)", i + 1,
				    r->n_services);
			goto out;
		}
	}
	if (ctl->json)
		list_json(r, dst);
	else
		list_table(r, dst);
	rc = PX_EXIT_OK;
out:
	free(dst);
	px_wire_free(env);
	return rc;
}

int px_cmd_services_add(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Service svc = PHALANX__SERVICE__INIT;
	uint8_t dst[PX_ENTRY_WIRE_MAX];
	char q[PX_CTL_QUOTE_MAX];
	px_entry_t e;
	uint64_t v;
	int err;

	(void)argc;
	if (px_ctl_check_name(ctl, NULL, "service", argv[0]) < 0)
		return PX_EXIT_FAIL;
	svc.name = argv[0];
	err = px_entry_parse(ctl->dst, &e);
	px_ctl_quote(q, sizeof(q), ctl->dst);
	if (err == PX_EBADADDR)
		return px_ctl_fail(ctl, "--dst: not an address: `%s'", q);
	/* The limit counts connections to one listener. */
	if (err < 0 || e.prefix)
		return px_ctl_fail(ctl, "--dst: a service has one address, not "
				   "a prefix: `%s'", q);
	svc.dst.data = dst;
	svc.dst.len = px_entry_encode(&e, dst);
	if (px_parse_u64(ctl->port, 1, 65535, &v) < 0) {
		px_ctl_quote(q, sizeof(q), ctl->port);
		return px_ctl_fail(ctl, "--port: not a port (1..65535): `%s'", q);
	}
	svc.port = (uint32_t)v;
	if (px_parse_u64(ctl->limit, 1, SERVICE_LIMIT_MAX, &v) < 0) {
		px_ctl_quote(q, sizeof(q), ctl->limit);
		return px_ctl_fail(ctl, "--limit: not a number of connections "
				   "(1..%d): `%s'", SERVICE_LIMIT_MAX, q);
	}
	svc.limit = v;
	if (ctl->exempt_set &&
	    px_ctl_check_name(ctl, "--exempt-set", "set", ctl->exempt_set) < 0)
		return PX_EXIT_FAIL;
	svc.exempt_set = (char *)(ctl->exempt_set ? ctl->exempt_set : "");
	if (ctl->inspect && px_inspect_parse(ctl->inspect) <= 0) {
		px_ctl_quote(q, sizeof(q), ctl->inspect);
		return px_ctl_fail(ctl, "--inspect: not an inspection (dns, "
				   "pop3): `%s'", q);
	}
	svc.inspect = (char *)(ctl->inspect ? ctl->inspect : "");
	if (ctl->allow_xfr &&
	    (!ctl->inspect || px_inspect_parse(ctl->inspect) != PX_INSPECT_DNS))
		return px_ctl_fail(ctl, "--allow-zone-transfer: needs "
				   "--inspect dns");
	if (ctl->allow_xfr &&
	    px_ctl_check_name(ctl, "--allow-zone-transfer", "set",
			      ctl->allow_xfr) < 0)
		return PX_EXIT_FAIL;
	svc.zone_transfer_set = (char *)(ctl->allow_xfr ? ctl->allow_xfr : "");
	req.op = PHALANX__CTL_REQUEST__OP__SERVICE_ADD;
	req.service = &svc;
	return px_ctl_write(ctl, &req, ctl->allow_xfr ? "--allow-zone-transfer"
			    : "--exempt-set", ctl->allow_xfr ? ctl->allow_xfr :
			    ctl->exempt_set);
}

int px_cmd_services_del(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return px_ctl_write_name(ctl, PHALANX__CTL_REQUEST__OP__SERVICE_DEL,
				 "service", argv[0]);
}
