#!/usr/bin/env bash
# Lab test of a member whose state cannot be written (issue 7's "never
# acknowledge a change it did not keep", as the state moved to LMDB in
# issue 8): fw1's state directory is a 2 MiB tmpfs, so a 200,000-entry
# import fits in its kernel but not in its state.  The member enforces
# the version, but does not acknowledge it (a restart would come back
# with the older one): `--wait' fails naming fw1, the store sees fw1 at
# the older version and degraded "state not written".  Once the disk has
# room, the member writes its state again by itself (every 10 s) and
# acknowledges; nobody has to push anything.
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 1
SET=flood-exceptions
SDIR=$PHALANX_LAB_STATE/fw1/cache.state
N=200000
mounted=0
teardown() {
	lab stop fw1 >/dev/null 2>&1
	[ $mounted = 1 ] && umount "$SDIR"
	lab_teardown
}
trap teardown EXIT

# fw1 alone: "KEY=VALUE ..." of the store's members list.
fw1() {
	ctl --json members list | python3 -c '
import json, sys
m = [m for m in json.load(sys.stdin)["members"] if m["member"] == "fw1"][0]
print("applied=%d up=%d health=%s" % (m["applied_version"], m["up"], m["health"]))'
}
fw1_is() { [ "$(fw1)" = "$1" ]; }
count() { lab exec fw1 "$REPO/build/nftcount" phalanx $SET.v4 2>/dev/null | awk '{ print $NF }'; }

lab stop fw1 >/dev/null
mkdir -p "$SDIR"
if ! mount -t tmpfs -o size=2m,mode=0700 phalanx-t-state-full "$SDIR"; then
	fail setup "cannot mount a 2 MiB tmpfs on $SDIR"
	exit 1
fi
mounted=1
lab start fw1 >/dev/null
v0=$(store_version)
wait_until 20 fw1_is "applied=$v0 up=1 health=ok" ||
	{ fail setup "fw1 not back at version $v0 on an empty state; saw $(fw1)"; exit 1; }

t=state_not_written_not_acknowledged
big=$(mktemp /tmp/pxsf-import.XXXXXX)
python3 -c '
import sys
for i in range(int(sys.argv[1])):
    print("10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255))' $N >"$big"
out=$(ctl exceptions import $SET "$big" --wait=8 2>&1); rc=$?
v1=$((v0 + 1))
n=$(count)
seen=$(fw1)
detail=$(ctl --json members list | grep -o 'state not written' | head -1)
if [ $rc -ne 0 ] && echo "$out" | grep -q "not applied within 8 s by fw1 (at $v0)" &&
	[ "$n" = "$N" ] && [ "$seen" = "applied=$v0 up=1 health=degraded" ] &&
	grep -q "state .* not written" "$PHALANX_LAB_STATE/fw1.log"; then
	pass "$t (the kernel holds all $n entries; the store sees fw1 at $v0, degraded)"
else
	fail $t "expected --wait to fail naming fw1 at $v0, $N entries in fw1's kernel, fw1 reported at $v0 and degraded; saw exit $rc: $(echo "$out" | tail -1); kernel $n; $seen $detail"
fi

t=state_written_later_then_acknowledged
mount -o remount,size=256m "$SDIR"
if wait_until 30 fw1_is "applied=$v1 up=1 health=ok" &&
	grep -q "version $v1 written .* after the earlier failure: acknowledged" "$PHALANX_LAB_STATE/fw1.log"; then
	pass "$t (fw1 acknowledged version $v1 once its state had room)"
else
	fail $t "expected fw1 at $v1 and ok within 30 s of the disk having room; saw $(fw1)"
	show_log fw1
fi
rm -f "$big"
