#!/usr/bin/env bash
# Issue 13, tested by running it: deploy/ansible's site.yml and upgrade.yml
# over SSH against the lab (3 stores, 2 members), built without daemons
# (`lab up --no-daemons') and with an sshd per host, each host in its own
# mount namespace (tests/lab/lab_ssh.sh says which directories are its
# own).  The controller, ansible-playbook, runs in the ops namespace.
#
# Not tested here: the lab's hosts share one /usr (the tree under test,
# installed with `make install PREFIX=/usr' as a read-only layer), so
# upgrade.yml restarts each agent on the same binary: a rolling upgrade's
# binary swap (a new package on one member while the other runs the old
# one) is not exercised; nor are the systemd units (no systemd as PID 1:
# the roles start the daemons with start-stop-daemon, which is tested).
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
. "$(dirname "$0")/lab_ssh.sh"

# Raft's log needs a real disk: the state dir must not be on tmpfs.
case $PHALANX_LAB_STATE in /run/* | /dev/shm/*) export PHALANX_LAB_STATE=/var/tmp/phalanx-lab-$PHALANX_LAB_PREFIX ;; esac
ST=$PHALANX_LAB_STATE
T0=$(date +%s)
PLAY_TIMEOUT=${PHALANX_DEPLOY_PLAY_TIMEOUT:-420}
HOSTS="store1 store2 store3 fw1 fw2"
MEMBERS=2
SRV=203.0.113.100
VIP=198.51.100.225
SET=flood-exceptions

progress() { echo "# [$(($(date +%s) - T0)) s] $*"; }

for c in ansible-playbook ssh ssh-keygen "$SSHD" start-stop-daemon setpriv keepalived conntrackd; do
	command -v "$c" >/dev/null || { skip deploy_ssh "$c is not installed (make deps)"; exit 0; }
done
[ "$(id -u)" = 0 ] || { skip deploy_ssh "needs root (namespaces, mounts)"; exit 0; }

# Keep what the run leaves for a look after a failure: the plays' output,
# every host's /var/log and its sshd's log; then `lab down' ends every
# process in the lab's namespaces (the sshds, whatever the plays started;
# with them go their mount namespaces) and removes the state dir.
LOG_DIR=$(mktemp -d /tmp/phalanx-deploy-ssh.XXXXXX)
deploy_teardown() {
	local h
	[ -n "${HOLD_PID:-}" ] && kill "$HOLD_PID" 2>/dev/null
	rm -rf "$LOGS_KEEP"
	mkdir -p "$LOGS_KEEP"
	for h in $HOSTS; do
		[ -n "$SSH_LAB" ] && [ -d "$SSH_LAB/hosts/$h" ] || continue
		mkdir -p "$LOGS_KEEP/$h"
		cp -r "$SSH_LAB/hosts/$h/log/." "$SSH_LAB/hosts/$h/sshd.log" "$LOGS_KEEP/$h/" 2>/dev/null
	done
	cp "$LOG_DIR"/* "$LOGS_KEEP/" 2>/dev/null
	rm -rf "$LOG_DIR"
	lab down >/dev/null 2>&1
}
trap deploy_teardown EXIT

progress "lab up --no-daemons --stores 3 --members $MEMBERS"
mkdir -p "$ST"
if ! lab up --no-daemons --stores 3 --members $MEMBERS >"$LOG_DIR/lab-up.log" 2>&1; then
	fail lab_up "lab up --no-daemons to succeed, saw: $(tail -5 "$LOG_DIR/lab-up.log")"
	exit 1
fi

t=no_daemons_lab_runs_no_phalanx_keepalived_conntrackd
# comm_in NS: the names of the processes in NS (by network namespace,
# not by pidof: every host shares the PID space)
comm_in() { local p; for p in $(ip netns pids "$PHALANX_LAB_PREFIX-$1"); do cat "/proc/$p/comm" 2>/dev/null; done; }
seen=
for h in $HOSTS; do seen+=" $h:[$(comm_in "$h" | tr '\n' ' ')]"; done
if ! grep -Eq 'phalanx|keepalived|conntrackd' <<<"$seen"; then pass $t
else fail $t "no phalanx daemon, keepalived or conntrackd after lab up --no-daemons, saw$seen"; fi

progress "make install DESTDIR=.../inst PREFIX=/usr; an sshd per host"
ssh_lab_init "$ST/ssh" || { fail ssh_setup "ssh keys under $ST/ssh, saw a failure"; exit 1; }
ssh_lab_install || { fail ssh_setup "make install into $SSH_LAB/inst to succeed, saw: $(tail -5 "$SSH_LAB/install.log")"; exit 1; }
for h in $HOSTS; do ssh_host_up "$h" "$(addr_of "$h")" || { fail ssh_setup "sshd on $h to start"; exit 1; }; done
t=sshd_per_host_root_by_key_own_mount_namespace
bad=
for h in $HOSTS; do
	wait_until 20 ssh_host_ready "$h" || { bad+=" $h: no ssh login ($(tail -2 "$SSH_LAB/hosts/$h/sshd.log" | tr '\n' ' '));"; continue; }
	# each host writes its own /etc/phalanx: a file made on one is not on another
	on "$h" "mkdir -p /etc/phalanx && echo $h >/etc/phalanx/.lab-host" </dev/null
done
for h in $HOSTS; do
	got=$(on "$h" cat /etc/phalanx/.lab-host </dev/null 2>&1)
	[ "$got" = "$h" ] || bad+=" $h sees /etc/phalanx/.lab-host '$got';"
	on "$h" rm -f /etc/phalanx/.lab-host </dev/null
done
[ -e /etc/phalanx/.lab-host ] && bad+=" the machine's own /etc/phalanx was written;"
# a password never gets in, nor a key that is not the lab's
ssh-keygen -q -t ed25519 -N '' -f "$SSH_LAB/other" >/dev/null
if ip netns exec "$PHALANX_LAB_PREFIX-ops" ssh -F /dev/null -o IdentityFile="$SSH_LAB/other" -o IdentitiesOnly=yes \
	-o UserKnownHostsFile="$SSH_LAB/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
	root@192.0.2.10 true </dev/null 2>/dev/null; then bad+=" store1 let in a key it was not given;"; fi
if [ -z "$bad" ]; then pass $t
else fail $t "root login by the lab key on every host, each its own /etc/phalanx, saw$bad"; exit 1; fi

# ---- ansible-playbook in the ops namespace, over SSH ----
export ANSIBLE_CONFIG=$REPO/deploy/ansible/ansible.cfg
export ANSIBLE_SSH_ARGS="-F $SSH_LAB/ssh_config -o ControlMaster=auto -o ControlPersist=600s"
export ANSIBLE_SSH_CONTROL_PATH_DIR=$SSH_LAB/cp ANSIBLE_LOCAL_TEMP=$SSH_LAB/atmp
# pipelining (no file copies per module) and the minimal facts: the roles
# need only ansible_service_mgr, which `min' has; 2 cores are slow
export ANSIBLE_PIPELINING=True ANSIBLE_GATHER_SUBSET=min ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
# play NAME PLAYBOOK: run it, its output in $LOG_DIR/NAME.log; 0 if it
# ran to the end with no failed or unreachable host
play() {
	local name=$1 book=$2 rc
	progress "ansible-playbook $book ($name; at most $PLAY_TIMEOUT s)"
	(cd "$REPO/deploy/ansible" &&
		timeout -k 10 "$PLAY_TIMEOUT" ip netns exec "$PHALANX_LAB_PREFIX-ops" \
			ansible-playbook -i inventory/lab.yml "$book") >"$LOG_DIR/$name.log" 2>&1
	rc=$?
	progress "$book done: exit $rc"
	sed -n '/^PLAY RECAP/,$p' "$LOG_DIR/$name.log" | grep -E '^[a-z0-9]+ +:' | sed 's/^/#   /'
	return $rc
}
# recap NAME HOST FIELD: the number of PLAY RECAP's FIELD (ok, changed, failed...) for HOST
recap() {
	sed -n '/^PLAY RECAP/,$p' "$LOG_DIR/$1.log" | sed -n "s/^$2 .*[^a-z]$3=\([0-9]*\).*/\1/p"
}
play_failed() { # the end of a failed play's output
	grep -E -A3 '^(fatal|failed):|FAILED!|UNREACHABLE' "$LOG_DIR/$1.log" | head -20 | sed 's/^/    /'
}

t=site_yml_first_run_succeeds_on_every_host
if play site1 site.yml; then pass $t
else
	fail $t "ansible-playbook site.yml exit 0 with failed=0 unreachable=0 on every host, saw exit $? (output: $LOGS_KEEP/site1.log)"
	play_failed site1
	exit 1
fi

t=store_status_three_stores_one_leader
out=$(on store1 phalanxctl --json store status </dev/null 2>&1)
if python3 -c '
import json, sys
d = json.loads(sys.argv[1])
names = sorted(s["name"] for s in d["stores"])
leaders = [s["name"] for s in d["stores"] if s.get("role") == "leader"]
sys.exit(0 if names == ["store1", "store2", "store3"] and len(leaders) == 1 and d["leader"] == leaders[0] else 1)' "$out" 2>/dev/null
then pass $t
else fail $t "phalanxctl store status on store1 (the play's admin key) shows store1..3 and one leader, saw: $out"; fi

t=secret_keys_only_on_their_hosts
# every host holds its own secret key, no secret key is on two hosts, and
# none is on the controller (the play collects public keys only)
bad=
declare -A seen=()
for h in $HOSTS; do
	keys=$(on "$h" 'cd /etc/phalanx && find . -name "*.key" -type f | sort | while read -r f; do echo "$f $(sha256sum <"$f" | cut -c1-16)"; done' </dev/null 2>&1)
	case $h in store*) want=./store.key ;; *) want=./node.key ;; esac
	grep -q "^$want [0-9a-f]" <<<"$keys" || bad+=" $h lacks $want ($keys);"
	while read -r f sum; do
		[ -n "${sum:-}" ] || continue
		[ -n "${seen[$sum]:-}" ] && bad+=" $h's $f is ${seen[$sum]} too;"
		seen[$sum]="$h:$f"
	done <<<"$keys"
done
left=$(find "$SSH_LAB" "$REPO/deploy/ansible" -path "$SSH_LAB/hosts" -prune -o -name '*.key' -print 2>/dev/null | head -3)
[ -n "$left" ] && bad+=" on the controller: $left;"
if [ -z "$bad" ]; then pass "$t (${#seen[@]} secret keys, each on one host)"
else fail $t "each host its own secret key, none on two hosts or the controller, saw$bad"; fi

t=every_member_runs_agent_keepalived_conntrackd
bad=
for h in fw1 fw2; do
	c=$(comm_in "$h" | sort -u | tr '\n' ' ')
	for d in phalanx-node keepalived conntrackd; do
		grep -qw -- "$d" <<<"$c" || bad+=" $h lacks $d (runs: $c);"
	done
done
for h in store1 store2 store3; do
	grep -qx phalanx-store <<<"$(comm_in "$h")" || bad+=" $h lacks phalanx-store;"
done
if [ -z "$bad" ]; then pass $t
else fail $t "phalanx-node, keepalived and conntrackd in each member's network namespace, phalanx-store in each store's, saw$bad"; fi

t=daemons_run_as_phalanx_with_the_units_capabilities
# status_of NS COMM FIELD: FIELD of /proc/PID/status of COMM in NS
status_of() {
	local p
	for p in $(ip netns pids "$PHALANX_LAB_PREFIX-$1"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] || continue
		sed -n "s/^$3:[[:space:]]*//p" "/proc/$p/status"
		return 0
	done
}
# CAP_NET_ADMIN is bit 12
s_caps=$(status_of store1 phalanx-store CapEff) n_caps=$(status_of fw1 phalanx-node CapEff)
s_uid=$(status_of store1 phalanx-store Uid | awk '{print $1}') n_uid=$(status_of fw1 phalanx-node Uid | awk '{print $1}')
if [ "$s_caps" = 0000000000000000 ] && [ "$n_caps" = 0000000000001000 ] &&
   [ -n "$s_uid" ] && [ "$s_uid" != 0 ] && [ -n "$n_uid" ] && [ "$n_uid" != 0 ]; then pass $t
else fail $t "store: uid != 0, CapEff 0; agent: uid != 0, CapEff 0x1000, saw store uid $s_uid caps $s_caps, agent uid $n_uid caps $n_caps"; fi

t=exception_from_admin_key_in_every_members_kernel
out=$(on store1 phalanxctl exceptions add $SET 192.0.2.77 --wait </dev/null 2>&1)
rc=$?
bad=
for ((k = 1; k <= MEMBERS; k++)); do
	wait_until 10 in_set "fw$k" $SET.v4 192.0.2.77 || bad+=" fw$k lacks it;"
done
if [ $rc = 0 ] && [ -z "$bad" ]; then pass $t
else fail $t "phalanxctl exceptions add $SET 192.0.2.77 --wait on store1 exit 0 and the address in fw1's and fw2's kernel set $SET.v4, saw exit $rc ($out),$bad"; fi

t=one_vrrp_master_holds_the_virtual_address
# has_vip NAME: the member's client side holds the virtual address (no
# pipe into grep -q: under pipefail, ip's SIGPIPE would fail a match)
has_vip() { grep -qF " $VIP/" <<<"$(ip -n "$PHALANX_LAB_PREFIX-$1" -o addr show dev vcli)"; }
vip_holders() { local h; for h in fw1 fw2; do has_vip "$h" && echo "$h"; done; }
one_holder() { [ "$(vip_holders | wc -l)" = 1 ]; }
wait_until 15 one_holder
m0=$(vip_holders | tr '\n' ' ')
if [ "$(wc -w <<<"$m0")" = 1 ]; then pass $t
else fail $t "one member holding $VIP, saw '${m0}'"; fi

t=site_yml_second_run_changes_nothing
play site2 site.yml
rc=$?
bad=
for h in $HOSTS; do
	c=$(recap site2 "$h" changed)
	[ "$c" = 0 ] || bad+=" $h changed=${c:-?};"
done
if [ $rc = 0 ] && [ -z "$bad" ]; then pass $t
else
	fail $t "a second site.yml with exit 0 and changed=0 for every host, saw exit $rc,$bad"
	grep -B1 '^changed:' "$LOG_DIR/site2.log" | grep '^TASK' | sed 's/^/    /' | head -10
fi

t=upgrade_yml_keeps_a_held_connection_through_the_virtual_address
pids_before="$(status_of fw1 phalanx-node Pid) $(status_of fw2 phalanx-node Pid)"
ready=$SSH_LAB/hold.ready until=$SSH_LAB/hold.until
VC1=198.51.100.233 VC2=198.51.100.234
gen vclient hold --dst $SRV --port 443 --count 2 --src "$VC1,$VC2" --check-every-ms 200 \
	--ready-file "$ready" --until-file "$until" --timeout $((PLAY_TIMEOUT + 60)) >"$LOG_DIR/hold.out" &
HOLD_PID=$!
wait_until 15 test -e "$ready"
est=$(kv established <"$ready")
play upgrade upgrade.yml
rc=$?
pids_after="$(status_of fw1 phalanx-node Pid) $(status_of fw2 phalanx-node Pid)"
m1=$(vip_holders | tr '\n' ' ')
: >"$until"
wait_until 15 test -n "$(kv alive_at_end <"$LOG_DIR/hold.out")"
wait "$HOLD_PID"
HOLD_PID=
h=$(cat "$LOG_DIR/hold.out")
alive=$(kv alive_at_end <<<"$h") died=$(kv died <<<"$h")
# both agents restarted (new pids), both undrained again
restarted=yes
for p in $pids_before; do grep -qw "$p" <<<"$pids_after" && restarted=no; done
drained=$(on store1 phalanxctl --json members list </dev/null 2>/dev/null |
	python3 -c 'import json,sys; print(" ".join(m["member"] for m in json.load(sys.stdin)["members"] if m["drained"]))' 2>&1)
if [ $rc = 0 ] && [ "$est" = 2 ] && [ "$alive" = 2 ] && [ "$died" = 0 ] && [ $restarted = yes ] && [ -z "$drained" ]; then pass $t
else
	fail $t "upgrade.yml exit 0, both agents restarted, none left drained, 2 held connections through $VIP alive, saw exit $rc, agent pids $pids_before -> $pids_after, drained '$drained', established $est, alive_at_end $alive, died $died, missed_checks $(kv missed_checks <<<"$h"), holder $m0 -> $m1"
	[ $rc = 0 ] || play_failed upgrade
fi
progress "done"
