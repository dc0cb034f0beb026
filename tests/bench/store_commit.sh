#!/usr/bin/env bash
# store_commit.sh [N] - the store's own cost of one small write to a big
# set: flood-exceptions holds 1,000,000 hosts, then N (default 200)
# single adds, one request each.  The store logs each write's timing
# (store/ops.c "version V timing: ... without the fsync U us (validate,
# write, apply and delta)"); this prints their p50/p99 as key=value lines,
# with the fsync (LMDB's commit) apart: it is the disk's, not the code's.
# Runs in its own lab (one member, so the change is also published).
set -u -o pipefail
cd "$(dirname "$0")/../.."
N=${1:-200}
export PHALANX_LAB_STATE=/run/phalanx-lab-bench-sc$$ PHALANX_LAB_PREFIX=pxc$$
LAB=tests/lab/lab
big=$(mktemp)
trap '$LAB down >/dev/null 2>&1; rm -f "$big"' EXIT
$LAB up --members 1 --stores 1 >/dev/null || exit 1
ctl() { $LAB ctl "$@"; }
python3 - "$big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
ctl --timeout=120 exceptions import flood-exceptions "$big" --wait=300 >/dev/null || exit 1
v0=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
for i in $(seq 1 "$N"); do
	ctl exceptions add flood-exceptions "192.0.$(( i / 250 + 2 )).$(( i % 250 + 1 ))" >/dev/null ||
		{ echo "store_commit: add $i failed" >&2; exit 1; }
done
python3 - "$PHALANX_LAB_STATE/store1.log" "$v0" "$N" <<'PY'
import re, sys
log, v0, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pat = re.compile(r"version (\d+) timing: request \S+: total (\d+) us, without "
                 r"the fsync (\d+) us \(validate (\d+), write (\d+), apply and delta (\d+)\)")
rows = []
for line in open(log):
    m = pat.search(line)
    if m and int(m.group(1)) > v0:
        rows.append([int(x) for x in m.groups()[1:]])
if len(rows) != n:
    sys.exit("store_commit: %d timing lines for %d adds" % (len(rows), n))
def pct(col, p):
    v = sorted(r[col] for r in rows)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
print("store_commit_set=1000000 hosts, %d single adds, one request each" % n)
for name, col in (("no_fsync", 1), ("validate", 2), ("write", 3),
                  ("apply", 4), ("with_fsync", 0)):
    print("store_commit_%s_p50_us=%d" % (name, pct(col, 50)))
    print("store_commit_%s_p99_us=%d" % (name, pct(col, 99)))
PY
