#!/usr/bin/env bash
# Lab test of DNS inspection (issue 12 item 8, docs/protection.md): a
# tiny DNS server (dns_server.py, dnspython) on the lab server's
# 203.0.113.100:53, clients through fw1.  Published without --inspect
# everything passes: a query, a zone transfer from any source, malformed
# responses.  With `--inspect dns --allow-zone-transfer xfr-ok': a query
# still answers, AXFR from a source outside xfr-ok fails and from one in
# it succeeds, responses with an RDLENGTH past the message, an A record
# of 8 bytes or a 321-byte name are dropped, logged with their reasons
# and alerted as `dns-intrusion'.  POP3 (pop3_server.py on port 110):
# `USER' with 100 characters is answered without --inspect, dropped with
# `--inspect pop3' (logged pop-buffer-overflow, alerted pop-intrusion),
# while a 40-character one is answered.  With fw1's agent stopped the
# queue's bypass lets the services through uninspected.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
PY=/usr/bin/python3
$PY -c 'import dns.zone, dns.query' 2>/dev/null ||
	{ skip dns "dnspython (python3-dnspython) is not installed"; exit 0; }
lab_setup 2
SRV=203.0.113.100
W=--wait=20
FWLOG=$PHALANX_LAB_STATE/fw1/cache.fwlog.jsonl
ALLOWED=$(client_ip 1 0)  # 198.51.100.2, in xfr-ok
OTHER=$(client_ip 1 1)    # 198.51.100.3
PIDF=$PHALANX_LAB_STATE/dns_server.pid
POPF=$PHALANX_LAB_STATE/pop3_server.pid
stop_servers() {
	[ -s "$PIDF" ] && kill "$(cat "$PIDF")" 2>/dev/null
	[ -s "$POPF" ] && kill "$(cat "$POPF")" 2>/dev/null
}
trap 'stop_servers; lab_teardown' EXIT
lab exec server $PY "$REPO/tests/lab/dns_server.py" $SRV 53 "$PIDF" 600 \
	>"$PHALANX_LAB_STATE/dns_server.log" 2>&1 &
lab exec server $PY "$REPO/tests/lab/pop3_server.py" $SRV 110 "$POPF" 600 \
	>"$PHALANX_LAB_STATE/pop3_server.log" 2>&1 &
wait_until 10 test -s "$PIDF" || { fail dns_server "the lab DNS server did not start"; exit 1; }
wait_until 10 test -s "$POPF" || { fail pop3_server "the lab POP3 server did not start"; exit 1; }

query() { lab exec client1 $PY "$REPO/tests/lab/dns_client.py" query "$1" $SRV "$2"; }
pop3() { lab exec client1 $PY "$REPO/tests/lab/dns_client.py" pop3 "$1" $SRV "$2"; }
axfr() { lab exec client1 $PY "$REPO/tests/lab/dns_client.py" axfr "$1" $SRV example.org; }
# expect NAME WANT-REGEX CMD...: the client's line matches.
expect() {
	local t=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	[[ $got =~ $want ]] && return 0
	fail "$t" "expected \`$want' from $*, saw \`$got'"
	return 1
}
logged() { # SRC REASON: a denied record of fw1's with that protection reason
	python3 - "$FWLOG" "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r.get("type") == "denied" and r.get("protection") == sys.argv[3]
            and r.get("src") == sys.argv[2]):
        sys.exit(0)
sys.exit(1)
PY
}
alerts_of() { # SRC: exceeded dns-intrusion alerts for SRC
	ctl alerts list --json --type dns-intrusion | python3 -c '
import json, sys
print(sum(1 for x in json.load(sys.stdin)["alerts"] if x["source"] == sys.argv[1] and x["state"] == "exceeded"))' "$1"
}
has_alert() { [ "$(alerts_of "$1")" -ge 1 ]; }
has_pop_alert() {
	ctl alerts list --json --type pop-intrusion | python3 -c '
import json, sys
sys.exit(0 if any(x["source"] == sys.argv[1] and x["state"] == "exceeded" for x in json.load(sys.stdin)["alerts"]) else 1)' "$1"
}
# nft prints an xtables target it cannot decode as nothing; its netlink
# debug output names it.
fw1_has_queue() { [ "$(lab exec fw1 nft --debug=netlink list chain inet phalanx inspect 2>/dev/null | grep -c 'target name NFQUEUE')" = 5 ]; }

if ! ctl exceptions create xfr-ok $W >/dev/null || ! ctl exceptions add xfr-ok $ALLOWED $W >/dev/null ||
   ! ctl services add dns --dst $SRV --port 53 --limit 1000 $W >/dev/null ||
   ! ctl services add pop --dst $SRV --port 110 --limit 1000 $W >/dev/null; then
	fail setup "cannot create the set xfr-ok or the service"; exit 1
fi

t=dns_uninspected_everything_passes
expect $t '^answer' query $OTHER www.example.org &&
expect $t '^records [0-9]+' axfr $OTHER &&
expect $t '^answer' query $OTHER bad-rdlen.example.org &&
expect $t '^answer' query $OTHER bad-name.example.org &&
expect $t '^ok' pop3 $OTHER 100 && pass $t

t=dns_inspect_set_and_listed
if ctl services del dns $W >/dev/null &&
   ctl services add dns --dst $SRV --port 53 --limit 1000 --inspect dns --allow-zone-transfer xfr-ok $W >/dev/null &&
   got=$(ctl services list --json | python3 -c '
import json, sys
print(",".join("%s:%s:%s" % (s["name"], s["inspect"], s["allow_zone_transfer"]) for s in json.load(sys.stdin)["services"] if s["name"] == "dns"))') &&
   [ "$got" = "dns:dns:xfr-ok" ]; then
	pass $t
else
	fail $t "expected service dns inspected with zone transfers from xfr-ok, saw ${got:-nothing}"
fi

t=dns_inspected_query_answers
expect $t '^answer' query $OTHER www.example.org && pass $t

t=dns_axfr_unlisted_source_fails
if expect $t '^failed' axfr $OTHER; then
	if wait_until 5 logged $OTHER dns-zone-transfer; then
		pass $t
	else
		fail $t "expected a dns-zone-transfer record from $OTHER in fw1's log"
	fi
fi

t=dns_axfr_listed_source_succeeds
expect $t '^records [0-9]+' axfr $ALLOWED && pass $t

t=dns_malformed_responses_dropped_and_logged
ok=1
for case in bad-rdlen:dns-length-overflow bad-a:dns-length-overflow bad-name:dns-host-name-overflow; do
	name=${case%%:*}.example.org reason=${case#*:}
	expect $t '^none' query $OTHER $name || { ok=0; break; }
	wait_until 5 logged $SRV $reason ||
		{ fail $t "expected a $reason record from $SRV in fw1's log"; ok=0; break; }
done
[ $ok = 1 ] && pass $t

t=dns_intrusion_alert_once
if ! wait_until 10 has_alert $SRV; then
	fail $t "expected an exceeded dns-intrusion alert for $SRV, saw none"
else
	query $OTHER bad-rdlen.example.org >/dev/null
	sleep 2 # a second alert, if the engine raised one, would be in by now
	n=$(alerts_of $SRV)
	[ "$n" = 1 ] && pass $t || fail $t "expected one dns-intrusion alert for $SRV in its window, saw $n"
fi

t=pop3_long_command_dropped_logged_alerted
if ! ctl services del pop $W >/dev/null ||
   ! ctl services add pop --dst $SRV --port 110 --limit 1000 --inspect pop3 $W >/dev/null; then
	fail $t "cannot publish pop with --inspect pop3"
elif expect $t '^ok' pop3 $OTHER 40 && expect $t '^none' pop3 $OTHER 100; then
	if ! wait_until 5 logged $OTHER pop-buffer-overflow; then
		fail $t "expected a pop-buffer-overflow record from $OTHER in fw1's log"
	elif ! wait_until 10 has_pop_alert $OTHER; then
		fail $t "expected an exceeded pop-intrusion alert for $OTHER"
	else
		pass $t
	fi
fi

t=dns_refusals
v0=$(store_version)
out1=$(ctl services add dns2 --dst $SRV --port 53 --limit 10 --allow-zone-transfer xfr-ok 2>&1); rc1=$?
out2=$(ctl services add dns2 --dst $SRV --port 53 --limit 10 --inspect pop4 2>&1); rc2=$?
out3=$(ctl services add dns2 --dst $SRV --port 53 --limit 10 --inspect dns --allow-zone-transfer nope 2>&1); rc3=$?
out4=$(ctl exceptions destroy xfr-ok 2>&1); rc4=$?
v1=$(store_version)
if [ $rc1 = 1 ] && [ $rc2 = 1 ] && [ $rc3 = 1 ] && [ $rc4 = 1 ] && [ "$v0" = "$v1" ] &&
   grep -q "needs --inspect dns" <<<"$out1" && grep -q "not an inspection" <<<"$out2" &&
   grep -q "no such set" <<<"$out3"; then
	pass $t
else
	fail $t "expected four refusals (exit 1), version $v0 unchanged, saw $rc1 $rc2 $rc3 $rc4, version $v1: $out1 / $out2 / $out3 / $out4"
fi

t=dns_agent_stopped_bypass_passes_uninspected
# The trade-off of `queue ... bypass': with fw1's agent down its kernel
# still holds the inspect chain, and lets the service through unread.
if ! lab stop fw1 >/dev/null 2>&1; then
	fail $t "lab stop fw1 failed"
elif ! fw1_has_queue; then
	fail $t "expected fw1's inspect chain to keep its queue rules with the agent stopped"
else
	expect $t '^answer' query $OTHER www.example.org &&
	expect $t '^records [0-9]+' axfr $OTHER &&
	expect $t '^answer' query $OTHER bad-rdlen.example.org &&
	expect $t '^ok' pop3 $OTHER 100 && pass $t
fi
