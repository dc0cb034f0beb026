#!/usr/bin/env bash
# apply_one.sh - what one entry costs the member when its set holds 1M:
# flood-exceptions gets 1,000,000 hosts, then N single adds (default 5)
# with --wait; prints the member's own "applied version" lines (kernel,
# worker, cache and total times) and ctl's wall time per add.
# PHALANX_BIN_DIR=/work/main/build measures another build the same way.
set -u -o pipefail
cd "$(dirname "$0")/../.."
export PHALANX_LAB_STATE=${PHALANX_LAB_STATE:-/run/phalanx-lab-apply1-$$}
export PHALANX_LAB_PREFIX=${PHALANX_LAB_PREFIX:-pxa$$}
LAB=tests/lab/lab
N=${1:-5}
big=$(mktemp)
trap '$LAB down >/dev/null 2>&1; rm -f "$big"' EXIT
$LAB up --members 1 --stores 1 >/dev/null || exit 1
python3 - "$big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
$LAB ctl exceptions import flood-exceptions "$big" --timeout 120 --wait=300 >/dev/null || exit 1
sleep 5 # the import's cache write
for i in $(seq 1 "$N"); do
	t0=$(date +%s%N)
	$LAB ctl exceptions add flood-exceptions "192.0.2.$i" --wait=60 >/dev/null || exit 1
	t1=$(date +%s%N)
	echo "apply_one_add_$i ctl --wait ms=$(( (t1 - t0) / 1000000 ))"
done
sleep 1
grep "applied version" "$PHALANX_LAB_STATE/fw1.log" | tail -n "$N" | sed 's/^/apply_one member: /'
