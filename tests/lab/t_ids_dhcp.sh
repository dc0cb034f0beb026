#!/usr/bin/env bash
# Lab test of DHCP poisoning protection (issue 12 item 7,
# docs/protection.md): with `networks add clients 198.51.100.0/24
# --dhcp-interface client', a DHCP offer (scapy, UDP 67 -> 68, from
# client1 to fw1's address on that interface) for an address outside the
# network is dropped (a counter in fw1 after phalanx's input chain sees
# nothing), logged `invalid-dhcp-offer' and alerted once for its source;
# an offer inside passes; the same offer passed before the setting, on
# another interface, and after `networks del'.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
packet_lab_setup ids_dhcp dhcp_send.py
lab exec fw1 nft -f - <<'NFT' || { fail setup "cannot add fw1's offer counter"; exit 1; }
table inet probe {
	counter offers { }
	chain in {
		type filter hook input priority 10;
		udp sport 67 udp dport 68 counter name offers
	}
}
NFT
offers() { lab exec fw1 nft list counter inet probe offers | awk '/packets/ { print $2 }'; }
FW1=198.51.100.1
DHCPD=198.51.100.2   # client1's first address: the (rogue) DHCP server
IN=198.51.100.20
OUT=100.64.0.5
# passed NS SRC DST YIADDR: send 3 offers, print how many passed fw1's
# input filter (the counter counts as the packet passes: bounded wait).
passed() {
	local before after
	before=$(offers)
	lab exec "$1" $PY "$SEND" "$2" "$3" "$4" 3 || { echo "send-failed"; return; }
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		after=$(offers)
		[ "$after" -ge $((before + 3)) ] && break
		sleep 0.1
	done
	echo $(( after - before ))
}
expect_passed() { # NAME WANT NS SRC DST YIADDR
	local t=$1 want=$2 got
	shift 2
	got=$(passed "$@")
	[ "$got" = "$want" ] && return 0
	fail "$t" "expected $want of 3 offers of $4 ($1 -> $3) past fw1's input, saw $got"
	return 1
}
logged() { # SRC YIADDR-less: a denied invalid-dhcp-offer record from SRC
	python3 - "$FWLOG" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r.get("type") == "denied" and r.get("protection") == "invalid-dhcp-offer"
            and r.get("src") == sys.argv[2] and r.get("dport") in (68, None)):
        sys.exit(0)
sys.exit(1)
PY
}
alerts_of() { # SRC: exceeded invalid-dhcp-offer alerts for SRC
	ctl alerts list --json --type invalid-dhcp-offer | python3 -c '
import json, sys
print(sum(1 for x in json.load(sys.stdin)["alerts"] if x["source"] == sys.argv[1] and x["state"] == "exceeded"))' "$1"
}
has_alert() { [ "$(alerts_of "$1")" -ge 1 ]; }

t=dhcp_offer_passes_without_the_setting
expect_passed $t 3 client1 $DHCPD $FW1 $OUT && pass $t

t=dhcp_interface_set_and_listed
if ctl networks add clients 198.51.100.0/24 --dhcp-interface client $W >/dev/null &&
   got=$(ctl networks list --json | python3 -c '
import json, sys
print(",".join("%s:%s" % (n["name"], n["dhcp_interface"]) for n in json.load(sys.stdin)["networks"]))') &&
   [ "$got" = "clients:client" ]; then
	pass $t
else
	fail $t "expected network clients with DHCP interface client, saw ${got:-nothing}"
fi

t=dhcp_offer_inside_passes
expect_passed $t 3 client1 $DHCPD $FW1 $IN && pass $t

t=dhcp_offer_outside_dropped_logged
if expect_passed $t 0 client1 $DHCPD $FW1 $OUT; then
	if wait_until 5 logged $DHCPD; then
		pass $t
	else
		fail $t "expected an invalid-dhcp-offer record from $DHCPD in fw1's log"
	fi
fi

t=dhcp_offer_outside_alert_once
if ! wait_until 10 has_alert $DHCPD; then
	fail $t "expected an exceeded invalid-dhcp-offer alert for $DHCPD, saw none"
else
	passed client1 $DHCPD $FW1 $OUT >/dev/null
	sleep 2 # a second alert, if the engine raised one, would be in by now
	n=$(alerts_of $DHCPD)
	[ "$n" = 1 ] && pass $t || fail $t "expected one invalid-dhcp-offer alert for $DHCPD in its window, saw $n"
fi

t=dhcp_offer_other_interface_passes
# From the server side (fw1's interface srv is not a DHCP interface).
expect_passed $t 3 server 203.0.113.100 203.0.113.1 $OUT && pass $t

t=dhcp_interface_refusals
v0=$(store_version)
out1=$(ctl networks add other 192.0.2.128/25 --dhcp-interface client 2>&1); rc1=$?
out2=$(ctl networks add other 192.0.2.128/25 --dhcp-interface a/b 2>&1); rc2=$?
v1=$(store_version)
if [ $rc1 = 1 ] && [ $rc2 = 2 ] && [ "$v0" = "$v1" ] &&
   grep -q "network clients's already" <<<"$out1" && grep -q "not an interface name" <<<"$out2"; then
	pass $t
else
	fail $t "expected a refusal (exit 1) and a usage error (exit 2) with version $v0 unchanged, saw $rc1 $rc2, version $v1: $out1 / $out2"
fi

t=dhcp_offer_passes_after_networks_del
if ! ctl networks del clients $W >/dev/null; then
	fail $t "networks del failed"
else
	expect_passed $t 3 client1 $DHCPD $FW1 $OUT && pass $t
fi
