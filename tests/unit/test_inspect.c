/* test_inspect.c - a service's inspection (issue 12 item 8) through the
 * wire (lib/codec.c), the policy's validation (lib/policy.c) and the
 * compiler's inspect chain (node/compile.c).  No socket, no root. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "compile.h"
#include "layout.h"
#include "policy.h"
#include "px.h"
#include "rules.h"
#include "unit.h"

static void wire_service(Phalanx__Service *w, uint8_t *buf, const char *name,
			 const char *inspect, const char *xfr)
{
	px_entry_t e;

	phalanx__service__init(w);
	w->name = (char *)name;
	px_entry_parse("203.0.113.100", &e);
	w->dst.data = buf;
	w->dst.len = px_entry_encode(&e, buf);
	w->port = 53;
	w->limit = 100;
	w->inspect = (char *)inspect;
	w->zone_transfer_set = (char *)xfr;
}

TEST(inspect_wire_checks_and_round_trip)
{
	Phalanx__Service w;
	uint8_t buf[PX_ENTRY_WIRE_MAX];
	px_policy_t p;
	px_service_t s;
	px_lists_t l;

	px_policy_init(&p);
	px_policy_add_set(&p, "xfr-ok");
	wire_service(&w, buf, "dns", "dns", "xfr-ok");
	CHECK_INT(px_service_from_proto(&p, &w, &s), 0);
	CHECK_INT(s.inspect, PX_INSPECT_DNS);
	CHECK_STR(s.xfr_set, "xfr-ok");
	wire_service(&w, buf, "dns", "pop4", "");
	CHECK_INT(px_service_from_proto(&p, &w, &s), PX_EBADREQ);
	wire_service(&w, buf, "dns", "pop3", "xfr-ok"); /* DNS only */
	CHECK_INT(px_service_from_proto(&p, &w, &s), PX_EBADREQ);
	wire_service(&w, buf, "dns", "", "xfr-ok");
	CHECK_INT(px_service_from_proto(&p, &w, &s), PX_EBADREQ);
	wire_service(&w, buf, "dns", "dns", "nope");
	CHECK_INT(px_service_from_proto(&p, &w, &s), PX_ENOSET);
	/* Into the policy and back onto the wire. */
	wire_service(&w, buf, "dns", "dns", "xfr-ok");
	CHECK_INT(px_service_from_proto(&p, &w, &s), 0);
	p.services = xcalloc(1, sizeof(*p.services));
	p.services[0] = s;
	p.nservices = 1;
	CHECK(px_policy_set_in_use(&p, "xfr-ok"));
	px_lists_build(&p, &l);
	CHECK_STR(l.services[0]->inspect, "dns");
	CHECK_STR(l.services[0]->zone_transfer_set, "xfr-ok");
	px_lists_free(&l);
	px_policy_free(&p);
}

TEST(inspect_chain_queues_with_bypass)
{
	px_policy_t p;
	px_layout_t lay;
	px_batch_t b;
	struct rules *rs = xcalloc(1, sizeof(*rs));
	size_t n = 0;

	px_policy_init(&p);
	p.services = xcalloc(2, sizeof(*p.services));
	p.nservices = 2;
	strcpy(p.services[0].name, "dns");
	px_entry_parse("203.0.113.100", &p.services[0].dst);
	p.services[0].port = 53;
	p.services[0].limit = 100;
	p.services[0].inspect = PX_INSPECT_DNS;
	p.services[1] = p.services[0];
	strcpy(p.services[1].name, "pop");
	p.services[1].port = 110;
	p.services[1].inspect = PX_INSPECT_POP3;
	CHECK_INT(px_layout_build(&p, false, &lay), 0);
	px_batch_init(&b, 100);
	px_compile_rules(&b, "phalanx", &lay);
	px_batch_finish(&b);
	px_test_read_rules(&b, rs);
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->chain[i], "inspect") == 0)
			n++;
	/* DNS: UDP and TCP, both ways; POP3: TCP to the server. */
	CHECK_INT(n, 5);
	CHECK(px_test_find_rule(rs, "inspect", "target name NFQUEUE rev 3",
				NULL) >= 0);
	/* Without inspection the chain stays empty. */
	p.services[0].inspect = p.services[1].inspect = PX_INSPECT_NONE;
	px_batch_free(&b);
	px_layout_free(&lay);
	CHECK_INT(px_layout_build(&p, false, &lay), 0);
	px_batch_init(&b, 100);
	px_compile_rules(&b, "phalanx", &lay);
	px_batch_finish(&b);
	px_test_read_rules(&b, rs);
	n = 0;
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->chain[i], "inspect") == 0)
			n++;
	CHECK_INT(n, 0);
	px_batch_free(&b);
	px_layout_free(&lay);
	px_policy_free(&p);
	free(rs);
}
