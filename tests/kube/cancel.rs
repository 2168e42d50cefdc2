//! Cancellation and the deadline, end to end: the `mlcanary run` binary against the test
//! Kubernetes API server (KServe) and a metrics endpoint that never answers. A CI runner's SIGINT,
//! SIGTERM or SIGHUP must put traffic back (or, with `onCancel: leave`, leave it and say so) within
//! seconds even while a provider query or a readiness wait is in flight, then write the reports
//! and exit 130. The deadline must likewise not be postponed by a hung query or a platform that
//! never becomes ready.
use crate::support::kube;
use crate::support::spawned;

use kube::KubeServer;
use serde_json::{json, Value};
use spawned::Spawned;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";
/// The issue's bound from signal to rollback request.
const SIGNAL_TO_ROLLBACK: Duration = Duration::from_secs(5);

/// A metrics endpoint that reads each request and never answers, counting what it received (so a
/// test knows a query is in flight).
struct Hanging {
    url: String,
    received: Arc<AtomicUsize>,
}

impl Hanging {
    fn start() -> Hanging {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let seen = received.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut s in l.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                held.push(s); // never answered, never closed
            }
        });
        Hanging { url, received }
    }
}

/// The stable v1 InferenceService, rolled out.
fn stable_isvc(server: &KubeServer) {
    server.insert(
        ISVC,
        json!({"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v1"}}}}),
    );
    server.tick();
    server.tick();
}

fn config(dir: &Path, server: &KubeServer, prom: &str, analysis: &str) -> PathBuf {
    let kubeconfig = server.write_kubeconfig(dir, None);
    let text = format!(
        r#"apiVersion: mlcanary/v1
name: fd
model: {{uri: "s3://m/v2", format: sklearn, version: v2}}
target: {{platform: kserve, namespace: ml}}
kubernetes: {{kubeconfig: "{}"}}
stages: [{{weight: 10, pause: 10m}}]
analysis: {{interval: 1m, warmup: 0s, {analysis}}}
providers: {{prom: {{type: prometheus, address: "{prom}"}}}}
guardrails:
  - {{name: error-rate, provider: prom, query: "errors", promote: "< 1", rollback: "> 2"}}
"#,
        kubeconfig.display()
    );
    let p = dir.join("mlcanary.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

struct Run(Spawned);

fn spawn(dir: &Path, config: &Path) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlcanary"));
    cmd.args(["run", "-c"])
        .arg(config)
        .arg("--report")
        .arg(dir.join("report.json"))
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .env("GITHUB_OUTPUT", dir.join("outputs"))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("KUBECONFIG");
    Run(Spawned::start(cmd, dir))
}

impl Run {
    /// Sends the signal; the wall-clock time just before, to compare with the server's log.
    fn signal(&self, sig: &str) -> SystemTime {
        self.0.signal(sig).0
    }

    /// Exit code, stdout, the JSON report.
    fn finish(mut self, within: Duration) -> (i32, String, Value) {
        let code = self.0.wait(within);
        let report = std::fs::read_to_string(self.0.dir.join("report.json"))
            .unwrap_or_else(|e| panic!("no report ({e}):\n{}", self.0.log()));
        (code, self.0.log(), serde_json::from_str(&report).unwrap())
    }
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// JSON-patch writes of canaryTrafficPercent, in order, with when the server received them.
fn percent_writes_at(server: &KubeServer) -> Vec<(u64, SystemTime)> {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == ISVC)
        .filter_map(|r| {
            let ops: Value = serde_json::from_str(&r.body).ok()?;
            ops.as_array()?
                .iter()
                .find(|o| o["path"] == "/spec/predictor/canaryTrafficPercent")
                .and_then(|o| o["value"].as_u64())
                .map(|v| (v, r.at))
        })
        .collect()
}

fn percent_writes(server: &KubeServer) -> Vec<u64> {
    percent_writes_at(server)
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

/// Signal to the rollback PATCH, by the server's request log.
fn signal_to_rollback(server: &KubeServer, sent: SystemTime) -> Duration {
    wait_until("the rollback PATCH", Duration::from_secs(60), || {
        percent_writes(server).last() == Some(&0)
    });
    let (_, at) = *percent_writes_at(server).last().unwrap();
    at.duration_since(sent)
        .expect("the rollback came after the signal")
}

fn canary_percent(server: &KubeServer) -> Option<u64> {
    server.object(ISVC).unwrap()["spec"]["predictor"]["canaryTrafficPercent"].as_u64()
}

/// Signal while a query hangs; returns (signal -> rollback PATCH seen, exit code, stdout, report).
fn cancel_during_hung_query(sig: &str) -> (Duration, i32, String, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = KubeServer::start();
    server.set_ready_after(0);
    stable_isvc(&server);
    let prom = Hanging::start();
    let cfg = config(dir.path(), &server, &prom.url, "deadline: 1h");
    let run = spawn(dir.path(), &cfg);
    wait_until(
        "the first query to be in flight",
        Duration::from_secs(60),
        || prom.received.load(Ordering::SeqCst) > 0,
    );
    assert_eq!(
        percent_writes(&server),
        Vec::<u64>::new(),
        "apply, not yet a rollback"
    );
    std::thread::sleep(Duration::from_millis(300)); // the query is really waiting
    let sent = run.signal(sig);
    let took = signal_to_rollback(&server, sent);
    let (code, out, report) = run.finish(Duration::from_secs(30));
    assert_eq!(canary_percent(&server), Some(0), "{out}");
    (took, code, out, report, dir)
}

fn assert_ci_outputs(dir: &Path, result: &str) {
    let outputs = std::fs::read_to_string(dir.join("outputs")).expect("GITHUB_OUTPUT written");
    // GITHUB_OUTPUT heredoc form: `result<<DELIM`, the value, `DELIM`.
    let lines: Vec<&str> = outputs.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("result<<"));
    assert_eq!(
        at.and_then(|i| lines.get(i + 1)).copied(),
        Some(result),
        "outputs: {outputs}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("step summary written");
    assert!(
        summary.starts_with("## ⛔ Interrupted"),
        "summary: {summary}"
    );
}

#[test]
fn sigint_during_a_hung_provider_query_rolls_back_within_seconds() {
    let (took, code, out, report, dir) = cancel_during_hung_query("INT");
    println!("SIGINT -> rollback PATCH (query in flight): {took:?}");
    assert!(took < SIGNAL_TO_ROLLBACK, "took {took:?}\n{out}");
    assert_eq!(code, 130, "{out}");
    assert_eq!(report["outcome"]["result"], "interrupted", "{report:#}");
    assert_eq!(report["outcome"]["rolled_back"], true, "{report:#}");
    assert_eq!(report["traffic"]["split"]["fd-predictor-00001"], 100);
    assert!(
        out.contains("traffic now: stable fd-predictor-00001 100%"),
        "{out}"
    );
    assert_ci_outputs(dir.path(), "interrupted");
}

#[test]
fn sigterm_during_a_hung_provider_query_rolls_back_within_seconds() {
    let (took, code, out, report, _dir) = cancel_during_hung_query("TERM");
    println!("SIGTERM -> rollback PATCH (query in flight): {took:?}");
    assert!(took < SIGNAL_TO_ROLLBACK, "took {took:?}\n{out}");
    assert_eq!(code, 130, "{out}");
    assert_eq!(report["outcome"]["rolled_back"], true, "{report:#}");
}

#[test]
fn sighup_during_a_readiness_wait_rolls_back_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = KubeServer::start();
    stable_isvc(&server);
    server.set_ready_after(10_000); // the canary never becomes ready
    let prom = Hanging::start();
    let cfg = config(dir.path(), &server, &prom.url, "deadline: 1h");
    let run = spawn(dir.path(), &cfg);
    wait_until("two readiness polls", Duration::from_secs(60), || {
        server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == ISVC)
            .count()
            >= 3
    });
    let sent = run.signal("HUP");
    let took = signal_to_rollback(&server, sent);
    println!("SIGHUP -> rollback PATCH (readiness wait): {took:?}");
    let (code, out, report) = run.finish(Duration::from_secs(30));
    assert!(took < SIGNAL_TO_ROLLBACK, "took {took:?}\n{out}");
    assert_eq!(code, 130, "{out}");
    assert_eq!(report["outcome"]["rolled_back"], true, "{report:#}");
    assert_eq!(
        prom.received.load(Ordering::SeqCst),
        0,
        "never got to a check"
    );
}

#[test]
fn sigint_during_a_hung_readiness_request_rolls_back_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = KubeServer::start();
    server.set_ready_after(0);
    stable_isvc(&server);
    // The first readiness poll never answers within the client's 30 s timeout. It is the third
    // GET of the object: the progress record's read, then prepare's read of the stable version.
    let gets = AtomicUsize::new(0);
    server.inject(
        move |r| r.method == "GET" && r.path == ISVC && gets.fetch_add(1, Ordering::SeqCst) == 2,
        kube::Fault::Hang(Duration::from_secs(120)),
        1,
    );
    let prom = Hanging::start();
    let cfg = config(dir.path(), &server, &prom.url, "deadline: 1h");
    let run = spawn(dir.path(), &cfg);
    wait_until("the hung readiness poll", Duration::from_secs(60), || {
        server.requests().iter().any(|r| r.fault.is_some())
    });
    std::thread::sleep(Duration::from_millis(300));
    let sent = run.signal("INT");
    let took = signal_to_rollback(&server, sent);
    println!("SIGINT -> rollback PATCH (readiness GET hung): {took:?}");
    let (code, out, report) = run.finish(Duration::from_secs(30));
    assert!(took < SIGNAL_TO_ROLLBACK, "took {took:?}\n{out}");
    assert_eq!(code, 130, "{out}");
    assert_eq!(report["outcome"]["rolled_back"], true, "{report:#}");
    assert_eq!(canary_percent(&server), Some(0));
}

#[test]
fn on_cancel_leave_leaves_traffic_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let server = KubeServer::start();
    server.set_ready_after(0);
    stable_isvc(&server);
    let prom = Hanging::start();
    let cfg = config(
        dir.path(),
        &server,
        &prom.url,
        "deadline: 1h, onCancel: leave",
    );
    let run = spawn(dir.path(), &cfg);
    wait_until(
        "the first query to be in flight",
        Duration::from_secs(60),
        || prom.received.load(Ordering::SeqCst) > 0,
    );
    let sent = run.signal("TERM");
    let (code, out, report) = run.finish(Duration::from_secs(30));
    let _ = sent;
    assert_eq!(code, 130, "{out}");
    assert!(percent_writes(&server).is_empty(), "no rollback PATCH");
    assert_eq!(report["outcome"]["result"], "interrupted");
    assert_eq!(report["outcome"]["rolled_back"], false);
    assert_eq!(canary_percent(&server), Some(10));
    assert_eq!(report["traffic"]["split"]["fd-predictor-00002"], 10);
    assert!(
        out.contains("traffic now: stable fd-predictor-00001 90%, canary fd-predictor-00002 10%"),
        "{out}"
    );
    assert_ci_outputs(dir.path(), "interrupted");
}

#[test]
fn a_hung_query_does_not_postpone_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let server = KubeServer::start();
    server.set_ready_after(0);
    stable_isvc(&server);
    let prom = Hanging::start();
    let cfg = config(dir.path(), &server, &prom.url, "deadline: 3s");
    let started = Instant::now();
    let run = spawn(dir.path(), &cfg);
    let (code, out, report) = run.finish(Duration::from_secs(60));
    let took = started.elapsed();
    println!("deadline 3s, query hung: exited after {took:?}");
    assert_eq!(code, 1, "{out}");
    assert!(
        report["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{report:#}"
    );
    assert_eq!(canary_percent(&server), Some(0));
    // The HTTP timeout is 30 s; the deadline must win well before it.
    assert!(took < Duration::from_secs(20), "{took:?}\n{out}");
}

#[test]
fn a_hung_readiness_request_does_not_postpone_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let server = KubeServer::start();
    server.set_ready_after(0);
    stable_isvc(&server);
    // The first readiness poll hangs past the client's 30 s timeout. GETs of the object before
    // it: the progress record's read, then prepare's read of the stable version.
    let gets = AtomicUsize::new(0);
    server.inject(
        move |r| r.method == "GET" && r.path == ISVC && gets.fetch_add(1, Ordering::SeqCst) == 2,
        kube::Fault::Hang(Duration::from_secs(120)),
        1,
    );
    let prom = Hanging::start();
    let cfg = config(dir.path(), &server, &prom.url, "deadline: 3s");
    let started = Instant::now();
    let run = spawn(dir.path(), &cfg);
    let (code, out, report) = run.finish(Duration::from_secs(60));
    let took = started.elapsed();
    println!("deadline 3s, readiness GET hung: exited after {took:?}");
    assert_eq!(code, 1, "{out}");
    assert!(
        report["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{report:#}"
    );
    assert_eq!(canary_percent(&server), Some(0));
    assert!(took < Duration::from_secs(20), "{took:?}\n{out}");
}

#[test]
fn a_platform_that_never_becomes_ready_does_not_outlast_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let server = KubeServer::start();
    stable_isvc(&server);
    server.set_ready_after(10_000);
    let prom = Hanging::start();
    // readyTimeout defaults to 10 minutes; the 4 s deadline must end the wait first.
    let cfg = config(dir.path(), &server, &prom.url, "deadline: 4s");
    let started = Instant::now();
    let run = spawn(dir.path(), &cfg);
    let (code, out, report) = run.finish(Duration::from_secs(60));
    let took = started.elapsed();
    println!("deadline 4s, never ready: exited after {took:?}");
    assert_eq!(code, 1, "{out}");
    assert!(
        report["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{report:#}"
    );
    assert_eq!(canary_percent(&server), Some(0));
    // Readiness waits double from 0.5 s (0.5, 1, 2, 4 s: polls at 0, 0.5, 1.5, 3.5 s, then a
    // sleep to 7.5 s); the deadline must cut that last sleep short (uncut, the run would take
    // past 7.5 s).
    assert!(took < Duration::from_millis(6_500), "{took:?}\n{out}");
}
