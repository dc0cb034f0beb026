#!/usr/bin/env bash
# Lab tests of issue 11 item 6 under Raft (three stores, one member):
#   versions_confirm_failover  a change made with --confirm 20 whose leader
#                              is SIGKILLed before the deadline is still
#                              reverted, by the new leader, on the member
#                              (the deadline is replicated state); a
#                              confirmed one made alongside stays
#   versions_rollback_raft     rollback through the new leader: one new
#                              version, applied by every running store and
#                              the member's kernel
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
raft_lab_setup 1
FE=flood-exceptions
W=--wait=30

wait_until 15 has_leader
L=$(leader_name)
if [ -z "$L" ]; then fail lab_leader "no leader: $(status_json | head -c 400)"; exit 1; fi

t=versions_confirm_failover
V0=$(store_version)
ctl exceptions add $FE 203.0.113.21 --confirm 20 >/dev/null
VC=$(store_version)
ctl exceptions add $FE 203.0.113.22 --confirm 20 >/dev/null
VK=$(store_version)
ctl confirm "$VK" >/dev/null
wait_until 15 in_set fw1 $FE.v4 203.0.113.21
seen=$?
# the deadline has not passed: the leader that took it dies
left=$(ctl --json pending | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
lab stop "$L" --kill >/dev/null 2>&1
if [ $seen != 0 ]; then fail $t "203.0.113.21 never reached fw1's kernel"
elif [ "$left" != 1 ]; then fail $t "expected version $VC still pending when $L was killed, saw $left pending"
elif ! wait_until 60 eval '! in_set fw1 $FE.v4 203.0.113.21'; then
	fail $t "203.0.113.21 (version $VC, --confirm 20) still in fw1's kernel 60 s after the leader $L was killed"
	for k in 1 2 3; do show_log store$k 5; done
elif ! in_set fw1 $FE.v4 203.0.113.22; then fail $t "the confirmed version $VK was reverted too"
elif ! ctl history | grep -q "revert of version $VC"; then fail $t "no revert of version $VC in the history"
else
	N=$(leader_name)
	if [ -z "$N" ] || [ "$N" = "$L" ]; then fail $t "expected a new leader, saw '$N'"
	else pass $t; fi
fi

t=versions_rollback_raft
V1=$(store_version)
if ! out=$(ctl rollback "$V0" $W 2>&1); then fail $t "rollback $V0 failed: $out"
elif in_set fw1 $FE.v4 203.0.113.22; then fail $t "203.0.113.22 still in fw1's kernel after rollback to $V0"
elif [ "$(store_version)" != $((V1 + 1)) ]; then fail $t "expected version $((V1 + 1)), saw $(store_version)"
elif ! wait_until 10 applied_equal 2; then fail $t "the two running stores did not apply the same index: $(status_json | head -c 400)"
elif [ "$(ctl diff "$V0" | tail -1)" != "no difference" ]; then fail $t "expected no difference to $V0, saw $(ctl diff "$V0")"
else pass $t; fi
