//! Output a pipeline reads: with `--format json` stdout is exactly one JSON document on every
//! command, and a reader closing the pipe early ends the output quietly (no panic, no exit 101).

use assert_cmd::Command;
use std::io::Read;
use std::process::Stdio;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("mlcanary")
}

fn json_stdout(args: &[&str]) -> (serde_json::Value, i32) {
    let out = Command::new(bin())
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

#[test]
fn json_format_prints_only_json_on_every_command() {
    let c = "examples/kserve.yaml";
    let (v, code) = json_stdout(&["validate", "-c", c, "--format", "json"]);
    assert_eq!((v["ok"].as_bool(), code), (Some(true), 0), "{v}");
    let (v, _) = json_stdout(&["plan", "-c", c, "--format", "json"]);
    assert!(v.is_object());
    let (v, code) = json_stdout(&["render", "-c", c, "--format", "json"]);
    assert_eq!(code, 0);
    assert!(!v["stages"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["stages"][0]["manifests"][0]["kind"].is_string(), "{v}");
    let (v, code) = json_stdout(&["demo", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(v["dryRun"]["result"], "promoted", "{v}");
    let (v, code) = json_stdout(&["run", "-c", c, "--dry-run", "--format", "json"]);
    assert_eq!((v["result"].as_str(), code), (Some("promoted"), 0));
}

#[test]
fn validate_json_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, "name: x\nversion: 1\nbogus: 2\n").unwrap();
    let (v, code) = json_stdout(&["validate", "-c", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 2);
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert!(!problems.is_empty());
    assert!(problems[0]["line"].as_u64().unwrap() >= 1, "{v}");
}

/// `mlcanary demo | head -1`: the reader has gone before we write. The read end is closed at
/// once, so every write fails with EPIPE whatever the timing.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    for args in [
        &["demo"][..],
        &["demo", "--format", "json"],
        &["plan", "-c", "examples/kserve.yaml"],
    ] {
        let mut child = std::process::Command::new(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: nothing on stderr either: {err}");
    }
}

fn with_guardrail(dir: &std::path::Path, guardrail: &str) -> std::path::PathBuf {
    let base = std::fs::read_to_string("examples/kserve.yaml").unwrap();
    // The `guardrails:` key at the start of a line (comments may mention the word).
    let i = base.find("\nguardrails:").unwrap() + 1;
    let text = format!("{}guardrails:\n{guardrail}", &base[..i]);
    let f = dir.join("c.yaml");
    std::fs::write(&f, text).unwrap();
    f
}

/// Under GitHub Actions a config problem is an annotation on its line.
#[test]
fn validate_under_github_annotates_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, "apiVersion: mlcanary/v1\nname: x\nbogus: 2\n").unwrap();
    let out = Command::new(bin())
        .args(["validate", "-c", f.to_str().unwrap()])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = f.display().to_string().replace(':', "%3A");
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("::error file={file},line="))
                && l.contains(",col=")
                && l.contains("bogus")),
        "{err}"
    );
}

/// `promote: "< 0.5"` on a percent guardrail means 50%: validate says so, on its line.
#[test]
fn a_percent_guardrail_without_percent_signs_draws_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let f = with_guardrail(
        dir.path(),
        "  - name: error-rate\n    provider: prom\n    unit: percent\n    query: errors\n    promote: \"< 0.5\"\n    rollback: \"> 90%\"\n",
    );
    let out = Command::new(bin())
        .args(["validate", "-c", f.to_str().unwrap()])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("warning"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("guardrails[0].promote: warning:") && line.contains("50%"),
        "{line}"
    );
    assert!(line.starts_with(&format!("{}:", f.display())), "{line}");
    let (v, _) = json_stdout(&["validate", "-c", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(v["warnings"][0]["path"], "guardrails[0].promote", "{v}");
}
