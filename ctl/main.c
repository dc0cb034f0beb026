/* main.c - phalanxctl: option parsing, the command table, usage.
 *
 * Options may come before or after the command words; both tables below
 * drive parsing and every usage and help text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "keys.h"
#include "px.h"

#define WRITE_DETAILS \
	"Prints the store version of the change (\"version 42\").  With\n" \
	"--wait, waits until every member that is up has applied it: exit 0\n" \
	"when they all have, exit 1 naming those that have not when the time\n" \
	"runs out.  A member that is down also makes it exit 1, naming it and\n" \
	"the version it is at; with --skip-down it is reported as skipped\n" \
	"instead.  Members deliberately out of service are not waited for.\n"

static const px_ctl_cmd_t commands[] = {
	{ "status", "",
	  "store version, epoch, and members' state",
	  "Shows the store's version and epoch, and for each member the\n"
	  "version it has applied, the age of its last heartbeat (store\n"
	  "clock), whether the store counts it as up, and its health.\n",
	  px_cmd_status, 0, 0, 0, 0 },
	{ "members remove", "MEMBER",
	  "forget a member that is down",
	  "Forgets member MEMBER: the store's record and its database entry,\n"
	  "so that `status' and --wait no longer count it and its id is free\n"
	  "for another connection.  The member must be down (no heartbeat for\n"
	  "the member timeout); a member that runs again is known again.\n"
	  "Exit 1 if the store knows no such member.\n",
	  px_cmd_members_remove, 0, 0, 1, 1 },
	{ "members enroll", "NAME PUBKEY",
	  "let member NAME connect with public key PUBKEY",
	  "Enrolls the member whose --id is NAME with its public key (z85,\n"
	  "as `keys gen' prints it): the store admits that key on its sync\n"
	  "and change sockets, for member NAME's messages only.  Admin only.\n",
	  px_cmd_members_enroll, 0, 0, 2, 2 },
	{ "members revoke", "NAME",
	  "invalidate member NAME's key and cut its connections",
	  "Forgets member NAME's key: its handshakes are refused from now on,\n"
	  "its messages on a connection still open are refused, and its\n"
	  "subscription to the changes is cut at once.  Admin only.\n",
	  px_cmd_members_revoke, 0, 0, 1, 1 },
	{ "history", "",
	  "who changed what, when (the audit trail)",
	  "Every change the store accepted, oldest first: its time (store\n"
	  "clock), the key's name and role, the versions before and after (one\n"
	  "number for changes outside the policy: keys, alerts, members) and\n"
	  "the command.  --since TIME (30s, 10m, 2h, 1d ago, YYYY-MM-DD[THH:MM],\n"
	  "@SECONDS) starts there.  At most 1000 records a run.  A policy\n"
	  "change and its record are one transaction.  Viewer and up.\n",
	  px_cmd_history, PX_OPT_SINCE, 0, 0, 0 },
	{ "diff", "V1 [V2]",
	  "what changed from version V1 to V2 (default: the current one)",
	  "Exception entries added and removed per set (the first 10000 each\n"
	  "way, with the counts), sets created and destroyed, limits that\n"
	  "changed (with the tier), rules and services added, removed or\n"
	  "changed (a rule also when it moved), and whether the attack\n"
	  "protection changed.  V1 may be the larger.  The store keeps what\n"
	  "each of its last 1000 versions changed: an older version is refused\n"
	  "naming the oldest it can compare.  Keys, alerts and members are not\n"
	  "versioned.  --json: {\"from\", \"to\", \"sets\": [{\"set\", \"created\",\n"
	  "\"destroyed\", \"added\", \"removed\", counts}], \"limits\", \"rules\",\n"
	  "\"services\", \"protection_changed\"}.  Viewer and up.\n",
	  px_cmd_diff, 0, 0, 1, 2 },
	{ "config export", "[ENTRIES_DIR]",
	  "the whole policy as a YAML file, on stdout",
	  "Writes every exception set with its entries, the limits (with the\n"
	  "tiers), rules, services and attack protection of one version as\n"
	  "YAML (libyaml), fields named as in the protocol.  With ENTRIES_DIR,\n"
	  "a set of more than 1000 entries is written to ENTRIES_DIR/SET.entries\n"
	  "(one entry a line, as `exceptions import' reads) and the YAML names\n"
	  "the file ({file: PATH}; a relative PATH is read relative to the\n"
	  "YAML file).  Keys, alerts and members are not part of it.  If the\n"
	  "policy changes while the sets are read, it starts again (three\n"
	  "times at most).  Viewer and up.\n",
	  px_cmd_config_export, 0, 0, 0, 1 },
	{ "config plan", "FILE",
	  "what `config apply FILE' would change; changes nothing",
	  "Reads FILE (\"-\": stdin) as `config export' writes it, has the\n"
	  "store check it whole (set names, entries, overlaps, every limit,\n"
	  "rule, service and protection setting) and prints the difference\n"
	  "from the current policy as `diff' does (--json too).  A file that\n"
	  "does not apply is refused naming the line or what is wrong.\n"
	  "Viewer and up.\n",
	  px_cmd_config_plan, 0, 0, 1, 1 },
	{ "config apply", "FILE",
	  "make FILE's policy the array's, in one version",
	  "All or nothing: the sets FILE names get exactly its entries, sets\n"
	  "it does not name are destroyed (flood-exceptions must be named), and\n"
	  "the limits, rules, services and protection become FILE's; one new\n"
	  "version, or none when nothing differs (`config export | config\n"
	  "apply -' changes nothing).  --confirm SECONDS reverts it unless\n"
	  "confirmed.  Admin only.\n" WRITE_DETAILS,
	  px_cmd_config_apply, PX_OPT_WAIT, 0, 1, 1 },
	{ "rollback", "V",
	  "make the policy what it was at version V (as a new version)",
	  "One new version whose exception sets, limits, rules, services and\n"
	  "attack protection equal version V's (keys, alerts and members are\n"
	  "not versioned and stay).  Within the last 1000 versions.  With\n"
	  "--confirm SECONDS the rollback itself reverts unless confirmed.\n"
	  "Admin only.\n" WRITE_DETAILS,
	  px_cmd_rollback, PX_OPT_WAIT, 0, 1, 1 },
	{ "confirm", "V",
	  "keep version V, made with --confirm",
	  "A write made with --confirm SECONDS is reverted by the store itself\n"
	  "(only that change: later changes by others stay) unless confirmed\n"
	  "in time; the deadline is replicated, so a store failover does not\n"
	  "forget it.  Exit 1 if V waits for no confirmation (confirmed or\n"
	  "reverted already, or made without --confirm).  Operator and up.\n"
	  "`pending' lists the versions waiting.\n",
	  px_cmd_confirm, 0, 0, 1, 1 },
	{ "pending", "",
	  "versions made with --confirm not confirmed yet, and canaries",
	  "Each version waiting for `confirm': who made it, when the store\n"
	  "reverts it, and in how long; a --canary in progress too, with its\n"
	  "member (reverted at that time unless released before).  --json:\n"
	  "[{\"version\", \"who\", \"confirm_by_ms\"[, \"canary\",\n"
	  "\"canary_for_s\"]}].  Viewer and up.\n",
	  px_cmd_pending, 0, 0, 0, 0 },
	{ "store status", "",
	  "the stores' Raft view: leader, term, indexes",
	  "Asks every store (--store's comma-separated list, and the stores\n"
	  "their peer lists name) for its own Raft view: name, ctl endpoint,\n"
	  "role (leader, follower, candidate, or unreachable when it does not\n"
	  "answer within about a second), term, commit index, applied index\n"
	  "and the time since it last heard the leader; and its membership as\n"
	  "the leader sees it (voter, standby, spare: joining; none).  --json:\n"
	  "{\"leader\": NAME, \"term\": N, \"stores\": [{\"name\": ...,\n"
	  "\"endpoint\": ..., \"membership\": ..., \"role\": ..., ...}]}.\n"
	  "Exit 1 if no store answers.  Viewer and up.\n",
	  px_cmd_store_status, 0, 0, 0, 0 },
	{ "store transfer", "[NAME]",
	  "hand the Raft leadership to store NAME",
	  "A planned leadership switch (before maintenance of the leader):\n"
	  "the leader brings store NAME's log up to date and has it stand at\n"
	  "once; without NAME, the most up-to-date other voter.  Returns once\n"
	  "the new leader is known: \"leader is now store2 (term 7)\"; --json:\n"
	  "{\"leader\": NAME, \"term\": N, \"previous\": NAME}.  Exit 1 naming\n"
	  "why when NAME is no store, not a voter or the leader already, or\n"
	  "when leadership did not move within about two seconds.  Writes\n"
	  "sent meanwhile are refused (no leader) and retried.  Admin only.\n",
	  px_cmd_store_transfer, 0, 0, 0, 1 },
	{ "store add", "NAME ID@A.B.C.D:PORT",
	  "add store NAME to the Raft cluster",
	  "Start the new store first (phalanx-store --raft-join LIST --raft-id\n"
	  "ID: LIST is the cluster's --raft-peers and the new store's item).\n"
	  "The leader checks that ID@A.B.C.D:PORT (its Raft id and address)\n"
	  "answers, adds it as a non-voter and returns; then it replicates\n"
	  "the log to it and makes it a voter once it has caught up (`store\n"
	  "status' shows membership spare, standby, voter).  One change at a\n"
	  "time: refused, with nothing changed, while another change is in\n"
	  "progress or a store is joining still, for a name, id or address\n"
	  "that is a store's already, a store that does not answer, or more\n"
	  "than 5 stores.  Admin only.\n",
	  px_cmd_store_add, 0, 0, 2, 2 },
	{ "store remove", "NAME",
	  "remove store NAME from the Raft cluster",
	  "The configuration without NAME is committed (by the majority of\n"
	  "the stores after the change), then the command returns; stop the\n"
	  "removed store afterwards.  Refused, with nothing changed, for the\n"
	  "leader (hand leadership over first: `store transfer'), the last\n"
	  "voter, an unknown name, or while another change is in progress\n"
	  "(removing a store that is joining still is allowed: that cancels\n"
	  "its join).  Admin only.\n",
	  px_cmd_store_remove, 0, 0, 1, 1 },
	{ "keys gen", "",
	  "make a CURVE key pair",
	  "Prints a new public key (z85).  With --out FILE, writes the secret\n"
	  "key to FILE (mode 0600, never over an existing file) for\n"
	  "--secret-key of a daemon or --key of phalanxctl.  Talks to no one.\n",
	  px_cmd_keys_gen, PX_OPT_OUT, 0, 0, 0 },
	{ "admins add", "NAME PUBKEY",
	  "give the key PUBKEY a role",
	  "Adds (or changes) administrator NAME with public key PUBKEY and\n"
	  "--role viewer, operator or admin; see docs/permissions.md for what\n"
	  "each may do.  Admin only.\n",
	  px_cmd_admins_add, PX_OPT_ROLE, PX_OPT_ROLE, 2, 2 },
	{ "admins del", "NAME",
	  "remove administrator NAME",
	  "Removes administrator NAME: its key is refused from now on, on\n"
	  "connections already open too.  Admin only.\n",
	  px_cmd_admins_del, 0, 0, 1, 1 },
	{ "admins list", "",
	  "administrators and members' keys",
	  "Every key the store admits: name, role (viewer, operator, admin\n"
	  "or member) and public key.  Admin only.\n",
	  px_cmd_admins_list, 0, 0, 0, 0 },
	{ "exceptions list", "[SET]",
	  "the sets, or the entries of SET",
	  "Without SET: every exception set and its number of entries.\n"
	  "With SET: its entries, one a line.\n",
	  px_cmd_exceptions_list, 0, 0, 0, 1 },
	{ "exceptions add", "SET ADDR|PREFIX...",
	  "add addresses or prefixes to SET",
	  "Adds IPv4/IPv6 addresses and prefixes (192.0.2.1, 192.0.2.0/24,\n"
	  "2001:db8::/32) to SET.  Every value is checked before anything is\n"
	  "sent; one bad value changes nothing.\n\n" WRITE_DETAILS,
	  px_cmd_exceptions_add, PX_OPT_WAIT, 0, 2, -1 },
	{ "exceptions del", "SET ADDR|PREFIX...",
	  "remove addresses or prefixes from SET",
	  "Removes the given entries from SET.  Every value is checked before\n"
	  "anything is sent; one bad value changes nothing.\n\n" WRITE_DETAILS,
	  px_cmd_exceptions_del, PX_OPT_WAIT, 0, 2, -1 },
	{ "exceptions import", "SET FILE|-",
	  "replace SET with the entries of FILE",
	  "Replaces the entries of SET atomically with those read from FILE\n"
	  "(- for standard input): one address or prefix a line, surrounding\n"
	  "whitespace trimmed, blank lines and # comments ignored.  Any bad\n"
	  "line changes nothing; errors name the line.  Progress is shown on\n"
	  "standard error if it is a terminal.\n\n" WRITE_DETAILS,
	  px_cmd_exceptions_import, PX_OPT_WAIT, 0, 2, 2 },
	{ "exceptions create", "SET",
	  "create an empty exception set",
	  "Creates the exception set SET: a name of [a-z0-9][a-z0-9_-]{0,31}.\n"
	  "\n" WRITE_DETAILS,
	  px_cmd_exceptions_create, PX_OPT_WAIT, 0, 1, 1 },
	{ "exceptions destroy", "SET",
	  "destroy an exception set",
	  "Destroys the exception set SET.  flood-exceptions always exists and\n"
	  "cannot be destroyed.\n\n" WRITE_DETAILS,
	  px_cmd_exceptions_destroy, PX_OPT_WAIT, 0, 1, 1 },
	{ "limits show", "",
	  "flood limits, exception tiers, modes",
	  "Shows every quota: value and unit, the custom values of exception\n"
	  "tiers (flood-exceptions=6000), mode, where it is enforced, and what\n"
	  "it counts.  Then, for each member that is up and reports them, what\n"
	  "each quota did since the member started: sources blocked, what\n"
	  "observe mode would have blocked, and the most recent sources.  Then\n"
	  "the settings (block-time, ipv6-source-prefix): array-wide values\n"
	  "with no exception tiers and no mode.\n",
	  px_cmd_limits_show, 0, 0, 0, 0 },
	{ "limits set", "NAME VALUE",
	  "set a limit, its mode or a tier",
	  "Sets limit NAME to VALUE: a number in the limit's unit; rates also\n"
	  "take N/minute or N/second (17/second is 1020/minute).  --mode\n"
	  "enforce|observe changes the mode (observe counts but never drops).\n"
	  "--set EXCEPTION_SET sets the custom limit of that exception tier\n"
	  "instead; VALUE 0 with --set removes the tier.  Settings\n"
	  "(block-time, ipv6-source-prefix) take a value only: no --mode, no\n"
	  "--set.\n\n" WRITE_DETAILS,
	  px_cmd_limits_set, PX_OPT_WAIT | PX_OPT_MODE | PX_OPT_SET, 0, 2, 2 },
	{ "rules list", "",
	  "the filtering rules, in order",
	  "Shows the rules in evaluation order: the first rule that matches a\n"
	  "new session decides.  SOURCE is an exception set and DESTINATION an\n"
	  "address or prefix, `any' when the rule does not narrow them.  RATE\n"
	  "is the new-sessions-per-minute quota of a non-TCP rule; `(default)'\n"
	  "marks a rule that follows the nontcp-session-rate limit.\n",
	  px_cmd_rules_list, 0, 0, 0, 0 },
	{ "rules add", "NAME",
	  "add a filtering rule",
	  "Adds rule NAME (a name of [a-z0-9][a-z0-9_-]{0,31}) at the end of\n"
	  "the list, or before rule RULE with --before.  The other options\n"
	  "narrow what the rule matches; left out, they match anything.\n"
	  "--port applies to tcp and udp rules only, --rate to non-TCP rules\n"
	  "(udp, icmp, any): new sessions per minute, as N, N/minute or\n"
	  "N/second (default: the nontcp-session-rate limit).  --src-set names\n"
	  "an exception set, which must exist.  Every value is checked before\n"
	  "anything is sent.\n\n" WRITE_DETAILS,
	  px_cmd_rules_add, PX_OPT_WAIT | PX_OPT_ACTION | PX_OPT_PROTO |
	  PX_OPT_SRC_SET | PX_OPT_DST | PX_OPT_PORT | PX_OPT_RATE |
	  PX_OPT_BEFORE, PX_OPT_ACTION, 1, 1 },
	{ "rules del", "NAME",
	  "remove a filtering rule",
	  "Removes rule NAME; the rules after it move up.\n\n" WRITE_DETAILS,
	  px_cmd_rules_del, PX_OPT_WAIT, 0, 1, 1 },
	{ "services list", "",
	  "published services, connection limits",
	  "Shows every published service: its address and port, the limit of\n"
	  "concurrent connections to it, and the exception set whose sources\n"
	  "the limit does not count (- for none).\n",
	  px_cmd_services_list, 0, 0, 0, 0 },
	{ "services add", "NAME",
	  "publish a service with a connection limit",
	  "Publishes service NAME (a name of [a-z0-9][a-z0-9_-]{0,31}): at\n"
	  "most --limit (1..1000000) concurrent connections to the address\n"
	  "--dst (a host, not a prefix) and --port (1..65535).  Connections\n"
	  "from sources in the exception set --exempt-set, which must exist,\n"
	  "are not counted.  --inspect dns sends the service's DNS (UDP and\n"
	  "TCP) through the members' inspection (docs/protection.md): zone\n"
	  "transfers dropped unless the source is in --allow-zone-transfer\n"
	  "SET, malformed responses dropped with a `dns-intrusion' alert;\n"
	  "--inspect pop3: commands longer than RFC 1939 allows dropped\n"
	  "with a `pop-intrusion' alert.\n"
	  "Every value is checked before anything is sent.\n"
	  "\n" WRITE_DETAILS,
	  px_cmd_services_add, PX_OPT_WAIT | PX_OPT_DST | PX_OPT_PORT |
	  PX_OPT_LIMIT | PX_OPT_EXEMPT_SET,
	  PX_OPT_DST | PX_OPT_PORT | PX_OPT_LIMIT, 1, 1 },
	{ "services del", "NAME",
	  "remove a published service",
	  "Removes service NAME and its connection limit.\n\n" WRITE_DETAILS,
	  px_cmd_services_del, PX_OPT_WAIT, 0, 1, 1 },
	{ "alerts list", "",
	  "the alerts of the whole array",
	  "Lists the alerts the store keeps (the newest 100,000), oldest first:\n"
	  "store sequence number (#N), time, member, type, state, source,\n"
	  "count and limit, whether it is active, its id and text.  An alert\n"
	  "is active from `exceeded' until `recovered' (auto reset) or until\n"
	  "`alerts reset' (manual reset).  \"(N suppressed before)\" counts the\n"
	  "alerts the member's global cap dropped just before this one.\n",
	  px_cmd_alerts_list, PX_OPT_ACTIVE | PX_OPT_SINCE | PX_OPT_MEMBER |
	  PX_OPT_TYPE, 0, 0, 0 },
	{ "alerts watch", "",
	  "new alerts of the whole array, live",
	  "Prints the alerts of every member as the store receives them, until\n"
	  "interrupted, --count N alerts, or --timeout SECONDS (here the whole\n"
	  "watch; without it the watch runs until interrupted).  Polls the\n"
	  "store every 200 ms and rides out a store restart.  With --json, one\n"
	  "JSON object a line.\n",
	  px_cmd_alerts_watch, PX_OPT_MEMBER | PX_OPT_TYPE | PX_OPT_COUNT, 0,
	  0, 0 },
	{ "members list", "",
	  "members, their VRRP role, health and applied version",
	  "For each member: its addresses (the virtual ones while it holds\n"
	  "them), its VRRP role (master, backup, fault, drained; down when\n"
	  "its heartbeats stopped), health, applied version and the age of\n"
	  "its last heartbeat.\n",
	  px_cmd_members_list, 0, 0, 0, 0 },
	{ "members drain", "MEMBER",
	  "MEMBER gives up the virtual addresses (planned failover)",
	  "MEMBER's readiness gate goes to fault: keepalived hands the\n"
	  "virtual addresses to another member, whose conntrack table\n"
	  "already holds the established connections (conntrackd).  With\n"
	  "--wait[=SECONDS], waits until MEMBER reports drained and another\n"
	  "member master; exit 1 if that does not happen in time.  The store\n"
	  "keeps the flag in memory: a store restart forgets it.\n",
	  px_cmd_members_drain, PX_OPT_WAIT, 0, 1, 1 },
	{ "members undrain", "MEMBER",
	  "MEMBER may hold the virtual addresses again",
	  "Clears the drain of MEMBER.  With nopreempt it comes back as\n"
	  "backup: no second switch.  --wait[=SECONDS] waits until it\n"
	  "reports backup or master.\n",
	  px_cmd_members_undrain, PX_OPT_WAIT, 0, 1, 1 },
	{ "alerts reset", "[ID]",
	  "end an active alert (manual reset)",
	  "Ends the active alert ID (its id, e.g. fw1:3:17, or its store\n"
	  "number N, shown as #N by `alerts list'), or every active alert\n"
	  "with --all.\n"
	  "A manual-reset alert stays active until this; the next excess of\n"
	  "its source raises it again.  The reset is recorded in the history.\n",
	  px_cmd_alerts_reset, PX_OPT_ALL, 0, 0, 1 },
	{ "alerts define", "[TYPE]",
	  "enable, disable, auto or manual reset",
	  "Without TYPE: every alert type, whether it is enabled and its reset\n"
	  "mode.  With TYPE: --enable or --disable it, --reset auto|manual.\n"
	  "Definitions hold for the whole array: members stop raising a\n"
	  "disabled type within a second, and the store drops any that still\n"
	  "arrive.  Auto reset: an alert ends when its source stops exceeding.\n"
	  "Manual reset: it stays active, and is not raised again, until\n"
	  "`alerts reset'.\n",
	  px_cmd_alerts_define, PX_OPT_ENABLE | PX_OPT_RESET, 0, 0, 1 },
	{ "log tail", "",
	  "firewall log records of the array",
	  "Prints the newest firewall log records the store has received from\n"
	  "the members (it keeps the last 10,000), oldest first: --count N of\n"
	  "them (default 20, at most 1000), of --member M and of --type T\n"
	  "(denied, ended, suppressed, lost) only.  With --follow, prints only\n"
	  "new records as they arrive, until interrupted, --count N records or\n"
	  "--timeout SECONDS (the whole follow).  With --json, each member's\n"
	  "own JSON line, as in its file; see docs/fwlog.md.\n",
	  px_cmd_log_tail, PX_OPT_MEMBER | PX_OPT_TYPE | PX_OPT_COUNT |
	  PX_OPT_FOLLOW, 0, 0, 0 },
	{ "top", "",
	  "the array's top talkers now",
	  "The sources with the most denied records (--by denied, the\n"
	  "default), connections ended (--by connections) or bytes a second\n"
	  "of connections ended (--by rate) among the firewall log records\n"
	  "the store received in the last 60 seconds, all members together;\n"
	  "--count N sources (default 10).  Connections still open are not\n"
	  "counted until they end, and denied records a member's cap\n"
	  "suppressed carry no source: their number is shown apart.  BLOCKED\n"
	  "names the quotas whose block sets hold the source now.\n",
	  px_cmd_top, PX_OPT_COUNT | PX_OPT_BY, 0, 0, 0 },
	/* attack protection (issue 12, cmd_protect.c, docs/protection.md) */
	{ "networks list", "",
	  "the array's networks (spoof detection)",
	  "Lists the networks: name, prefixes, intra-array or not.  A member\n"
	  "binds each interface to the network holding its address; an\n"
	  "interface in no network is external.\n",
	  px_cmd_networks_list, 0, 0, 0, 0 },
	{ "networks add", "NAME PREFIX...",
	  "define a network (turns spoof detection on)",
	  "Defines network NAME holding the PREFIXes (at most 64; no prefix\n"
	  "may overlap another network's).  Once a network exists, every\n"
	  "member drops, logs (FWX_E_FWE_SPOOFING_PACKET_DROPPED) and alerts\n"
	  "(ip-spoofing) a packet whose source belongs to another network than\n"
	  "its incoming interface's, or that the routing table would not\n"
	  "answer through that interface.  --intra-array marks the array's own\n"
	  "network: its sources are never spoofed.  --dhcp-interface IF: the\n"
	  "members' interface IF takes its address from DHCP; an offer on it\n"
	  "for an address outside this network is dropped (invalid-dhcp-offer).\n\n"
	  WRITE_DETAILS,
	  px_cmd_networks_add, PX_OPT_WAIT | PX_OPT_INTRA_ARRAY, 0, 2, -1 },
	{ "networks del", "NAME",
	  "remove a network",
	  "Removes network NAME.\n\n" WRITE_DETAILS,
	  px_cmd_networks_del, PX_OPT_WAIT, 0, 1, 1 },
	{ "policy default", "accept|deny",
	  "what forwarded traffic no rule matches gets",
	  "accept (the default, so an upgrade never cuts traffic) or deny:\n"
	  "forwarded new sessions no rule or service allows are dropped and\n"
	  "logged (FWX_E_POLICY_RULES_DENIED).  Management traffic, VRRP and\n"
	  "state sync are never cut.\n\n" WRITE_DETAILS,
	  px_cmd_policy_default, PX_OPT_WAIT, 0, 1, 1 },
	{ "protection show", "",
	  "the attack protection settings",
	  "Every setting and its value: default-policy, fragments,\n"
	  "ip-options; and whether spoof detection is on.\n",
	  px_cmd_protection_show, 0, 0, 0, 0 },
	{ "protection set", "NAME VALUE",
	  "set an attack protection setting",
	  "fragments block|allow (default allow; blocking breaks some\n"
	  "streaming media and L2TP/IPsec), ip-options\n"
	  "block-source-route|block-all|allow (default block-source-route,\n"
	  "on forwarded packets only), default-policy accept|deny.\n\n"
	  WRITE_DETAILS,
	  px_cmd_protection_set, PX_OPT_WAIT, 0, 2, 2 },
	{ "checksum-exclusions set", "STRING",
	  "tuples exempt from TCP checksum validation (KB 911554)",
	  "Every member drops TCP segments with a bad checksum (forwarded\n"
	  "and to the member), logging FWX_E_BAD_TCP_CHECKSUM_DROPPED\n"
	  "0xC0040031, except the tuples of STRING, in the article's format:\n"
	  "\"12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>14.15.16.17:80;\"\n"
	  "(src:sport>dst:dport, every entry ends with `;', a field that is 0\n"
	  "is a wildcard: 0.0.0.0 any address, 0 any port).  IPv4 only; at\n"
	  "most 256 entries.  The reply direction is exempt too.  Excluded\n"
	  "traffic is not tracked: it skips flood quotas, rules and\n"
	  "`policy default deny' (docs/protection.md).  \"\" clears the list.\n"
	  "A malformed STRING is refused naming the entry and the position.\n\n"
	  WRITE_DETAILS,
	  px_cmd_csx_set, PX_OPT_WAIT, 0, 1, 1 },
	{ "checksum-exclusions show", "",
	  "the TCP checksum exclusion list",
	  "Prints the list exactly as `checksum-exclusions set' takes it (an\n"
	  "empty line when there is none); --json adds the entries.\n",
	  px_cmd_csx_show, 0, 0, 0, 0 },
	{ "ids show", "",
	  "the intrusion detections and their settings",
	  "Each detection (port-scan, half-scan, land-attack, ping-of-death,\n"
	  "udp-bomb, oob-attack, syn-attack): on or off, its threshold and\n"
	  "window, its block time, and whether this version builds it\n"
	  "(docs/protection.md).\n",
	  px_cmd_ids_show, 0, 0, 0, 0 },
	{ "ids set", "NAME on|off",
	  "turn an intrusion detection on or off, set its threshold",
	  "Every detection is on by default.  A detected packet is dropped,\n"
	  "logged with its reason and TMG's result code, and raises the alert\n"
	  "NAME once per source per alert window.  --threshold N: how many\n"
	  "(packets, ports) from one source in --window SECONDS make an attack;\n"
	  "--block SECONDS: then block the source array-wide that long (0: no\n"
	  "block, the default).  Options not given keep their values.\n\n"
	  WRITE_DETAILS,
	  px_cmd_ids_set, PX_OPT_WAIT | PX_OPT_IDS, 0, 2, 2 },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

enum { OPT_STORE, OPT_CONFIG, OPT_JSON, OPT_TIMEOUT, OPT_HELP, OPT_WAIT,
       OPT_MODE, OPT_SET, OPT_ACTION, OPT_PROTO, OPT_SRC_SET, OPT_DST,
       OPT_PORT, OPT_RATE, OPT_BEFORE, OPT_LIMIT, OPT_EXEMPT_SET,
       OPT_MEMBER, OPT_TYPE, OPT_ACTIVE, OPT_SINCE, OPT_ALL, OPT_COUNT,
       OPT_ENABLE, OPT_DISABLE, OPT_RESET, OPT_FOLLOW, OPT_BY,
       OPT_SKIP_DOWN, OPT_KEY, OPT_STORE_KEY, OPT_ROLE, OPT_OUT,
       OPT_INTRA_ARRAY, OPT_REQUEST_ID, OPT_VERBOSE, OPT_THRESHOLD,
       OPT_WINDOW, OPT_BLOCK, OPT_DHCP_INTERFACE, OPT_CONFIRM, OPT_INSPECT,
       OPT_ALLOW_XFR, OPT_CANARY, OPT_CANARY_FOR, OPT_LOCAL, NOPTS };
enum { ARG_NONE, ARG_REQUIRED, ARG_OPTIONAL };

/* The store keeps request ids of at most 64 characters (store/fsm.h). */
static bool request_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static const struct {
	const char *name;
	int arg;
	const char *metavar;
	unsigned scope;    /* 0: global, else the PX_OPT_* a command accepts */
	const char *help;
} options[NOPTS] = {
	[OPT_STORE] = { "store", ARG_REQUIRED, "ENDPOINT", 0,
		"the store, e.g. tcp://192.0.2.10:7700, or\n"
		"every store: a comma-separated list, the\n"
		"leader is found (else $PHALANX_STORE, else\n"
		"`store = ENDPOINT' in the config file)" },
	[OPT_CONFIG] = { "config", ARG_REQUIRED, "FILE", 0,
		"config file (else $PHALANX_CONFIG, else\n"
		"/etc/phalanx/phalanxctl.conf)" },
	[OPT_KEY] = { "key", ARG_REQUIRED, "FILE", 0,
		"our CURVE secret key (else $PHALANX_KEY)" },
	[OPT_STORE_KEY] = { "store-key", ARG_REQUIRED, "FILE[,..]", 0,
		"the stores' public keys: one file, or one\n"
		"per store in the order of --store (else\n"
		"$PHALANX_STORE_KEY)" },
	[OPT_ROLE] = { "role", ARG_REQUIRED, "viewer|operator|admin",
		PX_OPT_ROLE, "the administrator's role" },
	[OPT_OUT] = { "out", ARG_REQUIRED, "FILE", PX_OPT_OUT,
		"write the secret key to FILE (0600)" },
	[OPT_JSON] = { "json", ARG_NONE, NULL, 0,
		"print the result as JSON" },
	[OPT_REQUEST_ID] = { "request-id", ARG_REQUIRED, "ID", 0,
		"a write's request id (default: 128 random\n"
		"bits): a write sent again with the id of one\n"
		"the stores applied is answered with its first\n"
		"outcome and not applied twice" },
	[OPT_LOCAL] = { "local", ARG_NONE, NULL, 0,
		"a read answered by the store given itself,\n"
		"from its own state (a Raft follower's may\n"
		"be behind the leader's): no leader followed" },
	[OPT_VERBOSE] = { "verbose", ARG_NONE, NULL, 0,
		"say on stderr, with the time, which store\n"
		"each request went to and what came back" },
	[OPT_TIMEOUT] = { "timeout", ARG_REQUIRED, "SECONDS", 0,
		"how long to wait for each answer of the\n"
		"store (default 10)" },
	[OPT_HELP] = { "help", ARG_NONE, NULL, 0,
		"this help; `phalanxctl COMMAND --help' for\n"
		"one command" },
	[OPT_WAIT] = { "wait", ARG_OPTIONAL, "SECONDS", PX_OPT_WAIT,
		"after the write, wait until every member\n"
		"that is up has applied it (default 30 s)" },
	[OPT_CONFIRM] = { "confirm", ARG_REQUIRED, "SECONDS", PX_OPT_WAIT,
		"revert this change by itself unless\n"
		"`phalanxctl confirm VERSION' comes within\n"
		"SECONDS (1..86400)" },
	[OPT_CANARY] = { "canary", ARG_REQUIRED, "MEMBER", PX_OPT_WAIT,
		"apply this change on MEMBER first: the\n"
		"others get it once MEMBER applied it and\n"
		"stayed healthy, else it is reverted and\n"
		"the command fails saying why" },
	[OPT_CANARY_FOR] = { "canary-for", ARG_REQUIRED, "SECONDS", PX_OPT_WAIT,
		"how long the --canary member must stay\n"
		"healthy (1..3600, default 10)" },
	[OPT_MODE] = { "mode", ARG_REQUIRED, "enforce|observe", PX_OPT_MODE,
		"enforce drops what exceeds the limit,\n"
		"observe only counts" },
	[OPT_SET] = { "set", ARG_REQUIRED, "EXCEPTION_SET", PX_OPT_SET,
		"set the limit of that exception tier\n"
		"(VALUE 0 removes the tier)" },
	[OPT_ACTION] = { "action", ARG_REQUIRED, "allow|deny", PX_OPT_ACTION,
		"what the rule does with a new session\n"
		"it matches" },
	[OPT_PROTO] = { "proto", ARG_REQUIRED, "tcp|udp|icmp|any", PX_OPT_PROTO,
		"protocol the rule matches (default any;\n"
		"icmp is ICMP and ICMPv6)" },
	[OPT_SRC_SET] = { "src-set", ARG_REQUIRED, "SET", PX_OPT_SRC_SET,
		"match only sources in this exception set" },
	[OPT_DST] = { "dst", ARG_REQUIRED, "ADDR|PREFIX", PX_OPT_DST,
		"destination address or prefix (a\n"
		"service's is an address)" },
	[OPT_PORT] = { "port", ARG_REQUIRED, "N", PX_OPT_PORT,
		"destination port, 1..65535 (rules: tcp\n"
		"and udp only)" },
	[OPT_RATE] = { "rate", ARG_REQUIRED, "N/minute|N/second|N", PX_OPT_RATE,
		"new sessions per minute of a non-TCP\n"
		"rule (default: nontcp-session-rate)" },
	[OPT_BEFORE] = { "before", ARG_REQUIRED, "RULE", PX_OPT_BEFORE,
		"insert before rule RULE (default: at the\n"
		"end)" },
	[OPT_LIMIT] = { "limit", ARG_REQUIRED, "N", PX_OPT_LIMIT,
		"concurrent connections to the service,\n"
		"1..1000000" },
	[OPT_EXEMPT_SET] = { "exempt-set", ARG_REQUIRED, "SET",
		PX_OPT_EXEMPT_SET,
		"the limit does not count sources in this\n"
		"exception set" },
	/* services add's own, as --exempt-set. */
	[OPT_INSPECT] = { "inspect", ARG_REQUIRED, "dns|pop3", PX_OPT_EXEMPT_SET,
		"inspect the service's payload (NFQUEUE)" },
	[OPT_ALLOW_XFR] = { "allow-zone-transfer", ARG_REQUIRED, "SET",
		PX_OPT_EXEMPT_SET,
		"sources that may transfer zones (--inspect\n"
		"dns; default: none)" },
	[OPT_MEMBER] = { "member", ARG_REQUIRED, "M", PX_OPT_MEMBER,
		"only alerts (log records) of member M" },
	[OPT_TYPE] = { "type", ARG_REQUIRED, "T", PX_OPT_TYPE,
		"only alerts of type T (a quota name,\n"
		"events-lost, store-lost ...); log records\n"
		"of type denied, ended, suppressed, lost" },
	[OPT_ACTIVE] = { "active", ARG_NONE, NULL, PX_OPT_ACTIVE,
		"only active alerts" },
	[OPT_SINCE] = { "since", ARG_REQUIRED, "TIME", PX_OPT_SINCE,
		"only alerts raised since TIME: 30s, 10m,\n"
		"2h, 1d ago, YYYY-MM-DD[THH:MM[:SS]] local\n"
		"time, or @EPOCH_SECONDS" },
	[OPT_INTRA_ARRAY] = { "intra-array", ARG_NONE, NULL,
		PX_OPT_INTRA_ARRAY, "the array's own network: never spoofed" },
	[OPT_DHCP_INTERFACE] = { "dhcp-interface", ARG_REQUIRED, "IF",
		PX_OPT_INTRA_ARRAY, "the members' interface whose address\n"
		"comes from DHCP: offers outside the\nnetwork are dropped" },
	[OPT_THRESHOLD] = { "threshold", ARG_REQUIRED, "N", PX_OPT_IDS,
		"how many from one source make an attack" },
	[OPT_WINDOW] = { "window", ARG_REQUIRED, "SECONDS", PX_OPT_IDS,
		"the window the threshold counts in" },
	[OPT_BLOCK] = { "block", ARG_REQUIRED, "SECONDS", PX_OPT_IDS,
		"block the source array-wide that long\n"
		"(0: no block)" },
	[OPT_ALL] = { "all", ARG_NONE, NULL, PX_OPT_ALL,
		"every active alert" },
	[OPT_COUNT] = { "count", ARG_REQUIRED, "N", PX_OPT_COUNT,
		"stop after N alerts (log tail: records;\n"
		"top: sources)" },
	[OPT_ENABLE] = { "enable", ARG_NONE, NULL, PX_OPT_ENABLE,
		"raise alerts of the type" },
	[OPT_DISABLE] = { "disable", ARG_NONE, NULL, PX_OPT_ENABLE,
		"raise no alerts of the type" },
	[OPT_RESET] = { "reset", ARG_REQUIRED, "auto|manual", PX_OPT_RESET,
		"auto: an alert ends when the excess does;\n"
		"manual: it stays active until `alerts\n"
		"reset'" },
	[OPT_FOLLOW] = { "follow", ARG_NONE, NULL, PX_OPT_FOLLOW,
		"keep printing new records as they arrive" },
	[OPT_BY] = { "by", ARG_REQUIRED, "denied|connections|rate", PX_OPT_BY,
		"what to rank sources by" },
	[OPT_SKIP_DOWN] = { "skip-down", ARG_NONE, NULL, PX_OPT_WAIT,
		"with --wait: members that are down do not\n"
		"fail the wait (they are named as skipped)" },
};

/* The parsed command line. */
typedef struct {
	const char *val[NOPTS];
	int seen[NOPTS];
	char **pos;          /* non-option words */
	int npos;
	char *error;         /* first malformed option, reported later */
} cmdline_t;

static void print_option(FILE *f, int i)
{
	const char *h = options[i].help;
	char left[64];
	const char *nl;

	if (options[i].arg == ARG_REQUIRED)
		snprintf(left, sizeof(left), "--%s %s", options[i].name,
			 options[i].metavar);
	else if (options[i].arg == ARG_OPTIONAL)
		snprintf(left, sizeof(left), "--%s[=%s]", options[i].name,
			 options[i].metavar);
	else if (i == OPT_HELP)
		snprintf(left, sizeof(left), "-h, --help");
	else
		snprintf(left, sizeof(left), "--%s", options[i].name);
	/* Continuation lines of the help are indented under the first; a
	 * synopsis too wide for its column gets a line of its own. */
	if (strlen(left) > 24)
		fprintf(f, "  %s\n%27s", left, "");
	else
		fprintf(f, "  %-24s ", left);
	while ((nl = strchr(h, '\n')) != NULL) {
		fprintf(f, "%.*s\n%27s", (int)(nl - h), h, "");
		h = nl + 1;
	}
	fprintf(f, "%s\n", h);
}

static void print_synopsis(FILE *f, const px_ctl_cmd_t *c)
{
	char left[64];

	snprintf(left, sizeof(left), "%s%s%s", c->name, c->args[0] ? " " : "",
		 c->args);
	fprintf(f, "  %-34s %s\n", left, c->help);
}

/* group: NULL for every command, else only that group's. */
static void usage(FILE *f, const char *group)
{
	size_t glen = group ? strlen(group) : 0;
	size_t i;
	int o;

	if (group)
		fprintf(f, "usage: phalanxctl [OPTIONS] %s SUBCOMMAND [ARGS]\n\n",
			group);
	else
		fputs("usage: phalanxctl [OPTIONS] COMMAND [ARGS]\n\n", f);
	fputs("Controls a Phalanx firewall array through its store.\n\n"
	      "commands:\n", f);
	for (i = 0; i < NCOMMANDS; i++)
		if (!group || (strncmp(commands[i].name, group, glen) == 0 &&
			       commands[i].name[glen] == ' '))
			print_synopsis(f, &commands[i]);
	fputs("\noptions (before or after the command):\n", f);
	for (o = 0; o < NOPTS; o++)
		if (options[o].scope == 0)
			print_option(f, o);
	fputs("\noptions of writes (add, del, import, create, destroy, "
	      "limits set):\n", f);
	print_option(f, OPT_WAIT);
	fputs("\nexit status: 0 ok, 1 failed, 2 usage error\n", f);
}

static void command_help(FILE *f, const px_ctl_cmd_t *c)
{
	int o;

	fprintf(f, "usage: phalanxctl %s%s%s", c->name, c->args[0] ? " " : "",
		c->args);
	for (o = 0; o < NOPTS; o++)
		if (options[o].scope && (c->required & options[o].scope))
			fprintf(f, " --%s %s", options[o].name,
				options[o].metavar);
	for (o = 0; o < NOPTS; o++) {
		if (!options[o].scope || !(c->opts & options[o].scope) ||
		    (c->required & options[o].scope))
			continue;
		if (options[o].arg == ARG_OPTIONAL)
			fprintf(f, " [--%s[=%s]]", options[o].name,
				options[o].metavar);
		else if (options[o].arg == ARG_NONE)
			fprintf(f, " [--%s]", options[o].name);
		else
			fprintf(f, " [--%s %s]", options[o].name,
				options[o].metavar);
	}
	fprintf(f, "\n\n%s\noptions:\n", c->details);
	for (o = 0; o < NOPTS; o++)
		if (options[o].scope && (c->opts & options[o].scope))
			print_option(f, o);
	for (o = 0; o < NOPTS; o++)
		if (!options[o].scope)
			print_option(f, o);
}

static void parse_error(cmdline_t *cl, const char *fmt, const char *arg)
{
	char q[PX_CTL_QUOTE_MAX];

	if (cl->error)
		return;
	px_ctl_quote(q, sizeof(q), arg);
	cl->error = px_ctl_asprintf(fmt, q);
}

static void parse(cmdline_t *cl, int argc, char **argv)
{
	int i, o, dashdash = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq;
		size_t len;

		/* "-" is standard input; "-5" a (bad) value, not an option;
		 * a z85 key may start with '-' ("-Y.[/sn..."): 40 characters
		 * that decode are a key, never one of our options. */
		if (dashdash || a[0] != '-' || a[1] == '\0' ||
		    (a[1] >= '0' && a[1] <= '9') || px_key_valid(a)) {
			cl->pos[cl->npos++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0) {
			cl->seen[OPT_HELP] = 1;
			continue;
		}
		if (a[1] != '-') {
			parse_error(cl, "unknown option `%s'", a);
			continue;
		}
		name = a + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		for (o = 0; o < NOPTS; o++)
			if (strlen(options[o].name) == len &&
			    strncmp(options[o].name, name, len) == 0)
				break;
		if (o == NOPTS) {
			parse_error(cl, "unknown option `%s'", a);
			continue;
		}
		cl->seen[o] = 1;
		switch (options[o].arg) {
		case ARG_NONE:
			if (eq)
				parse_error(cl, "option takes no value: `%s'", a);
			break;
		case ARG_OPTIONAL:
			cl->val[o] = eq ? eq + 1 : NULL;
			break;
		case ARG_REQUIRED:
			if (eq)
				cl->val[o] = eq + 1;
			else if (i + 1 < argc)
				cl->val[o] = argv[++i];
			else
				parse_error(cl, "option needs a value: `%s'", a);
			break;
		}
	}
}

/* Match the leading words of pos against the table.  *group is set when
 * pos[0] names a group ("exceptions") even if no command matched. */
static const px_ctl_cmd_t *find_command(const cmdline_t *cl, int *used,
					const char **group)
{
	size_t i;

	*group = NULL;
	if (cl->npos == 0)
		return NULL;
	for (i = 0; i < NCOMMANDS; i++) {
		const char *n = commands[i].name, *sp = strchr(n, ' ');
		size_t w1 = sp ? (size_t)(sp - n) : strlen(n);

		if (strlen(cl->pos[0]) != w1 || strncmp(cl->pos[0], n, w1) != 0)
			continue;
		if (!sp) {
			*used = 1;
			return &commands[i];
		}
		*group = n;
		if (cl->npos >= 2 && strcmp(cl->pos[1], sp + 1) == 0) {
			*used = 2;
			return &commands[i];
		}
	}
	return NULL;
}

/* "list, add, del" for group; returns buf. */
static const char *subcommands(const char *group, char *buf, size_t len)
{
	size_t glen = strlen(group), i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < NCOMMANDS && o < len; i++)
		if (strncmp(commands[i].name, group, glen) == 0 &&
		    commands[i].name[glen] == ' ')
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
					      o ? ", " : "",
					      commands[i].name + glen + 1);
	return buf;
}

/* "status, exceptions, limits ..." (first words, in table order);
 * returns buf. */
static const char *groups(char *buf, size_t len)
{
	size_t i, o = 0, w, prev = 0;

	buf[0] = '\0';
	for (i = 0; i < NCOMMANDS && o < len; i++) {
		w = strcspn(commands[i].name, " ");
		if (i && w == prev &&
		    strncmp(commands[i].name, commands[i - 1].name, w) == 0)
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%.*s", o ? ", " : "",
				      (int)w, commands[i].name);
		prev = w;
	}
	return buf;
}

/* Name of argument i of a synopsis, for "missing argument SET". */
static void arg_name(const char *args, int i, char *buf, size_t len)
{
	const char *p = args, *end;
	size_t n, o = 0;

	while (i-- > 0 && (p = strchr(p, ' ')) != NULL)
		p++;
	if (!p) {
		snprintf(buf, len, "ARG");
		return;
	}
	end = strchr(p, ' ');
	n = end ? (size_t)(end - p) : strlen(p);
	for (; n > 0 && o + 1 < len; p++, n--)
		if (*p != '[' && *p != ']' && *p != '.')
			buf[o++] = *p;
	buf[o] = '\0';
}

static int parse_seconds(px_ctl_t *ctl, const char *opt, const char *s,
			 uint64_t min, uint64_t *ms)
{
	char q[PX_CTL_QUOTE_MAX];
	uint64_t v;

	/* A day bounds every wait a person would ask for. */
	if (px_parse_u64(s, min, 86400, &v) < 0) {
		px_ctl_quote(q, sizeof(q), s);
		return px_ctl_usage(ctl, "--%s: not a number of seconds "
				    "(%llu..86400): `%s'", opt,
				    (unsigned long long)min, q);
	}
	*ms = v * 1000;
	return 0;
}

int main(int argc, char **argv)
{
	px_ctl_t ctl;
	cmdline_t cl;
	const px_ctl_cmd_t *cmd;
	const char *group;
	char q[PX_CTL_QUOTE_MAX], name[32], gname[32] = "", subs[128];
	int used = 0, nargs, o, rc = PX_EXIT_USAGE;

	memset(&ctl, 0, sizeof(ctl));
	memset(&cl, 0, sizeof(cl));
	px_log_init("phalanxctl", 0);
	cl.pos = xcalloc((size_t)argc, sizeof(*cl.pos));
	parse(&cl, argc, argv);
	cmd = find_command(&cl, &used, &group);

	if (group)
		snprintf(gname, sizeof(gname), "%.*s", (int)strcspn(group, " "),
			 group);
	if (!cmd && group && cl.npos >= 2) {
		px_ctl_quote(q, sizeof(q), cl.pos[1]);
		ctl.cmd = gname;
		rc = px_ctl_usage(&ctl, "unknown subcommand `%s' (want %s)", q,
				  subcommands(gname, subs, sizeof(subs)));
		goto out;
	}
	if (!cmd && cl.npos >= 1 && !group) {
		px_ctl_quote(q, sizeof(q), cl.pos[0]);
		rc = px_ctl_usage(NULL, "unknown command `%s'", q);
		goto out;
	}
	if (cl.seen[OPT_HELP]) {
		if (cmd) {
			command_help(stdout, cmd);
		} else if (group) {
			usage(stdout, gname);
		} else {
			usage(stdout, NULL);
		}
		rc = PX_EXIT_OK;
		goto out;
	}
	if (cmd)
		ctl.cmd = cmd->name;
	if (cl.error) {
		rc = px_ctl_usage(&ctl, "%s", cl.error);
		goto out;
	}
	if (!cmd && group) {
		ctl.cmd = gname;
		rc = px_ctl_usage(&ctl, "missing subcommand (%s)",
				  subcommands(gname, subs, sizeof(subs)));
		goto out;
	}
	if (!cmd) {
		rc = px_ctl_usage(NULL, "missing command (%s)",
				  groups(subs, sizeof(subs)));
		goto out;
	}
	for (o = 0; o < NOPTS; o++) {
		if (cl.seen[o] && options[o].scope &&
		    !(cmd->opts & options[o].scope)) {
			rc = px_ctl_usage(&ctl, "option --%s does not apply "
					  "here", options[o].name);
			goto out;
		}
	}
	nargs = cl.npos - used;
	if (nargs < cmd->min_args) {
		arg_name(cmd->args, nargs, name, sizeof(name));
		rc = px_ctl_usage(&ctl, "missing argument %s", name);
		goto out;
	}
	if (cmd->max_args >= 0 && nargs > cmd->max_args) {
		px_ctl_quote(q, sizeof(q), cl.pos[used + cmd->max_args]);
		rc = px_ctl_usage(&ctl, "unexpected argument `%s'", q);
		goto out;
	}
	for (o = 0; o < NOPTS; o++) {
		if (options[o].scope && (cmd->required & options[o].scope) &&
		    !cl.seen[o]) {
			rc = px_ctl_usage(&ctl, "missing option --%s %s",
					  options[o].name, options[o].metavar);
			goto out;
		}
	}

	ctl.store = cl.val[OPT_STORE];
	ctl.config = cl.val[OPT_CONFIG];
	ctl.key = cl.val[OPT_KEY];
	ctl.store_key = cl.val[OPT_STORE_KEY];
	ctl.role = cl.val[OPT_ROLE];
	ctl.out = cl.val[OPT_OUT];
	ctl.json = cl.seen[OPT_JSON];
	ctl.request_id = cl.val[OPT_REQUEST_ID];
	ctl.verbose = cl.seen[OPT_VERBOSE];
	ctl.local = cl.seen[OPT_LOCAL];
	if (ctl.request_id && !request_id_valid(ctl.request_id)) {
		char q[PX_CTL_QUOTE_MAX];

		px_ctl_quote(q, sizeof(q), ctl.request_id);
		rc = px_ctl_usage(&ctl, "--request-id: want 1 to 64 letters, "
				  "digits, `-' or `_': `%s'", q);
		goto out;
	}
	ctl.timeout_ms = PX_CTL_TIMEOUT_S * 1000;
	ctl.timeout_given = cl.seen[OPT_TIMEOUT];
	if (cl.seen[OPT_TIMEOUT] &&
	    (rc = parse_seconds(&ctl, "timeout", cl.val[OPT_TIMEOUT], 1,
				&ctl.timeout_ms)) != 0)
		goto out;
	ctl.wait = cl.seen[OPT_WAIT];
	ctl.wait_ms = PX_CTL_WAIT_S * 1000;
	if (cl.val[OPT_WAIT] &&
	    (rc = parse_seconds(&ctl, "wait", cl.val[OPT_WAIT], 0,
				&ctl.wait_ms)) != 0)
		goto out;
	if (cl.val[OPT_CONFIRM]) {
		uint64_t ms;

		if ((rc = parse_seconds(&ctl, "confirm", cl.val[OPT_CONFIRM], 1,
					&ms)) != 0)
			goto out;
		ctl.confirm_s = (uint32_t)(ms / 1000);
	}
	ctl.canary = cl.val[OPT_CANARY];
	if (cl.val[OPT_CANARY_FOR]) {
		uint64_t ms;

		if (!ctl.canary) {
			rc = px_ctl_usage(&ctl, "--canary-for needs --canary");
			goto out;
		}
		if ((rc = parse_seconds(&ctl, "canary-for",
					cl.val[OPT_CANARY_FOR], 1, &ms)) != 0)
			goto out;
		ctl.canary_s = (uint32_t)(ms / 1000);
	}
	if (ctl.canary && ctl.confirm_s) {
		rc = px_ctl_usage(&ctl, "--canary and --confirm: one or the "
				  "other");
		goto out;
	}
	if (cl.seen[OPT_SKIP_DOWN] && !ctl.wait) {
		rc = px_ctl_usage(&ctl, "--skip-down needs --wait");
		goto out;
	}
	ctl.mode = cl.val[OPT_MODE];
	ctl.set = cl.val[OPT_SET];
	ctl.action = cl.val[OPT_ACTION];
	ctl.proto = cl.val[OPT_PROTO];
	ctl.src_set = cl.val[OPT_SRC_SET];
	ctl.dst = cl.val[OPT_DST];
	ctl.port = cl.val[OPT_PORT];
	ctl.rate = cl.val[OPT_RATE];
	ctl.before = cl.val[OPT_BEFORE];
	ctl.limit = cl.val[OPT_LIMIT];
	ctl.exempt_set = cl.val[OPT_EXEMPT_SET];
	ctl.inspect = cl.val[OPT_INSPECT];
	ctl.allow_xfr = cl.val[OPT_ALLOW_XFR];
	ctl.member = cl.val[OPT_MEMBER];
	ctl.type = cl.val[OPT_TYPE];
	ctl.since = cl.val[OPT_SINCE];
	ctl.count = cl.val[OPT_COUNT];
	ctl.reset = cl.val[OPT_RESET];
	ctl.active = cl.seen[OPT_ACTIVE];
	ctl.all = cl.seen[OPT_ALL];
	ctl.enable = cl.seen[OPT_ENABLE];
	ctl.disable = cl.seen[OPT_DISABLE];
	ctl.follow = cl.seen[OPT_FOLLOW];
	ctl.by = cl.val[OPT_BY];
	ctl.skip_down = cl.seen[OPT_SKIP_DOWN];
	ctl.intra_array = cl.seen[OPT_INTRA_ARRAY];
	ctl.dhcp_interface = cl.val[OPT_DHCP_INTERFACE];
	ctl.threshold = cl.val[OPT_THRESHOLD];
	ctl.window = cl.val[OPT_WINDOW];
	ctl.block = cl.val[OPT_BLOCK];

	rc = cmd->fn(&ctl, nargs, cl.pos + used);
	px_ctl_progress_end();
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = px_ctl_fail(&ctl, "writing the output: %s",
				 strerror(errno));
out:
	px_ctl_close(&ctl);
	free(cl.error);
	free(cl.pos);
	return rc;
}
