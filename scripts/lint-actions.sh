#!/usr/bin/env bash
# GitHub Actions security lint (zizmor, from the test virtualenv) over action.yml, the repository's
# workflows and every workflow snippet in the docs (fenced ```yaml blocks with `jobs:`), so a
# copy-pasted example is held to the same rules: actions pinned by SHA, `permissions` set,
# `persist-credentials: false`, no template injection. Findings of medium severity or worse fail.
# `mlcanary/mlcanary@<commit-sha>` placeholders in the docs are linted as a pinned reference.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${MLCANARY_TEST_VENV:-${CARGO_TARGET_DIR:-target}/test-venv}"
zizmor="$venv/bin/zizmor"
[[ -x "$zizmor" ]] || { echo "lint-actions: $zizmor missing: run scripts/test-venv.sh" >&2; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/lint-actions.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/.github/workflows"
python3 - "$tmp/.github/workflows" docs/*.md README.md <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
n = 0
for doc in sys.argv[2:]:
    text = pathlib.Path(doc).read_text()
    for block in re.findall(r"```ya?ml\n(.*?)```", text, re.S):
        if not re.search(r"^jobs:", block, re.M):
            continue
        block = block.replace("<commit-sha>", "0123456789abcdef0123456789abcdef01234567")
        n += 1
        name = f"{pathlib.Path(doc).stem}-{n}.yml"
        (out / name).write_text(block)
print(f"lint-actions: {n} workflow snippet(s) from the docs")
PY
"$zizmor" --offline --min-severity medium action.yml .github/workflows/ "$tmp/.github/workflows/"
