//! Command-line conventions: help on every flag, kubectl's flags, version facts, completions and
//! a man page, and an invalid `MLCANARY_*` value named.

use assert_cmd::Command;
use clap::CommandFactory;

#[test]
fn every_flag_and_argument_has_help() {
    let mut missing = Vec::new();
    let mut stack = vec![(String::from("mlcanary"), mlcanary::cli::Cli::command())];
    while let Some((path, c)) = stack.pop() {
        for a in c.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for s in c.get_subcommands() {
            if s.get_about().is_none() {
                missing.push(format!("{path} {} (about)", s.get_name()));
            }
            stack.push((format!("{path} {}", s.get_name()), s.clone()));
        }
    }
    assert!(missing.is_empty(), "no help text: {missing:#?}");
}

#[test]
fn kubectl_flags_override_the_config() {
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args([
            "render",
            "-c",
            "examples/kserve.yaml",
            "--format",
            "json",
            "-n",
            "ns2",
            "--context",
            "c1",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["stages"][0]["manifests"][0]["metadata"]["namespace"], "ns2",
        "{v}"
    );
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args([
            "validate",
            "-c",
            "examples/kserve.yaml",
            "--kubeconfig",
            "/nonexistent/kc",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_names_commit_and_target() {
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["version", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["commit"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    assert!(v["target"].as_str().is_some_and(|t| t.contains('-')), "{v}");
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with(&format!("mlcanary {}", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::cargo_bin("mlcanary")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("mlcanary") && text.contains("dry-run"),
            "{shell}"
        );
    }
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .arg("man")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(".TH mlcanary 1") && text.contains("MLCANARY_LOG"),
        "{text}"
    );
}

#[test]
fn an_invalid_environment_value_names_the_variable() {
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["run", "-c", "examples/kserve.yaml"])
        .env("MLCANARY_DRY_RUN", "maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MLCANARY_DRY_RUN=\"maybe\""), "{err}");
}
