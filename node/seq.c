/* seq.c - version and part sequencing of the change stream. */
#include "seq.h"

px_seq_verdict_t px_seq_check(px_seq_t *s, uint64_t version, uint32_t part,
			      uint32_t nparts)
{
	if (nparts == 0 || part == 0 || part > nparts)
		return PX_SEQ_GAP;
	if (version <= s->applied)
		return PX_SEQ_IGNORE;
	if (s->pending) {
		if (version == s->pending && part == s->next_part &&
		    nparts == s->nparts) {
			s->next_part++;
			return PX_SEQ_CONTINUE;
		}
		if (version == s->pending && part < s->next_part)
			return PX_SEQ_IGNORE;
		return PX_SEQ_GAP;
	}
	if (version == s->applied + 1 && part == 1) {
		s->pending = version;
		s->nparts = nparts;
		s->next_part = 2;
		return PX_SEQ_START;
	}
	return PX_SEQ_GAP;
}

bool px_seq_complete(const px_seq_t *s)
{
	return s->pending && s->next_part > s->nparts;
}

void px_seq_done(px_seq_t *s, bool applied)
{
	if (applied)
		s->applied = s->pending;
	s->pending = 0;
	s->next_part = 0;
	s->nparts = 0;
}

bool px_seq_behind(const px_seq_t *s, uint64_t store_version)
{
	/* Also while a change is pending: if one of its parts was lost,
	 * only this check notices (after the caller's grace period). */
	return store_version > s->applied;
}
