#!/usr/bin/env bash
# Lab tests of issue 11 item 6, `--canary MEMBER' (one store, two
# members):
#   canary_healthy_released       exceptions add X --canary fw1
#                                 --canary-for 3: while phalanxctl waits,
#                                 X is in fw1's kernel and in no sample of
#                                 fw2's, and `pending' lists the canary;
#                                 phalanxctl exits 0 saying it was
#                                 released, and then X is in both kernels
#   canary_failed_apply_reverted  fw1's kernel refuses the version (its
#                                 table is held by another netlink
#                                 socket): phalanxctl exits 1 naming fw1
#                                 and why, and the revert's version; fw2
#                                 never had the entry in any sample while
#                                 phalanxctl waited; afterwards both
#                                 members are at the store's version and
#                                 the entry is in neither kernel
#   canary_member_restarted_holds fw2 restarted during a canary on fw1
#                                 takes a snapshot that holds the
#                                 canary's version: it waits (logged),
#                                 the entry in none of fw2's samples
#                                 until the release, then in both
#   canary_operator_json          an operator's canary (its role is the
#                                 write's; the wait for the verdict is a
#                                 read) with --json: one object saying
#                                 it was released
#   canary_refused_unknown_member --canary nope, and --canary naming a
#                                 member while another canary is in
#                                 progress: each exits 1 and the version
#                                 does not move
# Every wait is bounded polling.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
FE=flood-exceptions
KSET=$FE.v4
X=203.0.113.71
Y=203.0.113.72
Z=203.0.113.73
OUT=$PHALANX_LAB_STATE/canary.out

ver() { store_version; }
pending_json() { ctl --json pending 2>/dev/null; }
canary_pending() { # MEMBER: a canary on MEMBER is listed by `pending'
	pending_json | python3 -c '
import json, sys
sys.exit(0 if any(p.get("canary") == sys.argv[1] for p in json.load(sys.stdin)) else 1)' "$1"
}
# synced: every member up, healthy and at the store's version
synced() {
	ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
ms = d["members"]
ok = len(ms) == 2 and all(m["up"] and m["applied_version"] == d["version"] and
                          m.get("health", "ok") in ("ok", 0) for m in ms)
sys.exit(0 if ok else 1)'
}
# watch_fw2 PID ADDR VERSION: fw2's samples of ADDR while PID runs, and
# those taken before the store's verdict on VERSION (held_samples)
watch_fw2() { held_samples "$1" fw2 $KSET "$2" "$3"; }

if ! wait_until 20 synced; then
	fail setup "expected both members up at the store's version, saw $(ctl --json status | head -c 400)"
	exit 1
fi

# --- released -------------------------------------------------------------
t=canary_healthy_released
V0=$(ver)
ctl exceptions add $FE $X --canary fw1 --canary-for 3 >"$OUT" 2>&1 &
cpid=$!
fw1_had=no listed=no
wait_until 10 in_set fw1 $KSET $X && fw1_had=yes
canary_pending fw1 && listed=yes
read -r seen n < <(watch_fw2 $cpid $X $((V0 + 1)))
wait $cpid
rc=$?
both=no
wait_until 10 every_member in_set $KSET $X && both=yes
if [ $rc = 0 ] && [ $fw1_had = yes ] && [ "$seen" = 0 ] && [ "${n:-0}" -gt 1 ] &&
   [ $listed = yes ] && [ $both = yes ] &&
   grep -q "version $((V0 + 1)): canary fw1 healthy for 3 s: released to every member" "$OUT"; then
	pass $t
else
	fail $t "expected exit 0 saying version $((V0 + 1)) was released, X in fw1 while held and in none of fw2's samples, the canary in pending, then X in both; saw exit $rc, fw1 had it: $fw1_had, fw2 samples with it before the verdict: $seen of $n, pending listed it: $listed, in both after: $both, output: $(tr '\n' ' ' <"$OUT")"
	show_log fw2 10
fi

# --- failed apply, reverted ------------------------------------------------
t=canary_failed_apply_reverted
# A real refusal by fw1's kernel: its table inet phalanx is deleted and
# made again by another process with `flags owner' (`nft -i' keeps its
# netlink socket open, fed from a fifo).  The kernel then refuses every
# batch of fw1 that touches the table (EPERM), its rebuild included,
# until that socket closes and the table goes with it.
FIFO=$PHALANX_LAB_STATE/canary.fifo
rm -f "$FIFO"
mkfifo "$FIFO"
lab exec fw1 nft -i <"$FIFO" >"$PHALANX_LAB_STATE/canary.nft.out" 2>&1 &
nftpid=$!
exec 9>"$FIFO"
owned() { lab exec fw1 nft list table inet phalanx 2>/dev/null | grep -q "flags owner"; }
lab exec fw1 nft delete table inet phalanx
echo 'add table inet phalanx { flags owner; }' >&9
if ! wait_until 5 owned; then
	fail $t "expected fw1's table inet phalanx held with flags owner by our nft -i, saw: $(lab exec fw1 nft list table inet phalanx 2>&1 | head -3 | tr '\n' ' ')"
fi
V0=$(ver)
ctl exceptions add $FE $Y --canary fw1 --canary-for 3 >"$OUT" 2>&1 &
cpid=$!
read -r seen n < <(watch_fw2 $cpid $Y $((V0 + 1)))
wait $cpid
rc=$?
# Give the table back: fw1 rebuilds it from the store.
exec 9>&-
wait $nftpid
rm -f "$FIFO"
conv=no
wait_until 30 synced && conv=yes
V1=$(ver)
gone=yes
every_member in_set $KSET $Y && gone=no
in_set fw1 $KSET $Y && gone=no
in_set fw2 $KSET $Y && gone=no
keep=yes
every_member in_set $KSET $X || keep=no
if [ $rc = 1 ] && [ "$seen" = 0 ] && [ "${n:-0}" -gt 0 ] && [ $conv = yes ] &&
   [ $gone = yes ] && [ $keep = yes ] && [ "$V1" = $((V0 + 2)) ] &&
   grep -q "version $((V0 + 1)): canary fw1 failed: fw1 could not apply it: apply of version $((V0 + 1)) failed: .*; reverted as version $((V0 + 2))" "$OUT"; then
	pass $t
else
	fail $t "expected exit 1 naming fw1, its failed apply and the revert as version $((V0 + 2)), Y in none of fw2's samples, then both members synced at $((V0 + 2)) with Y in neither and X in both; saw exit $rc, fw2 samples with Y before the verdict: $seen of $n, synced: $conv at version $V1, Y gone: $gone, X kept: $keep, output: $(tr '\n' ' ' <"$OUT")"
	show_log fw1 10
	show_log store1 10
fi

# --- a member restarted while it holds ---------------------------------------
t=canary_member_restarted_holds
R=203.0.113.76
V0=$(ver)
ctl exceptions add $FE $R --canary fw1 --canary-for 8 >"$OUT" 2>&1 &
cpid=$!
fw1_had=no
wait_until 10 in_set fw1 $KSET $R && fw1_had=yes
# fw2 restarts from its state and asks the store for a snapshot, which
# holds the canary's version: it must wait like the change did.
lab stop fw2 >/dev/null 2>&1
lab start fw2 >/dev/null 2>&1
up2() { ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(m["member"] == "fw2" and m["up"] for m in d["members"]) else 1)'; }
wait_until 15 up2
read -r seen n < <(watch_fw2 $cpid $R $((V0 + 1)))
wait $cpid
rc=$?
both=no
wait_until 10 every_member in_set $KSET $R && both=yes
if [ $rc = 0 ] && [ $fw1_had = yes ] && [ "$seen" = 0 ] && [ "${n:-0}" -gt 1 ] &&
   [ $both = yes ] && grep -q "version $((V0 + 1)) (a snapshot): held until" "$PHALANX_LAB_STATE/fw2.log"; then
	pass $t
else
	fail $t "expected fw2, restarted while version $((V0 + 1)) was a canary on fw1, to hold its snapshot (logged) with R in none of its samples, then R in both after exit 0; saw exit $rc, fw1 had it: $fw1_had, fw2 samples with it before the verdict: $seen of $n, in both after: $both, output: $(tr '\n' ' ' <"$OUT")"
	show_log fw2 12
fi

# --- an operator's canary, --json ------------------------------------------
t=canary_operator_json
W4=203.0.113.75
V0=$(ver)
js=$(lab ctl-as operator --json exceptions add $FE $W4 --canary fw2 --canary-for 1 2>&1)
rc=$?
ok=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print("yes" if d == {"version": int(sys.argv[2]), "canary": "fw2", "released": True} else "no")' "$js" $((V0 + 1)) 2>/dev/null)
if [ $rc = 0 ] && [ "$ok" = yes ] && wait_until 10 every_member in_set $KSET $W4; then
	pass $t
else
	fail $t "expected an operator's --json canary on fw2 to exit 0 with {\"version\": $((V0 + 1)), \"canary\": \"fw2\", \"released\": true} and the entry in both kernels; saw exit $rc: $js"
fi

# --- refusals ---------------------------------------------------------------
t=canary_refused_unknown_member
V0=$(ver)
out1=$(ctl exceptions add $FE $Z --canary nope 2>&1)
rc1=$?
# A second canary while one is in progress (the first takes 20 s).
ctl exceptions add $FE $Z --canary fw1 --canary-for 20 >"$OUT" 2>&1 &
cpid=$!
wait_until 10 canary_pending fw1
V1=$(ver)
out2=$(ctl exceptions add $FE 203.0.113.74 --canary fw2 2>&1)
rc2=$?
V2=$(ver)
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
if [ $rc1 = 1 ] && [ "$V1" = $((V0 + 1)) ] && [ $rc2 = 1 ] && [ "$V2" = "$V1" ] &&
   echo "$out1" | grep -q "canary nope: no such member; nothing changed" &&
   echo "$out2" | grep -q "version $V1 is a canary on fw1 still: one at a time"; then
	pass $t
else
	fail $t "expected --canary nope refused (exit 1, version $V0 kept) and a second canary refused while version $((V0 + 1)) is one (exit 1, version kept); saw exit $rc1 at version $V1: $out1 / exit $rc2 at version $V2: $out2"
fi
