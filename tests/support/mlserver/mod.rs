//! Test support: REAL model servers. MLServer (`mlserver`, `mlserver-sklearn` from PyPI, installed
//! by scripts/test-venv.sh from scripts/requirements/mlserver.txt) serving scikit-learn models that
//! `train.py` trains at test time, on free 127.0.0.1 ports; a router playing the ingress
//! ([`router`]) and a load generator ([`load`]).
//!
//! Use from a test file as `use crate::support::mlserver;` (mounted in the binary's `support` module):
//!
//! ```ignore
//! let Some(v1) = mlserver::MlServer::start(mlserver::Variant::V1) else { return }; // None: local skip
//! let (code, answer) = v1.infer(&mlserver::Txn { category: "grocery", amount: 12.5, hour: 14 });
//! // v1.metrics_addr(): MLServer's own Prometheus endpoint (`/metrics`), for a scrape target.
//! ```
//!
//! Missing virtualenv policy (as for Prometheus): with `CI` set the test FAILS; locally it fails
//! too unless `MLCANARY_SKIP_MLSERVER=1`, then `MlServer::start` returns `None`.
//!
//! What MLServer 1.7.1 exports (read in its source, `mlserver/handlers/dataplane.py`,
//! `mlserver/rest/app.py`, and `starlette_exporter/middleware.py` 0.24.0):
//! - `model_infer_request_success_total{model, version}` and `model_infer_request_failure_total{model,
//!   version}` (counters; `version` is the one in the request path, the string `None` for
//!   `/v2/models/{name}/infer`), `model_infer_request_duration{model, version}` (a summary: `_count`,
//!   `_sum`, no quantiles);
//! - `rest_server_requests_total{app_name="mlserver", method, path, status_code}` and
//!   `rest_server_request_duration_seconds_bucket{..., le}` with `path` the route TEMPLATE
//!   (`/v2/models/{model_name}/infer`): no model name, no revision. The revision comes from the
//!   scrape target's labels (see `PromServer::start_labelled`), as Kubernetes service discovery
//!   relabelling a pod's `serving.knative.dev/revision` label would give it.
//!
//! Which series exist when: `model_infer_request_failure_total` is created at 0 by the first
//! request (MLServer calls `labels()` on every request); a `rest_server_*{status_code="500"}` series
//! only appears with the first 500. Before any request, neither exists.
#![allow(dead_code)]

pub mod load;
pub mod router;
pub mod stack;

use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a fresh MLServer may take to load its model and answer ready on a busy 2-core machine
/// (about 2 s when idle).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The model name every server serves (the InferenceService's name in the e2e tests).
pub const MODEL: &str = "fd";

/// A trained model (see train.py for what each does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The stable version.
    V1,
    /// Retrained with the same recipe: behaves like V1.
    V2Good,
    /// Raises on the merchant category it never saw (`gaming`, ~10% of the load mix): HTTP 500.
    V2Unseen,
    /// Same recipe, but "travel" mislabelled as fraud in training: predicts differently on that
    /// slice (~10% of the mix), like V1 elsewhere.
    V2Slice,
    /// V2Good behind a feature step taking [`SLOW_SECONDS`] per request.
    V2Slow,
}

/// Extra seconds per request of [`Variant::V2Slow`].
pub const SLOW_SECONDS: f64 = 0.2;

impl Variant {
    fn dir(self) -> &'static str {
        match self {
            Variant::V1 => "v1",
            Variant::V2Good => "v2-good",
            Variant::V2Unseen => "v2-unseen",
            Variant::V2Slow => "v2-slow",
            Variant::V2Slice => "v2-slice",
        }
    }
}

/// One inference input: a card transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    pub category: &'static str,
    pub amount: f64,
    pub hour: u32,
}

impl Txn {
    /// The Open Inference Protocol (V2) request body; `content_type: pd` makes MLServer decode the
    /// inputs into DataFrame columns, which the trained pipelines select by name.
    pub fn body(&self) -> Value {
        json!({
            "parameters": {"content_type": "pd"},
            "inputs": [
                {"name": "category", "datatype": "BYTES", "shape": [1], "data": [self.category]},
                {"name": "amount", "datatype": "FP64", "shape": [1], "data": [self.amount]},
                {"name": "hour", "datatype": "INT64", "shape": [1], "data": [self.hour]},
            ]
        })
    }
}

/// The test virtualenv: `MLCANARY_TEST_VENV`, else `<crate>/target/test-venv`. Applies the
/// missing-venv policy; `None` only when `MLCANARY_SKIP_MLSERVER=1` and not in CI.
pub fn venv() -> Option<PathBuf> {
    let venv = std::env::var_os("MLCANARY_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    if venv.join("bin/mlserver").is_file() {
        return Some(venv);
    }
    let msg = format!(
        "\n\n*** MLServer NOT FOUND: {} ***\n*** run `bash scripts/test-venv.sh` (installs scripts/requirements/mlserver.txt) ***\n",
        venv.join("bin/mlserver").display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}*** CI is set: MLServer tests may not be skipped ***\n");
    }
    if std::env::var("MLCANARY_SKIP_MLSERVER").as_deref() == Ok("1") {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "{msg}*** MLCANARY_SKIP_MLSERVER=1: this test is SKIPPED ***\n"
        );
        return None;
    }
    panic!("{msg}*** or set MLCANARY_SKIP_MLSERVER=1 to skip these tests locally ***\n");
}

/// This directory (train.py, fd_features.py, serve.py).
fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mlserver")
}

/// The trained models' directory (`<variant>/model.joblib`), trained once per test process and
/// cached under the build's temp dir, keyed by the training code and the venv's requirements
/// (training is deterministic, ~2 s).
pub fn models(venv: &Path) -> PathBuf {
    static MODELS: OnceLock<PathBuf> = OnceLock::new();
    MODELS.get_or_init(|| train(venv)).clone()
}

fn train(venv: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in ["train.py", "fd_features.py"] {
        std::fs::read(support_dir().join(f))
            .expect("training code")
            .hash(&mut h);
    }
    std::fs::read(venv.join(".requirements.sha256"))
        .unwrap_or_default()
        .hash(&mut h);
    venv.hash(&mut h);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mlserver-models");
    let out = root.join(format!("{:016x}", h.finish()));
    if out.join("done").is_file() {
        return out;
    }
    let tmp = root.join(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("models dir");
    let run = Command::new(venv.join("bin/python"))
        .arg(support_dir().join("train.py"))
        .arg(&tmp)
        .env("PYTHONPATH", support_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run train.py");
    assert!(
        run.status.success(),
        "train.py failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::write(tmp.join("done"), "").expect("stamp");
    // Another test process may have finished first: either copy is the same.
    if std::fs::rename(&tmp, &out).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(
        out.join("done").is_file(),
        "trained models at {}",
        out.display()
    );
    out
}

/// A running MLServer serving one model, [`MODEL`]; killed on drop.
pub struct MlServer {
    child: Child,
    http: SocketAddr,
    metrics: SocketAddr,
    grpc: SocketAddr,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
    pub variant: Variant,
}

impl MlServer {
    /// Starts MLServer with `variant` as model [`MODEL`] and waits until `/v2/health/ready`
    /// answers 200 (the model is loaded) and `/metrics` answers. `None` only on a local skip.
    pub fn start(variant: Variant) -> Option<MlServer> {
        let venv = venv()?;
        let models = models(&venv);
        let dir = tempfile::tempdir().expect("temp dir");
        let model_dir = dir.path().join("repo").join(MODEL);
        std::fs::create_dir_all(&model_dir).expect("model repository");
        let settings = json!({
            "name": MODEL,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": models.join(variant.dir()).join("model.joblib")},
        });
        std::fs::write(model_dir.join("model-settings.json"), settings.to_string())
            .expect("model-settings.json");
        let mut last_log = String::new();
        // A port picked free may be taken before MLServer binds it: the process then exits, and
        // the next attempt picks new ports.
        for _attempt in 0..3 {
            let (http, grpc, metrics) = (free_port(), free_port(), free_port());
            // Server settings (mlserver/settings.py): listen on loopback only, no parallel
            // inference workers (one process, in-process metrics), gRPC and metrics on their own
            // free ports (gRPC cannot be turned off).
            let server = json!({
                "debug": false,
                "host": "127.0.0.1",
                "http_port": http.port(),
                "grpc_port": grpc.port(),
                "metrics_port": metrics.port(),
                "parallel_workers": 0,
                "load_models_at_startup": true,
            });
            let repo = dir.path().join("repo");
            std::fs::write(repo.join("settings.json"), server.to_string()).expect("settings.json");
            let log_path = dir.path().join("mlserver.log");
            let log = std::fs::File::create(&log_path).expect("log file");
            // serve.py = `mlserver start REPO`, exiting once this process is gone.
            let child = Command::new(venv.join("bin/python"))
                .arg(support_dir().join("serve.py"))
                .arg(std::process::id().to_string())
                .arg(&repo)
                .current_dir(dir.path())
                .env("PYTHONPATH", support_dir())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("MLCANARY_SLOW_SECONDS", SLOW_SECONDS.to_string())
                .env_remove("HTTP_PROXY")
                .env_remove("HTTPS_PROXY")
                .env_remove("http_proxy")
                .env_remove("https_proxy")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start mlserver: {e}"));
            let mut child = child;
            if wait_ready(&mut child, http, metrics) {
                return Some(MlServer {
                    child,
                    http,
                    metrics,
                    grpc,
                    dir,
                    agent: agent(),
                    variant,
                });
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("MLServer did not become ready (3 attempts). Last log:\n{last_log}");
    }

    /// `http://127.0.0.1:PORT`, the REST (Open Inference Protocol) server.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Where MLServer serves its Prometheus metrics (`/metrics`), a scrape target.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
    }

    /// The inference URL of [`MODEL`].
    pub fn infer_url(&self) -> String {
        format!("{}/v2/models/{MODEL}/infer", self.url())
    }

    /// One inference; returns the HTTP status and the JSON answer (`Null` if not JSON).
    pub fn infer(&self, txn: &Txn) -> (u16, Value) {
        self.infer_body(txn.body())
    }

    /// One inference with any V2 request body (e.g. [`Txn::body`] plus
    /// `"outputs": [{"name": "predict_proba"}]`).
    pub fn infer_body(&self, body: Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(self.infer_url())
            .send_json(body)
            .unwrap_or_else(|e| panic!("MLServer {:?} unreachable: {e}", self.variant));
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// MLServer's own metrics text, as Prometheus would scrape it.
    pub fn metrics_text(&self) -> String {
        self.agent
            .get(format!("http://{}/metrics", self.metrics))
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .unwrap_or_default()
    }

    /// The server's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mlserver.log")).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server now (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MlServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `cond` every 50 ms for up to 10 s; true as soon as it holds.
pub fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Polls `/v2/health/ready` (every model loaded) and `/metrics` until both answer 200; false when
/// the process exited (a port taken, a model that does not load) or timed out.
fn wait_ready(child: &mut Child, http: SocketAddr, metrics: SocketAddr) -> bool {
    let agent = agent();
    let ok = |url: String| agent.get(url).call().is_ok_and(|r| r.status() == 200);
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ok(format!("http://{http}/v2/health/ready")) && ok(format!("http://{metrics}/metrics")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A port nobody listens on right now (the OS picks it; a race is retried by the caller).
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}
