/* ids.c - intrusion detection's settings (see ids.h). */
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "px.h"

/* The seed names each detection and says which are counted ("more than
 * the preconfigured number of ports", "repeated attempts") but gives no
 * numbers: the defaults are Phalanx's and docs/protection.md says why.
 * A single packet of the stateless kinds is an attack (threshold 1). */
const px_ids_def_t px_ids_defs[PX_IDS_COUNT] = {
	[PX_IDS_PORT_SCAN] = { "port-scan", 20, 60, true, true,
		"distinct ports of a host",
		"all ports and enumerated port scan: more than the threshold "
		"of distinct ports of one host from one source in the window" },
	[PX_IDS_HALF_SCAN] = { "half-scan", 3, 60, true, false,
		"invalid flags or RSTs",
		"IP half scan: repeated TCP packets with invalid flags "
		"(FIN, NULL, XMAS, SYN+FIN, SYN+RST) or handshakes answered "
		"with a RST instead of the final ACK" },
	[PX_IDS_LAND_ATTACK] = { "land-attack", 1, 60, true, false, "packets",
		"TCP SYN whose source address and port are the destination's" },
	[PX_IDS_PING_OF_DEATH] = { "ping-of-death", 1, 60, true, false, "packets",
		"an IP fragment whose data ends past 65,535 bytes" },
	[PX_IDS_UDP_BOMB] = { "udp-bomb", 1, 60, true, false, "packets",
		"UDP length field shorter than a UDP header or longer than "
		"the packet" },
	[PX_IDS_OOB_ATTACK] = { "oob-attack", 1, 60, true, false, "packets",
		"Windows out-of-band (WinNuke): TCP with URG to port 139" },
	[PX_IDS_SYN_ATTACK] = { "syn-attack", 1000, 60, true, false,
		"half-open connections on a member",
		"SYN attack: more than the threshold of half-open TCP "
		"connections through a member at once" },
};

int px_ids_find(const char *name)
{
	for (int i = 0; i < PX_IDS_COUNT; i++)
		if (strcmp(px_ids_defs[i].name, name) == 0)
			return i;
	return PX_EOPTION;
}

uint32_t px_ids_threshold(int id, const px_ids_t *s)
{
	return s->threshold ? s->threshold : px_ids_defs[id].threshold;
}

uint32_t px_ids_window(int id, const px_ids_t *s)
{
	return s->window_s ? s->window_s : px_ids_defs[id].window_s;
}

int px_ids_validate(const px_ids_t ids[PX_IDS_COUNT], char *why, size_t len)
{
	for (int i = 0; i < PX_IDS_COUNT; i++) {
		const px_ids_t *s = &ids[i];

		if (s->threshold > PX_IDS_THRESHOLD_MAX)
			return px_refuse(why, len, PX_ERANGE, "ids %s: "
					 "threshold %u out of 1..%u",
					 px_ids_defs[i].name, s->threshold,
					 PX_IDS_THRESHOLD_MAX);
		if (s->window_s > PX_IDS_WINDOW_MAX)
			return px_refuse(why, len, PX_ERANGE, "ids %s: "
					 "window %u out of 1..%u s",
					 px_ids_defs[i].name, s->window_s,
					 PX_IDS_WINDOW_MAX);
		if (s->block_s > PX_IDS_BLOCK_MAX)
			return px_refuse(why, len, PX_ERANGE, "ids %s: "
					 "block %u out of 0..%u s",
					 px_ids_defs[i].name, s->block_s,
					 PX_IDS_BLOCK_MAX);
	}
	return 0;
}

uint32_t px_ids_block_max(const px_ids_t ids[PX_IDS_COUNT])
{
	uint32_t m = 0;

	for (int i = 0; i < PX_IDS_COUNT; i++)
		if (!ids[i].off && ids[i].block_s > m)
			m = ids[i].block_s;
	return m;
}

uint32_t px_ids_count(px_ids_counter_t *c, int id, int family,
		      const uint8_t *addr, uint32_t window_s, uint64_t now_ms)
{
	uint8_t key[17] = { 0 };
	size_t alen = family == 4 ? 4 : 16;
	uint32_t h = 2166136261u; /* FNV-1a */

	key[0] = (uint8_t)family;
	memcpy(key + 1, addr, alen);
	for (size_t i = 0; i < sizeof(key); i++)
		h = (h ^ key[i]) * 16777619u;
	h = (h ^ (uint32_t)id) * 16777619u;
	{
		px_ids_slot_t *s = &c->slot[h % PX_IDS_SLOTS];

		if (memcmp(s->key, key, sizeof(key)) != 0 || s->id != id ||
		    now_ms - s->since_ms >= (uint64_t)window_s * 1000) {
			memcpy(s->key, key, sizeof(key));
			s->id = (uint8_t)id;
			s->since_ms = now_ms;
			s->count = 0;
		}
		if (s->count < UINT32_MAX)
			s->count++;
		return s->count;
	}
}

bool px_ids_surge(px_ids_surge_t *s, uint32_t count, uint32_t threshold,
		  uint32_t window_s, uint64_t now_ms)
{
	if (count <= threshold) {
		s->on = false;
		s->peak = 0;
		return false;
	}
	if (count > s->peak)
		s->peak = count;
	if (s->on && now_ms - s->raised_ms < (uint64_t)window_s * 1000)
		return false;
	s->on = true;
	s->raised_ms = now_ms;
	return true;
}
