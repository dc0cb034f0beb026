/* vocab.h - the names of the member's nftables table, defined once.
 *
 * Everything that names a kernel object of table inet phalanx (the
 * layout model, the rule compiler, the kernel I/O, the watcher, alerting,
 * the block list, tests/tools) takes the name from here;
 * docs/nft-layout.md describes what each one holds.  Names of per-family
 * sets are a base and the family's digit ("tcp_block" "4"); an exception
 * set S is the four kernel sets S.v4 S.n4 S.v6 S.n6. */
#ifndef PX_VOCAB_H
#define PX_VOCAB_H

/* The table (family inet) unless --table names another. */
#define PX_NFT_TABLE "phalanx"

/* An exception set's kernel sets: hosts (hash) and prefixes (interval)
 * per family. */
#define PX_KSET_HOSTS4 ".v4"
#define PX_KSET_PREFIXES4 ".n4"
#define PX_KSET_HOSTS6 ".v6"
#define PX_KSET_PREFIXES6 ".n6"

/* The first tier: a source in it is dispatched before all other sets. */
#define PX_SET_FLOOD_EXCEPTIONS "flood-exceptions"

/* Per-family sets: base name, then "4" or "6". */
#define PX_SET_MGMT "mgmt"                 /* management prefixes */
#define PX_SET_TCP_BLOCK "tcp_block"       /* over tcp-connect-rate */
#define PX_SET_HTTP_BLOCK "http_block"     /* over http-request-rate */
#define PX_SET_HALFOPEN_BLOCK "halfopen_block" /* over tcp-half-open */
#define PX_SET_CONN_OVER "conn_over"       /* refused by tcp-concurrent */
#define PX_SET_OBS "obs_"                  /* obs_QUOTA: observe mode */

/* Per-tier meters: TIER_METER4/6. */
#define PX_METER_CONN_RATE "conn_rate"
#define PX_METER_CONN "conn"
#define PX_METER_HTTP_RATE "http_rate"

/* Other sets. */
#define PX_SET_HTTP_METHODS "http_methods" /* constant: request starts */
#define PX_SET_SERVICE "svc_"              /* svc_NAME: ct count */

/* Chains: the two base chains, then the regular ones. */
#define PX_CHAIN_INPUT "input"
#define PX_CHAIN_FORWARD "forward"
#define PX_CHAIN_GUARD "guard"
#define PX_CHAIN_PRESSURE "pressure"
#define PX_CHAIN_TIER "tier_"              /* tier_dflt, tier_x_SET */
#define PX_TIER_DEFAULT "dflt"
#define PX_TIER_SET "x_"                   /* x_SET */

/* Attack protection (issue 12, docs/protection.md). */
#define PX_CHAIN_PREROUTING "prerouting" /* base: hook prerouting,
					   * priority -450, before defrag */
#define PX_PREROUTING_PRIO (-450)
#define PX_CHAIN_SPOOF "spoof"           /* spoof detection, per packet */
#define PX_CHAIN_RPF "rpf"               /* the reverse-path check */
#define PX_CHAIN_NET "net_"              /* net_NAME: source in NAME? */
#define PX_CHAIN_SPOOF_OUT "spoof_out"   /* a new forwarded packet's way out */
#define PX_CHAIN_DST "dst_"              /* dst_NAME: destination in NAME? */
/* Log reasons: PX_FWLOG_PFX_PROTECT (fwlog.h) and one of these. */
#define PX_REASON_SPOOF_NETWORK "spoof-network" /* source of another network */
#define PX_REASON_SPOOF_ROUTE "spoof-route"     /* no route back via iif */
#define PX_REASON_SPOOF_DEST "spoof-destination" /* sent out another network's interface */
#define PX_REASON_BROADCAST "broadcast"
#define PX_REASON_FRAGMENT "fragment"
#define PX_REASON_IP_OPTIONS "ip-options"
#define PX_REASON_DHCP_OFFER "invalid-dhcp-offer" /* also the alert */
#define PX_REASON_DEFAULT_DENY "default-deny"
#define PX_REASON_BAD_CHECKSUM "bad-tcp-checksum" /* conntrack's "bad checksum" */
/* TCP checksum exclusions (KB 911554, lib/csx.h): a base chain at raw
 * priority, before conntrack (-200) checks the checksum, and the set of
 * excluded tuples (saddr . sport . daddr . dport, interval). */
#define PX_CHAIN_RAW "raw"
#define PX_RAW_PRIO (-300)
#define PX_SET_CSX "csx"
/* Payload inspection of published services (issue 12 item 8,
 * node/nfq.c): a base chain on the forward hook after the filter
 * (priority 0), so it sees only what the policy let through, queues the
 * inspected services' packets to the member's agent with the bypass
 * flag (no agent bound: the packet passes uninspected). */
#define PX_CHAIN_INSPECT "inspect"
#define PX_INSPECT_PRIO 10
#define PX_NFQUEUE_NUM 12 /* issue 12's queue; any unused number */
/* Intrusion detection (lib/ids.h): the log reason of a detection is its
 * name (px_ids_defs).  Sources a detection blocks (timeout per element:
 * the detection's --block), reported array-wide as the quotas' blocks;
 * the land-attack check (saddr . sport . daddr . dport of each SYN, for
 * a moment); a detection's per-source count (idsm_NAME4/6). */
#define PX_SET_IDS_BLOCK "ids_block"
#define PX_SET_IDS_LAND "ids_land"
#define PX_SET_IDS_METER "idsm_"
#define PX_SET_IDS_POD "ids_pod"  /* ping of death: length . offset */
#define PX_SET_IDS_PORTS "ids_ps" /* port-scan: saddr . dport seen */

/* Named counters (px_nft_counters()) and limits. */
#define PX_CTR_BLOCKED "blocked_"          /* blocked_QUOTA */
#define PX_CTR_WOULD "would_"              /* would_QUOTA (observe) */
#define PX_CTR_SERVICE "blocked_service-"  /* blocked_service-NAME */
#define PX_CTR_RULE "rule_"                /* rule_NAME (and its limit) */

/* Bits of the conntrack mark that belong to Phalanx. */
#define PX_CT_MARK_COUNTED 0x1u   /* this connection's connect was counted */
#define PX_CT_MARK_RST_ORIG 0x2u  /* reset by the client (original side) */
#define PX_CT_MARK_RST_REPLY 0x4u /* reset by the server (reply side) */

#endif
