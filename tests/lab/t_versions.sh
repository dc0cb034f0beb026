#!/usr/bin/env bash
# Lab tests of issue 11 items 4 and 6: the policy's versions (one store,
# two members):
#   versions_diff             diff V0 V shows the entries added and removed,
#                             the set created, the limit and the rule that
#                             changed; diff of V and V0 the other way round
#   versions_rollback         rollback V0 --wait: every member's kernel
#                             loses the entries and the set, the limit and
#                             the rule are back; diff to V0 is empty
#   versions_rollforward      rollback to the version before that rollback
#                             brings it all back into the kernels
#   versions_confirm_revert   a change made with --confirm 10 and not
#                             confirmed is reverted by the store itself on
#                             every member; a later change by another
#                             write stays; the history names the revert
#   versions_confirm_rule     a deny rule made with --confirm is reverted
#                             (a change that locks the operator out heals)
#   versions_confirmed_stays  confirmed in time, the change stays after
#                             its deadline
#   versions_refused          rollback to a future version, confirm of a
#                             version that waits for none, an operator's
#                             rollback, a client's --confirm on a non-policy
#                             write: each exits 1 and the version stays
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
W=--wait=20
FE=flood-exceptions

ver() { store_version; }
rule_names() { ctl --json rules list | python3 -c '
import json,sys; print(" ".join(r["name"] for r in json.load(sys.stdin)["rules"]))'; }
limit_of() { ctl --json limits show | python3 -c '
import json,sys
for l in json.load(sys.stdin)["limits"]:
    if l["name"] == sys.argv[1]: print(l["value"])' "$1"; }
# in_all KSET ADDR / in_none KSET ADDR: on every member's kernel / none
in_all() { every_member in_set "$1" "$2"; }
not_in() { ! in_set "$1" "$2" "$3"; }
in_none() { every_member not_in "$1" "$2"; }
set_absent() { ! lab exec "$1" "$REPO/build/nftcount" phalanx "$2.v4" >/dev/null 2>&1; }
pending_count() { ctl --json pending | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
no_pending() { [ "$(pending_count)" = 0 ]; }

V0=$(ver)
ctl exceptions add $FE 203.0.113.1 203.0.113.2 $W >/dev/null &&
ctl exceptions create tmps >/dev/null &&
ctl exceptions add tmps 192.0.2.55 $W >/dev/null &&
ctl limits set tcp-connect-rate 200 >/dev/null &&
ctl rules add blk --action deny --src-set tmps >/dev/null &&
ctl exceptions del $FE 203.0.113.2 $W >/dev/null || { fail setup "the writes failed"; exit 1; }
V1=$(ver)
LIM0=600

# --- diff -----------------------------------------------------------------
t=versions_diff
d=$(ctl --json diff "$V0" "$V1")
r=$(python3 -c '
import json,sys
d = json.loads(sys.argv[1])
s = {x["set"]: x for x in d["sets"]}
ok = s["flood-exceptions"]["added"] == ["203.0.113.1"] and \
     s["flood-exceptions"]["removed"] == [] and \
     s["tmps"]["created"] and s["tmps"]["added"] == ["192.0.2.55"] and \
     [(l["name"], l["from"], l["to"]) for l in d["limits"]] == \
        [("tcp-connect-rate", 600, 200)] and \
     d["rules"]["added"] == ["blk"]
print("ok" if ok else "bad")' "$d")
back=$(ctl --json diff "$V1" "$V0" | python3 -c '
import json,sys
d = json.load(sys.stdin); s = {x["set"]: x for x in d["sets"]}
print("ok" if s["tmps"]["destroyed"] and s["flood-exceptions"]["removed"] == ["203.0.113.1"]
      and d["rules"]["removed"] == ["blk"] else "bad")')
if [ "$r" = ok ] && [ "$back" = ok ]; then pass $t
else fail $t "expected 203.0.113.1 added, tmps created with 192.0.2.55, tcp-connect-rate 600->200, rule blk (and the reverse), saw $d / reverse $back"; fi

# --- rollback ---------------------------------------------------------------
t=versions_rollback
if ! out=$(ctl rollback "$V0" $W 2>&1); then
	fail $t "rollback $V0 failed: $out"
else
	V2=$(ver)
	same=$(ctl diff "$V0" "$V2")
	if ! in_none $FE.v4 203.0.113.1; then fail $t "203.0.113.1 still in a member's kernel"
	elif ! every_member set_absent tmps; then fail $t "set tmps still in a member's kernel"
	elif [ -n "$(rule_names)" ]; then fail $t "expected no rules, saw $(rule_names)"
	elif [ "$(limit_of tcp-connect-rate)" != $LIM0 ]; then fail $t "expected tcp-connect-rate $LIM0, saw $(limit_of tcp-connect-rate)"
	elif [ "$V2" != $((V1 + 1)) ]; then fail $t "expected one new version $((V1 + 1)), saw $V2"
	elif [ "$same" != "$(printf 'version %s -> %s\nno difference' "$V0" "$V2")" ]; then fail $t "expected no difference to $V0, saw $same"
	else pass $t; fi
fi

t=versions_rollforward
if ! out=$(ctl rollback "$V1" $W 2>&1); then fail $t "rollback $V1 failed: $out"
elif ! in_all $FE.v4 203.0.113.1 || ! in_all tmps.v4 192.0.2.55; then fail $t "expected 203.0.113.1 and tmps' 192.0.2.55 back in every kernel"
elif in_set fw1 $FE.v4 203.0.113.2; then fail $t "203.0.113.2 (deleted before $V1) came back"
elif [ "$(rule_names)" != blk ] || [ "$(limit_of tcp-connect-rate)" != 200 ]; then fail $t "expected rule blk and tcp-connect-rate 200, saw '$(rule_names)' $(limit_of tcp-connect-rate)"
else pass $t; fi

# --- --confirm ----------------------------------------------------------------
t=versions_confirm_revert
ctl exceptions add $FE 203.0.113.7 --confirm 10 $W >/dev/null
VC=$(ver)
ctl exceptions add $FE 203.0.113.8 $W >/dev/null
if ! in_all $FE.v4 203.0.113.7; then fail $t "203.0.113.7 never reached the kernels"
elif [ "$(pending_count)" != 1 ]; then fail $t "expected version $VC pending, saw $(ctl pending)"
elif ! wait_until 25 in_none $FE.v4 203.0.113.7; then fail $t "203.0.113.7 still in a kernel 25 s after it was made with --confirm 10"
elif ! in_all $FE.v4 203.0.113.8; then fail $t "the later change (203.0.113.8) was reverted too"
elif ! ctl history | grep -q "revert of version $VC (not confirmed in time)"; then fail $t "no revert of version $VC in the history"
elif ! no_pending; then fail $t "still pending after the revert: $(ctl pending)"
else pass $t; fi

t=versions_confirm_rule
ctl rules add lockout --action deny --confirm 2 >/dev/null
if [[ " $(rule_names) " != *" lockout "* ]]; then fail $t "rule lockout was not added"
elif ! wait_until 15 eval '[[ " $(rule_names) " != *" lockout "* ]]'; then fail $t "rule lockout still there 15 s after its 2 s --confirm"
elif [ "$(rule_names)" != blk ]; then fail $t "expected rule blk to stay, saw $(rule_names)"
else pass $t; fi

t=versions_confirmed_stays
ctl exceptions add $FE 203.0.113.9 --confirm 6 >/dev/null
VK=$(ver)
by=$(ctl --json pending | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["confirm_by_ms"])')
if ! out=$(ctl confirm "$VK" 2>&1); then fail $t "confirm $VK failed: $out"
else
	# until the deadline has passed (the store looks once a second)
	left=$(( by + 1500 - $(date +%s%3N) ))
	[ $left -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
	wait_until 20 every_member in_set $FE.v4 203.0.113.9
	if ! in_all $FE.v4 203.0.113.9; then fail $t "203.0.113.9 reverted although confirmed"
	elif [ "$(ver)" != "$VK" ]; then fail $t "expected version $VK to stay current, saw $(ver)"
	elif ! no_pending; then fail $t "still pending: $(ctl pending)"
	else pass $t; fi
fi

t=versions_refused
v=$(ver)
bad=""
ctl rollback $((v + 5)) >/dev/null 2>&1 && bad="$bad rollback-to-future"
ctl confirm "$v" >/dev/null 2>&1 && bad="$bad confirm-of-unpending"
lab ctl-as operator rollback "$V0" >/dev/null 2>&1 && bad="$bad operator-rollback"
ctl members drain fw2 --confirm 5 >/dev/null 2>&1 && bad="$bad confirm-on-drain"
lab ctl-as viewer diff "$V0" "$v" >/dev/null 2>&1 || bad="$bad viewer-diff-refused"
if [ -n "$bad" ]; then fail $t "expected each refused (a viewer's diff answered), saw:$bad"
elif [ "$(ver)" != "$v" ]; then fail $t "expected version $v to stay, saw $(ver)"
else pass $t; fi
