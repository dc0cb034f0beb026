#!/bin/bash
# nftload.sh - bulk-load benchmark: node/nft.c (build/nftload) against the
# peer, `nft -f`, each loading the same N addresses into a set of a fresh
# table inside a throwaway network namespace.
#
#   tests/bench/nftload.sh [N] [--prefixes]
#
# N defaults to 1,000,000 hosts, 100,000 with --prefixes (interval sets
# are counted back by a dump, which is quadratic: ~50 s for 1M ranges,
# and nftload counts three times).  Load times are wall time of the
# batch: nftload's as it measures it, nft's as a whole process (parsing
# included).  Prints key=value lines; exit status 0 if both loads
# succeeded and counted back N, 1 if not, 2 on usage.
set -u

usage() {
	echo "usage: $0 [N] [--prefixes]" >&2
	exit 2
}

n=
mode=
for arg in "$@"; do
	case $arg in
	--prefixes) mode=--prefixes ;;
	[0-9]*) n=$arg ;;
	*) usage ;;
	esac
done
if [ -z "$n" ]; then
	[ -n "$mode" ] && n=100000 || n=1000000
fi
case $n in *[!0-9]*) usage ;; esac

root=$(cd "$(dirname "$0")/../.." && pwd)
nftload=${NFTLOAD:-$root/build/nftload}
if [ "$(id -u)" != 0 ]; then
	echo "nftload.sh: needs root (network namespaces, nftables)" >&2
	exit 2
fi
if [ ! -x "$nftload" ]; then
	echo "nftload.sh: $nftload missing: run \`make build/nftload'" >&2
	exit 2
fi
for tool in ip nft awk; do
	if ! command -v $tool >/dev/null; then
		echo "nftload.sh: needs $tool" >&2
		exit 2
	fi
done

ns=pxbench-$$
tmp=$(mktemp -d /tmp/pxbench.XXXXXX)
cleanup() {
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns add "$ns" || exit 1

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# The same entries nftload generates (tests/bench/nftload.c, nth_entry):
# hosts 10.0.0.0 + i, prefixes 16.0.0.0 + 512 i /24.
if [ -n "$mode" ]; then
	kind=ipv4-prefixes
	kset=flood-exceptions.n4
	flags="flags interval"
else
	kind=ipv4-hosts
	kset=flood-exceptions.v4
	flags=
fi
awk -v n="$n" -v prefixes="$mode" -v kset="$kset" -v flags="$flags" 'BEGIN {
	printf "table inet pxpeer {\n\tset %s {\n\t\ttype ipv4_addr\n", kset
	if (flags != "")
		printf "\t\t%s\n", flags
	printf "\t\telements = {\n"
	for (i = 0; i < n; i++) {
		if (prefixes != "") {
			v = 16 * 16777216 + i * 512
			s = sprintf("%d.%d.%d.0/24", int(v / 16777216),
				    int(v / 65536) % 256, int(v / 256) % 256)
		} else {
			v = 10 * 16777216 + i
			s = sprintf("%d.%d.%d.%d", int(v / 16777216),
				    int(v / 65536) % 256, int(v / 256) % 256,
				    v % 256)
		}
		printf "%s%s\n", s, (i + 1 < n ? "," : "")
	}
	printf "\t\t}\n\t}\n}\n"
}' >"$tmp/peer.nft"

status=0

# Ours: rebuild, count, one add, one delete (see nftload.c).
if ip netns exec "$ns" "$nftload" "$n" $mode --table pxbench \
	>"$tmp/ours.txt"; then
	ours_ms=$(awk -F= '$1 == "load_ms" { print $2 }' "$tmp/ours.txt")
else
	status=1
	ours_ms=
fi
sed 's/^/nftload_/' "$tmp/ours.txt"

# The peer, timed the same way from outside.
rss=
t0=$(now_ms)
if [ -x /usr/bin/time ]; then
	ip netns exec "$ns" /usr/bin/time -f %M -o "$tmp/rss" \
		nft -f "$tmp/peer.nft"
	rc=$?
	rss=$(tail -n 1 "$tmp/rss")
else
	ip netns exec "$ns" nft -f "$tmp/peer.nft"
	rc=$?
fi
t1=$(now_ms)
if [ $rc -eq 0 ]; then
	nft_ms=$((t1 - t0))
	echo "nft_ms=$nft_ms"
	[ -n "$rss" ] && echo "nft_maxrss_kb=$rss"
	peer=$(ip netns exec "$ns" "$nftload" --count "$kset" --table pxpeer |
		awk -F= '$1 == "count" { print $2 }')
	echo "nft_count=$peer"
	[ "$peer" = "$n" ] || status=1
else
	status=1
	nft_ms=
fi

echo "entries=$n"
echo "kind=$kind"
if [ -n "$ours_ms" ] && [ -n "$nft_ms" ]; then
	awk -v a="$ours_ms" -v b="$nft_ms" 'BEGIN {
		printf "speedup=%.1f\n", (a > 0 ? b / a : 0)
	}'
fi
# A second peer for hosts: the same file with the size the member gives
# a hash set of n entries (node/layout.h px_kset_capacity: n and half
# again), so the kernel picks the same fixed-size hash for both.
if [ -z "$mode" ] && [ "$n" -ge 65536 ]; then
	ip netns exec "$ns" nft delete table inet pxpeer 2>/dev/null
	sed "s/^\t\ttype ipv4_addr\$/&\n\t\tsize $((n + n / 2))/" \
		"$tmp/peer.nft" >"$tmp/peer_sized.nft"
	t0=$(now_ms)
	if ip netns exec "$ns" nft -f "$tmp/peer_sized.nft"; then
		nft_sized_ms=$(($(now_ms) - t0))
		echo "nft_sized_ms=$nft_sized_ms"
		[ -n "$ours_ms" ] && awk -v a="$ours_ms" -v b="$nft_sized_ms" \
			'BEGIN { printf "speedup_sized=%.1f\n", (a > 0 ? b / a : 0) }'
	else
		status=1
	fi
fi
echo "result=$([ $status -eq 0 ] && echo ok || echo failed)"
exit $status
