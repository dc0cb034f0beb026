#!/usr/bin/env bash
# wait.sh [CHANGES] - how long `phalanxctl exceptions add --wait' of one
# entry takes, and how long the entry takes to be in every member's
# kernel (propagation), over CHANGES (200) changes each:
#   7 members, flood-exceptions empty
#   7 members, flood-exceptions holding 1,000,000 hosts
#   2 members, flood-exceptions empty
# One shell in the store's namespace sends the changes one after the
# other (phalanxctl each: process start and CURVE handshake included);
# in each member a `nftcount --watch' looks up the entry every 1 ms from
# before the request is sent, and notes when its kernel first holds it.
# Also from the store's log: how long each WAIT was held (arrival to
# answer, the part the members' acks decide), and the time from the
# store's commit to the last member's kernel (propagation without
# phalanxctl's start and handshake).  key=value lines; p50/p99 in ms.
# Runs its own lab per member count.
set -u -o pipefail
cd "$(dirname "$0")/../.."
N=${1:-200}
export PHALANX_LAB_STATE=/run/phalanx-lab-bench-$$ PHALANX_LAB_PREFIX=pxw$$
LAB=tests/lab/lab
REPO=$PWD
# PHALANX_BIN_DIR (as the lab takes it) measures another build.
BIN=${PHALANX_BIN_DIR:-$REPO/build}
SET=flood-exceptions
tmp=$(mktemp -d /tmp/pxbench-wait.XXXXXX)
watchers=()
cleanup() {
	local p
	for p in "${watchers[@]}"; do kill "$p" 2>/dev/null; done
	$LAB down >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE.
pct() { python3 -c '
import math, sys
v = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
print("%.1f" % v[max(0, math.ceil(len(v) * float(sys.argv[2]) / 100) - 1)] if v else "none")' "$1" "$2"; }

# run MEMBERS LABEL SECOND: N changes with --wait of hosts 172.SECOND.x.y
# (outside the 1M hosts, 10.0.0.0 .. 10.15.255.255); key=value lines.
run() {
	local m=$1 label=$2 k i
	for ((i = 0; i < N; i++)); do echo "172.$3.$(((i >> 8) & 255)).$((i & 255))"; done >"$tmp/addrs"
	for ((k = 1; k <= m; k++)); do
		rm -f "$tmp/in$k"
		mkfifo "$tmp/in$k"
		$LAB exec "fw$k" "$BIN/nftcount" phalanx "$SET.v4" --watch 10000 \
			<"$tmp/in$k" >"$tmp/seen$k.$label" 2>"$tmp/err$k" &
		watchers+=($!)
	done
	echo "${label}_loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
	mark=$(wc -l <"$PHALANX_LAB_STATE/store1.log")
	# The driver, in the store's namespace: each address goes to every
	# watcher first, then the request is sent.
	$LAB exec store1 bash -c '
		n=$1 ctl=$2 ep=$3 dir=$4 m=$5 set=$6
		for ((k = 1; k <= m; k++)); do eval "exec {fd$k}>$dir/in$k"; done
		while read -r a; do
			for ((k = 1; k <= m; k++)); do eval "echo \$a >&\$fd$k"; done
			t0=$EPOCHREALTIME
			out=$("$ctl" --store "$ep" exceptions add "$set" "$a" --wait=10 2>>"$dir/ctlerr") || echo "$a failed" >>"$dir/ctlerr"
			t1=$EPOCHREALTIME
			v=${out#version }
			echo "$a $t0 $t1 ${v%% *}"
		done <"$dir/addrs"' _ "$N" "$BIN/phalanxctl" "$(lab_kv store_endpoint)" "$tmp" "$m" "$SET" \
		>"$tmp/sent.$label"
	# The driver closed the FIFOs: each watcher ends after its last
	# address (at most its 10 s).
	wait "${watchers[@]}" 2>/dev/null
	watchers=()
	tail -n +"$((mark + 1))" "$PHALANX_LAB_STATE/store1.log" >"$tmp/store.$label"
	python3 - "$tmp" "$label" "$m" <<'PY' >"$tmp/res.$label"
import sys
d, label, m = sys.argv[1], sys.argv[2], int(sys.argv[3])
import datetime
sent, version = {}, {}
for line in open("%s/sent.%s" % (d, label)):
    f = line.split()
    sent[f[0]] = (float(f[1]), float(f[2]))
    if len(f) > 3 and f[3].isdigit():
        version[f[0]] = f[3]
# The store's commit of each version (its log's clock, ms): what the
# members were sent, without phalanxctl's start and handshake.
commit = {}
for line in open("%s/store.%s" % (d, label)):
    f = line.split()
    # 2026-11-29T19:11:48.080Z phalanx-store info: version 1 committed: ...
    if len(f) > 5 and f[3] == "version" and f[5] == "committed:":
        t = datetime.datetime.strptime(f[0], "%Y-%m-%dT%H:%M:%S.%fZ")
        commit[f[4]] = t.replace(tzinfo=datetime.timezone.utc).timestamp()
seen = {}
for k in range(1, m + 1):
    for line in open("%s/seen%d.%s" % (d, k, label)):
        f = line.split()
        if len(f) == 3 and f[1] == "yes":
            seen.setdefault(f[0], []).append(float(f[2]))
with open("%s/wait.%s" % (d, label), "w") as w, open("%s/prop.%s" % (d, label), "w") as p, \
     open("%s/cprop.%s" % (d, label), "w") as c:
    late = 0
    for a, (t0, t1) in sent.items():
        w.write("%.3f\n" % ((t1 - t0) * 1000))
        # --wait returned 0 at t1: every kernel held the entry then.  A
        # watcher that saw it later was not looking yet (the first ones,
        # while nftcount starts): not a sample.
        if len(seen.get(a, [])) == m and max(seen[a]) > t1:
            late += 1
        elif len(seen.get(a, [])) == m:
            p.write("%.3f\n" % ((max(seen[a]) - t0) * 1000))
            if commit.get(version.get(a)):
                c.write("%.3f\n" % ((max(seen[a]) - commit[version[a]]) * 1000))
missing = sum(1 for a in sent if len(seen.get(a, [])) != m)
print("%s_missing_in_some_kernel=%d" % (label, missing))
print("%s_watcher_not_yet_looking=%d" % (label, late))
PY
	sed -n 's/.*wait for version [0-9]* from .*: answered after \([0-9]*\) ms.*/\1/p' "$tmp/store.$label" >"$tmp/held.$label"
	echo "${label}_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "${label}_changes=$(grep -c . "$tmp/sent.$label")"
	echo "${label}_ctl_failures=$(cat "$tmp/ctlerr" 2>/dev/null | grep -c failed)"
	echo "${label}_add_wait_p50_ms=$(pct "$tmp/wait.$label" 50)"
	echo "${label}_add_wait_p99_ms=$(pct "$tmp/wait.$label" 99)"
	echo "${label}_store_held_p50_ms=$(pct "$tmp/held.$label" 50)"
	echo "${label}_store_held_p99_ms=$(pct "$tmp/held.$label" 99)"
	echo "${label}_propagation_p50_ms=$(pct "$tmp/prop.$label" 50)"
	echo "${label}_propagation_p99_ms=$(pct "$tmp/prop.$label" 99)"
	echo "${label}_commit_to_every_kernel_p50_ms=$(pct "$tmp/cprop.$label" 50)"
	echo "${label}_commit_to_every_kernel_p99_ms=$(pct "$tmp/cprop.$label" 99)"
	cat "$tmp/res.$label"
	rm -f "$tmp/ctlerr"
}

lab_kv() { $LAB info | sed -n "s/^$1=//p"; }

# The process alone: phalanxctl status from the same shell, 20 times.
baseline() {
	$LAB exec store1 bash -c 'for i in $(seq 20); do t0=$EPOCHREALTIME
		"$1" --store "$2" status >/dev/null; echo "$t0 $EPOCHREALTIME"; done' _ \
		"$BIN/phalanxctl" "$(lab_kv store_endpoint)" |
		awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' >"$tmp/base"
	echo "phalanxctl_status_p50_ms=$(pct "$tmp/base" 50)"
}

echo "wait_changes=$N one-entry adds with --wait=10, one after the other"
$LAB up --members 7 --stores 1 >/dev/null || exit 1
baseline
run 7 m7_empty 16
python3 - "$tmp/big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
t0=$(date +%s%N)
$LAB ctl --timeout 300 exceptions import $SET "$tmp/big" --wait=600 >/dev/null || { echo "import of 1M failed" >&2; exit 1; }
echo "m7_import_1m_wait_ms=$((($(date +%s%N) - t0) / 1000000))"
sleep 5 # the members' caches written, their loops quiet
run 7 m7_1m 17
$LAB down >/dev/null
$LAB up --members 2 --stores 1 >/dev/null || exit 1
run 2 m2_empty 16
