/* compile.h - the rule compiler: encodes the member's table into one
 * netlink batch (libnftnl objects and libmnl attributes written into a
 * buffer), as nftables' netlink_linearize.c does.  No socket here: nft.c
 * sends the batch and reads the acks.  What goes in comes from the layout
 * model (layout.h); tests/unit/test_compile.c reads compiled rules back
 * and compares them with the expected expressions.
 *
 * Every px_compile_* function appends messages to a batch; none fails:
 * they abort on out of memory (the member's xmalloc rule) and on a rule
 * past its reserved size (a bug in the compiler). */
#ifndef PX_COMPILE_H
#define PX_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

#include "addr.h"
#include "layout.h"
#include "policy.h"

/* What one message of a batch is about, to name it in an error. */
typedef struct px_msginfo {
	uint16_t type;
	char obj[64]; /* for error messages only: may be truncated */
} px_msginfo_t;

/* One batch: begin marker at seq0, message i at seq0 + 1 + i, end
 * marker after the last.  Every message asks for an ack. */
typedef struct px_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0;
	px_msginfo_t *info;
	size_t n, ncap;
	uint32_t next_set_id;
	const void *open_ud; /* userdata marking a range open at the top */
	uint32_t open_udlen;
} px_batch_t;

/* An empty batch (the begin marker) whose messages count from seq0. */
void px_batch_init(px_batch_t *b, uint32_t seq0);
void px_batch_free(px_batch_t *b); /* a zeroed batch is fine */
/* The end marker: the batch is ready to send. */
void px_batch_finish(px_batch_t *b);

/* Start a message of at most max bytes; the caller fills it and calls
 * px_batch_msg_end() before starting the next.  obj names it in errors. */
struct nlmsghdr *px_batch_msg_start(px_batch_t *b, size_t max, uint16_t type,
				    uint16_t flags, const char *obj);
void px_batch_msg_end(px_batch_t *b, struct nlmsghdr *nlh);

/* NEWTABLE or DELTABLE of table (family inet). */
void px_compile_table(px_batch_t *b, const char *table, uint16_t type,
		      uint16_t flags);
/* NEWSET (with set id id and, unless 0, size size: px_kset_capacity())
 * or DELSET of kind k's kernel set of exception set `set'. */
void px_compile_eset(px_batch_t *b, const char *table, const char *set,
		     int k, uint16_t type, uint32_t id, uint32_t size);
/* The base chains input and forward, policy accept. */
void px_compile_base_chains(px_batch_t *b, const char *table);

/* Add (NEWSETELEM) or delete (DELSETELEM) the entries of s of kind k in
 * kernel set kset (id: its set id if created in this batch, else 0), at
 * most ELEMS_PER_MSG elements a message. */
void px_compile_elems(px_batch_t *b, uint16_t type, const char *table,
		      const char *kset, uint32_t id, int k,
		      const px_entries_t *s);

/* One element message being filled. */
typedef struct px_elem_msg {
	struct nlmsghdr *nlh;
	struct nlattr *list;
	uint16_t nelems;
} px_elem_msg_t;

void px_elem_msg_start(px_batch_t *b, px_elem_msg_t *m, uint16_t type,
		       const char *table, const char *kset, uint32_t id,
		       size_t max_elems);
void px_elem_msg_end(px_batch_t *b, px_elem_msg_t *m);
/* Element number idx of a message (list entries are numbered from 1):
 * key of len bytes, NFT_SET_ELEM_* flags, timeout (0: the set's),
 * userdata (may be NULL). */
void px_compile_elem(struct nlmsghdr *nlh, uint16_t idx, const uint8_t *key,
		     uint32_t len, uint32_t flags, uint64_t timeout_ms,
		     const void *ud, uint32_t udlen);

/* Every rule of layout l, chain by chain (appended: the chains are
 * empty or flushed earlier in the batch). */
void px_compile_rules(px_batch_t *b, const char *table, const px_layout_t *l);

/* What an apply does to the layer: old is empty on a rebuild. */
typedef struct px_layer_plan {
	px_layout_t old, new_;
	bool have_old;
	bool rules;           /* flush every chain and add the rules again */
	bool *set_del, *obj_del, *chain_del; /* per old item */
	bool *set_add, *obj_add, *chain_add; /* per new item */
} px_layer_plan_t;

/* Plan going from policy old (NULL: rebuild) to new_, each with its
 * pressure flag and the member's interface addresses then (spoof
 * detection binds interfaces to networks; NULL: none).  The errors of px_layout_build(); on error nothing to
 * free. */
int px_layer_plan(const char *table, const px_policy_t *old,
		  const px_policy_t *new_, bool old_pressure,
		  bool new_pressure, const px_ifaddrs_t *old_ifs,
		  const px_ifaddrs_t *new_ifs, px_layer_plan_t *lp);
void px_layer_plan_free(px_layer_plan_t *lp);
/* Old rules, chains, sets and objects that go. */
void px_compile_layer_delete(px_batch_t *b, const char *table,
			     const px_layer_plan_t *lp);
/* New sets (with their constant elements), objects and chains. */
void px_compile_layer_create(px_batch_t *b, const char *table,
			     px_layer_plan_t *lp);
/* The management prefixes mgmt: whole on a rebuild or when dirty, else
 * untouched. */
void px_compile_layer_mgmt(px_batch_t *b, const char *table,
			   const px_layer_plan_t *lp, const px_entries_t *mgmt,
			   bool dirty);

/* The fail-closed guard (px_nft_install_guard): the table replaced by
 * base chains of policy drop that accept loopback, replies, ICMPv6 to
 * the member, and traffic from (and, forwarded, to) the entries of mgmt
 * and extra (either may be NULL). */
void px_compile_guard(px_batch_t *b, const char *table,
		      const px_entries_t *mgmt, const px_entries_t *extra);

#endif
