#!/usr/bin/env bash
# Lab tests of TCP checksum validation with the KB 911554 exclusion list
# (issue 12 item 5, docs/protection.md): crafted SYNs with a wrong TCP
# checksum (scapy in client1, sent through fw1) are dropped and logged
# as FWX_E_BAD_TCP_CHECKSUM_DROPPED 0xC0040031 unless their tuple is on
# the list, and raise one bad-tcp-checksum alert per source per window; a
# good SYN passes either way; a whole connection on an
# excluded tuple completes (the reply direction is excluded too); the
# list round-trips exactly through set/show, malformed lists are
# refused naming the entry and the position with the store's version
# unchanged, and `set ""' clears it.  The server counts the SYNs that
# reach it (an nft counter in its namespace at prerouting priority -500,
# before anything of its own).  Every send is one packet.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
SRV=203.0.113.100
SRC=198.51.100.2     # client1's first address
SRC2=198.51.100.3    # client1's second
W=--wait=20
PY=/usr/bin/python3
FWLOG=$PHALANX_LAB_STATE/fw1/cache.fwlog.jsonl

$PY -c 'import scapy.all' 2>/dev/null || { skip checksum "scapy (python3-scapy) is not installed"; exit 0; }
lab exec server nft -f - <<'EOF' || { fail setup "cannot add the server's probe counter"; exit 1; }
table inet probe {
	counter syns { }
	chain pre { type filter hook prerouting priority -500; tcp dport { 7777, 7778 } tcp flags syn counter name syns; }
}
EOF
syns() { lab exec server nft list counter inet probe syns | awk '/packets/ { print $2 }'; }

# send_syn GOOD|BAD SRC DPORT [DST]: one SYN from client1 (source address
# SRC, a fresh random source port, a correct or a wrong TCP checksum) to
# DST (the server) port DPORT.
send_syn() {
	lab exec client1 $PY - "$@" <<'PY'
import random, sys
from scapy.all import IP, IPv6, TCP, conf, send
conf.verb = 0
kind, src, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])
dst = sys.argv[4] if len(sys.argv) > 4 else ("2001:db8:0:113::100" if ":" in src else "203.0.113.100")
ip = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
p = ip / TCP(sport=random.randint(20000, 60000), dport=dport, flags="S", seq=random.randint(1, 2**31))
good = ip.__class__(bytes(p))[TCP].chksum
if kind == "BAD":
    p[TCP].chksum = (good + 0x1111) & 0xffff or 1
send(p, iface="eth0")
PY
}
# arrived GOOD|BAD SRC DPORT: send_syn to the server; print 1 if it
# reached the server, else 0.
arrived() {
	local before after
	before=$(syns)
	send_syn "$@" || { echo send-failed; return; }
	# the server counts at once; give the veth path a moment, bounded
	for _ in $(seq 1 20); do
		after=$(syns)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	echo $(( after - before ))
}
# bad_logged SRC DPORT [DST]: fw1's firewall log holds a denied record of
# a bad TCP checksum from SRC to DST (the server) port DPORT, with TMG's
# name and code.
bad_logged() {
	python3 - "$FWLOG" "$@" <<'PY'
import json, sys
path, src, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])
dst = sys.argv[4] if len(sys.argv) > 4 else ("2001:db8:0:113::100" if ":" in src else "203.0.113.100")
try:
    lines = open(path).read().split("\n")
except OSError:
    sys.exit(1)
for line in lines:
    try:
        r = json.loads(line)
    except ValueError:
        continue  # a partial last line
    if (r.get("type") == "denied" and r.get("protection") == "bad-tcp-checksum" and
            r.get("result") == "FWX_E_BAD_TCP_CHECKSUM_DROPPED" and
            r.get("result_code") == "0xC0040031" and r.get("src") == src and
            r.get("dst") == dst and r.get("dport") == dport):
        sys.exit(0)
sys.exit(1)
PY
}
expect() { # NAME WANT GOOD|BAD SRC DPORT
	local t=$1 want=$2 got
	shift 2
	got=$(arrived "$@")
	[ "$got" = "$want" ] && return 0
	fail "$t" "expected $want SYN ($*) at the server, saw $got"
	return 1
}
show() { ctl checksum-exclusions show; }
# csx_has NS: member NS's kernel set csx exists (and lists its elements)
csx_list() { lab exec "$1" nft list set inet phalanx csx 2>/dev/null; }

# --- without exclusions: bad dropped and logged, good passes ---------------
t=bad_checksum_dropped_and_logged
if expect $t 1 GOOD $SRC 7777 && expect $t 0 BAD $SRC 7777; then
	if wait_until 5 bad_logged $SRC 7777; then pass $t
	else fail $t "expected a denied record bad-tcp-checksum FWX_E_BAD_TCP_CHECKSUM_DROPPED 0xC0040031 from $SRC to port 7777 in $FWLOG, saw: $(grep -c . "$FWLOG" 2>/dev/null) records, none such"; fi
fi

t=bad_checksum_alert_once_per_source_and_window
got=$(alert_once_per_window bad-tcp-checksum 198.51.100.21 198.51.100.22 send_syn BAD @SRC 7777)
if [ "${got%% *}" = 1 ] && grep -q "TCP segment with a bad checksum dropped" <<<"$got"; then pass $t
else fail $t "expected one exceeded bad-tcp-checksum alert for 198.51.100.21 (two bad SYNs), saw: $got"; fi

t=local_bad_checksum_dropped_and_logged
# TCP to the member itself: conntrack checks it at prerouting too, and
# the guard (input, after the management returns) drops invalid TCP.
# fw1 counts the SYNs to it that get past its input chain (a probe on
# the input hook at priority 100, after the member's at 0): the good
# one does, the bad one must not.
FW1=198.51.100.1
lab exec fw1 nft -f - <<'NFT' || fail $t "cannot add fw1's probe counter"
table inet probe {
	counter local_syns { }
	chain local_in { type filter hook input priority 100; tcp dport 7777 tcp flags syn counter name local_syns; }
}
NFT
local_syns() { lab exec fw1 nft list counter inet probe local_syns | awk '/packets/ { print $2 }'; }
local_syns_above() { [ "$(local_syns)" -gt "$1" ]; }
guard=$(lab exec fw1 nft list chain inet phalanx guard)
l0=$(local_syns)
if ! send_syn GOOD $SRC 7777 $FW1 || ! wait_until 5 local_syns_above "$l0"; then
	fail $t "expected a good SYN to fw1 ($FW1) port 7777 past its input chain, saw $(( $(local_syns) - l0 ))"
elif ! l1=$(local_syns) || ! send_syn BAD $SRC 7777 $FW1; then
	fail $t "scapy could not send"
elif ! wait_until 5 bad_logged $SRC 7777 $FW1; then
	fail $t "expected a bad-tcp-checksum record from $SRC to fw1 ($FW1) port 7777"
elif [ "$(local_syns)" != "$l1" ]; then
	fail $t "expected the bad SYN to fw1 dropped in its input chain, saw it past (probe $l1 -> $(local_syns))"
elif ! grep -q 'meta l4proto tcp ct state invalid drop' <<<"$guard"; then
	fail $t "expected \`meta l4proto tcp ct state invalid drop' in fw1's guard chain, saw: $(tr '\n' ' ' <<<"$guard")"
else
	pass $t
fi

t=ipv6_bad_checksum_dropped_and_logged
# The list is IPv4 only; IPv6 TCP is validated the same way.
SRC6=2001:db8:100:1::2
if expect $t 1 GOOD $SRC6 7777 && expect $t 0 BAD $SRC6 7777; then
	if wait_until 5 bad_logged $SRC6 7777; then pass $t
	else fail $t "expected a bad-tcp-checksum record from $SRC6 to port 7777"; fi
fi

# --- set / show --------------------------------------------------------------
t=exclusions_roundtrip_exact
LIST="12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>14.15.16.17:80;$SRC:0>$SRV:7777;0.0.0.0:0>$SRV:80;"
if ! out=$(ctl checksum-exclusions set "$LIST" $W 2>&1); then
	fail $t "expected set to succeed, saw: $out"
elif [ "$(show)" != "$LIST" ]; then
	fail $t "expected show to print \`$LIST', saw \`$(show)'"
elif ! ctl checksum-exclusions show --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["checksum_exclusions"] == sys.argv[1], d
e = d["entries"]
assert len(e) == 4 and e[1] == {"src": "12.0.0.0", "sport": 1, "dst": "14.15.16.17", "dport": 80}, e
' "$LIST"; then
	fail $t "expected --json to hold the string and its 4 entries"
else
	pass $t
fi

t=exclusions_on_every_member
# The article's second entry is covered by its first: the kernel set
# holds 3 elements.
ok=1
for fw in fw1 fw2; do
	got=$(csx_list $fw | grep -o '[0-9./]* \. [0-9-]* \. [0-9./]* \. [0-9-]*' | sort | tr '\n' ';')
	want="0.0.0.0/0 . 0-65535 . $SRV . 80;12.0.0.0 . 0-65535 . 14.15.16.17 . 80;$SRC . 0-65535 . $SRV . 7777;"
	if [ "$got" != "$want" ]; then
		fail $t "expected $fw's set csx to hold \`$want', saw \`$got' ($(csx_list $fw | tr '\n' ' '))"
		ok=0
	fi
done
[ $ok = 1 ] && pass $t

# --- traffic with exclusions -------------------------------------------------
t=excluded_bad_checksum_reaches_server
expect $t 1 BAD $SRC 7777 && pass $t

t=not_excluded_bad_checksum_still_dropped
# another source port wildcard, but another destination port / source
expect $t 0 BAD $SRC 7778 && expect $t 0 BAD $SRC2 7777 &&
	if wait_until 5 bad_logged $SRC2 7777; then pass $t
	else fail $t "expected a bad-tcp-checksum record from $SRC2 to 7777"; fi

t=good_checksum_passes_either_way
expect $t 1 GOOD $SRC 7777 && expect $t 1 GOOD $SRC 7778 && pass $t

t=excluded_connection_completes
# 0.0.0.0:0>SRV:80: the SYN and the client's segments are untracked by
# the forward rule, the server's SYN-ACK and data by the reverse one; a
# lookup of only the original direction leaves the SYN-ACK invalid.
if out=$(lab exec client1 curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$SRV/" 2>&1) && [ "$out" = 200 ]; then
	if lab exec fw1 conntrack -L -p tcp --dport 80 2>/dev/null | grep -q "dst=$SRV"; then
		fail $t "expected the connection untracked on fw1 (excluded), saw a conntrack entry"
	else
		pass $t
	fi
else
	fail $t "expected HTTP 200 from $SRV through fw1 with port 80 excluded, saw \`$out'"
fi

# --- refusals ----------------------------------------------------------------
t=malformed_refused_with_entry_and_position
v0=$(store_version)
ok=1
# string | entry, position it must name
while IFS='|' read -r bad where; do
	out=$(ctl checksum-exclusions set "$bad" 2>&1); rc=$?
	if [ $rc = 0 ] || ! grep -q "$where" <<<"$out"; then
		fail $t "expected \`$bad' refused naming \`$where', saw exit $rc: $out"
		ok=0
	fi
done <<'EOF'
12.0.0.0:0>14.15.16.17:80|entry 1, position 26
12.0.0.0:0>14.15.16.17:80;12.0.0.0:1>14.15.16.17|entry 2, position 49
12.0.0.256:0>14.15.16.17:80;|entry 1, position 8
12.0.0.0:65536>14.15.16.17:80;|entry 1, position 10
12.0.0.0:0>14.15.16:80;|entry 1, position 20
1.2.3.4:0>5.6.7.8:08;|entry 1, position 20
 1.2.3.4:0>5.6.7.8:8;|entry 1, position 1
1.2.3.4:0>5.6.7.8:8;;|entry 2, position 21
2001:db8::1:0>5.6.7.8:8;|entry 1, position 1
EOF
v1=$(store_version)
if [ "$v0" != "$v1" ]; then fail $t "expected the store's version to stay $v0, saw $v1"; ok=0; fi
if [ "$(show)" != "$LIST" ]; then fail $t "expected the list unchanged, saw \`$(show)'"; ok=0; fi
[ $ok = 1 ] && pass $t

t=changed_list_replaces_the_set
# One list for another: the member recreates set csx with the new
# elements in the same batch (its definition carries the list's hash).
LIST2="$SRC2:0>$SRV:7777;"
if ! out=$(ctl checksum-exclusions set "$LIST2" $W 2>&1); then
	fail $t "expected set to succeed, saw: $out"
elif [ "$(show)" != "$LIST2" ]; then
	fail $t "expected show to print \`$LIST2', saw \`$(show)'"
else
	expect $t 1 BAD $SRC2 7777 && expect $t 0 BAD $SRC 7777 && pass $t
fi

# --- clearing ----------------------------------------------------------------
t=empty_string_clears
if ! out=$(ctl checksum-exclusions set "" $W 2>&1); then
	fail $t "expected set \"\" to succeed, saw: $out"
elif [ -n "$(show)" ]; then
	fail $t "expected show to print an empty line, saw \`$(show)'"
elif csx_list fw1 >/dev/null || csx_list fw2 >/dev/null; then
	fail $t "expected no set csx on the members once cleared"
else
	expect $t 0 BAD $SRC 7777 && pass $t
fi
