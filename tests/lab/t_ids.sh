#!/usr/bin/env bash
# Lab tests of intrusion detection (issue 12 item 6, docs/protection.md)
# with crafted packets (scapy in the client namespaces,
# tests/lab/ids_send.py) sent through the members: each attack is dropped
# (the server counts what reaches it: an nft counter in its namespace at
# prerouting priority -500, before anything of its own), logged with its
# reason and TMG's result code, alerted once per source per window, and
# with --block the source is blocked array-wide (seen in fw2's kernel and
# enforced there); the same traffic without the attack passes, and `ids
# set NAME off' lets the attack through where conntrack does not drop it
# anyway.  Every send is a handful of packets.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
packet_lab_setup ids ids_send.py
lab exec server nft -f - <<'NFT' || { fail setup "cannot add the server's probe counter"; exit 1; }
table inet probe {
	counter seen { }
	counter rsts { }
	chain pre {
		type filter hook prerouting priority -500;
		meta l4proto { tcp, udp } th dport { 139, 7000-7999 } counter name seen
		tcp dport 80 tcp flags & rst == rst counter name rsts
	}
}
NFT
seen() { lab exec server nft list counter inet probe seen | awk '/packets/ { print $2 }'; }
rsts() { lab exec server nft list counter inet probe rsts | awk '/packets/ { print $2 }'; }
rsts_above() { [ "$(rsts)" -gt "$1" ]; }
# arrived NS KIND SRC PORT [N]: send N (3) packets from client namespace
# NS to the server and print how many reached it.
arrived() {
	local before after n=${5:-3}
	before=$(seen)
	lab exec "$1" $PY "$SEND" "$2" "$3" $SRV "$4" "$n" || { echo "send-failed"; return; }
	# the server counts at once; give the veth path a moment, bounded
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		after=$(seen)
		[ "$after" -ge $((before + n)) ] && break
		sleep 0.1
	done
	echo $(( after - before ))
}
expect_arrived() { # NAME WANT NS KIND SRC PORT [N]
	local t=$1 want=$2 got
	shift 2
	got=$(arrived "$@")
	[ "$got" = "$want" ] && return 0
	fail "$t" "expected $want of ${5:-3} packets ($*) at the server, saw $got"
	return 1
}
# logged REASON RESULT CODE SRC: fw1's firewall log holds a denied record
# of that protection reason, result code name and value, and source.
logged() {
	python3 - "$FWLOG" "$@" <<'PY'
import json, sys
path, reason, result, code, src = sys.argv[1:6]
for line in open(path):
    r = json.loads(line)
    if (r.get("type") == "denied" and r.get("protection") == reason and
            (r.get("result") or "") == result and
            (r.get("result_code") or "") == code and r.get("src") == src):
        sys.exit(0)
sys.exit(1)
PY
}
# alerts_of TYPE SRC: how many `exceeded' alerts of TYPE for SRC.
alerts_of() {
	ctl alerts list --json --type "$1" | python3 -c '
import json, sys
print(sum(1 for x in json.load(sys.stdin)["alerts"] if x["source"] == sys.argv[1] and x["state"] == "exceeded"))' "$2"
}
has_alert() { [ "$(alerts_of "$1" "$2")" -ge 1 ]; }
# alerted_once NAME TYPE SRC: one alert arrives, and no second one.
alerted_once() {
	local t=$1 n
	if ! wait_until 10 has_alert "$2" "$3"; then
		fail "$t" "expected an exceeded $2 alert for $3, saw none"
		return 1
	fi
	sleep 2 # a second alert, if the engine raised one, would be in by now
	n=$(alerts_of "$2" "$3")
	[ "$n" = 1 ] && return 0
	fail "$t" "expected one exceeded $2 alert for $3 in its window, saw $n"
	return 1
}

t=ids_show_defaults
got=$(ctl ids show --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(";".join("%s:%s:%d:%d:%d" % (x["name"], x["on"], x["threshold"], x["window_s"], x["block_s"]) for x in d["ids"]))')
want="port-scan:True:20:60:0;half-scan:True:3:60:0;land-attack:True:1:60:0;ping-of-death:True:1:60:0;udp-bomb:True:1:60:0;oob-attack:True:1:60:0;syn-attack:True:1000:60:0"
[ "$got" = "$want" ] && pass $t || fail $t "expected $want, saw $got"

# --- land attack --------------------------------------------------------------
t=land_attack_dropped_logged_0xC004001C
# The same port from the client's own address passes; source address and
# port equal to the destination's do not.
expect_arrived $t 3 client1 landport 198.51.100.2 7001 &&
expect_arrived $t 0 client1 land - 7002 &&
if wait_until 5 logged land-attack FWX_E_LAND_ATTACK_DROPPED 0xC004001C $SRV; then
	pass $t
else
	fail $t "expected fw1's log to hold a land-attack record with FWX_E_LAND_ATTACK_DROPPED 0xC004001C from $SRV"
fi

t=land_attack_alert_once_per_source_and_window
arrived client1 land - 7003 2 >/dev/null
alerted_once $t land-attack $SRV && pass $t

t=land_attack_off_lets_it_through
ctl ids set land-attack off $W >/dev/null || fail $t "ids set land-attack off failed"
expect_arrived $t 3 client1 land - 7004 &&
{ ctl ids set land-attack on $W >/dev/null || fail $t "ids set land-attack on failed"; } &&
expect_arrived $t 0 client1 land - 7005 && pass $t

# --- Windows out-of-band --------------------------------------------------------
t=oob_attack_dropped_logged_0xC004001A
expect_arrived $t 3 client1 syn 198.51.100.2 139 &&
expect_arrived $t 3 client1 urg 198.51.100.2 7010 &&
expect_arrived $t 0 client1 urg 198.51.100.2 139 &&
if wait_until 5 logged oob-attack FWX_E_OUT_OF_BAND_PACKET_DROPPED 0xC004001A 198.51.100.2; then
	pass $t
else
	fail $t "expected an oob-attack record with FWX_E_OUT_OF_BAND_PACKET_DROPPED 0xC004001A in fw1's log"
fi

t=oob_attack_alert_once_per_source_and_window
arrived client1 urg 198.51.100.2 139 2 >/dev/null
alerted_once $t oob-attack 198.51.100.2 && pass $t

t=oob_attack_block_array_wide
# --block: the source is blocked on fw1 at once, reported to the store
# and added to fw2's kernel; fw2 then drops even its harmless traffic
# (client2 sends through fw2 with that source).
B=198.51.100.5
expect_arrived $t 3 client2 udp $B 7020 &&
{ ctl ids set oob-attack on --block 120 $W >/dev/null || fail $t "ids set --block failed"; } &&
expect_arrived $t 0 client1 urg $B 139 1 &&
if ! in_set fw1 ids_block4 $B; then
	fail $t "expected $B in fw1's ids_block4"
elif ! wait_until 5 in_set fw2 ids_block4 $B; then
	fail $t "expected $B in fw2's ids_block4 within 5 s (array-wide block)"
else
	expect_arrived $t 0 client2 udp $B 7021 &&
	expect_arrived $t 3 client2 udp 198.51.100.34 7022 && pass $t
fi

t=oob_attack_off_lets_it_through
ctl ids set oob-attack on --block 0 $W >/dev/null || fail $t "ids set --block 0 failed"
expect_arrived $t 0 client1 urg 198.51.100.6 139 1 &&
{ ctl ids set oob-attack off $W >/dev/null || fail $t "ids set oob-attack off failed"; } &&
expect_arrived $t 3 client1 urg 198.51.100.12 139 && pass $t
ctl ids set oob-attack on $W >/dev/null

# --- half scan: invalid flags outside a connection ------------------------------
t=half_scan_flags_dropped_logged_0xC004001B
# A SYN passes; FIN, NULL, XMAS and SYN+FIN do not.
expect_arrived $t 3 client1 syn 198.51.100.7 7030 &&
expect_arrived $t 0 client1 fin 198.51.100.7 7031 1 &&
expect_arrived $t 0 client1 null 198.51.100.7 7032 1 &&
expect_arrived $t 0 client1 xmas 198.51.100.7 7033 1 &&
expect_arrived $t 0 client1 synfin 198.51.100.7 7034 1 &&
if wait_until 5 logged half-scan FWX_E_IP_HALF_SCAN_PACKET_DROPPED 0xC004001B 198.51.100.7; then
	pass $t
else
	fail $t "expected a half-scan record with FWX_E_IP_HALF_SCAN_PACKET_DROPPED 0xC004001B in fw1's log"
fi

t=half_scan_alert_after_threshold_once
# Threshold 3: two probes raise nothing, the four above did (once).
arrived client1 fin 198.51.100.8 7035 2 >/dev/null
sleep 2 # an alert for them would be in by now
n=$(alerts_of half-scan 198.51.100.8)
if [ "$n" != 0 ]; then
	fail $t "expected no half-scan alert for 2 probes (threshold 3), saw $n"
else
	alerted_once $t half-scan 198.51.100.7 && pass $t
fi

t=half_scan_off_not_logged
# Off: no half-scan record; conntrack still drops a FIN outside a
# connection (ct state invalid), as before this feature.
ctl ids set half-scan off $W >/dev/null || fail $t "ids set half-scan off failed"
expect_arrived $t 0 client1 fin 198.51.100.9 7036 1 &&
sleep 1 &&
if logged half-scan FWX_E_IP_HALF_SCAN_PACKET_DROPPED 0xC004001B 198.51.100.9; then
	fail $t "expected no half-scan record for 198.51.100.9 with half-scan off"
else
	pass $t
fi
ctl ids set half-scan on $W >/dev/null

t=half_scan_rst_instead_of_ack_dropped_logged
# Handshakes to the web server answered with a RST instead of the final
# ACK (client1's kernel resets the SYN-ACKs of scapy's SYNs): the RSTs
# do not reach the server, each is logged, and three raise the alert.
H=198.51.100.3
r0=$(rsts)
lab exec client1 $PY "$SEND" handshakes $H $SRV 80 3 || fail $t "scapy could not send"
if ! wait_until 5 logged half-scan FWX_E_IP_HALF_SCAN_PACKET_DROPPED 0xC004001B $H; then
	fail $t "expected a half-scan record for $H's RSTs in fw1's log"
elif [ "$(rsts)" != "$r0" ]; then
	fail $t "expected no RST of $H at the server, saw $(( $(rsts) - r0 ))"
else
	alerted_once $t half-scan $H && pass $t
fi

t=half_scan_rst_off_lets_it_through
ctl ids set half-scan off $W >/dev/null || fail $t "ids set half-scan off failed"
r0=$(rsts)
lab exec client1 $PY "$SEND" handshakes $H $SRV 80 2 || fail $t "scapy could not send"
if wait_until 5 rsts_above "$r0"; then
	pass $t
else
	fail $t "expected $H's RSTs at the server with half-scan off, saw none"
fi
ctl ids set half-scan on $W >/dev/null

# --- UDP bomb ---------------------------------------------------------------------
t=udp_bomb_dropped_logged_0xC004001D
expect_arrived $t 3 client1 udp 198.51.100.10 7040 &&
expect_arrived $t 0 client1 udpshort 198.51.100.10 7041 &&
expect_arrived $t 0 client1 udplong 198.51.100.11 7042 &&
if ! wait_until 5 logged udp-bomb FWX_E_UDP_BOMB_DROPPED 0xC004001D 198.51.100.10; then
	fail $t "expected a udp-bomb record (length 4) with FWX_E_UDP_BOMB_DROPPED 0xC004001D in fw1's log"
elif ! wait_until 5 logged udp-bomb FWX_E_UDP_BOMB_DROPPED 0xC004001D 198.51.100.11; then
	fail $t "expected a udp-bomb record (length past the packet) in fw1's log"
else
	pass $t
fi

t=udp_bomb_alert_once_per_source_and_window
alerted_once $t udp-bomb 198.51.100.10 && pass $t

# --- ping of death -----------------------------------------------------------------
t=ping_of_death_logged_0xC0040019
# Legitimate fragments pass (the server counts each datagram by its
# first fragment).  The kernel's defragmentation would drop a ping of
# death silently anyway: the member drops it before (prerouting, -450)
# and says so.  The drop is seen on fw1 itself (the server would see
# nothing either way): a probe right behind the member's chain (priority
# -449, still before defragmentation at -400) counts the pings' first
# fragments, which pass, and none of the last ones, which the member
# dropped.
lab exec fw1 nft -f - <<'NFT' || fail $t "cannot add fw1's probe counters"
table inet probe {
	counter pod_first { }
	counter pod_last { }
	chain behind {
		type filter hook prerouting priority -449;
		ip saddr 198.51.100.14 ip protocol icmp ip frag-off & 0x1fff == 0 counter name pod_first
		ip saddr 198.51.100.14 ip protocol icmp ip frag-off & 0x1fff != 0 counter name pod_last
	}
}
NFT
fw1_count() { lab exec fw1 nft list counter inet probe "$1" | awk '/packets/ { print $2 }'; }
expect_arrived $t 3 client1 frag 198.51.100.13 7060 &&
lab exec client1 $PY "$SEND" pod 198.51.100.14 $SRV 0 2 &&
if ! wait_until 5 logged ping-of-death FWX_E_PING_OF_DEATH_PACKET_DROPPED 0xC0040019 198.51.100.14; then
	fail $t "expected a ping-of-death record with FWX_E_PING_OF_DEATH_PACKET_DROPPED 0xC0040019 in fw1's log"
elif [ "$(fw1_count pod_first)" != 2 ] || [ "$(fw1_count pod_last)" != 0 ]; then
	fail $t "expected behind fw1's prerouting chain the 2 pings' first fragments and none of their last, saw $(fw1_count pod_first) first and $(fw1_count pod_last) last"
else
	pass $t
fi

t=ping_of_death_alert_once_per_source_and_window
lab exec client1 $PY "$SEND" pod 198.51.100.14 $SRV 0 1
alerted_once $t ping-of-death 198.51.100.14 && pass $t

t=ping_of_death_off_not_logged
ctl ids set ping-of-death off $W >/dev/null || fail $t "ids set ping-of-death off failed"
lab exec client1 $PY "$SEND" pod 198.51.100.15 $SRV 0 1 &&
expect_arrived $t 3 client1 frag 198.51.100.15 7061 &&
if logged ping-of-death FWX_E_PING_OF_DEATH_PACKET_DROPPED 0xC0040019 198.51.100.15; then
	fail $t "expected no ping-of-death record for 198.51.100.15 with ping-of-death off"
else
	pass $t
fi
ctl ids set ping-of-death on $W >/dev/null

# --- port scan -------------------------------------------------------------------------
t=port_scan_dropped_past_threshold_logged
# Threshold 5 distinct ports a minute: the first five new ports pass, the
# next three are dropped and logged (TMG names no code for it), a port
# the source already tried still passes.
ctl ids set port-scan on --threshold 5 --window 60 $W >/dev/null || fail $t "ids set port-scan failed"
expect_arrived $t 5 client1 ports 198.51.100.16 7070 5 &&
expect_arrived $t 0 client1 ports 198.51.100.16 7075 3 &&
expect_arrived $t 1 client1 ports 198.51.100.16 7070 1 &&
if wait_until 5 logged port-scan "" "" 198.51.100.16; then
	pass $t
else
	fail $t "expected a port-scan record without a result code for 198.51.100.16 in fw1's log"
fi

t=port_scan_alert_once_per_source_and_window
# More new ports (the count refills at 5 a minute: one may pass by now),
# still one alert.
arrived client1 ports 198.51.100.16 7080 3 >/dev/null
alerted_once $t port-scan 198.51.100.16 && pass $t

t=port_scan_under_threshold_passes
expect_arrived $t 5 client1 ports 198.51.100.17 7070 5 &&
[ "$(alerts_of port-scan 198.51.100.17)" = 0 ] && pass $t ||
	fail $t "expected 5 ports to pass without a port-scan alert for 198.51.100.17"

t=port_scan_off_lets_it_through
ctl ids set port-scan off $W >/dev/null || fail $t "ids set port-scan off failed"
expect_arrived $t 8 client1 ports 198.51.100.18 7070 8 && pass $t
ctl ids set port-scan on --threshold 20 $W >/dev/null

# --- writes --------------------------------------------------------------------------
t=ids_set_refusals_change_nothing
v0=$(store_version)
out1=$(ctl ids set teardrop on 2>&1); rc1=$?
out2=$(ctl ids set half-scan on --window 0 2>&1); rc2=$?
out3=$(ctl ids set half-scan maybe 2>&1); rc3=$?
v1=$(store_version)
if [ $rc1 = 2 ] && [ $rc2 = 2 ] && [ $rc3 = 2 ] && [ "$v0" = "$v1" ] &&
   grep -q "unknown detection \`teardrop'" <<<"$out1" && grep -q -- "--window" <<<"$out2"; then
	pass $t
else
	fail $t "expected three usage errors (exit 2) and version $v0 unchanged, saw $rc1 $rc2 $rc3, version $v1: $out1 / $out2 / $out3"
fi

t=ids_set_keeps_what_is_not_given
ctl ids set half-scan on --threshold 5 --window 30 $W >/dev/null &&
ctl ids set half-scan off $W >/dev/null &&
got=$(ctl ids show --json | python3 -c '
import json, sys
x = [x for x in json.load(sys.stdin)["ids"] if x["name"] == "half-scan"][0]
print("%s:%d:%d" % (x["on"], x["threshold"], x["window_s"]))') &&
[ "$got" = "False:5:30" ] && pass $t || fail $t "expected half-scan off with threshold 5 and window 30, saw ${got:-nothing}"
