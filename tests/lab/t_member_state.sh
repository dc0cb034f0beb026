#!/usr/bin/env bash
# Lab tests of issue 8 item 3: the member's state in a local LMDB
# (node/state.c).  A member restarted with a 2M-entry IPv6 policy while
# the store is down (and its kernel table gone) puts every entry back from
# its state; one add into a 1M-entry set is written in place (the member
# writes far less than a copy of the set), in one state transaction whose
# time it logs.  Looked at from outside: the kernel's sets (nftcount), the
# member process's write counter (/proc/PID/io wchar), the state's size on
# disk and the member's log.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 1
N6=2000000
N4=1000000
STATE_DIR=$(lab info | sed -n 's/^fw1_state=//p').state
fw1_log_has() { grep -q "$1" "$PHALANX_LAB_STATE/fw1.log"; }
member_pid() { cat "$PHALANX_LAB_STATE/fw1.pid"; }
wchar() { awk '/^wchar:/ { print $2 }' "/proc/$(member_pid)/io"; }
count() { lab exec fw1 "$REPO/build/nftcount" phalanx "$1" 2>&1; }
fw1_synced() {
	ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(str(any(m["member"] == "fw1" and m["up"] and m["health"] == "ok" and
              m["applied_version"] == d["version"] for m in d["members"])).lower())' |
		grep -q true
}

big=$(mktemp /tmp/pxl8-6.XXXXXX)
mid=$(mktemp /tmp/pxl8-4.XXXXXX)
trap 'rm -f "$big" "$mid"; lab_teardown' EXIT
python3 - "$big" "$N6" "$mid" "$N4" <<'PY'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    f.write("# IPv6 hosts 2001:db8:8:<hi>:<lo>::1\n")
    f.write("".join("2001:db8:8:%x:%x::1\n" % (i >> 16, i & 0xffff)
                    for i in range(n)))
n = int(sys.argv[4])
with open(sys.argv[3], "w") as f:
    f.write("".join("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255)
                    for i in range(n)))
PY

# --- 2M IPv6 entries: restored from the state with the store down ------
t=restart_with_store_down_restores_2m_ipv6_from_state
if ! ctl exceptions create big6 >/dev/null ||
   ! ctl --timeout 180 exceptions import big6 "$big" --wait=400 >/dev/null; then
	fail $t "expected the import of $N6 IPv6 entries into big6 to succeed"
	show_log fw1
	exit 1
fi
n0=$(count big6.v6)
lab stop store1 >/dev/null
lab stop fw1 >/dev/null
# The kernel forgets everything: what comes back is the state's.
lab exec fw1 nft delete table inet phalanx
gone=$(count big6.v6)
lines=$(wc -l <"$PHALANX_LAB_STATE/fw1.log")
lab start fw1 >/dev/null
restored() { tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | grep -q "member fw1 up"; }
wait_until 240 restored || true
n1=$(count big6.v6)
has=$(lab exec fw1 "$REPO/build/nftcount" phalanx big6.v6 --has 2001:db8:8:1e:8479::1 2001:db8:8:1f:8480::1 2>&1 | tr '\n' ' ')
if [ "$n0" != "$N6" ]; then
	fail $t "expected $N6 elements in big6.v6 after the import, saw $n0"
elif [ "$gone" = "$N6" ]; then
	fail $t "expected the kernel table deleted before the restart, saw big6.v6 still with $gone"
elif [ "$n1" != "$N6" ]; then
	fail $t "expected $N6 elements in big6.v6 after the restart with the store down, saw $n1"
	tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | head -20 | sed 's/^/    /'
elif ! [[ "$has" =~ 2001:db8:8:1e:8479::1\ yes ]] || ! [[ "$has" =~ 2001:db8:8:1f:8480::1\ no ]]; then
	fail $t "expected 2001:db8:8:1e:8479::1 (entry 1999993) in big6.v6 and 2001:db8:8:1f:8480::1 not, saw: $has"
elif ! tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | grep -q "restored version .* from state"; then
	fail $t "expected fw1 to log the version restored from its state, saw:"
	tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | head -20 | sed 's/^/    /'
else
	pass "$t ($(tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | grep -o 'applied version [0-9]* (rebuild).*ms' | head -1))"
fi

# --- one add into a 1M-entry set: written in place, not whole ------------
t=one_add_into_1m_set_writes_no_whole_file
lab start store1 >/dev/null
wait_until 120 fw1_synced || true
if ! ctl exceptions create mid4 >/dev/null ||
   ! ctl --timeout 180 exceptions import mid4 "$mid" --wait=400 >/dev/null; then
	fail $t "expected the import of $N4 entries into mid4 to succeed"
	show_log fw1
	exit 1
fi
size0=$(du -sk "$STATE_DIR" | awk '{ print $1 }')
w0=$(wchar)
lines=$(wc -l <"$PHALANX_LAB_STATE/fw1.log")
ctl exceptions add mid4 192.0.2.77 --wait=30 >/dev/null
v=$(store_version)
written() { tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | grep -q "state: version $v written"; }
wait_until 10 written || true
w1=$(wchar)
size1=$(du -sk "$STATE_DIR" | awk '{ print $1 }')
line=$(tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | grep "state: version $v written" | head -1)
if ! in_set fw1 mid4.v4 192.0.2.77 || [ "$(count mid4.v4)" != $((N4 + 1)) ]; then
	fail $t "expected 192.0.2.77 added to mid4.v4 ($((N4 + 1)) elements), saw $(count mid4.v4)"
elif [ $((w1 - w0)) -ge 1048576 ]; then
	fail $t "expected fw1 to write under 1 MiB for one added entry, saw $((w1 - w0)) bytes written (a whole copy of the set?)"
elif [ $((size1 - size0)) -ge 1024 ]; then
	fail $t "expected the state ($STATE_DIR) to grow by under 1 MiB, saw ${size0} KiB -> ${size1} KiB"
elif ! [[ "$line" =~ \(delta\):\ \+1\ -0\ entry\ records ]]; then
	fail $t "expected fw1 to log version $v written to its state as a delta of one entry, saw: ${line:-nothing}"
else
	pass "$t ($((w1 - w0)) bytes written, state ${size0} -> ${size1} KiB, ${line##*records, })"
fi
