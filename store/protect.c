/* protect.c - phalanxctl's attack protection requests (issue 12):
 * networks add/del, `policy default', `protection set',
 * `checksum-exclusions set', `ids set'.  Each is applied
 * to the store's copy of the next policy and validated whole
 * (px_protect_validate) before store/ctl.c commits it; nothing here
 * touches LMDB or the sockets.  docs/protection.md says what each
 * setting does on the members. */
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "px.h"
#include "store.h"

static int network_add(px_protect_t *pr, const Phalanx__Network *in,
		       char *err, size_t len)
{
	px_network_t *n;
	size_t i;
	int rc;

	if (!in)
		return px_refuse(err, len, PX_EBADREQ, "networks add: no network");
	if (!px_setname_valid(in->name))
		return px_refuse(err, len, PX_ESETNAME, "networks add: invalid "
			      "network name `%.40s' (a-z 0-9 _ -, at most 32)",
			      in->name);
	if (px_protect_network(pr, in->name))
		return px_refuse(err, len, PX_EEXIST, "networks add: network %s "
			      "already exists (del it first to change it)",
			      in->name);
	if (pr->nnetworks >= PX_NETWORKS_MAX)
		return px_refuse(err, len, PX_ETOOBIG, "networks add %s: at most "
			      "%d networks", in->name, PX_NETWORKS_MAX);
	if (in->n_prefixes == 0 || in->n_prefixes > PX_NETWORK_PREFIXES_MAX)
		return px_refuse(err, len, PX_ETOOBIG, "networks add %s: %zu "
			      "prefixes, a network holds 1 to %d", in->name,
			      in->n_prefixes, PX_NETWORK_PREFIXES_MAX);
	n = &pr->networks[pr->nnetworks];
	memset(n, 0, sizeof(*n));
	strcpy(n->name, in->name);
	n->intra_array = in->intra_array;
	if (in->dhcp_interface &&
	    strlen(in->dhcp_interface) > PX_NET_IFNAME_MAX)
		return px_refuse(err, len, PX_ETOOBIG, "networks add %s: "
				 "--dhcp-interface: over %d characters",
				 in->name, PX_NET_IFNAME_MAX);
	if (in->dhcp_interface)
		strcpy(n->dhcp_interface, in->dhcp_interface);
	rc = px_dhcp_interface_check(pr, pr->nnetworks, err, len);
	if (rc < 0)
		return rc;
	for (i = 0; i < in->n_prefixes; i++) {
		rc = px_entry_decode(in->prefixes[i].data, in->prefixes[i].len,
				     &n->prefixes[i]);
		if (rc < 0)
			return px_refuse(err, len, rc, "networks add %s: prefix "
				      "%zu: %s", in->name, i + 1,
				      px_strerror(rc));
	}
	n->nprefixes = in->n_prefixes;
	pr->nnetworks++;
	return 0;
}

int px_store_protect_request(px_policy_t *next, const Phalanx__CtlRequest *req,
			     char *err, size_t len, char *what, size_t wlen)
{
	const Phalanx__ProtectOp *op = req->protect;
	px_protect_t *pr = &next->protect;
	px_network_t *n;
	int rc, id, v;

	if (!op)
		return px_refuse(err, len, PX_EBADREQ, "protection: no operation");
	switch (op->kind) {
	case PHALANX__PROTECT_OP__KIND__NETWORK_ADD:
		rc = network_add(pr, op->network, err, len);
		if (rc < 0)
			return rc;
		snprintf(what, wlen, "networks add %s (%zu prefixes%s%s%.15s)",
			 op->network->name, op->network->n_prefixes,
			 op->network->intra_array ? ", intra-array" : "",
			 pr->networks[pr->nnetworks - 1].dhcp_interface[0] ?
			 ", DHCP on " : "",
			 pr->networks[pr->nnetworks - 1].dhcp_interface);
		break;
	case PHALANX__PROTECT_OP__KIND__NETWORK_DEL:
		n = px_protect_network(pr, op->name);
		if (!n)
			return px_refuse(err, len, PX_ENOSET, "networks del: no "
				      "network named `%.40s'", op->name);
		memmove(n, n + 1, (size_t)(&pr->networks[pr->nnetworks] -
					   (n + 1)) * sizeof(*n));
		pr->nnetworks--;
		snprintf(what, wlen, "networks del %s", op->name);
		break;
	case PHALANX__PROTECT_OP__KIND__SET:
		id = px_prot_find(op->name);
		if (id < 0)
			return px_refuse(err, len, id, "protection set: unknown "
				      "setting `%.40s' (default-policy, "
				      "fragments, ip-options)", op->name);
		v = px_prot_value(id, op->value);
		if (v < 0) {
			char vals[128] = "";

			for (int i = 0; i < PX_PROT_VALUES_MAX &&
			     px_prot_defs[id].values[i]; i++)
				snprintf(vals + strlen(vals),
					 sizeof(vals) - strlen(vals), "%s%s",
					 i ? "|" : "",
					 px_prot_defs[id].values[i]);
			return px_refuse(err, len, v, "protection set %s: `%.40s' "
				      "is not one of %s", op->name, op->value,
				      vals);
		}
		pr->setting[id] = (unsigned)v;
		snprintf(what, wlen, "protection set %s %s", op->name,
			 op->value);
		break;
	case PHALANX__PROTECT_OP__KIND__CHECKSUM_EXCLUSIONS: {
		char why[200];

		rc = px_csx_parse(op->value ? op->value : "", &pr->csx, why,
				  sizeof(why));
		if (rc < 0)
			return px_refuse(err, len, rc, "checksum-exclusions set: "
				      "%s", why);
		if (pr->csx.n)
			snprintf(what, wlen, "checksum-exclusions set \"%.*s%s\" "
				 "(%zu entr%s)", 120, op->value,
				 strlen(op->value) > 120 ? "..." : "",
				 pr->csx.n, pr->csx.n == 1 ? "y" : "ies");
		else
			snprintf(what, wlen, "checksum-exclusions set \"\" "
				 "(cleared)");
		break;
	}
	case PHALANX__PROTECT_OP__KIND__IDS_SET: {
		const Phalanx__IdsSetting *d = op->ids;
		px_ids_t *s;

		id = d ? px_ids_find(d->name) : PX_EOPTION;
		if (id < 0)
			return px_refuse(err, len, PX_EOPTION, "ids set: unknown "
					 "detection `%.40s'", d ? d->name : "");
		s = &pr->ids[id];
		s->off = d->off;
		if (d->given & 1)
			s->threshold = d->threshold;
		if (d->given & 2)
			s->window_s = d->window_s;
		if (d->given & 4)
			s->block_s = d->block_s;
		snprintf(what, wlen, "ids set %s %s (threshold %u, window %u s, "
			 "block %u s)", px_ids_defs[id].name,
			 s->off ? "off" : "on", px_ids_threshold(id, s),
			 px_ids_window(id, s), s->block_s);
		break;
	}
	default:
		return px_refuse(err, len, PX_EBADREQ, "protection: unknown "
			      "operation %d", op->kind);
	}
	/* The whole protection again: a prefix of the new network must
	 * not overlap another network's. */
	return px_protect_validate(pr, err, len);
}
