//! End-to-end harness: the real `mlcanary` binary against the Kubernetes API test server (with
//! its platform controllers) and a REAL Prometheus scraping a test exporter that plays the
//! stable and canary revisions. Everything a CI job has is there: a kubeconfig in `KUBECONFIG`,
//! `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT` files, a `--report` JSON file.
//!
//! Why a harness: every platform's good and bad rollout runs the same way (seed the stable
//! version, drive metrics, run the binary, read the object back), so platform tests only say what
//! differs. Use from a test file:
//!
//! ```ignore
//! use crate::support::e2e; // mounted in the binary's `support` module (tests/e2e/main.rs)
//! let Some(mut env) = e2e::Env::start(e2e::Kind::Kserve) else { return }; // None: local skip only
//! env.drive(0.05);                               // stable healthy, canary 5% errors
//! let run = env.run(&env.config(&e2e::Opts::default()));
//! assert_eq!(run.code, 1, "{}", run.stdout);
//! ```
//!
//! Missing `prometheus`/`kubectl`: with `CI` set the test FAILS (no silent skip in CI); locally
//! it fails too unless `MLCANARY_SKIP_PROMETHEUS=1` (then `Env::start` returns `None`).
#![allow(dead_code)]

pub use super::{kube, prom};

use mlcanary::platform::k8s::{
    Gvr, INFERENCE_SERVICE, ROLLOUT, SELDON_DEPLOYMENT, SELDON_EXPERIMENT, SELDON_MODEL,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Namespace of the kubeconfig context the test server writes (the config names none).
pub const NS: &str = "ml";
/// The main resource's name on every platform.
pub const NAME: &str = "fd";
pub const STABLE_URI: &str = "s3://models/fd-v1";
pub const CANARY_URI: &str = "s3://models/fd-v2";

/// The platform (and Argo mode) under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kserve,
    Seldon,
    SeldonV2,
    ArgoDrive,
    ArgoWatch,
}

impl Kind {
    pub fn platform(self) -> &'static str {
        match self {
            Kind::Kserve => "kserve",
            Kind::Seldon => "seldon",
            Kind::SeldonV2 => "seldon-v2",
            Kind::ArgoDrive | Kind::ArgoWatch => "argo-rollouts",
        }
    }

    /// The API path of the main resource (the Experiment on Seldon v2).
    pub fn path(self) -> String {
        let gvr: Gvr = match self {
            Kind::Kserve => INFERENCE_SERVICE,
            Kind::Seldon => SELDON_DEPLOYMENT,
            Kind::SeldonV2 => SELDON_EXPERIMENT,
            Kind::ArgoDrive | Kind::ArgoWatch => ROLLOUT,
        };
        gvr.path(NS, NAME)
    }

    /// `kubectl get` arguments naming the main resource.
    pub fn kubectl_resource(self) -> &'static str {
        match self {
            Kind::Kserve => "inferenceservices.serving.kserve.io",
            Kind::Seldon => "seldondeployments.machinelearning.seldon.io",
            Kind::SeldonV2 => "experiments.mlops.seldon.io",
            Kind::ArgoDrive | Kind::ArgoWatch => "rollouts.argoproj.io",
        }
    }

    fn target_yaml(self) -> String {
        let extra = match self {
            Kind::Kserve => "",
            Kind::Seldon => "  stablePredictor: main\n  canaryPredictor: canary\n  stableModelUri: s3://models/fd-v1\n",
            Kind::SeldonV2 => "  stableModel: fd-v1\n  canaryModel: fd-v2\n",
            Kind::ArgoDrive => "  mode: drive\n  image: ghcr.io/acme/fd:2\n  replicas: 1\n",
            Kind::ArgoWatch => "  mode: watch\n  image: ghcr.io/acme/fd:2\n  replicas: 1\n",
        };
        format!(
            "target:\n  platform: {}\n  resource: {NAME}\n{extra}",
            self.platform()
        )
    }
}

/// Seldon v2 Model path.
pub fn model_path(name: &str) -> String {
    SELDON_MODEL.path(NS, name)
}

/// Knobs of the generated config. `Default` = a 2-stage rollout (10%, 50%) with 3 s stages and
/// checks every second, one critical error-rate guardrail on the canary revision.
#[derive(Debug, Clone)]
pub struct Opts {
    pub stages: Vec<u32>,
    pub pause: &'static str,
    pub error_limit: u32,
    pub model_uri: String,
    /// Prometheus address; `None` = the harness's server.
    pub prometheus: Option<String>,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            stages: vec![10, 50],
            pause: "3s",
            error_limit: 1,
            model_uri: CANARY_URI.into(),
            prometheus: None,
        }
    }
}

/// One finished `mlcanary` process.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The `--report` JSON decision record.
    pub report: Value,
    /// What the step wrote to `GITHUB_STEP_SUMMARY`.
    pub summary: String,
    /// What the step wrote to `GITHUB_OUTPUT`.
    pub outputs: String,
    /// Wall time of the process.
    pub took: Duration,
}

impl Run {
    /// The event journal entries of this kind (`check`, `rollbackRequested`, ...).
    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.report["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }
    /// The weights of the phases the run started, in order.
    pub fn weights_started(&self) -> Vec<u64> {
        self.events("phaseStarted")
            .iter()
            .map(|e| e["weight"].as_u64().unwrap())
            .collect()
    }
    pub fn result(&self) -> &str {
        self.report["outcome"]["result"].as_str().unwrap_or("")
    }
    pub fn reason(&self) -> &str {
        self.report["outcome"]["reason"].as_str().unwrap_or("")
    }
    /// A `GITHUB_OUTPUT` value (the file holds `key<<DELIM`, value lines, `DELIM` entries).
    pub fn output(&self, key: &str) -> Option<String> {
        let mut lines = self.outputs.lines();
        while let Some(l) = lines.next() {
            if let Some((k, delim)) = l.split_once("<<") {
                let value: Vec<&str> = lines.by_ref().take_while(|v| *v != delim).collect();
                if k == key {
                    return Some(value.join("\n"));
                }
            } else if let Some(v) = l.strip_prefix(&format!("{key}=")) {
                return Some(v.to_string());
            }
        }
        None
    }

    /// Both streams, for assertion messages.
    pub fn log(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// A `mlcanary` process still running.
pub struct Running {
    child: std::process::Child,
    started: Instant,
    dir: PathBuf,
    report: Option<PathBuf>,
}

impl Running {
    /// SIGKILL: no handler runs, nothing is rolled back or reported (a runner that vanished).
    /// Returns what the run printed until then.
    pub fn kill9(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        file_text(&self.dir.join("stdout"))
    }

    /// Waits (at most 60 s) until the run's stdout contains `needle`; panics otherwise.
    pub fn wait_for_stdout(&self, needle: &str) {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let out = file_text(&self.dir.join("stdout"));
            if out.contains(needle) {
                return;
            }
            assert!(Instant::now() < until, "never printed {needle:?}:\n{out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most 60 s) until `needle` is printed after the first `after`.
    pub fn wait_for_stdout_after(&self, after: &str, needle: &str) {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let out = file_text(&self.dir.join("stdout"));
            if out
                .split_once(after)
                .is_some_and(|(_, rest)| rest.contains(needle))
            {
                return;
            }
            assert!(
                Instant::now() < until,
                "never printed {needle:?} after {after:?}:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most 90 s: a hung rollout fails the test) and collects what the step wrote.
    pub fn wait(mut self) -> Run {
        let deadline = self.started + Duration::from_secs(90);
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait for mlcanary") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "mlcanary still running after 90 s:\n{}",
                    file_text(&self.dir.join("stdout"))
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = self.started.elapsed();
        let report = self
            .report
            .as_ref()
            .and_then(|p| serde_json::from_str(&file_text(p)).ok())
            .unwrap_or(Value::Null);
        Run {
            code: status.code().unwrap_or(-1),
            stdout: file_text(&self.dir.join("stdout")),
            stderr: file_text(&self.dir.join("stderr")),
            report,
            summary: file_text(&self.dir.join("step-summary.md")),
            outputs: file_text(&self.dir.join("github-output")),
            took,
        }
    }
}

/// The servers of one test; all stop when dropped.
pub struct Env {
    pub kind: Kind,
    pub kube: Arc<kube::KubeServer>,
    pub exporter: Arc<prom::Exporter>,
    /// `None` for [`Env::kube_only`].
    pub prom: Option<prom::PromServer>,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// Revision label of the stable version in the exporter's metrics.
    pub stable_revision: String,
    traffic: Vec<prom::exporter::Traffic>,
    follower: Option<Follower>,
}

/// How late the test cluster's controllers react to a write, by default.
pub const CONTROLLER_LAG: Duration = Duration::from_millis(250);
/// How long a new model version takes to load, by default.
pub const MODEL_LOAD: Duration = Duration::from_millis(600);

/// Requests per second each revision serves.
const RPS: u64 = 200;

impl Env {
    /// Starts the API server (controllers answer after one poll), the exporter and Prometheus,
    /// and seeds the stable version already serving. `None` only on a local, opted-in skip.
    pub fn start(kind: Kind) -> Option<Env> {
        if !require_kubectl() {
            return None;
        }
        let exporter = Arc::new(prom::Exporter::start());
        let prom = Some(prom::PromServer::start(&[exporter.addr()])?);
        Some(Env::with(kind, exporter, prom))
    }

    /// Like [`Env::start`] with a Prometheus the test started on its own targets (e.g. real model
    /// servers' `/metrics`); the harness's exporter is started but serves nothing.
    pub fn with_prometheus(kind: Kind, prom: prom::PromServer) -> Option<Env> {
        if !require_kubectl() {
            return None;
        }
        Some(Env::with(
            kind,
            Arc::new(prom::Exporter::start()),
            Some(prom),
        ))
    }

    /// The API server and the seeded stable version only (no Prometheus): for commands that
    /// never query metrics (`status`, `promote`, `rollback`). Needs kubectl (panics without).
    pub fn kube_only(kind: Kind) -> Env {
        assert!(require_kubectl(), "kubectl is needed");
        Env::with(kind, Arc::new(prom::Exporter::start()), None)
    }

    /// Like [`Env::start`] with controllers that react `lag` after a write and load a model
    /// version in `load` (a slow cluster).
    pub fn start_slow(kind: Kind, lag: Duration, load: Duration) -> Option<Env> {
        if !require_kubectl() {
            return None;
        }
        let exporter = Arc::new(prom::Exporter::start());
        let prom = Some(prom::PromServer::start(&[exporter.addr()])?);
        Some(Env::with_timing(kind, exporter, prom, lag, load))
    }

    fn with(kind: Kind, exporter: Arc<prom::Exporter>, prom: Option<prom::PromServer>) -> Env {
        Env::with_timing(kind, exporter, prom, CONTROLLER_LAG, MODEL_LOAD)
    }

    fn with_timing(
        kind: Kind,
        exporter: Arc<prom::Exporter>,
        prom: Option<prom::PromServer>,
        lag: Duration,
        load: Duration,
    ) -> Env {
        let mut server = kube::KubeServer::start();
        server.set_ready_after(1);
        let stable_revision = seed(&server, kind);
        // From here on the controllers run as in a cluster: on their own thread, late.
        server.set_controllers(lag, load);
        let kube = Arc::new(server);
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = kube.write_kubeconfig(dir.path(), None);
        Env {
            kind,
            kube,
            exporter,
            prom,
            dir,
            kubeconfig,
            stable_revision,
            traffic: Vec::new(),
            follower: None,
        }
    }

    /// The Prometheus server (panics for [`Env::kube_only`]).
    pub fn prom(&mut self) -> &mut prom::PromServer {
        self.prom.as_mut().expect("Env::start has a Prometheus")
    }

    /// The canary's revision label, when it is known before the rollout (all but Argo, whose
    /// canary is named by the pod-template hash the controller computes on apply).
    pub fn canary_revision(&self) -> Option<String> {
        match self.kind {
            Kind::Kserve => Some(format!("{NAME}-predictor-00002")),
            Kind::Seldon => Some("canary".into()),
            Kind::SeldonV2 => Some("fd-v2".into()),
            Kind::ArgoDrive | Kind::ArgoWatch => None,
        }
    }

    /// Serves steady traffic: the stable revision healthy, the canary with `canary_error_rate`.
    /// A canary known in advance gets traffic now and the call waits until Prometheus can rate
    /// it; an Argo canary gets traffic as soon as the controller names it.
    pub fn drive(&mut self, canary_error_rate: f64) {
        self.traffic.push(
            self.exporter
                .drive_revision(&self.stable_revision, RPS, 0.0, 40.0),
        );
        match self.canary_revision() {
            Some(rev) => {
                self.traffic.push(
                    self.exporter
                        .drive_revision(&rev, RPS, canary_error_rate, 40.0),
                );
                let q = format!("rate(revision_app_request_count{{revision_name=\"{rev}\",response_code_class=\"5xx\"}}[10s])");
                self.prom().wait_for(&q, Duration::from_secs(30));
            }
            None => {
                self.follower = Some(Follower::start(
                    self.kube.clone(),
                    self.exporter.clone(),
                    self.kind.path(),
                    canary_error_rate,
                ))
            }
        }
    }

    /// The config text for `opts`.
    pub fn config(&self, opts: &Opts) -> String {
        let stages: Vec<String> = opts.stages.iter().map(u32::to_string).collect();
        let address = opts.prometheus.clone().unwrap_or_else(|| match &self.prom {
            Some(p) => p.url(),
            None => "http://127.0.0.1:9".into(), // never queried: see Env::kube_only
        });
        format!(
            r#"apiVersion: mlcanary/v1
name: fd-e2e
model:
  uri: {uri}
  format: sklearn
  version: v2
{target}stages: [{stages}]
analysis:
  pause: {pause}
  interval: 1s
  warmup: 0s
  errorLimit: {error_limit}
  inconclusiveLimit: 4
  deadline: 2m
providers:
  prom:
    type: prometheus
    address: {address}
guardrails:
  - name: error-rate
    provider: prom
    query: |
      sum(rate(revision_app_request_count{{revision_name="{{{{ canary.revision }}}}",response_code_class="5xx"}}[10s]))
      / sum(rate(revision_app_request_count{{revision_name="{{{{ canary.revision }}}}"}}[10s]))
    promote: "< 0.5%"
    rollback: "> 1%"
    critical: true
"#,
            uri = opts.model_uri,
            target = self.kind.target_yaml(),
            stages = stages.join(", "),
            pause = opts.pause,
            error_limit = opts.error_limit,
        )
    }

    /// Writes `config` to a file in the temp dir and returns its path.
    pub fn write_config(&self, config: &str) -> PathBuf {
        let p = self.dir.path().join("mlcanary.yaml");
        std::fs::write(&p, config).expect("write config");
        p
    }

    /// `mlcanary run -c FILE --report R.json` as a CI step would run it; waits for the end.
    pub fn run(&self, config: &str) -> Run {
        self.spawn_run(config).wait()
    }

    /// Starts `mlcanary run` and returns at once, so the test can act mid-rollout (kill
    /// Prometheus, degrade the Rollout); [`Running::wait`] collects it.
    pub fn spawn_run(&self, config: &str) -> Running {
        let file = self.write_config(config);
        let report = self.dir.path().join("report.json");
        let _ = std::fs::remove_file(&report);
        let args = [
            "run".to_string(),
            "-c".into(),
            file.display().to_string(),
            "--report".into(),
            report.display().to_string(),
        ];
        let mut r = self.spawn(&args);
        r.report = Some(report);
        r
    }

    /// Any `mlcanary` subcommand with the CI environment (kubeconfig, summary and output files).
    pub fn mlcanary(&self, args: &[String]) -> Run {
        self.spawn(args).wait()
    }

    fn spawn(&self, args: &[String]) -> Running {
        let summary = self.dir.path().join("step-summary.md");
        let outputs = self.dir.path().join("github-output");
        let _ = std::fs::remove_file(&summary);
        let _ = std::fs::remove_file(&outputs);
        let dir = self.dir.path();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mlcanary"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", dir)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &outputs)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("MLCANARY_CONFIG")
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"))
            .spawn()
            .expect("mlcanary starts (is the binary built?)");
        Running {
            child,
            started: Instant::now(),
            dir: dir.to_path_buf(),
            report: None,
        }
    }

    /// The stored object at `path` (no controller runs).
    pub fn object(&self, path: &str) -> Option<Value> {
        self.kube.object(path)
    }

    /// Runs kubectl against the test server; panics unless it succeeds, returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get RESOURCE NAME -n ml -o json` against the same server; `None` when kubectl
    /// says NotFound.
    pub fn kubectl_get(&self, resource: &str, name: &str) -> Option<Value> {
        let out = std::process::Command::new("kubectl")
            .args(["get", resource, name, "-n", NS, "-o", "json"])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .output()
            .expect("kubectl runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert!(
                stderr.contains("NotFound") || stderr.contains("not found"),
                "kubectl get {resource} {name} failed: {stderr}"
            );
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
    }

    /// The main resource per kubectl.
    pub fn kubectl_main(&self) -> Option<Value> {
        self.kubectl_get(self.kind.kubectl_resource(), NAME)
    }

    /// The canary revision the Argo follower found (after a run).
    pub fn followed_canary(&self) -> Option<String> {
        self.follower
            .as_ref()
            .and_then(|f| f.found.lock().unwrap().clone())
    }

    /// Milliseconds from `from_ms` (Unix ms, e.g. a report event) to the first PATCH or DELETE
    /// the API server received at or after it whose path starts with `path_prefix` and (when
    /// given) whose body contains `needle`.
    pub fn ms_to_request(
        &self,
        from_ms: i64,
        path_prefix: &str,
        needle: Option<&str>,
    ) -> Option<i64> {
        self.kube
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" || r.method == "DELETE")
            .filter(|r| r.path.starts_with(path_prefix))
            .filter(|r| !r.query.contains("dryRun"))
            .filter(|r| needle.is_none_or(|n| r.body.contains(n)))
            .map(|r| unix_ms(r.at))
            .find(|&t| t >= from_ms)
            .map(|t| t - from_ms)
    }
}

pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// kubectl must be there (the issue: "kubectl agrees with the test server"), with the
/// Prometheus policy: missing in CI = failure; locally a failure unless
/// `MLCANARY_SKIP_PROMETHEUS=1` (then false: skip).
fn require_kubectl() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("kubectl").is_file()));
    if found {
        return true;
    }
    let msg = "\n*** kubectl NOT FOUND on PATH: run scripts/test-deps.sh ***\n";
    if std::env::var_os("CI").is_some()
        || std::env::var("MLCANARY_SKIP_PROMETHEUS").as_deref() != Ok("1")
    {
        panic!("{msg}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}*** this test is SKIPPED ***");
    false
}

/// The stable version already serving, as a cluster would have it; returns its revision label.
fn seed(kube: &kube::KubeServer, kind: Kind) -> String {
    let path = kind.path();
    match kind {
        Kind::Kserve => {
            kube.insert(
                &path,
                json!({"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": STABLE_URI}}}}),
            );
            kube.tick();
            let o = kube.object(&path).expect("seeded");
            let rolled = &o["status"]["components"]["predictor"]["latestRolledoutRevision"];
            assert_eq!(rolled, &json!(format!("{NAME}-predictor-00001")), "{o}");
            format!("{NAME}-predictor-00001")
        }
        Kind::Seldon => {
            kube.insert(
                &path,
                json!({"spec": {"predictors": [{"name": "main", "replicas": 1, "traffic": 100,
                    "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": STABLE_URI}}]}}),
            );
            kube.tick();
            assert_eq!(
                kube.object(&path).expect("seeded")["status"]["state"],
                "Available"
            );
            "main".into()
        }
        Kind::SeldonV2 => {
            let m = model_path("fd-v1");
            kube.insert(
                &m,
                json!({"spec": {"storageUri": STABLE_URI, "requirements": ["sklearn"]}}),
            );
            kube.tick();
            "fd-v1".into()
        }
        Kind::ArgoDrive | Kind::ArgoWatch => {
            kube.insert(
                &path,
                json!({"spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": NAME}},
                        "spec": {"containers": [{"name": "model", "image": "ghcr.io/acme/fd:1",
                            "env": [{"name": "MODEL_URI", "value": STABLE_URI}]}]}},
                    "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
                }}),
            );
            kube.tick();
            let o = kube.object(&path).expect("seeded");
            assert_eq!(o["status"]["phase"], "Healthy", "{o}");
            o["status"]["stableRS"]
                .as_str()
                .expect("stableRS")
                .to_string()
        }
    }
}

/// Watches an Argo Rollout and, once the controller names a canary pod-template hash, serves
/// its traffic (as the canary pods would start answering).
struct Follower {
    stop: Arc<AtomicBool>,
    found: Arc<Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    fn start(
        kube: Arc<kube::KubeServer>,
        exporter: Arc<prom::Exporter>,
        path: String,
        error_rate: f64,
    ) -> Follower {
        let stop = Arc::new(AtomicBool::new(false));
        let found = Arc::new(Mutex::new(None));
        let (s, f) = (stop.clone(), found.clone());
        let thread = std::thread::spawn(move || {
            let mut traffic = None;
            while !s.load(Ordering::SeqCst) {
                if traffic.is_none() {
                    let o = kube.object(&path).unwrap_or(Value::Null);
                    let (cur, stable) = (&o["status"]["currentPodHash"], &o["status"]["stableRS"]);
                    if let (Some(c), true) = (cur.as_str(), cur != stable) {
                        traffic = Some(exporter.drive_revision(c, RPS, error_rate, 40.0));
                        *f.lock().unwrap() = Some(c.to_string());
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(traffic);
        });
        Follower {
            stop,
            found,
            thread: Some(thread),
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A file's text, empty when missing.
pub fn file_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}
