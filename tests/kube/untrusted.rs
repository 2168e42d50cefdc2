//! Never trust an answer (issue 15): the `mlcanary run` binary and the Kubernetes client against
//! the test API server and a REAL Prometheus, each behind the fault-injecting proxy
//! (tests/support/fault_proxy.rs). Servers that answer with another object or a stale copy, that
//! hold a write with `Retry-After: 119` or never answer it while a signal arrives, that smuggle
//! workflow commands into their messages or echo the Authorization header.
use crate::support::fault_proxy;
use crate::support::kube;
use crate::support::prom;
use crate::support::spawned;

use fault_proxy::{Fault, FaultProxy, Match, HOSTILE};
use kube::KubeServer;
use mlcanary::clients::kube::{AuthSpec, Client, ClientOptions, ClusterConfig, RetryPolicy};
use serde_json::{json, Value};
use spawned::Spawned;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";
const TOKEN: &str = "kube-tok-3f9a7c1e5b";
const PROM_TOKEN: &str = "prom-tok-8d2e6a4c0f";
/// Runners kill a job about 10 s after the first signal; everything must be over before.
const RUNNER_GRACE: Duration = Duration::from_secs(10);

/// The test API server with the stable v1 InferenceService (ready), a fault proxy in front of
/// it, and a real Prometheus (no scrape targets: guardrails query constants) behind another.
struct Lab {
    kube: KubeServer,
    kproxy: FaultProxy,
    _prom: prom::PromServer,
    pproxy: FaultProxy,
    dir: tempfile::TempDir,
}

impl Lab {
    fn start() -> Option<Lab> {
        let prom = prom::PromServer::start(&[])?;
        let kube = KubeServer::start();
        kube.set_ready_after(0);
        kube.insert(
            ISVC,
            json!({"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v1"}}}}),
        );
        kube.tick();
        kube.tick();
        let kproxy = FaultProxy::start(&kube.url);
        let pproxy = FaultProxy::start(&prom.url());
        Some(Lab {
            kube,
            kproxy,
            _prom: prom,
            pproxy,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// A KServe rollout 10% -> 50% whose guardrail reads the constant `value`.
    fn config(&self, value: f64, token: Option<&str>, extra: &str) -> PathBuf {
        let kubeconfig = self.kproxy.kubeconfig(self.dir.path(), token);
        let text = format!(
            r#"apiVersion: mlcanary/v1
name: fd
model: {{uri: "s3://m/v2", format: sklearn, version: v2}}
target: {{platform: kserve, namespace: ml}}
kubernetes: {{kubeconfig: "{}"}}
stages: [{{weight: 10, pause: 2s}}, {{weight: 50, pause: 2s}}]
analysis: {{interval: 1s, warmup: 0s, errorLimit: 2, deadline: 2m}}
providers: {{prom: {{type: prometheus, address: "{}", bearerTokenEnv: PROM_TOKEN}}}}
guardrails:
  - {{name: error-rate, provider: prom, query: "vector({value})", promote: "< 0.01", rollback: "> 0.02"}}
{extra}"#,
            kubeconfig.display(),
            self.pproxy.url
        );
        let p = self.dir.path().join("mlcanary.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn spawn(&self, config: &Path, envs: &[(&str, &str)]) -> Spawned {
        let d = self.dir.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlcanary"));
        cmd.args(["run", "-c"])
            .arg(config)
            .arg("--report")
            .arg(d.join("report.json"))
            .arg("--junit")
            .arg(d.join("junit.xml"))
            .env("GITHUB_STEP_SUMMARY", d.join("summary.md"))
            .env("GITHUB_OUTPUT", d.join("outputs"))
            .env("PROM_TOKEN", PROM_TOKEN)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("KUBECONFIG")
            .env_remove("MLCANARY_LOG")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Spawned::start(cmd, d)
    }

    fn canary_percent(&self) -> Option<u64> {
        self.kube.object(ISVC).unwrap()["spec"]["predictor"]["canaryTrafficPercent"].as_u64()
    }

    /// canaryTrafficPercent values the API server received, in order.
    fn percent_writes(&self) -> Vec<u64> {
        self.kube
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path == ISVC && r.fault.is_none())
            .filter_map(|r| {
                let ops: Value = serde_json::from_str(&r.body).ok()?;
                ops.as_array()?
                    .iter()
                    .find(|o| o["path"] == "/spec/predictor/canaryTrafficPercent")?["value"]
                    .as_u64()
            })
            .collect()
    }
}

/// What one finished run wrote.
struct Done {
    code: i32,
    stdout: String,
    stderr: String,
    report: Value,
    /// Every file the run wrote, for leak checks.
    files: Vec<(String, String)>,
}

/// Waits for the run and collects what it wrote.
fn finish(mut run: Spawned, within: Duration) -> Done {
    let code = run.wait(within);
    let files = [
        "stdout",
        "stderr",
        "report.json",
        "junit.xml",
        "summary.md",
        "outputs",
    ]
    .iter()
    .map(|f| (f.to_string(), run.read(f)))
    .collect();
    Done {
        code,
        stdout: run.read("stdout"),
        stderr: run.read("stderr"),
        report: serde_json::from_str(&run.read("report.json")).unwrap_or(Value::Null),
        files,
    }
}

impl Done {
    fn log(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_weight_write(r: &fault_proxy::Seen, pct: u64) -> bool {
    r.method == "PATCH"
        && r.path == ISVC
        && serde_json::from_str::<Value>(&r.body).is_ok_and(|ops| {
            ops.as_array()
                .into_iter()
                .flatten()
                .any(|o| o["path"] == "/spec/predictor/canaryTrafficPercent" && o["value"] == pct)
        })
}

// ---------- the proxy itself ----------

#[test]
fn the_proxy_forwards_and_injects_by_method_path_and_count() {
    let kube = KubeServer::start();
    kube.insert(ISVC, json!({"spec": {"predictor": {}}}));
    let proxy = FaultProxy::start(&kube.url);
    proxy.inject(Match::get(ISVC).skip(1).times(1), Fault::NotJson);
    proxy.inject(
        Match::get(ISVC).skip(1).times(1),
        Fault::Status {
            code: 503,
            retry_after: Some(7),
        },
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = || {
        let mut r = agent.get(format!("{}{ISVC}", proxy.url)).call().unwrap();
        let ra = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap(),
            ra,
        )
    };
    let (c1, b1, _) = get();
    assert_eq!(c1, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&b1).unwrap()["metadata"]["name"],
        "fd"
    );
    let (c2, b2, _) = get();
    assert_eq!((c2, b2.starts_with("<html>")), (200, true), "{b2}");
    // The first rule is spent; the second skipped one request and now fires.
    let (c3, _, ra) = get();
    assert_eq!((c3, ra.as_deref()), (503, Some("7")));
    let (c4, _, _) = get();
    assert_eq!(c4, 200);
    let faults: Vec<Option<String>> = proxy.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults[0], None);
    assert_eq!(faults[1].as_deref(), Some("NotJson"));
    assert_eq!(faults[2].as_deref(), Some("Status(503, Some(7))"));
    // The faulted requests never reached the server.
    assert_eq!(kube.requests().len(), 2);
}

#[test]
fn the_proxy_echoes_authorization_and_edits_answers() {
    let kube = KubeServer::start();
    kube.insert(
        ISVC,
        json!({"spec": {"predictor": {"canaryTrafficPercent": 10}}}),
    );
    let proxy = FaultProxy::start(&kube.url);
    proxy.inject(Match::any().times(1), Fault::EchoAuth(500));
    proxy.inject(
        Match::get(ISVC),
        Fault::Edit(Arc::new(|v: &mut Value| {
            v["spec"]["predictor"]["canaryTrafficPercent"] = json!(0)
        })),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call = || {
        agent
            .get(format!("{}{ISVC}", proxy.url))
            .header("Authorization", "Bearer abc123")
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    assert!(call().contains("Bearer abc123"));
    let edited: Value = serde_json::from_str(&call()).unwrap();
    assert_eq!(edited["spec"]["predictor"]["canaryTrafficPercent"], 0);
    assert_eq!(
        kube.object(ISVC).unwrap()["spec"]["predictor"]["canaryTrafficPercent"],
        10
    );
}

// ---------- point 2: the identity of every object read back ----------

fn client_via(proxy: &FaultProxy) -> Client {
    let cfg = ClusterConfig {
        server: proxy.url.clone(),
        namespace: Some("ml".into()),
        tls: Default::default(),
        auth: AuthSpec::None,
        tls_server_name: None,
    };
    let opts = ClientOptions {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        },
        ..ClientOptions::default()
    };
    Client::from_config(cfg, &opts).unwrap()
}

fn stored_isvc(kube: &KubeServer, pct: u64) {
    kube.insert(
        ISVC,
        json!({"spec": {"predictor": {"canaryTrafficPercent": pct, "model": {"storageUri": "s3://m/v2"}}}}),
    );
}

#[test]
fn a_get_answered_with_another_object_or_garbage_is_retried_then_refused() {
    let kube = KubeServer::start();
    stored_isvc(&kube, 10);
    let mut other = kube.object(ISVC).unwrap();
    other["metadata"]["name"] = json!("other");
    other["spec"]["predictor"]["canaryTrafficPercent"] = json!(0);
    let proxy = FaultProxy::start(&kube.url);
    let client = client_via(&proxy);
    for fault in [
        Fault::Replace(other.clone()),
        Fault::EmptyObject,
        Fault::NotJson,
    ] {
        let label = format!("{fault:?}");
        proxy.inject(Match::get(ISVC).times(1), fault);
        let got = client.get(ISVC).unwrap();
        assert_eq!(got["metadata"]["name"], "fd", "{label}");
        assert_eq!(
            got["spec"]["predictor"]["canaryTrafficPercent"], 10,
            "{label}"
        );
    }
    // For good: an error naming what was wrong, never the other object.
    proxy.inject(Match::get(ISVC), Fault::Replace(other));
    let e = client.get(ISVC).unwrap_err().to_string();
    assert!(
        e.contains("not the object asked for") && e.contains("\"other\""),
        "{e}"
    );
}

#[test]
fn a_get_showing_a_changed_spec_under_a_known_generation_is_a_lie() {
    let kube = KubeServer::start();
    stored_isvc(&kube, 10);
    let proxy = FaultProxy::start(&kube.url);
    let client = client_via(&proxy);
    assert_eq!(
        client.get(ISVC).unwrap()["spec"]["predictor"]["canaryTrafficPercent"],
        10
    );
    // A stale or edited copy: "already at 0%" with the same generation and resourceVersion.
    let zero = Fault::Edit(Arc::new(|v: &mut Value| {
        v["spec"]["predictor"]["canaryTrafficPercent"] = json!(0)
    }));
    proxy.inject(Match::get(ISVC).times(2), zero.clone());
    assert_eq!(
        client.get(ISVC).unwrap()["spec"]["predictor"]["canaryTrafficPercent"],
        10
    );
    proxy.inject(Match::get(ISVC), zero);
    let e = client.get(ISVC).unwrap_err().to_string();
    assert!(e.contains("inconsistent answer"), "{e}");
}

/// The whole run: a failing canary is rolled back while GETs of the object claim it is already
/// at 0% (an edited copy). Before the identity checks the rollback read the lie, wrote nothing
/// and reported "rolled back" with the canary still at 10%.
#[test]
fn a_rollback_is_not_skipped_because_a_read_claims_zero() {
    let Some(lab) = Lab::start() else { return };
    let cfg = lab.config(0.05, None, "");
    let run = lab.spawn(&cfg, &[]);
    // Once the failing check has been asked, every later GET lies twice in a row.
    wait_until("the first query", Duration::from_secs(60), || {
        lab.pproxy
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/query"))
    });
    lab.kproxy.inject(
        Match::get(ISVC).times(2),
        Fault::Edit(Arc::new(|v: &mut Value| {
            v["spec"]["predictor"]["canaryTrafficPercent"] = json!(0)
        })),
    );
    let done = finish(run, Duration::from_secs(60));
    assert_eq!(done.code, 1, "{}", done.log());
    assert_eq!(
        done.report["outcome"]["result"],
        "rolled-back",
        "{}",
        done.log()
    );
    assert_eq!(
        lab.canary_percent(),
        Some(0),
        "report and cluster disagree\n{}",
        done.log()
    );
    assert_eq!(lab.percent_writes().last(), Some(&0));
}

// ---------- point 5: signals interrupt waits inside writes ----------

/// A forward write held by the server (503 `Retry-After: 119`, or no answer at all) when the
/// signal comes: the run must roll back and exit well inside the runner's grace.
fn signal_during_a_held_write(fault: Fault) {
    let Some(lab) = Lab::start() else { return };
    let cfg = lab.config(0.001, None, "");
    lab.kproxy.inject(
        Match::any().method("PATCH").body("\"value\":50").times(1),
        fault,
    );
    let run = lab.spawn(&cfg, &[]);
    wait_until("the 50% write", Duration::from_secs(60), || {
        lab.kproxy.requests().iter().any(|r| is_weight_write(r, 50))
    });
    std::thread::sleep(Duration::from_millis(300));
    let (_, sent) = run.signal("TERM");
    let done = finish(run, Duration::from_secs(60));
    let took = sent.elapsed();
    println!("signal -> exit with the 50% write held: {took:?}");
    assert!(took < RUNNER_GRACE, "took {took:?}\n{}", done.log());
    assert_eq!(done.code, 130, "{}", done.log());
    assert_eq!(
        done.report["outcome"]["result"],
        "interrupted",
        "{}",
        done.log()
    );
    assert_eq!(lab.canary_percent(), Some(0), "{}", done.log());
    assert_eq!(
        lab.percent_writes().last(),
        Some(&0),
        "the rollback is the last write"
    );
}

#[test]
fn a_signal_during_a_retry_after_119_write_rolls_back_at_once() {
    signal_during_a_held_write(Fault::Status {
        code: 503,
        retry_after: Some(119),
    });
}

#[test]
fn a_signal_during_a_write_that_never_answers_rolls_back_at_once() {
    signal_during_a_held_write(Fault::StallAfterForward);
}

// ---------- points 6 and 7: nothing a server says becomes a command or leaks a secret ----------

/// Every line a reader of the CI log could take as a workflow command, that mlcanary did not
/// write itself.
fn smuggled_commands(text: &str) -> Vec<String> {
    let ours = [
        "::group::",
        "::endgroup::",
        "::error title=mlcanary",
        "::warning title=mlcanary",
        "::add-mask::",
    ];
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            (t.starts_with("::") && !ours.iter().any(|o| t.starts_with(o))) || l.contains("##[")
        })
        .map(String::from)
        .collect()
}

#[test]
fn hostile_server_text_and_echoed_tokens_reach_no_output() {
    let Some(lab) = Lab::start() else { return };
    lab.kube.require_token(TOKEN);
    // Kubernetes: a retried 500 whose Status message is hostile (on the first write), then a 50%
    // write that is refused for good by a server echoing the Authorization header.
    lab.kproxy.inject(
        Match::any().method("PATCH").times(1),
        Fault::Respond {
            code: 500,
            body: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
                "reason": "InternalError", "message": HOSTILE})
            .to_string(),
        },
    );
    lab.kproxy.inject(
        Match::any().method("PATCH").body("\"value\":50"),
        Fault::EchoAuth(400),
    );
    // Prometheus: every answer carries hostile warnings; one query is an echoed 400.
    lab.pproxy.inject(
        Match::any().path_prefix("/api/v1/query").skip(1).times(1),
        Fault::EchoAuth(400),
    );
    lab.pproxy.inject(
        Match::any().path_prefix("/api/v1/query"),
        Fault::Edit(Arc::new(|v: &mut Value| v["warnings"] = json!([HOSTILE]))),
    );
    // A webhook sink (the proxy answering every request itself) whose URL is a secret.
    let hook = FaultProxy::start("http://127.0.0.1:9");
    hook.inject(
        Match::any(),
        Fault::Respond {
            code: 200,
            body: "ok".into(),
        },
    );
    let hook_url = format!("{}/services/T0/B0/hooksecret42", hook.url);
    let cfg = lab.config(
        0.001,
        Some(TOKEN),
        "notify:\n  - {url: \"${HOOK_URL}\", on: [started, stage, rollback, promoted, failed]}\n",
    );
    let run = lab.spawn(
        &cfg,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("MLCANARY_LOG", "info,ureq_proto::util=trace,ureq=trace"),
            ("HOOK_URL", &hook_url),
        ],
    );
    let done = finish(run, Duration::from_secs(90));
    let messages: Vec<String> = hook.requests().into_iter().map(|r| r.body).collect();
    assert!(
        messages.iter().any(|m| m.contains("rejected credentials")),
        "the failure reached the webhook: {messages:#?}"
    );
    for m in &messages {
        assert!(
            !m.contains(TOKEN) && !m.contains(PROM_TOKEN),
            "secret in the webhook message: {m}"
        );
    }
    assert_eq!(lab.canary_percent(), Some(0), "{}", done.log());
    assert!(
        lab.kproxy
            .requests()
            .iter()
            .any(|r| r.fault.as_deref() == Some("EchoAuth(400)")),
        "the echo fault fired"
    );
    for (file, text) in &done.files {
        // `::add-mask::` lines are the runner's instruction to hide the value: the one place a
        // secret is meant to be written.
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n");
        for secret in [TOKEN, PROM_TOKEN, "hooksecret42"] {
            assert!(!text.contains(secret), "{secret} in {file}:\n{text}");
        }
        let bad = smuggled_commands(&text);
        assert!(bad.is_empty(), "workflow commands in {file}: {bad:#?}");
    }
    // The token is masked for the runner before anything else could print it.
    assert!(
        done.stdout.contains(&format!("::add-mask::{TOKEN}")),
        "{}",
        done.log()
    );
    // Whatever MLCANARY_LOG says, the wire libraries stay at info.
    let wire = |l: &&str| (l.contains("TRACE") || l.contains("DEBUG")) && l.contains(" ureq");
    let dumped: Vec<&str> = done.stderr.lines().filter(wire).collect();
    assert!(dumped.is_empty(), "{dumped:#?}");
    // The hostile text did arrive (the test saw it neutralised, not missing).
    assert!(
        done.stderr.contains("pwned") || done.stdout.contains("pwned"),
        "{}",
        done.log()
    );
}
