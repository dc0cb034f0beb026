#!/usr/bin/env bash
# Lab tests of flood mitigation (issue 3): every quota with real traffic
# through the members, each flood bounded in count and time.  Limits are
# lowered and the block window shortened to 5 s through phalanxctl; the
# one-minute default is checked by a unit test.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
SRV=203.0.113.100
SRV6=2001:db8:0:113::100
W=--wait=15

ctl limits set block-time 5 $W >/dev/null &&
ctl limits set tcp-connect-rate 20 $W >/dev/null &&
ctl limits set tcp-concurrent 15 $W >/dev/null &&
ctl limits set http-request-rate 30 $W >/dev/null &&
ctl limits set udp-concurrent 20 $W >/dev/null &&
ctl limits set tcp-half-open 10 $W >/dev/null || { fail setup "limits set failed"; exit 1; }

# --- tcp-connect-rate ------------------------------------------------------
t=connect_rate_under_limit_unaffected
a=$(client_ip 1 0)
out=$(gen client1 connect --dst $SRV --port 443 --count 15 --rate 20 --src $a)
[ "$(kv established <<<"$out")" = 15 ] && pass $t || fail $t "expected 15 established from $a, saw: $(tr '\n' ' ' <<<"$out")"

t=connect_rate_over_limit_refused_established_survive
a=$(client_ip 1 1)
ready=$(mktemp -u); until=$(mktemp -u)
gen client1 hold --dst $SRV --port 443 --count 3 --src $a --ready-file "$ready" --until-file "$until" --timeout 40 >"$ready.out" &
hold=$!
wait_until 10 test -e "$ready"
out=$(gen client1 connect --dst $SRV --port 443 --count 60 --rate 30 --src $a --first-failure)
est=$(kv established <<<"$out"); ref=$(kv refused <<<"$out")
after=$(gen client1 connect --dst $SRV --port 443 --count 1 --src $a)
other=$(gen client1 connect --dst $SRV --port 443 --count 1 --src "$(client_ip 1 2)")
touch "$until"; wait $hold
alive=$(kv alive_at_end <"$ready.out"); rm -f "$ready" "$until" "$ready.out"
if [ "$est" -ge 17 ] && [ "$est" -le 26 ] && [ "$ref" -gt 0 ] &&
   [ "$(kv refused <<<"$after")" = 1 ] && [ "$(kv established <<<"$other")" = 1 ] && [ "$alive" = 3 ]; then
	pass "$t (established $est of 60, then refused; 3 held connections alive)"
else
	fail $t "expected ~20 established then refusals, the next refused, another source fine, 3 alive; saw est=$est refused=$ref next=$(kv refused <<<"$after") other=$(kv established <<<"$other") alive=$alive"
fi

t=connect_rate_block_on_every_member_kernel
if in_set fw1 tcp_block4 "$a"; then pass $t; else fail $t "$a not in fw1's tcp_block4"; fi

t=connect_rate_block_lifts_after_window
sleep 6
out=$(gen client1 connect --dst $SRV --port 443 --count 1 --src $a)
[ "$(kv established <<<"$out")" = 1 ] && pass $t || fail $t "expected $a allowed again after block-time 5 s, saw: $(tr '\n' ' ' <<<"$out")"

t=connect_rate_spoofed_syn_flood_never_blocks
a=$(client_ip 1 3)
gen client1 synflood --dst $SRV --port 443 --count 300 --rate 300 --spoof $a >/dev/null
sleep 1
out=$(gen client1 connect --dst $SRV --port 443 --count 5 --src $a)
if [ "$(kv established <<<"$out")" = 5 ] && ! in_set fw1 tcp_block4 "$a"; then pass $t
else fail $t "300 spoofed SYNs from $a got it blocked: $(tr '\n' ' ' <<<"$out")"; fi

t=connect_rate_exception_tier_custom_limit
a=$(client_ip 1 4); b=$(client_ip 1 5)
ctl exceptions add flood-exceptions $a $W >/dev/null
ctl limits set tcp-connect-rate 80 --set flood-exceptions $W >/dev/null
oa=$(gen client1 connect --dst $SRV --port 443 --count 50 --rate 40 --src $a)
ob=$(gen client1 connect --dst $SRV --port 443 --count 50 --rate 40 --src $b)
if [ "$(kv established <<<"$oa")" = 50 ] && [ "$(kv established <<<"$ob")" -lt 30 ]; then pass $t
else fail $t "exception $a: $(kv established <<<"$oa")/50 (want 50); plain $b: $(kv established <<<"$ob")/50 (want ~20)"; fi

t=connect_rate_second_tier_set
a=$(client_ip 2 0)
ctl exceptions create nat-gateways $W >/dev/null
ctl exceptions add nat-gateways "$(sed 's/\.[0-9]*$/.32/' <<<"$a")/27" $W >/dev/null
ctl limits set tcp-connect-rate 100 --set nat-gateways $W >/dev/null
out=$(gen client2 connect --dst $SRV --port 443 --count 60 --rate 40 --src $a)
[ "$(kv established <<<"$out")" = 60 ] && pass $t || fail $t "nat-gateways source $a: $(kv established <<<"$out")/60"

t=observe_mode_blocks_nothing_and_reports
a=$(client_ip 1 6)
ctl limits set tcp-connect-rate 20 --mode observe $W >/dev/null
out=$(gen client1 connect --dst $SRV --port 443 --count 40 --rate 30 --src $a)
sleep 2.5   # one heartbeat carries the counters
act=$(ctl --json limits show)
ctl limits set tcp-connect-rate 20 --mode enforce $W >/dev/null
if [ "$(kv established <<<"$out")" = 40 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
a = [x for x in d.get("activity", []) if x["member"] == "fw1" and x["quota"] == "tcp-connect-rate"]
sys.exit(0 if a and a[0]["would_block"] > 0 and sys.argv[2] in (a[0].get("sources") or []) else 1)' "$act" "$a"; then
	pass $t
else
	fail $t "observe: established $(kv established <<<"$out")/40 (want 40), activity: $act"
fi

# --- tcp-concurrent ---------------------------------------------------------
t=concurrent_tcp_over_limit_refused
a=$(client_ip 1 7)
out=$(gen client1 hold --dst $SRV --port 443 --count 20 --src $a --seconds 2 --rate 10)
est=$(kv established <<<"$out"); ref=$(kv refused <<<"$out")
if [ "$est" = 15 ] && [ "$ref" = 5 ] && [ "$(kv alive_at_end <<<"$out")" = 15 ]; then pass $t
else fail $t "expected 15 held and 5 refused from $a, saw established=$est refused=$ref"; fi

# --- http-request-rate --------------------------------------------------------
t=http_requests_over_rate_refused_in_keepalive
a=$(client_ip 1 8)
out=$(gen client1 http --dst $SRV --port 80 --requests 60 --rate 20 --src $a --reply-timeout-ms 500 --timeout 20)
ok=$(kv ok <<<"$out"); opened=$(kv conns_opened <<<"$out")
next=$(gen client1 connect --dst $SRV --port 80 --count 1 --src $a)
if [ "$ok" -ge 25 ] && [ "$ok" -le 36 ] && [ "$(kv refused <<<"$next")" = 1 ]; then
	pass "$t ($ok of 60 answered on $opened connection(s))"
else
	fail $t "expected ~30 of 60 requests answered then refusal, saw ok=$ok opened=$opened next: $(tr '\n' ' ' <<<"$next")"
fi

# --- concurrent UDP: the oldest sessions of a source are ended ---------------
t=udp_concurrent_evicts_oldest
a=$(client_ip 1 9)
# 30 sessions, one datagram each (a probe would start new sessions): the
# watcher ends the 10 oldest, so fw1's conntrack table keeps exactly the
# 20 newest source ports.
out=$(gen client1 udp --dst $SRV --port 7 --sessions 30 --rate 50 --src $a)
sleep 1.5
ports=$(kv ports <<<"$out")
kept=$(lab exec fw1 conntrack -L -p udp -s $a 2>/dev/null |
	awk 'match($0, /sport=[0-9]+/) { print substr($0, RSTART + 6, RLENGTH - 6) }' | sort -n | tr '\n' ' ')
newest=$(tr ',' '\n' <<<"$ports" | tail -20 | sort -n | tr '\n' ' ')
if [ "$(kv answered <<<"$out")" = 30 ] && [ -n "$kept" ] && [ "$kept" = "$newest" ]; then pass $t
else fail $t "expected fw1 to keep the 20 newest of 30 sessions from $a; answered=$(kv answered <<<"$out"), kept ports: $kept, newest 20: $newest"; fi

# --- half-open ------------------------------------------------------------------
# half_open_then_connect SRC N: N spoofed SYNs from SRC stay half-open on
# fw1 (client1 ignores the server's SYN-ACKs for the flood's port), then
# one real connect from SRC to port 80; its pxgen output.
half_open_then_connect() {
	local src=$1 n=$2 out
	lab exec client1 nft -f - <<NFT
table inet pxtest {
	chain in {
		type filter hook input priority 0;
		ip daddr $src tcp sport 443 tcp flags & (syn | ack) == (syn | ack) drop
	}
}
NFT
	gen client1 synflood --dst $SRV --port 443 --count "$n" --rate 100 --spoof "$src" >/dev/null
	sleep 1.5
	out=$(gen client1 connect --dst $SRV --port 80 --count 1 --src "$src")
	lab exec client1 nft delete table inet pxtest
	echo "$out"
}

t=half_open_over_limit_refused
a=$(client_ip 1 10)
out=$(half_open_then_connect $a 30)
if [ "$(kv refused <<<"$out")" = 1 ]; then pass $t
else fail $t "30 half-open from $a (limit 10): a new connection was not refused: $(tr '\n' ' ' <<<"$out")"; show_log fw1 5; fi

# --- IPv6: sources counted per /64 -----------------------------------------------
t=ipv6_sources_counted_per_64
srcs=2001:db8:100:1::2,2001:db8:100:1::3,2001:db8:100:1::4,2001:db8:100:1::5
out=$(gen client1 connect --dst $SRV6 --port 443 --count 40 --rate 30 --src $srcs)
other=$(gen client1 connect --dst $SRV6 --port 443 --count 1 --src 2001:db8:100:1::9)
if [ "$(kv established <<<"$out")" -lt 30 ] && [ "$(kv refused <<<"$other")" = 1 ]; then pass $t
else fail $t "4 addresses of one /64 should share a 20/minute quota: established $(kv established <<<"$out")/40, another address of the /64: $(tr '\n' ' ' <<<"$other")"; fi

# --- non-TCP new sessions per rule -------------------------------------------------
t=nontcp_session_rate_per_rule
ctl rules add udp-echo --action allow --proto udp --dst $SRV --port 7 --rate 25/minute $W >/dev/null
out=$(gen client2 udp --dst $SRV --port 7 --sessions 50 --rate 50 --src "$(client_ip 2 1),$(client_ip 2 2)")
ans=$(kv answered <<<"$out")
ctl rules del udp-echo $W >/dev/null
if [ "$ans" -ge 20 ] && [ "$ans" -le 31 ]; then pass "$t ($ans of 50 sessions)"
else fail $t "rule rate 25/minute: expected ~25 of 50 new sessions answered, saw $ans"; fi

# --- published service connection limit, exempt clients --------------------------------
t=service_limit_with_exempt_clients
ctl exceptions create vip $W >/dev/null
ctl exceptions add vip "$(client_ip 2 3)" $W >/dev/null
ctl services add web-tls --dst $SRV --port 443 --limit 8 --exempt-set vip $W >/dev/null
o1=$(gen client2 hold --dst $SRV --port 443 --count 12 --src "$(client_ip 2 4)" --seconds 1)
o2=$(gen client2 hold --dst $SRV --port 443 --count 12 --src "$(client_ip 2 3)" --seconds 1)
ctl services del web-tls $W >/dev/null
if [ "$(kv established <<<"$o1")" = 8 ] && [ "$(kv established <<<"$o2")" = 12 ]; then pass $t
else fail $t "service limit 8: plain client $(kv established <<<"$o1")/12 (want 8), exempt client $(kv established <<<"$o2")/12 (want 12)"; fi

# --- the member's own connections are never limited --------------------------------------
t=member_own_connections_never_limited
out=$(gen fw1 connect --dst $SRV --port 443 --count 40 --rate 40)
[ "$(kv established <<<"$out")" = 40 ] && pass $t || fail $t "fw1's own connections were limited: $(tr '\n' ' ' <<<"$out")"

# --- a limit change reaches every member, established connections kept ----------------------
t=limit_change_every_member_keeps_established
r1=$(mktemp -u); u=$(mktemp -u)
gen client1 hold --dst $SRV --port 443 --count 5 --src "$(client_ip 1 11)" --ready-file "$r1" --until-file "$u" --timeout 40 >"$r1.o1" &
h1=$!
gen client2 hold --dst $SRV --port 443 --count 5 --src "$(client_ip 2 5)" --ready-file "$r1.2" --until-file "$u" --timeout 40 >"$r1.o2" &
h2=$!
wait_until 10 test -e "$r1" -a -e "$r1.2"
ctl limits set tcp-concurrent 222 --wait=15 >/dev/null
ok=1
for k in 1 2; do
	lab exec fw$k nft list chain inet phalanx tier_dflt >"$r1.nft" 2>&1
	grep -q "ct count over 222" "$r1.nft" || { ok=0; sed 's/^/    /' "$r1.nft" | head -20; }
done
rm -f "$r1.nft"
touch "$u"; wait $h1 $h2
a1=$(kv alive_at_end <"$r1.o1"); a2=$(kv alive_at_end <"$r1.o2"); rm -f "$r1" "$r1.2" "$r1.o1" "$r1.o2" "$u"
if [ $ok = 1 ] && [ "$a1" = 5 ] && [ "$a2" = 5 ]; then pass $t
else fail $t "new limit in both kernels: $ok, held connections alive: $a1/5 $a2/5"; fi

# --- every quota: under the limit unaffected, exception tier gets its own ----
t=concurrent_tcp_under_limit_and_exception_tier
a=$(client_ip 2 6); b=$(client_ip 2 7)
ctl exceptions add flood-exceptions $b $W >/dev/null
ctl limits set tcp-concurrent 30 --set flood-exceptions $W >/dev/null
oa=$(gen client2 hold --dst $SRV --port 443 --count 12 --src $a --seconds 1 --rate 20)
ob=$(gen client2 hold --dst $SRV --port 443 --count 25 --src $b --seconds 1 --rate 20)
if [ "$(kv established <<<"$oa")" = 12 ] && [ "$(kv established <<<"$ob")" = 25 ]; then pass $t
else fail $t "limit 15: 12 under it $(kv established <<<"$oa")/12; tier 30: $(kv established <<<"$ob")/25"; fi

t=http_under_limit_exception_tier_and_block_lifts
a=$(client_ip 2 8); b=$(client_ip 2 9); c=$(client_ip 1 8)
ctl exceptions add flood-exceptions $b $W >/dev/null
ctl limits set http-request-rate 100 --set flood-exceptions $W >/dev/null
oa=$(gen client2 http --dst $SRV --port 80 --requests 20 --rate 20 --src $a)
ob=$(gen client2 http --dst $SRV --port 80 --requests 60 --rate 30 --src $b --reply-timeout-ms 500)
oc=$(gen client1 http --dst $SRV --port 80 --requests 1 --src $c)   # blocked above, 5 s ago at least
if [ "$(kv ok <<<"$oa")" = 20 ] && [ "$(kv ok <<<"$ob")" = 60 ] && [ "$(kv ok <<<"$oc")" = 1 ]; then pass $t
else fail $t "under the limit $(kv ok <<<"$oa")/20, tier 100 $(kv ok <<<"$ob")/60, after the block $(kv ok <<<"$oc")/1"; fi

t=udp_under_limit_and_exception_tier
a=$(client_ip 2 10); b=$(client_ip 2 11)
ctl exceptions add flood-exceptions $b $W >/dev/null
ctl limits set udp-concurrent 40 --set flood-exceptions $W >/dev/null
gen client2 udp --dst $SRV --port 7 --sessions 15 --rate 50 --src $a >/dev/null
gen client2 udp --dst $SRV --port 7 --sessions 35 --rate 50 --src $b >/dev/null
sleep 1.5
na=$(lab exec fw2 conntrack -L -p udp -s $a 2>/dev/null | grep -c dport=7)
nb=$(lab exec fw2 conntrack -L -p udp -s $b 2>/dev/null | grep -c dport=7)
if [ "$na" = 15 ] && [ "$nb" = 35 ]; then pass $t
else fail $t "fw2 should keep all sessions: 15 under the limit kept $na, 35 under tier 40 kept $nb"; fi

t=half_open_under_limit_unaffected
a=$(client_ip 1 13)
out=$(half_open_then_connect $a 8)
[ "$(kv established <<<"$out")" = 1 ] && pass $t || fail $t "8 half-open (limit 10) got $a refused: $(tr '\n' ' ' <<<"$out")"

t=half_open_exception_tier
a=$(client_ip 1 16)
ctl exceptions add flood-exceptions $a $W >/dev/null
ctl limits set tcp-half-open 40 --set flood-exceptions $W >/dev/null
out=$(half_open_then_connect $a 25)
[ "$(kv established <<<"$out")" = 1 ] && pass $t || fail $t "25 half-open from $a (tier 40, default 10) got it refused: $(tr '\n' ' ' <<<"$out")"

t=nontcp_rule_under_rate_unaffected
ctl rules add udp-echo2 --action allow --proto udp --dst $SRV --port 7 --rate 25/minute $W >/dev/null
out=$(gen client2 udp --dst $SRV --port 7 --sessions 10 --rate 50 --src "$(client_ip 2 12)")
ctl rules del udp-echo2 $W >/dev/null
[ "$(kv answered <<<"$out")" = 10 ] && pass $t || fail $t "10 sessions under a 25/minute rule: $(kv answered <<<"$out") answered"

t=deny_rule_refuses
ctl rules add no-443 --action deny --proto tcp --dst $SRV --port 443 $W >/dev/null
out=$(gen client2 connect --dst $SRV --port 443 --count 2 --src "$(client_ip 2 13)" --connect-timeout-ms 500)
ok=$(gen client2 connect --dst $SRV --port 80 --count 1 --src "$(client_ip 2 13)")
ctl rules del no-443 $W >/dev/null
if [ "$(kv established <<<"$out")" = 0 ] && [ "$(kv established <<<"$ok")" = 1 ]; then pass $t
else fail $t "deny tcp/443: established $(kv established <<<"$out")/2 (want 0); port 80 $(kv established <<<"$ok")/1"; fi

t=management_addresses_never_limited
# A listener on fw1's management address; store1 (management net)
# connects more than the tcp-connect-rate and tcp-concurrent limits.
lab exec fw1 timeout 60 python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8443)); s.listen(512)
held = []
end = time.time() + 55
s.settimeout(1)
while time.time() < end:
    try:
        c, _ = s.accept(); held.append(c)
    except socket.timeout:
        pass
' &
srvpid=$!
# python3 takes a while to start on a busy machine: wait for the socket.
listening_8443() { lab exec fw1 ss -Hltn 'sport = :8443' | grep -q .; }
wait_until 10 listening_8443 || fail $t "listener on fw1:8443 not up after 10 s"
out=$(gen store1 hold --dst 192.0.2.1 --port 8443 --count 40 --rate 40 --seconds 1 --check none)
# the same from a client: the member protects itself (input)
ctl_out=$(gen client1 hold --dst 198.51.100.1 --port 8443 --count 40 --rate 40 --seconds 1 --check none --src "$(client_ip 1 14)")
kill $srvpid 2>/dev/null; wait $srvpid 2>/dev/null
# (the connect that goes over the quota is itself established: it is
# counted when its handshake completes)
if [ "$(kv established <<<"$out")" = 40 ] && [ "$(kv established <<<"$ctl_out")" -le 22 ]; then pass $t
else fail $t "40 connections to fw1 (tcp-connect-rate 20/minute): from the management net $(kv established <<<"$out") established (want 40), from a client $(kv established <<<"$ctl_out") (want about 20)"; fi

t=store_down_members_keep_enforcing_quotas
lab stop store1 --kill >/dev/null
sleep 3.5   # past the members' store timeout
a=$(client_ip 1 15); b=$(client_ip 2 14)
o1=$(gen client1 connect --dst $SRV --port 443 --count 50 --rate 40 --src $a)
# client2's addresses are in nat-gateways (100/minute)
o2=$(gen client2 connect --dst $SRV --port 443 --count 150 --rate 75 --src $b)
lab start store1 >/dev/null
if [ "$(kv refused <<<"$o1")" -gt 0 ] && [ "$(kv refused <<<"$o2")" -gt 0 ] &&
   [ "$(kv established <<<"$o1")" -lt 30 ] && [ "$(kv established <<<"$o2")" -lt 115 ]; then pass $t
else fail $t "with the store down, floods through fw1/fw2 were not limited: $(kv established <<<"$o1")/50 (limit 20), $(kv established <<<"$o2")/150 (limit 100) established"; fi
