/* rules.h - the compiled rules of a batch read back as libnftnl text,
 * for the compiler's unit tests (test_compile.c, test_protect.c): each
 * rule message is parsed with nftnl_rule_nlmsg_parse and printed with
 * nftnl_rule_snprintf. */
#ifndef PX_UNIT_RULES_H
#define PX_UNIT_RULES_H

#include <stddef.h>

#include "compile.h"

#define RULES_MAX 400
#define TEXT_MAX 2048

/* The rules of a compiled batch: chain and libnftnl's text, in order. */
struct rules {
	size_t n;
	size_t other; /* messages that are not rules */
	char chain[RULES_MAX][PX_NFT_NAME_LEN];
	char text[RULES_MAX][TEXT_MAX];
};

void px_test_read_rules(const px_batch_t *b, struct rules *out);
/* The index of the first rule of chain whose text contains every needle
 * (NULL-terminated), or -1. */
int px_test_find_rule(const struct rules *rs, const char *chain, ...);

#endif
