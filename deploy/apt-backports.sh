#!/bin/sh
# Enable Debian's bookworm-backports from the Debian mirror this machine is
# already configured with (libraft-dev 0.22.1 comes from there; issue 9).
# The mirror is read from the apt sources (deb822 files under
# /etc/apt/sources.list.d/, or one-line sources.list); no host name is
# written into the repository.  Backports keep their low pin priority: only
# packages asked for with `-t bookworm-backports` come from there.
# Prints what it did; exits 0 if backports were already enabled.
set -eu

out=/etc/apt/sources.list.d/phalanx-backports.sources
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || { echo "apt-backports: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }
suite="$codename-backports"

if grep -rqs -e "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/ ; then
	echo "apt-backports: $suite already enabled"
	exit 0
fi

# The first deb822 stanza whose Suites name the release itself (not
# -security), else the first one-line "deb URI CODENAME" entry.
uri=$(awk -v c="$codename" '
	BEGIN { RS = ""; FS = "\n" }
	{
		u = ""; s = ""; t = ""
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^URIs:/)   { u = $i; sub(/^URIs:[ \t]*/, "", u); sub(/[ \t].*/, "", u) }
			if ($i ~ /^Suites:/) { s = " " $i " " }
			if ($i ~ /^Types:/)  { t = $i }
		}
		if (u != "" && t ~ /deb( |$)/ && s ~ (" " c " ")) { print u; exit }
	}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
	uri=$(awk -v c="$codename" '$1 == "deb" && $0 !~ /security/ {
		for (i = 2; i <= NF; i++) if ($i == c) { u = $(i - 1); print u; exit } }' \
		/etc/apt/sources.list)
fi
case "$uri" in
http://*|https://*|file:*|mirror*) ;;
*) echo "apt-backports: found no Debian mirror for $codename in the apt sources" >&2; exit 1 ;;
esac

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
{
	echo "# Written by phalanx deploy/apt-backports.sh from the configured mirror"
	echo "Types: deb"
	echo "URIs: $uri"
	echo "Suites: $suite"
	echo "Components: main"
	[ -f "$keyring" ] && echo "Signed-By: $keyring"
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "apt-backports: enabled $suite from $uri ($out)"
