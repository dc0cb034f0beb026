/* rules.c - compiled rules read back as text (rules.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>

#include "rules.h"

void px_test_read_rules(const px_batch_t *b, struct rules *out)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->buf;
	int left = (int)b->len;

	memset(out, 0, sizeof(*out));
	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type ==
		    ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE) &&
		    out->n < RULES_MAX) {
			struct nftnl_rule *r = nftnl_rule_alloc();

			if (r && nftnl_rule_nlmsg_parse(nlh, r) == 0) {
				snprintf(out->chain[out->n], PX_NFT_NAME_LEN,
					 "%s", nftnl_rule_get_str(
					 r, NFTNL_RULE_CHAIN));
				nftnl_rule_snprintf(out->text[out->n], TEXT_MAX,
						    r, NFTNL_OUTPUT_DEFAULT, 0);
				out->n++;
			}
			nftnl_rule_free(r);
		} else {
			out->other++;
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
}

int px_test_find_rule(const struct rules *rs, const char *chain, ...)
{
	for (size_t i = 0; i < rs->n; i++) {
		va_list ap;
		const char *s;
		bool all = true;

		if (strcmp(rs->chain[i], chain) != 0)
			continue;
		va_start(ap, chain);
		while ((s = va_arg(ap, const char *)))
			if (!strstr(rs->text[i], s))
				all = false;
		va_end(ap);
		if (all)
			return (int)i;
	}
	return -1;
}
