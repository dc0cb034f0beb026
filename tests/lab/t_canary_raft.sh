#!/usr/bin/env bash
# Lab test of `--canary' under Raft (three stores, two members):
#   canary_leader_killed  exceptions add X --canary fw1 --canary-for 5;
#                         once X is in fw1's kernel the leader is
#                         SIGKILLed: the new leader has the canary
#                         (replicated) and releases it; phalanxctl, whose
#                         held CANARY_WAIT died with the old leader, asks
#                         the new one and exits 0 saying it was released;
#                         fw2 had X in none of the samples taken before
#                         a store logged the release (it resnapshots from the
#                         store it follows next: the snapshot waits too),
#                         its readiness gate never went to fault for
#                         being behind, and both have X after
# Every wait is bounded polling.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
# The verdict is the leader's: it must hear the canary member, so the
# members follow the leader (as t_members_follow.sh runs them).
export PHALANX_NODE_ARGS="${PHALANX_NODE_ARGS:-} --follow-leader yes"
raft_lab_setup 2
FE=flood-exceptions
KSET=$FE.v4
X=203.0.113.81
OUT=$ST/canary.out

wait_until 15 has_leader
L=$(leader_name)
if [ -z "$L" ]; then fail lab_leader "no leader: $(status_json | head -c 400)"; exit 1; fi
synced() {
	ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
ms = d["members"]
sys.exit(0 if len(ms) == 2 and all(m["up"] and m["applied_version"] == d["version"] for m in ms) else 1)'
}
canary_pending() {
	ctl --json pending 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if any(p.get("canary") == "fw1" for p in json.load(sys.stdin)) else 1)'
}
wait_until 30 synced || { fail setup "members not synced: $(ctl --json status | head -c 400)"; exit 1; }

t=canary_leader_killed
V0=$(store_version)
ctl exceptions add $FE $X --canary fw1 --canary-for 5 >"$OUT" 2>&1 &
cpid=$!
fw1_had=no listed=no
wait_until 15 in_set fw1 $KSET $X && fw1_had=yes
canary_pending && listed=yes
lab stop "$L" --kill >/dev/null 2>&1
read -r seen n < <(held_samples $cpid fw2 $KSET $X $((V0 + 1)))
wait $cpid
rc=$?
both=no
wait_until 15 every_member in_set $KSET $X && both=yes
N=$(leader_name)
# Held on purpose is not behind: fw2's readiness gate kept the addresses.
fault=$(grep -c "readiness gate: fault (behind the store" "$ST/fw2.log")
if [ "$fault" = 0 ] && [ $rc = 0 ] && [ $fw1_had = yes ] && [ $listed = yes ] && [ "$seen" = 0 ] &&
   [ "$n" -gt 1 ] && [ $both = yes ] && [ -n "$N" ] && [ "$N" != "$L" ] &&
   grep -q "version $((V0 + 1)): canary fw1 healthy for 5 s: released to every member" "$OUT"; then
	pass $t
else
	fail $t "expected exit 0 with version $((V0 + 1)) released by a new leader after $L was killed, X in fw1 while held, in none of fw2's samples, in both after; and fw2's readiness gate never at fault for being behind; saw gate faults: $fault, exit $rc, fw1 had it: $fw1_had, pending listed it: $listed, fw2 samples with it before the verdict: $seen of $n, in both after: $both, leader now '$N', output: $(tr '\n' ' ' <"$OUT")"
	for k in 1 2 3; do show_log store$k 8; done
	show_log fw2 8
fi
