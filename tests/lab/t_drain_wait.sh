#!/usr/bin/env bash
# Lab tests of `members drain --wait' and `members undrain --wait' (issue
# 8: no polling loops): phalanxctl sends one DRAINED_WAIT/UNDRAINED_WAIT
# that the store holds and answers when a member's heartbeat settles the
# role (store/waiters.c), or when --wait runs out.  The store logs each
# answer ("wait for member M drained from ...: answered after N ms, on
# WHY: settled|timed out"): that line is the pushed answer.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
STATE=$(lab info | sed -n 's/^state_dir=//p')
vrrp_of() { local s; read -r s _ <"$STATE/$1/vrrp.state" 2>/dev/null; echo "${s:-none}"; }
other() { [ "$1" = fw1 ] && echo fw2 || echo fw1; }
# role_json M: the role `members list --json' shows for M.
role_json() {
	ctl members list --json | python3 -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    if m["member"] == sys.argv[1]: print(m["role"])' "$1"
}
# answered M WHAT RESULT: the store's line for the answer to a wait for M
# to be WHAT (drained, undrained) that ended in RESULT (settled, timed
# out), after line $mark of its log.
answered() {
	tail -n +"$((mark + 1))" "$STATE/store1.log" |
		grep "wait for member $1 $2 from .*: answered after [0-9]* ms, on .*: $3"
}
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
wait_until 30 lab master >/dev/null
m0=$(lab master 2>/dev/null)
m1=$(other "$m0")

# --- drain: returns once the member is drained and the other is master ---
t=drain_wait_returns_when_drained_on_a_pushed_answer
mark=$(wc -l <"$STATE/store1.log")
t0=$(ms_now)
out=$(ctl members drain "$m0" --wait=30 2>&1); rc=$?
el=$(( $(ms_now) - t0 ))
# Seen from outside right after it returned: the member's keepalived is
# in FAULT (drained), the other member holds the addresses.
v0=$(vrrp_of "$m0") v1=$(vrrp_of "$m1") r0=$(role_json "$m0")
line=$(answered "$m0" drained settled)
if [ $rc = 0 ] && [[ $out == "$m0 drained"* ]] && [ "$v0" = FAULT ] && [ "$v1" = MASTER ] &&
	[ "$r0" = drained ] && [ -n "$line" ]; then
	pass "$t ($el ms; store: ${line##*answered })"
else
	fail $t "exit 0, '$m0 drained', $m0 FAULT/drained, $m1 MASTER and the store's 'wait for member $m0 drained ... settled' line; saw exit $rc ($out) after $el ms, $m0 $v0/$r0, $m1 $v1, line '${line:-none}'"
	show_log store1
fi

# --- a drain that cannot settle fails with its timeout ---
# With $m0 drained, draining $m1 too leaves no other member to be master.
t=drain_wait_fails_with_its_timeout_when_no_member_can_take_over
mark=$(wc -l <"$STATE/store1.log")
t0=$(ms_now)
out=$(ctl members drain "$m1" --wait=3 2>&1); rc=$?
el=$(( $(ms_now) - t0 ))
line=$(answered "$m1" drained "timed out")
if [ $rc = 1 ] && [[ $out == *"$m1: not drained with another member master after 3 s"* ]] &&
	[ $el -ge 3000 ] && [ $el -lt 10000 ] && [ -n "$line" ]; then
	pass "$t ($el ms)"
else
	fail $t "exit 1 after 3-10 s saying '$m1: not drained with another member master after 3 s', and the store's 'timed out' line; saw exit $rc after $el ms ($out), line '${line:-none}'"
	show_log store1
fi

# --- undrain: returns once the member is back to backup or master ---
t=undrain_wait_returns_when_back
ctl members undrain "$m1" --wait=30 >/dev/null 2>&1
mark=$(wc -l <"$STATE/store1.log")
out=$(ctl members undrain "$m0" --wait=30 2>&1); rc=$?
v0=$(vrrp_of "$m0") r0=$(role_json "$m0")
line=$(answered "$m0" undrained settled)
if [ $rc = 0 ] && [[ $out == "$m0 undrained"* ]] && { [ "$v0" = BACKUP ] || [ "$v0" = MASTER ]; } &&
	{ [ "$r0" = backup ] || [ "$r0" = master ]; } && [ -n "$line" ]; then
	pass $t
else
	fail $t "exit 0, '$m0 undrained', $m0 BACKUP or MASTER and the store's 'settled' line; saw exit $rc ($out), $m0 $v0/$r0, line '${line:-none}'"
	show_log store1
fi
