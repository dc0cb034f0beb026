#!/usr/bin/env bash
# Lab tests of `phalanxctl store add' / `store remove' (issue 9 item 5:
# membership changes, one at a time; a new store joins as a non-voter
# until caught up) on three stores and one member:
#   add_store4                store4 started with --raft-join (`lab
#                             add-store'), `store add store4 4@IP:PORT'
#                             answers, and the leader's view makes it a
#                             voter within 10 s
#   add_store4_caught_up      store4 has applied what the leader has: the
#                             same index, policy version and set count
#   kill_leader_writes        the leader killed: a new leader, and a write
#                             commits with 3 of the 4 stores
#   store4_same_version       store4 reaches the version of that write
#   store4_counts_in_quorum   with the old leader still down and store4
#                             frozen, 2 of 4 voters are left: a write is
#                             refused (no quorum).  With store4 a
#                             non-voter this would commit (2 of 3).
#   config_survives_restart   the killed store restarted with its old
#                             --raft-peers (three stores) lists store4 as
#                             a voter: the configuration is C-Raft's log's
#   hint_names_added_store    store4 leads: a write sent to a follower
#                             alone follows its hint to store4 (the
#                             endpoint of a store added at run time)
#   refuse_duplicate_name / refuse_duplicate_id / refuse_duplicate_addr
#   refuse_unreachable        nothing listens at the endpoint: refused
#                             within a few seconds, saying so
#   refuse_bad_endpoint / refuse_unknown_remove / refuse_operator
#   refuse_remove_leader      removing the leader: refused, "hand
#                             leadership ... first"
#   refuse_transfer_to_leader `store transfer' to the leader still says
#                             "leader already" (the peer table is the
#                             configuration's now)
#   refuse_while_joining      store5 added while frozen stays a standby:
#                             another add and a remove of a voter are
#                             refused as a change in progress; removing
#                             store5 itself is allowed (cancels its join)
#   remove_store4             `store remove store4' (after a transfer if it
#                             leads): it leaves the leader's view
#   remove_store4_gone        store4 stopped and dropped from the lab:
#                             store status lists three stores, none named
#                             store4 (a leader still listing it would add
#                             it back)
#   writes_with_three         with one of the three stopped too, a write
#                             commits (2 of 3: store4 no longer counts;
#                             with it still a voter, 2 of 4 would not)
# Each refusal is checked for "nothing changed": the stores and their
# membership in the leader's view are the same before and after.
# Every wait is bounded polling.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
MEMBERS=1
SET=flood-exceptions
raft_lab_setup "$MEMBERS"

# view: "leader name:membership ..." from store status --json (the
# membership is the leader's view), or nothing without a leader
view() {
	status_json | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d["leader"]:
    print(d["leader"], " ".join("%s:%s" % (s["name"], s.get("membership", "?"))
                                for s in sorted(d["stores"], key=lambda s: s["name"])))' 2>/dev/null
}
# membership NAME: NAME's place in the leader's configuration
membership() { view | tr ' ' '\n' | sed -n "s/^$1://p"; }
is_voter() { [ "$(membership "$1")" = voter ]; }
is_standby() { [ "$(membership "$1")" = standby ]; }
# stores_listed: the names store status lists, sorted
stores_listed() { status_json | python3 -c 'import json,sys; print(" ".join(sorted(s["name"] for s in json.load(sys.stdin)["stores"])))' 2>/dev/null; }
# version_of K: store K's own policy version and set count ("V N")
# --local (a store's own state, not the leader's): binaries before it
# answered these reads from any store
LOCAL=
"$CTL" --help 2>&1 | grep -- --local >/dev/null && LOCAL=--local
# shellcheck disable=SC2086
version_of() {
	lab exec ops "$CTL" --store "$(ep "$1")" --store-key "$(key_of "$1")" $LOCAL --json status 2>/dev/null |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["version"], sum(s["count"] for s in d["sets"] if s["name"] == sys.argv[1]))' "$SET" 2>/dev/null
}
same_version() { [ -n "$(version_of "$1")" ] && [ "$(version_of "$1")" = "$(version_of "$2")" ]; }
leader_num() { leader_name | tr -dc 0-9; }
# applied K: store K's applied index, from its own answer
applied_of() {
	lab exec ops "$CTL" --store "$(ep "$1")" --store-key "$(key_of "$1")" --json store status 2>/dev/null |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
print([s for s in d["stores"] if s["name"] == "store" + sys.argv[1]][0]["applied_index"])' "$1" 2>/dev/null
}
applied_same() { local a b; a=$(applied_of "$1") b=$(applied_of "$2"); [ -n "$a" ] && [ "$a" = "$b" ]; }
write() { ctl exceptions add $SET "$1" 2>&1; }
# refused NAME ARGS...: ARGS (a ctl command) exits 1 printing PATTERN ($PAT)
# and the view stays as it was
refused() {
	local t=$1 before out rc after
	shift
	before=$(view)
	t0=$(date +%s%N)
	out=$("$@" 2>&1)
	rc=$?
	CMD_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
	after=$(view)
	if [ $rc = 1 ] && echo "$out" | grep -q -- "$PAT" && [ -n "$before" ] && [ "$before" = "$after" ]; then
		pass "$t"
	else
		fail "$t" "expected \`${*:2}' refused (exit 1, \"$PAT\") with nothing changed ('$before'), saw exit $rc '$out', then '$after'"
	fi
}

wait_until 15 has_leader || { echo "FAIL lab_leader: expected a leader among the three stores, saw $(status_json | head -c 600)"; exit 1; }
write 192.0.2.201 >/dev/null

# --- add store4 --------------------------------------------------------------------
t=add_store4
EP4=$(lab add-store 2>"$ST/add-store.err")
arc=$?
out=$(ctl store add store4 "$EP4" 2>&1)
rc=$?
if [ $arc = 0 ] && [ "$EP4" = "4@192.0.2.13:7710" ] && [ $rc = 0 ] &&
   echo "$out" | grep -q "^store4 added (4@192.0.2.13:7710)" && wait_until 10 is_voter store4; then
	pass $t
else
	fail $t "expected store4 started (lab add-store: exit $arc '$EP4' $(head -c 300 "$ST/add-store.err")), \`store add store4 $EP4' to answer and the leader to make it a voter within 10 s, saw exit $rc '$out', view '$(view)'"
	show_log store4
fi

t=add_store4_caught_up
L=$(leader_num)
if [ -n "$L" ] && wait_until 5 applied_same 4 "$L" && wait_until 5 same_version 4 "$L" &&
   [ "$(version_of 4 | cut -d' ' -f2)" = 1 ]; then
	pass $t
else
	fail $t "expected store4 to have applied what leader store${L:-?} has (index, version, 1 element in $SET), saw store4 index $(applied_of 4) version/count '$(version_of 4)', leader index $(applied_of "${L:-1}") '$(version_of "${L:-1}")'"
fi

# --- the leader killed: 3 of 4 commit -------------------------------------------------
t=kill_leader_writes
K=$(leader_num)
lab stop "store$K" --kill >/dev/null 2>&1
out=$(write 192.0.2.202)
rc=$?
if [ $rc = 0 ] && wait_until 10 has_leader && [ "$(leader_num)" != "$K" ]; then
	pass $t
else
	fail $t "expected a write to commit with store$K (the leader) killed, 3 of 4 stores left, and a new leader, saw exit $rc '$out', view '$(view)'"
fi

t=store4_same_version
L=$(leader_num)
if [ -n "$L" ] && wait_until 5 same_version 4 "$L" && [ "$(version_of 4 | cut -d' ' -f2)" = 2 ]; then
	pass $t
else
	fail $t "expected store4 at leader store${L:-?}'s version with both elements, saw store4 '$(version_of 4)', leader '$(version_of "${L:-1}")'"
fi

t=store4_counts_in_quorum
lab freeze store4 >/dev/null 2>&1
out=$(ctl --timeout 8 exceptions add $SET 192.0.2.203 2>&1)
rc=$?
lab thaw store4 >/dev/null 2>&1
if [ $rc != 0 ] && echo "$out" | grep -qi "no quorum\|outcome unknown"; then
	pass $t
else
	fail $t "expected a write refused for want of a quorum with store$K down and store4 frozen (2 of 4 voters), saw exit $rc '$out'"
fi

t=config_survives_restart
lab start "store$K" >/dev/null 2>&1
own() {
	lab exec ops "$CTL" --store "$(ep "$K")" --store-key "$(key_of "$K")" --json store status 2>/dev/null |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted(s["name"] for s in d["stores"])))' 2>/dev/null
}
lists_four() { [ "$(own)" = "store1 store2 store3 store4" ]; }
if grep -q -- "--raft-peers" "$ST/store$K.cmd" && ! grep -q "store4=" "$ST/store$K.cmd" &&
   wait_until 5 lists_four; then
	pass $t
else
	fail $t "expected store$K, restarted with three stores in --raft-peers, to list store4 among the stores (the configuration in its Raft log), saw '$(own)'"
fi
wait_until 10 has_leader
wait_until 10 applied_equal 4

# --- a follower's hint names an added store ----------------------------------------
t=hint_names_added_store
L0=$(leader_name)
leads() { [ "$(leader_name)" = "$1" ]; }
ctl store transfer store4 >/dev/null 2>&1
if wait_until 10 leads store4; then
	F=$(other_than "$L0" store4 | tr -dc 0-9)
	out=$(lab exec ops "$CTL" --store "$(ep "$F")" exceptions add $SET 192.0.2.204 2>&1)
	rc=$?
	if [ $rc = 0 ] && ctl exceptions list $SET 2>/dev/null | grep -qx "192.0.2.204"; then
		pass "$t (a write to store$F alone followed its hint to store4)"
	else
		fail $t "expected a write sent to follower store$F alone to follow its hint to the leader store4 (added at run time), saw exit $rc '$out'"
	fi
	ctl store transfer "$L0" >/dev/null 2>&1
	wait_until 10 leads "$L0" || fail $t "leadership did not move back to $L0"
else
	fail $t "leadership did not move to store4: $(status_json | head -c 300)"
fi

# --- refusals, nothing changed ---------------------------------------------------------
PAT="a store named store2 is in the cluster already"; refused refuse_duplicate_name ctl store add store2 9@192.0.2.30:7710
PAT="id 3 is store3's already"; refused refuse_duplicate_id ctl store add store9 3@192.0.2.30:7710
PAT="192.0.2.11:7710 is store2's Raft address already"; refused refuse_duplicate_addr ctl store add store9 9@192.0.2.11:7710
PAT="not ID@a.b.c.d:port"; refused refuse_bad_endpoint ctl store add store9 192.0.2.30:7710
PAT="no store named \`store9'"; refused refuse_unknown_remove ctl store remove store9
PAT="needs role admin"; refused refuse_operator lab ctl-as operator store add store9 9@192.0.2.30:7710
PAT="store9 at 192.0.2.30:7710 is not reachable"; refused refuse_unreachable ctl store add store9 9@192.0.2.30:7710
[ "$CMD_MS" -lt 5000 ] || fail refuse_unreachable_time "expected the unreachable store refused within 5 s (a 1 s check), saw $CMD_MS ms"
L=$(leader_name)
PAT="$L is the leader: hand leadership to another store first"; refused refuse_remove_leader ctl store remove "$L"
PAT="$L is the leader already"; refused refuse_transfer_to_leader ctl store transfer "$L"

t=refuse_while_joining
EP5=$(lab add-store 2>/dev/null)
lab freeze store5 >/dev/null 2>&1
out=$(ctl store add store5 "$EP5" 2>&1)
rc=$?
wait_until 5 is_standby store5
b=$(view)
o1=$(ctl store add store9 9@192.0.2.30:7710 2>&1); r1=$?
o2=$(ctl store remove store3 2>&1); r2=$?
a=$(view)
o3=$(ctl store remove store5 2>&1); r3=$?
v5=$(view)  # store5 out of the configuration: no store names it
lab thaw store5 >/dev/null 2>&1
lab drop-store >/dev/null 2>&1
if [ $rc = 0 ] && [ "$(membership store3)" = voter ] && echo "$b" | grep -q "store5:standby" && [ "$b" = "$a" ] &&
   [ $r1 = 1 ] && echo "$o1" | grep -q "store5 is joining still" &&
   [ $r2 = 1 ] && echo "$o2" | grep -q "store5 is joining still" &&
   [ $r3 = 0 ] && [ -n "$v5" ] && ! echo "$v5" | grep -q "store5:"; then
	pass $t
else
	fail $t "expected frozen store5 added and left a standby, another add and the removal of store3 refused (\"store5 is joining still\") with nothing changed, the removal of store5 itself done, saw add exit $rc '$out', view '$b' then '$a', add exit $r1 '$o1', remove store3 exit $r2 '$o2', remove store5 exit $r3 '$o3', then '$v5'"
fi

# --- remove store4 ----------------------------------------------------------------------
t=remove_store4
wait_until 10 has_leader
if [ "$(leader_name)" = store4 ]; then
	ctl store transfer store1 >/dev/null 2>&1 || ctl store transfer store2 >/dev/null 2>&1
	wait_until 5 has_leader
fi
out=$(ctl store remove store4 2>&1)
rc=$?
if [ $rc = 0 ] && echo "$out" | grep -q "^store4 removed; 3 stores now" && wait_until 5 has_leader &&
   [ "$(membership store4)" = none ]; then
	pass $t
else
	fail $t "expected \`store remove store4' to answer and store4 to leave the leader's configuration, saw exit $rc '$out', view '$(view)'"
fi

t=remove_store4_gone
lab drop-store >/dev/null 2>&1
if wait_until 5 has_leader && [ "$(stores_listed)" = "store1 store2 store3" ]; then
	pass $t
else
	fail $t "expected store status to list store1..store3 only once store4 is stopped (no store naming it), saw '$(stores_listed)': $(status_json | head -c 600)"
fi

t=writes_with_three
L=$(leader_num)
F=1; [ "$L" = 1 ] && F=2
lab stop "store$F" >/dev/null 2>&1
out=$(ctl --timeout 8 exceptions add $SET 192.0.2.204 2>&1)
rc=$?
if [ $rc = 0 ] && wait_until 5 has_elem fw1 $SET.v4 192.0.2.204; then
	pass $t
else
	fail $t "expected a write to commit with store$F stopped (2 of the 3 stores left after store4's removal) and reach fw1, saw exit $rc '$out', view '$(view)'"
fi
lab start "store$F" >/dev/null 2>&1
