#!/usr/bin/env bash
# Package one built binary as a release archive: <out>/mlcanary-<version>-<target>.tar.gz holding
# mlcanary-<version>-<target>/mlcanary (+ README.md/LICENSE when present), and its .sha256 beside it.
# Used by .github/workflows/release.yml; the layout is what scripts/action/install.sh expects.
# Usage: packaging/package.sh VERSION TARGET BINARY OUT_DIR   (prints the archive path)
set -euo pipefail

[[ $# -eq 4 ]] || {
	echo "usage: $0 VERSION TARGET BINARY OUT_DIR" >&2
	exit 2
}
version="$1" target="$2" binary="$3" out="$4"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || {
	echo "bad version '$version'" >&2
	exit 2
}
[[ -x "$binary" ]] || {
	echo "not an executable: $binary" >&2
	exit 2
}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="mlcanary-$version-$target"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stage="$(mktemp -d "${TMPDIR:-/tmp}/mlcanary-package.XXXXXX")"
trap 'rm -rf -- "$stage"' EXIT

mkdir "$stage/$name"
cp "$binary" "$stage/$name/mlcanary"
chmod 755 "$stage/$name/mlcanary"
for doc in README.md LICENSE; do
	if [[ -f "$root/$doc" ]]; then cp "$root/$doc" "$stage/$name/"; fi
done
# COPYFILE_DISABLE: no macOS AppleDouble (._*) entries in the archive
COPYFILE_DISABLE=1 tar -czf "$out/$name.tar.gz" -C "$stage" "$name"
if command -v sha256sum >/dev/null 2>&1; then
	(cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
else
	(cd "$out" && shasum -a 256 "$name.tar.gz" >"$name.tar.gz.sha256")
fi
printf '%s\n' "$out/$name.tar.gz"
