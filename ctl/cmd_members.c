/* cmd_members.c - phalanxctl members remove: forget a member the store
 * remembers (store/sync.c px_store_members_ctl). */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "json.h"
#include "px.h"
#include "wire.h"

int px_cmd_members_remove(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	char q[PX_CTL_QUOTE_MAX];

	(void)argc;
	if (!px_member_id_valid(argv[0])) {
		px_ctl_quote(q, sizeof(q), argv[0]);
		return px_ctl_usage(ctl, "not a member id: `%s'", q);
	}
	req.op = PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE;
	req.member = argv[0];
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	if (ctl->json) {
		printf("{\"removed\":");
		px_json_str(stdout, argv[0]);
		printf(",\"version\":%llu}\n",
		       (unsigned long long)env->ctl_reply->version);
	} else {
		printf("member %s removed\n", argv[0]);
	}
	px_wire_free(env);
	return PX_EXIT_OK;
}
