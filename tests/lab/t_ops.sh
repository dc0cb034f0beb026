#!/usr/bin/env bash
# Lab tests of issue 8 item 1, store side: a write is one operation,
# checked against the store's index of the set, committed and published
# as exactly its delta.  A set of 1,000,000: one add costs the store
# little CPU and reaches members as a one-entry change; a duplicate is a
# no-op; an overlap is refused with nothing changed; the request id is in
# the audit trail; phalanxctl's exit status follows the error's class.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 1
SET=big

# The store's CPU time (user + system) in clock ticks.
store_ticks() {
	local pid
	pid=$(cat "$PHALANX_LAB_STATE/store1.pid") || return 1
	awk '{ print $14 + $15 }' "/proc/$pid/stat"
}
hz=$(getconf CLK_TCK)
set_count() {
	ctl --json exceptions list | python3 -c '
import json,sys
for s in json.load(sys.stdin)["sets"]:
    if s["name"] == sys.argv[1]: print(s["count"])' "$1"
}

# --- a set of 1,000,000 hosts ------------------------------------------
ctl exceptions create $SET >/dev/null
big=$(mktemp)
python3 - "$big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
ctl exceptions add $SET 198.51.100.0/24 >/dev/null
if ! ctl --timeout=120 exceptions import $SET "$big" --wait=300 >/dev/null; then
	fail ops_setup "import of 1,000,000 hosts into $SET failed"
	show_log store1
	rm -f "$big"
	exit 1
fi
rm -f "$big"
# the import replaced the set: the prefix for the overlap test again
ctl exceptions add $SET 198.51.100.0/24 --wait=30 >/dev/null

# --- one add to the 1M set: cheap for the store, a one-entry change -----
t=one_add_to_1m_set_is_a_one_entry_change
v0=$(store_version)
if ctl exceptions add $SET 192.0.2.77 --wait=30 >/dev/null; then
	v=$(store_version)
	ok=1
	[ "$v" = $((v0 + 1)) ] || ok=0
	in_set fw1 $SET.v4 192.0.2.77 || ok=0
	# the member's own account of the batch, and the store's
	grep -q "applied version $v: +1 -0 elements" "$PHALANX_LAB_STATE/fw1.log" || ok=0
	grep -q "version $v committed: exceptions add $SET (+1 -0 entries)" \
		"$PHALANX_LAB_STATE/store1.log" || ok=0
	if [ $ok = 1 ]; then pass $t
	else fail $t "expected version $((v0 + 1)) carrying +1 -0 on fw1, saw version $v"
		grep "applied version $v" "$PHALANX_LAB_STATE/fw1.log"; show_log store1 4; fi
else
	fail $t "add failed"
fi

# 20 singles: the old store copied and diffed the whole policy for each
# (54-68 ms of CPU with 1M entries: over a second for 20); the index
# checks and applies one entry (well under 10 ms each with the commit).
t=twenty_adds_to_1m_set_cost_little_store_cpu
c0=$(store_ticks)
ok=1
for i in $(seq 1 20); do
	ctl exceptions add $SET 192.0.3.$i >/dev/null || { ok=0; break; }
done
c1=$(store_ticks)
ms=$(( (c1 - c0) * 1000 / hz ))
if [ $ok = 1 ] && [ $ms -lt 400 ]; then pass "$t ($ms ms of CPU for 20)"
else fail $t "expected 20 adds within 400 ms of store CPU, saw $ms ms (adds ok=$ok)"; fi
grep "timing:" "$PHALANX_LAB_STATE/store1.log" | tail -1 | sed 's/^/    /'

# --- a duplicate add is a no-op: same version, nothing published --------
t=duplicate_add_is_noop_version_unchanged
v0=$(store_version)
out=$(ctl exceptions add $SET 192.0.2.77 10.0.0.5 2>&1); rc=$?
v=$(store_version)
if [ $rc = 0 ] && [ "$v" = "$v0" ] &&
   grep -q "no change, still version $v0" "$PHALANX_LAB_STATE/store1.log"; then
	pass $t
else fail $t "expected exit 0 and version $v0 unchanged, saw exit $rc, version $v: $out"; fi

# --- an overlap is refused whole, naming the pair; nothing changes -------
t=overlap_refused_nothing_changed
v0=$(store_version)
n0=$(set_count $SET)
out=$(ctl exceptions add $SET 192.0.2.78 198.51.100.128/25 2>&1); rc=$?
v=$(store_version)
n=$(set_count $SET)
if [ $rc = 1 ] && [ "$v" = "$v0" ] && [ "$n" = "$n0" ] &&
   grep -q "198.51.100.128/25 overlaps 198.51.100.0/24" <<<"$out" &&
   ! in_set fw1 $SET.v4 192.0.2.78; then
	pass $t
else fail $t "expected exit 1 naming both prefixes, version $v0 and $n0 entries, saw exit $rc, version $v, $n entries: $out"; fi

# two prefixes of one request that overlap each other
t=overlap_within_request_refused
v0=$(store_version)
out=$(ctl exceptions add $SET 203.0.113.0/24 203.0.113.64/26 2>&1); rc=$?
v=$(store_version)
if [ $rc = 1 ] && [ "$v" = "$v0" ] && grep -q "overlaps" <<<"$out"; then pass $t
else fail $t "expected exit 1 and version $v0, saw exit $rc, version $v: $out"; fi

# --- the request id: phalanxctl's, in the audit record and the log -------
t=request_id_in_history_and_log
id=$(ctl --json history | python3 -c '
import json,sys
last = None
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        if r.get("what", "").startswith("exceptions add"): last = r
print(last.get("request_id", "") if last else "")')
if [[ "$id" =~ ^[0-9a-f]{32}$ ]] && grep -q "request $id" "$PHALANX_LAB_STATE/store1.log"; then
	pass $t
else fail $t "expected a 128-bit hex request id in history and the store log, saw \`$id'"; fi

# --- exit status by class: 0 done, 1 refused, 2 usage --------------------
t=exit_status_by_error_class
ok=1; why=
ctl exceptions add $SET >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || { ok=0; why="$why usage:$rc"; }
out=$(ctl exceptions add no-such-set 192.0.2.9 2>&1); rc=$?
{ [ $rc = 1 ] && grep -q "no-such-set" <<<"$out"; } || { ok=0; why="$why noset:$rc($out)"; }
out=$(ctl exceptions del $SET 192.0.2.250 2>&1); rc=$?
{ [ $rc = 1 ] && grep -q "192.0.2.250 is not in set $SET" <<<"$out"; } || { ok=0; why="$why notin:$rc($out)"; }
v0=$(store_version)
out=$(lab ctl-as viewer exceptions add $SET 192.0.2.9 2>&1); rc=$?
{ [ $rc = 1 ] && grep -q "needs role operator" <<<"$out" && [ "$(store_version)" = "$v0" ]; } ||
	{ ok=0; why="$why perm:$rc($out)"; }
out=$(ctl exceptions destroy flood-exceptions 2>&1); rc=$?
[ $rc = 1 ] || { ok=0; why="$why protected:$rc"; }
if [ $ok = 1 ]; then pass $t; else fail $t "unexpected:$why"; fi

# --- a delete from the 1M set is a one-entry change too ------------------
t=one_del_from_1m_set_is_a_one_entry_change
if ctl exceptions del $SET 10.3.3.3 --wait=30 >/dev/null; then
	v=$(store_version)
	if grep -q "applied version $v: +0 -1 elements" "$PHALANX_LAB_STATE/fw1.log" &&
	   ! in_set fw1 $SET.v4 10.3.3.3 && in_set fw1 $SET.v4 10.3.3.4; then pass $t
	else fail $t "expected only 10.3.3.3 gone as a -1 batch at version $v"; fi
else
	fail $t "del failed"
fi

# --- a member's snapshot after pending changes holds them all -------------
t=restarted_member_snapshot_holds_pending_changes
want=$(set_count $SET)
lab stop fw1 >/dev/null
lab exec fw1 nft delete table inet phalanx >/dev/null 2>&1
rm -f "$PHALANX_LAB_STATE"/fw1/cache* 2>/dev/null
lab start fw1 >/dev/null
if wait_until 120 in_set fw1 $SET.v4 192.0.3.20; then
	n=$(lab exec fw1 "$REPO/build/nftcount" phalanx $SET.v4 2>&1)
	n6=$(lab exec fw1 "$REPO/build/nftcount" phalanx $SET.n4 2>&1)
	if [ $((n + n6)) = "$want" ] && ! in_set fw1 $SET.v4 10.3.3.3; then pass $t
	else fail $t "expected $want entries (v4 + n4), saw $n + $n6"; fi
else
	fail $t "fw1 did not get 192.0.3.20 back within 120 s"; show_log fw1
fi
