#!/usr/bin/env bash
# Lab tests of the authenticated management plane (issue 11): CURVE on
# every socket, a ZAP handler that admits only keys the store holds,
# roles, member keys, revocation, secret key file modes.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
SET=flood-exceptions
KEYS=$PHALANX_LAB_STATE/keys
out=$(mktemp)
trap 'rm -f "$out"; lab_teardown' EXIT

# refused_at_handshake: the last command's stderr ($out) says the store
# refused the handshake, not that it refused a request.
refused_at_handshake() { grep -q "refused the handshake" "$out"; }
not_permitted() { grep -q "not permitted for this key" "$out"; }

# --- an unknown key gets nothing: not status, no write -------------------
t=anon_status_refused_at_handshake
if lab ctl-anon status >/dev/null 2>"$out"; then
	fail $t "expected exit 1 from ctl-anon status, saw 0"
elif ! refused_at_handshake; then
	fail $t "expected a handshake refusal, saw: $(head -c 300 "$out")"
elif ! grep -q "handshake on phalanx-ctl: unknown key" "$PHALANX_LAB_STATE/store1.log"; then
	fail $t "expected the store to log the refused handshake"; show_log store1
else
	pass $t
fi

t=anon_writes_refused_version_unchanged
v0=$(store_version)
bad=
while IFS= read -r cmd; do
	# shellcheck disable=SC2086
	if lab ctl-anon $cmd >/dev/null 2>"$out"; then
		bad="$bad; '$cmd' exited 0"
	elif ! refused_at_handshake; then
		bad="$bad; '$cmd': $(head -c 200 "$out")"
	fi
done <<'CMDS'
exceptions add flood-exceptions 0.0.0.0/0
exceptions del flood-exceptions 192.0.2.1
exceptions create anon-set
exceptions import flood-exceptions /dev/null
limits set tcp-connect-rate 1
rules add drop-all --action deny
services add anon --dst 203.0.113.100 --port 80 --limit 5
alerts define tcp-connect-rate --disable
alerts reset --all
members remove fw1
members drain fw1
members enroll evil kD!J7vb%pxUF.%t@G}u:M{VyHv<WH.IzpqH]4gjQ
admins add evil kD!J7vb%pxUF.%t@G}u:M{VyHv<WH.IzpqH]4gjQ --role admin
CMDS
v1=$(store_version)
if [ -n "$bad" ]; then
	fail $t "expected every ctl-anon write refused at the handshake, saw${bad}"
elif [ "$v1" != "$v0" ]; then
	fail $t "expected the store's version to stay $v0, saw $v1"
else
	pass $t
fi

# --- roles ----------------------------------------------------------------
t=viewer_reads_but_cannot_write
v0=$(store_version)
if ! lab ctl-as viewer status >/dev/null 2>"$out"; then
	fail $t "expected the viewer's status to answer, saw: $(head -c 300 "$out")"
elif lab ctl-as viewer exceptions add $SET 192.0.2.31 >/dev/null 2>"$out"; then
	fail $t "expected the viewer's exceptions add refused, saw exit 0"
elif ! not_permitted; then
	fail $t "expected 'not permitted for this key', saw: $(head -c 300 "$out")"
elif [ "$(store_version)" != "$v0" ]; then
	fail $t "expected version $v0 unchanged, saw $(store_version)"
elif in_set fw1 $SET.v4 192.0.2.31; then
	fail $t "192.0.2.31 is in fw1's kernel set"
else
	pass $t
fi

t=operator_adds_exceptions_but_cannot_change_limits
v0=$(store_version)
if ! lab ctl-as operator exceptions add $SET 192.0.2.32 >/dev/null 2>"$out"; then
	fail $t "expected the operator's exceptions add to succeed, saw: $(head -c 300 "$out")"
elif lab ctl-as operator limits set tcp-connect-rate 1 >/dev/null 2>"$out"; then
	fail $t "expected the operator's limits set refused, saw exit 0"
elif ! not_permitted; then
	fail $t "expected 'not permitted for this key', saw: $(head -c 300 "$out")"
elif [ "$(store_version)" != "$((v0 + 1))" ]; then
	fail $t "expected version $((v0 + 1)) (the exception only), saw $(store_version)"
elif ! lab ctl --json limits show | grep -q '"tcp-connect-rate"'; then
	fail $t "limits show lost tcp-connect-rate"
elif lab ctl --json limits show | python3 -c '
import json, sys
d = json.load(sys.stdin)
l = [x for x in (d if isinstance(d, list) else d.get("limits", [])) if x.get("name") == "tcp-connect-rate"]
sys.exit(0 if l and l[0].get("value") == 1 else 1)'; then
	fail $t "tcp-connect-rate is 1: the operator's limits set went through"
else
	pass $t
fi

t=member_key_cannot_write
v0=$(store_version)
if lab ctl-as fw1 exceptions add $SET 192.0.2.33 >/dev/null 2>"$out"; then
	fail $t "expected fw1's key refused on ctl, saw exit 0"
elif ! refused_at_handshake; then
	fail $t "expected a handshake refusal, saw: $(head -c 300 "$out")"
elif [ "$(store_version)" != "$v0" ]; then
	fail $t "expected version $v0 unchanged, saw $(store_version)"
else
	pass $t
fi

# --- revocation -------------------------------------------------------------
# pub_conns fwK: fwK's established connections to the change stream.
pub_conns() { lab exec "$1" ss -Htn state established "( dport = :7702 )" | grep -c .; }
no_pub_conn() { [ "$(pub_conns "$1")" = 0 ]; }
member_down() {
	lab ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(m["member"] == sys.argv[1] and not m["up"] for m in d["members"]) else 1)' "$1"
}

t=revoked_member_loses_subscription_at_once
fw1pid=$(cat "$PHALANX_LAB_STATE/fw1.pid" 2>/dev/null)
if [ "$(pub_conns fw1)" = 0 ]; then
	fail $t "expected fw1 subscribed before the revocation, saw no connection"
elif ! lab ctl members revoke fw1 >/dev/null 2>"$out"; then
	fail $t "members revoke fw1 failed: $(head -c 300 "$out")"
elif ! wait_until 1 no_pub_conn fw1; then
	fail $t "expected fw1's change stream cut within 1 s, saw $(pub_conns fw1) connection(s)"
else
	# A change after the revocation reaches fw2 (it reconnected) and
	# never fw1.
	lab ctl exceptions add $SET 192.0.2.34 >/dev/null
	if ! wait_until 10 in_set fw2 $SET.v4 192.0.2.34; then
		fail $t "expected fw2 to get 192.0.2.34 after fw1's revocation"
	else
		sleep 2
		if in_set fw1 $SET.v4 192.0.2.34; then
			fail $t "expected fw1 (revoked) never to get 192.0.2.34, saw it in its kernel"
		else
			pass $t
		fi
	fi
fi

t=revoked_member_heartbeats_refused
if ! wait_until 15 member_down fw1; then
	fail $t "expected the store to count fw1 down after its revocation"
	lab ctl status | sed 's/^/    /'
elif [ -z "$fw1pid" ] || ! kill -0 "$fw1pid" 2>/dev/null; then
	fail $t "expected fw1's phalanx-node still running (pid ${fw1pid:-?})"
elif ! grep -qE "not an enrolled member's|handshake on phalanx-sync: unknown key" "$PHALANX_LAB_STATE/store1.log"; then
	fail $t "expected the store to log fw1's refused heartbeats"; show_log store1
elif ! grep -q "refused the handshake" "$PHALANX_LAB_STATE/fw1.log"; then
	fail $t "expected fw1's log to say the store refused its handshake"; show_log fw1
else
	pass $t
fi

# --- the audit trail ---------------------------------------------------------
t=history_records_who_what_versions
hist=$(lab ctl --json history 2>"$out")
if ! python3 - "$hist" <<'PY'
import json, sys
recs = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
def has(who, what, moved):
    for r in recs:
        if r["who"] == who and r["what"].startswith(what):
            if moved and r["version_after"] != r["version_before"] + 1:
                return False
            if not moved and r["version_after"] != r["version_before"]:
                return False
            return True
    return False
ok = (has("operator", "exceptions add flood-exceptions", True) and
      has("admin", "members revoke fw1", False) and
      has("admin", "members enroll fw1", False) and
      not any(r["who"] == "viewer" for r in recs) and
      not any(r["what"].startswith("limits set") for r in recs))
sys.exit(0 if ok else 1)
PY
then
	fail $t "expected operator's exceptions add (version +1), admin's enroll and revoke of fw1, nothing by the viewer, no limits set; saw: $(head -c 600 <<<"$hist") $(head -c 200 "$out")"
elif lab ctl-anon history >/dev/null 2>&1; then
	fail $t "expected ctl-anon history refused, saw exit 0"
else
	pass $t
fi

# --- secret key files -------------------------------------------------------
t=secret_key_0644_stops_daemons
bin=$(lab info | kv bin_dir)
loose=$KEYS/loose.sec
cp "$KEYS/fw2.sec" "$loose" && chmod 644 "$loose"
rc_s=0; rc_n=0
lab exec store1 timeout 10 "$bin/phalanx-store" --db "$PHALANX_LAB_STATE/loose-db" \
	--listen tcp://127.0.0.1:17700 --secret-key "$loose" >"$out" 2>&1 || rc_s=$?
msg_s=$(cat "$out")
lab exec fw2 timeout 10 "$bin/phalanx-node" --id loose --store tcp://127.0.0.1:17700 \
	--secret-key "$loose" --store-key "$KEYS/store.pub" --table loose \
	--cache "$PHALANX_LAB_STATE/loose.cache" >"$out" 2>&1 || rc_n=$?
msg_n=$(cat "$out")
if [ "$rc_s" != 1 ] || ! grep -qF "chmod 600 $loose" <<<"$msg_s"; then
	fail $t "expected phalanx-store to exit 1 naming 'chmod 600 $loose', saw exit $rc_s: $msg_s"
elif [ "$rc_n" != 1 ] || ! grep -qF "chmod 600 $loose" <<<"$msg_n"; then
	fail $t "expected phalanx-node to exit 1 naming 'chmod 600 $loose', saw exit $rc_n: $msg_n"
elif [ -e "$PHALANX_LAB_STATE/loose-db" ]; then
	fail $t "expected the store to stop before opening its database"
else
	pass $t
fi

# --- a member talks only to a store holding a key it pinned ------------------
# fw2 restarted pinning a key no store holds: the handshake fails, so it
# takes no change from the real store (nor would it from an impostor
# holding that endpoint); pinned again to the store's key, it catches up.
t=member_refuses_a_store_key_it_did_not_pin
cmdf=$PHALANX_LAB_STATE/fw2.cmd
keep=$(mktemp)
cp "$cmdf" "$keep"
lab stop fw2 >/dev/null
lab exec store1 "$bin/phalanxctl" keys gen --out "$KEYS/impostor.sec" >"$KEYS/impostor.pub" 2>"$out"
sed -i "s|--store-key [^ ]*|--store-key $KEYS/impostor.pub|" "$cmdf"
lines=$(wc -l <"$PHALANX_LAB_STATE/fw2.log")
lab start fw2 >/dev/null
lab ctl exceptions add $SET 192.0.2.35 >/dev/null
fw2_refused() { tail -n +"$lines" "$PHALANX_LAB_STATE/fw2.log" | grep -q "refused the handshake"; }
if ! grep -q -- "--store-key $KEYS/impostor.pub" "$cmdf" || [ ! -s "$KEYS/impostor.pub" ]; then
	fail $t "expected fw2's command to pin $KEYS/impostor.pub, saw: $(cat "$cmdf") $(head -c 200 "$out")"
elif wait_until 5 in_set fw2 $SET.v4 192.0.2.35; then
	fail $t "expected fw2, pinning a key the store does not hold, never to get 192.0.2.35, saw it in its kernel"
elif ! wait_until 5 fw2_refused; then
	fail $t "expected fw2's log to say the handshake failed"; show_log fw2
else
	lab stop fw2 >/dev/null
	cp "$keep" "$cmdf"
	lab start fw2 >/dev/null
	if wait_until 15 in_set fw2 $SET.v4 192.0.2.35; then pass $t
	else fail $t "expected fw2 pinning the store's key again to get 192.0.2.35"; show_log fw2; fi
fi
rm -f "$keep"
