#!/usr/bin/env bash
# tests/bench/failover.sh [RUNS]: failover time over RUNS (default 10)
# crashes of the VRRP master in a 2-member lab: freeze -> first new
# connection through the virtual address that succeeds after the last one
# that failed (vclient opens one every 100 ms, 1 s timeout each,
# tests/lab/connprobe.py), and the new connections lost per failover.
# A crash is `lab freeze' plus `lab cut' of the client- and server-side
# links: a frozen member's kernel would go on forwarding for whoever still
# has its MAC address.  Prints one line per run, then p50/max.
# Anchors (issue 10): VRRPv3 1.0-1.6 s at 0.3-0.5 s adverts; CARP loses
# about 3 pings on a manual switch.
set -u -o pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-10}
case $RUNS in '' | *[!0-9]*) echo "failover.sh: RUNS: not a number: '$RUNS'" >&2; exit 2 ;; esac
export PHALANX_LAB_PREFIX=${PHALANX_LAB_PREFIX:-pxbf$$}
export PHALANX_LAB_STATE=${PHALANX_LAB_STATE:-/run/phalanx-lab-bench-$$}
LAB=tests/lab/lab
trap '"$LAB" down >/dev/null 2>&1' EXIT
"$LAB" up --members 2 --stores 1 >/dev/null || { echo "failover.sh: lab up failed" >&2; exit 1; }
info=$("$LAB" info)
read -r -a VC <<<"$(sed -n 's/^vclient_ips=//p' <<<"$info")"
srcs=$(IFS=,; echo "${VC[*]}")
out=$PHALANX_LAB_STATE/probe.out
results=()
for ((r = 1; r <= RUNS; r++)); do
	m=$("$LAB" master) || { echo "run $r: no master" >&2; exit 1; }
	ready=$PHALANX_LAB_STATE/probe.ready
	rm -f "$ready"
	"$LAB" exec vclient python3 tests/lab/connprobe.py 203.0.113.100 443 60 "$srcs" "$ready" >"$out" 2>&1 &
	probe=$!
	for ((i = 0; i < 100; i++)); do [ -e "$ready" ] && break; sleep 0.1; done
	sleep 1
	"$LAB" freeze "$m"
	"$LAB" cut "$m" vcli srv
	tf=$(date +%s.%N)
	wait $probe
	line=$(python3 - "$tf" "$out" <<'PY'
import sys
tf = float(sys.argv[1])
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
rows = [(float(a), float(b), ok == "ok") for a, b, ok in rows]
fails = [i for i, r in enumerate(rows) if not r[2]]
i = fails[-1] + 1 if fails else 0
while i < len(rows) and rows[i][0] < tf:
    i += 1
lost = sum(1 for r in rows if not r[2])
print("%.3f %d" % ((rows[i][1] - tf) if i < len(rows) else -1, lost))
PY
)
	read -r secs lost <<<"$line"
	echo "run $r: froze $m, first new connection after ${secs}s, $lost of 60 new connections lost"
	results+=("$secs $lost")
	"$LAB" heal "$m" vcli srv
	"$LAB" thaw "$m"
	# the thawed member is at fault for the gate's resume hold, then backup
	for ((i = 0; i < 100; i++)); do
		read -r st _ <"$PHALANX_LAB_STATE/$m/vrrp.state" 2>/dev/null
		[ "${st:-}" = BACKUP ] && break
		sleep 0.1
	done
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
t = sorted(float(a) for a, _ in rows)
lost = sorted(int(b) for _, b in rows)
p50 = t[(len(t) - 1) // 2]
print("failover_runs=%d p50_s=%.2f max_s=%.2f lost_p50=%d lost_max=%d" % (len(t), p50, t[-1], lost[(len(lost) - 1) // 2], lost[-1]))'
