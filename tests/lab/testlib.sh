# testlib.sh - helpers for lab tests (sourced).  A test prints one line:
# "PASS name", "FAIL name: expected ..., saw ..." or "SKIP name: why".
LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PHALANX_LAB_STATE=${PHALANX_LAB_STATE:-/run/phalanx-lab-test-$$}
export PHALANX_LAB_PREFIX=${PHALANX_LAB_PREFIX:-pxt$$}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

lab() { "$LAB" "$@"; }
ctl() { "$LAB" ctl "$@"; }

# wait_until SECONDS CMD...: poll CMD every 50 ms; 0 once it succeeds.
wait_until() {
	local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
		sleep 0.05
	done
}

# has_elem NS SET ADDR: the element is in the member's kernel set: one
# netlink lookup (`nft get element' takes 10 s on a 1M-entry set and was
# seen answering "absent" for elements that are there).
has_elem() { in_set "$@"; }

# every_member CMD ARGS...: CMD fwK ARGS for each member.
every_member() {
	local k cmd=$1
	shift
	for ((k = 1; k <= MEMBERS; k++)); do "$cmd" "fw$k" "$@" || return 1; done
}

store_version() {
	ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'
}

# Keep the daemons' logs of the last run for a look after a failure.
LOGS_KEEP=${PHALANX_TEST_LOGS:-/tmp/phalanx-test-logs}/$(basename "$0" .sh)
lab_teardown() {
	rm -rf "$LOGS_KEEP"
	mkdir -p "$LOGS_KEEP"
	cp "$PHALANX_LAB_STATE"/*.log "$LOGS_KEEP"/ 2>/dev/null
	lab down >/dev/null 2>&1
}

lab_setup() {
	MEMBERS=${1:-2}
	trap lab_teardown EXIT
	if ! lab up --members "$MEMBERS" --stores 1 >"$PHALANX_LAB_STATE.up.log" 2>&1; then
		echo "FAIL lab_up: lab up failed:"
		sed 's/^/    /' "$PHALANX_LAB_STATE.up.log"
		tail -20 "$PHALANX_LAB_STATE"/*.log 2>/dev/null | sed 's/^/    /'
		exit 1
	fi
	rm -f "$PHALANX_LAB_STATE.up.log"
}

# Show a daemon's log tail under a failure.
show_log() { tail -"${2:-15}" "$PHALANX_LAB_STATE/$1.log" | sed 's/^/    /'; }

# gen NS ARGS...: run the traffic generator in namespace NS; key=value out.
gen() { local ns=$1; shift; lab exec "$ns" "$REPO/build/pxgen" "$@" 2>&1; }
# kv KEY <<<"$out": the value of KEY in pxgen output.
kv() { sed -n "s/^$1=//p" | head -1; }

# in_set NS KSET ADDR: one kernel lookup (nft get element is slow and
# unreliable on 1M-entry sets).
in_set() {
	lab exec "$1" "$REPO/build/nftcount" phalanx "$2" --has "$3" 2>/dev/null | grep -q " yes$"
}

# kset_count NS KSET: the element count of NS's kernel set KSET (the
# kernel's own count: one request; nothing if the set is missing).
kset_count() {
	lab exec "$1" "$REPO/build/nftcount" phalanx "$2" 2>/dev/null |
		awk '{ print $NF; exit }'
}

# held_samples PID NS SET ADDR VERSION: sample NS's kernel SET for ADDR
# every 0.1 s while PID runs (at most 90 s); prints "EARLY N": the
# samples that had ADDR before any store logged its verdict on the
# canary of VERSION (its release or its revert: after it, the members
# holding VERSION apply it, which may be before PID hears the verdict),
# and N, every sample taken.  No verdict logged: every sample with ADDR
# counts as early.
held_samples() {
	local pid=$1 ns=$2 set=$3 addr=$4 v=$5 n=0 end=$(( $(date +%s) + 90 ))
	local had
	had=$(mktemp)
	while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt $end ]; do
		in_set "$ns" "$set" "$addr" && date +%s%3N >>"$had"
		n=$((n + 1))
		sleep 0.1
	done
	python3 - "$had" "$v" "$PHALANX_LAB_STATE"/store*.log <<'PY'
import datetime, re, sys
had = [int(l) for l in open(sys.argv[1]) if l.strip()]
pat = re.compile(r"^(\S+Z) .*(release|revert) of canary version %s \(" % sys.argv[2])
verdict = None
for path in sys.argv[3:]:
    for line in open(path, errors="replace"):
        m = pat.match(line)
        if m:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
            ms = int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
            verdict = ms if verdict is None else min(verdict, ms)
print(sum(1 for t in had if verdict is None or t < verdict), end="")
PY
	echo " $n"
	rm -f "$had"
}

# client_ip K I: the I-th (0-based) source address of clientK.
client_ip() { echo "198.51.100.$(( ($1 - 1) * 32 + 2 + $2 ))"; }

# raft_lab_setup MEMBERS: `lab up' with three stores under Raft, the lab
# state on a real disk (C-Raft's log needs O_DIRECT and AIO: never
# tmpfs).  Sets ST (the state directory) and CTL (phalanxctl, the one of
# PHALANX_BIN_DIR when set); `ep K' is store K's ctl endpoint.
raft_lab_setup() {
	MEMBERS=$1
	mkdir -p "$PHALANX_LAB_STATE"
	if [ "$(stat -f -c %T "$PHALANX_LAB_STATE")" = tmpfs ]; then
		rmdir "$PHALANX_LAB_STATE" 2>/dev/null
		export PHALANX_LAB_STATE=/var/tmp/phalanx-lab-$PHALANX_LAB_PREFIX
	fi
	ST=$PHALANX_LAB_STATE
	trap lab_teardown EXIT
	if ! lab up --members "$MEMBERS" --stores 3 >"$ST.up.log" 2>&1; then
		echo "FAIL lab_up: lab up --stores 3 failed:"
		sed 's/^/    /' "$ST.up.log"
		tail -20 "$ST"/*.log 2>/dev/null | sed 's/^/    /'
		exit 1
	fi
	rm -f "$ST.up.log"
	CTL=$REPO/build/phalanxctl
	[ -n "${PHALANX_BIN_DIR:-}" ] && CTL=$PHALANX_BIN_DIR/phalanxctl
}
ep() { echo "tcp://192.0.2.$((9 + $1)):7700"; }
# key_of K: store K's public key file (each store has its own pair); a
# phalanxctl given one store's endpoint pins that store's key
key_of() {
	if [ "$1" = 1 ] || [ ! -f "$ST/keys/store$1.pub" ]; then echo "$ST/keys/store.pub"
	else echo "$ST/keys/store$1.pub"; fi
}

# ---- three stores: their view, as `store status --json' gives it ----
# status_json: `store status --json' (every store asked)
status_json() { ctl --json store status 2>/dev/null; }
# leader_name: the store every answering store agrees leads, or nothing
leader_name() {
	status_json | python3 -c '
import json, sys
d = json.load(sys.stdin)
leaders = [s["name"] for s in d["stores"] if s.get("role") == "leader"]
if len(leaders) == 1 and d["leader"] == leaders[0]:
    print(leaders[0])' 2>/dev/null
}
# applied_equal N: N stores answer and all have applied the same index,
# at least the leader's commit index
applied_equal() {
	status_json | python3 -c '
import json, sys
d = json.load(sys.stdin)
up = [s for s in d["stores"] if s.get("role") in ("leader", "follower")]
ldr = [s for s in up if s["role"] == "leader"]
ok = len(up) >= int(sys.argv[1]) and ldr and \
     len({s["applied_index"] for s in up}) == 1 and \
     up[0]["applied_index"] >= ldr[0]["commit_index"]
sys.exit(0 if ok else 1)' "$1"
}
# other_than A [B]: a store of the three that is neither A nor B
other_than() {
	local k
	for k in 1 2 3; do
		[ "store$k" != "$1" ] && [ "store$k" != "${2:-}" ] && { echo "store$k"; return; }
	done
}
# has_leader: one store leads and every answering store agrees
has_leader() { [ -n "$(leader_name)" ]; }

# packet_lab_setup NAME SENDER: `lab_setup 2' for the tests that craft
# packets with scapy through fw1 (SENDER: tests/lab/SENDER); sets SRV,
# W, PY, SEND and FWLOG (fw1's firewall log).  Without scapy: SKIP NAME
# and exit.
packet_lab_setup() {
	/usr/bin/python3 -c 'import scapy.all' 2>/dev/null ||
		{ skip "$1" "scapy (python3-scapy) is not installed"; exit 0; }
	lab_setup 2
	SRV=203.0.113.100
	W=--wait=20
	PY=/usr/bin/python3
	SEND=$REPO/tests/lab/$2
	FWLOG=$PHALANX_LAB_STATE/fw1/cache.fwlog.jsonl
}

# alerts_exceeded TYPE SRC: "N TEXT": how many `exceeded' alerts of TYPE
# for SRC the store holds, and the first one's text.
alerts_exceeded() {
	ctl alerts list --json --type "$1" | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["alerts"] if x["source"] == sys.argv[1] and x["state"] == "exceeded"]
print(len(a), a[0]["text"] if a else "")' "$2"
}
has_exceeded() { [ "$(alerts_exceeded "$1" "$2" | cut -d' ' -f1)" -ge 1 ]; }
# alert_once_per_window TYPE SRC MARK CMD...: run CMD twice with each
# word @SRC replaced by SRC (two bursts from one source, seconds apart,
# inside one alert window), then once with MARK, a fresh source; prints
# alerts_exceeded TYPE SRC once MARK's alert is in the store (a member
# sends its alerts in the order raised: a second alert for SRC would
# be in before it), or "no alert for MARK" after 10 s.
alert_once_per_window() {
	local type=$1 src=$2 mark=$3
	shift 3
	"${@//@SRC/$src}" >/dev/null
	"${@//@SRC/$src}" >/dev/null
	"${@//@SRC/$mark}" >/dev/null
	if wait_until 10 has_exceeded "$type" "$mark"; then
		alerts_exceeded "$type" "$src"
	else
		echo "no alert for $mark"
	fi
}
