#!/usr/bin/env bash
# ctlstart.sh [N] - where one phalanxctl call's time goes (issue 8's
# --wait p99): N (100) times each, from a shell in the store's namespace
# of a one-member lab:
#   process:   `phalanxctl --help' (exec, dynamic loader, exit: no socket)
#              against /bin/true and an empty C program linked the same
#   steps:     build/ctlstart: keys, zmq setup, TCP + CURVE handshake (the
#              store's ZAP check included), one STATUS, close (ctlstart.c)
#   whole:     `phalanxctl status', the sum of the above as users see it
# key=value lines, p50/p99 ms; load average before and after.
set -u -o pipefail
cd "$(dirname "$0")/../.."
N=${1:-100}
export PHALANX_LAB_STATE=/run/phalanx-lab-bench-cs$$ PHALANX_LAB_PREFIX=pxs$$
LAB=tests/lab/lab
REPO=$PWD
BIN=${PHALANX_BIN_DIR:-$REPO/build}
tmp=$(mktemp -d /tmp/pxbench-ctlstart.XXXXXX)
trap '$LAB down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
pct() { python3 -c '
import math, sys
v = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
print("%.1f" % v[max(0, math.ceil(len(v) * float(sys.argv[2]) / 100) - 1)] if v else "none")' "$1" "$2"; }
# times NAME CMD...: N runs of CMD in the store's namespace, wall ms each.
times() {
	local name=$1
	shift
	$LAB exec store1 bash -c 'n=$1; shift; for ((i = 0; i < n; i++)); do t0=$EPOCHREALTIME
		"$@" >/dev/null 2>&1; echo "$t0 $EPOCHREALTIME"; done' _ "$N" "$@" |
		awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' >"$tmp/$name"
	echo "ctlstart_${name}_p50_ms=$(pct "$tmp/$name" 50)"
	echo "ctlstart_${name}_p99_ms=$(pct "$tmp/$name" 99)"
}
echo "ctlstart_loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
$LAB up --members 1 --stores 1 >/dev/null || exit 1
ep=$($LAB info | sed -n 's/^store_endpoint=//p')
keys=$PHALANX_LAB_STATE/keys
echo 'int main(void) { return 0; }' >"$tmp/empty.c"
cc -o "$tmp/empty_zmq" "$tmp/empty.c" -Wl,--no-as-needed $(pkg-config --libs libzmq libprotobuf-c) ||
	exit 1
times process_true /bin/true
times process_empty_linked_libzmq "$tmp/empty_zmq"
times process_phalanxctl_help "$BIN/phalanxctl" --help
if command -v perf >/dev/null; then
	perf stat -x, -e task-clock -r "$N" "$BIN/phalanxctl" --help 2>&1 >/dev/null |
		awk -F, '/task-clock/ { printf "ctlstart_process_phalanxctl_help_cpu_ms=%.1f\n", $1 }'
	perf stat -x, -e task-clock -r "$N" "$tmp/empty_zmq" 2>&1 >/dev/null |
		awk -F, '/task-clock/ { printf "ctlstart_process_empty_linked_libzmq_cpu_ms=%.1f\n", $1 }'
fi
$LAB exec store1 "$BIN/ctlstart" "$ep" "$keys/admin.sec" "$keys/store.pub" "$N" || exit 1
times phalanxctl_status "$BIN/phalanxctl" --store "$ep" status
echo "ctlstart_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)"
