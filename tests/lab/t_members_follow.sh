#!/usr/bin/env bash
# Lab tests of issue 9 item 3, members follow the Raft leader (three
# stores, two members, phalanx-node --follow-leader yes):
#   members_follow_transfer   after `store transfer` to another store, both
#                             members heartbeat to the new leader within a
#                             few seconds (its own status shows them up,
#                             heard in the last 2 s), and a write with
#                             --wait through it is applied by both
#   members_follow_back       a second transfer back: they follow again
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
export PHALANX_NODE_ARGS="${PHALANX_NODE_ARGS:-} --follow-leader yes"
raft_lab_setup 2
SET=flood-exceptions

wait_until 15 has_leader
L=$(leader_name)
if [ -z "$L" ]; then fail lab_leader "no leader: $(status_json | head -c 400)"; exit 1; fi
num() { echo "${1#store}"; }
# heard_by K: store K leads, and its status (a follower's sends phalanxctl
# to the leader) shows both members up and heard in the last 2 s (members
# heartbeat once a second to the store they follow)
heard_by() {
	[ "$(leader_name)" = "store$1" ] || return 1
	ctl --json status 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
m = {x["member"]: x for x in d["members"]}
ok = all(k in m and m[k]["up"] and (m[k]["heartbeat_age_ms"] or 10**9) < 2000
         for k in ("fw1", "fw2"))
sys.exit(0 if ok else 1)'
}
# not_heard_by K: store K hears no member now (`store status`: each store
# counts the members whose heartbeats it hears within --member-timeout)
not_heard_by() {
	status_json | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [x for x in d["stores"] if x["name"] == sys.argv[1]]
sys.exit(0 if s and s[0].get("members_heard") == 0 else 1)' "store$1"
}

wait_until 20 heard_by "$(num "$L")"

follow_case() { # NAME TARGET ADDR
	local t=$1 T=$2 addr=$3 out
	if ! out=$(ctl store transfer "$T" 2>&1); then fail $t "store transfer $T: $out"; return; fi
	if ! wait_until 15 heard_by "$(num "$T")"; then
		fail $t "the members did not follow the new leader $T within 15 s"
		ctl status 2>&1 | sed 's/^/    /'
		grep -h "follow" "$ST"/fw*.log | tail -4 | sed 's/^/    /'
		return
	fi
	if ! wait_until 10 not_heard_by "$(num "$L")"; then fail $t "the old leader $L still hears the members"; return; fi
	if ! out=$(ctl exceptions add $SET "$addr" --wait=20 2>&1); then fail $t "add --wait through $T: $out"; return; fi
	if ! in_set fw1 $SET.v4 "$addr" || ! in_set fw2 $SET.v4 "$addr"; then fail $t "$addr not in both kernels"; return; fi
	pass $t
}

T=$(other_than "$L")
follow_case members_follow_transfer "$T" 203.0.113.31
L0=$L
L=$T
follow_case members_follow_back "$L0" 203.0.113.32
