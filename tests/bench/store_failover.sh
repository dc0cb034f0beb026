#!/usr/bin/env bash
# tests/bench/store_failover.sh [KILLS [FREEZES [N [NPROC]]]]: issue 9's
# benchmark, key=value lines.
#   failover: three stores, one member.  KILLS (default 10) times: the
#     leader (`store status --json') is SIGKILLed while build/storewrite
#     (tests/bench/storewrite.c: phalanxctl's client files, 1 s timeout
#     as `--timeout=1', a write every 10 ms, a failed one retried with its
#     request id) writes from fw1's namespace.  Measured from the kill to
#     (a) a new leader agreed by the two others (the first line of each
#     survivor's log naming it: the store checks its Raft state every
#     100 ms, store/raft.c on_watch, so (a) is late by 0-100 ms) and (b)
#     the first write acknowledged after the kill.  The killed store is
#     restarted and all three reach the same applied index before the next
#     round.  Then FREEZES (default 2) rounds of `lab freeze' (SIGSTOP),
#     timed from the freeze line the lab writes in the store's log.
#   throughput: N (default 300) sequential single adds from one process
#     (storewrite) and NPROC (default 100) from a phalanxctl process each,
#     both from fw1's namespace, with three stores, then in a new lab with
#     one store (`lab up --stores 1'); acknowledged per second, and the
#     store's own time from its log: "version N timing: ... total X us"
#     (validate, LMDB write and fsync, apply; with three stores the
#     leader's apply after the commit) and, with three stores, "raft entry
#     E ...: committed and applied in X ms" (proposed to answered: the
#     quorum's disk writes and the apply; stores run with -v for it).
# The kill is this script's own `kill -KILL' of the daemon's pid (the
# lab's pid file, checked), then `lab stop storeK --kill' for the lab's
# books: `lab stop' takes 0.1-1 s before its signal (script start, pid
# checks), too coarse a clock for a failover of about a second.
# Anchors (issue 9): etcd's default election timeout 1 s; dqlite 3-6 s;
# ISA's alternate configuration storage server up to 30 min.
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
KILLS=${1:-10} FREEZES=${2:-2} N=${3:-300} NPROC=${4:-100}
for v in "$KILLS" "$FREEZES" "$N" "$NPROC"; do
	case $v in '' | *[!0-9]*) echo "store_failover.sh: not a number: '$v'" >&2; exit 2 ;; esac
done
export PHALANX_LAB_PREFIX=${PHALANX_LAB_PREFIX:-pxsf$$}
# C-Raft's log needs a real disk (O_DIRECT, AIO): never tmpfs
export PHALANX_LAB_STATE=${PHALANX_LAB_STATE:-/var/tmp/phalanx-lab-bench-sf$$}
mkdir -p "$PHALANX_LAB_STATE"
if [ "$(stat -f -c %T "$PHALANX_LAB_STATE")" = tmpfs ]; then
	echo "store_failover.sh: $PHALANX_LAB_STATE is on tmpfs; the Raft logs need a disk" >&2
	exit 2
fi
# the "committed and applied" lines are debug lines
export PHALANX_STORE_ARGS="${PHALANX_STORE_ARGS:-} -v"
. tests/lab/testlib.sh
ST=$PHALANX_LAB_STATE
BIN=$REPO/build
[ -n "${PHALANX_BIN_DIR:-}" ] && BIN=$PHALANX_BIN_DIR
SET=flood-exceptions
MEMBERS=1
OUT=$(mktemp -d /tmp/pxbench-sf.XXXXXX)
trap 'lab down >/dev/null 2>&1; rm -rf "$OUT"' EXIT
die() { echo "store_failover.sh: $*" >&2; exit 1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
now_ns() { local t=$EPOCHREALTIME; echo "${t/./}000"; }
next=0 # the next host index storewrite adds (each write a new host)

# keyset: every store's public key (each store has its own pair:
# store1's is store.pub), in the order of the stores
keyset() {
	local k l="$ST/keys/store.pub"
	for k in 2 3 4 5; do [ -f "$ST/keys/store$k.pub" ] && l="$l,$ST/keys/store$k.pub"; done
	echo "$l"
}

# client ARGS..: storewrite from fw1's namespace, as the admin, with
# every store's endpoint and key (fw1: `lab freeze storeK' stops every
# process of storeK's namespace)
client() {
	lab exec fw1 env PHALANX_STORE="$EPS" PHALANX_KEY="$ST/keys/admin.sec" \
		PHALANX_STORE_KEY="$(keyset)" "$BIN/storewrite" "$@"
}
# used FILE: advance next past the writes of storewrite's output FILE
used() {
	local w
	w=$(sed -n 's/^writes=\([0-9]*\) .*/\1/p' "$1")
	next=$((next + ${w:-0} + 1))
}
up() { # up STORES
	lab up --members 1 --stores "$1" >"$OUT/up.log" 2>&1 ||
		{ tail -20 "$OUT/up.log" >&2; die "lab up --stores $1 failed"; }
	EPS=$(lab info | sed -n 's/^store_endpoints=//p')
	[ -n "$EPS" ] || die "lab info gives no store_endpoints"
}
# store_pid K: the running phalanx-store of storeK (the lab's pid file,
# checked against the process's own command line)
store_pid() {
	local pid
	pid=$(cat "$ST/store$1.pid" 2>/dev/null) || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "phalanx-store --db $ST/store$1/db " || return 1
	echo "$pid"
}
oks() { grep -c '^ok ' "$1" 2>/dev/null; }
started() { [ "$(oks "$1")" -ge 5 ]; }
# acked_after FILE NS OLD: storewrite's FILE has a write acknowledged after NS
# by another store than OLD (an endpoint)
acked_after() { awk -v t="$2" -v old="$3" '$1 == "ok" && $3 > t && $4 != old { f = 1 } END { exit !f }' "$1"; }

# ---- failover rounds --------------------------------------------------
# one_round KIND K: kill or freeze the leader storeK under writes; prints
# "KIND leader_s write_s"
one_round() {
	local kind=$1 L=store$2 w=$OUT/w.out stop=$OUT/w.stop wpid pid t0 line i
	rm -f "$stop"
	client --interval 10 --stop-file "$stop" --max-s 120 "$SET" "$next" 0 >"$w" 2>"$OUT/w.err" &
	wpid=$!
	wait_until 20 started "$w" || { touch "$stop"; wait $wpid; die "$kind $L: the writer did not start: $(head -3 "$OUT/w.err")"; }
	if [ "$kind" = kill ]; then
		pid=$(store_pid "$2") || die "no running phalanx-store for $L"
		t0=$(now_ns)
		kill -KILL "$pid"
		lab stop "$L" --kill >/dev/null 2>&1
	else
		lab freeze "$L" >/dev/null
		t0=$(python3 - "$ST/$L.log" <<'PY'
import sys, time
last = None
for l in open(sys.argv[1], errors="replace"):
    if l.rstrip().endswith(" lab: freeze"):
        last = l.split()[0]
d, frac = last.split(".")
print("%d%s" % (time.mktime(time.strptime(d, "%Y-%m-%dT%H:%M:%S")), frac[:9].ljust(9, "0")))
PY
)
	fi
	wait_until 30 acked_after "$w" "$t0" "$(ep "$2")"
	# the survivors' logs name the new leader (10 tries a second apart: the
	# log lines say when, this only waits for them)
	line=
	for ((i = 0; i < 10; i++)); do
		line=$(agreed "$t0" "$2") && break
		sleep 1
	done
	touch "$stop"
	wait $wpid
	[ "$kind" = freeze ] && lab thaw "$L" >/dev/null
	[ "$kind" = kill ] && { lab start "$L" >/dev/null || die "lab start $L failed"; }
	wait_until 60 applied_equal 3 || die "$L did not rejoin: $(status_json | head -c 600)"
	# the first write another store acknowledged (under load the client
	# may note the old leader's last answers after the kill)
	awk -v t="$t0" -v k="$kind" -v a="${line:--1}" -v old="$(ep "$2")" \
		'$1 == "ok" && $3 > t && $4 != old && !f { f = 1; printf "%s %s %.3f\n", k, a, ($3 - t) / 1e9 }
		 END { if (!f) printf "%s %s -1\n", k, a }' "$w"
	grep -c '^fail ' "$w" >"$OUT/fails.$kind.$RANDOM" || true
}
# agreed T0 K: seconds from T0 (ns) to the later of the two survivors'
# first log lines naming the same new leader in the same term
agreed() {
	local logs=() k
	for k in 1 2 3; do [ "$k" != "$2" ] && logs+=("$ST/store$k.log"); done
	python3 - "$1" "${logs[@]}" <<'PY'
import calendar, re, sys, time
t0 = int(sys.argv[1]) / 1e9
pat = re.compile(r"^(\S+)Z phalanx-store info: raft: (\S+) is (?:the leader|a \S+; the leader is (\S+) \()"
                 r".* in term (\d+)")
first = []
for path in sys.argv[2:]:
    seen = {}
    for l in open(path, errors="replace"):
        m = pat.match(l)
        if not m:
            continue
        d, frac = m.group(1).split(".")
        t = calendar.timegm(time.strptime(d, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000.0
        if t < t0:
            continue
        leader = m.group(3) or m.group(2)
        seen.setdefault((leader, int(m.group(4))), t)
    first.append(seen)
both = [(max(first[0][k], first[1][k]), k) for k in first[0] if k in first[1]]
if not both:
    sys.exit(1)
print("%.3f" % (min(both)[0] - t0))
PY
}

echo "store_failover_loadavg_before=$(loadavg)"
up 3
wait_until 20 has_leader || die "no leader: $(status_json | head -c 600)"

# ---- throughput ---------------------------------------------------------
# throughput LABEL K: NPROC phalanxctl processes, then N writes from one
# storewrite, and the store's own times from storeK's log
throughput() {
	local label=$1 k=$2 v0 t0 t1 s
	v0=$(store_version) || die "$label: no version"
	t0=$(now_ns)
	# shellcheck disable=SC2016 # the loop's own variables
	lab exec fw1 env PHALANX_STORE="$EPS" PHALANX_KEY="$ST/keys/admin.sec" \
		PHALANX_STORE_KEY="$(keyset)" bash -c '
		for ((i = 0; i < $2; i++)); do
			"$1" exceptions add "$3" "10.1.$((i / 250)).$((i % 250 + 1))" >/dev/null || exit 1
		done' _ "$BIN/phalanxctl" "$NPROC" "$SET" || die "$label: a phalanxctl add failed"
	t1=$(now_ns)
	client "$SET" "$next" "$N" >"$OUT/tp.$label" 2>"$OUT/tp.err" || die "$label: storewrite: $(tail -3 "$OUT/tp.err")"
	used "$OUT/tp.$label"
	s=$(tail -1 "$OUT/tp.$label")
	python3 - "$label" "$ST/store$k.log" "$v0" "$NPROC" "$t0" "$t1" "$s" "$N" <<'PY'
import re, sys
label, log, v0, nproc, t0, t1, summary, n = sys.argv[1:9]
v0, nproc, n = int(v0), int(nproc), int(n)
kv = dict(x.split("=") for x in summary.split())
timing = re.compile(r"version (\d+) timing: request (\S+): total (\d+) us")
raft = re.compile(r"raft entry \d+ \(request (\S+)\): committed and applied in (\d+) ms")
tot, reqs, rms = [], set(), {}
for l in open(log, errors="replace"):
    m = timing.search(l)
    if m and int(m.group(1)) > v0:
        tot.append(int(m.group(3)))
        reqs.add(m.group(2))
    m = raft.search(l)
    if m:
        rms[m.group(1)] = int(m.group(2))
def pct(v, p):
    v = sorted(v)
    return v[(len(v) - 1) * p // 100] if v else -1
if len(tot) != nproc + n:
    sys.exit("%s: %d timing lines in %s for %d writes" % (label, len(tot), log, nproc + n))
r = [rms[q] for q in reqs if q in rms]
print("store_tput_%s_phalanxctl_per_s=%.1f (%d processes, one add each)" %
      (label, nproc * 1e9 / (int(t1) - int(t0)), nproc))
print("store_tput_%s_one_process_per_s=%s (%s adds, latency p50 %s us, p99 %s us)" %
      (label, kv["per_s"], kv["writes"], kv["latency_p50_us"], kv["latency_p99_us"]))
print("store_tput_%s_timing_total_p50_us=%d" % (label, pct(tot, 50)))
print("store_tput_%s_timing_total_p99_us=%d" % (label, pct(tot, 99)))
if r:
    print("store_tput_%s_raft_commit_to_answer_p50_ms=%d (%d entries)" % (label, pct(r, 50), len(r)))
    print("store_tput_%s_raft_commit_to_answer_p99_ms=%d" % (label, pct(r, 99)))
PY
}
L=$(leader_name)
# not in a pipeline: throughput advances next
throughput three_stores "${L#store}" >"$OUT/tp3.kv" || exit 1
cat "$OUT/tp3.kv"
echo "store_tput_three_stores_loadavg=$(loadavg)"

# ---- failover ----------------------------------------------------------------
rounds=()
failed_rounds=0
for ((r = 1; r <= KILLS + FREEZES; r++)); do
	wait_until 20 has_leader || die "round $r: no leader: $(status_json | head -c 600)"
	L=$(leader_name)
	kind="kill"
	[ $r -gt "$KILLS" ] && kind=freeze
	res=$(one_round "$kind" "${L#store}") || exit 1
	used "$OUT/w.out" # here: one_round ran in a subshell
	read -r _ a b <<<"$res"
	echo "store_failover_round_$r=$kind $L: leader agreed after ${a}s, first write acknowledged after ${b}s"
	rounds+=("$res")
	# -1: not within the round's bounds (30 s for the write, 10 s for
	# the logs): a failed failover
	case "$a $b" in *-1*) failed_rounds=$((failed_rounds + 1)) ;; esac
done
printf '%s\n' "${rounds[@]}" | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
for kind in ("kill", "freeze"):
    a = sorted(float(r[1]) for r in rows if r[0] == kind)
    b = sorted(float(r[2]) for r in rows if r[0] == kind)
    if not a:
        continue
    p50 = lambda v: v[(len(v) - 1) // 2]
    print("store_failover_%s_runs=%d leader_p50_s=%.2f leader_max_s=%.2f write_p50_s=%.2f write_max_s=%.2f" %
          (kind, len(a), p50(a), a[-1], p50(b), b[-1]))'
echo "store_failover_client_failed_requests=$(cat "$OUT"/fails.* | awk '{ s += $1 } END { print s + 0 }') (storewrite requests that ended in an error and were sent again)"
echo "store_failover_loadavg_after=$(loadavg)"
lab down >/dev/null 2>&1

# ---- one store: the figure of today -----------------------------------------
up 1
wait_until 20 store_version || die "one store: no status"
throughput one_store 1 >"$OUT/tp1.kv" || exit 1
cat "$OUT/tp1.kv"
echo "store_tput_one_store_loadavg=$(loadavg)"
python3 - "$OUT/tp3.kv" "$OUT/tp1.kv" <<'PY'
import re, sys
def kv(path):
    d = {}
    for l in open(path):
        k, v = l.rstrip("\n").split("=", 1)
        d[re.sub(r"^store_tput_[a-z_]*?_stores?_", "", k)] = float(v.split()[0])
    return d
three, one = kv(sys.argv[1]), kv(sys.argv[2])
for k in ("phalanxctl_per_s", "one_process_per_s", "timing_total_p50_us", "timing_total_p99_us"):
    print("store_tput_ratio_three_over_one_%s=%.2f" % (k, three[k] / one[k]))
# the store's whole time for a write: with one store its timing total,
# with three the proposal-to-answer (ms)
print("store_tput_ratio_three_over_one_store_time_p50=%.2f (raft commit to answer / one store's total)" %
      (three["raft_commit_to_answer_p50_ms"] * 1000 / one["timing_total_p50_us"]))
print("store_tput_ratio_three_over_one_store_time_p99=%.2f" %
      (three["raft_commit_to_answer_p99_ms"] * 1000 / one["timing_total_p99_us"]))
PY
if [ "$failed_rounds" -gt 0 ]; then
	echo "store_failover_failed_rounds=$failed_rounds (no new leader in 10 s or no write acknowledged in 30 s)"
	exit 1
fi
