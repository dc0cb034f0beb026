/* codec.h - policy <-> protobuf: changes, snapshot chunks, cache file.
 * Everything decoded here is validated as hostile input. */
#ifndef PX_CODEC_H
#define PX_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "phalanx.pb-c.h"
#include "policy.h"

/* Apply the operations of one Change part to p.  On error p may hold
 * part of the change: apply to a copy and drop it on failure.  *bad (may
 * be NULL) gets the 1-based index of the offending entry. */
int px_policy_apply_setops(px_policy_t *p, Phalanx__SetOp *const *ops,
			   size_t n, size_t *bad);
int px_policy_apply_limitops(px_policy_t *p, Phalanx__LimitOp *const *ops,
			     size_t n);

/* Emit p as SnapshotChunks of at most max_entries entries each (0: one
 * chunk).  cb gets each chunk, valid only during the call; a negative
 * return from cb stops and is returned. */
typedef int (*px_chunk_cb)(Phalanx__SnapshotChunk *c, void *arg);
int px_policy_chunks(const px_policy_t *p, size_t max_entries,
		     px_chunk_cb cb, void *arg);
/* The same chunks from number `from' on: the ones before are counted
 * (same boundaries), not built.  For a snapshot streamed a few chunks
 * at a time (store/sync.c). */
int px_policy_chunks_from(const px_policy_t *p, size_t max_entries,
			  uint32_t from, px_chunk_cb cb, void *arg);
/* Apply chunk c to p, which starts from an empty policy for seq 0. */
int px_policy_apply_chunk(px_policy_t *p, const Phalanx__SnapshotChunk *c);

/* The member's cache: written to path.tmp, fsync'd, renamed, so a crash
 * leaves the old or the new file.  load checks the length and checksum,
 * decodes, and validates the policy (px_policy_validate) as hostile
 * input: 0, -errno from the file system (-ENOENT: none), PX_EDECODE for
 * a damaged file, or the validator's code; why (NULL if len is 0) says what
 * was wrong.  On error p holds no usable policy: free it. */
int px_policy_save(const char *path, const px_policy_t *p);
int px_policy_load(const char *path, px_policy_t *p, char *why,
		   size_t len);
/* CRC-32C (Castagnoli) of n bytes: the cache file's and the member
 * state's record checksum. */
uint32_t px_crc32c(const void *data, size_t n);

/* Build LimitOps describing p's limits (values, modes, tiers).  The
 * array and ops are owned by the caller: px_limitops_free(). */
void px_limitops_build(const px_limits_t *l, Phalanx__LimitOp ***ops,
		       size_t *n);
void px_limitops_free(Phalanx__LimitOp **ops, size_t n);

/* Rules and services: validate one against p (its sets must exist). */
int px_rule_from_proto(const px_policy_t *p, const Phalanx__Rule *in,
		       px_rule_t *out);
int px_service_from_proto(const px_policy_t *p, const Phalanx__Service *in,
			  px_service_t *out);
/* Replace p's rules and/or services with validated lists. */
int px_policy_apply_lists(px_policy_t *p, bool rules_set,
			  Phalanx__Rule *const *rules, size_t nrules,
			  bool services_set, Phalanx__Service *const *svcs,
			  size_t nsvcs);

/* Attack protection (issue 12): in is the whole of it (NULL: no change
 * to p).  Decoded into a copy and validated (px_protect_validate) before
 * p changes: 0 or its error, why (may be NULL) saying what. */
int px_policy_apply_protection(px_policy_t *p, const Phalanx__Protection *in,
			       char *why, size_t len);

/* p's protection as protobuf, for a Change, chunk or reply; the caller
 * frees it with px_protection_free(). */
typedef struct {
	Phalanx__Protection pr;
	Phalanx__Network *nv, **nets;
	Phalanx__ProtectSetting sv[PX_PROT_COUNT], *sets[PX_PROT_COUNT];
	ProtobufCBinaryData *bins;
	uint8_t *buf;
	char *csx;      /* the checksum exclusions as text */
	Phalanx__IdsSetting iv[PX_IDS_COUNT], *ids[PX_IDS_COUNT];
} px_protection_t;
void px_protection_build(const px_protect_t *in, px_protection_t *out);
void px_protection_free(px_protection_t *out);

/* p's rules, services and protection as protobuf, for a Change, chunk
 * or reply: every sender of rules and services sends the protection
 * with them (protection points at prot.pr). */
typedef struct {
	Phalanx__Rule *rv, **rules;
	Phalanx__Service *sv, **services;
	uint8_t *buf;
	size_t nrules, nservices;
	px_protection_t prot;
	Phalanx__Protection *protection;
} px_lists_t;
void px_lists_build(const px_policy_t *p, px_lists_t *l);
void px_lists_free(px_lists_t *l);

#endif
