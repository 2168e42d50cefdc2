//! The ingress of the tests: a tiny_http server on a free 127.0.0.1 port that forwards every
//! request (method POST, same path and body) to one backend, chosen at random with the weights the
//! `split` function returns AT THAT REQUEST, and records what each backend served.
//!
//! For KServe the split is [`kserve_split`] of the live InferenceService: its
//! `status.components.predictor.traffic` (revision name, percent), which is what KServe reports
//! Knative's route carries, so the router follows the controller (and lags with it), not the
//! spec mlcanary wrote. A revision without a backend, or a split summing to 0, is answered 503.

use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Where traffic goes right now: `(revision, percent)` pairs.
pub type Split = Arc<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

/// One request the router forwarded.
#[derive(Debug, Clone)]
pub struct Served {
    /// When the router received it.
    pub at: SystemTime,
    /// The revision it went to.
    pub revision: String,
    /// The backend's HTTP status (0: the backend could not be reached).
    pub status: u16,
    /// Time to the backend's answer.
    pub took: Duration,
}

/// A running router; stops accepting when dropped.
pub struct Router {
    http: Arc<tiny_http::Server>,
    served: Arc<Mutex<Vec<Served>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The `(revision, percent)` pairs of a KServe InferenceService's
/// `status.components.predictor.traffic` (empty while no revision is ready).
pub fn kserve_split(obj: &Value) -> Vec<(String, u64)> {
    obj["status"]["components"]["predictor"]["traffic"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["revisionName"].as_str()?.to_string(),
                t["percent"].as_u64().unwrap_or(0),
            ))
        })
        .collect()
}

impl Router {
    /// Routes to `backends` (revision -> base URL such as `http://127.0.0.1:8080`) by `split`.
    pub fn start(backends: HashMap<String, String>, split: Split) -> Router {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let served = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (http.clone(), served.clone());
        let backends = Arc::new(backends);
        let seq = Arc::new(AtomicU64::new(0));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let thread = std::thread::spawn(move || {
            for rq in h.incoming_requests() {
                let (s, b, split, agent) =
                    (s.clone(), backends.clone(), split.clone(), agent.clone());
                let n = seq.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || forward(rq, n, &b, &split, &agent, &s));
            }
        });
        Router {
            http,
            served,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.http.server_addr().to_ip().expect("an IP listener")
    }

    /// Everything forwarded so far, in order of arrival.
    pub fn served(&self) -> Vec<Served> {
        let mut v = self.served.lock().unwrap().clone();
        v.sort_by_key(|s| s.at);
        v
    }

    /// Requests `revision` received before `t` (all when `None`), and how many of them failed (5xx
    /// or unreachable).
    pub fn count(&self, revision: &str, before: Option<SystemTime>) -> (usize, usize) {
        let served = self.served.lock().unwrap();
        let mine = served
            .iter()
            .filter(|s| s.revision == revision && before.is_none_or(|t| s.at < t));
        mine.fold((0, 0), |(n, bad), s| {
            (n + 1, bad + usize::from(s.status == 0 || s.status >= 500))
        })
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A deterministic draw in 0..100 per request number (splitmix64): reproducible splits.
fn draw(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 100
}

/// The revision request `n` goes to under `split`.
fn pick(split: &[(String, u64)], n: u64) -> Option<&str> {
    let total: u64 = split.iter().map(|(_, p)| p).sum();
    if total == 0 {
        return None;
    }
    let mut x = draw(n) * total / 100;
    for (rev, p) in split {
        if x < *p {
            return Some(rev);
        }
        x -= p;
    }
    None
}

fn forward(
    mut rq: tiny_http::Request,
    n: u64,
    backends: &HashMap<String, String>,
    split: &Split,
    agent: &ureq::Agent,
    served: &Mutex<Vec<Served>>,
) {
    let at = SystemTime::now();
    let mut body = Vec::new();
    let _ = rq.as_reader().read_to_end(&mut body);
    let split = split();
    let Some((rev, base)) = pick(&split, n).and_then(|r| Some((r, backends.get(r)?))) else {
        let msg = format!("no backend for split {split:?}");
        let _ = rq.respond(tiny_http::Response::from_string(msg).with_status_code(503));
        return;
    };
    let started = Instant::now();
    let answer = agent
        .post(format!("{base}{}", rq.url()))
        .header("Content-Type", "application/json")
        .send(&body[..]);
    let (status, text) = match answer {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, format!("backend {rev} unreachable: {e}")),
    };
    served.lock().unwrap().push(Served {
        at,
        revision: rev.to_string(),
        status,
        took: started.elapsed(),
    });
    let code = if status == 0 { 502 } else { status };
    let _ = rq.respond(tiny_http::Response::from_string(text).with_status_code(code));
}
