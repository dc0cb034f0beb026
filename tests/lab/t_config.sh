#!/usr/bin/env bash
# Lab tests of issue 11 item 5, declarative configuration (one store, one
# member):
#   config_roundtrip_noop     `config export | config apply -' makes no
#                             version, and config plan of it says "no
#                             difference"
#   config_plan_changes_nothing  plan of an edited file lists the set
#                             destroyed and created, the limit and the rule,
#                             and the version and fw1's kernel stay
#   config_apply_one_version  apply of the edited file is exactly one new
#                             version: the new set (5000 entries from an
#                             entries file) is in fw1's kernel, the removed
#                             set is gone, the limit and rules are the file's;
#                             diff from the version before says the same
#   config_entries_dir        export ENTRIES_DIR writes big sets to files
#                             the YAML names, and that file applies as a
#                             no-op
#   config_refused            a rule naming a set the file lacks, a file
#                             without flood-exceptions, broken YAML (the
#                             line is named), an unknown key, an operator's
#                             apply: each exits 1 and the version stays
set -u -o pipefail
. "$(dirname "$0")/testlib.sh"
lab_setup 1
W=--wait=20
D=$(mktemp -d)
trap 'rm -rf "$D"; lab_teardown' EXIT

python3 -c 'import yaml' 2>/dev/null || { skip config "python3-yaml missing"; exit 0; }
ctl exceptions add flood-exceptions 203.0.113.1 2001:db8::/64 >/dev/null &&
ctl exceptions create tmps >/dev/null &&
ctl exceptions add tmps 192.0.2.55 >/dev/null &&
ctl limits set tcp-connect-rate 200 >/dev/null &&
ctl limits set tcp-connect-rate 900 --set tmps >/dev/null &&
ctl rules add blk --action deny --src-set tmps --proto tcp --port 22 >/dev/null &&
ctl services add web --dst 192.0.2.80 --port 80 --limit 100 >/dev/null &&
ctl networks add lan 10.0.0.0/8 $W >/dev/null || { fail setup "the writes failed"; exit 1; }
rule_names() { ctl --json rules list | python3 -c '
import json,sys; print(" ".join(r["name"] for r in json.load(sys.stdin)["rules"]))'; }
limit_of() { ctl --json limits show | python3 -c '
import json,sys
for l in json.load(sys.stdin)["limits"]:
    if l["name"] == sys.argv[1]: print(l["value"])' "$1"; }
count_of() { lab exec fw1 "$REPO/build/nftcount" phalanx "$1.v4" 2>/dev/null; }

t=config_roundtrip_noop
V=$(store_version)
ctl config export >"$D/a.yaml"
plan=$(ctl config plan "$D/a.yaml" 2>&1)
if ! out=$(ctl config export | ctl config apply - 2>&1); then fail $t "apply of the export failed: $out"
elif [ "$(store_version)" != "$V" ]; then fail $t "expected version $V to stay, saw $(store_version)"
elif [ "$(echo "$plan" | tail -1)" != "no difference" ]; then fail $t "expected the plan to say no difference, saw $plan"
else pass $t; fi

# The edit: tmps, its tier and the rule go, big comes from a file, the
# connect rate changes.
python3 - "$D" <<'PY'
import sys, yaml
d = sys.argv[1]
c = yaml.safe_load(open(d + "/a.yaml"))
c["sets"].pop("tmps")
c["sets"]["big"] = {"file": "big.entries"}
c["limits"] = [l for l in c["limits"] if l.get("tier") != "tmps"]
for l in c["limits"]:
    if l["name"] == "tcp-connect-rate" and "tier" not in l:
        l["value"] = 300
c.pop("rules")
yaml.safe_dump(c, open(d + "/b.yaml", "w"))
with open(d + "/big.entries", "w") as f:
    for i in range(5000):
        f.write("10.9.%d.%d\n" % (i >> 8, i & 255))
PY

t=config_plan_changes_nothing
V=$(store_version)
plan=$(ctl config plan "$D/b.yaml" 2>&1)
if ! grep -q "^set tmps: destroyed" <<<"$plan" || ! grep -q "^set big: created, +5000" <<<"$plan" ||
   ! grep -q "^limit tcp-connect-rate: 200 enforce -> 300 enforce" <<<"$plan" || ! grep -q "^rule - blk" <<<"$plan"; then
	fail $t "expected tmps destroyed, big created +5000, tcp-connect-rate 200->300, rule - blk, saw $(head -c 600 <<<"$plan")"
elif [ "$(store_version)" != "$V" ]; then fail $t "expected version $V to stay, saw $(store_version)"
elif [ "$(count_of tmps)" != 1 ] || count_of big >/dev/null; then fail $t "fw1's kernel changed: tmps $(count_of tmps), big $(count_of big)"
else pass $t; fi

t=config_apply_one_version
if ! out=$(ctl config apply "$D/b.yaml" $W 2>&1); then fail $t "apply failed: $out"
elif [ "$(store_version)" != $((V + 1)) ]; then fail $t "expected exactly one new version $((V + 1)), saw $(store_version)"
elif [ "$(count_of big)" != 5000 ]; then fail $t "expected big's 5000 entries in fw1's kernel, saw '$(count_of big)'"
elif count_of tmps >/dev/null; then fail $t "set tmps still in fw1's kernel"
elif [ -n "$(rule_names)" ] || [ "$(limit_of tcp-connect-rate)" != 300 ]; then fail $t "expected no rules and tcp-connect-rate 300, saw '$(rule_names)' $(limit_of tcp-connect-rate)"
elif ! grep -q "^set big: created, +5000 -0 entries" <<<"$(ctl diff "$V")"; then fail $t "diff $V does not show big created: $(ctl diff "$V" | head -5)"
elif [ "$(ctl config plan "$D/b.yaml" | tail -1)" != "no difference" ]; then fail $t "the applied file still plans changes"
else pass $t; fi

t=config_entries_dir
mkdir -p "$D/ent"
ctl config export "$D/ent" >"$D/c.yaml"
V=$(store_version)
if ! grep -q "big: {file: .*/big.entries}" "$D/c.yaml"; then fail $t "expected big as {file: ...}, saw $(grep big "$D/c.yaml" | head -2)"
elif [ "$(grep -vc '^#' "$D/ent/big.entries")" != 5000 ]; then fail $t "expected 5000 lines in big.entries"
elif ! (cd / && ctl config apply "$D/c.yaml" >/dev/null 2>&1); then fail $t "apply of the export with entries files failed"
elif [ "$(store_version)" != "$V" ]; then fail $t "expected no new version, saw $(store_version)"
else pass $t; fi

t=config_refused
V=$(store_version)
python3 - "$D" <<'PY'
import sys, yaml
d = sys.argv[1]
c = yaml.safe_load(open(d + "/a.yaml"))
c["sets"].pop("tmps")           # the rule and the tier still name it
yaml.safe_dump(c, open(d + "/r1.yaml", "w"))
c = yaml.safe_load(open(d + "/b.yaml"))
c["sets"].pop("flood-exceptions")
yaml.safe_dump(c, open(d + "/r2.yaml", "w"))
c = yaml.safe_load(open(d + "/b.yaml"))
c["colour"] = "blue"
yaml.safe_dump(c, open(d + "/r4.yaml", "w"))
PY
printf 'phalanx: 1\nsets:\n  flood-exceptions: [192.0.2.1\n  x: [\n' >"$D/r3.yaml"
bad=""
ctl config apply "$D/r1.yaml" >/dev/null 2>&1 && bad="$bad missing-set"
ctl config apply "$D/r2.yaml" >/dev/null 2>&1 && bad="$bad no-flood-exceptions"
e3=$(ctl config apply "$D/r3.yaml" 2>&1) && bad="$bad broken-yaml"
e4=$(ctl config plan "$D/r4.yaml" 2>&1) && bad="$bad unknown-key"
lab ctl-as operator config apply "$D/b.yaml" >/dev/null 2>&1 && bad="$bad operator"
if [ -n "$bad" ]; then fail $t "expected each refused, saw exit 0 for:$bad"
elif ! grep -q "line [0-9]" <<<"$e3"; then fail $t "expected the broken YAML's line named, saw $e3"
elif ! grep -q "unknown key .colour" <<<"$e4"; then fail $t "expected the unknown key named, saw $e4"
elif [ "$(store_version)" != "$V" ]; then fail $t "expected version $V to stay, saw $(store_version)"
else pass $t; fi
