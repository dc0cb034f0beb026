#!/usr/bin/env bash
# Lab tests of the store's integrity (issue 7, store side): a write the
# database refuses is answered as an error and changes nothing, here or
# on any member; destroying a set publishes a well-formed change; an
# oversized request is refused before the store does the work.
# The store runs with a 2 MB map (PHALANX_STORE_ARGS), which must serve
# normally until it is full.
set -u -o pipefail
export PHALANX_STORE_ARGS="${PHALANX_STORE_ARGS:-} --map-size 2"
. "$(dirname "$0")/testlib.sh"
lab_setup 2
S=integ
TMP=$(mktemp -d /tmp/t_store_integrity.XXXXXX)
trap 'rm -rf "$TMP"; lab_teardown' EXIT

# every_kcount KSET: "fw1=N fw2=M"
every_kcount() {
	local k out=
	for ((k = 1; k <= MEMBERS; k++)); do out="$out fw$k=$(kset_count fw$k "$1")"; done
	echo "${out# }"
}
set_count() {
	ctl --json status | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(next((s["count"] for s in d.get("sets",[]) if s["name"]==sys.argv[1]), "none"))' "$1"
}
snap_requests() { grep -c "requesting a snapshot" "$PHALANX_LAB_STATE/$1.log"; }
every_snap_requests() {
	local k out=
	for ((k = 1; k <= MEMBERS; k++)); do out="$out fw$k=$(snap_requests fw$k)"; done
	echo "${out# }"
}
no_kset() { ! lab exec "$1" nft list set inet phalanx "$2" >/dev/null 2>&1; }
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
store_pid() { cat "$PHALANX_LAB_STATE/store1.pid"; }
# addrs N FIRST_OCTET: N distinct IPv4 host addresses, one a line.
addrs() {
	python3 -c '
import sys
n, a = int(sys.argv[1]), int(sys.argv[2])
w = sys.stdout.write
for i in range(n):
    w("%d.%d.%d.%d\n" % (a + (i >> 24), (i >> 16) & 255, (i >> 8) & 255, i & 255))' "$1" "$2"
}

# --- a 2 MB map serves: create, add, reach every member ---------------------
t=small_map_serves_writes
ctl exceptions create $S >/dev/null
addrs 500 10 >"$TMP/500"
if ctl exceptions import $S "$TMP/500" --wait=20 >/dev/null &&
   wait_until 10 every_member has_elem $S.v4 10.0.1.243; then
	pass $t
else
	fail $t "import of 500 entries with --map-size 2 did not reach every member"
	show_log store1
fi
v0=$(store_version)
k0=$(every_kcount $S.v4)

# --- map full: refused, named, nothing changed anywhere ---------------------
t=map_full_import_refused_and_named
addrs 100000 20 >"$TMP/100k"
msg=$(ctl exceptions import $S "$TMP/100k" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qi "database full" <<<"$msg" && grep -q -- "--map-size" <<<"$msg"; then
	pass $t
else
	fail $t "expected exit 1 saying 'database full: raise --map-size', saw exit $rc: $msg"
fi

t=map_full_version_unchanged
v1=$(store_version)
c1=$(set_count $S)
if [ "$v1" = "$v0" ] && [ "$c1" = 500 ]; then pass $t
else fail $t "expected version $v0 and 500 entries in $S, saw version $v1 and $c1"; fi

t=map_full_every_member_kernel_unchanged
# A published version would reach the members within a second or two:
# give it time to, then look.
sleep 2
k1=$(every_kcount $S.v4)
if [ "$k1" = "$k0" ] && ! every_member has_elem $S.v4 20.0.0.7; then pass $t
else fail $t "expected kernel $S.v4 counts '$k0' without 20.0.0.7, saw '$k1'"; fi

t=map_full_restart_same_version_and_contents
lab stop store1 >/dev/null
lab start store1 >/dev/null
v2=$(store_version); c2=$(set_count $S)
# What the store answered before the restart is what it kept.
if [ "$v2" = "$v1" ] && [ "$c2" = "$c1" ] && [ "$v2" = "$v0" ] && [ "$c2" = 500 ]; then pass $t
else fail $t "after a restart expected version $v1 with $c1 entries as before it (and $v0 with 500), saw version $v2 with $c2"; fi

t=map_full_smaller_writes_keep_working
if ctl exceptions add $S 192.0.2.51 --wait=20 >/dev/null &&
   wait_until 10 every_member has_elem $S.v4 192.0.2.51 &&
   [ "$(store_version)" = $((v0 + 1)) ]; then
	pass $t
else
	fail $t "expected add of 192.0.2.51 as version $((v0 + 1)) on every member, saw version $(store_version), kernel $(every_kcount $S.v4)"
	show_log store1
fi

# --- destroy: a clean change, no resnapshot, gone from every kernel -----------
t=destroy_no_resnapshot_set_gone_everywhere
ctl exceptions create delta >/dev/null
ctl exceptions add delta 192.0.2.77 --wait=20 >/dev/null
wait_until 10 every_member has_elem delta.v4 192.0.2.77
s0=$(every_snap_requests)
out=$(ctl exceptions destroy delta --wait=20 2>&1); rc=$?
gone=no
wait_until 10 every_member no_kset delta.v4 && gone=yes
# A member that rejects the change asks for a snapshot right away; give it
# a moment to show up in the log before comparing.
sleep 1
s1=$(every_snap_requests)
if [ $rc -eq 0 ] && [ $gone = yes ] && [ "$s1" = "$s0" ]; then pass $t
else
	fail $t "expected destroy to apply with snapshot requests unchanged ($s0) and delta.v4 gone; saw exit $rc ($out), gone=$gone, requests $s1"
	show_log fw1 5
fi

# --- oversized: refused before the work, memory bounded ------------------------
# Measured from the store's peak RSS (VmHWM): the biggest first, so that
# each starts from a low peak.
pid=$(store_pid)
vb=$(store_version)
t=over_ctl_message_size_never_decoded
# 5,500,000 IPv4 entries: 44 MB on the wire, over the ctl socket's 41 MiB
# (what the largest legal request, a whole set of IPv6 prefixes, needs):
# phalanxctl names the size and sends nothing; were it sent, libzmq would
# drop it before the store reads it, so the store's memory does not move.
addrs 5500000 40 >"$TMP/huge"
rss0=$(proc_kb "$pid" VmRSS); hwm0=$(proc_kb "$pid" VmHWM)
t0=$(date +%s%N)
msg=$(ctl --timeout 10 exceptions import $S "$TMP/huge" 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rss1=$(proc_kb "$pid" VmRSS); hwm1=$(proc_kb "$pid" VmHWM)
echo "    store VmRSS ${rss0} kB -> ${rss1} kB, VmHWM ${hwm0} kB -> ${hwm1} kB, answer in ${ms} ms"
grow=$(( (hwm1 - hwm0) / 1024 ))
if [ $rc -eq 1 ] && grep -q "over the [0-9]* bytes a store takes in one request.*nothing was sent" <<<"$msg" &&
   [ $grow -lt 20 ] && [ "$(store_version)" = "$vb" ] && [ "$(set_count $S)" = 501 ]; then
	pass "$t (refused by phalanxctl in $ms ms)"
else
	fail $t "expected exit 1 naming the request's size and the limit, peak RSS growth under 20 MB, version $vb and the store still answering; saw exit $rc ($msg), growth $grow MB, version $(store_version)"
fi

t=oversized_import_refused_quickly_rss_bounded
addrs 2000001 30 >"$TMP/big"
rss0=$(proc_kb "$pid" VmRSS); hwm0=$(proc_kb "$pid" VmHWM)
t0=$(date +%s%N)
msg=$(ctl --timeout 60 exceptions import $S "$TMP/big" 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rss1=$(proc_kb "$pid" VmRSS); hwm1=$(proc_kb "$pid" VmHWM)
echo "    store VmRSS ${rss0} kB -> ${rss1} kB, VmHWM ${hwm0} kB -> ${hwm1} kB, answer in ${ms} ms"
# Decoding the request (in lib/wire.c, before the store sees it) is all
# the work a refusal may cost: the message is 2,000,001 * 8 bytes = 16 MB
# and protobuf-c's decode of it (an array of 16-byte descriptors and one
# allocation an entry) about 150 MB more.  Nothing after the decode may
# add to that peak (decoding the entries, copying the policy, sorting:
# what the store did before refusing, 190 MB).
grow=$(( (hwm1 - hwm0) / 1024 ))
if [ $rc -eq 1 ] && grep -q "entries in one request, a set holds at most 2000000" <<<"$msg" &&
   [ $grow -lt 180 ] && [ $ms -lt 30000 ] && [ "$(store_version)" = "$vb" ]; then
	pass $t
else
	fail $t "expected exit 1 naming the request's count and the cap 2000000 within 30 s, peak RSS growth under 180 MB, version $vb; saw exit $rc ($msg) after $ms ms, growth $grow MB, version $(store_version)"
fi

