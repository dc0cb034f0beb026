#!/usr/bin/env bash
# Lab tests of a store rejoining from the leader's snapshot (issue 9:
# "a store whose disk was wiped rejoins from a snapshot"), on three
# stores that snapshot every 8 entries and keep 2 after one, and one
# member:
#   behind_rejoins_from_snapshot  a follower stopped while 24 writes are
#                                 committed (the leader's log no longer
#                                 holds what it missed) comes back: it
#                                 takes the leader's snapshot, replaces
#                                 its database, restarts itself (same
#                                 pid, still named phalanx-store) and
#                                 catches up; made leader, it
#                                 lists every entry written while it
#                                 was down
#   wiped_rejoins_from_snapshot   a follower whose database and Raft log
#                                 are deleted starts empty, rejoins from
#                                 the snapshot; made leader, it lists
#                                 every entry and commits a write that
#                                 reaches the member's kernel
# Every wait is bounded polling.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
SET=flood-exceptions
export PHALANX_STORE_ARGS="--raft-snapshot-threshold 8 --raft-snapshot-trailing 2"
raft_lab_setup 1

wait_until 15 has_leader
L=$(leader_name)
if [ -z "$L" ]; then
	echo "FAIL lab_leader: expected the three stores to agree on a leader, saw $(status_json | head -c 600)"
	exit 1
fi
follower() { # a store that is neither $1 nor $2
	local k
	for k in 1 2 3; do
		[ "store$k" != "$1" ] && [ "store$k" != "${2:-}" ] && { echo "store$k"; return; }
	done
}
pid_of() { cat "$ST/$1.pid" 2>/dev/null; }
# add_range A B: one write per address 192.0.2.A..B; 0 if all committed
add_range() {
	local i
	for ((i = $1; i <= $2; i++)); do
		ctl exceptions add $SET "198.18.0.$i" >/dev/null 2>&1 || return 1
	done
}
# lists_range NAME A B: store NAME, made leader, lists 198.18.0.A..B
lists_range() {
	local out i
	out=$(lab exec store1 "$CTL" --store "$(ep "${1#store}")" exceptions list $SET 2>/dev/null) || return 1
	for ((i = $2; i <= $3; i++)); do
		grep -qx "198.18.0.$i" <<<"$out" || return 1
	done
}
leads() { [ "$(leader_name)" = "$1" ]; }
make_leader() {
	leads "$1" || ctl store transfer "$1" >/dev/null 2>&1
	wait_until 10 leads "$1"
}
restarted_from_snapshot() { grep -q "is now the leader's copy; restarting" "$ST/$1.log"; }

# --- a follower that fell behind the leader's log ---------------------------------------
t=behind_rejoins_from_snapshot
F=$(follower "$L")
lab stop "$F" >/dev/null 2>&1
add_range 1 24
arc=$?
lab start "$F" >/dev/null 2>&1
pid=$(pid_of "$F")
if [ $arc = 0 ] && wait_until 30 applied_equal 3 && restarted_from_snapshot "$F" &&
   [ -n "$pid" ] && [ "$(pid_of "$F")" = "$pid" ] && kill -0 "$pid" 2>/dev/null &&
   [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = phalanx-store ] &&
   make_leader "$F" && lists_range "$F" 1 24; then
	pass $t
else
	fail $t "expected $F, stopped for 24 writes (adds exit $arc), to restart from $L's snapshot as pid ${pid:-?} and, made leader, list all 24, saw pid now $(pid_of "$F") named $(cat "/proc/$pid/comm" 2>/dev/null), leader $(leader_name), status $(status_json | head -c 600)"
	show_log "$F" 20
fi

# --- a follower whose disk was wiped --------------------------------------------------
t=wiped_rejoins_from_snapshot
wait_until 10 has_leader
L=$(leader_name)
W=$(follower "$L")
lab stop "$W" >/dev/null 2>&1
rm -rf "${ST:?}/$W/db" "${ST:?}/$W/raft"
: >"$ST/$W.log"
add_range 25 34
arc=$?
lab start "$W" >/dev/null 2>&1
out=
if [ $arc = 0 ] && wait_until 30 applied_equal 3 && restarted_from_snapshot "$W" &&
   make_leader "$W" && lists_range "$W" 1 34; then
	out=$(lab exec store1 "$CTL" --store "$(ep "${W#store}")" exceptions add $SET 198.18.1.1 2>&1)
fi
if [ -n "$out" ] && leads "$W" && wait_until 5 has_elem fw1 $SET.v4 198.18.1.1; then
	pass $t
else
	fail $t "expected $W, wiped and restarted after 10 more writes (adds exit $arc), to rejoin from the snapshot and, made leader, list all 34 and commit a write that reaches fw1, saw write '$out', leader $(leader_name), status $(status_json | head -c 600)"
	show_log "$W" 20
fi
