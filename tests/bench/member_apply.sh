#!/usr/bin/env bash
# member_apply.sh [HOSTS] [ROUNDS] [OTHER_BIN_DIR] - one member's apply of
# an import of HOSTS (1,000,000) IPv4 hosts into an empty set: the kernel
# batch, the whole worker (assembly, kernel, state) and the state's write,
# from the member's log, in a one-member lab of its own per round (one
# member: the machine's second core is free for the state's thread).  With
# OTHER_BIN_DIR, each round runs that build too, interleaved, as the peer.
# key=value lines, ms.
set -u -o pipefail
cd "$(dirname "$0")/../.."
HOSTS=${1:-1000000}
ROUNDS=${2:-1}
OTHER=${3:-}
export PHALANX_LAB_STATE=/run/phalanx-lab-bench-apply$$ PHALANX_LAB_PREFIX=pxm$$
LAB=tests/lab/lab
big=$(mktemp)
trap '$LAB down >/dev/null 2>&1; rm -f "$big"' EXIT
python3 - "$big" "$HOSTS" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
echo "member_apply_hosts=$HOSTS rounds=$ROUNDS loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
# one LABEL [BIN_DIR]: a lab, the import, the member's figures
one() {
	local label=$1 log line state
	if [ -n "${2:-}" ]; then export PHALANX_BIN_DIR=$2; else unset PHALANX_BIN_DIR; fi
	$LAB up --members 1 --stores 1 >/dev/null || { echo "${label}_error=lab up failed"; return; }
	$LAB ctl exceptions import flood-exceptions "$big" --timeout 120 --wait=300 >/dev/null ||
		echo "${label}_error=import failed"
	log=$PHALANX_LAB_STATE/fw1.log
	line=$(grep -o "applied version [0-9]*: +$HOSTS .*" "$log" | head -1)
	state=$(grep -o 'state: version [0-9]* written (all).*' "$log" | tail -1)
	echo "${label}_kernel_ms=$(sed -n 's/.* bytes, \([0-9.]*\) ms (worker.*/\1/p' <<<"$line")" \
	     "worker_ms=$(sed -n 's/.*(worker \([0-9.]*\) ms.*/\1/p' <<<"$line")" \
	     "state_ms=$(sed -n 's/.* records, \([0-9.]*\) ms.*/\1/p' <<<"$state")"
	$LAB down >/dev/null 2>&1
}
for ((r = 1; r <= ROUNDS; r++)); do
	one "round_${r}_this"
	[ -n "$OTHER" ] && one "round_${r}_other" "$OTHER"
done
echo "member_apply_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)"
