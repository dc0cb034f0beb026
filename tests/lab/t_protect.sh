#!/usr/bin/env bash
# Lab tests of attack protection (issue 12, docs/protection.md) with real
# crafted traffic (scapy in the client namespaces, tests/lab/protect_send.py):
# spoof detection with networks (sources in, destinations out), the
# ip-spoofing alert, broadcast
# protection, default deny, IP fragments and IP options.  Each shows the
# traffic passing before the setting and dropped after it, and one alert
# per source per window for each kind of drop (`alerts list'); the server
# counts what reaches it (an nft counter in its namespace, at prerouting
# priority -500: before anything of its own could drop it).  Every send is
# a handful of packets.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
packet_lab_setup protect protect_send.py
lab exec server nft -f - <<'EOF' || { fail setup "cannot add the server's probe counter"; exit 1; }
table inet probe {
	counter seen { }
	chain pre { type filter hook prerouting priority -500; udp dport 9 counter name seen; }
}
EOF
seen() { lab exec server nft list counter inet probe seen | awk '/packets/ { print $2 }'; }
# arrived NS KIND SRC DST [N]: send N (3) packets from client namespace
# NS and print how many reached the server (each datagram counts once:
# a fragmented one by its first fragment).
arrived() {
	local before after
	before=$(seen)
	lab exec "$1" $PY "$SEND" "$2" "$3" "$4" "${5:-3}" || { echo "send-failed"; return; }
	# the server counts at once; give the veth path a moment, bounded
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		after=$(seen)
		[ "$after" -ge $((before + ${5:-3})) ] && break
		sleep 0.1
	done
	echo $(( after - before ))
}
# logged REASON RESULT SRC: fw1's firewall log holds a denied record of
# attack protection with that reason, result code name and source.
logged() {
	python3 - "$FWLOG" "$@" <<'PY'
import json, sys
path, reason, result, src = sys.argv[1:5]
for line in open(path):
    r = json.loads(line)
    if (r.get("type") == "denied" and r.get("protection") == reason and
            (r.get("result") or "") == result and r.get("src") == src):
        sys.exit(0)
sys.exit(1)
PY
}
expect_arrived() { # NAME WANT NS KIND SRC DST
	local t=$1 want=$2 got
	shift 2
	got=$(arrived "$@")
	if [ "$got" = "$want" ]; then return 0; fi
	fail "$t" "expected $want of 3 packets ($*) at the server, saw $got"
	return 1
}

# --- spoof detection ---------------------------------------------------------
t=spoofed_sources_pass_without_networks
expect_arrived $t 3 client1 plain 203.0.113.50 $SRV &&
expect_arrived $t 3 client1 plain 198.51.100.40 $SRV &&
expect_arrived $t 3 client1 plain 2001:db8:0:113::50 2001:db8:0:113::100 && pass $t

t=networks_add_list_roundtrip
ctl networks add clients 198.51.100.0/24 2001:db8:100::/48 $W >/dev/null &&
ctl networks add servers 203.0.113.0/24 2001:db8:0:113::/64 $W >/dev/null &&
ctl networks add mgmt 192.0.2.0/24 2001:db8:0:2::/64 --intra-array $W >/dev/null ||
	{ fail $t "networks add failed"; exit 1; }
got=$(ctl networks list --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(";".join("%s:%s:%s" % (n["name"], n["intra_array"], ",".join(n["prefixes"])) for n in d["networks"]))')
want="clients:False:198.51.100.0/24,2001:db8:100::/48;servers:False:203.0.113.0/24,2001:db8:0:113::/64;mgmt:True:192.0.2.0/24,2001:db8:0:2::/64"
[ "$got" = "$want" ] && pass $t || fail $t "expected $want, saw $got"

t=network_overlap_refused_version_unchanged
v0=$(store_version)
out=$(ctl networks add inner 203.0.113.128/25 2>&1)
rc=$?
v1=$(store_version)
if [ $rc -ne 0 ] && [ "$v0" = "$v1" ] && grep -q "203.0.113.128/25 overlaps 203.0.113.0/24 of network servers" <<<"$out"; then
	pass $t
else
	fail $t "expected a refusal naming the overlap and version $v0 unchanged, saw rc $rc, version $v1: $out"
fi

t=spoofed_source_of_other_network_dropped_logged_0xC0040014
expect_arrived $t 0 client1 plain 203.0.113.50 $SRV &&
expect_arrived $t 3 client1 plain 198.51.100.2 $SRV &&
if wait_until 5 logged spoof-network FWX_E_FWE_SPOOFING_PACKET_DROPPED 203.0.113.50; then
	pass $t
else
	fail $t "expected fw1's log to hold a spoof-network record with FWX_E_FWE_SPOOFING_PACKET_DROPPED for 203.0.113.50"
fi

t=spoofed_source_without_route_back_dropped
# 198.51.100.40 is in network clients, but fw1 routes it nowhere (it is
# client2's segment behind fw2): the reverse-path check drops it.
expect_arrived $t 0 client1 plain 198.51.100.40 $SRV &&
if ! wait_until 5 logged spoof-route FWX_E_FWE_SPOOFING_PACKET_DROPPED 198.51.100.40; then
	fail $t "expected a spoof-route record for 198.51.100.40 in fw1's log"
elif ! wait_until 10 has_exceeded ip-spoofing 198.51.100.40; then
	fail $t "expected an ip-spoofing alert for 198.51.100.40, saw none"
elif ! grep -q "spoofed: no route back through its interface" <<<"$(alerts_exceeded ip-spoofing 198.51.100.40)"; then
	fail $t "expected the ip-spoofing alert for 198.51.100.40 to name the reason (no route back through its interface), saw: $(alerts_exceeded ip-spoofing 198.51.100.40)"
else
	pass $t
fi

t=spoofed_ipv6_source_dropped
expect_arrived $t 3 client1 plain 2001:db8:100:1::2 2001:db8:0:113::100 &&
expect_arrived $t 0 client1 plain 2001:db8:0:113::50 2001:db8:0:113::100 &&
if wait_until 5 logged spoof-network FWX_E_FWE_SPOOFING_PACKET_DROPPED 2001:db8:0:113::50; then
	pass $t
else
	fail $t "expected a spoof-network record for 2001:db8:0:113::50 in fw1's log"
fi

t=spoof_detection_on_every_member
expect_arrived $t 0 client2 plain 203.0.113.51 $SRV &&
expect_arrived $t 3 client2 plain 198.51.100.34 $SRV && pass $t

t=spoofed_destination_dropped_both_ways_out
# Routes of fw1's own that send a destination out an interface of
# another network: 198.18.0.0/15 (in no network) out srv (servers), and
# 198.51.100.200 (clients) out the sync link (in no network: external).
# Without the way-out check the first reaches the server's segment and
# the second fw2; with it both are dropped and logged.
lab exec fw1 ip route add 198.18.0.0/15 via $SRV &&
lab exec fw1 ip route add 198.51.100.200/32 via 169.254.77.2 || { fail $t "routes on fw1 not added"; }
lab exec client1 $PY "$SEND" plain 198.51.100.2 198.18.0.1 3 &&
lab exec client1 $PY "$SEND" plain 198.51.100.3 198.51.100.200 3 || fail $t "send failed"
if ! wait_until 5 logged spoof-destination FWX_E_FWE_SPOOFING_PACKET_DROPPED 198.51.100.2; then
	fail $t "expected a spoof-destination record for 198.51.100.2 -> 198.18.0.1 (out srv, network servers) in fw1's log"
elif ! wait_until 5 logged spoof-destination FWX_E_FWE_SPOOFING_PACKET_DROPPED 198.51.100.3; then
	fail $t "expected a spoof-destination record for 198.51.100.3 -> 198.51.100.200 (out the sync link, external) in fw1's log"
else
	expect_arrived $t 3 client1 plain 198.51.100.4 $SRV && pass $t
fi
lab exec fw1 ip route del 198.18.0.0/15 via $SRV 2>/dev/null
lab exec fw1 ip route del 198.51.100.200/32 via 169.254.77.2 2>/dev/null

t=ip_spoofing_alert_once_per_source_and_window
# A fresh source, two bursts a second or so apart (well inside the 60 s
# window): one alert, naming the reason.
got=$(alert_once_per_window ip-spoofing 203.0.113.52 203.0.113.53 arrived client1 plain @SRC $SRV)
if [ "${got%% *}" = 1 ] && grep -q "source of another network" <<<"$got"; then
	pass $t
else
	fail $t "expected one exceeded ip-spoofing alert for 203.0.113.52 naming the reason, saw: $got"
fi

# --- broadcast protection (always on) ---------------------------------------
t=directed_broadcast_not_forwarded
# With bc_forwarding on, the kernel itself would forward a directed
# broadcast to the server's segment; the member must not.
lab exec fw1 sysctl -qw net.ipv4.conf.all.bc_forwarding=1 net.ipv4.conf.srv.bc_forwarding=1 \
	net.ipv4.conf.client.bc_forwarding=1 || { fail $t "cannot enable bc_forwarding on fw1"; }
expect_arrived $t 0 client1 plain 198.51.100.2 203.0.113.255 &&
if wait_until 5 logged broadcast "" 198.51.100.2; then pass $t
else fail $t "expected a broadcast record in fw1's log"; fi

t=broadcast_alert_once_per_source_and_window
got=$(alert_once_per_window broadcast-dropped 198.51.100.20 198.51.100.21 arrived client1 plain @SRC 203.0.113.255)
if [ "${got%% *}" = 1 ] && grep -q "broadcast not forwarded" <<<"$got"; then pass $t
else fail $t "expected one exceeded broadcast-dropped alert for 198.51.100.20, saw: $got"; fi
lab exec fw1 sysctl -qw net.ipv4.conf.all.bc_forwarding=0 net.ipv4.conf.srv.bc_forwarding=0 \
	net.ipv4.conf.client.bc_forwarding=0

t=limited_broadcast_not_forwarded
# 255.255.255.255 from client1, framed as a broadcast and as a unicast
# to fw1's MAC (the form a router would route): it reaches fw1 (a probe
# counter at fw1's prerouting, -500) but neither fw1's forward hook (a
# probe at -10, before the member's chain) nor the server.  The kernel
# never routes a limited broadcast (it delivers it locally); the member's
# forward chain drops one all the same, the part of this test that fails
# without it.
lab exec fw1 nft -f - <<'NFT' || fail $t "cannot add fw1's probe counters"
table inet probe {
	counter lbc_in { }
	counter lbc_fwd { }
	chain lbc_pre { type filter hook prerouting priority -500; ip daddr 255.255.255.255 udp dport 9 counter name lbc_in; }
	chain lbc_forward { type filter hook forward priority -10; ip daddr 255.255.255.255 udp dport 9 counter name lbc_fwd; }
}
NFT
fw1_count() { lab exec fw1 nft list counter inet probe "$1" | awk '/packets/ { print $2 }'; }
lbc_arrived() { [ "$(fw1_count lbc_in)" -ge 6 ]; }
s0=$(seen)
mac=$(lab exec fw1 cat /sys/class/net/client/address)
lab exec client1 $PY - "$mac" <<'PY' || fail $t "scapy could not send"
import sys
from scapy.all import Ether, IP, UDP, Raw, conf, send, sendp
conf.verb = 0
p = IP(src="198.51.100.2", dst="255.255.255.255") / UDP(sport=40009, dport=9) / Raw(b"x" * 20)
send([p] * 3, iface="eth0")
sendp([Ether(dst=sys.argv[1]) / p] * 3, iface="eth0")
PY
rule=$(lab exec fw1 nft list chain inet phalanx forward | grep -c 'ip daddr 255.255.255.255 .*log prefix "px:p:broadcast".* drop')
if ! wait_until 5 lbc_arrived; then
	fail $t "expected fw1 to receive the 6 limited broadcasts, saw $(fw1_count lbc_in)"
elif [ "$(fw1_count lbc_fwd)" != 0 ] || [ "$(seen)" != "$s0" ]; then
	fail $t "expected no limited broadcast forwarded, saw $(fw1_count lbc_fwd) at fw1's forward hook and $(( $(seen) - s0 )) at the server"
elif [ "$rule" != 1 ]; then
	fail $t "expected fw1's forward chain to drop and log ip daddr 255.255.255.255 (px:p:broadcast), saw $rule such rules"
else
	pass $t
fi

# --- default policy -----------------------------------------------------------
t=default_deny_cuts_unmatched_forwarded_traffic
expect_arrived $t 3 client1 plain 198.51.100.3 $SRV || true
ctl policy default deny $W >/dev/null || fail $t "policy default deny failed"
ctl rules add web --action allow --proto tcp --port 80 $W >/dev/null || fail $t "rules add web failed"
if expect_arrived $t 0 client1 plain 198.51.100.3 $SRV; then
	code=$(lab exec client1 curl -s -m 5 -o /dev/null -w '%{http_code}' http://$SRV/)
	if [ "$code" != 200 ]; then
		fail $t "expected the allowed web request to pass (200), saw $code"
	elif ! wait_until 5 logged default-deny FWX_E_POLICY_RULES_DENIED 198.51.100.3; then
		fail $t "expected a default-deny record with FWX_E_POLICY_RULES_DENIED in fw1's log"
	else
		pass $t
	fi
fi

t=default_deny_alert_once_per_source_and_window
got=$(alert_once_per_window default-deny 198.51.100.22 198.51.100.23 arrived client1 plain @SRC $SRV)
if [ "${got%% *}" = 1 ] && grep -q "no rule allowed it" <<<"$got"; then pass $t
else fail $t "expected one exceeded default-deny alert for 198.51.100.22, saw: $got"; fi

t=default_deny_never_cuts_management_vrrp_sync
# Members keep their heartbeats (management), one keepalived stays master
# (VRRP) and conntrackd's sync link is untouched: the member that is
# master now still is after a few adverts.
sleep 2
m=$(lab master 2>/dev/null | head -1)
up=$(ctl --json status | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin)["members"] if m["up"]))')
sync_ok=$(lab exec fw1 nft list chain inet phalanx input | grep -c 'udp dport 3780 accept')
if [ -n "$m" ] && [ "$up" = 2 ] && [ "$sync_ok" = 1 ]; then pass $t
else fail $t "expected a VRRP master, 2 members up and the sync accept, saw master '$m', $up up, sync rule $sync_ok"; fi
ctl policy default accept $W >/dev/null
ctl rules del web $W >/dev/null

# --- IP preferences: fragments ------------------------------------------------
t=fragments_block_and_allow
expect_arrived $t 3 client1 frag 198.51.100.4 $SRV &&
{ ctl protection set fragments block $W >/dev/null || fail $t "protection set failed"; } &&
expect_arrived $t 0 client1 frag 198.51.100.4 $SRV &&
expect_arrived $t 3 client1 plain 198.51.100.4 $SRV &&
got=$(alert_once_per_window fragment-dropped 198.51.100.24 198.51.100.25 arrived client1 frag @SRC $SRV) &&
{ ctl protection set fragments allow $W >/dev/null; } &&
expect_arrived $t 3 client1 frag 198.51.100.4 $SRV &&
if ! logged fragment "" 198.51.100.4; then fail $t "expected a fragment record in fw1's log"
elif [ "${got%% *}" != 1 ] || ! grep -q "IP fragment dropped" <<<"$got"; then
	fail $t "expected one exceeded fragment-dropped alert for 198.51.100.24 (3 datagrams of 3 fragments, twice), saw: $got"
else pass $t; fi

# --- IP preferences: options --------------------------------------------------
t=source_route_option_dropped_by_default
# The kernel drops source-routed packets itself unless accept_source_route
# is on; with it on, only the member's setting stands in the way.
lab exec fw1 sysctl -qw net.ipv4.conf.all.accept_source_route=1 net.ipv4.conf.client.accept_source_route=1
ctl protection set ip-options allow $W >/dev/null
expect_arrived $t 3 client1 lsrr 198.51.100.5 $SRV &&
{ ctl protection set ip-options block-source-route $W >/dev/null; } &&
expect_arrived $t 0 client1 lsrr 198.51.100.5 $SRV &&
expect_arrived $t 3 client1 rr 198.51.100.5 $SRV &&
if logged ip-options "" 198.51.100.5; then pass $t
else fail $t "expected an ip-options record in fw1's log"; fi

t=ip_options_alert_once_per_source_and_window
got=$(alert_once_per_window ip-options-dropped 198.51.100.26 198.51.100.27 arrived client1 lsrr @SRC $SRV)
if [ "${got%% *}" = 1 ] && grep -q "IP options dropped" <<<"$got"; then pass $t
else fail $t "expected one exceeded ip-options-dropped alert for 198.51.100.26, saw: $got"; fi

t=ip_options_block_all
ctl protection set ip-options block-all $W >/dev/null &&
expect_arrived $t 0 client1 rr 198.51.100.6 $SRV &&
expect_arrived $t 3 client1 plain 198.51.100.6 $SRV && pass $t
ctl protection set ip-options block-source-route $W >/dev/null

t=protection_show_and_bad_value_refused
v0=$(store_version)
ctl protection set fragments maybe >/dev/null 2>&1
rc=$?
v1=$(store_version)
got=$(ctl protection show --json)
want='{"version":'$v0',"networks":3,"settings":{"default-policy":"accept","fragments":"allow","ip-options":"block-source-route"}}'
if [ $rc = 2 ] && [ "$v0" = "$v1" ] && [ "$got" = "$want" ]; then pass $t
else fail $t "expected exit 2, version $v0 unchanged and $want, saw exit $rc, version $v1, $got"; fi
