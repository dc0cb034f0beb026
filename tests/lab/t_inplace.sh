#!/usr/bin/env bash
# Lab tests of the member's in-place apply (issue 8): an entry-only change
# (exceptions add/del) is applied on every member as its own elements,
# without copying or diffing the policy, and leaves the same kernel,
# watcher and saved state as the whole path would.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
SRV=203.0.113.100
W=--wait=30
SET=big
big=$(mktemp)
trap 'rm -f "$big"; lab_teardown' EXIT

python3 - "$big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(100000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
ctl exceptions create $SET $W >/dev/null &&
ctl exceptions import $SET "$big" --wait=120 >/dev/null &&
ctl limits set udp-concurrent 20 $W >/dev/null &&
ctl limits set udp-concurrent 40 --set $SET $W >/dev/null ||
	{ fail setup "set, import or limits failed"; exit 1; }

# applied_line K V: fwK's log line for version V.
applied_line() { grep "applied version $2:" "$PHALANX_LAB_STATE/fw$1.log" | tail -1; }
# in_place_everywhere V A D: every member applied V in place as +A -D.
in_place_everywhere() {
	local k l
	for ((k = 1; k <= MEMBERS; k++)); do
		l=$(applied_line $k "$1")
		[[ "$l" == *"+$2 -$3 elements, "*"(in place"* ]] || return 1
	done
}

t=one_add_applies_in_place_on_every_member
ctl exceptions add $SET 192.0.2.77 198.51.100.0/24 $W >/dev/null
v=$(store_version)
if in_place_everywhere "$v" 2 0 &&
   every_member has_elem $SET.v4 192.0.2.77 &&
   every_member has_elem $SET.n4 198.51.100.200 &&
   every_member has_elem $SET.v4 10.1.134.159; then
	pass "$t ($(applied_line 1 "$v" | sed 's/.*elements, //'))"
else
	fail $t "expected version $v applied in place (+2 -0) with both entries in the kernel of every member, saw fw1: $(applied_line 1 "$v"), fw2: $(applied_line 2 "$v")"
fi

t=one_del_applies_in_place
ctl exceptions del $SET 192.0.2.77 10.0.0.1 $W >/dev/null
v=$(store_version)
if in_place_everywhere "$v" 0 2 &&
   ! in_set fw1 $SET.v4 192.0.2.77 && ! in_set fw2 $SET.v4 10.0.0.1 &&
   every_member has_elem $SET.v4 10.0.0.2; then
	pass $t
else
	fail $t "expected version $v applied in place as -2 and both gone, saw fw1: $(applied_line 1 "$v")"
fi

t=structural_change_takes_the_whole_path
ctl limits set tcp-connect-rate 6000 --set $SET $W >/dev/null
v=$(store_version)
l=$(applied_line 1 "$v")
if [ -n "$l" ] && [[ "$l" != *"in place"* ]]; then pass $t
else fail $t "expected version $v applied whole on fw1, saw: ${l:-no line}"; fi

# The watcher follows an in-place add: a source added to the set gets
# the set's udp-concurrent tier (40) at once, not the default (20).
t=watcher_follows_in_place_add
b=$(client_ip 1 11)
ctl exceptions add $SET "$b" $W >/dev/null
v=$(store_version)
gen client1 udp --dst $SRV --port 7 --sessions 35 --rate 50 --src "$b" >/dev/null
sleep 1.5
nb=$(lab exec fw1 conntrack -L -p udp -s "$b" 2>/dev/null | grep -c dport=7)
if in_place_everywhere "$v" 1 0 && [ "$nb" = 35 ]; then pass $t
else fail $t "expected $b added in place and its 35 UDP sessions kept under tier 40 (default 20), saw $nb kept; fw1: $(applied_line 1 "$v")"; fi

# The saved state holds what was applied in place: a restarted member
# comes back at the store's version with the same entries.
t=restart_keeps_in_place_changes
v=$(store_version)
lab stop fw1 >/dev/null && lab start fw1 >/dev/null
if wait_until 30 grep -q "member fw1 up: table inet phalanx at version $v" "$PHALANX_LAB_STATE/fw1.log" &&
   in_set fw1 $SET.n4 198.51.100.9 && ! in_set fw1 $SET.v4 10.0.0.1 &&
   in_set fw1 $SET.v4 "$b"; then
	pass $t
else
	fail $t "expected fw1 back at version $v from its cache with 198.51.100.0/24 and $b, without 10.0.0.1"
	show_log fw1
fi
