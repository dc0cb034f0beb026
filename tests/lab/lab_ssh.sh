# lab_ssh.sh - an OpenSSH server per lab host, so that ansible-playbook
# reaches the lab's stores and members as it reaches real machines
# (sourced after testlib.sh, on a lab made with `lab up --no-daemons').
#
# Each host is one long-lived process, sshd -D, started as
#   ip netns exec NS unshare -m --propagation private sh -c MOUNTS; exec sshd
# so it and everything started through it (the play's commands, the
# daemons start-stop-daemon starts) live in the host's network namespace
# and in a mount namespace of its own:
#   /etc            overlay: the host's /etc below, $H/etc.up on top (its
#                   own /etc/phalanx, /etc/keepalived, /etc/conntrackd,
#                   /etc/sysctl.d, and the user phalanx the role makes)
#   /var/lib        overlay likewise, with /var/lib/phalanx bind-mounted
#                   from $H/lib (a real disk: the Raft log needs O_DIRECT)
#   /var/log        bind-mounted from $H/log (the daemons' logs)
#   /root           bind-mounted from $H/root: root's home, empty (the
#                   machine's root .bashrc, which bash runs for every
#                   command sshd starts, is not the lab host's; ansible's
#                   remote temporary files are the host's own)
#   /run            a tmpfs (/run/phalanx, pid files, conntrackd's lock
#                   and socket, sshd's privilege separation directory)
#   /usr            read-only overlay: `make install DESTDIR=$SSH_LAB/inst
#                   PREFIX=/usr' above the machine's /usr, the same for
#                   every host (phalanx_install: none in the lab inventory)
# The machine's own /etc, /var and /usr are never written.  /usr is one
# tree for all hosts, so a rolling upgrade's binary swap is not exercised.
#
# Root logs in by key only (a key made here), the client checks host keys
# against a known_hosts made here (StrictHostKeyChecking yes).
#   ssh_lab_init DIR          keys, known_hosts, ssh_config under DIR
#   ssh_host_up NAME ADDR     start NAME's sshd on ADDR (lab name: storeK, fwK)
#   ssh_host_ready NAME       sshd accepts our key
#   on NAME CMD..             run CMD as root on NAME over SSH
#   ssh_host_pid NAME         the pid of NAME's sshd (its holder)

SSH_LAB=
SSHD=/usr/sbin/sshd

ssh_lab_init() {
	SSH_LAB=$1
	mkdir -p -m 700 "$SSH_LAB" || return 1
	ssh-keygen -q -t ed25519 -N '' -C phalanx-lab -f "$SSH_LAB/id_ed25519" || return 1
	: >"$SSH_LAB/known_hosts"
	cat >"$SSH_LAB/ssh_config" <<EOF
Host *
	User root
	IdentityFile $SSH_LAB/id_ed25519
	IdentitiesOnly yes
	UserKnownHostsFile $SSH_LAB/known_hosts
	StrictHostKeyChecking yes
	PasswordAuthentication no
	BatchMode yes
	ConnectTimeout 5
EOF
}

# ssh_host_up NAME ADDR: the host's directories, host key and sshd_config,
# then its sshd (detached; its pid in $SSH_LAB/NAME.pid).
ssh_host_up() {
	local name=$1 addr=$2 ns h pid
	ns=$(lab_ns_of "$name") || return 1
	h=$SSH_LAB/hosts/$name
	mkdir -p "$h/etc.up/ssh" "$h/etc.work" "$h/lib.up/phalanx" "$h/lib.work" "$h/lib/phalanx" "$h/log" "$h/root" || return 1
	chmod 700 "$h/root" || return 1
	chmod 755 "$h/etc.up" "$h/etc.up/ssh" || return 1
	ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$h/ssh_host_ed25519_key" || return 1
	echo "$addr $(cut -d' ' -f1,2 "$h/ssh_host_ed25519_key.pub")" >>"$SSH_LAB/known_hosts"
	# in the host's /etc (the overlay), so StrictModes sees root's 0755 dirs
	install -m 0644 "$SSH_LAB/id_ed25519.pub" "$h/etc.up/ssh/px_lab_authorized_keys" || return 1
	cat >"$h/sshd_config" <<EOF
ListenAddress $addr
Port 22
HostKey $h/ssh_host_ed25519_key
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile /etc/ssh/px_lab_authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
PrintMotd no
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
	# shellcheck disable=SC2016
	(exec 9>&- && exec setsid ip netns exec "$ns" unshare -m --propagation private sh -euc '
		h=$1 inst=$2 sshd=$3
		mount -t overlay px-etc -o "lowerdir=/etc,upperdir=$h/etc.up,workdir=$h/etc.work" /etc
		mount -t overlay px-lib -o "lowerdir=/var/lib,upperdir=$h/lib.up,workdir=$h/lib.work" /var/lib
		mount --bind "$h/lib/phalanx" /var/lib/phalanx
		mount --bind "$h/log" /var/log
		mount --bind "$h/root" /root
		mount -t overlay px-usr -o "lowerdir=$inst/usr:/usr" /usr
		mount -t tmpfs -o mode=0755,size=64m px-run /run
		mkdir -m 0755 /run/sshd
		exec "$sshd" -D -e -f "$h/sshd_config"' sh "$h" "$SSH_LAB/inst" "$SSHD" \
		>>"$h/sshd.log" 2>&1 </dev/null) &
	pid=$!
	echo "$pid" >"$SSH_LAB/$name.pid"
}

lab_ns_of() { echo "$PHALANX_LAB_PREFIX-$1"; }
ssh_host_pid() { cat "$SSH_LAB/$1.pid"; }
# addr_of NAME: the host's management address in the lab
addr_of() {
	case $1 in
	store[1-9]) echo "192.0.2.$((9 + ${1#store}))" ;;
	fw[1-9]) echo "192.0.2.${1#fw}" ;;
	*) return 1 ;;
	esac
}
# on NAME CMD..: as root on NAME, from the ops namespace (the controller)
on() {
	local name=$1
	shift
	ip netns exec "$(lab_ns_of ops)" ssh -F "$SSH_LAB/ssh_config" "$(addr_of "$name")" "$@"
}
ssh_host_ready() { on "$1" true </dev/null; }

# ssh_lab_install: the build, installed as the packages would (PREFIX=/usr)
# into $SSH_LAB/inst, the /usr layer every host sees.
ssh_lab_install() {
	make -s -C "$REPO" install DESTDIR="$SSH_LAB/inst" PREFIX=/usr >"$SSH_LAB/install.log" 2>&1
}
