#!/usr/bin/env bash
# Lab tests of member failover (issue 10): keepalived (VRRPv3, one sync
# group, nopreempt) moves the virtual addresses, conntrackd (FTFW) carries
# the connection states, phalanx-node's readiness gate decides who may
# hold the addresses.  The shared client segment vclient reaches the
# server only through the virtual addresses.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
SRV=203.0.113.100
info=$(lab info)
ival() { sed -n "s/^$1=//p" <<<"$info" | head -1; }
STATE=$(ival state_dir)
read -r -a VC <<<"$(ival vclient_ips)"
prefix=$(ival prefix)
other() { [ "$1" = fw1 ] && echo fw2 || echo fw1; }
role_of() { local s; read -r s _ <"$STATE/$1/vrrp.state" 2>/dev/null; echo "${s:-none}"; }
prio_of() { local s p; read -r s p <"$STATE/$1/vrrp.state.client" 2>/dev/null; echo "${p:-none}"; }

# --- the engines are Debian's keepalived and conntrackd, one set per member ---
t=keepalived_and_conntrackd_run_in_every_member
bad=
for k in 1 2; do
	for prog in keepalived conntrackd; do
		found=0
		for p in $(pidof $prog); do
			[ "$(ip netns identify "$p" 2>/dev/null)" = "$prefix-fw$k" ] && found=1
		done
		[ $found = 1 ] || bad+=" fw$k:$prog"
	done
done
if [ -z "$bad" ]; then pass $t
else fail $t "a keepalived and a conntrackd in each member namespace, missing:$bad"; fi

# --- freeze the master while vclient holds a connection and opens new ones ---
PROBE=$REPO/tests/lab/connprobe.py

t=freeze_master_new_connections_through_another_member_within_3s
m0=$(lab master)
ready=$(mktemp -u) until=$(mktemp -u)
gen vclient hold --dst $SRV --port 443 --count 2 --src "${VC[0]},${VC[1]}" --check-every-ms 200 \
	--ready-file "$ready" --until-file "$until" --timeout 60 >"$STATE/hold.out" &
hold=$!
wait_until 10 test -e "$ready"
srcs=$(IFS=,; echo "${VC[*]:2}")
pready=$(mktemp -u)
lab exec vclient python3 "$PROBE" $SRV 443 80 "$srcs" "$pready" >"$STATE/probe.out" 2>&1 &
probe=$!
wait_until 10 test -e "$pready"
sleep 1
lab freeze "$m0"
tf=$(date +%s.%N) # every process of the master is stopped from here on
wait $probe
rm -f "$pready"
m1=$(lab master 2>/dev/null)
# The frozen master's kernel still forwards until the new master's
# gratuitous ARPs move the neighbours, so attempts may succeed right after
# the freeze and one may fail in the switch.  "Within 3 s": from the first
# attempt that succeeds after the last failure on, every one succeeds,
# and that one's answer comes within 3 s of the freeze.
verdict=$(python3 - "$tf" "$STATE/probe.out" <<'PY'
import sys
tf = float(sys.argv[1])
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
rows = [(float(a), float(b), ok == "ok") for a, b, ok in rows]
before = [r for r in rows if r[1] < tf]
lost_before = sum(1 for r in before if not r[2])
fails = [i for i, r in enumerate(rows) if not r[2]]
start = fails[-1] + 1 if fails else 0
while start < len(rows) and rows[start][0] < tf:
    start += 1
settled = rows[start][1] - tf if start < len(rows) else -1
lost = sum(1 for r in rows if not r[2] and r[1] >= tf)
print("attempts=%d before_ok=%d/%d settled_after_s=%.2f failed_after_freeze=%d" % (
    len(rows), len(before) - lost_before, len(before), settled, lost))
sys.exit(0 if rows and lost_before == 0 and 0 <= settled <= 3.0 and len(rows) - start >= 10 else 1)
PY
)
vrc=$?
if [ $vrc = 0 ] && [ -n "$m1" ] && [ "$m1" != "$m0" ]; then pass "$t ($m0 -> $m1: $verdict)"
else fail $t "master $m0 frozen: new connections through ${m1:-nobody} succeeding from within 3 s on (10 or more), saw $verdict"
	show_log "${m1:-$(other "$m0")}-keepalived" 6; fi

t=freeze_master_held_connection_still_carries_data
sleep 1
touch "$until"
wait $hold
h=$(cat "$STATE/hold.out")
if [ "$(kv alive_at_end <<<"$h")" = 2 ] && [ "$(kv died <<<"$h")" = 0 ]; then pass $t
else fail $t "2 held connections alive after the failover, saw alive_at_end=$(kv alive_at_end <<<"$h") died=$(kv died <<<"$h") missed_checks=$(kv missed_checks <<<"$h")"
	lab exec "$m1" conntrack -L -p tcp --dport 443 2>/dev/null | head -5 | sed 's/^/    /'; fi

# --- thaw: the old master comes back as backup, nopreempt: no second switch ---
# The frozen keepalived never gave up the virtual addresses; thawed, it
# holds them beside $m1 until it reads $m1's adverts (README, Failover:
# the known limit of a thaw), so a sample of the first second may show
# both.  No second switch: $m1 holds them in every sample, alone from
# the first second on.
t=thaw_nopreempt_no_second_switch
lab thaw "$m0"
masters=
for ((i = 0; i < 30; i++)); do # 6 s: past the gate's resume hold (3 s)
	masters+=" $(lab master 2>/dev/null | tr ' ' '+')"
	sleep 0.2
done
if wait_until 5 sh -c "[ \"\$(read -r s _ <'$STATE/$m0/vrrp.state'; echo \$s)\" = BACKUP ]" &&
   [ -z "$(tr ' ' '\n' <<<"$masters" | grep . | grep -Evx "$m1|$m1\+$m0|$m0\+$m1")" ] &&
   [ -z "$(tr ' ' '\n' <<<"$masters" | grep . | tail -n +6 | grep -vx "$m1")" ]; then pass $t
else fail $t "$m1 master throughout and $m0 BACKUP after thaw, saw masters:$(tr ' ' '\n' <<<"$masters" | uniq -c | tr -s ' \n' ' '), $m0 $(role_of "$m0")"
	show_log "$m0-keepalived" 6; show_log "$m0" 4; fi
rm -f "$until" "$ready"

# --- a member restarted with a stale policy does not take the addresses ---
t=stale_member_does_not_take_addresses_from_current
cur=$m1 stale=$m0
for d in "$stale-keepalived" "$stale-conntrackd" "$stale"; do lab stop "$d" >/dev/null; done
lab cut "$stale" mgmt                       # the store is unreachable from it
v0=$(store_version)
ctl exceptions add flood-exceptions 198.51.100.9 --wait=10 >/dev/null 2>&1
v1=$(store_version)
for d in "$stale" "$stale-conntrackd" "$stale-keepalived"; do lab start "$d" >/dev/null; done
# the gate gives up on the store after --store-timeout (3 s): stale, not fault
wait_until 10 sh -c "[ \"\$(cat '$STATE/$stale/vrrp.stale')\" = 1 ] && [ \"\$(cat '$STATE/$stale/vrrp.ready')\" = 0 ]"
masters=
for ((i = 0; i < 15; i++)); do masters+=" $(lab master 2>/dev/null | tr ' ' '+')"; sleep 0.2; done
ps=$(prio_of "$stale") pc=$(prio_of "$cur")
if [ "$v1" -gt "$v0" ] && [ "$(role_of "$stale")" = BACKUP ] && [ "$ps" != none ] && [ "$pc" != none ] &&
   [ "$ps" -lt "$pc" ] && [ -z "$(tr ' ' '\n' <<<"$masters" | grep -vx "$cur" | grep .)" ]; then pass $t
else fail $t "stale $stale (cache v$v0, store v$v1) BACKUP at a priority below $cur's and $cur master throughout, saw $stale $(role_of "$stale") priority $ps, $cur priority $pc, masters:$(tr ' ' '\n' <<<"$masters" | uniq -c | tr -s ' \n' ' ')"
	show_log "$stale" 6; fi

t=stale_member_current_again_after_the_store_returns
lab heal "$stale" mgmt
if wait_until 15 sh -c "[ \"\$(cat '$STATE/$stale/vrrp.stale')\" = 0 ] && [ \"\$(cat '$STATE/$stale/vrrp.ready')\" = 0 ]" &&
   wait_until 5 sh -c "[ \"\$(read -r s p <'$STATE/$stale/vrrp.state.client'; echo \$p)\" = \"$pc\" ]" &&
   [ "$(lab master)" = "$cur" ]; then pass $t
else fail $t "$stale current (track files 0/0, priority $pc) with $cur still master, saw ready=$(cat "$STATE/$stale/vrrp.ready") stale=$(cat "$STATE/$stale/vrrp.stale") priority $(prio_of "$stale"), master $(lab master 2>&1)"
	show_log "$stale" 6; fi
# --- planned failover: drain the master, nothing is lost ---
t=drain_master_held_connection_survives_no_new_connection_fails
m0=$(lab master)
ready=$(mktemp -u) until=$(mktemp -u)
gen vclient hold --dst $SRV --port 443 --count 2 --src "${VC[0]},${VC[1]}" --check-every-ms 200 \
	--ready-file "$ready" --until-file "$until" --timeout 60 >"$STATE/hold.out" &
hold=$!
wait_until 10 test -e "$ready"
pready=$(mktemp -u)
# a planned switch may cost a SYN that arrives as the address moves its
# retransmit (1 s later): the connection still opens; one that does not
# within 3.5 s (two retransmits) failed
lab exec vclient python3 "$PROBE" $SRV 443 60 "$srcs" "$pready" 3.5 >"$STATE/probe.out" 2>&1 &
probe=$!
wait_until 10 test -e "$pready"
sleep 1
dout=$(ctl members drain "$m0" --wait=10 2>&1); drc=$?
wait $probe
m1=$(lab master 2>/dev/null)
sleep 1
touch "$until"
wait $hold
h=$(cat "$STATE/hold.out")
nfail=$(grep -c ' fail$' "$STATE/probe.out")
nall=$(grep -c . "$STATE/probe.out")
nslow=$(awk '$3 == "ok" && $2 - $1 > 0.9' "$STATE/probe.out" | wc -l)
role=$(ctl --json members list | python3 -c 'import json,sys; print([m["role"] for m in json.load(sys.stdin)["members"] if m["member"]==sys.argv[1]][0])' "$m0")
if [ $drc = 0 ] && [ -n "$m1" ] && [ "$m1" != "$m0" ] && [ "$role" = drained ] && [ "$nall" = 60 ] && [ "$nfail" = 0 ] &&
   [ "$(kv alive_at_end <<<"$h")" = 2 ] && [ "$(kv died <<<"$h")" = 0 ]; then pass "$t ($nslow of 60 opened after a SYN retransmit)"
else fail $t "drain of $m0 (exit 0, $m0 drained, another master), 60/60 new connections and 2 held alive, saw exit $drc ($dout), role $role, master ${m1:-none}, new connections failed $nfail of $nall, held alive_at_end=$(kv alive_at_end <<<"$h") died=$(kv died <<<"$h")"
	show_log "$m0" 4; fi
rm -f "$until" "$ready" "$pready"

t=undrain_comes_back_as_backup
uout=$(ctl members undrain "$m0" --wait=10 2>&1); urc=$?
if [ $urc = 0 ] && [ "$(role_of "$m0")" = BACKUP ] && [ "$(lab master)" = "$m1" ]; then pass $t
else fail $t "undrain of $m0: exit 0, $m0 BACKUP, $m1 still master, saw exit $urc ($uout), $m0 $(role_of "$m0"), master $(lab master 2>&1)"; fi

# --- array-wide temporary blocks: a block raised by the master holds on
# every member, with the same expiry, before and after a failover ---
t=block_on_master_reaches_other_member_within_1s_same_expiry
ctl limits set tcp-connect-rate 10 --wait=10 >/dev/null
ctl limits set block-time 20 --wait=10 >/dev/null
m0=$(lab master) o=$(other "$(lab master)")
bsrc=${VC[12]}
out=$(gen vclient connect --dst $SRV --port 443 --count 20 --rate 50 --src "$bsrc")
t0=$(date +%s%N)
wait_until 5 in_set "$m0" tcp_block4 "$bsrc"
t1=$(date +%s%N)
wait_until 3 in_set "$o" tcp_block4 "$bsrc"; onother=$?
t2=$(date +%s%N)
exp_of() { lab exec "$1" nft list set inet phalanx tcp_block4 | grep -o "$bsrc[^,}]*expires [0-9ms]*" | sed 's/.*expires //'; }
e0=$(exp_of "$m0") e1=$(exp_of "$o")
ms_of() { python3 -c 'import re,sys; s=sys.argv[1]; m=re.match(r"(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$", s); print(-1 if not m or not s else int(m.group(1) or 0)*60000+int(m.group(2) or 0)*1000+int(m.group(3) or 0))' "$1"; }
d=$(( $(ms_of "${e0:-x}") - $(ms_of "${e1:-x}") )); d=${d#-}
lag=$(( (t2 - t1) / 1000000 ))
if [ "$(kv refused <<<"$out")" -gt 0 ] && [ $onother = 0 ] && [ $lag -le 1000 ] && [ -n "$e0" ] && [ -n "$e1" ] && [ $d -le 1000 ]; then pass "$t (on $o ${lag} ms after $m0, expiries ${d} ms apart)"
else fail $t "$bsrc over 10 connections/minute through $m0: blocked on $o within 1 s of $m0, expiries within 1 s, saw refused=$(kv refused <<<"$out"), on $o after ${lag} ms: $([ $onother = 0 ] && echo yes || echo no), expiries '$e0' / '$e1'"
	show_log "$o" 4; fi

t=block_holds_after_failover_until_it_expires
lab freeze "$m0"
wait_until 5 sh -c "[ \"\$('$LAB' master 2>/dev/null)\" = $o ]"
blocked=$(gen vclient connect --dst $SRV --port 443 --count 2 --src "$bsrc" --connect-timeout-ms 1000)
okay=$(gen vclient connect --dst $SRV --port 443 --count 2 --src "${VC[13]}")
# block-time 20 s from the raise: wait it out (bounded), then the source is free
wait_until 25 sh -c "! '$LAB' exec $o '$REPO/build/nftcount' phalanx tcp_block4 --has $bsrc | grep -q ' yes\$'"
after=$(gen vclient connect --dst $SRV --port 443 --count 2 --src "$bsrc")
# the master while $m0 is frozen (right after the thaw both may hold the
# addresses for a moment: thaw_nopreempt_no_second_switch)
mf=$(lab master 2>&1)
lab thaw "$m0"
if [ "$mf" = "$o" ] && [ "$(kv refused <<<"$blocked")" = 2 ] && [ "$(kv established <<<"$okay")" = 2 ] &&
   [ "$(kv established <<<"$after")" = 2 ]; then pass $t
else fail $t "after $m0 froze, $o master refusing $bsrc (2/2) and letting ${VC[13]} in (2/2), then $bsrc free once the block ended, saw master $mf, refused $(kv refused <<<"$blocked")/2, other source established $(kv established <<<"$okay")/2, after expiry established $(kv established <<<"$after")/2"
	show_log "$o" 4; fi

# --- the hard thaw: the frozen master has the higher address, so on an
# equal-priority advert it would win back the addresses; its phalanx-node
# sees the freeze and holds it at fault first (readiness gate) ---
t=thaw_of_higher_address_master_settles_on_the_current_one
# Known limit (README, Failover): the thawed keepalived still believes it
# is master and adverts before its phalanx-node has put it at fault, so
# for a moment (one 200 ms sample here) it can take the role back, and
# its priority-0 advert on going to fault hands it straight back.  What
# must hold: within a second of the thaw the current member is master
# again and stays so, and the thawed one ends BACKUP.
hi=$(lab master)
if [ "$hi" != fw2 ]; then
	ctl members drain "$hi" --wait=10 >/dev/null 2>&1
	ctl members undrain "$hi" --wait=10 >/dev/null 2>&1
	hi=$(lab master)
fi
lo=$(other "$hi")
lab freeze "$hi"
wait_until 5 sh -c "[ \"\$('$LAB' master 2>/dev/null)\" = $lo ]"
sleep 5 # longer than a freeze the gate must notice (1 s; 4 s without schedstat)
lab thaw "$hi"
masters=
for ((i = 0; i < 30; i++)); do masters+=" $(lab master 2>/dev/null | tr ' ' '+')"; sleep 0.2; done
# samples 6.. (after the first second) must all be $lo
late=$(tr ' ' '\n' <<<"$masters" | grep . | tail -n +6 | grep -vx "$lo" | head -1)
early=$(tr ' ' '\n' <<<"$masters" | grep . | head -5 | grep -cvx "$lo")
if [ "$hi" = fw2 ] && [ -z "$late" ] && [ "$(role_of "$hi")" = BACKUP ]; then
	pass "$t ($early of the first 5 samples after the thaw saw another master)"
else fail $t "fw2 (higher address) frozen as master; $lo master from 1 s after the thaw on and fw2 BACKUP, saw frozen $hi, masters:$(tr ' ' '\n' <<<"$masters" | uniq -c | tr -s ' \n' ' '), $hi $(role_of "$hi")"
	show_log "$hi-keepalived" 6; show_log "$hi" 4; fi
