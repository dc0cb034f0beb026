/* ids_syn.c - syn-attack on a member (ids_syn.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "ct.h"
#include "fwlog.h"
#include "ids_syn.h"
#include "px.h"
#include "vocab.h"

/* "198.51.100.2 (60), " per top source: the log line and the alert's
 * text name them. */
static void format_top(const px_entry_t *top, const uint32_t *count,
		       size_t n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		char s[PX_ENTRY_STR_MAX];
		int w;

		px_entry_format(&top[i], s, sizeof(s));
		w = snprintf(buf + used, len - used, "%s%.49s (%" PRIu32 ")",
			     i ? ", " : "", s, count[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* With --block: the sources holding at least 1/PX_IDS_SYN_SHARE of the
 * surge go into ids_block for block_s; many sources holding a little
 * each (a botnet, or spoofed sources) are not blocked: one of thousands
 * blocked stops nothing, and a spoofed one may be innocent.  An IPv6
 * source is a /64 to the watcher and ids_block6 holds addresses: only
 * IPv4 sources are blocked.  Returns how many were. */
static size_t block_top(px_node_t *n, const px_entry_t *top,
			const uint32_t *count, size_t k, uint32_t total,
			uint32_t block_s)
{
	size_t blocked = 0;

	if (px_node_applying(n) || n->kernel_unknown || !n->nft_watch)
		return 0;
	for (size_t i = 0; i < k; i++) {
		char set[24];
		int rc;

		if (top[i].family != 4 ||
		    (uint64_t)count[i] * PX_IDS_SYN_SHARE < total)
			continue;
		snprintf(set, sizeof(set), "%s4", PX_SET_IDS_BLOCK);
		rc = px_nft_elem(n->nft_watch, set, 4, top[i].addr,
				 (uint64_t)block_s * 1000, true);
		if (rc < 0) {
			char s[PX_ENTRY_STR_MAX];

			px_entry_format(&top[i], s, sizeof(s));
			px_log(PX_LOG_ERR, "syn-attack: cannot block %s: %s %s: "
			       "%s", s, set, "add", px_strerror(rc));
			continue;
		}
		blocked++;
	}
	return blocked;
}

bool px_ids_syn_tick(px_node_t *n, px_ids_surge_t *st, uint64_t now_ms,
		     px_ids_syn_obs_t *out)
{
	const px_ids_t *s = &n->applied.protect.ids[PX_IDS_SYN_ATTACK];
	uint32_t th = px_ids_threshold(PX_IDS_SYN_ATTACK, s);
	uint32_t win = px_ids_window(PX_IDS_SYN_ATTACK, s);
	px_entry_t top[PX_IDS_SYN_TOP];
	uint32_t count[PX_IDS_SYN_TOP];
	char tops[PX_IDS_SYN_TOP * (PX_ENTRY_STR_MAX + 16)];
	char code[16], blk[48] = "";
	px_watcher_stats_t ws;
	uint32_t now_half;
	size_t k, blocked = 0;
	bool due;

	if (!n->watcher || s->off) {
		memset(st, 0, sizeof(*st));
		return false;
	}
	px_watcher_stats(n->watcher, &ws);
	now_half = ws.quota.half_open > UINT32_MAX ? UINT32_MAX :
		   (uint32_t)ws.quota.half_open;
	due = px_ids_surge(st, now_half, th, win, now_ms);
	if (!st->on)
		return false;
	k = px_watcher_top_half_open(n->watcher, top, count, PX_IDS_SYN_TOP);
	format_top(top, count, k, tops, sizeof(tops));
	if (due) {
		/* Once a window: the log line and the blocks. */
		if (s->block_s) {
			blocked = block_top(n, top, count, k, now_half,
					    s->block_s);
			snprintf(blk, sizeof(blk), "; %zu blocked for %" PRIu32
				 " s", blocked, s->block_s);
		}
		px_fw_result_code(PX_FWR_SYN_ATTACK, code, sizeof(code));
		px_log(PX_LOG_WARN, "syn-attack: %" PRIu32 " half-open TCP "
		       "connections (threshold %" PRIu32 "): %s %s; top "
		       "sources: %s%s", now_half, th,
		       px_fw_results[PX_FWR_SYN_ATTACK].name, code,
		       k ? tops : "none tracked", blk);
	}
	out->count = now_half;
	out->threshold = th;
	snprintf(out->text, sizeof(out->text), "%" PRIu32 " half-open TCP "
		 "connections (threshold %" PRIu32 "); top: %.80s%.40s",
		 now_half, th, k ? tops : "none", blk);
	return true;
}
