#!/usr/bin/env bash
# Lab tests of issue 9's foundation: the store's Raft module (store/raft.c)
# without the ctl path.  Three stores are tests/tools/raftprobe processes
# (store/raft.c + an LMDB state machine), each in a network namespace of
# its own on one bridge, their data on a real disk; an outsider namespace
# plays a host that is not a store.
#   tmpfs refused        a data directory on tmpfs: the store does not start
#   leader elected       exactly one leader, and every store names it
#   majority commit      a put on the leader is acknowledged and every store
#                        applies it; a follower answers with the leader
#   transport guard      a connection from a non-store claiming a store's
#                        id is refused
#   killed leader        SIGKILL: a new leader within 3 s (5 kills, p50/max
#                        printed); the old one rejoins as follower
#   frozen leader        SIGSTOP: a new leader within 3 s; thawed, it follows
#   cut leader           links down: it commits nothing ("no quorum"), the
#                        other two elect and commit; healed, it converges
#   long cut             a leader cut off for 40 s, healed, follows; the
#                        leader elected meanwhile is killed: the healed
#                        store and the third elect within 3 s (their
#                        connections to each other carried messages
#                        during the cut: without a bound on unacked
#                        time they wait out TCP's retransmission backoff)
#   restart all          every store stopped and started: state intact
#   wiped store          its data removed: it rejoins from a snapshot
# Every wait is bounded polling.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
PROBE=${PHALANX_BIN_DIR:-$REPO/build}/raftprobe
[ -x "$PROBE" ] || { fail setup "no $PROBE (make build/raftprobe)"; exit 1; }
P=$PHALANX_LAB_PREFIX
ST=$PHALANX_LAB_STATE
mkdir -p "$ST"
# C-Raft needs a real disk: the state dir unless it is tmpfs.
if [ "$(stat -f -c %T "$ST")" = tmpfs ]; then DATA=/var/tmp/phalanx-raft-$P; else DATA=$ST/raft; fi
mkdir -p "$DATA"
NET=10.77.0
PORT=7710
PEERS="store1=1@$NET.1:$PORT,store2=2@$NET.2:$PORT,store3=3@$NET.3:$PORT"
SW=$P-rsw

teardown() {
	local k
	for k in 1 2 3; do
		[ -f "$ST/store$k.pid" ] || continue
		kill -CONT "$(cat "$ST/store$k.pid")" 2>/dev/null
		kill "$(cat "$ST/store$k.pid")" 2>/dev/null
	done
	sleep 0.3
	for k in 1 2 3; do
		[ -f "$ST/store$k.pid" ] && kill -9 "$(cat "$ST/store$k.pid")" 2>/dev/null
	done
	rm -rf "$LOGS_KEEP"
	mkdir -p "$LOGS_KEEP"
	cp "$ST"/store*.log "$LOGS_KEEP"/ 2>/dev/null
	for k in 1 2 3 x; do ip netns del "$P-r$k" 2>/dev/null; done
	ip netns del "$SW" 2>/dev/null
	rm -rf "$DATA" "$ST"
}
trap teardown EXIT

net_up() {
	local k ip
	ip netns add "$SW" || return 1
	ip -n "$SW" link set lo up
	ip -n "$SW" link add br0 type bridge && ip -n "$SW" link set br0 up || return 1
	for k in 1 2 3 x; do
		ip=$NET.$k
		[ $k = x ] && ip=$NET.9
		ip netns add "$P-r$k" || return 1
		ip link add eth0 netns "$P-r$k" type veth peer name "p$k" netns "$SW" || return 1
		ip -n "$SW" link set "p$k" master br0 up
		ip -n "$P-r$k" link set lo up
		ip -n "$P-r$k" addr add "$ip/24" dev eth0
		ip -n "$P-r$k" link set eth0 up
	done
}

start() { # start K: store K in its namespace, appending to its log
	ip netns exec "$P-r$1" "$PROBE" serve --dir "$DATA/store$1" --id "$1" \
		--peers "$PEERS" --sock "$DATA/store$1.sock" --threshold 64 \
		--trailing 16 >>"$ST/store$1.log" 2>&1 &
	echo $! >"$ST/store$1.pid"
	disown # its SIGKILLs are the test's, not news for the job table
}
pid() { cat "$ST/store$1.pid"; }
q() { "$PROBE" ctl "$DATA/store$1.sock" "${@:2}"; } # q K COMMAND..
field() { q "$1" status 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# leader [SKIP..]: the store that says it leads, among those not skipped
leader() {
	local k s
	for k in 1 2 3; do
		for s in "$@"; do [ "$k" = "$s" ] && continue 2; done
		[ "$(field "$k" role)" = leader ] && { echo "$k"; return 0; }
	done
	return 1
}
# agreed K..: exactly one leader among them, and every one names it
agreed() {
	local k l="" n=0 name
	for k in "$@"; do [ "$(field "$k" role)" = leader ] && { l=$k; n=$((n + 1)); }; done
	[ "$n" = 1 ] || return 1
	for k in "$@"; do [ "$(field "$k" leader)" = "store$l" ] || return 1; done
}
same_state() { # same_state K..: equal count and digest, at least MIN keys
	local k d0 c0
	d0=$(field "$1" digest) c0=$(field "$1" count)
	[ -n "$d0" ] && [ "${c0:-0}" -ge "${MIN:-0}" ] || return 1
	for k in "${@:2}"; do
		[ "$(field "$k" digest)" = "$d0" ] && [ "$(field "$k" count)" = "$c0" ] || return 1
	done
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# failover OLD T0: NEW = the store other than OLD that leads (polled,
# bounded: 10 s), DT = ms from T0 (the fault) to the line in NEW's log
# saying it leads: the daemon's own time, not the poll's (each status
# is a process; on a loaded machine polling alone costs seconds).  The
# line is the first of NEW's stamped at or after T0: its status can say
# "leader" before its watch (every 100 ms) logs it, and an older line
# is an earlier term's.
failover() {
	local t0=$2 l ts since
	since=$(date -u -d "@$((t0 / 1000)).$(printf %03d $((t0 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ)
	NEW= DT=10000
	while [ $(( $(ms) - t0 )) -lt 10000 ]; do
		if l=$(leader "$1"); then
			ts=$(awk -v since="$since" -v want="raft: store$l is the leader in term" \
				'$1 >= since && index($0, want) { print $1; exit }' "$ST/store$l.log")
			if [ -n "$ts" ]; then
				NEW=$l
				DT=$(( $(date -d "$ts" +%s%3N) - t0 ))
				return 0
			fi
		fi
		sleep 0.05
	done
	return 1
}

if ! net_up; then fail setup "could not make the namespaces $P-r*"; exit 1; fi

# --- tmpfs refused ----------------------------------------------------------------
t=tmpfs_data_dir_refused
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	out=$(ip netns exec "$P-rx" timeout 10 "$PROBE" serve --dir "/dev/shm/$P-raft" --id 1 \
		--peers "store1=1@$NET.9:$PORT" --sock "/dev/shm/$P-raft.sock" 2>&1)
	rc=$?
	rm -rf "/dev/shm/$P-raft" "/dev/shm/$P-raft.sock"
	if [ $rc -ne 0 ] && grep -q "tmpfs" <<<"$out"; then pass $t
	else fail $t "expected a refusal naming tmpfs, saw exit $rc: $(tail -2 <<<"$out")"; fi
else
	skip $t "/dev/shm is not tmpfs here"
fi

for k in 1 2 3; do start $k; done

# --- election ----------------------------------------------------------------------
t=leader_elected_and_known_to_all
if wait_until 15 agreed 1 2 3; then pass $t
else fail $t "expected one leader named by all three, saw $(for k in 1 2 3; do echo -n "store$k:$(field $k role)/$(field $k leader) "; done)"; fi
L=$(leader) || L=1

# --- majority commit ---------------------------------------------------------------
t=put_commits_on_every_store
out=$(q "$L" put alpha 1 2>&1)
if [[ $out == "ok index="* ]] && MIN=1 wait_until 5 same_state 1 2 3 &&
	[ "$(q 1 get alpha)" = "ok 1" ] && [ "$(q 2 get alpha)" = "ok 1" ] && [ "$(q 3 get alpha)" = "ok 1" ]; then
	pass $t
else
	fail $t "expected ok and alpha=1 on all, saw put '$out', get $(q 1 get alpha)/$(q 2 get alpha)/$(q 3 get alpha)"
fi

t=follower_answers_with_the_leader
F=$(( L % 3 + 1 ))
out=$(q "$F" put beta 1 2>&1)
if [ "$out" = "error not leader; leader store$L $NET.$L:$PORT" ] && [ "$(q "$L" get beta)" != "ok 1" ]; then pass $t
else fail $t "expected 'error not leader; leader store$L $NET.$L:$PORT' and no beta, saw '$out'"; fi

# --- transport guard -----------------------------------------------------------------
t=transport_refuses_a_non_store
before=$(grep -c "raft transport: connection refused" "$ST/store$L.log")
out=$(ip netns exec "$P-rx" python3 - "$NET.$L" "$PORT" "$F" "$NET.$F:$PORT" <<'EOF'
import socket, struct, sys, time
host, port, sid, addr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode() + b"\0"
pad = (len(addr) + 7) // 8 * 8
s = socket.create_connection((host, port), timeout=3)
s.sendall(struct.pack("<QQQ", 1, sid, pad) + addr + b"\0" * (pad - len(addr)))
try:
    print("closed" if s.recv(64) == b"" else "answered")
except socket.timeout:
    print("kept open")
EOF
)
if [ "$out" = closed ] && wait_until 3 grep -q "refused a message from peer $NET.9: raft transport: connection refused: it is not from the address" "$ST/store$L.log" &&
	[[ $(q "$L" put gamma 1) == "ok index="* ]]; then
	pass $t
else
	fail $t "expected the connection closed and a refusal naming $NET.9 in store$L's log, saw '$out', $(( $(grep -c "raft transport: connection refused" "$ST/store$L.log") - before )) new refusals"
fi

# --- killed leader ---------------------------------------------------------------------
t=killed_leader_replaced_within_3s
times=()
ok=1
for i in 1 2 3 4 5; do
	wait_until 10 agreed 1 2 3 || { ok=0; break; }
	L=$(leader) || { ok=0; break; }
	sleep 1 # followers hear the leader: the timer starts at the kill
	t0=$(ms)
	kill -9 "$(pid "$L")"
	failover "$L" "$t0" || ok=0
	times+=("$DT")
	[ -n "$NEW" ] && [[ $(q "$NEW" put "kill$i" 1) == "ok index="* ]] || ok=0
	start "$L"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
p50=$(sed -n "$(( (${#times[@]} + 1) / 2 ))p" <<<"$sorted")
max=$(tail -1 <<<"$sorted")
echo "    failover over ${#times[@]} leader kills: p50 ${p50:-?} ms, max ${max:-?} ms (${times[*]}; load average $(cut -d' ' -f1 /proc/loadavg))"
if [ $ok = 1 ] && [ "${max:-99999}" -lt 3000 ] && MIN=6 wait_until 15 same_state 1 2 3; then pass $t
else fail $t "expected a new leader accepting writes within 3000 ms each time and all stores equal, saw ${times[*]} ms, ok=$ok"; fi

# --- frozen leader ---------------------------------------------------------------------
t=frozen_leader_replaced_and_follows_when_thawed
wait_until 10 agreed 1 2 3
L=$(leader) || L=1
sleep 1
t0=$(ms)
kill -STOP "$(pid "$L")"
failover "$L" "$t0"
ok=$?
dt=$DT
out=$(q "$NEW" put frozen 1 2>&1)
kill -CONT "$(pid "$L")"
if [ $ok = 0 ] && [ "$dt" -lt 3000 ] && [[ $out == "ok index="* ]] &&
	wait_until 10 agreed 1 2 3 && [ "$(field "$L" role)" = follower ] && MIN=7 wait_until 10 same_state 1 2 3; then
	pass $t
else
	fail $t "expected a new leader within 3000 ms taking writes, the thawed store$L a follower with the same state, saw ${dt} ms, put '$out', store$L $(field "$L" role)"
fi

# --- cut leader --------------------------------------------------------------------------
t=cut_leader_commits_nothing_majority_does
L=$(leader) || L=1
sleep 1
t0=$(ms)
ip -n "$P-r$L" link set eth0 down
out=$(q "$L" put cut 1 2>&1)
failover "$L" "$t0"
ok=$?
dt=$DT
out2=$(q "$NEW" put cut_majority 1 2>&1)
v_old=$(q "$L" get cut 2>&1)
ip -n "$P-r$L" link set eth0 up
if [[ $out == "error no quorum"* ]] && [ $ok = 0 ] && [[ $out2 == "ok index="* ]] &&
	[ "$v_old" = "error no key cut" ] && wait_until 10 agreed 1 2 3 &&
	[ "$(field "$L" role)" = follower ] && MIN=8 wait_until 10 same_state 1 2 3 &&
	[ "$(q "$L" get cut_majority)" = "ok 1" ]; then
	pass $t
else
	fail $t "expected 'error no quorum...' from the cut store$L, a new leader taking writes, then store$L following with the same state; saw '$out', new leader after $dt ms: '$out2', cut key on store$L: '$v_old', store$L $(field "$L" role)"
fi

# --- long cut, then the leader elected meanwhile killed ----------------------------
t=healed_store_and_third_elect_after_a_long_cut
wait_until 10 agreed 1 2 3
A=$(leader) || A=1
sleep 1
tcut=$(ms)
ip -n "$P-r$A" link set eth0 down
failover "$A" "$tcut"
B=$NEW
# 40 s: TCP's backoff on the messages sent to the cut store meanwhile
# then has a gap of 11 s or more after the heal.
sleep $(( 40 - ($(ms) - tcut) / 1000 ))
ip -n "$P-r$A" link set eth0 up
ok=0 dt=- out=- stage="store$A following store${B:-?} within 15 s of the heal"
if [ -n "$B" ] && wait_until 15 agreed 1 2 3 && [ "$(leader)" = "$B" ]; then
	stage="a new leader within 10 s of the kill"
	sleep 1
	t0=$(ms)
	kill -9 "$(pid "$B")"
	if failover "$B" "$t0"; then
		dt=$DT stage="a new leader within 3000 ms, taking a write"
		out=$(q "$NEW" put long_cut 1 2>&1)
		[ "$dt" -lt 3000 ] && [[ $out == "ok index="* ]] && ok=1
		echo "    store$A cut 40 s, healed; store$B killed: store$NEW elected after $dt ms"
	fi
	start "$B"
fi
if [ $ok = 1 ] && wait_until 10 agreed 1 2 3; then
	pass $t
else
	fail $t "expected store$A (cut 40 s, healed, following store${B:-?}) and the third store to elect within 3000 ms of store${B:-?}'s kill and take a write; failed at: $stage; saw ${dt} ms, put '$out'; roles $(for k in 1 2 3; do echo -n "store$k:$(field $k role)/$(field $k term) "; done)"
fi

# --- restart all ----------------------------------------------------------------------------
t=restart_all_state_intact
wait_until 10 agreed 1 2 3
L=$(leader) || L=1
q "$L" fill 200 snap >/dev/null
MIN=200 wait_until 20 same_state 1 2 3
c0=$(field "$L" count) d0=$(field "$L" digest)
for k in 1 2 3; do kill "$(pid $k)" || echo "    store$k (pid $(pid $k)) was not running: see its log"; done
for k in 1 2 3; do wait_until 10 bash -c "! kill -0 $(pid $k)"; done
for k in 1 2 3; do start $k; done
same_as_before() { for k in 1 2 3; do [ "$(field $k count)" = "$c0" ] && [ "$(field $k digest)" = "$d0" ] || return 1; done; }
if [ "${c0:-0}" -ge 208 ] && wait_until 15 same_as_before && wait_until 15 agreed 1 2 3 &&
	L=$(leader) && [[ $(q "$L" put after_restart 1) == "ok index="* ]]; then
	pass $t
else
	fail $t "expected $c0 keys (digest $d0) on every store after the restart and a leader taking writes, saw $(for k in 1 2 3; do echo -n "store$k:$(field $k count)/$(field $k digest) "; done)"
fi

# --- wiped store ---------------------------------------------------------------------------------
t=wiped_store_rejoins_from_snapshot
L=$(leader) || L=1
W=$(( L % 3 + 1 ))
kill "$(pid "$W")"
wait_until 10 bash -c "! kill -0 $(pid "$W")"
rm -rf "$DATA/store$W"
# Enough entries past the last snapshot that the leader's log no longer
# holds what store$W needs (threshold 64, trailing 16).
q "$L" fill 150 wiped >/dev/null
start "$W"
if MIN=358 wait_until 20 same_state 1 2 3 && grep -q "restored a snapshot at index" "$ST/store$W.log"; then pass $t
else fail $t "expected store$W to match the leader after a snapshot install, saw store$W $(field "$W" count)/$(field "$W" digest) vs store$L $(field "$L" count)/$(field "$L" digest), restore lines: $(grep -c 'restored a snapshot' "$ST/store$W.log")"; fi
