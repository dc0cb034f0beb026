#!/usr/bin/env bash
# Lab tests of the array foundation (issue 2): store, members, phalanxctl.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 2
SET=flood-exceptions

# --- an exception reaches every member's kernel within a second ---------
t=add_reaches_every_member_within_1s
ctl exceptions add $SET 192.0.2.201 >/dev/null
if wait_until 1 every_member has_elem $SET.v4 192.0.2.201; then
	pass $t
else
	fail $t "192.0.2.201 not in $SET.v4 of every member after 1 s"
	show_log fw1
fi

t=add_prefix_and_ipv6_land_in_right_kernel_sets
ctl exceptions add $SET 198.51.100.128/25 2001:db8:99::7 2001:db8:aa::/48 >/dev/null
if wait_until 2 every_member has_elem $SET.n4 198.51.100.130 &&
   every_member has_elem $SET.v6 2001:db8:99::7 &&
   every_member has_elem $SET.n6 2001:db8:aa::1; then
	pass $t
else
	fail $t "prefix/IPv6 entries missing from .n4/.v6/.n6 sets"
fi

# --- --wait returns only once every member has it -----------------------
t=wait_returns_after_every_member_applied
if ctl exceptions add $SET 192.0.2.202 --wait=10 >/dev/null; then
	missing=
	for k in 1 2; do has_elem fw$k $SET.v4 192.0.2.202 || missing="$missing fw$k"; done
	v=$(store_version)
	applied=$(ctl --json status | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(" ".join(str(m["applied_version"]) for m in d["members"]))')
	if [ -z "$missing" ]; then pass $t
	else fail $t "--wait returned but 192.0.2.202 missing on$missing (store v$v, applied $applied)"; fi
else
	fail $t "add --wait failed"
fi

t=wait_names_members_that_have_not_applied
lab stop fw2 --kill >/dev/null
# fw2 is still "up" for the store's member timeout: --wait must time out
# and name it.
msg=$(ctl exceptions add $SET 192.0.2.203 --wait=1 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q fw2 <<<"$msg"; then pass $t
else fail $t "expected exit 1 naming fw2, saw exit $rc: $msg"; fi
lab start fw2 >/dev/null
wait_until 10 has_elem fw2 $SET.v4 192.0.2.203 || fail restart_catches_up "fw2 restarted without 192.0.2.203"

# --- the ISA defaults are what the kernel enforces out of the box ----------
t=isa_defaults_in_kernel
blk=$(lab exec fw1 nft list set inet phalanx tcp_block4 2>&1)
tier=$(lab exec fw1 nft list chain inet phalanx tier_dflt 2>&1)
if grep -q "timeout 1m" <<<"$blk" &&
   grep -q "limit rate over 600/minute burst 600 packets" <<<"$tier" &&
   grep -q "ct count over 160" <<<"$tier"; then pass $t
else fail $t "expected a 1-minute block set and 600/minute, 160 concurrent in tier_dflt; saw: $blk $tier"; fi

# --- a table that is not Phalanx's is left untouched ----------------------
t=foreign_table_untouched
lab exec fw1 nft -f - <<'NFT' || fail $t "could not create the foreign table"
table inet foreign {
	set keep { type ipv4_addr; elements = { 10.9.9.9 }; }
	chain c { type filter hook input priority 10; policy accept; ip saddr @keep counter; }
}
NFT
before=$(lab exec fw1 nft list table inet foreign)
ctl exceptions add $SET 192.0.2.204 --wait=10 >/dev/null
lab stop fw1 >/dev/null; lab start fw1 >/dev/null   # restart = full rebuild
ctl exceptions del $SET 192.0.2.204 --wait=10 >/dev/null
after=$(lab exec fw1 nft list table inet foreign)
if [ "$before" = "$after" ] && [ -n "$before" ]; then pass $t
else fail $t "table inet foreign changed: before <<$before>> after <<$after>>"; fi
lab exec fw1 nft delete table inet foreign

# --- malformed input: clear error, nothing changed ------------------------
check_refused() { # name expect_exit expect_text cmd...
	local name=$1 want_rc=$2 want=$3
	shift 3
	local v0 v1 list0 list1 msg rc
	v0=$(store_version)
	list0=$(ctl exceptions list $SET)
	msg=$(ctl "$@" 2>&1); rc=$?
	v1=$(store_version)
	list1=$(ctl exceptions list $SET)
	if [ $rc -ne "$want_rc" ]; then
		fail "$name" "expected exit $want_rc, saw $rc: $msg"
	elif ! grep -qF -- "$want" <<<"$msg"; then
		fail "$name" "expected the error to contain \`$want', saw: $msg"
	elif [ "$v0" != "$v1" ] || [ "$list0" != "$list1" ]; then
		fail "$name" "store changed: version $v0 -> $v1"
	else
		pass "$name"
	fi
}
check_refused refuse_malformed_address 1 "10.0.0.300" exceptions add $SET 192.0.2.9 10.0.0.300
check_refused refuse_host_bits 1 "10.0.0.1/24" exceptions add $SET 10.0.0.1/24
check_refused refuse_unknown_set 1 "no-such-set" exceptions add no-such-set 192.0.2.9
check_refused refuse_unknown_limit 1 "tcp-connects" limits set tcp-connects 5
check_refused refuse_out_of_range_limit 1 "0" limits set tcp-concurrent 0
check_refused refuse_non_number_limit 1 "12abc" limits set tcp-concurrent 12abc
check_refused refuse_overlapping_prefix 1 "198.51.100.192/26" exceptions add $SET 198.51.100.192/26
check_refused refuse_del_absent 1 "192.0.2.250" exceptions del $SET 192.0.2.250
check_refused usage_unknown_command 2 "" exceptions frobnicate $SET
check_refused usage_missing_argument 2 "" exceptions add
bad=$(mktemp)
{ echo "# exceptions"; echo "192.0.2.1"; echo; echo "192.0.2.2   "; echo "10.0.0.0/8"; echo "10.0.0.300"; echo "192.0.2.3"; } >"$bad"
check_refused refuse_import_bad_line_names_line 1 "line 6" exceptions import $SET "$bad"
{ echo "192.0.2.1"; echo "10.0.0.1/8"; } >"$bad"
check_refused refuse_import_host_bits_line 1 "line 2" exceptions import $SET "$bad"
rm -f "$bad"

# --- the store restart keeps everything -----------------------------------
t=store_restart_keeps_state
ctl exceptions create nat-gateways >/dev/null
ctl exceptions add nat-gateways 203.0.113.50 >/dev/null
ctl limits set tcp-connect-rate 700 >/dev/null
v0=$(store_version); l0=$(ctl exceptions list $SET); s0=$(ctl limits show)
lab stop store1 >/dev/null && lab start store1 >/dev/null
v1=$(store_version); l1=$(ctl exceptions list $SET); s1=$(ctl limits show)
n1=$(ctl exceptions list nat-gateways)
if [ "$v0" = "$v1" ] && [ "$l0" = "$l1" ] && [ "$s0" = "$s1" ] &&
   grep -q 203.0.113.50 <<<"$n1" && grep -q 700 <<<"$s1"; then pass $t
else fail $t "after restart: version $v0 -> $v1, lists equal: $([ "$l0" = "$l1" ] && echo yes || echo no), limits equal: $([ "$s0" = "$s1" ] && echo yes || echo no)"; fi

# --- store killed: members keep enforcing, catch up when it returns -------
t=store_killed_members_keep_enforcing
lab stop store1 --kill >/dev/null
sleep 4   # past the members' store timeout (3 s)
ok=1
for k in 1 2; do
	has_elem fw$k $SET.v4 192.0.2.201 || ok=0
	has_elem fw$k nat-gateways.v4 203.0.113.50 || ok=0
	lab exec fw$k nft list chain inet phalanx input >/dev/null 2>&1 || ok=0
done
grep -q "enforcing version" "$PHALANX_LAB_STATE/fw1.log" || ok=0
if [ $ok = 1 ]; then pass $t; else fail $t "policy missing on a member with the store down"; show_log fw1; fi

t=member_restarted_while_store_down_restores_cache
lab stop fw1 >/dev/null
lab exec fw1 nft delete table inet phalanx   # nothing left in the kernel
lab start fw1 >/dev/null
if wait_until 5 has_elem fw1 $SET.v4 192.0.2.201 &&
   has_elem fw1 nat-gateways.v4 203.0.113.50; then pass $t
else fail $t "fw1 did not restore its policy from the cache"; show_log fw1; fi

t=changes_after_store_returns_reach_members
lab start store1 >/dev/null
if ctl exceptions add $SET 192.0.2.205 --wait=15 >/dev/null &&
   every_member has_elem $SET.v4 192.0.2.205; then pass $t
else fail $t "192.0.2.205 did not reach every member after the store returned"; show_log fw2; fi

# --- a 1,000,000-line import lands everywhere; one delete is incremental --
t=import_1m_lands_on_every_member
big=$(mktemp)
python3 - "$big" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# one million exception hosts\n")
    for i in range(1000000):
        f.write("10.%d.%d.%d\n" % (i >> 16, (i >> 8) & 255, i & 255))
PY
start=$(date +%s)
if ctl exceptions import $SET "$big" --wait=300 >/dev/null; then
	ok=1
	for k in 1 2; do
		n=$(lab exec fw$k "$REPO/build/nftcount" phalanx $SET.v4 2>&1)
		[ "$n" = 1000000 ] || { ok=0; echo "    fw$k: $SET.v4 has $n elements"; }
		has_elem fw$k $SET.v4 10.7.7.7 || ok=0
		has_elem fw$k $SET.v4 192.0.2.201 && ok=0   # replaced
	done
	if [ $ok = 1 ]; then pass "$t ($(( $(date +%s) - start )) s)"
	else fail $t "set sizes or contents differ from the file"; fi
else
	fail $t "import failed"; show_log store1; show_log fw1
fi
rm -f "$big"

t=single_delete_after_import_is_incremental
if ctl exceptions del $SET 10.7.7.7 --wait=30 >/dev/null; then
	v=$(store_version)
	ok=1
	for k in 1 2; do
		has_elem fw$k $SET.v4 10.7.7.7 && ok=0
		has_elem fw$k $SET.v4 10.7.7.6 || ok=0
		has_elem fw$k $SET.v4 10.7.7.8 || ok=0
		# the member's own account of the batch: one element deleted
		grep -q "applied version $v: +0 -1 elements" "$PHALANX_LAB_STATE/fw$k.log" || ok=0
	done
	n=$(lab exec fw1 "$REPO/build/nftcount" phalanx $SET.v4 2>&1)
	[ "$n" = 999999 ] || ok=0
	if [ $ok = 1 ]; then pass $t
	else fail $t "expected only 10.7.7.7 gone as a -1 batch (fw1 count $n)"; grep "applied version $v" "$PHALANX_LAB_STATE/fw1.log"; fi
else
	fail $t "del failed"
fi
