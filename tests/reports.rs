//! The reports a person or a pipeline reads, over real run records: the loop on a virtual clock
//! with an in-memory KServe-like platform (revision names as KServe reports them) and metrics that
//! follow a script over time. Summary snapshots for every outcome, JUnit, and the JSON record
//! against its published schema.

use mlcanary::config::load_str;
use mlcanary::core::plan::Plan;
use mlcanary::metrics::{Observation, Provider, ProviderError, Query};
use mlcanary::platform::{Platform, PlatformError, Readiness, Revisions, Traffic};
use mlcanary::render::Renderer;
use mlcanary::report::record::RunRecord;
use mlcanary::rollout::clock::{Cancel, VirtualClock};
use mlcanary::rollout::driver::{Driver, Quiet, SharedProvider};
use std::collections::BTreeMap;
use std::sync::Arc;

const START_MS: i64 = 1_764_444_580_000; // 2025-11-29T19:29:40Z

fn config(extra_analysis: &str) -> String {
    format!(
        r#"
apiVersion: mlcanary/v1
name: churn-scorer
model: {{uri: "gs://acme-models/churn/2026-11-20/", format: sklearn, version: v42}}
target: {{platform: kserve, namespace: ml}}
stages: [{{weight: 10}}, {{weight: 30}}, {{weight: 60}}]
analysis: {{pause: 16s, interval: 2s, warmup: 4s, failureLimit: 2{extra_analysis}}}
providers: {{prom: {{type: prometheus, address: "http://prom:9090"}}}}
guardrails:
  - name: error-rate
    provider: prom
    query: error_rate{{rev="{{{{ canary.revision }}}}"}}
    promote: "< 1%"
    rollback: "> 3%"
  - name: latency-p99-ms
    provider: prom
    unit: ms
    query: p99{{rev="{{{{ canary.revision }}}}"}}
    promote: "< 600"
    rollback: "> 900"
  - name: slow-vs-stable
    provider: prom
    query: p99{{rev="{{{{ canary.revision }}}}"}}
    baseline: p99{{rev="{{{{ stable.revision }}}}"}}
    promote: "< 1.5x"
    rollback: "> 3x"
"#
    )
}

/// KServe-like: traffic is reported per revision; `fail_at` makes a weight change fail as an API
/// refusal would.
struct Kserve {
    weight: u32,
    fail_at: Option<u32>,
}

impl Platform for Kserve {
    fn prepare(
        &mut self,
        weight: u32,
        _mirror: u32,
        _manifests: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        self.weight = weight;
        Ok(())
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        Ok(Readiness::Ready)
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        if self.fail_at == Some(weight) {
            return Err(PlatformError::Api {
                request: "PATCH /apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/churn-scorer".into(),
                message: "admission webhook denied the request".into(),
            });
        }
        self.weight = weight;
        Ok(())
    }
    fn set_shadow(&mut self, _percent: u32) -> Result<(), PlatformError> {
        Ok(())
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        Ok(Traffic {
            split: BTreeMap::from([
                ("churn-scorer-predictor-00002".into(), self.weight),
                ("churn-scorer-predictor-00001".into(), 100 - self.weight),
            ]),
            mirror: BTreeMap::new(),
        })
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        Ok(Revisions {
            canary_name: "churn-scorer".into(),
            canary_revision: Some("churn-scorer-predictor-00002".into()),
            stable_name: "churn-scorer".into(),
            stable_revision: Some("churn-scorer-predictor-00001".into()),
        })
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        self.weight = 100;
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.weight = 0;
        Ok(())
    }
}

type Script = fn(&str, f64) -> Option<f64>;

/// Metrics over time: (query text, seconds since start) -> value (None = no data). Optionally
/// cancels the run (a signal) at its n-th query.
struct Metrics {
    script: Script,
    cancel_at: Option<(usize, Cancel)>,
    seen: std::sync::atomic::AtomicUsize,
}

impl Provider for Metrics {
    fn fetch(&self, q: &Query) -> Result<Observation, ProviderError> {
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if let Some((at, c)) = &self.cancel_at {
            if n == *at {
                c.cancel();
            }
        }
        let t = (q.end * 1000 - START_MS) as f64 / 1000.0;
        Ok((self.script)(&q.text, t).map_or(Observation::NoData, Observation::Scalar))
    }
    fn describe(&self, q: &Query) -> String {
        format!("GET /api/v1/query?query={}", q.text)
    }
}

struct Scenario {
    analysis: &'static str,
    script: Script,
    fail_at: Option<u32>,
    cancel_at: Option<usize>,
}

fn healthy(q: &str, _t: f64) -> Option<f64> {
    Some(if q.starts_with("error_rate") {
        0.001
    } else {
        500.0
    })
}

/// The mockup's run: errors climb from 16 s (stage 2) past the 3% limit.
fn climbing_errors(q: &str, t: f64) -> Option<f64> {
    if q.starts_with("error_rate") {
        Some(if t <= 16.0 {
            0.001
        } else {
            0.0045 + (t - 20.0).max(0.0) * 0.004
        })
    } else {
        Some(500.0)
    }
}

/// Errors between the zones (1%..3%) from the start: never promotable, never failing.
fn between(q: &str, _t: f64) -> Option<f64> {
    Some(if q.starts_with("error_rate") {
        0.02
    } else {
        500.0
    })
}

fn run(s: Scenario) -> RunRecord {
    run_with(s, &mut Quiet)
}

fn run_with(s: Scenario, progress: &mut dyn mlcanary::rollout::driver::Progress) -> RunRecord {
    drive(&config(s.analysis), s, progress)
}

/// The loop over a config text; `s.analysis` is ignored (it is part of the text).
fn drive(
    text: &str,
    s: Scenario,
    progress: &mut dyn mlcanary::rollout::driver::Progress,
) -> RunRecord {
    let c = load_str("mlcanary.yaml", text, None).unwrap();
    let renderer = Renderer::new(None).unwrap();
    let clock = VirtualClock::new(START_MS);
    let cancel = Cancel::new();
    let metrics: SharedProvider = Arc::new(Metrics {
        script: s.script,
        cancel_at: s.cancel_at.map(|n| (n, cancel.clone())),
        seen: Default::default(),
    });
    let d = Driver {
        config: &c,
        plan: Plan::for_run(&c),
        platform: Box::new(Kserve {
            weight: 0,
            fail_at: s.fail_at,
        }),
        providers: BTreeMap::from([("prom".to_string(), metrics)]),
        renderer: &renderer,
        clock: &clock,
        cancel,
        env: Default::default(),
        rendered: Default::default(),
    };
    d.run(progress)
}

fn scenarios() -> Vec<(&'static str, RunRecord)> {
    let plain = |script| Scenario {
        analysis: "",
        script,
        fail_at: None,
        cancel_at: None,
    };
    let c = load_str("mlcanary.yaml", &config(""), None).unwrap();
    let dry = mlcanary::commands::run::dry_run(&c, Renderer::new(None).unwrap()).unwrap();
    vec![
        ("promoted", run(plain(healthy))),
        ("rolled_back", run(plain(climbing_errors))),
        (
            "inconclusive",
            run(Scenario {
                analysis: ", inconclusiveLimit: 1, onInconclusive: fail",
                ..plain(between)
            }),
        ),
        (
            "failed",
            run(Scenario {
                fail_at: Some(30),
                ..plain(healthy)
            }),
        ),
        (
            "interrupted",
            run(Scenario {
                cancel_at: Some(30),
                ..plain(healthy)
            }),
        ),
        ("dry_run", dry),
    ]
}

fn links() -> mlcanary::report::summary::Links {
    mlcanary::report::summary::Links {
        config: Some("mlcanary.yaml".into()),
        report: Some("mlcanary-report.json".into()),
    }
}

#[test]
fn step_summary_snapshots_for_every_outcome() {
    for (name, r) in scenarios() {
        let s = mlcanary::report::summary::render_with(&r, &links());
        insta::assert_snapshot!(format!("summary_{name}"), s);
    }
}

#[test]
fn the_summary_leads_with_verdict_model_and_why_in_units() {
    let r = run(Scenario {
        analysis: "",
        script: climbing_errors,
        fail_at: None,
        cancel_at: None,
    });
    let s = mlcanary::report::summary::render_with(&r, &links());
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "## ❌ Rolled back · churn-scorer v42");
    assert!(
        lines[2].starts_with("**Why:** `error-rate` was **5.25%**")
            && lines[2].contains("%**, above the **3%** rollback limit, in 3 checks (2 tolerated, `failureLimit: 2`)."),
        "{s}"
    );
    assert!(
        lines[3].contains("stable `churn-scorer-predictor-00001` **100%** · canary `churn-scorer-predictor-00002` **0%** (read back from KServe at 19:"),
        "{s}"
    );
    assert!(
        s.contains("| error-rate | pass &lt; 1% · roll back &gt; 3% |"),
        "{s}"
    );
    assert!(s.contains("| latency-p99-ms | pass &lt; 600 ms · roll back &gt; 900 ms | 500 ms | 500 ms | 0 of 2 allowed | ✅ |"), "{s}");
    assert!(
        s.contains(
            "| slow-vs-stable | pass &lt; 1.5x stable · roll back &gt; 3x stable | 1.00x | 1.00x |"
        ),
        "{s}"
    );
    assert!(
        s.contains("xychart-beta"),
        "a chart of the deciding guardrail: {s}"
    );
    assert!(s.contains("<details><summary>All "), "{s}");
    assert!(!s.contains("0.0358"), "no raw fractions: {s}");
}

fn junit(name: &str) -> String {
    let (_, r) = scenarios().into_iter().find(|(n, _)| *n == name).unwrap();
    mlcanary::report::junit::render(&r)
}

/// The rollout case fails with the reason on every outcome but promotion.
#[test]
fn junit_rollout_case_follows_the_decision() {
    let x = junit("promoted");
    assert!(
        x.contains("name=\"rollout\" time=\"48.000\"><system-out>promoted"),
        "{x}"
    );
    assert!(x.contains("<testsuites name=\"mlcanary churn-scorer\" tests=\"64\" failures=\"0\" errors=\"0\" time=\"48.000\" timestamp=\"2025-11-29T19:29:40.000Z\">"), "{x}");
    for (name, kind) in [
        ("rolled_back", "rolled-back"),
        ("inconclusive", "inconclusive"),
        ("failed", "failed"),
        ("interrupted", "interrupted"),
    ] {
        let x = junit(name);
        let case = x
            .lines()
            .find(|l| l.contains("<testcase") && l.contains("name=\"rollout\""))
            .unwrap();
        assert!(
            case.contains(&format!("<failure type=\"{kind}\" message=\"{kind}: ")),
            "{name}: {case}"
        );
    }
}

/// Failed checks within failureLimit (2) pass with a note; the third one fails.
#[test]
fn junit_tolerated_failures_are_not_failures() {
    let x = junit("rolled_back");
    let failures: Vec<&str> = x
        .lines()
        .filter(|l| l.contains("<failure message="))
        .collect();
    assert_eq!(failures.len(), 1, "{x}");
    assert!(failures[0].contains("name=\"error-rate check 7\""), "{x}");
    assert_eq!(x.matches("tolerated (failureLimit)").count(), 2, "{x}");
    assert!(x.contains("<testsuite name=\"stage 2 (30%)\" tests=\"21\" failures=\"1\" errors=\"0\" timestamp=\"2025-11-29T19:29:56.000Z\" time=\"16.000\">"), "{x}");
    assert!(
        x.contains("<testsuites name=\"mlcanary churn-scorer\" tests=\"43\" failures=\"2\""),
        "{x}"
    );
}

/// Real records (every outcome above, every shipped example's dry run) against the published
/// report schema.
#[test]
fn json_reports_match_the_published_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/report.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
    let mut records = scenarios();
    for name in [
        "kserve",
        "seldon",
        "seldon-v2",
        "argo-rollouts-drive",
        "argo-rollouts-watch",
        "azureml",
    ] {
        let path = format!("examples/{name}.yaml");
        let c = load_str(
            &path,
            &std::fs::read_to_string(&path).unwrap(),
            Some(std::path::Path::new("examples")),
        )
        .unwrap();
        records.push((
            "example",
            mlcanary::commands::run::dry_run(&c, Renderer::new(None).unwrap()).unwrap(),
        ));
    }
    for (name, r) in records {
        let doc: serde_json::Value =
            serde_json::from_str(&mlcanary::report::json::to_string(&r)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert_eq!(doc["schemaVersion"], 1);
        assert_eq!(doc["tool"]["version"], env!("CARGO_PKG_VERSION"));
    }
    // A live-like record has roles, the read-back time and a full-precision value.
    let (_, r) = scenarios()
        .into_iter()
        .find(|(n, _)| *n == "rolled_back")
        .unwrap();
    let doc = mlcanary::report::json::document(&r);
    assert_eq!(
        doc["trafficRoles"][0],
        serde_json::json!({"role": "stable", "name": "churn-scorer-predictor-00001", "percent": 100})
    );
    assert_eq!(
        doc["guardrails"][0]["rollback"],
        serde_json::json!({"op": ">", "value": 0.03, "relative": false, "text": "> 3%"})
    );
    assert_eq!(doc["startedAt"], "2025-11-29T19:29:40.000Z");
    let v = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event"] == "check")
        .unwrap()["judgements"][0]["value"]
        .as_f64()
        .unwrap();
    // The script's own f64 at 32 s, unrounded (the summary shows 5.25%).
    assert_eq!(v, 0.0045 + (32.0f64 - 20.0) * 0.004, "full precision");
}

/// What a person watching the log sees: a status line per check with units and zones, each
/// stage's outcome after its group, the rollback announced.
#[test]
fn live_progress_reads_in_units() {
    use mlcanary::report::console::{Ci, Console};
    let c = load_str("mlcanary.yaml", &config(""), None).unwrap();
    let rules = mlcanary::report::record::RunInfo::new(&c, &Plan::for_run(&c)).guardrails;
    let mut out = Vec::new();
    {
        let mut console = Console::new(&mut out, Ci::GitHub).with_rules(rules);
        run_with(
            Scenario {
                analysis: "",
                script: climbing_errors,
                fail_at: None,
                cancel_at: None,
            },
            &mut console,
        );
    }
    let log = String::from_utf8(out).unwrap();
    assert!(
        log.contains("stage 1/4 (10%) · check 1/7 · 12s left · error-rate 0.1% (pass < 1%) · latency-p99-ms 500 ms (pass < 600 ms) · slow-vs-stable 1.00x (pass < 1.5x stable)"),
        "{log}"
    );
    assert!(
        log.contains(
            "stage 2/4 (30%) · check 5/7 · 4s left · error-rate 3.65% (FAIL: roll back > 3%)"
        ),
        "{log}"
    );
    let lines: Vec<&str> = log.lines().collect();
    let end1 = lines.iter().position(|l| *l == "::endgroup::").unwrap();
    assert!(lines[end1 + 1].starts_with("stage 1 (10%): ✅ "), "{log}");
    assert!(
        lines.iter().any(|l| l
            .starts_with("stage 2 (30%): ❌ rolling back: guardrail error-rate failed 3 check(s)")),
        "{log}"
    );
    assert!(!log.contains("0.0365"), "{log}");
}

/// `plan` and the manual gates write step summaries too.
#[test]
fn plan_and_gate_summaries() {
    let c = load_str("mlcanary.yaml", &config(""), None).unwrap();
    let s = mlcanary::report::summary::plan_summary(&c, &Plan::from_config(&c));
    assert!(s.starts_with("## 📋 Plan · churn-scorer v42\n"), "{s}");
    assert!(s.contains("| stage | 10% | 30% | 60% | 100% |"), "{s}");
    assert!(
        s.contains("| latency-p99-ms | threshold | pass &lt; 600 ms · roll back &gt; 900 ms |"),
        "{s}"
    );
    let mut k = Kserve {
        weight: 0,
        fail_at: None,
    };
    let (t, r) = (k.traffic().unwrap(), k.revisions().unwrap());
    let s = mlcanary::report::summary::gate_summary(
        "rollback",
        "ml/churn-scorer",
        true,
        None,
        Some(&t),
        Some(&r),
    );
    assert_eq!(
        s,
        "## ↩️ Rolled back by hand · ml/churn-scorer\n\n**Traffic now:** stable `churn-scorer-predictor-00001` **100%** · canary `churn-scorer-predictor-00002` **0%**\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["plan", "-c", "examples/kserve.yaml"])
        .env("GITHUB_STEP_SUMMARY", dir.path().join("s.md"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let written = std::fs::read_to_string(dir.path().join("s.md")).unwrap();
    assert!(written.starts_with("## 📋 Plan · "), "{written}");
}

/// Issue 11.5: `increase()` returns fractional counts; the sequential test's sentence used to print
/// them in full (`canary 2.462128795462129/38.83287879546212`) and its evidence unbounded
/// (`evidence 1.8e38 of 20`).
#[test]
fn sequential_details_read_in_a_few_digits() {
    let text = format!(
        "{}  - name: errors-vs-stable\n    provider: prom\n    sequential:\n      test: rate\n      canary: {{events: ce, total: ct}}\n      baseline: {{events: be, total: bt}}\n",
        config("")
    );
    fn counts(q: &str, t: f64) -> Option<f64> {
        Some(match q {
            "ce" => 2.462128795462129 * t,
            "ct" => 38.83287879546212 * t,
            "be" => 0.0,
            "bt" => 349.4959091591591 * t,
            q => return healthy(q, t),
        })
    }
    let r = drive(
        &text,
        Scenario {
            analysis: "",
            script: counts,
            fail_at: None,
            cancel_at: None,
        },
        &mut Quiet,
    );
    let details: Vec<String> = r
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            mlcanary::core::machine::EventKind::Check { judgements, .. } => {
                Some(judgements.clone())
            }
            _ => None,
        })
        .flatten()
        .filter(|j| j.guardrail == "errors-vs-stable")
        .map(|j| j.detail)
        .collect();
    assert!(!details.is_empty());
    assert!(
        details[0].starts_with("errors-vs-stable: canary 9.85/155 vs stable 0/1398 events"),
        "{}",
        details[0]
    );
    for d in &details {
        let long_number = d
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .any(|w| w.len() > 7);
        assert!(!long_number, "{d}");
    }
}
