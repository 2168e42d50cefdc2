#!/usr/bin/env bash
# Offline tests of the `.mlcanary` job script in ci/gitlab/mlcanary.gitlab-ci.yml: the script is
# taken out of the YAML (python3 + PyYAML) and run with `sh` against a fake release directory, a
# checksums file and a stub mlcanary, the way a GitLab runner would run it with the template's
# variables. Linux runners only (the template's binaries are Linux/macOS; the test fakes Linux ones).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
template="$here/mlcanary.gitlab-ci.yml"
tmp_prefix=test-gitlab
# shellcheck source-path=SCRIPTDIR source=../../scripts/test-lib.sh disable=SC2034
. "$here/../../scripts/test-lib.sh"

# The job script and the template's default variables (as NAME=value lines, for env).
PYTHONPATH="$here" python3 - "$template" "$tmp/script.sh" "$tmp/vars" <<'EOF'
import sys
import template
spec, doc = template.load(open(sys.argv[1]).read())
job = doc[".mlcanary"]
assert len(job["script"]) == 1
open(sys.argv[2], "w").write(job["script"][0])
with open(sys.argv[3], "w") as f:
    for k, v in job["variables"].items():
        assert "\n" not in str(v)
        f.write(f"{k}={v}\n")
EOF

sha256() { sha256sum "$1" | cut -d ' ' -f 1; }

version=7.8.9
mkdir -p "$tmp/release/v$version" "$tmp/build" "$tmp/work"
: >"$tmp/checksums.txt"
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
	name="mlcanary-$version-$target"
	mkdir -p "$tmp/build/$name"
	cat >"$tmp/build/$name/mlcanary" <<'EOF'
#!/bin/sh
echo "$$" >"$STUB_DIR/pid"
printf '%s\n' "$@" >"$STUB_DIR/argv"
{
	echo "config=${MLCANARY_CONFIG-}"
	echo "report=${MLCANARY_REPORT-}"
	echo "tokenfile=${AZURE_FEDERATED_TOKEN_FILE-}"
} >"$STUB_DIR/env"
if [ -n "${AZURE_FEDERATED_TOKEN_FILE-}" ]; then
	cat "$AZURE_FEDERATED_TOKEN_FILE" >"$STUB_DIR/token"
	stat -c %a "$AZURE_FEDERATED_TOKEN_FILE" >"$STUB_DIR/token_mode"
fi
exit "${STUB_EXIT:-0}"
EOF
	chmod 755 "$tmp/build/$name/mlcanary"
	tar -czf "$tmp/release/v$version/$name.tar.gz" -C "$tmp/build" "$name"
	echo "$(sha256 "$tmp/release/v$version/$name.tar.gz")  $name.tar.gz" >>"$tmp/checksums.txt"
done

# run_job [VAR=value...]: template defaults, then test settings, then the case's overrides.
run_job() {
	rm -f "$tmp/argv" "$tmp/env" "$tmp/token" "$tmp/token_mode" "$tmp/pid"
	rm -rf "$tmp/work/mlcanary-out"
	local defaults=()
	while IFS= read -r line; do defaults+=("$line"); done <"$tmp/vars"
	set +e
	(cd "$tmp/work" && env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="$tmp" TMPDIR="$tmp" STUB_DIR="$tmp" \
		"${defaults[@]}" MLCANARY_VERSION="$version" \
		MLCANARY_RELEASE_URL="file://$tmp/release" MLCANARY_CHECKSUMS_URL="file://$tmp/checksums.txt" \
		"$@" sh "$tmp/script.sh" >"$tmp/out" 2>"$tmp/err")
	rc=$?
	set -e
}
argv_is() { [[ -f "$tmp/argv" && "$(cat "$tmp/argv")" == "$(printf '%s\n' "$@")" ]]; }

t="verified release runs: run --junit FILE --dotenv FILE, config and report exported, output dir created"
run_job
if [[ $rc -eq 0 ]] && argv_is run --junit mlcanary-out/junit.xml --dotenv mlcanary-out/mlcanary.env &&
	grep -qx "config=mlcanary.yaml" "$tmp/env" && grep -qx "report=mlcanary-out/report.json" "$tmp/env" &&
	[[ -d "$tmp/work/mlcanary-out" ]]; then ok "$t"; else not_ok "$t"; fi

t="exit code is mlcanary's (1 = rolled back) so artifacts:when:always still uploads"
run_job STUB_EXIT=1
if [[ $rc -eq 1 && -f "$tmp/argv" ]]; then ok "$t"; else not_ok "$t"; fi

t="pinned MLCANARY_SHA256 that does not match is refused, mlcanary never runs"
run_job MLCANARY_SHA256="$(printf 'a%.0s' {1..64})"
if [[ $rc -eq 2 && ! -f "$tmp/argv" ]] && grep -q "checksum mismatch" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="pinned MLCANARY_SHA256 (upper case) that matches is accepted without the checksums URL"
host_target=x86_64-unknown-linux-musl
case "$(uname -m)" in aarch64 | arm64) host_target=aarch64-unknown-linux-musl ;; esac
pin="$(sha256 "$tmp/release/v$version/mlcanary-$version-$host_target.tar.gz" | tr 'a-f' 'A-F')"
run_job MLCANARY_SHA256="$pin" MLCANARY_CHECKSUMS_URL="file://$tmp/nonexistent"
if [[ $rc -eq 0 && -f "$tmp/argv" ]]; then ok "$t"; else not_ok "$t"; fi

t="a version without a listed sum is refused"
run_job MLCANARY_VERSION=7.8.8
if [[ $rc -eq 2 && ! -f "$tmp/argv" ]] && grep -q "no sha256" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="args are split without eval or globbing; dry-run adds --dry-run"
touch "$tmp/work/a-file"
# shellcheck disable=SC2016 # the payload must stay literal
run_job MLCANARY_DRY_RUN=true MLCANARY_ARGS='--set x=1 * $(touch pwned)'
# shellcheck disable=SC2016
if [[ $rc -eq 0 && ! -e "$tmp/work/pwned" ]] &&
	argv_is run --junit mlcanary-out/junit.xml --dotenv mlcanary-out/mlcanary.env --dry-run --set x=1 '*' '$(touch' 'pwned)'; then ok "$t"; else not_ok "$t"; fi

t="commands other than run get no --junit; bad command or dry-run value exits 2"
run_job MLCANARY_COMMAND=validate
v_ok=$([[ $rc -eq 0 ]] && argv_is validate && echo yes || echo no)
run_job MLCANARY_COMMAND='run;id'
c_rc=$rc
run_job MLCANARY_COMMAND=status MLCANARY_DRY_RUN=true
if [[ "$v_ok" == yes && $c_rc -eq 2 && $rc -eq 2 ]]; then ok "$t"; else not_ok "$t"; fi

t="GitLab OIDC id token becomes a private AZURE_FEDERATED_TOKEN_FILE"
run_job AZURE_ID_TOKEN=header.payload.signature
if [[ $rc -eq 0 && "$(cat "$tmp/token" 2>/dev/null)" == header.payload.signature &&
	"$(cat "$tmp/token_mode" 2>/dev/null)" == 600 ]]; then ok "$t"; else not_ok "$t"; fi

t="MLCANARY_BIN skips the download"
run_job MLCANARY_BIN="$tmp/build/mlcanary-$version-$host_target/mlcanary" MLCANARY_RELEASE_URL="http://refused.invalid"
if [[ $rc -eq 0 && -f "$tmp/argv" ]]; then ok "$t"; else not_ok "$t"; fi

t="the Azure variant adds the id token with the Entra audience"
aud="$(PYTHONPATH="$here" python3 -c 'import sys, template; print(template.load(open(sys.argv[1]).read())[1][".mlcanary-azure"]["id_tokens"]["AZURE_ID_TOKEN"]["aud"])' "$template")"
if [[ "$aud" == "api://AzureADTokenExchange" ]]; then ok "$t"; else not_ok "$t"; fi

t="spec:inputs: every input has a description and a default; the job's variables come from them"
if PYTHONPATH="$here" python3 - "$template" <<'EOF'
import sys, template
text = open(sys.argv[1]).read()
spec, doc = template.load(text)
assert all(v.get("description") and "default" in v for v in spec.values()), spec
v = doc[".mlcanary"]["variables"]
assert v["MLCANARY_CONFIG"] == "mlcanary.yaml" and v["MLCANARY_DRY_RUN"] == "false", v
_, doc = template.load(text, {"config": "deploy/c.yaml", "out-dir": "out", "dry-run": True})
job = doc[".mlcanary"]
assert job["variables"]["MLCANARY_CONFIG"] == "deploy/c.yaml"
assert job["variables"]["MLCANARY_DRY_RUN"] == "true"
assert job["artifacts"]["reports"] == {"junit": "out/junit.xml", "dotenv": "out/mlcanary.env"}, job["artifacts"]
EOF
then ok "$t"; else not_ok "$t"; fi

printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
