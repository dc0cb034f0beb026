#!/usr/bin/env bash
# t_deploy_static.sh - issue 13's deployment files, checked without a lab
# (no namespaces, no daemons): `make install' into a scratch root, the
# systemd units (`systemd-analyze verify' and `security --offline=yes',
# both without systemd as PID 1), the man pages against each binary's
# --help, the example configs and the configs the Ansible roles render
# against the daemons' own parsers, ansible-lint and syntax checks, and
# the Debian packages when `make deb' has built them.
#
# Exposure thresholds (systemd-analyze security, 0 = locked down, 10 =
# unprotected; measured 1.3 for the store, 1.9 for the member when this
# was written): the store must stay below 2.0, the member below 2.5 (it
# keeps CAP_NET_ADMIN, the kernel tunables it writes, and cannot use
# PrivateUsers).  The units before issue 13 scored 9.2 and 9.5.
set -u -o pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${PHALANX_BUILD:-$REPO/build}
STORE_MAX=2.0
NODE_MAX=2.5

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

work=$(mktemp -d /tmp/phalanx-deploy-static.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root

# ---- make install ----
want_files="usr/sbin/phalanx-store usr/sbin/phalanx-node usr/bin/phalanxctl
usr/share/man/man1/phalanxctl.1 usr/share/man/man5/phalanx.conf.5
usr/share/man/man8/phalanx-store.8 usr/share/man/man8/phalanx-node.8
lib/systemd/system/phalanx-store.service lib/systemd/system/phalanx-node.service
lib/systemd/system/keepalived.service.d/phalanx.conf usr/lib/tmpfiles.d/phalanx.conf
usr/lib/sysusers.d/phalanx.conf
usr/share/phalanx/keepalived/keepalived.conf.in usr/share/phalanx/keepalived/conntrackd.conf.in
usr/share/phalanx/keepalived/px-render usr/share/phalanx/keepalived/px-vrrp-notify
usr/share/phalanx/examples/store.conf.example usr/share/phalanx/examples/node.conf.example
usr/share/phalanx/examples/phalanxctl.conf.example"
if ! make -C "$REPO" -s install BUILD="$BUILD" DESTDIR="$root" PREFIX=/usr \
	UNITDIR=/lib/systemd/system >"$work/install.log" 2>&1; then
	fail install "expected make install DESTDIR=... PREFIX=/usr to succeed, saw: $(tail -3 "$work/install.log" | tr '\n' ' ')"
else
	missing=
	for f in $want_files; do [ -e "$root/$f" ] || missing+=" $f"; done
	if [ -n "$missing" ]; then
		fail install "expected every packaged file under DESTDIR, missing:$missing"
	elif ! grep -qx 'ExecStart=/usr/sbin/phalanx-node --config /etc/phalanx/node.conf' \
		"$root/lib/systemd/system/phalanx-node.service"; then
		fail install "expected ExecStart=/usr/sbin/phalanx-node with PREFIX=/usr, saw: $(grep ExecStart= "$root/lib/systemd/system/phalanx-node.service")"
	else
		pass install
	fi
fi

# ---- systemd units ----
# verify checks that ExecStart's binary exists and that the man pages of
# Documentation= open: point both at the scratch root.
units=$work/units
mkdir -p "$units"
for u in phalanx-store phalanx-node; do
	sed "s|^ExecStart=/usr/sbin/|ExecStart=$root/usr/sbin/|" \
		"$root/lib/systemd/system/$u.service" >"$units/$u.service" 2>/dev/null
done
if ! command -v systemd-analyze >/dev/null; then
	skip units_verify "no systemd-analyze"
else
	out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$units"/*.service 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		fail units_verify "expected systemd-analyze verify to pass silently, saw rc $rc: $out"
	else
		pass units_verify
	fi

	for u in phalanx-store:$STORE_MAX phalanx-node:$NODE_MAX; do
		name=${u%%:*} max=${u#*:}
		score=$(systemd-analyze security --offline=yes "$units/$name.service" 2>&1 |
			sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
		if [ -z "$score" ]; then
			fail "units_security_$name" "expected an overall exposure level, saw none"
		elif python3 -c "import sys; sys.exit(0 if float('$score') < float('$max') else 1)"; then
			pass "units_security_$name (exposure $score < $max)"
		else
			fail "units_security_$name" "expected exposure below $max, saw $score"
		fi
	done

	# Capabilities: the store keeps none, the member CAP_NET_ADMIN only.
	for u in phalanx-store: phalanx-node:CAP_NET_ADMIN; do
		name=${u%%:*} want=${u#*:}
		[ -s "$units/$name.service" ] || { fail "units_capabilities_$name" "expected $name.service, saw none"; continue; }
		saw=$(systemd-analyze security --offline=yes --json=short "$units/$name.service" 2>/dev/null |
			python3 -c '
import json, sys
kept = [e["name"].split("~", 1)[1] for e in json.load(sys.stdin)
        if e["name"].startswith("CapabilityBoundingSet=~") and not e["set"]]
print(" ".join(kept))')
		if [ "$saw" = "$want" ]; then
			pass "units_capabilities_$name (${want:-none})"
		else
			fail "units_capabilities_$name" "expected capabilities '${want:-none}', saw '${saw:-none}'"
		fi
	done
fi
# What the issue asks of both units, setting by setting.
for u in phalanx-store phalanx-node; do
	f=$root/lib/systemd/system/$u.service
	missing=
	for s in User=phalanx ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
		StateDirectory=phalanx ConfigurationDirectory=phalanx Restart=on-failure; do
		grep -qx "$s" "$f" 2>/dev/null || missing+=" $s"
	done
	if [ -n "$missing" ]; then
		fail "units_settings_$u" "expected in $u.service:$missing"
	else
		pass "units_settings_$u"
	fi
done

# ---- man pages ----
man_ok=1
for p in "$root"/usr/share/man/man*/*; do
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
	if [ -n "$w" ]; then
		fail man_format "expected no groff warnings in $(basename "$p"), saw: $w"
		man_ok=0
	fi
done
[ $man_ok = 1 ] && pass man_format
# Every option of each daemon's --help is in its man page.
for d in phalanx-store:8 phalanx-node:8; do
	name=${d%%:*} sec=${d#*:}
	page=$root/usr/share/man/man$sec/$name.$sec
	missing=
	for o in $("$BUILD/$name" --help | grep -o '^  \(-[a-z], \)\?--[a-z-]*' | sed 's/.*--//'); do
		grep -qF -- "\\-\\-$o" "$page" || missing+=" --$o"
	done
	if [ -n "$missing" ]; then
		fail "man_options_$name" "expected every option of $name --help in $name($sec), missing:$missing"
	else
		pass "man_options_$name"
	fi
done
missing=
while read -r cmd; do
	grep -qF "$cmd" "$root/usr/share/man/man1/phalanxctl.1" || missing+=" '$cmd'"
done < <("$BUILD/phalanxctl" --help | sed -n '/^commands:/,/^$/p' | grep '^  [a-z]' |
	cut -c3-36 | awk '{ c = $1; if ($2 ~ /^[a-z]+$/) c = c " " $2; print c }')
for o in $("$BUILD/phalanxctl" --help | grep -o '^  --[a-z-]*' | sed 's/.*--//'); do
	grep -qF -- "\\-\\-$o" "$root/usr/share/man/man1/phalanxctl.1" || missing+=" --$o"
done
if [ -n "$missing" ]; then
	fail man_phalanxctl "expected every command and option of phalanxctl --help in phalanxctl(1), missing:$missing"
else
	pass man_phalanxctl
fi

# ---- example configs, parsed by the daemons themselves ----
# `--config FILE --help' loads and checks FILE, then prints the usage:
# exit 0 only if every key and value is accepted.
for d in store node; do
	if out=$("$BUILD/phalanx-$d" --config "$REPO/deploy/$d.conf.example" --help 2>&1 >/dev/null); then
		pass "example_$d.conf"
	else
		fail "example_$d.conf" "expected phalanx-$d to accept deploy/$d.conf.example, saw: $out"
	fi
done

# ---- Ansible ----
ansible_dir=$REPO/deploy/ansible
if ! command -v ansible-lint >/dev/null || ! command -v ansible-playbook >/dev/null; then
	skip ansible "ansible-core and ansible-lint are not installed (make deps)"
else
	if out=$(cd "$ansible_dir" && ANSIBLE_LOCAL_TEMP=$work/ansible-tmp timeout 300 ansible-lint -q 2>&1); then
		pass ansible_lint
	else
		fail ansible_lint "expected ansible-lint (offline, production profile) to pass, saw: $(echo "$out" | tail -20)"
	fi
	if out=$(cd "$ansible_dir" && ANSIBLE_LOCAL_TEMP=$work/ansible-tmp \
		ansible-playbook --syntax-check site.yml upgrade.yml 2>&1); then
		pass ansible_syntax
	else
		fail ansible_syntax "expected site.yml and upgrade.yml to parse, saw: $(echo "$out" | tail -10)"
	fi
	# The configs the roles write, rendered from a one-store inventory on
	# this machine, must be accepted by the binaries' own parsers.
	cat >"$work/inv.yml" <<EOF
all:
  vars: {ansible_connection: local, phalanx_mgmt_net: 192.0.2.0/24}
  children:
    stores: {hosts: {store1: {phalanx_store_addr: 192.0.2.10, phalanx_store_port: 7700}}}
    members: {hosts: {fw1: {phalanx_member_sync_ip: 169.254.77.1}}}
EOF
	# Each role's defaults and templates, in a role of its own that only
	# renders: the defaults keep their (lowest) precedence.
	for r in phalanx_store phalanx_member; do
		mkdir -p "$work/roles/${r}_render/tasks"
		ln -s "$ansible_dir/roles/$r/defaults" "$ansible_dir/roles/$r/templates" "$work/roles/${r}_render/"
		cat >"$work/roles/${r}_render/tasks/main.yml" <<EOF
- name: Render
  ansible.builtin.template:
    src: "{{ item }}.j2"
    dest: "$work/{{ inventory_hostname }}-{{ item }}"
    mode: "0644"
  loop: "{{ ['store.conf', 'phalanxctl.conf'] if 'stores' in group_names else ['node.conf'] }}"
EOF
	done
	cat >"$work/render.yml" <<EOF
- name: Render the stores' configs
  hosts: stores
  gather_facts: false
  roles: [phalanx_store_render]
- name: Render the members' configs
  hosts: members
  gather_facts: false
  roles: [phalanx_member_render]
EOF
	if ! out=$(ANSIBLE_LOCAL_TEMP=$work/ansible-tmp ANSIBLE_ROLES_PATH=$work/roles \
		ansible-playbook -i "$work/inv.yml" "$work/render.yml" 2>&1); then
		fail ansible_render "expected the roles' templates to render, saw: $(echo "$out" | tail -10)"
	else
		ok=1
		for c in store:store1-store.conf node:fw1-node.conf; do
			d=${c%%:*} f=$work/${c#*:}
			if ! out=$("$BUILD/phalanx-$d" --config "$f" --help 2>&1 >/dev/null); then
				fail ansible_render "expected phalanx-$d to accept the rendered ${c#*:}, saw: $out"
				ok=0
			fi
		done
		if ! grep -qx 'store = tcp://192.0.2.10:7700' "$work/store1-phalanxctl.conf" ||
			! grep -qx 'store-key = /etc/phalanx/stores/store1.pub' "$work/fw1-node.conf"; then
			fail ansible_render "expected the store's endpoint and key file in phalanxctl.conf and node.conf, saw: $(cat "$work/store1-phalanxctl.conf" "$work/fw1-node.conf" | grep -E '^store')"
			ok=0
		fi
		[ $ok = 1 ] && pass ansible_render
	fi
	# Three stores: each store's config is a Raft peer of the others,
	# with its own id, accepted by phalanx-store's parser.
	cat >"$work/inv3.yml" <<EOF
all:
  vars: {ansible_connection: local, phalanx_mgmt_net: 192.0.2.0/24}
  children:
    stores:
      hosts:
        store1: {phalanx_store_addr: 192.0.2.10}
        store2: {phalanx_store_addr: 192.0.2.11}
        store3: {phalanx_store_addr: 192.0.2.12}
    members: {hosts: {fw1: {phalanx_member_sync_ip: 169.254.77.1}}}
EOF
	rm -f "$work"/store*-store.conf
	if ! out=$(ANSIBLE_LOCAL_TEMP=$work/ansible-tmp ANSIBLE_ROLES_PATH=$work/roles \
		ansible-playbook -i "$work/inv3.yml" "$work/render.yml" 2>&1); then
		fail ansible_render_three_stores "expected the roles' templates to render, saw: $(echo "$out" | tail -10)"
	else
		ok=1 seen=
		peers='raft-peers = store1=1@192.0.2.10:7710,store2=2@192.0.2.11:7710,store3=3@192.0.2.12:7710'
		for k in 1 2 3; do
			f=$work/store$k-store.conf
			if ! out=$("$BUILD/phalanx-store" --config "$f" --help 2>&1 >/dev/null); then
				ok=0 seen="$seen store$k refused: $out;"
			fi
			grep -qx "$peers" "$f" && grep -qx "raft-id = $k" "$f" &&
				grep -qx 'raft-ctl-endpoints = tcp://192.0.2.10:7700,tcp://192.0.2.11:7700,tcp://192.0.2.12:7700' "$f" ||
				{ ok=0; seen="$seen store$k: $(grep '^raft' "$f" | tr '\n' ' ');"; }
		done
		if [ $ok = 1 ]; then pass ansible_render_three_stores
		else fail ansible_render_three_stores "expected each store's config to list the three peers with its own id and be accepted by phalanx-store, saw:$seen"; fi
	fi
fi

# ---- Debian packages (built by `make deb', here if not yet: about a
# minute; a failed build is a FAIL, not a skip) ----
debs=$(ls "$BUILD"/deb/*.deb 2>/dev/null)
if [ -z "$debs" ] && command -v dpkg-buildpackage >/dev/null && [ -z "${PHALANX_BUILD:-}" ]; then
	echo "    building the packages: make deb"
	if ! (cd "$REPO" && timeout 900 make deb >"$work/deb.log" 2>&1); then
		fail deb_build "make deb failed: $(tail -5 "$work/deb.log" | tr '\n' ' ')"
	fi
	debs=$(ls "$BUILD"/deb/*.deb 2>/dev/null)
fi
if [ -z "$debs" ]; then
	skip deb "no packages in $BUILD/deb (run make deb)"
else
	ok=1
	for p in phalanx-store phalanx-node phalanxctl; do
		f=$(ls "$BUILD"/deb/"${p}"_*.deb 2>/dev/null | head -1)
		[ -n "$f" ] || { fail deb "expected ${p}_*.deb in $BUILD/deb"; ok=0; continue; }
		dpkg-deb -c "$f" | awk '{print $6}' | sed 's|^\./|/|' >"$work/$p.files"
		case $p in
		phalanx-store) want="/usr/sbin/phalanx-store /lib/systemd/system/phalanx-store.service /usr/share/man/man8/phalanx-store.8.gz" ;;
		phalanx-node) want="/usr/sbin/phalanx-node /lib/systemd/system/phalanx-node.service /usr/share/man/man8/phalanx-node.8.gz
			/usr/share/phalanx/keepalived/px-render /usr/share/phalanx/keepalived/keepalived.conf.in
			/lib/systemd/system/keepalived.service.d/phalanx.conf /usr/lib/tmpfiles.d/phalanx.conf" ;;
		phalanxctl) want="/usr/bin/phalanxctl /usr/share/man/man1/phalanxctl.1.gz /usr/share/man/man5/phalanx.conf.5.gz" ;;
		esac
		for w in $want; do
			grep -qx "$w" "$work/$p.files" || { fail deb "expected $w in $(basename "$f")"; ok=0; }
		done
		dep=$(dpkg-deb -f "$f" Depends)
		for w in libzmq5 $( [ $p = phalanx-node ] && echo keepalived conntrackd libnftnl11 ) \
			$( [ $p = phalanx-store ] && echo liblmdb0 ); do
			echo "$dep" | grep -q "\b$w\b" || { fail deb "expected $p to depend on $w, saw: $dep"; ok=0; }
		done
	done
	[ $ok = 1 ] && pass "deb ($(echo "$debs" | wc -l) packages)"
fi
