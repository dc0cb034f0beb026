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
trap 'rm -f "$big" "$big.small"; lab_teardown' EXIT

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
s0=$(wc -l <"$PHALANX_LAB_STATE/store1.log")
lab stop fw1 >/dev/null && lab start fw1 >/dev/null
if wait_until 30 grep -q "member fw1 up: table inet phalanx at version $v" "$PHALANX_LAB_STATE/fw1.log" &&
   in_set fw1 $SET.n4 198.51.100.9 && ! in_set fw1 $SET.v4 10.0.0.1 &&
   in_set fw1 $SET.v4 "$b"; then
	pass $t
else
	fail $t "expected fw1 back at version $v from its cache with 198.51.100.0/24 and $b, without 10.0.0.1"
	show_log fw1
fi

# The restarted member's first snapshot request comes on a new
# connection while the store still counts the old one up (its last
# heartbeat is under a second old): with the member's own key it takes
# the id over and is served at once, not refused until the old one's
# heartbeats lapse (its changes would wait for the member's 5 s retry).
t=restarted_member_served_at_once
since_restart() { tail -n +"$((s0 + 1))" "$PHALANX_LAB_STATE/store1.log"; }
served() { [[ "$(since_restart)" == *"snapshot of version $v for fw1"* ]]; }
if wait_until 10 served &&
   [[ "$(since_restart)" != *"as member fw1: member id is held by another connection"* ]] &&
   ! grep -q "previous snapshot did not complete" "$PHALANX_LAB_STATE/fw1.log"; then
	pass "$t ($(since_restart | grep -c "the member restarted") takeover line(s))"
else
	fail $t "expected the store to serve fw1's snapshot of version $v after its restart without refusing the id; store since the restart:"
	since_restart | grep "fw1" | tail -8 | sed 's/^/    /'
fi

# kset_size NS KSET: the size NS's kernel set KSET was made with (nothing
# if none: the kernel's resizable hash).  -t: without the elements.
kset_size() {
	lab exec "$1" nft -t list set inet phalanx "$2" 2>/dev/null |
		awk '$1 == "size" { print $2; exit }'
}
# sized_on NS KSET N: NS holds N elements in KSET, made with a size
# above N.
sized_on() {
	local z
	z=$(kset_size "$1" "$2")
	[ "$(kset_count "$1" "$2")" = "$3" ] && [ -n "$z" ] && [ "$z" -gt "$3" ]
}
# sized_everywhere KSET N: sized_on for every member.
sized_everywhere() { every_member sized_on "$@"; }

# The import of 100,000 hosts made big.v4 again with a size (the
# kernel's fixed-size hash: docs/bench.md), with the rules that use it
# added again (structural_change_takes_the_whole_path gave the set a
# tcp-connect-rate tier: rules use it); an interval set keeps none.
t=import_makes_the_set_with_a_size
n4=$(kset_count fw1 $SET.v4)
if [ "${n4:-0}" -ge 100000 ] && sized_everywhere $SET.v4 "$n4" &&
   [ -z "$(kset_size fw1 $SET.n4)" ] &&
   [ "$(lab exec fw1 nft -t list table inet phalanx 2>/dev/null | grep -c "@$SET.v4 ")" -gt 0 ] &&
   in_set fw2 $SET.v4 10.1.134.159; then
	pass "$t (fw1: $n4 elements, size $(kset_size fw1 $SET.v4))"
else
	fail $t "expected $SET.v4 with a size above its ${n4:-?} elements on every member and a rule using it; fw1 size '$(kset_size fw1 $SET.v4)', fw2 size '$(kset_size fw2 $SET.v4)' count '$(kset_count fw2 $SET.v4)'"
fi

# An add that fills the set to just under its size keeps the set; one
# of 1,000 more (in place: under PX_DELTA_MAX) would take it past, is
# refused by the kernel (ENFILE), and the whole path makes the set again,
# bigger, with every entry, on every member (fw2's log shows the path).
t=outgrown_set_is_made_again
z0=$(kset_size fw1 $SET.v4)
fill=$(( ${z0:-0} - ${n4:-0} - 500 ))
python3 - "$big" "$fill" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2]) + 1000):
        f.write("172.%d.%d.%d\n" % (16 + (i >> 16), (i >> 8) & 255, i & 255))
PY
ctl exceptions add $SET $(head -n "$fill" "$big") --wait=120 >/dev/null
z1=$(kset_size fw2 $SET.v4)
ctl exceptions add $SET $(tail -n 1000 "$big") --wait=60 >/dev/null
v=$(store_version)
want=$(( ${n4:-0} + fill + 1000 ))
if [ -n "$z0" ] && [ "$z1" = "$z0" ] && sized_everywhere $SET.v4 "$want" &&
   [ "$(kset_size fw1 $SET.v4)" -gt "$z0" ] &&
   grep -q "version $v: a set would outgrow its kernel size" "$PHALANX_LAB_STATE/fw2.log" &&
   applied_line 2 "$v" | grep -q "+$want -0 elements" &&
   every_member has_elem $SET.v4 172.16.0.5 &&
   every_member has_elem $SET.v4 10.1.134.159; then
	pass "$t (size $z0 -> $(kset_size fw1 $SET.v4), $want elements)"
else
	fail $t "expected $SET.v4 to keep size ${z0:-?} at $((want - 1000)) elements (fw2: '$z1'), then version $v to make it again, bigger, with $want elements on every member; fw2 size '$(kset_size fw2 $SET.v4)' count '$(kset_count fw2 $SET.v4)': $(applied_line 2 "$v")"
	show_log fw2
fi

# An import that leaves a quarter of the size or less in use makes the
# set again with the size its entries need: none for 1,000 (the kernel
# would otherwise keep the big set's buckets).
t=shrunk_set_is_made_again_without_a_size
head -n 1000 "$big" >"$big.small"
ctl exceptions import $SET "$big.small" --wait=60 >/dev/null
if [ -z "$(kset_size fw1 $SET.v4)" ] && [ -z "$(kset_size fw2 $SET.v4)" ] &&
   [ "$(kset_count fw1 $SET.v4)" = 1000 ] && [ "$(kset_count fw2 $SET.v4)" = 1000 ] &&
   every_member has_elem $SET.v4 172.16.0.5 &&
   ! in_set fw2 $SET.v4 10.1.134.159; then
	pass $t
else
	fail $t "expected $SET.v4 without a size holding 1000 entries on every member; fw1 size '$(kset_size fw1 $SET.v4)' count '$(kset_count fw1 $SET.v4)', fw2 size '$(kset_size fw2 $SET.v4)' count '$(kset_count fw2 $SET.v4)'"
fi
rm -f "$big.small"
