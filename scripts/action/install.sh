#!/usr/bin/env bash
# Install the mlcanary binary for the GitHub Action (action.yml, step "install").
#
# Why this script exists: the action must run the same, verified binary on every runner without
# trusting the download host. A release archive is installed only when its sha256 is listed in
# packaging/checksums.txt of the action's own commit; a mismatch is refused (never "warn and go on").
# When no release matches (unknown version, unsupported OS/arch, or version "source") the binary is
# built from the action's checkout with `cargo install --locked`, which needs a Rust toolchain.
#
# Environment (all optional):
#   MLCANARY_VERSION      ""       newest version listed in checksums.txt for this target, else source
#                         "X.Y.Z" / "vX.Y.Z"  that release; source build only if the checkout is X.Y.Z
#                         "source" always build the checkout from source
#   MLCANARY_RELEASE_URL  base of the release downloads; the archive is <base>/v<version>/<archive>.
#                         https:// (default GitHub releases), file:// or an absolute directory (tests,
#                         mirrors). Plain http:// is refused.
#   MLCANARY_CHECKSUMS    checksum file (default <source>/packaging/checksums.txt)
#   MLCANARY_SOURCE_DIR   the mlcanary checkout (default $GITHUB_ACTION_PATH, else this script's repo)
#   MLCANARY_TARGET       Rust target triple (default: from RUNNER_OS/RUNNER_ARCH, else uname)
#   MLCANARY_INSTALL_DIR  where to put the binary (default $RUNNER_TEMP/mlcanary, else a temp dir)
# With --plan: install nothing; write method=release|source, version=, cache-key= and build-dir= to
# $GITHUB_OUTPUT (and stdout), so the action can restore a cached source build (actions/cache) first.
# A source build is reused when <build-dir>/.mlcanary-key matches the cache key (version, target and
# a hash of the source tree), so a restored cache skips `cargo install`.
# Result: the binary path on stdout, and bin=, version=, method=release|source in $GITHUB_OUTPUT.
# Everything else goes to stderr. Exit 2 on any refusal or failure (like mlcanary: nothing was changed).
set -euo pipefail

DEFAULT_RELEASE_URL="https://github.com/mlcanary/mlcanary/releases/download"

log() { printf 'mlcanary-install: %s\n' "$*" >&2; }
die() {
	printf '::error title=mlcanary install::%s\n' "$*" >&2
	exit 2
}

# Rust target for a runner: RUNNER_OS/RUNNER_ARCH on GitHub, uname elsewhere. Empty: no release.
detect_target() {
	local os="${RUNNER_OS:-}" arch="${RUNNER_ARCH:-}"
	if [[ -z "$os" ]]; then
		case "$(uname -s)" in
		Linux) os=Linux ;;
		Darwin) os=macOS ;;
		MINGW* | MSYS* | CYGWIN*) os=Windows ;;
		*) os=unknown ;;
		esac
	fi
	if [[ -z "$arch" ]]; then
		case "$(uname -m)" in
		x86_64 | amd64) arch=X64 ;;
		aarch64 | arm64) arch=ARM64 ;;
		*) arch=unknown ;;
		esac
	fi
	case "$os/$arch" in
	Linux/X64) echo x86_64-unknown-linux-musl ;;
	Linux/ARM64) echo aarch64-unknown-linux-musl ;;
	macOS/X64) echo x86_64-apple-darwin ;;
	macOS/ARM64) echo aarch64-apple-darwin ;;
	*) echo "" ;;
	esac
}

# The package version of the checkout (first `version = "..."` of Cargo.toml, i.e. [package]).
source_version() {
	# No `| head` (SIGPIPE under pipefail): sed prints the first match and quits.
	sed -n '/^version[[:space:]]*=/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p;q;}' "$1/Cargo.toml"
}

# Sums listed for one archive name, one per line (a `*` binary-mode marker is accepted).
checksums_for() {
	awk -v want="$2" '$1 !~ /^#/ && NF >= 2 && ($2 == want || $2 == "*" want) { print tolower($1) }' "$1" | sort -u
}

# The last version listed for a target (the release workflow appends in release order).
latest_listed() {
	local suffix="-$2.tar.gz"
	awk -v suffix="$suffix" '
		$1 !~ /^#/ && NF >= 2 {
			name = $2; sub(/^\*/, "", name)
			if (index(name, "mlcanary-") == 1 && length(name) > length(suffix) + 9 &&
			    substr(name, length(name) - length(suffix) + 1) == suffix)
				last = substr(name, 10, length(name) - 9 - length(suffix))
		}
		END { if (last != "") print last }' "$1"
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | awk '{ print tolower($1) }'
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | awk '{ print tolower($1) }'
	else
		die "neither sha256sum nor shasum is installed: cannot verify the download"
	fi
}

# Copy a URL to a file. https only over the network; file:// and absolute paths for mirrors/tests.
fetch() {
	local url="$1" dest="$2"
	case "$url" in
	https://*)
		if command -v curl >/dev/null 2>&1; then
			curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 \
				--retry 3 --retry-delay 2 --output "$dest" "$url"
		elif command -v wget >/dev/null 2>&1; then
			wget --quiet --https-only --tries=3 --output-document="$dest" "$url"
		else
			die "neither curl nor wget is installed: cannot download $url"
		fi
		;;
	file://*) cp -- "${url#file://}" "$dest" ;;
	/*) cp -- "$url" "$dest" ;;
	*) die "refusing to download from '$url': only https://, file:// or an absolute path" ;;
	esac
}

emit() {
	local bin="$1" version="$2" method="$3"
	if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
		{
			echo "bin=$bin"
			echo "version=$version"
			echo "method=$method"
		} >>"$GITHUB_OUTPUT"
	fi
	printf '%s\n' "$bin"
}

install_release() {
	local version="$1" target="$2" expected="$3" root="$4"
	if [[ -n "$PLAN_ONLY" ]]; then
		plan release "$version" "" "$root"
		return
	fi
	local name="mlcanary-$version-$target"
	local url="${MLCANARY_RELEASE_URL:-$DEFAULT_RELEASE_URL}"
	url="${url%/}/v$version/$name.tar.gz"
	local work
	work="$(mktemp -d "${TMPDIR:-/tmp}/mlcanary-install.XXXXXX")"
	log "downloading $url"
	fetch "$url" "$work/$name.tar.gz" || die "download of $url failed"
	local actual
	actual="$(sha256_of "$work/$name.tar.gz")"
	if [[ "$actual" != "$expected" ]]; then
		rm -rf -- "$work"
		die "checksum mismatch for $name.tar.gz: expected $expected (packaging/checksums.txt), got $actual; refusing to install"
	fi
	log "sha256 verified: $actual"
	tar -xzf "$work/$name.tar.gz" -C "$work"
	[[ -f "$work/$name/mlcanary" ]] || die "$name.tar.gz does not contain $name/mlcanary"
	mkdir -p "$root/$name"
	mv -f -- "$work/$name/mlcanary" "$root/$name/mlcanary"
	chmod 755 "$root/$name/mlcanary"
	rm -rf -- "$work"
	emit "$root/$name/mlcanary" "$version" release
}

# The source build's cache key: version, target (or OS/arch) and a hash of the source tree.
source_key() {
	local src="$1" version="$2" target tree
	target="$(detect_target)"
	[[ -n "$target" ]] || target="$(uname -s)-$(uname -m)"
	tree="$(cd "$src" && find Cargo.toml Cargo.lock src templates examples -type f 2>/dev/null | LC_ALL=C sort | while IFS= read -r f; do sha256_of "$f"; done | sha256_of /dev/stdin)"
	printf 'mlcanary-source-%s-%s-%s\n' "$version" "$target" "${tree:0:16}"
}

plan() {
	local method="$1" version="$2" src="$3" root="$4" key=""
	[[ "$method" == source ]] && key="$(source_key "$src" "$version")"
	if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
		{
			echo "method=$method"
			echo "version=$version"
			echo "cache-key=$key"
			echo "build-dir=$root/source"
		} >>"$GITHUB_OUTPUT"
	fi
	printf 'method=%s version=%s cache-key=%s build-dir=%s\n' "$method" "$version" "$key" "$root/source"
}

install_source() {
	local src="$1" version="$2" root="$3" exe=mlcanary
	if [[ -n "$PLAN_ONLY" ]]; then
		plan source "$version" "$src" "$root"
		return
	fi
	case "${RUNNER_OS:-$(uname -s)}" in Windows | MINGW* | MSYS* | CYGWIN*) exe=mlcanary.exe ;; esac
	local key
	key="$(source_key "$src" "$version")"
	if [[ -x "$root/source/bin/$exe" && "$(cat "$root/source/.mlcanary-key" 2>/dev/null || true)" == "$key" ]]; then
		log "reusing the cached source build of mlcanary $version ($key)"
		emit "$root/source/bin/$exe" "$version" source
		return
	fi
	command -v cargo >/dev/null 2>&1 ||
		die "no verified release of mlcanary $version for this runner, and cargo is not installed: add a Rust toolchain step (e.g. 'rustup toolchain install stable') before the action, or use a released version"
	log "building mlcanary $version from source ($src), this takes a few minutes"
	cargo install --locked --path "$src" --root "$root/source" >&2
	[[ -x "$root/source/bin/$exe" ]] || die "cargo install finished but $root/source/bin/$exe is missing"
	printf '%s\n' "$key" >"$root/source/.mlcanary-key"
	emit "$root/source/bin/$exe" "$version" source
}

PLAN_ONLY=""

main() {
	[[ "${1:-}" == "--plan" ]] && PLAN_ONLY=1
	local script_dir src
	script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
	src="${MLCANARY_SOURCE_DIR:-${GITHUB_ACTION_PATH:-$(cd "$script_dir/../.." && pwd)}}"
	local checksums="${MLCANARY_CHECKSUMS:-$src/packaging/checksums.txt}"
	local root="${MLCANARY_INSTALL_DIR:-}"
	if [[ -z "$root" ]]; then
		if [[ -n "${RUNNER_TEMP:-}" ]]; then
			root="$RUNNER_TEMP/mlcanary"
		else
			root="$(mktemp -d "${TMPDIR:-/tmp}/mlcanary.XXXXXX")"
		fi
	fi
	mkdir -p "$root"
	root="$(cd "$root" && pwd)"

	local requested="${MLCANARY_VERSION:-}"
	requested="${requested#v}"
	local src_version
	src_version="$(source_version "$src")"
	[[ -n "$src_version" ]] || die "cannot read the package version from $src/Cargo.toml"

	if [[ "$requested" == "source" ]]; then
		install_source "$src" "$src_version" "$root"
		return
	fi
	if [[ -n "$requested" && ! "$requested" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]]; then
		die "version '$MLCANARY_VERSION' is not a version number (X.Y.Z), empty, or 'source'"
	fi

	local target="${MLCANARY_TARGET:-$(detect_target)}"
	local version="$requested"
	if [[ -n "$target" && -f "$checksums" ]]; then
		[[ -n "$version" ]] || version="$(latest_listed "$checksums" "$target")"
		if [[ -n "$version" ]]; then
			local sums
			sums="$(checksums_for "$checksums" "mlcanary-$version-$target.tar.gz")"
			if [[ "$(printf '%s' "$sums" | grep -c '')" -gt 1 ]]; then
				die "$checksums lists different sums for mlcanary-$version-$target.tar.gz; refusing"
			fi
			if [[ -n "$sums" ]]; then
				[[ "$sums" =~ ^[0-9a-f]{64}$ ]] || die "malformed sha256 '$sums' in $checksums"
				install_release "$version" "$target" "$sums" "$root"
				return
			fi
		fi
	fi

	log "no release of mlcanary ${version:-(any version)} for target ${target:-(unsupported runner)} in $checksums"
	if [[ -n "$requested" && "$requested" != "$src_version" ]]; then
		die "version $requested has no checksum in this action's packaging/checksums.txt and the action's source is $src_version: use the action at the ref of v$requested, or leave 'version' empty"
	fi
	install_source "$src" "$src_version" "$root"
}

main "$@"
