#!/usr/bin/env bash
# Lab tests of alerts (issue 4): members raise alerts, deliver them to the
# store reliably, the store keeps and streams them, serves metrics.  The
# alert "minute" is shortened to 5 s (phalanx-node --alert-window-ms), the
# block window to 5 s and tcp-connect-rate to 20/minute (phalanxctl);
# every flood is bounded in count and time.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
WIN=5   # seconds: --alert-window-ms 5000
METRICS=192.0.2.10:9700
export PHALANX_NODE_ARGS="--alert-window-ms $((WIN * 1000))"
export PHALANX_STORE_ARGS="--metrics $METRICS"
lab_setup 2
SRV=203.0.113.100
SRV6=2001:db8:0:113::100
W=--wait=15

ctl limits set block-time 5 $W >/dev/null &&
ctl limits set tcp-connect-rate 20 $W >/dev/null || { fail setup "limits set failed"; exit 1; }

# alerts_json [phalanxctl alerts list options]: the store's list as JSON.
alerts_json() { ctl --json alerts list "$@"; }

# count_alerts JSON MEMBER TYPE STATE [SOURCE]: how many alerts match.
count_alerts() {
	python3 - "$@" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
m, t, s = sys.argv[2:5]
src = sys.argv[5] if len(sys.argv) > 5 else None
print(sum(1 for a in d["alerts"] if a["member"] == m and a["type"] == t and
          a["state"] == s and (src is None or a["source"] == src)))
PY
}

# flood K SRC SECONDS: completed TCP connects from SRC through fwK at 30/s
# (over the 20/minute quota from the first second) for SECONDS.
flood() { gen "client$1" connect --dst $SRV --port 443 --count $(($3 * 30)) --rate 30 --src "$2" --timeout $(($3 + 10)); }

# member_ids NAME: the ids of the alerts the member logged as raised.
# member_ids NAME [FROM_LINE]: ids of the alerts the member logged as
# raised (from line FROM_LINE of its log on).
member_ids() {
	tail -n +"${2:-1}" "$PHALANX_LAB_STATE/$1.log" |
		grep -oP "phalanx-node info: alert \K$1:[0-9]+:[0-9]+" | sort -u
}
store_ids() { alerts_json --member "$1" | python3 -c '
import json, sys
for a in json.load(sys.stdin)["alerts"]: print(a["id"])' | sort -u; }

# restart_member NAME ARGS...: restart a member with extra options (they
# come after the lab's, so they win), and wait until it is synced.
restart_member() {
	local name=$1
	shift
	lab stop "$name" >/dev/null
	# The lab keeps each daemon's command line on one line of NAME.cmd.
	sed -i "s|\$| $*|" "$PHALANX_LAB_STATE/$name.cmd"
	lab start "$name" >/dev/null
	wait_until 15 member_synced "$name"
}
member_synced() {
	ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(m["member"] == sys.argv[1] and m["up"] and
                  m["applied_version"] == d["version"] for m in d["members"]) else 1)' "$1"
}

# --- floods through fw1 and fw2 appear in ONE watch stream ------------------
t=one_watch_stream_shows_every_member
watch=$(mktemp)
ctl alerts watch --json --timeout 60 >"$watch" 2>&1 &
wpid=$!
sleep 1.5   # the watch has learnt where the store's history ends
a1=$(client_ip 1 0); a2=$(client_ip 2 0)
flood 1 "$a1" 3 >/dev/null &
f1=$!
flood 2 "$a2" 3 >/dev/null &
f2=$!
# IPv6 sources are one source per /64 (ipv6-source-prefix)
gen client1 connect --dst $SRV6 --port 443 --count 90 --rate 30 --src 2001:db8:100:1::7 >/dev/null &
f3=$!
wait $f1 $f2 $f3
in_stream() { grep -q "\"member\":\"$1\",.*\"type\":\"tcp-connect-rate\",\"state\":\"exceeded\",\"source\":\"$2\"" "$watch"; }
if wait_until 15 in_stream fw1 "$a1" && wait_until 5 in_stream fw2 "$a2" &&
   wait_until 5 in_stream fw1 2001:db8:100:1::/64; then
	pass "$t ($(wc -l <"$watch") alerts streamed)"
else
	fail $t "expected exceeded alerts of fw1 ($a1, 2001:db8:100:1::/64) and fw2 ($a2) in one 'alerts watch' stream, saw: $(head -c 900 "$watch")"
	show_log fw1 8
fi
kill $wpid 2>/dev/null; wait $wpid 2>/dev/null

# --- a flood three windows long: <= 3 exceeded, exactly 1 recovered ---------
# The excess lasts the flood plus the block-time tail (the source stays
# refused 5 s after its last block): a 9 s flood keeps the source over its
# quota for 3 windows (15 s) at most.
t=three_windows_at_most_three_exceeded_one_recovered
a=$(client_ip 1 1)
flood 1 "$a" 9 >/dev/null
recovered() { [ "$(count_alerts "$(alerts_json --member fw1)" fw1 tcp-connect-rate recovered "$a")" -ge 1 ]; }
wait_until $((3 * WIN)) recovered
sleep $((2 * WIN))   # nothing more may come
j=$(alerts_json --member fw1)
ne=$(count_alerts "$j" fw1 tcp-connect-rate exceeded "$a")
nr=$(count_alerts "$j" fw1 tcp-connect-rate recovered "$a")
if [ "$ne" -ge 2 ] && [ "$ne" -le 3 ] && [ "$nr" = 1 ]; then pass "$t ($ne exceeded, $nr recovered)"
else fail $t "expected 2..3 exceeded (one per ${WIN}s window) and 1 recovered for ($a, tcp-connect-rate), saw $ne exceeded, $nr recovered"; fi

# --- manual reset: active until reset, then it fires again ------------------
t=manual_reset_keeps_alert_active_until_reset
a=$(client_ip 1 2)
ctl alerts define tcp-connect-rate --reset manual >/dev/null
flood 1 "$a" 9 >/dev/null
wait_until $((3 * WIN)) recovered   # recovered is recorded, not an end
j=$(alerts_json --member fw1)
ne=$(count_alerts "$j" fw1 tcp-connect-rate exceeded "$a")
act=$(ctl --json alerts list --active --type tcp-connect-rate)
id=$(python3 -c '
import json, sys
a = [x for x in json.loads(sys.argv[1])["alerts"] if x["source"] == sys.argv[2]]
print(a[0]["id"] if len(a) == 1 and a[0]["state"] == "exceeded" else "")' "$act" "$a")
if [ "$ne" = 1 ] && [ -n "$id" ]; then
	ctl alerts reset "$id" >/dev/null
	after=$(ctl --json alerts list --active --type tcp-connect-rate)
	still=$(python3 -c '
import json, sys
print(sum(1 for x in json.loads(sys.argv[1])["alerts"] if x["source"] == sys.argv[2]))' "$after" "$a")
	flood 1 "$a" 2 >/dev/null
	again() { [ "$(count_alerts "$(alerts_json --member fw1)" fw1 tcp-connect-rate exceeded "$a")" = 2 ]; }
	if [ "$still" = 0 ] && wait_until $((2 * WIN)) again; then pass $t
	else fail $t "after 'alerts reset $id': still active $still (want 0); a new excess raised $(count_alerts "$(alerts_json --member fw1)" fw1 tcp-connect-rate exceeded "$a") exceeded in all (want 2)"; fi
else
	fail $t "manual reset: expected 1 exceeded (repeats absorbed) still active after recovery, saw $ne exceeded, active: $act"
fi
ctl alerts define tcp-connect-rate --reset auto >/dev/null
ctl alerts reset --all >/dev/null

# --- a store restart in the middle of a flood loses no alert ----------------
t=store_restart_mid_flood_loses_no_alert
mark1=$(wc -l <"$PHALANX_LAB_STATE/fw1.log"); mark2=$(wc -l <"$PHALANX_LAB_STATE/fw2.log")
srcs=$(for i in 3 4 5 6 7 8 9 10; do printf '%s,' "$(client_ip 1 $i)"; done)
gen client1 connect --dst $SRV --port 443 --count 1600 --rate 100 --src "${srcs%,}" --timeout 30 >/dev/null &
fl=$!
sleep 5
t_kill=$(date +%s%3N)
lab stop store1 --kill >/dev/null
sleep 5   # past the members' store timeout: they raise store-lost too
t_back=$(date +%s%3N)
lab start store1 >/dev/null
wait $fl
# Every alert a member raised from here on (its log) must reach the
# store once its queue drains (the flood's sources recover a window
# after it ends).
missing() { comm -23 <(member_ids "$1" "$2") <(store_ids "$1"); }
none_missing() { [ -z "$(missing fw1 $mark1)" ] && [ -z "$(missing fw2 $mark2)" ]; }
# ... including those raised while it was down.
during=$(alerts_json --member fw1 | python3 -c '
import json, sys
print(sum(1 for a in json.load(sys.stdin)["alerts"]
          if int(sys.argv[1]) < a["time_ms"] < int(sys.argv[2])))' "$t_kill" "$t_back")
if wait_until 30 none_missing && [ "$during" -ge 1 ]; then
	pass "$t ($(member_ids fw1 $mark1 | wc -l) alerts of fw1 ($during raised while the store was down), $(member_ids fw2 $mark2 | wc -l) of fw2, all in the store)"
else
	fail $t "alerts raised but not in the store: $(missing fw1 $mark1 | head -5 | tr '\n' ' ') $(missing fw2 $mark2 | head -5 | tr '\n' ' '); raised by fw1 while the store was down: $during"
	show_log fw1 6; show_log store1 6
fi
t=store_lost_alert_delivered_after_return
j=$(alerts_json --type store-lost)
if [ "$(count_alerts "$j" fw1 store-lost exceeded)" -ge 1 ] &&
   [ "$(count_alerts "$j" fw1 store-lost recovered)" -ge 1 ] &&
   [ "$(count_alerts "$j" fw2 store-lost exceeded)" -ge 1 ]; then
	pass $t
else
	fail $t "expected store-lost exceeded and recovered of fw1 and fw2, raised while the store was down, in the store; saw: $j"
fi

# --- the global cap: suppressed alerts are counted exactly ------------------
# fw2 with a cap of 2 alerts a second and a 15 s window (no repeats while
# the flood and its block last): 20 sources blocked at once make 20
# exceeded and 20 recovered; those not sent are counted in .suppressed.
t=suppressed_counts_exact
seq0=$(alerts_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["alert_seq"])')
restart_member fw2 --alert-rate 2 --alert-window-ms 15000
srcs=$(for i in $(seq 6 19); do printf '%s,' "$(client_ip 2 "$i")"; done)
out=$(gen client2 connect --dst $SRV --port 443 --count 420 --rate 140 --src "${srcs%,}" --per-source --timeout 20)
blocked=$(grep -cE '^src\.[0-9.]+\.refused=[1-9]' <<<"$out")
settled() {
	alerts_json --member fw2 | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["alerts"] if x["seq"] > int(sys.argv[1])]
n = sum(1 for x in a if x["type"] == "tcp-connect-rate")
s = sum(x["suppressed"] for x in a)
print(n, s)
sys.exit(0 if n + s >= 2 * int(sys.argv[2]) else 1)' "$seq0" "$blocked"
}
wait_until 40 settled
read -r n s < <(settled)
if [ "$blocked" -ge 10 ] && [ "$s" -gt 0 ] && [ $((n + s)) = $((2 * blocked)) ]; then
	pass "$t ($blocked sources blocked: $n alerts sent + $s suppressed = $((2 * blocked)))"
else
	fail $t "expected sent + suppressed = 2 x $blocked blocked sources (and some suppressed), saw $n sent + $s suppressed"
fi

# --- event loss: ENOBUFS on the conntrack socket raises events-lost ---------
t=events_lost_raises_alert
restart_member fw1 --ct-rcvbuf 4096
srcs=$(for i in $(seq 11 19); do printf '%s,' "$(client_ip 1 "$i")"; done)
gen client1 udp --dst $SRV --port 7 --sessions 1200 --src "${srcs%,}" --timeout 15 >/dev/null
lost_alert() { [ "$(count_alerts "$(alerts_json --member fw1 --type events-lost)" fw1 events-lost exceeded)" -ge 1 ]; }
if wait_until 10 lost_alert && grep -q "ENOBUFS" "$PHALANX_LAB_STATE/fw1.log"; then pass $t
else fail $t "a 4 KB conntrack buffer and 1200 UDP sessions: no events-lost alert of fw1"; show_log fw1 8; fi

# --- a disabled type is not raised anywhere in the array ---------------------
t=disabled_type_raises_nothing
a=$(client_ip 2 1)
ctl alerts define tcp-connect-rate --disable >/dev/null
told() { grep -q "types disabled by the store: tcp-connect-rate" "$PHALANX_LAB_STATE/fw2.log"; }
wait_until 5 told
flood 2 "$a" 3 >/dev/null
in_set fw2 tcp_block4 "$a" && blocked=yes || blocked=no
sleep 3
nd=$(count_alerts "$(alerts_json --member fw2)" fw2 tcp-connect-rate exceeded "$a")
ctl alerts define tcp-connect-rate --enable >/dev/null
if told && [ "$nd" = 0 ] && [ $blocked = yes ]; then pass $t
else fail $t "tcp-connect-rate disabled: expected fw2 told, $a blocked (saw $blocked) and no alert for it (saw $nd)"; fi

# --- metrics: Prometheus text format ------------------------------------------
t=metrics_parse_as_prometheus_text
sleep 1.5   # the store publishes once a second
if lab exec store1 python3 - "http://$METRICS/metrics" <<'PY'; then pass $t; else fail $t "see above"; fi
import re, sys, urllib.request, urllib.error
url = sys.argv[1]
r = urllib.request.urlopen(url, timeout=5)
ctype = r.headers.get("Content-Type", "")
text = r.read().decode("utf-8")
errs = []
if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
    errs.append("Content-Type %r" % ctype)
try:
    urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=5)
    errs.append("/other answered 200")
except urllib.error.HTTPError as e:
    if e.code != 404:
        errs.append("/other: %d" % e.code)
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(%s(,%s)*)?\})? (\S+)( -?\d+)?$" % (NAME, LABEL, LABEL))
types, seen, done, samples = {}, set(), set(), {}
last = None
if not text.endswith("\n"):
    errs.append("no final newline")
for i, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        continue
    m = re.match(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME, line)
    if m:
        if m.group(1) in types:
            errs.append("line %d: second TYPE for %s" % (i, m.group(1)))
        types[m.group(1)] = m.group(2)
        continue
    if line.startswith("#") or not line:
        errs.append("line %d: stray %r" % (i, line))
        continue
    m = SAMPLE.match(line)
    if not m:
        errs.append("line %d: not a sample: %r" % (i, line))
        continue
    name, labels, value = m.group(1), m.group(3) or "", m.group(5)
    try:
        float(value)
    except ValueError:
        errs.append("line %d: value %r" % (i, value))
    if name not in types:
        errs.append("line %d: %s before its TYPE" % (i, name))
    if name != last and name in done:
        errs.append("line %d: samples of %s not together" % (i, name))
    if last and name != last:
        done.add(last)
    last = name
    if (name, labels) in seen:
        errs.append("line %d: duplicate %s{%s}" % (i, name, labels))
    seen.add((name, labels))
    samples[(name, labels)] = float(value)
    if types.get(name) == "counter" and not name.endswith("_total"):
        errs.append("line %d: counter %s without _total" % (i, name))
def val(name, labels):
    return samples.get((name, labels))
want = [
    ("phalanx_store_version", ""),
    ("phalanx_member_up", 'member="fw1"'), ("phalanx_member_up", 'member="fw2"'),
    ("phalanx_member_applied_version", 'member="fw1"'),
    ("phalanx_quota_blocked_total", 'member="fw1",quota="tcp-connect-rate"'),
    ("phalanx_quota_would_block_total", 'member="fw2",quota="tcp-connect-rate"'),
    ("phalanx_alerts_total", 'member="fw1",type="tcp-connect-rate",state="exceeded"'),
    ("phalanx_alerts_suppressed_total", 'member="fw2"'),
    ("phalanx_events_lost_total", 'member="fw1"'),
]
for w in want:
    if val(*w) is None:
        errs.append("missing %s{%s}" % w)
if (val("phalanx_member_up", 'member="fw1"') or 0) != 1:
    errs.append("fw1 not up")
# connection-table fill: the member counts its own connections to the
# store at least, and its table has a size
if (val("phalanx_conntrack_entries", 'member="fw1"') or 0) <= 0 or \
   (val("phalanx_conntrack_max", 'member="fw1"') or 0) <= 0:
    errs.append("fw1 connection-table fill missing")
# fw2 flooded since its restart (counts are since the member started)
if (val("phalanx_quota_blocked_total", 'member="fw2",quota="tcp-connect-rate"') or 0) <= 0:
    errs.append("fw2 blocked nothing after the cap test's flood")
if (val("phalanx_alerts_total", 'member="fw1",type="tcp-connect-rate",state="exceeded"') or 0) < 3:
    errs.append("fewer than 3 exceeded alerts of fw1 counted")
if (val("phalanx_events_lost_total", 'member="fw1"') or 0) <= 0:
    errs.append("fw1 events lost 0 after the event-loss test")
if (val("phalanx_alerts_suppressed_total", 'member="fw2"') or 0) <= 0:
    errs.append("fw2 suppressed 0 after the cap test")
for e in errs[:10]:
    print("    " + e)
print("    %d samples, %d metrics" % (len(samples), len(types)))
sys.exit(1 if errs else 0)
PY
