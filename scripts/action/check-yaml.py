#!/usr/bin/env python3
"""Static checks of the packaging YAML that no generic linter makes for us.

Why: the action's safety rests on rules that are easy to break in a later edit: inputs reach shell
only through `env:` (a `${{ }}` inside `run:` is pasted into the script before bash sees it, so an
input could inject commands), the `run` step must `exec` mlcanary (cancellation signals), actions are
pinned by commit SHA, and every
declared input and output must be wired. The embedded shell of the workflows and of the GitLab
template is also handed to shellcheck when it is installed.
Usage: python3 scripts/action/check-yaml.py   (from anywhere; exit 1 on any finding)
"""

import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def load(path):
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        problem(path.relative_to(ROOT), f"YAML does not parse: {err}")
        return None


def shellcheck(where, script, shell):
    """shellcheck one embedded script; GitHub expressions are replaced by a harmless word."""
    if shutil.which("shellcheck") is None:
        return
    text = re.sub(r"\$\{\{.*?\}\}", "EXPR", script)
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(f"#!/usr/bin/env {shell}\n{text}\n")
    done = subprocess.run(["shellcheck", "-s", shell, f.name], capture_output=True, text=True)
    pathlib.Path(f.name).unlink()
    if done.returncode != 0:
        problem(where, "shellcheck:\n" + done.stdout)


def steps_of(doc):
    if "runs" in doc:
        yield "runs", doc["runs"].get("steps", [])
    for name, job in (doc.get("jobs") or {}).items():
        yield f"jobs.{name}", job.get("steps", [])


def check_runs(rel, doc):
    for where, steps in steps_of(doc):
        for i, step in enumerate(steps):
            run = step.get("run")
            if run is None:
                continue
            label = f"{rel} {where}.steps[{i}]"
            if "${{" in run:
                problem(label, "`${{ }}` inside run: pass it through env: instead")
            shellcheck(label, run, "bash")


def check_action(path):
    rel = path.relative_to(ROOT)
    doc = load(path)
    if doc is None:
        return
    check_runs(rel, doc)
    runs = doc.get("runs", {})
    if runs.get("using") != "composite":
        problem(rel, "runs.using must be composite")
    steps = runs.get("steps", [])
    for i, step in enumerate(steps):
        if "run" in step and "shell" not in step:
            problem(rel, f"steps[{i}] has run: without shell:")
    run_steps = [s for s in steps if s.get("id") == "run"]
    if len(run_steps) != 1 or not str(run_steps[0].get("run", "")).lstrip().startswith("exec "):
        problem(rel, "the step with id `run` must `exec` so SIGINT/SIGTERM reach mlcanary")
    for i, step in enumerate(steps):
        uses = str(step.get("uses", ""))
        if uses and not uses.startswith("./") and not re.search(r"@[0-9a-f]{40}$", uses):
            problem(rel, f"steps[{i}] uses {uses}: pin actions by commit SHA")
    text = path.read_text()
    declared = set(doc.get("inputs", {}))
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    for name in sorted(used - declared):
        problem(rel, f"inputs.{name} is used but not declared")
    for name in sorted(declared - used):
        problem(rel, f"input {name} is declared but never used")
    for name in ("command", "config", "dry-run", "args", "version"):
        if name not in declared:
            problem(rel, f"input {name} is missing")
    outputs = doc.get("outputs", {})
    for name in ("result", "final-weight", "stage", "duration-seconds", "report"):
        if "value" not in outputs.get(name, {}):
            problem(rel, f"output {name} is missing or has no value")
    step_ids = {s.get("id") for s in steps}
    for name, out in outputs.items():
        for sid in re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", str(out.get("value", ""))):
            if sid not in step_ids:
                problem(rel, f"output {name} reads unknown step {sid}")


def check_gitlab(path):
    rel = path.relative_to(ROOT)
    sys.path.insert(0, str(path.parent))
    import template  # ci/gitlab/template.py: spec:inputs defaults interpolated, as GitLab does

    try:
        spec, doc = template.load(path.read_text())
    except (yaml.YAMLError, KeyError, ValueError) as err:
        problem(rel, f"template does not load: {err}")
        return
    for name, inp in spec.items():
        if not inp.get("description"):
            problem(rel, f"spec input {name} has no description")
    job = doc.get(".mlcanary")
    if not isinstance(job, dict):
        problem(rel, "hidden job .mlcanary is missing")
        return
    script = "\n".join(job.get("script", []))
    if not re.search(r"^\s*exec ", script, re.M):
        problem(rel, ".mlcanary script must exec mlcanary")
    shellcheck(f"{rel} .mlcanary.script", script, "sh")
    reports = job.get("artifacts", {}).get("reports", {})
    if "junit" not in reports or job.get("artifacts", {}).get("when") != "always":
        problem(rel, "artifacts must be kept always, with a junit report")
    if "dotenv" not in reports:
        problem(rel, "artifacts must have a dotenv report (result, final weight, reason)")
    aud = doc.get(".mlcanary-azure", {}).get("id_tokens", {}).get("AZURE_ID_TOKEN", {}).get("aud")
    if aud != "api://AzureADTokenExchange":
        problem(rel, ".mlcanary-azure must request AZURE_ID_TOKEN for api://AzureADTokenExchange")


def main():
    check_action(ROOT / "action.yml")
    for path in sorted((ROOT / ".github" / "workflows").glob("*.y*ml")):
        doc = load(path)
        if doc is not None:
            check_runs(path.relative_to(ROOT), doc)
    for path in sorted((ROOT / "ci" / "gitlab").glob("*.y*ml")):
        check_gitlab(path)
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
