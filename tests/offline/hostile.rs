//! Hostile input, property-based (proptest; runs in CI, no nightly): config parsing, duration and
//! condition grammars, manifest rendering, workflow-command safety of console lines and outputs,
//! and notification bodies. No panic, no hang; values never add keys, documents or commands.
use crate::support::notify as support;
use crate::support::render as render_support;

use mlcanary::config::{load_str, Condition, Duration};
use mlcanary::render::{to_yaml_stream, Renderer};
use mlcanary::report::console::Console;
use mlcanary::report::github::{error, escape_data, one_line};
use proptest::prelude::*;
use serde_json::{json, Value};

const CASES: u32 = 256;

const GOOD: &str = r#"apiVersion: mlcanary/v1
name: fraud
model: {uri: "s3://m/v2", format: sklearn, version: v2}
target: {platform: kserve, namespace: ml}
stages: [{weight: 10, pause: 1m}, 50]
analysis: {interval: 1m, warmup: 0s}
providers: {prom: {type: prometheus, address: "http://prom:9090"}}
guardrails:
  - {name: error-rate, provider: prom, query: errors, promote: "< 0.5%", rollback: "> 1%"}
"#;

/// Pieces of YAML, config keys and template syntax, glued at random.
fn yamlish() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "apiVersion: mlcanary/v1\n",
        "name: ",
        "model:\n",
        "  uri: ",
        "stages:\n",
        "  - ",
        "weight: ",
        "pause: ",
        "guardrails:\n",
        "notify:\n",
        "target: ",
        "platform: kserve",
        "{",
        "}",
        "[",
        "]",
        ", ",
        ": ",
        "- ",
        "\n",
        "  ",
        "\t",
        "&a ",
        "*a",
        "<<: *a\n",
        "!!binary ",
        "!tag ",
        "---\n",
        "...\n",
        "? ",
        "|\n",
        ">-\n",
        "\"",
        "'",
        "#",
        "${X}",
        "{{ x }}",
        "{%",
        "%}",
        "~",
        "null",
        "1e999",
        "-0",
        "0x1F",
        "5m",
        "< 0.5%",
        "\u{feff}",
        "\u{0}",
        "é",
        "%",
    ]);
    prop::collection::vec(tokens, 0..60).prop_map(|v| v.concat())
}

fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k.clone());
            keys(v, out)
        }),
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Object(m) => m.values().for_each(|v| strings(v, out)),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Lines a GitHub runner would read as a workflow command.
fn commands(text: &str) -> Vec<String> {
    text.split(['\n', '\r'])
        .filter(|l| l.trim_start().starts_with("::"))
        .map(String::from)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn config_loading_never_panics_on_any_text(text in any::<String>()) {
        let _ = load_str("c.yaml", &text, None);
    }

    #[test]
    fn config_loading_never_panics_on_yamlish_text(text in yamlish()) {
        let _ = load_str("c.yaml", &text, None);
    }

    #[test]
    fn config_loading_never_panics_on_a_damaged_good_config(
        at in 0..GOOD.len(), cut in 0usize..40, insert in yamlish()
    ) {
        let mut text = GOOD.to_string();
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap();
        text.replace_range(at..end, &insert);
        let _ = load_str("c.yaml", &text, None);
    }

    #[test]
    fn durations_never_panic_and_round_trip(text in any::<String>()) {
        if let Ok(d) = Duration::parse(&text) {
            prop_assert_eq!(Duration::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn written_durations_parse_to_their_sum(groups in prop::collection::vec((0u64..100_000, 0usize..5), 1..5)) {
        let units = [("ms", 1u64), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
        let text: String = groups.iter().map(|(n, u)| format!("{n}{}", units[*u].0)).collect();
        let ms: u64 = groups.iter().map(|(n, u)| n * units[*u].1).sum();
        let d = Duration::parse(&text).unwrap();
        prop_assert_eq!(d.as_millis(), ms);
        prop_assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn conditions_never_panic_and_round_trip(text in any::<String>()) {
        if let Ok(c) = Condition::parse(&text) {
            prop_assert_eq!(Condition::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn written_conditions_hold_where_they_should(
        op in prop::sample::select(vec!["<", "<=", ">", ">="]), n in 0u32..100_000, pct in any::<bool>()
    ) {
        let text = format!("{op} {n}{}", if pct { "%" } else { "" });
        let c = Condition::parse(&text).unwrap();
        let v = if pct { n as f64 / 100.0 } else { n as f64 };
        prop_assert!((c.value - v).abs() <= 1e-9 * v.max(1.0));
        prop_assert_eq!(c.holds(v), op.contains('='));
    }

    #[test]
    fn hostile_model_values_stay_one_scalar_in_every_manifest(
        uri in any::<String>(), version in any::<String>(), resource in any::<String>(),
        platform in prop::sample::select(vec!["kserve", "seldon", "seldon-v2", "argo-drive", "azureml"])
    ) {
        let r = Renderer::new(None).unwrap();
        let clean: Vec<Value> = r.manifests(&render_support::ctx(platform)).unwrap().into_iter().map(|m| m.value).collect();
        let mut ctx = render_support::ctx(platform);
        ctx["model"]["uri"] = json!(uri);
        ctx["model"]["version"] = json!(version);
        ctx["resource"] = json!(resource);
        // A value may be refused (an invalid object name), never obeyed.
        if let Ok(evil) = r.manifests(&ctx) {
            let values: Vec<Value> = evil.iter().map(|m| m.value.clone()).collect();
            prop_assert_eq!(values.len(), clean.len());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            values.iter().for_each(|v| keys(v, &mut a));
            clean.iter().for_each(|v| keys(v, &mut b));
            prop_assert_eq!(a, b, "keys changed");
            if platform != "azureml" {
                let mut found = Vec::new();
                values.iter().for_each(|v| strings(v, &mut found));
                prop_assert!(found.contains(&uri), "uri not verbatim");
            }
            let stream = to_yaml_stream(&evil);
            let docs: Vec<Value> = yaml_serde::Deserializer::from_str(&stream)
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .collect();
            prop_assert_eq!(docs, values);
        }
    }

    #[test]
    fn any_template_source_renders_or_errors(source in any::<String>(), tmpl in yamlish()) {
        let r = Renderer::new(None).unwrap();
        let ctx = render_support::ctx("kserve");
        let _ = r.render_str("q", &source, &ctx);
        let _ = r.render_str("q", &tmpl, &ctx);
    }

    #[test]
    fn no_value_can_start_a_workflow_command(s in any::<String>(), prefix in prop::sample::select(vec!["", "##[error]", "::set-output name=x::", "::add-mask::", "\n::error::", "\r\n::stop-commands::t\n"])) {
        let v = format!("{prefix}{s}");
        prop_assert!(!one_line(&v).contains(['\n', '\r']));
        prop_assert!(!one_line(&v).contains("##["));
        prop_assert!(!escape_data(&v).contains(['\n', '\r']));
        prop_assert_eq!(commands(&error("t", &v)).len(), 1);
        // The console prefixes every line (or, in GitHub, prints it single-line after fixed text).
        let mut out = Vec::new();
        {
            let mut c = Console::new(&mut out, mlcanary::report::console::Ci::GitHub);
            mlcanary::rollout::driver::Progress::phase(&mut c, &v);
            mlcanary::rollout::driver::Progress::event(&mut c, &format!("rolling back: {v}"));
        }
        let text = String::from_utf8(out).unwrap();
        let cmds = commands(&text);
        prop_assert_eq!(cmds.len(), 2, "{:?}", cmds);
        prop_assert!(cmds[0].starts_with("::group::") && cmds[1] == "::endgroup::");
    }

    #[test]
    fn notification_bodies_are_json_whatever_the_model_says(version in any::<String>(), uri in any::<String>()) {
        let ctx = json!({"name": "fraud", "model": {"uri": uri, "version": version}, "target": {"platform": "kserve"}});
        let r = Renderer::new(None).unwrap();
        for event in [mlcanary::config::NotifyEvent::Started, mlcanary::config::NotifyEvent::Stage] {
            let m = mlcanary::notify::Milestone { event, ctx: &ctx, stage: "stage 1 (10%)", outcome: None };
            let b: Value = serde_json::from_str(&mlcanary::notify::body(None, "b", &m, &r).unwrap()).unwrap();
            let obj = b.as_object().unwrap();
            prop_assert_eq!(obj.len(), 1);
            prop_assert!(!obj["text"].as_str().unwrap().contains(['\n', '\r']));
            let t = r#"{"text": {{ message | tojson }}, "v": {{ model.version | tojson }}}"#;
            let b: Value = serde_json::from_str(&mlcanary::notify::body(Some(t), "b", &m, &r).unwrap()).unwrap();
            prop_assert_eq!(b.as_object().unwrap().len(), 2);
            prop_assert_eq!(&b["v"], &json!(version));
        }
    }

    #[test]
    fn outputs_keep_their_six_keys_whatever_the_values(stage in any::<String>(), report in any::<String>()) {
        let c = load_str("c.yaml", GOOD, None).unwrap();
        let mut r = support::rollout(&c, support::constant(0.001), &|_| None, Default::default(), &mut mlcanary::rollout::driver::Quiet);
        r.stage = format!("{stage}\nevil<<EOF\nx\nEOF");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        mlcanary::report::outputs::write(&file, &r, Some(std::path::Path::new(&report))).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        // The runner's reading: `key<<DELIM`, value lines, `DELIM`.
        let mut keys = Vec::new();
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            let (k, delim) = l.split_once("<<").unwrap();
            keys.push(k.to_string());
            prop_assert!(lines.by_ref().take_while(|v| *v != delim).count() <= 1);
        }
        prop_assert_eq!(keys, ["result", "final-weight", "stage", "reason", "duration-seconds", "report"]);
    }
}

#[test]
fn templates_cannot_include_files_by_path() {
    let r = Renderer::new(None).unwrap();
    let ctx = render_support::ctx("kserve");
    for name in [
        "../../../../etc/passwd",
        "/etc/passwd",
        "templates/../Cargo.toml",
    ] {
        for src in [
            format!("{{% include {name:?} %}}"),
            format!("{{% import {name:?} as x %}}"),
            format!("{{% extends {name:?} %}}"),
        ] {
            let e = r.render_str("q", &src, &ctx).unwrap_err().to_string();
            assert!(
                e.contains("not found") || e.contains("template"),
                "{src}: {e}"
            );
            assert!(!e.contains("root:"), "{src}: file content leaked: {e}");
        }
    }
}

#[test]
fn a_model_name_cannot_print_a_workflow_command_during_a_rollout() {
    let mut c = load_str("c.yaml", GOOD, None).unwrap();
    c.model.version = Some("v2\n::set-output name=result::promoted".into());
    c.model.uri = "s3://m\r\n::add-mask::everything".into();
    c.guardrails[0].query = Some("errors{v=\"{{ model.version }}\"}\n::error::evil".into());
    let mut out = Vec::new();
    {
        let mut console = Console::new(&mut out, mlcanary::report::console::Ci::GitHub);
        let r = support::rollout(
            &c,
            support::constant(0.05),
            &|_| None,
            Default::default(),
            &mut console,
        );
        assert_eq!(r.outcome.result(), "rolled-back");
    }
    let text = String::from_utf8(out).unwrap();
    for cmd in commands(&text) {
        assert!(
            cmd.starts_with("::group::") || cmd == "::endgroup::",
            "{cmd}\n{text}"
        );
    }
}

/// The binary's own output, every command that prints values, with values built to start workflow
/// commands (`::cmd::` after any indentation, or the legacy `##[cmd]` anywhere in a line).
#[test]
fn no_command_output_carries_an_injected_workflow_command() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    let evil = r#"v2\n  ::error::injected\n##[error]legacy\r\n::stop-commands::x"#;
    std::fs::write(
        &cfg,
        GOOD.replace("version: v2", &format!("version: \"{evil}\""))
            .replace("s3://m/v2", &format!("s3://m/{evil}"))
            .replace(
                "query: errors",
                "query: 'errors{v=\"{{ model.version }}\"}'",
            ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    for args in [
        vec!["validate", "--config", c],
        vec!["plan", "--config", c],
        vec!["render", "--config", c],
        vec!["run", "--dry-run", "--config", c],
        vec!["run", "--dry-run", "--format", "json", "--config", c],
    ] {
        let out = assert_cmd::Command::cargo_bin("mlcanary")
            .unwrap()
            .args(&args)
            .env("GITHUB_ACTIONS", "true")
            .output()
            .unwrap();
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            let bad: Vec<String> = commands(&text)
                .into_iter()
                .chain(text.lines().filter(|l| l.contains("##[")).map(String::from))
                .collect();
            assert!(bad.is_empty(), "{args:?}: {bad:?}\n{text}");
        }
    }
}

/// `render` prints what `run` applies (issue 15 point 8): a value with line breaks, a line that
/// starts with `::` and a `##[` reads back from the printed stream identical to the manifest,
/// and the stream still holds no workflow command. Escaping the log used to edit the YAML (a
/// multi-line storageUri became unparsable, `##[b]` became `## [b]`).
#[test]
fn render_prints_exactly_what_run_applies() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    let uri = r#"s3://m/v2\n::error::x\n  more ##[b]\r\nend"#;
    std::fs::write(&cfg, GOOD.replace("s3://m/v2", uri)).unwrap();
    let out = assert_cmd::Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["render", "--config", cfg.to_str().unwrap()])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stream = String::from_utf8(out.stdout).unwrap();
    assert!(
        commands(&stream).is_empty() && !stream.contains("##["),
        "{stream}"
    );
    let printed: Vec<Value> = yaml_serde::Deserializer::from_str(&stream)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let (c, r) = mlcanary::commands::load(&mlcanary::cli::ConfigArg::file(&cfg)).unwrap();
    let expected: Vec<Value> = mlcanary::commands::render::all_stages(&c, &r)
        .unwrap()
        .into_iter()
        .flat_map(|(_, _, ms)| ms.into_iter().map(|m| m.value))
        .collect();
    assert_eq!(printed, expected, "{stream}");
    let want = "s3://m/v2\n::error::x\n  more ##[b]\r\nend";
    let quoted = serde_json::to_string(want).unwrap();
    assert!(
        expected.iter().any(|d| d.to_string().contains(&quoted)),
        "{stream}"
    );
}
