#!/usr/bin/env bash
# forward.sh - forwarding throughput through one member: iperf3 TCP, 4
# streams, client1 -> fw1 -> server, with the full policy (default limits,
# a tier of its own, rules, a service, flood-exceptions holding 1,000,000
# hosts) against the same member with no phalanx table.  Runs interleave
# (table, none, table, none, ...) so drift on a shared machine hits both;
# the ratio is of the medians, and the median of each round's own ratio
# is printed too (goal >= 0.95).
# iperf3's client and server run on CPU 0 (FORWARD_AFFINITY, iperf3's
# -A; empty: unpinned), so the forwarding, which the kernel does in the
# sender's context, is on that core too; on a 2-core machine an unpinned
# run lands its three parties differently each time and its throughput
# varies by 2x, more than the table costs.  A table round starts once
# the member has gone quiet after rebuilding its table (its CPU time
# still for a second; bounded: 30 s).
# A third leg in each round, the floor any stateful layout pays: the
# member stopped and a table of two rules in its place (`ct state
# invalid drop', `ct state established,related accept' in forward), so
# conntrack runs in fw1's namespace as it does under the full table; the
# no-table leg has no conntrack there at all.
#   tests/bench/forward.sh [ROUNDS=7] [SECONDS=5]
# PHALANX_BIN_DIR=/work/main/build measures another build the same way.
set -u -o pipefail
cd "$(dirname "$0")/../.."
export PHALANX_LAB_STATE=${PHALANX_LAB_STATE:-/run/phalanx-lab-fwd-$$}
export PHALANX_LAB_PREFIX=${PHALANX_LAB_PREFIX:-pxf$$}
LAB=tests/lab/lab
ROUNDS=${1:-7}
SECS=${2:-5}
AFF=${FORWARD_AFFINITY-0,0}
SRV=203.0.113.100
big=$(mktemp)
pidf=$PHALANX_LAB_STATE/iperf3.pid
trap '[ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null; $LAB down >/dev/null 2>&1; rm -f "$big"' EXIT
ctl() { $LAB ctl "$@"; }
$LAB up --members 1 --stores 1 >/dev/null || exit 1
python3 - "$big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
ctl exceptions import flood-exceptions "$big" --timeout 120 --wait=300 >/dev/null || exit 1
ctl exceptions create partners --wait=30 >/dev/null || exit 1
ctl exceptions add partners 192.0.2.128/25 --wait=30 >/dev/null || exit 1
ctl limits set tcp-connect-rate 6000 --set partners --wait=30 >/dev/null || exit 1
ctl rules add no-telnet --action deny --proto tcp --port 23 --wait=30 >/dev/null || exit 1
ctl rules add udp-echo --action allow --proto udp --dst $SRV --port 7 --rate 600/minute --wait=30 >/dev/null || exit 1
ctl services add web --dst $SRV --port 80 --limit 1000 --wait=30 >/dev/null || exit 1
sleep 5 # the import's cache write
$LAB exec server iperf3 -s -D --pidfile "$pidf" >/dev/null || exit 1
sleep 1

# Mbit/s received by the server over SECS, 4 streams; "" on failure.
run() {
	$LAB exec client1 iperf3 -c $SRV -P 4 -t "$SECS" ${AFF:+-A "$AFF"} -J 2>/dev/null |
		python3 -c 'import json,sys
try: print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6, 1))
except Exception: pass'
}
# The table back after a run without it: the member rebuilds it from its
# state when it starts; its log says so (bounded: 120 s).
table_back() {
	local i before log=$PHALANX_LAB_STATE/fw1.log
	before=$(grep -c 'applied version [0-9]* (rebuild)' "$log")
	$LAB start fw1 >/dev/null || return 1
	for ((i = 0; i < 240; i++)); do
		[ "$(grep -c 'applied version [0-9]* (rebuild)' "$log")" -gt "$before" ] && break
		sleep 0.5
	done
	((i < 240)) || return 1
	quiet
}
# Until fw1's member used under 2 clock ticks in a second (after a
# rebuild it writes its state and trims its heap for a few seconds).
quiet() {
	local i pid t0 t1
	pid=$(cat "$PHALANX_LAB_STATE/fw1.pid" 2>/dev/null) || return 0
	for ((i = 0; i < 30; i++)); do
		t0=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || return 0
		sleep 1
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || return 0
		((t1 - t0 < 2)) && return 0
	done
}
ctonly='table inet pxfwd_ct {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state invalid drop
		ct state established,related accept
	}
}'
with=() none=() ct=() ratios=() ctratios=()
quiet
for ((r = 1; r <= ROUNDS; r++)); do
	w=$(run)
	$LAB stop fw1 >/dev/null || exit 1
	$LAB exec fw1 nft delete table inet phalanx 2>/dev/null
	n=$(run)
	printf '%s\n' "$ctonly" | $LAB exec fw1 nft -f - || exit 1
	c=$(run)
	$LAB exec fw1 nft delete table inet pxfwd_ct || exit 1
	table_back || { echo "forward: fw1 did not rebuild its table" >&2; exit 1; }
	echo "forward_round_$r table_mbps=${w:-?} none_mbps=${n:-?} conntrack_only_mbps=${c:-?}"
	[ -n "$w" ] && with+=("$w")
	[ -n "$n" ] && none+=("$n")
	[ -n "$c" ] && ct+=("$c")
	[ -n "$w" ] && [ -n "$n" ] && ratios+=("$(python3 -c "print(round($w / $n, 3))")")
	[ -n "$c" ] && [ -n "$n" ] && ctratios+=("$(python3 -c "print(round($c / $n, 3))")")
done
[ ${#with[@]} -gt 0 ] && [ ${#none[@]} -gt 0 ] || { echo "forward: no complete run" >&2; exit 1; }
med() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mw=$(med "${with[@]}") mn=$(med "${none[@]}") mc=$(med "${ct[@]}")
echo "forward_setup=iperf3 TCP 4 streams ${SECS}s, client1 -> fw1 -> server, iperf3 -A ${AFF:-unpinned}, $ROUNDS interleaved rounds, medians"
echo "forward_table_mbps=$mw"
echo "forward_no_table_mbps=$mn"
echo "forward_ratio=$(python3 -c "print(round($mw / $mn, 2))")"
echo "forward_round_ratio_median=$(med "${ratios[@]}")"
[ ${#ct[@]} -gt 0 ] || exit 0
echo "forward_conntrack_only_mbps=$mc"
echo "forward_conntrack_only_ratio=$(python3 -c "print(round($mc / $mn, 2))")"
echo "forward_conntrack_only_round_ratio_median=$(med "${ctratios[@]}")"
