#!/usr/bin/env bash
# Lab tests of the firewall log (issue 1 and 5): denied records with the
# TMG result codes, ended connections with their end reason, bytes and
# duration, the per-second cap with its exact summary, the array-wide
# log-flood-blocks switch, `phalanxctl log tail' and `top'.  Every flood
# is bounded in count and time.  Members run with --log-rate 20 so that a
# few hundred refusals overflow the cap.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
export PHALANX_NODE_ARGS="${PHALANX_NODE_ARGS:-} --log-rate 20"
lab_setup 2
SRV=203.0.113.100
W=--wait=15
FWLOG=$PHALANX_LAB_STATE/fw1/cache.fwlog.jsonl

ctl limits set block-time 30 $W >/dev/null &&
ctl limits set tcp-connect-rate 20 $W >/dev/null &&
ctl limits set tcp-concurrent 15 $W >/dev/null &&
ctl limits set udp-concurrent 20 $W >/dev/null || { fail setup "limits set failed"; exit 1; }
# Short closing states on fw1, so that ended connections are reaped within
# the test (defaults: TIME_WAIT 120 s, CLOSE 10 s); new values apply to
# state changes from now on.
lab exec fw1 sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=2 \
	net.netfilter.nf_conntrack_tcp_timeout_close=2 ||
	{ fail setup "cannot shorten fw1's conntrack timeouts"; exit 1; }

# recs AFTER_SEQ EXPR [SUM_FIELD]: records of fw1's JSON log with seq >
# AFTER_SEQ for which the python expression EXPR over r holds: their
# number, or the sum of SUM_FIELD.  Every line must be valid JSON.
recs() {
	python3 - "$FWLOG" "$@" <<'PY'
import json, sys
path, after, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
field = sys.argv[4] if len(sys.argv) > 4 else None
n = 0
for line in open(path):
    if not line.endswith("\n"):
        break  # the writer's buffer flushed part of a record: not yet whole
    r = json.loads(line)
    if r["seq"] > after and eval(expr, {}, {"r": r}):
        n += r.get(field, 0) if field else 1
print(n)
PY
}
# The last whole record's seq (a partial last line is still being written).
last_seq() { tail -2 "$FWLOG" 2>/dev/null | python3 -c '
import json, sys
whole = [l for l in sys.stdin.read().split("\n")[:-1] if l]
print(json.loads(whole[-1])["seq"] if whole else 0)'; }
# at_least N AFTER EXPR: wait until fw1's log holds N such records.
at_least() { [ "$(recs "$2" "$3")" -ge "$1" ]; }
# ctl_has EXPR: `log tail --json' (the store's copy) holds such a record.
ctl_has() {
	ctl log tail --json --member fw1 --count 1000 | python3 -c '
import json, sys
sys.exit(0 if any(eval(sys.argv[1], {}, {"r": json.loads(l)}) for l in sys.stdin if l.strip()) else 1)' "$1"
}
# Reap fw1's expired conntrack entries now: a dump does, the kernel's
# collector may take up to a minute in a quiet namespace.
reap() { lab exec fw1 conntrack -L >/dev/null 2>&1; }
counter() {
	lab exec fw1 nft list counter inet phalanx "$1" | awk '/packets/ { print $2 }'
}

# --- denied: connect-rate flood ----------------------------------------------
t=connect_rate_flood_denied_0xC0040037
a=$(client_ip 1 1)
s0=$(last_seq)
out=$(gen client1 connect --dst $SRV --port 443 --count 40 --rate 30 --src $a)
ref=$(kv refused <<<"$out")
e="r['type']=='denied' and r['src']=='$a' and r['result']=='FWX_E_TCP_RATE_QUOTA_EXCEEDED_DROPPED' and r['result_code']=='0xC0040037' and r['quota']=='tcp-connect-rate' and r['dport']==443 and r['tcp_flags']=='S' and r['member']=='fw1'"
if [ "${ref:-0}" -gt 0 ] && wait_until 5 at_least "$ref" "$s0" "$e" &&
   wait_until 5 ctl_has "$e"; then
	pass "$t ($ref refused, $(recs "$s0" "$e") records, in fw1's file and in log tail)"
else
	fail $t "expected $ref denied records from $a with 0xC0040037 in fw1's log and log tail, saw $(recs "$s0" "$e") in the file; last: $(tail -2 "$FWLOG")"
fi

# --- denied: concurrent limit -----------------------------------------------------
t=concurrent_refusal_WSA_RWS_QUOTA_0x80074E23
a=$(client_ip 1 2)
s0=$(last_seq)
out=$(gen client1 hold --dst $SRV --port 443 --count 20 --src $a --seconds 1 --rate 10)
ref=$(kv refused <<<"$out")
e="r['type']=='denied' and r['src']=='$a' and r['quota']=='tcp-concurrent' and r['result']=='WSA_RWS_QUOTA' and r['result_code']=='0x80074E23'"
if [ "$ref" = 5 ] && wait_until 5 at_least 5 "$s0" "$e" && [ "$(recs "$s0" "$e")" = 5 ]; then
	pass "$t (5 refused, 5 records)"
else
	fail $t "expected 5 refusals and 5 WSA_RWS_QUOTA records from $a, saw refused=$ref records=$(recs "$s0" "$e")"
fi

# --- ended: UDP sessions the watcher ended ----------------------------------------
t=udp_eviction_ends_ended_by_quota
a=$(client_ip 1 3)
s0=$(last_seq)
gen client1 udp --dst $SRV --port 7 --sessions 30 --rate 50 --src $a >/dev/null
e="r['type']=='ended' and r['src']=='$a' and r['proto']=='udp' and r['end']=='ended-by-quota' and r['result_code']=='0x80074E23' and not r['expected']"
if wait_until 5 at_least 10 "$s0" "$e" && [ "$(recs "$s0" "$e")" = 10 ]; then
	pass "$t (10 of 30 sessions ended by udp-concurrent 20)"
else
	fail $t "expected 10 ended-by-quota records from $a, saw $(recs "$s0" "$e")"
fi

# --- denied: a rule's session quota ------------------------------------------------
t=rule_rate_drop_0xC0040033
a=$(client_ip 1 4)
ctl rules add udp-echo --action allow --proto udp --dst $SRV --port 7 --rate 5/minute $W >/dev/null
s0=$(last_seq)
out=$(gen client1 udp --dst $SRV --port 7 --sessions 10 --rate 20 --src $a)
ans=$(kv answered <<<"$out")
ctl rules del udp-echo $W >/dev/null
e="r['type']=='denied' and r['src']=='$a' and r['proto']=='udp' and r['rule']=='udp-echo' and r['quota']=='nontcp-session-rate' and r['result']=='FWX_E_RULE_QUOTA_EXCEEDED_DROPPED' and r['result_code']=='0xC0040033'"
drops=$(( 10 - ${ans:-10} ))
if [ "$drops" -gt 0 ] && wait_until 5 at_least "$drops" "$s0" "$e" && [ "$(recs "$s0" "$e")" = "$drops" ]; then
	pass "$t ($drops sessions dropped, $drops records)"
else
	fail $t "expected one 0xC0040033 record per dropped session ($drops), saw $(recs "$s0" "$e")"
fi

# --- denied: a deny rule ---------------------------------------------------------------
t=deny_rule_FWX_E_POLICY_RULES_DENIED
a=$(client_ip 1 5)
ctl rules add no-8080 --action deny --proto tcp --dst $SRV --port 8080 $W >/dev/null
s0=$(last_seq)
gen client1 connect --dst $SRV --port 8080 --count 2 --src $a --connect-timeout-ms 300 >/dev/null
e="r['type']=='denied' and r['src']=='$a' and r['rule']=='no-8080' and r['reason']=='denied by rule' and r['result_code']=='0xC004000D'"
if wait_until 5 at_least 2 "$s0" "$e"; then pass $t
else fail $t "expected 2 denied-by-rule records from $a, saw $(recs "$s0" "$e")"; fi

# --- ended: a normal HTTP exchange ------------------------------------------------------
t=http_exchange_ends_closed_with_bytes_and_duration
a=$(client_ip 1 6)
s0=$(last_seq)
out=$(gen client1 http --dst $SRV --port 80 --requests 3 --src $a)
sleep 2.5; reap
e="r['type']=='ended' and r['src']=='$a' and r['dport']==80 and r['end']=='closed' and r['expected'] and r['tcp_state']=='TIME_WAIT' and r['result']=='FWX_E_GRACEFUL_SHUTDOWN' and r['bytes_orig']>0 and r['bytes_reply']>0 and r['packets_orig']>0 and 'duration_ms' in r and 'duration_includes_timeout' not in r and r['duration_ms']<2000"
if [ "$(kv ok <<<"$out")" = 3 ] && wait_until 5 at_least 1 "$s0" "$e"; then
	pass "$t ($(recs "$s0" "r['type']=='ended' and r['src']=='$a'" bytes_reply) bytes back)"
else
	fail $t "expected an ended record for $a:*->80 closed with bytes and a duration, saw: $(grep "\"$a\"" "$FWLOG" | tail -2)"
fi

# --- ended: resets, by the client and by the server ----------------------------------------
t=client_reset_ends_client_abort
a=$(client_ip 1 7)
s0=$(last_seq)
lab exec client1 python3 -c '
import socket, struct, sys, time
c = socket.socket(); c.bind((sys.argv[1], 0)); c.connect((sys.argv[2], 443))
c.send(b"hello"); c.recv(10); time.sleep(0.2)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()' $a $SRV
sleep 2.5; reap
e="r['type']=='ended' and r['src']=='$a' and r['end']=='client-abort' and r['reset_by']=='client' and r['expected'] and r['result_code']=='0x80074E21' and r['duration_ms']>=200 and 'duration_includes_timeout' not in r"
if wait_until 5 at_least 1 "$s0" "$e"; then pass "$t (an expected end, not a fault)"
else fail $t "expected an ended record client-abort for $a, saw: $(grep "\"$a\"" "$FWLOG" | tail -2)"; fi

t=server_reset_ends_server_abort
a=$(client_ip 1 8)
lab exec server timeout 10 python3 -c '
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8444)); s.listen(1); c, _ = s.accept(); c.recv(10); c.send(b"x")
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()' $SRV &
srv=$!
# python3 takes a while to start on a busy machine: wait for the socket.
listening_8444() { lab exec server ss -Hltn 'sport = :8444' | grep -q .; }
wait_until 10 listening_8444 || fail $t "listener on the server's 8444 not up after 10 s"
s0=$(last_seq)
lab exec client1 python3 -c '
import socket, sys, time
c = socket.socket(); c.bind((sys.argv[1], 0)); c.connect((sys.argv[2], 8444))
c.send(b"hello"); c.recv(10); time.sleep(0.3)' $a $SRV
wait $srv 2>/dev/null
sleep 2.5; reap
e="r['type']=='ended' and r['src']=='$a' and r['end']=='server-abort' and r['reset_by']=='server' and not r['expected']"
if wait_until 5 at_least 1 "$s0" "$e"; then pass $t
else fail $t "expected an ended record server-abort for $a, saw: $(grep "\"$a\"" "$FWLOG" | tail -2)"; fi

# --- the cap: a denied flood over 20 a second, one summary a second, exact ------------------
t=denied_flood_over_cap_summary_exact
a=$(client_ip 1 9)
gen client1 connect --dst $SRV --port 443 --count 25 --rate 50 --src $a >/dev/null  # blocked now
sleep 2.2  # the second of those refusals has been summarized
c0=$(counter blocked_tcp-connect-rate); s0=$(last_seq)
out=$(gen client1 connect --dst $SRV --port 443 --count 400 --rate 400 --src $a)
# The last second's summary comes on the member's next tick or two.
all_counted() {
	c1=$(counter blocked_tcp-connect-rate)
	[ $(( $(recs "$s0" "r['type']=='denied' and r['quota']=='tcp-connect-rate'") +
	      $(recs "$s0" "r['type']=='suppressed' and r['of']=='denied'" count) +
	      $(recs "$s0" "r['type']=='lost' and r['of']=='denied'" count) )) = $(( c1 - c0 )) ]
}
wait_until 8 all_counted
n=$(recs "$s0" "r['type']=='denied' and r['quota']=='tcp-connect-rate'")
sup=$(recs "$s0" "r['type']=='suppressed' and r['of']=='denied'" count)
nsum=$(recs "$s0" "r['type']=='suppressed' and r['of']=='denied'")
lost=$(recs "$s0" "r['type']=='lost' and r['of']=='denied'" count)
persec=$(python3 - "$FWLOG" "$s0" <<'PY'
import json, sys, collections
c = collections.Counter()
s = collections.Counter()
for line in open(sys.argv[1]):
    if not line.endswith("\n"):
        break
    r = json.loads(line)
    if r["seq"] > int(sys.argv[2]):
        if r["type"] == "denied":
            c[r["time_ms"] // 1000] += 1
        elif r["type"] == "suppressed":
            s[r["to"]] += 1
print(max(c.values() or [0]), max(s.values() or [0]))
PY
)
if [ $(( c1 - c0 )) -gt 100 ] && [ $(( n + sup + lost )) = $(( c1 - c0 )) ] && [ "$sup" -gt 0 ] &&
   [ "${persec% *}" -le 20 ] && wait_until 5 ctl_has "r['type']=='suppressed' and r['count']>0"; then
	pass "$t (nft counter +$(( c1 - c0 )) = $n records + $sup in $nsum summaries + $lost lost; at most ${persec% *} records a second)"
else
	fail $t "expected records + suppressed + lost = nft counter delta $(( c1 - c0 )) with at most 20 records a second, saw $n + $sup ($nsum summaries) + $lost, max ${persec% *} a second"
fi

# --- top -------------------------------------------------------------------------------------
t=top_by_denied_and_connections
top=$(ctl --json top --by denied)
conn=$(ctl --json top --by connections --count 50)
if python3 - "$top" "$conn" "$a" "$(client_ip 1 6)" <<'PY'
import json, sys
top, conn, a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
first = top["top"][0]
ok = first["source"] == a and first["denied"] > 0 and "fw1" in first["members"] and \
     "tcp-connect-rate" in first["blocked"] and top["suppressed_denied"] > 0
ok = ok and any(e["source"] == b and e["connections"] >= 1 and e["bytes"] > 0 for e in conn["top"])
sys.exit(0 if ok else 1)
PY
then pass $t
else fail $t "expected $a first by denied (blocked by tcp-connect-rate) and $(client_ip 1 6) among connections; saw $top / $conn"; fi

# --- log tail --follow ------------------------------------------------------------------------
t=log_tail_follow_prints_new_records
a=$(client_ip 1 10)
f=$(mktemp)
ctl log tail --follow --json --type denied --count 1 --timeout 15 >"$f" &
fol=$!
sleep 1
gen client1 connect --dst $SRV --port 8080 --count 1 --src $a --connect-timeout-ms 200 >/dev/null
wait $fol
if grep -q "\"src\":\"$a\".*\"rule\":\"no-8080\"" "$f"; then pass $t
else fail $t "expected the denied record of $a from log tail --follow, saw: $(cat "$f")"; fi
rm -f "$f"

# --- the switch: log-flood-blocks 0 ------------------------------------------------------------
t=log_flood_blocks_off_stops_flood_records
a=$(client_ip 1 11); b=$(client_ip 1 12)
ctl limits set log-flood-blocks 0 $W >/dev/null
s0=$(last_seq)
out=$(gen client1 connect --dst $SRV --port 443 --count 40 --rate 30 --src $a)
gen client1 connect --dst $SRV --port 8080 --count 1 --src $b --connect-timeout-ms 200 >/dev/null
sleep 1.5
flood=$(recs "$s0" "r['type']=='denied' and r['src']=='$a'")
deny=$(recs "$s0" "r['type']=='denied' and r['src']=='$b' and r['rule']=='no-8080'")
rules=$(lab exec fw1 nft list table inet phalanx | grep -c 'log prefix "px:q:')
ctl limits set log-flood-blocks 1 $W >/dev/null
ctl rules del no-8080 $W >/dev/null
if [ "$(kv refused <<<"$out")" -gt 0 ] && [ "$flood" = 0 ] && [ "$deny" -ge 1 ] && [ "$rules" = 0 ]; then
	pass "$t ($(kv refused <<<"$out") refused, none logged; deny rules still logged)"
else
	fail $t "with log-flood-blocks 0: refused $(kv refused <<<"$out"), flood records $flood (want 0), deny-rule records $deny (want >= 1), quota log statements in fw1's table $rules (want 0)"
fi
