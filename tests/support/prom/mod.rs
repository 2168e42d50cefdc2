//! Test support: a REAL Prometheus server (Debian's `prometheus` package, installed by
//! scripts/test-deps.sh) started per test on a free 127.0.0.1 port, with its own temp TSDB, scraping
//! a tiny in-process exporter every second; plus a header/method recorder and a black-hole server.
//!
//! Mounted in a test binary's `support` module; a test file uses `crate::support::prom`.
//!
//! Missing binary policy: with `CI` set the test fails (no silent skip in CI). Locally it fails
//! too, loudly, unless `MLCANARY_SKIP_PROMETHEUS=1`, in which case `start*` returns `None`.
#![allow(dead_code)]

pub mod exporter;
pub mod recorder;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[allow(unused_imports)]
pub use exporter::Exporter;
#[allow(unused_imports)]
pub use recorder::{BlackHole, Recorder};

/// How long a fresh server may take to answer `/-/ready` on a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Seconds since the epoch, "now" for `Query.end`.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Finds `prometheus` and `promtool` on PATH, applying the missing-binary policy.
/// `None` only when `MLCANARY_SKIP_PROMETHEUS=1` and not in CI.
pub fn binaries() -> Option<(PathBuf, PathBuf)> {
    match (which("prometheus"), which("promtool")) {
        (Some(server), Some(tool)) => Some((server, tool)),
        _ => {
            let msg = "\n\n*** prometheus/promtool NOT FOUND on PATH ***\n\
                       *** run scripts/test-deps.sh (installs Debian's `prometheus` package) ***\n";
            if std::env::var_os("CI").is_some() {
                panic!("{msg}*** CI is set: Prometheus tests may not be skipped ***\n");
            }
            if std::env::var("MLCANARY_SKIP_PROMETHEUS").as_deref() == Ok("1") {
                // Straight to stderr, not eprintln!: the test harness captures the macros, and a
                // skip must be seen even when the test "passes".
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "{msg}*** MLCANARY_SKIP_PROMETHEUS=1: this test is SKIPPED ***\n"
                );
                return None;
            }
            panic!("{msg}*** or set MLCANARY_SKIP_PROMETHEUS=1 to skip these tests locally ***\n");
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A running Prometheus owned by one test; killed (and its TSDB deleted) on drop.
pub struct PromServer {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl PromServer {
    /// A server scraping `targets` (host:port serving `/metrics`) every second.
    pub fn start(targets: &[SocketAddr]) -> Option<PromServer> {
        Self::start_with_backfill(targets, None)
    }

    /// A server whose TSDB was first filled by `promtool tsdb create-blocks-from openmetrics`
    /// with `openmetrics` (OpenMetrics text ending in `# EOF`, sample timestamps in seconds).
    /// Lets a test query history (rates over minutes) without waiting for it.
    pub fn start_with_backfill(
        targets: &[SocketAddr],
        openmetrics: Option<&str>,
    ) -> Option<PromServer> {
        Self::launch(&config_yaml(targets), openmetrics)
    }

    /// A server scraping each target (host:port serving `/metrics`) every second, attaching its
    /// labels to every series scraped from it, as relabelling a Kubernetes pod's labels would
    /// (e.g. `revision_name` from `serving.knative.dev/revision`).
    pub fn start_labelled(targets: &[(SocketAddr, &[(&str, &str)])]) -> Option<PromServer> {
        Self::launch(&labelled_config_yaml(targets), None)
    }

    fn launch(config_text: &str, openmetrics: Option<&str>) -> Option<PromServer> {
        let (server_bin, promtool) = binaries()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let tsdb = dir.path().join("data");
        fs::create_dir_all(&tsdb).expect("tsdb dir");
        if let Some(text) = openmetrics {
            backfill(&promtool, dir.path(), &tsdb, text);
        }
        let config = dir.path().join("prometheus.yml");
        fs::write(&config, config_text).expect("write prometheus.yml");

        let mut last_log = String::new();
        for _attempt in 0..3 {
            let addr = free_port();
            let log_path = dir.path().join("prometheus.log");
            let log = fs::File::create(&log_path).expect("log file");
            let mut child = Command::new(&server_bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", tsdb.display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_bin.display()));
            if wait_ready(&mut child, addr) {
                return Some(PromServer { child, addr, dir });
            }
            last_log = fs::read_to_string(&log_path).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("Prometheus did not become ready (3 attempts). Last log:\n{last_log}");
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (what config calls `address`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Polls an instant query until it answers a non-empty vector (the exporter was scraped);
    /// returns the `result` array. Panics after `timeout`. Evaluated at [`now`] in whole seconds,
    /// like the provider's `time`: a sample scraped at 12.7 s is not visible at `time=12`, so
    /// waiting on Prometheus' own (fractional) "now" would let a test query too early.
    pub fn wait_for(&self, promql: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let answer: Option<serde_json::Value> =
                ureq::get(format!("{}/api/v1/query", self.url()))
                    .query("query", promql)
                    .query("time", now().to_string())
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_json().ok());
            if let Some(result) = answer.as_ref().map(|a| a["data"]["result"].clone()) {
                if result.as_array().is_some_and(|a| !a.is_empty()) {
                    return result;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{promql} still empty after {timeout:?}; last answer {answer:?}"
            );
            sleep(Duration::from_millis(200));
        }
    }

    /// Polls until `promql` evaluates (now) to exactly `value`, e.g. after driving the exporter.
    pub fn wait_for_value(&self, promql: &str, value: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.wait_for(promql, timeout);
            let got = result[0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok());
            if got == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{promql} = {got:?}, waited {timeout:?} for {value}"
            );
            sleep(Duration::from_millis(200));
        }
    }

    /// Kills the server now (SIGKILL) and waits for it, e.g. to test an unreachable provider.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PromServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `/-/ready` until 200; false when the process exited (port taken, bad flags) or timed out.
fn wait_ready(child: &mut Child, addr: SocketAddr) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(resp) = agent.get(format!("http://{addr}/-/ready")).call() {
            if resp.status() == 200 {
                return true;
            }
        }
        sleep(Duration::from_millis(100));
    }
    false
}

fn config_yaml(targets: &[SocketAddr]) -> String {
    let mut yaml = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
    if !targets.is_empty() {
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        yaml.push_str(&format!(
            "scrape_configs:\n  - job_name: test\n    scrape_interval: 1s\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        ));
    }
    yaml
}

fn labelled_config_yaml(targets: &[(SocketAddr, &[(&str, &str)])]) -> String {
    let mut yaml = config_yaml(&[]);
    yaml.push_str(
        "scrape_configs:\n  - job_name: test\n    scrape_interval: 1s\n    static_configs:\n",
    );
    for (addr, labels) in targets {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}: {}", serde_json::Value::from(*v)))
            .collect();
        yaml.push_str(&format!(
            "      - targets: ['{addr}']\n        labels: {{{}}}\n",
            labels.join(", ")
        ));
    }
    yaml
}

fn backfill(promtool: &Path, work: &Path, tsdb: &Path, text: &str) {
    let input = work.join("backfill.om");
    fs::write(&input, text).expect("write backfill input");
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&input)
        .arg(tsdb)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool backfill failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nobody listens on right now (the OS picks it; a race with another process is retried).
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr")
}
