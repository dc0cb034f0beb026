#!/usr/bin/env bash
# Lab tests of resource protection (issue 4): the conntrack table's fill.
# The members treat the table as 200 entries (--ct-max 200) so that a
# few hundred held connections put it under pressure.
set -u -o pipefail
# "Idle six minutes" is 5 s here (--pressure-idle-s 5).
export PHALANX_NODE_ARGS="--ct-max 200 --alert-window-ms 3000 --pressure-idle-s 5"
. "$(dirname "$0")/testlib.sh"
lab_setup 1
SRV=203.0.113.100
TO=/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established
srcs() { local i s=; for ((i = $1; i < $2; i++)); do s="$s,$(client_ip 1 $i)"; done; echo "${s#,}"; }
alerts_of() { ctl --json alerts list 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
a = d if isinstance(d, list) else d.get("alerts", [])
print(" ".join(x["state"] for x in a if x["type"] == "conntrack-headroom"))'; }

full=$(lab exec fw1 cat $TO)
idle=$(client_ip 1 0)
u=$(mktemp -u)
gen client1 hold --dst $SRV --port 443 --count 5 --src $idle --check none --until-file "$u" --timeout 60 >/dev/null &
h0=$!
sleep 7

t=headroom_low_alerts_and_ends_idle_sessions
r=$(mktemp -u)
gen client1 hold --dst $SRV --port 443 --count 165 --rate 200 --src "$(srcs 1 6)" --ready-file "$r" --until-file "$u" --timeout 60 >/dev/null &
h1=$!
wait_until 10 test -e "$r"
sleep 2.5
to=$(lab exec fw1 cat $TO)
nidle=$(lab exec fw1 conntrack -L -p tcp -s $idle 2>/dev/null | grep -c ESTABLISHED)
if [ "$to" = 5 ] && [ "$nidle" = 0 ] && wait_until 5 sh -c "'$LAB' ctl alerts list | grep -q conntrack-headroom"; then pass $t
else fail $t "at 165 of 200 entries: established time-out $to (want 5), idle connections of $idle left $nidle (want 0), alerts: $(alerts_of)"; show_log fw1 8; fi

t=headroom_extreme_refuses_new_except_exception_sets
vip=$(client_ip 1 10)
ctl exceptions add flood-exceptions $vip --wait=10 >/dev/null
r2=$(mktemp -u)
gen client1 hold --dst $SRV --port 443 --count 30 --rate 200 --src "$(srcs 6 9)" --ready-file "$r2" --until-file "$u" --timeout 60 >/dev/null &
h2=$!
wait_until 10 test -e "$r2"
sleep 2
plain=$(gen client1 connect --dst $SRV --port 80 --count 3 --src "$(client_ip 1 11)" --connect-timeout-ms 500)
exc=$(gen client1 connect --dst $SRV --port 80 --count 3 --src $vip)
if [ "$(kv established <<<"$plain")" = 0 ] && [ "$(kv established <<<"$exc")" = 3 ]; then pass $t
else fail $t "at 195+ of 200 entries: a plain source got $(kv established <<<"$plain")/3 (want 0), an exception-set source $(kv established <<<"$exc")/3 (want 3)"; show_log fw1 8; fi

t=headroom_recovered_undoes_everything
touch "$u"; wait $h0 $h1 $h2 2>/dev/null
lab exec fw1 conntrack -F >/dev/null 2>&1
sleep 2.5
to=$(lab exec fw1 cat $TO)
out=$(gen client1 connect --dst $SRV --port 80 --count 3 --src "$(client_ip 1 12)")
if [ "$to" = "$full" ] && [ "$(kv established <<<"$out")" = 3 ] &&
   wait_until 8 sh -c "'$LAB' ctl alerts list | grep conntrack-headroom | grep -q recovered"; then pass $t
else fail $t "after the table emptied: time-out $to (want $full restored), new connections $(kv established <<<"$out")/3, alerts: $(alerts_of)"; show_log fw1 8; fi
rm -f "$u" "$r" "$r2"

t=denied_packet_rate_raises_alert
a=$(client_ip 1 13)
ctl limits set denied-packet-rate 20 --wait=10 >/dev/null
ctl rules add no-8080 --action deny --proto tcp --dst $SRV --port 8080 --wait=10 >/dev/null
gen client1 connect --dst $SRV --port 8080 --count 40 --rate 40 --src $a --connect-timeout-ms 300 >/dev/null
if wait_until 6 sh -c "'$LAB' ctl alerts list | grep denied-packet-rate | grep -q '$a'"; then pass $t
else fail $t "40 denied packets from $a (limit 20/minute) raised no denied-packet-rate alert: $(ctl alerts list 2>&1 | tail -5)"; show_log fw1 5; fi
