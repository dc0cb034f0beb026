#!/usr/bin/env bash
# rss.sh [HOSTS] [SOURCES] - the member's anonymous memory (RssAnon of
# /proc/PID/status; LMDB's mapped pages are page cache, not counted)
# holding an exception set of HOSTS (1,000,000) entries while tracking
# SOURCES (100,000) sources: one half-open TCP connection from each,
# spoofed SYNs from client1 to the server through fw1 (synsrc.py, bounded
# at 120 s), which stay SYN_SENT in fw1's conntrack for 120 s.
# Prints RssAnon at each step, the member's smaps_rollup and what its
# quota table says it tracks; key=value lines, kB.  One-member lab of
# its own; PHALANX_BIN_DIR measures another build.
set -u -o pipefail
cd "$(dirname "$0")/../.."
HOSTS=${1:-1000000}
SOURCES=${2:-100000}
export PHALANX_LAB_STATE=/run/phalanx-lab-bench-rss$$ PHALANX_LAB_PREFIX=pxr$$
LAB=tests/lab/lab
big=$(mktemp)
trap '$LAB down >/dev/null 2>&1; rm -f "$big"' EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }
echo "rss_hosts=$HOSTS rss_sources=$SOURCES"
echo "rss_loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
$LAB up --members 1 --stores 1 >/dev/null || exit 1
pid=$(cat "$PHALANX_LAB_STATE/fw1.pid")
log=$PHALANX_LAB_STATE/fw1.log
anon() { sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status"; }
echo "rss_anon_up_kb=$(anon)"
python3 - "$big" "$HOSTS" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
$LAB ctl --timeout=120 exceptions import flood-exceptions "$big" --wait=600 >/dev/null ||
	{ echo "rss: import of $HOSTS hosts failed" >&2; exit 1; }
sleep 3 # the member's state written, its worker idle
echo "rss_anon_set_kb=$(anon)"
# Sources 100.64.0.0 + i (outside the set, 10.0.0.0/12, and the lab's
# nets), one SYN each.
t0=$(now_ms)
$LAB exec client1 python3 tests/bench/synsrc.py 203.0.113.100 443 100.64.0.0 "$SOURCES" 120 |
	sed 's/^/rss_synsrc_/; s/ / rss_synsrc_/g'
# The member reads conntrack's events as they come: wait (bounded) for
# its table to stop growing, then read.
prev=-1
for _ in $(seq 60); do
	cur=$(anon)
	[ "$cur" = "$prev" ] && break
	prev=$cur
	sleep 1
done
echo "rss_flood_to_steady_ms=$(($(now_ms) - t0))"
echo "rss_conntrack_entries=$($LAB exec fw1 conntrack -C 2>/dev/null)"
echo "rss_anon_set_and_sources_kb=$(anon)"
grep -E '^(Rss|Anonymous|Private_Dirty|Shared_Clean|Private_Clean)' "/proc/$pid/smaps_rollup" |
	awk '{ gsub(":", "", $1); printf "rss_smaps_%s_kb=%s\n", $1, $2 }'
echo "rss_vmhwm_kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")"
# ct.c logs when its table is full: how many sources it holds then.
full=$(grep "source table full" "$log" | tail -1)
# The table holds at most 65,536 sources (node/ct.c); a new one replaces
# the least recently active, so only a table of blocked or busy sources
# refuses one (this line).
echo "rss_quota_table_full_line=${full:-none (no source refused)}"
echo "rss_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)"
