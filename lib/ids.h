/* ids.h - intrusion detection's settings (issue 12 item 6, seed 004's
 * "Configuring Intrusion Detection"): one table (px_ids_defs) drives
 * parsing, validation, `ids show' and the wire, as px_prot_defs does for
 * the other protection settings.
 *
 * Each detection is on by default.  Its settings are kept as overrides:
 * 0 is "the default" for threshold and window, and no block for block
 * (ISA's intrusion detection alerts; it does not block), so a zeroed
 * px_ids_t is the default and a policy from an older store (no ids on
 * the wire) is the default too.
 *
 * Plain C, no I/O: the store and ctl check what an operator typed, a
 * member checks what the store sent (hostile input), node/compile.c
 * compiles the detections, node/nflog.c raises their alerts. */
#ifndef PX_IDS_H
#define PX_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	PX_IDS_PORT_SCAN,     /* distinct destination ports from one source */
	PX_IDS_HALF_SCAN,     /* invalid TCP flags outside a connection */
	PX_IDS_LAND_ATTACK,   /* SYN whose source address and port are the
			       * destination's */
	PX_IDS_PING_OF_DEATH, /* fragments reassembling past 65,535 bytes */
	PX_IDS_UDP_BOMB,      /* UDP length inconsistent with the packet */
	PX_IDS_OOB_ATTACK,    /* URG data to port 139 (WinNuke) */
	PX_IDS_SYN_ATTACK,    /* array-wide surge of half-open connections */
	PX_IDS_COUNT
} px_ids_id_t;

/* Bounds of the settings (seconds; threshold in the detection's unit). */
#define PX_IDS_THRESHOLD_MAX 65535u
#define PX_IDS_WINDOW_MAX 3600u
#define PX_IDS_BLOCK_MAX 86400u  /* block-time's bound (lib/limit.c) */

typedef struct {
	const char *name;       /* the alert type and the log reason; its
				 * result code is node/fwlog.c's */
	uint32_t threshold;     /* default: what the detection counts */
	uint32_t window_s;      /* default window of the count */
	bool built;             /* compiled by this version */
	bool kernel_counted;    /* the kernel applies the threshold: every
				 * logged packet is past it (the alert's
				 * threshold is 1) */
	const char *counts;     /* what the threshold counts */
	const char *help;
} px_ids_def_t;

extern const px_ids_def_t px_ids_defs[PX_IDS_COUNT];

/* One detection's settings: 0 threshold/window is the default. */
typedef struct {
	bool off;
	uint32_t threshold, window_s, block_s;
} px_ids_t;

/* The detection named name: its id, or PX_EOPTION. */
int px_ids_find(const char *name);
/* Effective threshold and window of detection id under s. */
uint32_t px_ids_threshold(int id, const px_ids_t *s);
uint32_t px_ids_window(int id, const px_ids_t *s);
/* Check the settings of every detection as hostile input: each within
 * its bounds.  0 or PX_ERANGE, why (may be NULL) naming the detection. */
int px_ids_validate(const px_ids_t ids[PX_IDS_COUNT], char *why, size_t len);
/* The longest block of any detection that is on, in seconds (0: none):
 * what the array-wide block path gives a source in the block set. */
uint32_t px_ids_block_max(const px_ids_t ids[PX_IDS_COUNT]);

/* Counting a detection's packets per source in its window, for the
 * alert (node/nflog.c): bounded memory, one slot a hash (a collision
 * restarts the count, as the denied-packet counter does). */
#define PX_IDS_SLOTS 512
typedef struct px_ids_slot {
	uint8_t key[17];     /* family then the address */
	uint8_t id;
	uint32_t count;
	uint64_t since_ms;
} px_ids_slot_t;
typedef struct {
	px_ids_slot_t slot[PX_IDS_SLOTS];
} px_ids_counter_t;

/* One detected packet of detection id from source addr (family 4 or 6)
 * at now_ms: the source's count in the current window (1 the first). */
uint32_t px_ids_count(px_ids_counter_t *c, int id, int family,
		      const uint8_t *addr, uint32_t window_s, uint64_t now_ms);

/* syn-attack's decision (node/ids_syn.c feeds it once a second): a
 * surge is the member's half-open TCP connections now over the
 * threshold; it raises at most once a window while it lasts, and ends
 * when the count is back at or under the threshold (the next surge
 * raises at once).  peak is the highest count of the current surge. */
typedef struct {
	bool on;             /* a surge is under way */
	uint64_t raised_ms;  /* when it last raised */
	uint32_t peak;
} px_ids_surge_t;

/* True when an alert is due now: count > threshold and no raise in the
 * last window_s of this surge. */
bool px_ids_surge(px_ids_surge_t *s, uint32_t count, uint32_t threshold,
		  uint32_t window_s, uint64_t now_ms);

/* A source holding at least 1/PX_IDS_SYN_SHARE of the half-open
 * connections of a surge is one of its top sources (at most
 * PX_IDS_SYN_TOP are blocked with --block). */
#define PX_IDS_SYN_TOP 4
#define PX_IDS_SYN_SHARE 10

#endif
