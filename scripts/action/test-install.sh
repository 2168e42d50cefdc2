#!/usr/bin/env bash
# Offline tests of scripts/action/install.sh: a fake release directory (file:// and plain path),
# checksums accepted and refused, the source-build path through a stub `cargo`, the refusals, and the
# release contract (packaging/package.sh + append-checksums.sh produce what install.sh accepts).
# No network, no Rust toolchain: CI runs it as is (`scripts/action/test-install.sh`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
install_sh="$here/install.sh"
tmp_prefix=test-install
# shellcheck source-path=SCRIPTDIR source=../../scripts/test-lib.sh disable=SC2034
. "$here/../../scripts/test-lib.sh"

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | awk '{print $1}'; else shasum -a 256 "$1" | awk '{print $1}'; fi
}

# A release archive laid out like the release workflow's: mlcanary-<v>-<t>/mlcanary.
make_archive() {
	local version="$1" target="$2" name="mlcanary-$1-$2"
	mkdir -p "$tmp/build/$name" "$tmp/release/v$version"
	printf '#!/bin/sh\necho "stub mlcanary %s %s"\n' "$version" "$target" >"$tmp/build/$name/mlcanary"
	chmod 755 "$tmp/build/$name/mlcanary"
	tar -czf "$tmp/release/v$version/$name.tar.gz" -C "$tmp/build" "$name"
	sha256 "$tmp/release/v$version/$name.tar.gz"
}

# A fake checkout: Cargo.toml with a version (install.sh only reads that file).
mkdir -p "$tmp/src"
printf '[package]\nname = "mlcanary"\nversion = "1.2.3"\n\n[dependencies]\nfoo = { version = "9" }\n' >"$tmp/src/Cargo.toml"

# A stub cargo that records its arguments and "installs" a binary where --root says.
mkdir -p "$tmp/stubbin"
cat >"$tmp/stubbin/cargo" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$@" >"$CARGO_LOG"
root=""
while [[ $# -gt 0 ]]; do
	if [[ "$1" == --root ]]; then root="$2"; shift; fi
	shift
done
mkdir -p "$root/bin"
printf '#!/bin/sh\necho "stub mlcanary from source"\n' >"$root/bin/mlcanary"
chmod 755 "$root/bin/mlcanary"
EOF
chmod 755 "$tmp/stubbin/cargo"

# A PATH with the tools install.sh needs and NO cargo, to prove the "cargo missing" refusal.
mkdir -p "$tmp/nocargo"
for tool in bash sh env awk sed head sort grep mktemp cp mv tar gzip sha256sum shasum chmod mkdir rm dirname uname cat tr; do
	if p="$(command -v "$tool")"; then ln -sf "$p" "$tmp/nocargo/$tool"; fi
done

# run_install NAME [VAR=value...]: runs install.sh in a clean environment, fresh install dir.
# Sets $rc, $out (stdout), $tmp/err (stderr), $tmp/gh_output, $tmp/cargo.log.
run_install() {
	local case_dir="$tmp/case-$1"
	shift
	mkdir -p "$case_dir"
	: >"$tmp/gh_output"
	rm -f "$tmp/cargo.log"
	set +e
	out="$(env -i HOME="$tmp" TMPDIR="$tmp" PATH="$tmp/stubbin:$PATH" \
		GITHUB_OUTPUT="$tmp/gh_output" CARGO_LOG="$tmp/cargo.log" \
		MLCANARY_SOURCE_DIR="$tmp/src" MLCANARY_CHECKSUMS="$tmp/checksums.txt" \
		MLCANARY_INSTALL_DIR="$case_dir" RUNNER_OS=Linux RUNNER_ARCH=X64 \
		"$@" "$BASH" "$install_sh" ${INSTALL_ARGS:+"$INSTALL_ARGS"} 2>"$tmp/err")"
	rc=$?
	set -e
}

good_x64="$(make_archive 2.0.0 x86_64-unknown-linux-musl)"
good_arm="$(make_archive 2.0.0 aarch64-unknown-linux-musl)"
old_x64="$(make_archive 1.9.0 x86_64-unknown-linux-musl)"
mac_arm="$(make_archive 2.0.0 aarch64-apple-darwin)"
{
	echo "# header comment, ignored"
	echo "$old_x64  mlcanary-1.9.0-x86_64-unknown-linux-musl.tar.gz"
	echo "$good_x64  mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz"
	echo "$good_arm  mlcanary-2.0.0-aarch64-unknown-linux-musl.tar.gz"
	echo "$mac_arm *mlcanary-2.0.0-aarch64-apple-darwin.tar.gz"
} >"$tmp/checksums.txt"

t="good checksum over file:// installs the newest listed release"
run_install good MLCANARY_RELEASE_URL="file://$tmp/release"
if [[ $rc -eq 0 && "$out" == "$tmp/case-good/mlcanary-2.0.0-x86_64-unknown-linux-musl/mlcanary" &&
	"$("$out")" == "stub mlcanary 2.0.0 x86_64-unknown-linux-musl" ]] &&
	grep -qx "bin=$out" "$tmp/gh_output" && grep -qx "version=2.0.0" "$tmp/gh_output" &&
	grep -qx "method=release" "$tmp/gh_output" && [[ ! -e "$tmp/cargo.log" ]]; then ok "$t"; else not_ok "$t"; fi

t="explicit older version (with v prefix) from a plain directory"
run_install older MLCANARY_RELEASE_URL="$tmp/release/" MLCANARY_VERSION=v1.9.0
if [[ $rc -eq 0 && "$("$out")" == "stub mlcanary 1.9.0 x86_64-unknown-linux-musl" ]]; then ok "$t"; else not_ok "$t"; fi

t="runner OS/arch picks the target (Linux ARM64 -> aarch64 musl, macOS ARM64 with * marker)"
run_install arm MLCANARY_RELEASE_URL="file://$tmp/release" RUNNER_ARCH=ARM64
a="$("$out")"
run_install mac MLCANARY_RELEASE_URL="file://$tmp/release" RUNNER_OS=macOS RUNNER_ARCH=ARM64
if [[ "$a" == "stub mlcanary 2.0.0 aarch64-unknown-linux-musl" && $rc -eq 0 &&
	"$("$out")" == "stub mlcanary 2.0.0 aarch64-apple-darwin" ]]; then ok "$t"; else not_ok "$t"; fi

t="bad checksum is refused and nothing is installed"
sed "s/^$good_x64 /$(printf '0%.0s' {1..64}) /" "$tmp/checksums.txt" >"$tmp/bad.txt"
run_install bad MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_CHECKSUMS="$tmp/bad.txt"
if [[ $rc -eq 2 && -z "$out" ]] && grep -q "checksum mismatch" "$tmp/err" &&
	[[ -z "$(find "$tmp/case-bad" -name mlcanary)" && ! -e "$tmp/cargo.log" ]] &&
	! grep -q '^bin=' "$tmp/gh_output"; then ok "$t"; else not_ok "$t"; fi

t="tampered archive (same name, other content) is refused"
cp "$tmp/release/v2.0.0/mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz" "$tmp/saved.tar.gz"
cp "$tmp/release/v1.9.0/mlcanary-1.9.0-x86_64-unknown-linux-musl.tar.gz" \
	"$tmp/release/v2.0.0/mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz"
run_install tampered MLCANARY_RELEASE_URL="file://$tmp/release"
cp "$tmp/saved.tar.gz" "$tmp/release/v2.0.0/mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz"
if [[ $rc -eq 2 ]] && grep -q "checksum mismatch" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="two different sums for one archive are refused"
{
	cat "$tmp/checksums.txt"
	echo "$old_x64  mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz"
} >"$tmp/dup.txt"
run_install dup MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_CHECKSUMS="$tmp/dup.txt"
if [[ $rc -eq 2 ]] && grep -q "different sums" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="no checksum line -> source build with cargo install --locked --path"
grep -v x86_64-unknown-linux-musl "$tmp/checksums.txt" >"$tmp/nox64.txt"
run_install source MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_CHECKSUMS="$tmp/nox64.txt"
expected_args="$(printf '%s\n' install --locked --path "$tmp/src" --root "$tmp/case-source/source")"
if [[ $rc -eq 0 && "$out" == "$tmp/case-source/source/bin/mlcanary" && -f "$tmp/cargo.log" &&
	"$(cat "$tmp/cargo.log")" == "$expected_args" && "$("$out")" == "stub mlcanary from source" ]] &&
	grep -qx "method=source" "$tmp/gh_output" && grep -qx "version=1.2.3" "$tmp/gh_output"; then
	ok "$t"
else not_ok "$t"; fi

t="version 'source' builds even when a release matches"
run_install forced MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_VERSION=source
if [[ $rc -eq 0 && -f "$tmp/cargo.log" ]] && grep -qx "method=source" "$tmp/gh_output"; then ok "$t"; else not_ok "$t"; fi

t="unsupported runner (32-bit ARM) -> source build"
run_install arm32 MLCANARY_RELEASE_URL="file://$tmp/release" RUNNER_ARCH=ARM
if [[ $rc -eq 0 && -f "$tmp/cargo.log" ]] && grep -qx "method=source" "$tmp/gh_output"; then ok "$t"; else not_ok "$t"; fi

t="explicit version matching the checkout builds from source"
run_install same MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_VERSION=1.2.3
if [[ $rc -eq 0 && -f "$tmp/cargo.log" ]]; then ok "$t"; else not_ok "$t"; fi

t="--plan installs nothing and names the method, version and source cache key"
INSTALL_ARGS=--plan run_install plan MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_CHECKSUMS="$tmp/nox64.txt"
if [[ $rc -eq 0 && ! -e "$tmp/cargo.log" && -z "$(find "$tmp/case-plan" -name mlcanary)" ]] &&
	grep -qx "method=source" "$tmp/gh_output" && grep -qE "^cache-key=mlcanary-source-1\.2\.3-x86_64-unknown-linux-musl-[0-9a-f]{16}$" "$tmp/gh_output" &&
	grep -qx "build-dir=$tmp/case-plan/source" "$tmp/gh_output"; then ok "$t"; else not_ok "$t"; fi

t="--plan for a released version says release, no cache key"
INSTALL_ARGS=--plan run_install plan-release MLCANARY_RELEASE_URL="file://$tmp/release"
if [[ $rc -eq 0 ]] && grep -qx "method=release" "$tmp/gh_output" && grep -qx "cache-key=" "$tmp/gh_output"; then ok "$t"; else not_ok "$t"; fi

t="a restored source build (same key) is reused without cargo; a changed source rebuilds"
run_install cached MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_VERSION=source
first_rc=$rc
: >"$tmp/gh_output"
rm -f "$tmp/cargo.log"
set +e
out="$(env -i HOME="$tmp" TMPDIR="$tmp" PATH="$tmp/stubbin:$PATH" GITHUB_OUTPUT="$tmp/gh_output" CARGO_LOG="$tmp/cargo.log" \
	MLCANARY_SOURCE_DIR="$tmp/src" MLCANARY_CHECKSUMS="$tmp/checksums.txt" MLCANARY_INSTALL_DIR="$tmp/case-cached" \
	RUNNER_OS=Linux RUNNER_ARCH=X64 MLCANARY_VERSION=source "$BASH" "$install_sh" 2>"$tmp/err")"
rc=$?
set -e
reused=no
if [[ $first_rc -eq 0 && $rc -eq 0 && ! -e "$tmp/cargo.log" && "$out" == "$tmp/case-cached/source/bin/mlcanary" ]] &&
	grep -q "reusing the cached source build" "$tmp/err"; then reused=yes; fi
echo "// changed" >>"$tmp/src/Cargo.toml"
set +e
env -i HOME="$tmp" TMPDIR="$tmp" PATH="$tmp/stubbin:$PATH" GITHUB_OUTPUT="$tmp/gh_output" CARGO_LOG="$tmp/cargo.log" \
	MLCANARY_SOURCE_DIR="$tmp/src" MLCANARY_CHECKSUMS="$tmp/checksums.txt" MLCANARY_INSTALL_DIR="$tmp/case-cached" \
	RUNNER_OS=Linux RUNNER_ARCH=X64 MLCANARY_VERSION=source "$BASH" "$install_sh" >/dev/null 2>"$tmp/err"
set -e
sed -i.bak '$d' "$tmp/src/Cargo.toml" && rm -f "$tmp/src/Cargo.toml.bak"
if [[ $reused == yes && -e "$tmp/cargo.log" ]]; then ok "$t"; else not_ok "$t"; fi

t="explicit unreleased version that is not the checkout's is refused (no wrong build)"
run_install other MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_VERSION=3.0.0
if [[ $rc -eq 2 && ! -e "$tmp/cargo.log" ]] && grep -q "source is 1.2.3" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="no release and no cargo -> clear failure naming cargo"
run_install nocargo MLCANARY_CHECKSUMS="$tmp/nox64.txt" PATH="$tmp/nocargo"
if [[ $rc -eq 2 ]] && grep -q "cargo is not installed" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="plain http:// release URL is refused"
run_install http MLCANARY_RELEASE_URL="http://example.invalid/releases"
if [[ $rc -eq 2 && ! -e "$tmp/cargo.log" ]] && grep -q "refusing to download" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="malformed version input is refused"
run_install badver MLCANARY_VERSION='1.0; rm -rf /'
if [[ $rc -eq 2 && ! -e "$tmp/cargo.log" ]] && grep -q "not a version number" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="listed but missing from the release host -> failure, not a silent source build"
rm "$tmp/release/v1.9.0/mlcanary-1.9.0-x86_64-unknown-linux-musl.tar.gz"
run_install missing MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_VERSION=1.9.0
if [[ $rc -eq 2 && ! -e "$tmp/cargo.log" ]] && grep -q "download of .* failed" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="archive without mlcanary-<v>-<t>/mlcanary is refused"
mkdir -p "$tmp/build/wrong" "$tmp/wrongrel/v2.0.0"
echo x >"$tmp/build/wrong/mlcanary"
tar -czf "$tmp/wrongrel/v2.0.0/mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz" -C "$tmp/build" wrong
echo "$(sha256 "$tmp/wrongrel/v2.0.0/mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz")  mlcanary-2.0.0-x86_64-unknown-linux-musl.tar.gz" >"$tmp/wrong.txt"
run_install wrong MLCANARY_RELEASE_URL="file://$tmp/wrongrel" MLCANARY_CHECKSUMS="$tmp/wrong.txt"
if [[ $rc -eq 2 ]] && grep -q "does not contain" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="release contract: package.sh + append-checksums.sh output is what install.sh installs"
pkg="$here/../../packaging"
mkdir -p "$tmp/e2e/rel/v4.5.6"
printf '#!/bin/sh\necho "packaged 4.5.6"\n' >"$tmp/e2e/bin"
chmod 755 "$tmp/e2e/bin"
"$pkg/package.sh" 4.5.6 x86_64-unknown-linux-musl "$tmp/e2e/bin" "$tmp/e2e/rel/v4.5.6" >/dev/null 2>"$tmp/err"
grep -v '^[0-9a-f]' "$here/../../packaging/checksums.txt" >"$tmp/e2e/checksums.txt"
"$pkg/append-checksums.sh" "$tmp/e2e/checksums.txt" "$tmp/e2e/rel/v4.5.6/"*.sha256 2>>"$tmp/err"
"$pkg/append-checksums.sh" "$tmp/e2e/checksums.txt" "$tmp/e2e/rel/v4.5.6/"*.sha256 2>>"$tmp/err"
run_install e2e MLCANARY_RELEASE_URL="file://$tmp/e2e/rel" MLCANARY_CHECKSUMS="$tmp/e2e/checksums.txt"
if [[ $rc -eq 0 && "$("$out")" == "packaged 4.5.6" ]] &&
	[[ "$(grep -c mlcanary-4.5.6 "$tmp/e2e/checksums.txt")" -eq 1 ]]; then ok "$t"; else not_ok "$t"; fi

t="release archive: LICENSE, README, the man page and completions from the binary"
cat >"$tmp/e2e/docbin" <<'EOF'
#!/bin/sh
case "$1" in
man) printf '.TH mlcanary 1\n' ;;
completions) printf '# %s completions for mlcanary\n' "$2" ;;
esac
EOF
chmod 755 "$tmp/e2e/docbin"
mkdir -p "$tmp/e2e/docs"
arch="$(MLCANARY_REQUIRE_DOCS=1 "$pkg/package.sh" 4.5.7 x86_64-unknown-linux-musl "$tmp/e2e/docbin" "$tmp/e2e/docs" 2>"$tmp/err")"
listing="$(tar -tzf "$arch" | LC_ALL=C sort | tr '\n' ' ')"
n=mlcanary-4.5.7-x86_64-unknown-linux-musl
if [[ "$listing" == "$n/ $n/LICENSE $n/README.md $n/completions/ $n/completions/_mlcanary $n/completions/mlcanary.bash $n/completions/mlcanary.fish $n/mlcanary $n/mlcanary.1 " ]] &&
	! MLCANARY_REQUIRE_DOCS=1 "$pkg/package.sh" 4.5.8 x86_64-unknown-linux-musl "$tmp/e2e/bin" "$tmp/e2e/docs" >/dev/null 2>&1; then
	ok "$t"
else not_ok "$t: $listing"; fi

t="append-checksums.sh refuses to change the sum of a published archive"
printf '%s  mlcanary-4.5.6-x86_64-unknown-linux-musl.tar.gz\n' "$good_x64" >"$tmp/e2e/changed.sha256"
if ! "$pkg/append-checksums.sh" "$tmp/e2e/checksums.txt" "$tmp/e2e/changed.sha256" 2>"$tmp/err" &&
	grep -q "another sum" "$tmp/err" && ! grep -q "$good_x64" "$tmp/e2e/checksums.txt"; then ok "$t"; else not_ok "$t"; fi

t="append-checksums.sh refuses malformed lines"
printf 'abc  mlcanary-4.5.7-x86_64-unknown-linux-musl.tar.gz\n' >"$tmp/e2e/short.sha256"
printf '%s  evil.tar.gz\n' "$good_x64" >"$tmp/e2e/name.sha256"
if ! "$pkg/append-checksums.sh" "$tmp/e2e/checksums.txt" "$tmp/e2e/short.sha256" 2>/dev/null &&
	! "$pkg/append-checksums.sh" "$tmp/e2e/checksums.txt" "$tmp/e2e/name.sha256" 2>/dev/null; then ok "$t"; else not_ok "$t"; fi

t="the repository's packaging/checksums.txt is well-formed"
bad_lines="$(awk '$1 !~ /^#/ && NF > 0 && !($1 ~ /^[0-9a-f]+$/ && length($1) == 64 && NF == 2 &&
	$2 ~ /^\*?mlcanary-[0-9]+\.[0-9]+\.[0-9]+[^ ]*-(x86_64|aarch64)-(unknown-linux-musl|apple-darwin)\.tar\.gz$/)' \
	"$here/../../packaging/checksums.txt")"
if [[ -z "$bad_lines" ]]; then ok "$t"; else not_ok "$t"; fi

printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
