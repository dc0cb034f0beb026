#!/usr/bin/env bash
# setsize.sh - per-packet cost against exception-set size: the same
# connect storm through a member whose flood-exceptions set is empty, then
# holds 1,000,000 hosts and 100,000 prefixes (the storm's sources are in
# neither: every packet's tier dispatch is a lookup miss, the worst case).
# Prints key=value lines and the ratio; runs in its own lab.
set -u -o pipefail
cd "$(dirname "$0")/../.."
export PHALANX_LAB_STATE=/run/phalanx-lab-bench-$$ PHALANX_LAB_PREFIX=pxb$$
LAB=tests/lab/lab
trap '$LAB down >/dev/null 2>&1; rm -f "$big"' EXIT
big=$(mktemp)
$LAB up --members 1 --stores 1 >/dev/null || exit 1
ctl() { $LAB ctl "$@"; }
ctl limits set tcp-connect-rate 10000000 --wait=10 >/dev/null
ctl limits set tcp-concurrent 1000000 --wait=10 >/dev/null
srcs=$(for i in $(seq 2 21); do printf '198.51.100.%d,' "$i"; done)
storm() { # best of 5 runs: elapsed ms of 4000 connects, all established
	local best= i ms out
	for i in 1 2 3 4 5; do
		out=$($LAB exec client1 build/pxgen connect --dst 203.0.113.100 --port 443 \
			--count 4000 --parallel 200 --src "${srcs%,}" --timeout 60)
		# A SYN dropped by the server's full accept queue costs a 1 s
		# retransmission: such a run measures the server, not the member.
		[ "$(sed -n 's/^established=//p' <<<"$out")" = 4000 ] || continue
		ms=$(sed -n 's/^elapsed_ms=//p' <<<"$out")
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
	done
	echo "$best"
}
empty=$(storm)
python3 - "$big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
    for i in range(100000):
        f.write("%d.%d.%d.0/24\n" % (100 + (i >> 16), (i >> 8) & 255, i & 255))
PY
ctl exceptions import flood-exceptions "$big" --wait=300 >/dev/null || exit 1
sleep 5 # let the member finish writing its cache
full=$(storm)
echo "setsize_storm=4000 connects, 200 in parallel, 20 sources, best of 5 complete runs"
[ -n "$empty" ] && [ -n "$full" ] || { echo "setsize: no complete run" >&2; exit 1; }
echo "setsize_empty_ms=$empty"
echo "setsize_1m_hosts_100k_prefixes_ms=$full"
echo "setsize_ratio=$(python3 -c "print(round($full / $empty, 2))")"
