#!/usr/bin/env bash
# Lab tests of `phalanxctl store transfer' (issue 9 item 5: a planned
# leadership switch) on three stores and one member:
#   transfer_named            transfer to a named follower: the command
#                             prints "leader is now NAME (term N)", and
#                             store status --json on every store agrees
#                             it leads, in a term above the one before
#   transfer_named_writes     a write after it is committed through the
#                             new leader and reaches the member's kernel
#   transfer_json             --json without a name: leadership leaves
#                             the leader, "leader" names the new one,
#                             "previous" the old, every store agrees
#   transfer_unknown_refused  an unknown name is refused naming it; the
#                             leader and the term stay
#   transfer_leader_refused   the leader's own name is refused ("leader
#                             already"); nothing changes
#   transfer_operator_refused an operator's key is refused (admin only),
#                             a viewer's store status answered; nothing
#                             changes
#   transfer_via_follower     sent to a follower alone, the request is
#                             sent on to the leader (the hint) and moves
#                             leadership to the store named
#   transfer_down_target_fails to a stopped store: exit 1 within a few
#                             seconds saying leadership did not move; the
#                             leader stays (and a write still commits)
# Every wait is bounded polling.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
MEMBERS=1
SET=flood-exceptions
raft_lab_setup "$MEMBERS"

# agreed: "NAME TERM" when all three stores answer, exactly one leads,
# and every one names it as its leader; else nothing
agreed() {
	status_json | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["stores"]
ldr = [x for x in s if x.get("role") == "leader"]
if len(s) == 3 and len(ldr) == 1 and d["leader"] == ldr[0]["name"] and \
   all(x.get("leader_known") == ldr[0]["name"] for x in s):
    print(ldr[0]["name"], ldr[0]["term"])' 2>/dev/null
}
has_agreed() { [ -n "$(agreed)" ]; }
# agreed_on NAME: every store agrees NAME leads
agreed_on() { [ "$(agreed | cut -d' ' -f1)" = "$1" ]; }

wait_until 15 has_agreed
read -r L TERM <<<"$(agreed)"
if [ -z "${L:-}" ]; then
	echo "FAIL lab_leader: expected the three stores to agree on a leader, saw $(status_json | head -c 600)"
	exit 1
fi

# --- transfer to a named follower ------------------------------------------------
t=transfer_named
T=$(other_than "$L")
out=$(ctl store transfer "$T" 2>&1)
rc=$?
wait_until 5 agreed_on "$T"
read -r L2 TERM2 <<<"$(agreed)"
if [ $rc = 0 ] && echo "$out" | grep -qx "leader is now $T (term $TERM2)" &&
   [ "${L2:-}" = "$T" ] && [ "${TERM2:-0}" -gt "$TERM" ]; then
	pass $t
else
	fail $t "expected \`store transfer $T' (leader $L, term $TERM) to print \"leader is now $T (term N)\" and every store to agree $T leads in a later term, saw exit $rc '$out', agreed '${L2:-} ${TERM2:-}': $(status_json | head -c 600)"
fi
L=${L2:-$L}
TERM=${TERM2:-$TERM}

# --- a write through the new leader reaches the member ------------------------------
t=transfer_named_writes
out=$(ctl exceptions add $SET 192.0.2.221 2>&1)
rc=$?
if [ $rc = 0 ] && wait_until 5 has_elem fw1 $SET.v4 192.0.2.221 &&
   ctl exceptions list $SET 2>/dev/null | grep -qx 192.0.2.221; then
	pass $t
else
	fail $t "expected a write after the transfer to be committed through $L and reach fw1's kernel, saw exit $rc '$out', fw1 $(has_elem fw1 $SET.v4 192.0.2.221 && echo has || echo lacks) it"
fi

# --- no name, --json ------------------------------------------------------------------
t=transfer_json
out=$(ctl --json store transfer 2>&1)
rc=$?
new=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["leader"], d["term"], d["previous"])' 2>/dev/null)
read -r N NTERM PREV <<<"${new:-- 0 -}"
wait_until 5 agreed_on "$N"
read -r L3 TERM3 <<<"$(agreed)"
if [ $rc = 0 ] && [ "$N" != "$L" ] && [ "$N" != - ] && [ "$PREV" = "$L" ] &&
   [ "${L3:-}" = "$N" ] && [ "$NTERM" = "${TERM3:-}" ] && [ "$NTERM" -gt "$TERM" ]; then
	pass $t
else
	fail $t "expected \`store transfer --json' to move leadership off $L (term $TERM), naming the new leader, its term and the previous one, and every store to agree, saw exit $rc '$out', agreed '${L3:-} ${TERM3:-}'"
fi
L=${L3:-$L}
TERM=${TERM3:-$TERM}

# --- an unknown name is refused ---------------------------------------------------------
t=transfer_unknown_refused
out=$(ctl store transfer store9 2>&1)
rc=$?
sleep 1 # a transfer under way would have moved leadership by now
read -r L4 TERM4 <<<"$(agreed)"
if [ $rc = 1 ] && echo "$out" | grep -q "no store named \`store9'" &&
   [ "${L4:-}" = "$L" ] && [ "${TERM4:-}" = "$TERM" ]; then
	pass $t
else
	fail $t "expected \`store transfer store9' refused (exit 1, \"no store named \`store9'\") with $L leading in term $TERM still, saw exit $rc '$out', agreed '${L4:-} ${TERM4:-}'"
fi

# --- the leader itself is refused ---------------------------------------------------------
t=transfer_leader_refused
out=$(ctl store transfer "$L" 2>&1)
rc=$?
read -r L5 TERM5 <<<"$(agreed)"
if [ $rc = 1 ] && echo "$out" | grep -q "$L is the leader already" &&
   [ "${L5:-}" = "$L" ] && [ "${TERM5:-}" = "$TERM" ]; then
	pass $t
else
	fail $t "expected \`store transfer $L' (the leader) refused (exit 1, \"leader already\") with nothing changed, saw exit $rc '$out', agreed '${L5:-} ${TERM5:-}'"
fi

# --- an operator may not, a viewer reads the status -------------------------------------
t=transfer_operator_refused
T=$(other_than "$L")
out=$(lab ctl-as operator store transfer "$T" 2>&1)
rc=$?
vout=$(lab ctl-as viewer --json store status 2>&1)
vrc=$?
read -r L7 TERM7 <<<"$(agreed)"
if [ $rc = 1 ] && echo "$out" | grep -q "needs role admin" && [ $vrc = 0 ] &&
   echo "$vout" | grep -q "\"leader\":\"$L\"" &&
   [ "${L7:-}" = "$L" ] && [ "${TERM7:-}" = "$TERM" ]; then
	pass $t
else
	fail $t "expected the operator's \`store transfer $T' refused (exit 1, \"needs role admin\"), the viewer's store status answered, $L leading in term $TERM still, saw exit $rc '$out', viewer exit $vrc '$(head -c 200 <<<"$vout")', agreed '${L7:-} ${TERM7:-}'"
fi

# --- sent to a follower alone: the hint is followed ---------------------------------------
t=transfer_via_follower
F=$(other_than "$L")
T=$(other_than "$L" "$F")
out=$(lab exec store1 "$CTL" --store "$(ep "${F#store}")" store transfer "$T" 2>&1)
rc=$?
wait_until 5 agreed_on "$T"
read -r L6 TERM6 <<<"$(agreed)"
if [ $rc = 0 ] && echo "$out" | grep -qx "leader is now $T (term ${TERM6:-?})" &&
   [ "${L6:-}" = "$T" ]; then
	pass $t
else
	fail $t "expected \`store transfer $T' sent to follower $F alone (leader $L) to reach the leader and move leadership to $T, saw exit $rc '$out', agreed '${L6:-} ${TERM6:-}'"
fi

# --- the target is down: a bounded failure, nothing moves --------------------------------
t=transfer_down_target_fails
L=${L6:-$L}
T=$(other_than "$L")
TERM=$(agreed | cut -d' ' -f2)
lab stop "$T" >/dev/null 2>&1
t0=$(date +%s%N)
out=$(ctl store transfer "$T" 2>&1)
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
lead=$(status_json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["leader"], d["term"])' 2>/dev/null)
wout=$(ctl exceptions add $SET 192.0.2.222 2>&1)
wrc=$?
if [ $rc = 1 ] && echo "$out" | grep -q "did not move" && [ $ms -lt 5000 ] &&
   [ "$lead" = "$L $TERM" ] && [ $wrc = 0 ]; then
	pass $t
else
	fail $t "expected \`store transfer $T' with $T stopped to fail within 5 s saying leadership did not move, $L leading in term $TERM still and a write committing, saw exit $rc after $ms ms '$out', leader/term '$lead', write exit $wrc '$wout'"
fi
lab start "$T" >/dev/null 2>&1
