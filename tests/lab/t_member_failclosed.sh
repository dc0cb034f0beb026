#!/usr/bin/env bash
# Lab tests of issue 7, member side: a member never weakens what its kernel
# enforces because of local trouble (defect 3), and tcp-concurrent raises
# its alert when it is enforced (defect 8).  Looked at from outside: traffic
# through fw1, the kernel's table, the store's status and alert list.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 1
SRV=203.0.113.100
W=--wait=20
CLI=$(client_ip 1 0)
STATE_FILE=$(lab info | sed -n 's/^fw1_state=//p')
STATE_DIR=$STATE_FILE.state  # the member's LMDB state (node/state.c)

[ -n "$STATE_FILE" ] || { fail lab_info_state "expected fw1_state= in lab info, saw none"; exit 1; }

# reach PORT: a TCP connection from client1 to the server through fw1
# (port 80: one HTTP request, 443: one byte echoed).
reach() {
	if [ "$1" = 80 ]; then lab exec client1 "$REPO/tests/lab/probe.py" http $SRV --src "$CLI" --timeout 2
	else lab exec client1 "$REPO/tests/lab/probe.py" tcp $SRV "$1" --src "$CLI" --timeout 2; fi
}
# rules_of_table: the chains and rules of fw1's table, counters left out.
rules_of_table() {
	lab exec fw1 nft list table inet phalanx 2>&1 |
		awk '/^\tchain /{c=1} c{print} /^\t}/{c=0}' |
		sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}
member_json() { # KEY: fw1's KEY in the store's status
	ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
for m in d["members"]:
    if m["member"] == "fw1":
        v = m[sys.argv[1]] if sys.argv[1] != "synced" else \
            (m["up"] and m["applied_version"] == d["version"])
        print(str(v).lower())' "$1"
}
fw1_synced() { [ "$(member_json synced)" = true ] && [ "$(member_json health)" = ok ]; }
# knock NS ADDR: a TCP connect from namespace NS to ADDR port 9, where
# nothing listens: "refused" (a RST: the packet reached the host) or
# "dropped" (no answer in 2 s).
knock() {
	lab exec "$1" python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], 9)); print("open")
except ConnectionRefusedError: print("refused")
except socket.timeout: print("dropped")
except OSError as e: print("error", e)' "$2"
}
fw1_log_has() { grep -q "$1" "$PHALANX_LAB_STATE/fw1.log"; }
count_alerts() { # TYPE STATE [SOURCE]: fw1's alerts of TYPE in STATE
	ctl --json alerts list --member fw1 --type "$1" | python3 -c '
import json, sys
s = sys.argv[1]; src = sys.argv[2] if len(sys.argv) > 2 else None
print(sum(1 for a in json.load(sys.stdin)["alerts"]
          if a["state"] == s and (src is None or a.get("source") == src)))' "${@:2}"
}
# degraded_seen SECONDS: poll the store's status for fw1 degraded.
degraded_seen() {
	local deadline=$(( $(date +%s) + $1 ))
	while [ "$(date +%s)" -lt $deadline ]; do
		[ "$(member_json health 2>/dev/null)" = degraded ] && return 0
		sleep 0.05
	done
	return 1
}

ctl rules add deny443 --action deny --proto tcp --port 443 $W >/dev/null ||
	{ fail setup "rules add deny443 failed"; exit 1; }
if reach 443 >/dev/null 2>&1 || ! reach 80 >/dev/null 2>&1; then
	fail setup "expected 443 refused and 80 open through fw1 with the deny rule"
	exit 1
fi

# --- corrupt cache: the table in the kernel stays as it is -------------------
t=corrupt_cache_keeps_the_kernel_table
before=$(rules_of_table)
lab stop store1 >/dev/null
lab stop fw1 >/dev/null
# Seven bytes of every copy of the policy record ("PXS1" header, 24
# bytes) overwritten: the live one is among them, wherever LMDB put it.
python3 - "$STATE_DIR/data.mdb" <<'PY' || { fail $t "expected a policy record in $STATE_DIR/data.mdb to damage"; exit 1; }
import re, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
at = [m.start() for m in re.finditer(b"PXS1", b)]
for i in at:
    b[i + 30:i + 37] = b"XXXXXXX"
open(p, "r+b").write(b)
sys.exit(0 if at else 1)
PY
lines=$(wc -l <"$PHALANX_LAB_STATE/fw1.log")
lab start fw1 >/dev/null
wait_until 10 fw1_log_has "member fw1 up" || true
after=$(rules_of_table)
if reach 443 >/dev/null 2>&1; then
	fail $t "expected client1 refused on port 443 through fw1, saw it connect"
elif [ -z "$before" ] || [ "$before" != "$after" ]; then
	fail $t "expected the table's rules unchanged, saw: $(diff <(echo "$before") <(echo "$after") | head -5 | tr '\n' ' ')"
	show_log fw1
elif ! tail -n +"$lines" "$PHALANX_LAB_STATE/fw1.log" | grep -q "local state unusable"; then
	fail $t "expected fw1 to log its cache unusable, saw:"
	show_log fw1
else
	pass $t
fi

t=corrupt_cache_degraded_and_alerted_until_snapshot
slines=$(wc -l <"$PHALANX_LAB_STATE/store1.log")
lab start store1 >/dev/null
# The store logs each change of a member's health from its heartbeats.
store_saw_degraded() {
	tail -n +"$slines" "$PHALANX_LAB_STATE/store1.log" |
		grep -q "member fw1: health degraded: local state unusable"
}
if ! wait_until 10 store_saw_degraded; then
	fail $t "expected fw1's heartbeat to say degraded (local state unusable) once the store is back, saw none in store1.log"
	show_log store1
elif ! wait_until 20 fw1_synced; then
	fail $t "expected fw1 healthy at the store's version after the snapshot, saw $(member_json health) ($(member_json detail))"
elif ! wait_until 15 test "$(count_alerts state-unusable exceeded)" -ge 1; then
	fail $t "expected a state-unusable alert of fw1 in alerts list, saw $(count_alerts state-unusable exceeded)"
elif reach 443 >/dev/null 2>&1 || ! reach 80 >/dev/null 2>&1; then
	fail $t "expected 443 refused and 80 open after the snapshot"
else
	pass $t
fi

# --- no cache and no table: the guard until the first snapshot ---------------
t=no_cache_no_table_installs_the_guard
lab stop store1 >/dev/null
lab stop fw1 >/dev/null
rm -rf "$STATE_FILE" "$STATE_DIR"
lab exec fw1 nft delete table inet phalanx
lab start fw1 >/dev/null
wait_until 10 fw1_log_has "until the first snapshot" || true
mgmt=$(knock store1 192.0.2.1)
client=$(knock client1 "$(lab info | sed -n 's/^fw1_client_ip=//p')")
r80=no; r443=no
reach 80 >/dev/null 2>&1 && r80=yes
reach 443 >/dev/null 2>&1 && r443=yes
lab start store1 >/dev/null
if [ $r80 = yes ] || [ $r443 = yes ]; then
	fail $t "expected client1 refused through fw1 under the guard, saw port 80 reached: $r80, 443: $r443"
	lab exec fw1 nft list table inet phalanx 2>&1 | head -20 | sed 's/^/    /'
elif [ "$client" != dropped ]; then
	fail $t "expected client1's connect to fw1 itself dropped by the guard, saw $client"
elif [ "$mgmt" != refused ]; then
	fail $t "expected the management network (store1 to fw1 192.0.2.1) to reach fw1, saw $mgmt"
elif ! wait_until 20 fw1_synced; then
	fail $t "expected fw1 to reach the store through the guard and sync, saw $(member_json health) ($(member_json detail))"
elif reach 443 >/dev/null 2>&1 || ! reach 80 >/dev/null 2>&1; then
	fail $t "expected the array policy after the snapshot (443 refused, 80 open)"
	show_log fw1
else
	pass $t
fi

# --- tcp-concurrent enforced raises one alert for the source -----------------
t=tcp_concurrent_enforced_alerts_once_per_source
LIMIT=4
ctl limits set tcp-concurrent $LIMIT $W >/dev/null || { fail $t "limits set tcp-concurrent failed"; exit 1; }
out=$(gen client1 hold --dst $SRV --port 80 --count 12 --seconds 3 --check none --src "$CLI" --timeout 20)
refused=$(kv refused <<<"$out")
if [ "${refused:-0}" -lt 1 ]; then
	fail $t "expected connections over $LIMIT refused, saw refused=${refused:-?} ($(echo "$out" | tr '\n' ' '))"
elif ! wait_until 15 test "$(count_alerts tcp-concurrent exceeded "$CLI")" -ge 1; then
	fail $t "expected a tcp-concurrent alert for $CLI, saw $(count_alerts tcp-concurrent exceeded "$CLI")"
else
	# The same source exceeding again within the window: no second one.
	gen client1 hold --dst $SRV --port 80 --count 12 --seconds 2 --check none --src "$CLI" --timeout 20 >/dev/null
	sleep 3
	n=$(count_alerts tcp-concurrent exceeded "$CLI")
	if [ "$n" = 1 ]; then pass $t
	else fail $t "expected exactly one tcp-concurrent alert for $CLI, saw $n"; fi
fi
