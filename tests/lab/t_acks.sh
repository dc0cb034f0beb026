#!/usr/bin/env bash
# Lab tests of acknowledgements and pushed waits (issue 8 item 2): a
# member sends an Ack as soon as a version is in its kernel, the store
# answers a held `--wait' on it (one WAIT request, no STATUS polling),
# and `alerts watch' is a request the store holds until an alert comes
# (no ALERT_LIST every 200 ms).  Members heartbeat every 8 s here
# (--heartbeat-ms), so a --wait answered in well under that was answered
# by an ack, not by a heartbeat.  The store runs with -v: its debug log
# names every ctl request ("ctl from PEER: OP"); its member timeout is
# 20 s so that a member frozen for a moment is late, not down.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
export PHALANX_STORE_ARGS="-v --member-timeout 20000"
HB_MS=8000
export PHALANX_NODE_ARGS="--heartbeat-ms $HB_MS"
lab_setup 2
SET=flood-exceptions
SLOG=$PHALANX_LAB_STATE/store1.log

# lines_from N PATTERN: lines of the store's log after line N matching
# the extended regex PATTERN.
lines_from() { tail -n +"$(($1 + 1))" "$SLOG" | grep -E "$2"; }
count_from() { lines_from "$@" | grep -c .; }

# --- a --wait held by the store is answered once fw2 has it: one WAIT ---
t=wait_held_one_request
v0=$(store_version)
mark=$(wc -l <"$SLOG")
out=$(mktemp /tmp/pxa8-out.XXXXXX)
lab freeze fw2 >/dev/null
ctl exceptions add $SET 192.0.2.51 --wait=15 >"$out" 2>&1 &
pid=$!
# The store holds the WAIT while fw2 cannot apply (bounded: 10 s).
held=0
wait_until 10 lines_from "$mark" "WAIT from .*: held for up to" && held=1
t0=$(date +%s%N)
lab thaw fw2 >/dev/null
wait $pid; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
v=$((v0 + 1))
answer=$(lines_from "$mark" "wait for version $v from .*: answered after")
waits=$(count_from "$mark" "ctl from .*: WAIT$")
statuses=$(count_from "$mark" "ctl from .*: STATUS$")
if [ $rc -eq 0 ] && [ $held = 1 ] && grep -q "version $v applied by fw1, fw2" "$out" &&
	[ "$waits" = 1 ] && [ "$statuses" = 0 ]; then
	pass "$t (answered ${ms} ms after fw2 was thawed; ${answer#*answered })"
else
	fail $t "expected exit 0 and \"version $v applied by fw1, fw2\", the WAIT held, then answered, 1 WAIT and 0 STATUS requests; saw exit $rc, held=$held, waits=$waits, statuses=$statuses, store: ${answer:-no answer line}; ctl: $(tail -2 "$out")"
fi

# --- the answer is the members' acks, not their next heartbeats ---
# Each add is sent right after the store says how long ago each member's
# last heartbeat was: answering from heartbeats would take until the
# later of their next ones (HB_MS minus the age, each); acks answer at
# once.  The store's view is read before the clock starts.
t=wait_answered_by_acks_before_next_heartbeats
ok=1 seen=""
hb_wait() {
	ctl --json members list | python3 -c '
import json, sys
ages = [m["heartbeat_age_ms"] for m in json.load(sys.stdin)["members"]]
print(max(int(sys.argv[1]) - a for a in ages) if len(ages) == 2 and None not in ages else 0)' $HB_MS
}
# Once a member heartbeated in the last 3 s, answering from heartbeats
# would take 5 s or more (the members' phases align after each add: both
# send an "applying" heartbeat at once).  Bounded by one period.
hb_far() { t0=$(date +%s%N); bound=$(hb_wait); [ "$bound" -ge 5000 ]; }
for i in 1 2 3; do
	wait_until $((HB_MS / 1000 + 2)) hb_far
	mark=$(wc -l <"$SLOG")
	ctl exceptions add $SET "192.0.2.$((60 + i))" --wait=15 >"$out" 2>&1 || ok=0
	ms=$((($(date +%s%N) - t0) / 1000000))
	v=$(sed -n 's/^version \([0-9]*\) applied by fw1, fw2$/\1/p' "$out")
	[ -n "$v" ] || { ok=0; seen="$seen $(tail -1 "$out");"; continue; }
	# every member has v in its kernel when --wait returned
	for k in 1 2; do in_set fw$k $SET.v4 "192.0.2.$((60 + i))" || { ok=0; seen="$seen fw$k lacks 192.0.2.$((60 + i));"; }; done
	# 1 s of margin for the members list call itself
	if [ "$ms" -lt $((bound - 1000)) ]; then seen="$seen $ms ms < $bound ms;"
	else ok=0; seen="$seen version $v answered after $ms ms, next heartbeats in $bound ms;"; fi
	[ "$(count_from "$mark" "ctl from .*: STATUS$")" = 0 ] || { ok=0; seen="$seen STATUS polled;"; }
done
if [ $ok = 1 ]; then pass "$t ($seen)"
else fail $t "expected 3 adds with --wait answered before the members' next heartbeats could, every kernel holding the entry, no STATUS polls; saw:$seen"; fi

# --- a member that does not apply: the wait times out as before ---
# (the store re-runs a due WAIT on its deadline's timer or on its tick,
# whichever comes first: its log names either)
t=wait_timeout_names_the_late_member
lab freeze fw2 >/dev/null
mark=$(wc -l <"$SLOG")
ctl exceptions add $SET 192.0.2.70 --wait=2 >"$out" 2>&1; rc=$?
lab thaw fw2 >/dev/null
v=$(($(store_version)))
if [ $rc -eq 1 ] && grep -q "not applied within 2 s by fw2 (at $((v - 1)))" "$out" &&
	lines_from "$mark" "wait for version $v .*: timed out; pending: fw2" | grep -q .; then
	pass $t
else
	fail $t "expected exit 1, \"not applied within 2 s by fw2 (at $((v - 1)))\" and the store's \"timed out; pending: fw2\"; saw exit $rc: $(tail -2 "$out"); store: $(lines_from "$mark" "wait for version" | tail -1)"
fi
wait_until 15 in_set fw2 $SET.v4 192.0.2.70

# --- alerts watch: held requests, and an alert shows at once ---
t=alerts_watch_is_pushed_not_polled
watch=$(mktemp /tmp/pxa8-watch.XXXXXX)
mark=$(wc -l <"$SLOG")
ctl alerts watch --json --timeout 60 >"$watch" 2>&1 &
wpid=$!
# 10 s of nothing new: a polling watch asks ~50 times (200 ms), a held
# one about 4 (each held up to 3 s).
sleep 10
idle=$(count_from "$mark" "ctl from .*: ALERT_LIST$")
held=$(count_from "$mark" "ALERT_LIST from .*: held for up to")
# A central alert: fw2 stopped is marked down after the member timeout.
lab stop fw2 >/dev/null
seen_store=0 seen_watch=0 lag=
if wait_until 40 bash -c "'$LAB' ctl --json alerts list --type member-down | grep -q '\"member\":\"fw2\"'"; then
	seen_store=1
	t1=$(date +%s%N)
	wait_until 5 grep -q '"member":"fw2".*"type":"member-down"' "$watch" && seen_watch=1
	lag=$((($(date +%s%N) - t1) / 1000000))
fi
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
if [ "$idle" -le 8 ] && [ "$held" -ge 1 ] && [ $seen_store = 1 ] && [ $seen_watch = 1 ]; then
	pass "$t ($idle ALERT_LIST requests in 10 s idle, $held held; the alert in the watch ${lag} ms after the store listed it)"
else
	fail $t "expected at most 8 ALERT_LIST requests in 10 s idle, some held, and fw2's member-down alert in the watch stream within 5 s of the store listing it; saw $idle requests, $held held, in store=$seen_store, in watch=$seen_watch: $(head -c 400 "$watch")"
fi
lab start fw2 >/dev/null
rm -f "$out" "$watch"
