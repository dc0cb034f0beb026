#!/usr/bin/env bash
# import.sh [HOSTS] [ROUNDS] - `phalanxctl exceptions import' of HOSTS
# (1,000,000) IPv4 hosts into an empty flood-exceptions, with --wait until
# both members of a 2-member lab applied it, against the peer: `nft -f' of
# the same hosts into a set of a fresh table in a throwaway namespace.
# ROUNDS (1) interleaved rounds (nft first, then the import; the set is
# emptied between rounds, not timed).  Also from the logs: the store's own
# time for the version, each member's apply.  key=value lines, ms.
# PHALANX_BIN_DIR measures another build.
set -u -o pipefail
cd "$(dirname "$0")/../.."
HOSTS=${1:-1000000}
ROUNDS=${2:-1}
export PHALANX_LAB_STATE=/run/phalanx-lab-bench-imp$$ PHALANX_LAB_PREFIX=pxi$$
LAB=tests/lab/lab
ns=pxbench-imp$$
tmp=$(mktemp -d /tmp/pxbench-import.XXXXXX)
cleanup() {
	$LAB down >/dev/null 2>&1
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }
python3 - "$tmp" "$HOSTS" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
hosts = ["10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255) for i in range(n)]
with open(d + "/hosts", "w") as f:
    f.write("\n".join(hosts) + "\n")
# The peer loads the same set the member's kernel gets (a hash set of
# IPv4 addresses), one file, one nft process, parsing included.  The
# second peer declares a size as the member does (node/layout.h
# px_kset_capacity: n and half again): the kernel's fixed-size hash.
for name, size in (("peer", ""), ("peer_sized", "\t\tsize %d\n" % (n + n // 2))):
    with open(d + "/" + name + ".nft", "w") as f:
        f.write("table inet pxpeer {\n\tset flood-exceptions.v4 {\n"
                "\t\ttype ipv4_addr\n" + size + "\t\telements = {\n")
        f.write(",\n".join(hosts) + "\n\t\t}\n\t}\n}\n")
PY
: >"$tmp/empty"
echo "import_hosts=$HOSTS import_rounds=$ROUNDS members=2"
echo "import_loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
$LAB up --members 2 --stores 1 >/dev/null || exit 1
ctl() { $LAB ctl "$@"; }
# peer_ms FILE: nft -f FILE into a fresh namespace, ms.
peer_ms() {
	local t0
	ip netns add "$ns" || exit 1
	t0=$(now_ms)
	ip netns exec "$ns" nft -f "$1" || { echo "import: nft -f $1 failed" >&2; exit 1; }
	echo $(($(now_ms) - t0))
	ip netns del "$ns"
}
for r in $(seq "$ROUNDS"); do
	# (In a subshell: its exit ends only it; an empty result ends us.)
	nft_ms=$(peer_ms "$tmp/peer.nft") && [ -n "$nft_ms" ] || exit 1
	sized_ms=$(peer_ms "$tmp/peer_sized.nft") && [ -n "$sized_ms" ] || exit 1
	mark_s=$(wc -l <"$PHALANX_LAB_STATE/store1.log")
	mark_1=$(wc -l <"$PHALANX_LAB_STATE/fw1.log")
	mark_2=$(wc -l <"$PHALANX_LAB_STATE/fw2.log")
	t0=$(now_ms)
	out=$(ctl --timeout=300 exceptions import flood-exceptions "$tmp/hosts" --wait=600) ||
		{ echo "import: exceptions import failed: $out" >&2; exit 1; }
	imp_ms=$(($(now_ms) - t0))
	v=$(sed -n 's/^version \([0-9]*\).*/\1/p' <<<"$out")
	echo "import_round_$r nft_f_ms=$nft_ms nft_f_sized_ms=$sized_ms import_wait_ms=$imp_ms ratio=$(python3 -c "print('%.2f' % ($imp_ms / $nft_ms))") ratio_sized=$(python3 -c "print('%.2f' % ($imp_ms / $sized_ms))")"
	echo "$nft_ms $imp_ms $sized_ms" >>"$tmp/rounds"
	# The store's timing line and each member's apply of that version.
	tail -n +"$((mark_s + 1))" "$PHALANX_LAB_STATE/store1.log" |
		sed -n "s/.*version $v timing: \(.*\)/import_round_${r}_store: \1/p"
	for k in 1 2; do
		eval "m=\$mark_$k"
		tail -n +"$((m + 1))" "$PHALANX_LAB_STATE/fw$k.log" |
			sed -n "s/.*\(applied version $v: .*\)/import_round_${r}_fw$k: \1/p"
	done
	# Empty again for the next round (not timed).
	[ "$r" = "$ROUNDS" ] || ctl --timeout=300 exceptions import flood-exceptions "$tmp/empty" --wait=600 >/dev/null ||
		{ echo "import: emptying the set failed" >&2; exit 1; }
done
python3 - "$tmp/rounds" <<'PY'
import statistics, sys
r = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
n, i = statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)
z = statistics.median(x[2] for x in r)
print("import_nft_f_ms_median=%d" % n)
print("import_nft_f_sized_ms_median=%d" % z)
print("import_wait_ms_median=%d" % i)
print("import_ratio=%.2f (goal <= 0.6)" % (i / n))
print("import_ratio_sized=%.2f (against nft -f given the size the member gives)" % (i / z))
PY
echo "import_loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)"
