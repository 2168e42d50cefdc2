#!/usr/bin/env bash
# GitHub Actions lint over action.yml, the repository's workflows and every workflow snippet in the
# docs (fenced ```yaml blocks with `jobs:`), so a copy-pasted example is held to the same rules:
# - zizmor (security): actions pinned by SHA, `permissions` set, `persist-credentials: false`, no
#   template injection. Findings of medium severity or worse fail.
# - actionlint (correctness): syntax, expressions and contexts (`vars`, `needs`, step outputs), runner
#   labels, inputs of known actions and of our own action.yml (a generated workflow uses `./` with
#   every input), and each `run:` script through shellcheck.
# Every docs snippet must be a complete workflow (with `on:`): a job fragment cannot be checked, and a
# reader cannot paste it. `mlcanary/mlcanary@<commit-sha>` placeholders are linted as a pinned reference.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${MLCANARY_TEST_VENV:-${CARGO_TARGET_DIR:-target}/test-venv}"
zizmor="$venv/bin/zizmor"
actionlint="$venv/bin/actionlint"
for tool in "$zizmor" "$actionlint"; do
    [[ -x "$tool" ]] || { echo "lint-actions: $tool missing: run scripts/test-venv.sh" >&2; exit 1; }
done
command -v shellcheck >/dev/null 2>&1 || { echo "lint-actions: shellcheck missing: run scripts/test-deps.sh" >&2; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/lint-actions.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/.github/workflows"
python3 - "$tmp/.github/workflows" docs/*.md README.md <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
n, bad = 0, []
for doc in sys.argv[2:]:
    text = pathlib.Path(doc).read_text()
    for m in re.finditer(r"```ya?ml\n(.*?)```", text, re.S):
        block = m.group(1)
        if not re.search(r"^jobs:", block, re.M):
            continue
        line = text.count("\n", 0, m.start()) + 2
        if not re.search(r"^on:", block, re.M):
            bad.append(f"{doc}:{line}: workflow snippet has no `on:`: make it a complete workflow")
            continue
        block = block.replace("<commit-sha>", "0123456789abcdef0123456789abcdef01234567")
        n += 1
        (out / f"{pathlib.Path(doc).stem}-{line}.yml").write_text(block)
if bad:
    sys.exit("\n".join(bad))
print(f"lint-actions: {n} workflow snippet(s) from the docs")
PY
# A workflow that uses our own action with every input it declares, so actionlint parses action.yml
# and checks the input names against it.
cp action.yml "$tmp/action.yml"
python3 - action.yml "$tmp/.github/workflows/uses-local-action.yml" <<'PY'
import sys, yaml
inputs = yaml.safe_load(open(sys.argv[1]))["inputs"]
with_ = "\n".join(f"          {k}: 'x'" for k in inputs)
open(sys.argv[2], "w").write(f"""on: workflow_dispatch
permissions: {{}}
jobs:
  local:
    runs-on: ubuntu-latest
    steps:
      - uses: ./
        with:
{with_}
""")
PY

"$zizmor" --offline --min-severity medium action.yml .github/workflows/ "$tmp/.github/workflows/"

# actionlint must find known mistakes, or a silent pass means it checked nothing: a script injection,
# and an input our action.yml does not declare (actionlint reads local actions only inside a git work
# tree: hence the `git init`s).
canary="$tmp/canary"
mkdir -p "$canary/.github/workflows"
git init -q "$canary"
cp action.yml "$canary/action.yml"
printf '%s\n' 'on: push' 'permissions: {}' 'jobs:' '  a:' '    runs-on: ubuntu-latest' '    steps:' \
    '      - run: echo "${{ github.event.issue.title }}"' '      - uses: ./' '        with: { no-such-input: x }' \
    > "$canary/.github/workflows/known-bad.yml"
found="$(cd "$canary" && "$actionlint" -no-color 2>&1 || true)"
for rule in '[expression]' '[action]'; do
    if [[ "$found" != *"$rule"* ]]; then
        echo "lint-actions: actionlint did not report the planted $rule mistake: it is not checking" >&2
        printf '%s\n' "$found" >&2
        exit 1
    fi
done
git init -q "$tmp"
"$actionlint" -no-color .github/workflows/*.yml
(cd "$tmp" && "$actionlint" -no-color .github/workflows/*.yml)
echo "lint-actions: zizmor and actionlint clean ($("$actionlint" -version 2>&1 | sed -n 1p))"
