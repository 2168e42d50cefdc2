#!/usr/bin/env bash
# Package one built binary as a release archive: <out>/mlcanary-<version>-<target>.tar.gz holding
# mlcanary-<version>-<target>/mlcanary, README.md, LICENSE, the man page (mlcanary.1) and shell
# completions (completions/mlcanary.bash, _mlcanary for zsh, mlcanary.fish), and its .sha256 beside
# it. The man page and completions come from the binary itself (`mlcanary man`, `mlcanary
# completions SHELL`); for a cross-compiled binary that cannot run here, MLCANARY_DOCS_BIN names a
# host build of the same source. MLCANARY_REQUIRE_DOCS=1 (the release workflow) makes their absence
# an error instead of a warning.
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
docs_bin="${MLCANARY_DOCS_BIN:-$binary}"
if "$docs_bin" man >"$stage/$name/mlcanary.1" 2>/dev/null && grep -q '^\.TH' "$stage/$name/mlcanary.1"; then
	mkdir "$stage/$name/completions"
	"$docs_bin" completions bash >"$stage/$name/completions/mlcanary.bash"
	"$docs_bin" completions zsh >"$stage/$name/completions/_mlcanary"
	"$docs_bin" completions fish >"$stage/$name/completions/mlcanary.fish"
else
	rm -f "$stage/$name/mlcanary.1"
	if [[ "${MLCANARY_REQUIRE_DOCS:-}" == 1 ]]; then
		echo "$docs_bin cannot print the man page here: set MLCANARY_DOCS_BIN to a host build" >&2
		exit 2
	fi
	echo "warning: no man page or completions in the archive ($docs_bin cannot print them here)" >&2
fi
# COPYFILE_DISABLE: no macOS AppleDouble (._*) entries in the archive
COPYFILE_DISABLE=1 tar -czf "$out/$name.tar.gz" -C "$stage" "$name"
if command -v sha256sum >/dev/null 2>&1; then
	(cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
else
	(cd "$out" && shasum -a 256 "$name.tar.gz" >"$name.tar.gz.sha256")
fi
printf '%s\n' "$out/$name.tar.gz"
