#!/usr/bin/env bash
# Lab test of `members drain|undrain --wait' with three stores when the
# leader is not the store the members report to (issue 10 with issue 9;
# found running upgrade.yml in t_deploy_ssh.sh):
#   drain_wait_other_leader   leadership moved off the first store of
#                             --store: drain --wait returns "fw1 drained"
#                             once fw2 is master, undrain --wait once fw1
#                             is back (a store the member no longer
#                             reports to answers that it does not)
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
raft_lab_setup 2

wait_until 15 has_leader
L=$(leader_name)
# the lab's store1 leads and the members report to it: move the
# leadership (they follow it), so that store1, asked first, holds an old
# view of them
T=store2
[ "$L" = store2 ] && T=store3
t=drain_wait_other_leader
if [ "$L" = store1 ] && ! out=$(ctl store transfer "$T" 2>&1); then
	fail $t "store transfer $T: $out"; exit 0
fi
wait_until 15 eval '[ "$(leader_name)" != store1 ] && [ -n "$(leader_name)" ]'
wait_until 30 eval 'ctl --json members list | grep -q "\"role\":\"master\""'
if ! d=$(ctl members drain fw1 --wait=30 2>&1); then
	fail $t "drain --wait with $(leader_name) leading: $d"
elif [[ "$d" != "fw1 drained"* ]]; then
	fail $t "expected \"fw1 drained ...\", saw $d"
elif ! u=$(ctl members undrain fw1 --wait=30 2>&1); then
	fail $t "undrain --wait: $u"
elif [[ "$u" != "fw1 undrained"* ]]; then
	fail $t "expected \"fw1 undrained ...\", saw $u"
else
	pass $t
fi
