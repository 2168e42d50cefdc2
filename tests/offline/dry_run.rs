//! `run --dry-run` for every shipped example: the exact API requests, in order, and the rendered
//! guardrail queries, as snapshots; plus the properties every dry run must have.

use mlcanary::commands::run::{dry_run, dry_run_text};
use mlcanary::render::Renderer;

fn example(name: &str) -> mlcanary::config::Config {
    let path = format!("examples/{name}.yaml");
    mlcanary::config::load_str(
        &path,
        &std::fs::read_to_string(&path).unwrap(),
        Some(std::path::Path::new("examples")),
    )
    .unwrap()
}

const EXAMPLES: [&str; 6] = [
    "kserve",
    "seldon",
    "seldon-v2",
    "argo-rollouts-drive",
    "argo-rollouts-watch",
    "azureml",
];

#[test]
fn request_lists_match_the_snapshots() {
    for name in EXAMPLES {
        let c = example(name);
        let r = dry_run(&c, Renderer::new(None).unwrap()).unwrap();
        insta::assert_snapshot!(format!("dry_run_{name}"), dry_run_text(&c, &r));
    }
}

#[test]
fn every_dry_run_promotes_and_changes_traffic_only_through_patches_or_puts() {
    for name in EXAMPLES {
        let c = example(name);
        let r = dry_run(&c, Renderer::new(None).unwrap()).unwrap();
        assert_eq!(r.outcome.result(), "promoted", "{name}");
        assert!(!r.requests.is_empty(), "{name}");
        for req in &r.requests {
            assert!(
                ["GET", "PATCH", "PUT", "DELETE"].contains(&req.method.as_str()),
                "{name}: {req:?}"
            );
            assert_eq!(
                req.body.is_some(),
                req.content_type.is_some(),
                "{name}: {req:?}"
            );
        }
        // Every guardrail query of every observed stage was rendered (no template left over).
        for q in &r.queries {
            assert!(
                !q.query.contains("{{"),
                "{name}: unrendered query {}",
                q.query
            );
        }
    }
}

#[test]
fn kubernetes_dry_runs_validate_server_side_before_the_first_change() {
    for name in ["kserve", "seldon", "seldon-v2", "argo-rollouts-drive"] {
        let c = example(name);
        let r = dry_run(&c, Renderer::new(None).unwrap()).unwrap();
        let first_write = r.requests.iter().position(|q| q.method != "GET").unwrap();
        assert!(
            r.requests[first_write]
                .path
                .contains("dryRun=All&fieldValidation=Strict"),
            "{name}: the first change is a server-side dry run: {:?}",
            r.requests[first_write]
        );
    }
}

#[test]
fn kserve_walks_5_25_50_100_then_removes_the_canary_field() {
    let c = example("kserve");
    let r = dry_run(&c, Renderer::new(None).unwrap()).unwrap();
    let weights: Vec<String> = r
        .requests
        .iter()
        .filter_map(|q| q.body.as_ref())
        .map(|b| {
            let s = b.to_string();
            if let Some(ops) = b.as_array() {
                // As the live client sends it: guarded by the resourceVersion it was computed from.
                assert_eq!(ops[0]["op"], "test", "{s}");
                assert_eq!(ops[0]["path"], "/metadata/resourceVersion", "{s}");
                assert!(ops[0]["value"].is_string(), "{s}");
            }
            if s.contains("\"remove\"") {
                "promote".into()
            } else {
                b.pointer("/1/value")
                    .or(b.pointer("/spec/predictor/canaryTrafficPercent"))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            }
        })
        .collect();
    // dry-run apply + apply at 5, then 25, 50, 100, then the field removed.
    assert_eq!(weights, ["5", "5", "25", "50", "100", "promote"]);
    // Every PATCH names the field manager, as the live client's do.
    for q in r.requests.iter().filter(|q| q.method == "PATCH") {
        assert!(q.path.contains("?fieldManager=mlcanary"), "{}", q.path);
    }
}

/// The dry run lists what the live code sends at each step, also where the live code waits
/// for a controller: Argo drive mode releases the judged pause of every stage but the last
/// (`pauseConditions: null`) before `promoteFull`; Seldon v2 removes the Experiment and the
/// canary Model after the stable Model took the new URI and reported it Ready.
#[test]
fn dry_runs_list_argo_pause_releases_and_seldon_v2_removals() {
    let writes = |name: &str| -> Vec<String> {
        let c = example(name);
        let r = dry_run(&c, Renderer::new(None).unwrap()).unwrap();
        r.requests
            .iter()
            .filter(|q| q.method != "GET" && !q.path.contains("dryRun=All"))
            .map(|q| {
                let what = q.path.rsplit('/').next().unwrap_or("");
                let what = what.split('?').next().unwrap_or("");
                match &q.body {
                    Some(b) if b["status"].is_object() => format!(
                        "status {}",
                        b["status"].as_object().unwrap().keys().next().unwrap()
                    ),
                    Some(b) if b["spec"]["storageUri"].is_string() => format!("{what} storageUri"),
                    Some(b) if b["metadata"]["annotations"].is_object() => "record".into(),
                    Some(_) => format!("{} {what}", q.method),
                    None => format!("{} {what}", q.method),
                }
            })
            .filter(|w| w != "record")
            .collect()
    };
    // Stages 10, 30, 60: the pauses of 10 and 30 released, then promoted from the third.
    assert_eq!(
        writes("argo-rollouts-drive"),
        [
            "PATCH recommender",
            "status pauseConditions",
            "status pauseConditions",
            "status promoteFull"
        ]
    );
    let v2 = writes("seldon-v2");
    let n = v2.len();
    assert!(n >= 3, "{v2:?}");
    assert_eq!(
        v2[n - 3..],
        [
            "income storageUri",
            "DELETE income-canary",
            "DELETE income-v2"
        ],
        "{v2:?}"
    );
}

#[test]
fn azure_monitor_baseline_queries_read_the_stable_deployment() {
    let text = std::fs::read_to_string("examples/azureml.yaml")
        .unwrap()
        .replace("    query: RequestLatency_P99\n    aggregation: Average\n", "    query: RequestLatency_P99\n    baseline: RequestLatency_P99\n    aggregation: Average\n    promote: \"< 1.1x\"\n")
        .replace("    rollback: \"> 2000\"", "    rollback: \"> 1.3x\"");
    assert!(
        text.contains("baseline: RequestLatency_P99"),
        "the example changed: update this test"
    );
    let c = mlcanary::config::load_str("azureml.yaml", &text, None).unwrap();
    let r = dry_run(&c, Renderer::new(None).unwrap()).unwrap();
    let p99: Vec<_> = r
        .queries
        .iter()
        .filter(|q| q.guardrail == "p99-slo")
        .collect();
    let canary = p99
        .iter()
        .find(|q| q.role == mlcanary::core::guardrail::Role::Canary)
        .unwrap();
    let baseline = p99
        .iter()
        .find(|q| q.role == mlcanary::core::guardrail::Role::Baseline)
        .unwrap();
    assert!(
        canary.request.contains("deployment+eq+%27green%27"),
        "{}",
        canary.request
    );
    assert!(
        baseline.request.contains("deployment+eq+%27blue%27"),
        "{}",
        baseline.request
    );
}

#[test]
fn the_dry_run_reports_say_nothing_changed_and_nothing_was_judged() {
    for name in EXAMPLES {
        let c = example(name);
        let r = dry_run(&c, Renderer::new(None).unwrap()).unwrap();
        assert!(!r.changed, "{name}");
        let s = mlcanary::report::summary::render(&r);
        assert!(
            s.starts_with("## 🧪 Dry run") && s.contains("sends nothing"),
            "{name}: {s}"
        );
        assert!(
            s.contains("**Traffic now:** unchanged (a dry run sends nothing)"),
            "{name}: {s}"
        );
        assert!(!s.contains("canary 100%"), "{name}: {s}");
        // No verdict invented: no cell and no decision says a guardrail passed.
        assert!(
            !s.contains("- pass") && !s.contains("passes"),
            "{name}: {s}"
        );
        let checked = r
            .events
            .iter()
            .any(|e| matches!(e.kind, mlcanary::core::machine::EventKind::Check { .. }));
        if checked {
            assert!(s.contains("🧪 not judged"), "{name}: {s}");
            let x = mlcanary::report::junit::render(&r);
            assert!(
                x.contains("<skipped message=\"dry run: not evaluated\"/>"),
                "{name}: {x}"
            );
            assert!(!x.contains("<system-out>dry run"), "{name}: {x}");
        }
    }
}
