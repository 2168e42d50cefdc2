#!/usr/bin/env bash
# Append release sums to packaging/checksums.txt, which the action trusts (see its header).
# Input: files in `sha256sum` format ("<sha256>  mlcanary-<version>-<target>.tar.gz"). Every line is
# validated; a line already present is skipped (re-runs are harmless); an archive that is already
# listed with a DIFFERENT sum is an error, since a published archive must never change.
# Usage: packaging/append-checksums.sh CHECKSUMS_TXT SUMS_FILE...
set -euo pipefail

[[ $# -ge 2 ]] || {
	echo "usage: $0 CHECKSUMS_TXT SUMS_FILE..." >&2
	exit 2
}
checksums="$1"
shift
[[ -f "$checksums" ]] || {
	echo "no such file: $checksums" >&2
	exit 2
}
name_re='^mlcanary-[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?-(x86_64|aarch64)-(unknown-linux-musl|apple-darwin)\.tar\.gz$'
added=0
while read -r sum name rest; do
	[[ -z "$sum" || "$sum" == \#* ]] && continue
	name="${name#\*}"
	sum="$(printf '%s' "$sum" | tr 'A-F' 'a-f')"
	if [[ -n "$rest" || ! "$sum" =~ ^[0-9a-f]{64}$ || ! "$name" =~ $name_re ]]; then
		echo "malformed sum line: $sum $name $rest" >&2
		exit 1
	fi
	listed="$(awk -v n="$name" '$1 !~ /^#/ && ($2 == n || $2 == "*" n) { print $1 }' "$checksums")"
	if [[ -z "$listed" ]]; then
		printf '%s  %s\n' "$sum" "$name" >>"$checksums"
		added=$((added + 1))
	elif [[ "$listed" != "$sum" ]]; then
		echo "$name is already listed with another sum ($listed); refusing to change a published archive" >&2
		exit 1
	fi
done < <(cat -- "$@")
echo "appended $added line(s) to $checksums" >&2
