/* cmd_protect.c - phalanxctl's attack protection (issue 12): networks
 * list|add|del, policy default, protection show|set,
 * checksum-exclusions set|show, ids show|set.  Array-wide
 * settings kept by the store (store/protect.c) and applied by every
 * member (node/compile.c); docs/protection.md explains each.
 *
 * Values are checked here against the same table the store uses
 * (px_prot_defs), so a typo is a usage error before anything is sent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "client.h"
#include "csx.h"
#include "ids.h"
#include "ctl.h"
#include "json.h"
#include "policy.h"
#include "px.h"
#include "wire.h"

/* Send a SHOW and hand back the store's protection (NULL with an error
 * printed).  *env is the caller's: px_wire_free. */
static const Phalanx__Protection *show(px_ctl_t *ctl, Phalanx__Envelope **env)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;

	op.kind = PHALANX__PROTECT_OP__KIND__SHOW;
	req.op = PHALANX__CTL_REQUEST__OP__PROTECT;
	req.protect = &op;
	if (px_ctl_request(ctl, &req, env) < 0)
		return NULL;
	if (!(*env)->ctl_reply->protection) {
		px_ctl_fail(ctl, "the store sent no protection settings (an "
			    "older store?)");
		return NULL;
	}
	return (*env)->ctl_reply->protection;
}

static int write_op(px_ctl_t *ctl, Phalanx__ProtectOp *op)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;

	req.op = PHALANX__CTL_REQUEST__OP__PROTECT;
	req.protect = op;
	return px_ctl_write(ctl, &req, NULL, NULL);
}

int px_cmd_networks_list(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	const Phalanx__Protection *pr;
	char buf[PX_ENTRY_STR_MAX];
	int rc = PX_EXIT_FAIL;
	px_entry_t e;

	(void)argc;
	(void)argv;
	if (!(pr = show(ctl, &env)))
		goto out;
	if (ctl->json)
		printf("{\"version\":%llu,\"networks\":[",
		       (unsigned long long)env->ctl_reply->version);
	else if (pr->n_networks == 0)
		printf("no networks: every interface is external and spoof "
		       "detection is off\n");
	for (size_t i = 0; i < pr->n_networks; i++) {
		const Phalanx__Network *n = pr->networks[i];

		if (ctl->json) {
			printf("%s{\"name\":", i ? "," : "");
			px_json_str(stdout, n->name);
			printf(",\"intra_array\":%s,\"dhcp_interface\":",
			       n->intra_array ? "true" : "false");
			if (n->dhcp_interface && n->dhcp_interface[0])
				px_json_str(stdout, n->dhcp_interface);
			else
				fputs("null", stdout);
			fputs(",\"prefixes\":[", stdout);
		} else {
			printf("%s%s", n->name, n->intra_array ?
			       " (intra-array)" : "");
			if (n->dhcp_interface && n->dhcp_interface[0])
				printf(" (DHCP on %.15s)", n->dhcp_interface);
			putchar(' ');
		}
		for (size_t j = 0; j < n->n_prefixes; j++) {
			if (px_entry_decode(n->prefixes[j].data,
					    n->prefixes[j].len, &e) < 0) {
				px_ctl_fail(ctl, "network %s: the store sent a "
					    "prefix this build cannot read",
					    n->name);
				goto out;
			}
			px_entry_format(&e, buf, sizeof(buf));
			if (ctl->json) {
				printf("%s", j ? "," : "");
				px_json_str(stdout, buf);
			} else {
				printf(" %s", buf);
			}
		}
		fputs(ctl->json ? "]}" : "\n", stdout);
	}
	if (ctl->json)
		fputs("]}\n", stdout);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}

int px_cmd_networks_add(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	Phalanx__Network net = PHALANX__NETWORK__INIT;
	ProtobufCBinaryData bins[PX_NETWORK_PREFIXES_MAX];
	uint8_t buf[PX_NETWORK_PREFIXES_MAX][PX_ENTRY_WIRE_MAX];
	char q[PX_CTL_QUOTE_MAX];
	px_entry_t e;
	int err;

	if (px_ctl_check_name(ctl, NULL, "network", argv[0]) < 0)
		return PX_EXIT_FAIL;
	if (argc - 1 > PX_NETWORK_PREFIXES_MAX)
		return px_ctl_usage(ctl, "%d prefixes: a network holds at most "
				    "%d", argc - 1, PX_NETWORK_PREFIXES_MAX);
	for (int i = 1; i < argc; i++) {
		err = px_entry_parse(argv[i], &e);
		if (err < 0) {
			px_ctl_quote(q, sizeof(q), argv[i]);
			return px_ctl_usage(ctl, "prefix %d: %s: `%s'", i,
					    px_strerror(err), q);
		}
		bins[i - 1].data = buf[i - 1];
		bins[i - 1].len = px_entry_encode(&e, buf[i - 1]);
	}
	net.name = argv[0];
	net.prefixes = bins;
	net.n_prefixes = (size_t)argc - 1;
	net.intra_array = ctl->intra_array;
	if (ctl->dhcp_interface) {
		size_t n = strlen(ctl->dhcp_interface);

		if (n == 0 || n > PX_NET_IFNAME_MAX ||
		    strpbrk(ctl->dhcp_interface, "/: \t\n")) {
			px_ctl_quote(q, sizeof(q), ctl->dhcp_interface);
			return px_ctl_usage(ctl, "--dhcp-interface: not an "
					    "interface name: `%s'", q);
		}
		net.dhcp_interface = (char *)ctl->dhcp_interface;
	}
	op.kind = PHALANX__PROTECT_OP__KIND__NETWORK_ADD;
	op.network = &net;
	return write_op(ctl, &op);
}

int px_cmd_networks_del(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;

	(void)argc;
	if (px_ctl_check_name(ctl, NULL, "network", argv[0]) < 0)
		return PX_EXIT_FAIL;
	op.kind = PHALANX__PROTECT_OP__KIND__NETWORK_DEL;
	op.name = argv[0];
	return write_op(ctl, &op);
}

/* `protection set NAME VALUE' and `policy default VALUE'. */
static int set(px_ctl_t *ctl, const char *name, const char *value)
{
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	char q[PX_CTL_QUOTE_MAX], vals[128] = "";
	int id = px_prot_find(name);

	if (id < 0) {
		px_ctl_quote(q, sizeof(q), name);
		return px_ctl_usage(ctl, "unknown setting `%s' (default-policy, "
				    "fragments, ip-options)", q);
	}
	if (px_prot_value(id, value) < 0) {
		for (int i = 0; i < PX_PROT_VALUES_MAX &&
		     px_prot_defs[id].values[i]; i++)
			snprintf(vals + strlen(vals), sizeof(vals) - strlen(vals),
				 "%s%s", i ? "|" : "", px_prot_defs[id].values[i]);
		px_ctl_quote(q, sizeof(q), value);
		return px_ctl_usage(ctl, "%s: `%s' is not one of %s", name, q,
				    vals);
	}
	op.kind = PHALANX__PROTECT_OP__KIND__SET;
	op.name = (char *)name;
	op.value = (char *)value;
	return write_op(ctl, &op);
}

int px_cmd_protection_set(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return set(ctl, argv[0], argv[1]);
}

int px_cmd_policy_default(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return set(ctl, px_prot_defs[PX_PROT_DEFAULT_POLICY].name, argv[0]);
}

int px_cmd_protection_show(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	const Phalanx__Protection *pr;
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	if (!(pr = show(ctl, &env)))
		goto out;
	if (ctl->json)
		printf("{\"version\":%llu,\"networks\":%zu,\"settings\":{",
		       (unsigned long long)env->ctl_reply->version,
		       pr->n_networks);
	for (size_t i = 0; i < pr->n_settings; i++) {
		const Phalanx__ProtectSetting *s = pr->settings[i];
		int id = px_prot_find(s->name);

		if (ctl->json) {
			printf("%s", i ? "," : "");
			px_json_str(stdout, s->name);
			putchar(':');
			px_json_str(stdout, s->value);
		} else {
			printf("%-15s %-19s %s\n", s->name, s->value,
			       id >= 0 && strcmp(s->value,
				px_prot_defs[id].values[0]) == 0 ?
			       "(default)" : "");
		}
	}
	if (ctl->json) {
		/* `checksum-exclusions show --json' has the list. */
		fputs("}}\n", stdout);
	} else {
		printf("%-15s %-19s %s\n", "spoof-detection",
		       pr->n_networks ? "on" : "off",
		       pr->n_networks ? "(networks defined)" :
		       "(no networks: `networks add')");
		printf("%-15s %-19s %s\n", "tcp-checksum", "validated",
		       pr->checksum_exclusions && pr->checksum_exclusions[0] ?
		       "(with exclusions: `checksum-exclusions show')" :
		       "(no exclusions)");
	}
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}

/* `checksum-exclusions set STRING': checked here with the parser the
 * store and the members use (lib/csx.c), so a malformed list is a usage
 * error naming the entry and the position before anything is sent. */
int px_cmd_csx_set(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	px_csx_t *c = xmalloc(sizeof(*c));
	char why[200];
	int err;

	(void)argc;
	err = px_csx_parse(argv[0], c, why, sizeof(why));
	free(c);
	if (err < 0)
		return px_ctl_usage(ctl, "checksum exclusions: %s (the format "
				    "is src:sport>dst:dport; as in "
				    "\"12.0.0.0:0>14.15.16.17:80;\")", why);
	op.kind = PHALANX__PROTECT_OP__KIND__CHECKSUM_EXCLUSIONS;
	op.value = argv[0];
	return write_op(ctl, &op);
}

/* `checksum-exclusions show': the list exactly as the article writes it
 * (what `set' takes), or with --json the string and its entries. */
int px_cmd_csx_show(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	const Phalanx__Protection *pr;
	const char *s;
	px_csx_t *c = xmalloc(sizeof(*c));
	char why[200];
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	if (!(pr = show(ctl, &env)))
		goto out;
	s = pr->checksum_exclusions ? pr->checksum_exclusions : "";
	if (px_csx_parse(s, c, why, sizeof(why)) < 0) {
		px_ctl_fail(ctl, "the store sent checksum exclusions this build "
			    "cannot read: %s", why);
		goto out;
	}
	if (!ctl->json) {
		printf("%s\n", s);
	} else {
		printf("{\"version\":%llu,\"checksum_exclusions\":",
		       (unsigned long long)env->ctl_reply->version);
		px_json_str(stdout, s);
		fputs(",\"entries\":[", stdout);
		for (size_t i = 0; i < c->n; i++) {
			const px_csx_entry_t *e = &c->v[i];

			printf("%s{\"src\":\"%u.%u.%u.%u\",\"sport\":%u,"
			       "\"dst\":\"%u.%u.%u.%u\",\"dport\":%u}",
			       i ? "," : "", e->src[0], e->src[1], e->src[2],
			       e->src[3], e->sport, e->dst[0], e->dst[1],
			       e->dst[2], e->dst[3], e->dport);
		}
		fputs("]}\n", stdout);
	}
	rc = PX_EXIT_OK;
out:
	free(c);
	px_wire_free(env);
	return rc;
}

/* N within lo..hi for --NAME (0 ok when lo is 0). */
static int ids_number(px_ctl_t *ctl, const char *name, const char *v,
		      uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < lo || n > hi)
		return px_ctl_usage(ctl, "--%s: want %u to %u: `%.40s'", name,
				    lo, hi, v);
	*out = (uint32_t)n;
	return 0;
}

/* `ids set NAME on|off [--threshold N] [--window SECONDS] [--block
 * SECONDS]': checked against the table the store and members use. */
int px_cmd_ids_set(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__ProtectOp op = PHALANX__PROTECT_OP__INIT;
	Phalanx__IdsSetting d = PHALANX__IDS_SETTING__INIT;
	int id, rc;

	(void)argc;
	id = px_ids_find(argv[0]);
	if (id < 0) {
		char names[160] = "";

		for (int i = 0; i < PX_IDS_COUNT; i++)
			snprintf(names + strlen(names),
				 sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", px_ids_defs[i].name);
		return px_ctl_usage(ctl, "unknown detection `%.40s' (%s)",
				    argv[0], names);
	}
	if (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0)
		return px_ctl_usage(ctl, "want on or off: `%.40s'", argv[1]);
	d.name = argv[0];
	d.off = strcmp(argv[1], "off") == 0;
	if (ctl->threshold) {
		if ((rc = ids_number(ctl, "threshold", ctl->threshold, 1,
				     PX_IDS_THRESHOLD_MAX, &d.threshold)))
			return rc;
		d.given |= 1;
	}
	if (ctl->window) {
		if ((rc = ids_number(ctl, "window", ctl->window, 1,
				     PX_IDS_WINDOW_MAX, &d.window_s)))
			return rc;
		d.given |= 2;
	}
	if (ctl->block) {
		if ((rc = ids_number(ctl, "block", ctl->block, 0,
				     PX_IDS_BLOCK_MAX, &d.block_s)))
			return rc;
		d.given |= 4;
	}
	op.kind = PHALANX__PROTECT_OP__KIND__IDS_SET;
	op.ids = &d;
	return write_op(ctl, &op);
}

/* `ids show': every detection with its effective settings. */
int px_cmd_ids_show(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__Envelope *env = NULL;
	const Phalanx__Protection *pr;
	px_ids_t ids[PX_IDS_COUNT];
	int rc = PX_EXIT_FAIL;

	(void)argc;
	(void)argv;
	if (!(pr = show(ctl, &env)))
		goto out;
	memset(ids, 0, sizeof(ids));
	for (size_t i = 0; i < pr->n_ids; i++) {
		int id = px_ids_find(pr->ids[i]->name);

		if (id < 0)
			continue; /* a newer store's detection */
		ids[id].off = pr->ids[i]->off;
		ids[id].threshold = pr->ids[i]->threshold;
		ids[id].window_s = pr->ids[i]->window_s;
		ids[id].block_s = pr->ids[i]->block_s;
	}
	if (ctl->json)
		printf("{\"version\":%llu,\"ids\":[",
		       (unsigned long long)env->ctl_reply->version);
	else
		printf("%-14s %-4s %9s %7s %6s  %s\n", "detection", "", "threshold",
		       "window", "block", "");
	for (int i = 0; i < PX_IDS_COUNT; i++) {
		const px_ids_def_t *def = &px_ids_defs[i];
		const px_ids_t *s = &ids[i];

		if (ctl->json) {
			printf("%s{\"name\":\"%s\",\"on\":%s,\"threshold\":%u,"
			       "\"counts\":\"%s\",\"window_s\":%u,"
			       "\"block_s\":%u,\"built\":%s}", i ? "," : "",
			       def->name, s->off ? "false" : "true",
			       px_ids_threshold(i, s), def->counts,
			       px_ids_window(i, s), s->block_s,
			       def->built ? "true" : "false");
		} else {
			char blk[16];

			snprintf(blk, sizeof(blk), "%us", s->block_s);
			printf("%-14s %-4s %9u %6us %6s  %s%s\n", def->name,
			       s->off ? "off" : "on", px_ids_threshold(i, s),
			       px_ids_window(i, s), s->block_s ? blk : "-",
			       def->counts,
			       def->built ? "" : " (not built yet)");
		}
	}
	if (ctl->json)
		fputs("]}\n", stdout);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}
