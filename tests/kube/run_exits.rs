//! How `mlcanary run` ends before or at its first write, against the Kubernetes test server:
//! everything renders before anything is sent (a template error is exit 2 with no request at all),
//! a rollback never writes to a resource the run did not change, and every exit writes its
//! reports saying that nothing was changed. Also what the loop reads after readiness: a failed
//! read of the revision names is read again, never sent as a placeholder.
use crate::support::kube;

use assert_cmd::Command;
use kube::{Fault, KubeServer};
use serde_json::{json, Value};
use std::path::Path;

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";

fn config(query: &str, templates: bool) -> String {
    format!(
        r#"
apiVersion: mlcanary/v1
name: fd
model: {{uri: s3://m/v2, format: sklearn, version: v2}}
target: {{platform: kserve, namespace: ml, resource: fd}}
stages: [{{weight: 10, pause: 1m}}, {{weight: 50, pause: 1m}}]
analysis: {{interval: 30s, warmup: 0s, deadline: 10m}}
kubernetes: {{kubeconfig: kubeconfig}}
providers: {{prom: {{type: prometheus, address: "http://127.0.0.1:9"}}}}
{}guardrails:
  - name: error-rate
    provider: prom
    query: '{query}'
    rollback: "> 1%"
"#,
        if templates {
            "templates: templates\n"
        } else {
            ""
        }
    )
}

fn stable_isvc() -> Value {
    json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "fd", "namespace": "ml"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v1"}}}})
}

struct Ended {
    code: i32,
    stderr: String,
    report: Value,
    junit: String,
    summary: String,
}

/// `mlcanary run` with every report asked for, in `dir` (which holds `c.yaml`).
fn run(dir: &Path) -> Ended {
    let summary = dir.join("summary.md");
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .current_dir(dir)
        .args([
            "run", "--config", "c.yaml", "--report", "r.json", "--junit", "j.xml",
        ])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    Ended {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        report: serde_json::from_str(&read("r.json")).unwrap_or(Value::Null),
        junit: read("j.xml"),
        summary: read("summary.md"),
    }
}

fn setup(server: &KubeServer, query: &str, template: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    server.write_kubeconfig(dir.path(), None);
    let cfg = config(query, template.is_some());
    std::fs::write(dir.path().join("c.yaml"), cfg).unwrap();
    if let Some(t) = template {
        let tdir = dir.path().join("templates");
        std::fs::create_dir(&tdir).unwrap();
        std::fs::write(tdir.join("kserve-inferenceservice.yaml"), t).unwrap();
    }
    server.insert(ISVC, stable_isvc());
    dir
}

/// The report of a run that changed nothing, in every form asked for.
fn assert_reported_unchanged(e: &Ended) {
    assert_eq!(e.report["outcome"]["result"], "failed", "{}", e.report);
    assert_eq!(e.report["changed"], false, "{}", e.report);
    let why = e.report["outcome"]["reason"].as_str().unwrap_or("");
    assert!(why.contains("nothing was changed"), "{why}");
    assert!(e.junit.contains("<testsuites"), "junit: {}", e.junit);
    assert!(
        e.summary
            .contains("unchanged: this run changed nothing, traffic is where it was before"),
        "{}",
        e.summary
    );
}

const KSERVE_TEMPLATE: &str = include_str!("../../templates/kserve-inferenceservice.yaml");

#[test]
fn a_template_error_at_a_later_stage_is_exit_2_before_any_request() {
    let server = KubeServer::start();
    // Only the 50% stage uses the undefined variable: the first stage would have applied.
    let t = KSERVE_TEMPLATE.replace(
        "    model:\n",
        "{% if stage.weight == 50 %}\n    x: {{ replicaz }}\n{% endif %}\n    model:\n",
    );
    let dir = setup(&server, "sum(rate(errors[1m]))", Some(&t));
    let e = run(dir.path());
    assert_eq!(e.code, 2, "{}", e.stderr);
    assert!(
        e.stderr.contains("kserve-inferenceservice.yaml")
            && e.stderr.contains("line")
            && e.stderr.contains("undefined"),
        "{}",
        e.stderr
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert_eq!(server.object(ISVC).unwrap()["spec"], stable_isvc()["spec"]);
    assert_reported_unchanged(&e);
}

#[test]
fn a_guardrail_query_with_an_undefined_variable_is_exit_2_before_any_request() {
    let server = KubeServer::start();
    let dir = setup(
        &server,
        "sum(rate(errors{revision=\"{{ canary.revison }}\"}[1m]))",
        None,
    );
    let e = run(dir.path());
    assert_eq!(e.code, 2, "{}", e.stderr);
    assert!(
        e.stderr.contains("guardrail error-rate query") && e.stderr.contains("undefined"),
        "{}",
        e.stderr
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert_reported_unchanged(&e);
    // `validate` says so too.
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .current_dir(dir.path())
        .args(["validate", "--config", "c.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("guardrail error-rate query"));
}

#[test]
fn a_refused_first_apply_never_rolls_back_the_untouched_stable() {
    let server = KubeServer::start();
    // RBAC lets mlcanary read but not patch: the server-side dry run of the apply is refused.
    server.deny("patch", "inferenceservices");
    let dir = setup(&server, "sum(rate(errors[1m]))", None);
    let e = run(dir.path());
    assert_eq!(e.code, 3, "{}", e.stderr);
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.param("dryRun").is_none())
        .collect();
    assert!(writes.is_empty(), "nothing but dry runs: {writes:?}");
    assert_eq!(e.report["outcome"]["rolled_back"], false, "{}", e.report);
    assert_reported_unchanged(&e);
}

#[test]
fn no_kubeconfig_still_writes_every_report() {
    let server = KubeServer::start();
    let dir = setup(&server, "sum(rate(errors[1m]))", None);
    std::fs::remove_file(dir.path().join("kubeconfig")).unwrap();
    let e = run(dir.path());
    assert_eq!(e.code, 3, "{}", e.stderr);
    assert!(e.stderr.contains("Kubernetes"), "{}", e.stderr);
    assert_reported_unchanged(&e);
}

#[test]
fn a_config_that_does_not_load_still_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.yaml"),
        "apiVersion: mlcanary/v1\nname: fd\nbogus: 1\n",
    )
    .unwrap();
    let e = run(dir.path());
    assert_eq!(e.code, 2, "{}", e.stderr);
    assert_eq!(e.report["outcome"]["result"], "failed", "{}", e.report);
    let why = e.report["outcome"]["reason"].as_str().unwrap_or("");
    assert!(
        why.contains("nothing was changed") && why.contains("bogus"),
        "{why}"
    );
    assert!(e.junit.contains("<testsuites"), "junit: {}", e.junit);
    assert!(e.summary.contains("nothing was changed"), "{}", e.summary);
}

#[test]
fn an_api_refusing_the_first_read_still_writes_every_report() {
    let server = KubeServer::start();
    server.deny("get", "inferenceservices");
    let dir = setup(&server, "sum(rate(errors[1m]))", None);
    let e = run(dir.path());
    assert_eq!(e.code, 3, "{}", e.stderr);
    // The typed error reaches main: what failed first, then its cause (the request and the
    // API's refusal), one line each.
    let lines: Vec<&str> = e.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("error: cannot read the rollout's progress"))
        .unwrap_or_else(|| panic!("{}", e.stderr));
    let cause = lines.get(at + 1).copied().unwrap_or_default();
    assert!(
        cause.starts_with(&format!("  caused by: GET {ISVC}")) && cause.contains("forbidden"),
        "{}",
        e.stderr
    );
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        server.requests()
    );
    assert_reported_unchanged(&e);
}

#[test]
fn refusing_to_start_over_another_rollout_reports_where_traffic_is() {
    let server = KubeServer::start();
    let dir = setup(&server, "sum(rate(errors[1m]))", None);
    // Another model's rollout is at 25% (its record on the object, its traffic in the status).
    let other = mlcanary::core::progress::Progress {
        run_id: "other-run".into(),
        model: mlcanary::core::progress::fingerprint("s3://m/other", Some("v9")),
        version: Some("v9".into()),
        state: mlcanary::core::progress::State::InProgress,
        phase: 1,
        weight: 25,
        started_at: 0,
        failed: vec![0],
    };
    let mut obj = stable_isvc();
    obj["metadata"]["annotations"] =
        json!({ mlcanary::core::progress::ANNOTATION: other.encode() });
    obj["spec"]["predictor"]["canaryTrafficPercent"] = json!(25);
    obj["status"] = json!({"components": {"predictor": {
        "latestCreatedRevision": "fd-predictor-00002",
        "latestReadyRevision": "fd-predictor-00002",
        "latestRolledoutRevision": "fd-predictor-00001"}}});
    server.insert(ISVC, obj);
    let e = run(dir.path());
    assert_eq!(e.code, 2, "{}", e.stderr);
    assert!(e.stderr.contains("mid-rollout"), "{}", e.stderr);
    assert_eq!(e.report["changed"], false, "{}", e.report);
    assert_eq!(
        e.report["traffic"]["split"],
        json!({"fd-predictor-00001": 75, "fd-predictor-00002": 25}),
        "{}",
        e.report
    );
    assert!(
        e.summary
            .contains("fd-predictor-00001 75%, fd-predictor-00002 25% (as the platform reports)"),
        "{}",
        e.summary
    );
    assert!(server.requests().iter().all(|r| r.method == "GET"));
}

// ---------- the read of the revision names after readiness ----------

/// A provider that records every query and answers a healthy error rate.
struct Recording(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl mlcanary::metrics::Provider for Recording {
    fn fetch(
        &self,
        q: &mlcanary::metrics::Query,
    ) -> Result<mlcanary::metrics::Observation, mlcanary::metrics::ProviderError> {
        self.0.lock().unwrap().push(q.text.clone());
        Ok(mlcanary::metrics::Observation::Scalar(0.001))
    }
    fn describe(&self, q: &mlcanary::metrics::Query) -> String {
        q.text.clone()
    }
}

/// A KServe rollout on the test server through the live client and the real loop (virtual
/// clock), with `fault` on `times` GETs of the InferenceService starting at the third (prepare's
/// read, the readiness poll, then the read of the revision names). The queries sent.
fn rollout_with_revision_read_fault(fault: Fault, times: usize) -> (String, Vec<String>) {
    use mlcanary::clients::kube::{AuthSpec, Client, ClientOptions, ClusterConfig, RetryPolicy};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = KubeServer::start();
    server.set_ready_after(0);
    server.insert(ISVC, stable_isvc());
    server.tick();
    let gets = AtomicUsize::new(0);
    server.inject(
        move |r| r.method == "GET" && r.path == ISVC && gets.fetch_add(1, Ordering::SeqCst) >= 2,
        fault,
        times,
    );
    let text = config(
        "sum(rate(errors{revision=\"{{ canary.revision }}\"}[1m]))",
        false,
    )
    .replace(
        "analysis: {interval: 30s, warmup: 0s, deadline: 10m}",
        "analysis: {interval: 30s, warmup: 0s, deadline: 10m, errorLimit: 1}",
    )
    .replace(
        "stages: [{weight: 10, pause: 1m}, {weight: 50, pause: 1m}]",
        "stages: [{weight: 10, pause: 1m}]",
    );
    let c = mlcanary::config::load_str("c.yaml", &text, None).unwrap();
    let client = Client::from_config(
        ClusterConfig {
            server: server.url.clone(),
            namespace: None,
            tls: Default::default(),
            tls_server_name: None,
            auth: AuthSpec::None,
        },
        &ClientOptions {
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: std::time::Duration::from_millis(10),
                max_delay: std::time::Duration::from_millis(50),
            },
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let api = mlcanary::rollout::kube_live::LiveKube::from_client(client, "mlcanary");
    let plan = mlcanary::core::plan::Plan::for_run(&c);
    let renderer = mlcanary::render::Renderer::new(None).unwrap();
    let rendered =
        mlcanary::rollout::build::render_run(&c, &plan, &renderer, &Default::default()).unwrap();
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let clock = mlcanary::rollout::clock::VirtualClock::new(1_767_225_600_000);
    let driver = mlcanary::rollout::driver::Driver {
        config: &c,
        plan,
        platform: mlcanary::rollout::build::kube_platform(&c, Box::new(api), &rendered),
        providers: std::collections::BTreeMap::from([(
            "prom".to_string(),
            std::sync::Arc::new(Recording(sent.clone()))
                as mlcanary::rollout::driver::SharedProvider,
        )]),
        renderer: &renderer,
        clock: &clock,
        cancel: mlcanary::rollout::clock::Cancel::new(),
        env: Default::default(),
        rendered,
    };
    let r = driver.run(&mut mlcanary::rollout::driver::Quiet);
    let sent = sent.lock().unwrap().clone();
    (r.outcome.result().to_string(), sent)
}

#[test]
fn a_failed_read_of_the_revision_names_is_read_again_never_sent_as_a_placeholder() {
    let faults = [
        (
            "a non-JSON 200",
            Fault::Body("<html>proxy</html>".into()),
            1,
        ),
        ("an empty object", Fault::Body("{}".into()), 1),
        ("five 500s", Fault::Status(500), 5),
    ];
    for (what, fault, times) in faults {
        let (result, sent) = rollout_with_revision_read_fault(fault, times);
        assert_eq!(result, "promoted", "{what}: {sent:?}");
        assert!(!sent.is_empty(), "{what}");
        for q in &sent {
            assert!(q.contains("revision=\"fd-predictor-00002\""), "{what}: {q}");
        }
    }
}

#[test]
fn revision_names_that_cannot_be_read_are_never_judged() {
    let (result, sent) = rollout_with_revision_read_fault(Fault::Body("{}".into()), usize::MAX);
    assert!(sent.is_empty(), "nothing sent with unknown names: {sent:?}");
    assert_ne!(result, "promoted");
}
