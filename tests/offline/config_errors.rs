//! Every validation error class of the foundation issue: the binary exits 2 and names the file,
//! line, column and key path.

use assert_cmd::Command;
use std::path::Path;

const GOOD: &str = r#"apiVersion: mlcanary/v1
name: fraud
model:
  uri: s3://m/v2
  format: sklearn
target:
  platform: kserve
  namespace: ml
providers:
  prom:
    type: prometheus
    address: http://p:9090
stages: [5, 50]
guardrails:
  - name: errors
    provider: prom
    query: up
    promote: "< 0.5%"
    rollback: "> 1%"
"#;

/// Run `validate` on `yaml`; return (exit code, stderr) with the temp path replaced by `C`.
fn validate(yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    validate_path(&path)
}

fn validate_path(path: &Path) -> (i32, String) {
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["validate", "-c"])
        .arg(path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "C");
    (out.status.code().unwrap(), err)
}

fn expect(yaml: &str, wanted: &[&str]) {
    let (code, err) = validate(yaml);
    assert_eq!(code, 2, "exit code for:\n{yaml}\nstderr: {err}");
    for w in wanted {
        assert!(err.contains(w), "stderr lacks {w:?}:\n{err}");
    }
}

#[test]
fn the_good_config_passes() {
    let (code, err) = validate(GOOD);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn not_yaml() {
    expect("apiVersion: [unclosed\nname: x\n", &["C:"]);
    expect("", &["C:1:1: the config is empty"]);
}

#[test]
fn wrong_types() {
    expect(
        &GOOD.replace("stages: [5, 50]", "stages: [5, \"fifty\"]"),
        &["C:13:", "stages[1]", "a weight"],
    );
    expect(
        &GOOD.replace("  uri: s3://m/v2", "  uri: [1, 2]"),
        &["C:4:", "model.uri", "wrong type"],
    );
    expect(
        &format!("{GOOD}analysis:\n  interval: 5\n"),
        &["analysis.interval", "needs a unit"],
    );
}

#[test]
fn unknown_keys_with_did_you_mean() {
    expect(
        &format!("{GOOD}analysis:\n  intervall: 1m\n"),
        &["C:21:3: analysis.intervall: unknown key `intervall` (did you mean `interval`?)"],
    );
    expect(
        &GOOD.replace("    promote:", "    promot:"),
        &["guardrails[0].promot", "did you mean `promote`"],
    );
    expect(
        &GOOD.replace("  namespace: ml", "  namespace: ml\n  namspace: x"),
        &["C:9:3: target.namspace", "did you mean `namespace`"],
    );
    expect(
        &GOOD.replace("type: prometheus", "type: prometeus"),
        &["unknown value `prometeus` (did you mean `prometheus`?)"],
    );
}

#[test]
fn weights_must_strictly_increase_within_1_to_100() {
    expect(
        &GOOD.replace("stages: [5, 50]", "stages: [50, 5]"),
        &[
            "C:13:",
            "stages[1]: weights must strictly increase: 5 after 50",
        ],
    );
    expect(
        &GOOD.replace("stages: [5, 50]", "stages: [5, 5]"),
        &["stages[1]: weights must strictly increase"],
    );
    expect(
        &GOOD.replace("stages: [5, 50]", "stages: [0, 101]"),
        &[
            "stages[0]: weight 0 is outside 1..100",
            "stages[1]: weight 101 is outside 1..100",
        ],
    );
}

#[test]
fn guardrail_zones() {
    let none = GOOD.replace("    promote: \"< 0.5%\"\n    rollback: \"> 1%\"\n", "");
    expect(
        &none,
        &["C:15:5: guardrails[0]: a guardrail needs `promote`, `rollback` or both"],
    );
    expect(&GOOD.replace("\"< 0.5%\"", "\"< 2%\""), &["C:18:5: guardrails[0].promote: the promote zone `< 2%` overlaps the rollback zone `> 1%`"]);
    expect(
        &GOOD.replace("\"< 0.5%\"", "\"< 1.1x\""),
        &["is relative (x) but the guardrail has no `baseline`"],
    );
    expect(
        &GOOD.replace("\"< 0.5%\"", "\"0.5\""),
        &["guardrails[0].promote", "invalid condition"],
    );
}

#[test]
fn unknown_provider() {
    expect(&GOOD.replace("    provider: prom", "    provider: promm"), &["C:16:5: guardrails[0].provider: unknown provider `promm` (did you mean `prom`?); defined: prom"]);
}

#[test]
fn shadow_on_a_platform_that_cannot_mirror() {
    expect(
        &format!("{GOOD}shadow:\n  percent: 10\n  duration: 5m\n"),
        &["C:20:1: shadow: platform kserve cannot mirror traffic"],
    );
}

#[test]
fn kubernetes_names_must_be_dns_1123() {
    expect(
        &GOOD.replace("name: fraud", "name: Fraud_Detector"),
        &["C:2:1: name:", "DNS-1123"],
    );
    expect(
        &GOOD.replace("namespace: ml", "namespace: ML.prod"),
        &["target.namespace", "DNS-1123"],
    );
}

#[test]
fn every_problem_in_one_pass() {
    let bad = GOOD
        .replace("stages: [5, 50]", "stages: [50, 5]")
        .replace("    provider: prom", "    provider: nope")
        .replace("namespace: ml", "namespace: ML");
    let (code, err) = validate(&bad);
    assert_eq!(code, 2);
    assert_eq!(
        err.lines().count(),
        3,
        "three problems, one line each:\n{err}"
    );
}

#[test]
fn template_override_with_a_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tpl")).unwrap();
    std::fs::write(
        dir.path().join("tpl/kserve-inferenceservice.yaml"),
        "apiVersion: v1\nkind: X\n{% if %}\n",
    )
    .unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, format!("{GOOD}templates: tpl\n")).unwrap();
    let (code, err) = validate_path(&path);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("kserve-inferenceservice.yaml") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn a_missing_templates_folder_is_a_config_error() {
    expect(
        &format!("{GOOD}templates: ./nowhere\n"),
        &["templates: templates folder", "does not exist"],
    );
}

/// Bytes run through `validate` (for encodings `&str` cannot hold).
fn validate_bytes(bytes: &[u8]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, bytes).unwrap();
    validate_path(&path)
}

// ---- issue 15 point 10: positions and consistency ----

#[test]
fn non_utf8_input_points_at_the_bad_byte() {
    let mut bytes = b"apiVersion: mlcanary/v1\nname: fr".to_vec();
    bytes.push(0xff);
    bytes.extend_from_slice(b"aud\n");
    let (code, err) = validate_bytes(&bytes);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("C:2:9: ") && err.contains("not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn a_bom_only_file_is_empty_at_line_1_and_a_bom_is_no_content() {
    let (code, err) = validate_bytes("\u{feff}".as_bytes());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("C:1:1: the config is empty"), "{err}");
    let (code, err) = validate_bytes(format!("\u{feff}{GOOD}").as_bytes());
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_error_at_the_end_of_the_file_points_at_its_last_line() {
    // An unclosed flow sequence: the parser notices only at the end of the text.
    let text = "apiVersion: mlcanary/v1\nname: fraud\nstages: [5, 50\n";
    let (code, err) = validate(text);
    assert_eq!(code, 2, "{err}");
    let line: usize = err
        .split("C:")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no position in {err}"));
    assert!(
        (1..=3).contains(&line),
        "line {line} is past the end:\n{err}"
    );
}

#[test]
fn a_plan_longer_than_its_deadline_is_an_error() {
    let yaml = GOOD.replace(
        "stages: [5, 50]",
        "stages: [{weight: 5, pause: 1h}, {weight: 50, pause: 1h30m}]\nanalysis: {deadline: 2h}",
    );
    expect(&yaml, &["analysis.deadline", "2h30m", "never finish"]);
    // Within the deadline it passes.
    let (code, err) = validate(&yaml.replace("deadline: 2h", "deadline: 3h"));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn documented_template_values_are_not_near_misses() {
    let yaml = GOOD.replace(
        "  namespace: ml\n",
        "  namespace: ml\n  resources: {limits: {cpu: \"1\"}}\n",
    );
    let (code, err) = validate(&yaml);
    assert_eq!(code, 0, "{err}");
    // A real typo of a config key is still caught.
    expect(
        &GOOD.replace("  namespace: ml\n", "  namespace: ml\n  resourse: fd\n"),
        &["target.resourse", "did you mean `resource`"],
    );
}

// ---- issue 15 point 9: bounded work for any config ----

#[test]
fn oversized_files_and_lists_are_refused_quickly() {
    let big = format!("{GOOD}# {}\n", "x".repeat(256 * 1024));
    expect(&big, &["C:1:1:", "at most 262144"]);
    let stages: Vec<String> = (0..5000).map(|_| "5".to_string()).collect();
    let yaml = GOOD.replace(
        "stages: [5, 50]",
        &format!("stages: [{}]", stages.join(", ")),
    );
    let (code, err) = validate(&yaml);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stages: 5000 entries; at most 100"), "{err}");
    assert_eq!(
        err.lines().count(),
        1,
        "one error, not one per stage:\n{err}"
    );
}

#[test]
fn a_template_loop_runs_out_of_fuel_instead_of_hanging() {
    let yaml = GOOD.replace(
        "query: up",
        "query: \"{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}\"",
    );
    for cmd in [&["validate"][..], &["render"], &["run", "--dry-run"]] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, &yaml).unwrap();
        let out = Command::cargo_bin("mlcanary")
            .unwrap()
            .args(cmd)
            .arg("-c")
            .arg(&path)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(err.contains("too much work"), "{cmd:?}: {err}");
    }
}

/// Every misspelt key in one pass (the parser stops at the first; the loader drops it and reads
/// on), then the next problem of another kind.
#[test]
fn every_unknown_key_in_one_pass() {
    let yaml = GOOD
        .replace("  format: sklearn", "  fromat: sklearn")
        .replace("    promote: \"< 0.5%\"", "    promte: \"< 0.5%\"")
        .replace("name: fraud", "name: fraud\nbogus: 1");
    let (code, err) = validate(&yaml);
    assert_eq!(code, 2, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("C:3:1: bogus: unknown key `bogus`")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("C:6:3: model.fromat: unknown key `fromat` (did you mean `format`?)")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                .contains("guardrails[0].promte: unknown key `promte` (did you mean `promote`?)")),
        "{err}"
    );
}

/// Every problem the parser can see in one pass, not only unknown keys: wrong types, unknown
/// values and missing keys anywhere in the file, each once, at its own line, and nothing the
/// loader's own mending caused (a dropped required key is not reported as missing).
#[test]
fn every_parse_problem_in_one_pass() {
    let yaml = GOOD
        .replace("  format: sklearn", "  fromat: sklearn")
        .replace("  platform: kserve", "  platform: kservee")
        .replace("  namespace: ml", "  namespace: [ml]")
        .replace("stages: [5, 50]", "stages: [5, \"fifty\"]")
        .replace(
            "    rollback: \"> 1%\"",
            "    rollback: 12\n    interval: 3m",
        )
        + "  - name: latency\n    query: up\n    promote: \"< 300\"\n";
    let (code, err) = validate(&yaml);
    assert_eq!(code, 2, "{err}");
    let wanted = [
        "C:5:3: model.fromat: unknown key `fromat` (did you mean `format`?)",
        "C:7:3: target.platform: unknown value `kservee` (did you mean `kserve`?)",
        "C:8:3: target.namespace: wrong type: sequence, expected a string",
        "C:13:13: stages[1]: wrong type: string \"fifty\"",
        "C:19:5: guardrails[0].rollback: wrong type: integer `12`, expected a string",
        "C:20:5: guardrails[0].interval: unknown key `interval`",
        "C:21:5: guardrails[1]: missing required key `provider`",
    ];
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("C:")).collect();
    for w in wanted {
        assert!(
            lines.iter().any(|l| l.starts_with(w)),
            "missing {w:?} in\n{err}"
        );
    }
    assert_eq!(lines.len(), wanted.len(), "{err}");
    assert!(!err.contains("missing required key `platform`"), "{err}");
}
