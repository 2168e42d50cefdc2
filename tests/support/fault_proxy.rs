//! A fault-injecting HTTP proxy for tests: it sits in front of any test server (the Kubernetes
//! API test server, a real Prometheus) and, per request, either forwards it unchanged or injects
//! a fault chosen by a matcher. It exists because our doubles answer correctly by design; real
//! servers and the middleboxes in front of them also answer 200 with HTML, an empty object,
//! another object, 503 with a long `Retry-After`, nothing at all, or echo what they were sent.
//!
//! Mounted in a test binary's `support` module; a test file uses `crate::support::fault_proxy`, then
//!
//! ```ignore
//! let proxy = FaultProxy::start(&kube.url);               // or a Prometheus URL
//! proxy.inject(Match::get(ISVC).skip(1).times(1), Fault::NotJson);
//! proxy.inject(Match::any().method("PATCH").body("\"value\":50"), Fault::Status { code: 503, retry_after: Some(119) });
//! // point the client at proxy.url (FaultProxy::kubeconfig writes one), run, then:
//! let seen = proxy.requests();                           // every request and the fault it got
//! ```
//!
//! The whole API: [`FaultProxy::start`], [`FaultProxy::inject`], [`FaultProxy::requests`],
//! [`FaultProxy::kubeconfig`], [`Match`] (method, exact path or prefix, body substring, `skip`
//! the first n matching requests, then fault `times` of them), [`Fault`], and [`HOSTILE`], a
//! string holding every workflow-command form a server could try to smuggle into CI logs.
//! Rules are tried in the order given; the first live one that matches a request takes it.
//! Stalled requests are released (and the connection closed) when the proxy is dropped.
//! Plain HTTP on 127.0.0.1 and a free port; one thread per request.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

/// Workflow commands in every form the GitHub runner honours (line-start `::cmd::`, the legacy
/// `##[cmd]` anywhere in a line), behind a line break so a raw copy starts a line.
pub const HOSTILE: &str =
    "boom\n::error::pwned\n::add-mask::mlcanary\n::set-output name=result::promoted\n##[error]legacy";

/// What to answer instead of forwarding (or after forwarding) a matching request.
#[derive(Clone)]
pub enum Fault {
    /// 200 with an HTML page (a login page, a load balancer's error page).
    NotJson,
    /// 200 with `{}`.
    EmptyObject,
    /// 200 with this JSON (another object, a stale one).
    Replace(Value),
    /// Forwarded; the upstream's JSON answer is edited before it is returned (status kept).
    Edit(Arc<dyn Fn(&mut Value) + Send + Sync>),
    /// This status with a Kubernetes `Status` body, and `Retry-After: secs` when given.
    Status { code: u16, retry_after: Option<u64> },
    /// This status and raw body (JSON content type).
    Respond { code: u16, body: String },
    /// This status with a `Status` body whose message quotes the request's `Authorization`
    /// header, as a careless server or proxy does.
    EchoAuth(u16),
    /// Never answered, never forwarded (until the proxy is dropped).
    Stall,
    /// Forwarded (the upstream applies it), but the answer never comes back.
    StallAfterForward,
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::NotJson => write!(f, "NotJson"),
            Fault::EmptyObject => write!(f, "EmptyObject"),
            Fault::Replace(_) => write!(f, "Replace"),
            Fault::Edit(_) => write!(f, "Edit"),
            Fault::Status { code, retry_after } => write!(f, "Status({code}, {retry_after:?})"),
            Fault::Respond { code, .. } => write!(f, "Respond({code})"),
            Fault::EchoAuth(c) => write!(f, "EchoAuth({c})"),
            Fault::Stall => write!(f, "Stall"),
            Fault::StallAfterForward => write!(f, "StallAfterForward"),
        }
    }
}

/// Which requests a fault applies to. Every field set must hold.
#[derive(Clone, Default)]
pub struct Match {
    method: Option<String>,
    path: Option<String>,
    prefix: bool,
    body: Option<String>,
    skip: usize,
    times: Option<usize>,
}

impl Match {
    /// Every request.
    pub fn any() -> Match {
        Match::default()
    }
    /// GETs of exactly `path` (no query string).
    pub fn get(path: &str) -> Match {
        Match::any().method("GET").path(path)
    }
    pub fn method(mut self, m: &str) -> Match {
        self.method = Some(m.to_uppercase());
        self
    }
    /// Exactly this path (without the query string).
    pub fn path(mut self, p: &str) -> Match {
        self.path = Some(p.to_string());
        self.prefix = false;
        self
    }
    /// Paths starting with `p`.
    pub fn path_prefix(mut self, p: &str) -> Match {
        self.path = Some(p.to_string());
        self.prefix = true;
        self
    }
    /// Request bodies containing `s`.
    pub fn body(mut self, s: &str) -> Match {
        self.body = Some(s.to_string());
        self
    }
    /// Let the first `n` matching requests through untouched.
    pub fn skip(mut self, n: usize) -> Match {
        self.skip = n;
        self
    }
    /// Fault this many matching requests (after `skip`), then pass the rest (default: all).
    pub fn times(mut self, n: usize) -> Match {
        self.times = Some(n);
        self
    }

    fn matches(&self, r: &Seen) -> bool {
        self.method.as_ref().is_none_or(|m| *m == r.method)
            && self.path.as_ref().is_none_or(|p| match self.prefix {
                true => r.path.starts_with(p.as_str()),
                false => r.path == *p,
            })
            && self
                .body
                .as_ref()
                .is_none_or(|b| r.body.contains(b.as_str()))
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    /// The fault it got (`None`: forwarded untouched).
    pub fault: Option<String>,
    pub at: SystemTime,
}

struct Rule {
    when: Match,
    fault: Fault,
    /// Matching requests seen so far.
    seen: usize,
}

impl Rule {
    /// Counts a matching request; true when this one gets the fault.
    fn take(&mut self, r: &Seen) -> bool {
        if !self.when.matches(r) {
            return false;
        }
        self.seen += 1;
        let n = self.seen - 1;
        n >= self.when.skip && self.when.times.is_none_or(|t| n < self.when.skip + t)
    }
}

#[derive(Default)]
struct Shared {
    rules: Vec<Rule>,
    log: Vec<Seen>,
    closed: bool,
}

/// The running proxy; dropping it stops it and releases stalled requests.
pub struct FaultProxy {
    pub url: String,
    upstream: String,
    state: Arc<(Mutex<Shared>, Condvar)>,
    http: Arc<tiny_http::Server>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (free port) and forwards to `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let url = format!(
            "http://{}",
            http.server_addr().to_ip().expect("an IP listener")
        );
        let state: Arc<(Mutex<Shared>, Condvar)> = Default::default();
        let (h, s, up) = (
            http.clone(),
            state.clone(),
            upstream.trim_end_matches('/').to_string(),
        );
        std::thread::spawn(move || {
            for rq in h.incoming_requests() {
                let (s, up) = (s.clone(), up.clone());
                std::thread::spawn(move || serve(rq, &s, &up));
            }
        });
        FaultProxy {
            url,
            upstream: upstream.to_string(),
            state,
            http,
        }
    }

    /// Adds a rule: requests matching `when` get `fault`.
    pub fn inject(&self, when: Match, fault: Fault) {
        lock(&self.state).rules.push(Rule {
            when,
            fault,
            seen: 0,
        });
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.state).log.clone()
    }

    /// Writes a kubeconfig (context `test`, namespace `ml`, optional bearer token) whose server is
    /// this proxy; returns its path.
    pub fn kubeconfig(&self, dir: &Path, token: Option<&str>) -> PathBuf {
        let user = token.map_or("{}".to_string(), |t| format!("{{token: \"{t}\"}}"));
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: test\n  cluster: {{server: \"{}\"}}\nusers:\n- name: test\n  user: {user}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test, namespace: ml}}\n",
            self.url
        );
        let path = dir.join("kubeconfig-proxy");
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        lock(&self.state).closed = true;
        self.state.1.notify_all();
        self.http.unblock();
    }
}

fn lock(s: &(Mutex<Shared>, Condvar)) -> std::sync::MutexGuard<'_, Shared> {
    s.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Blocks until the proxy is dropped.
fn stall(state: &(Mutex<Shared>, Condvar)) {
    let mut g = lock(state);
    while !g.closed {
        g = state.1.wait(g).unwrap_or_else(|p| p.into_inner());
    }
}

fn status_body(code: u16, message: &str) -> String {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": "InternalError", "code": code})
    .to_string()
}

fn serve(mut rq: tiny_http::Request, state: &(Mutex<Shared>, Condvar), upstream: &str) {
    let mut body = String::new();
    let _ = rq.as_reader().read_to_string(&mut body);
    let headers: Vec<(String, String)> = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_string(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (path, query) = match rq.url().split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (rq.url().to_string(), String::new()),
    };
    let mut seen = Seen {
        method: rq.method().as_str().to_uppercase(),
        path,
        query,
        body,
        fault: None,
        at: SystemTime::now(),
    };
    let fault = {
        let mut st = lock(state);
        let fault = st
            .rules
            .iter_mut()
            .find_map(|r| r.take(&seen).then(|| r.fault.clone()));
        seen.fault = fault.as_ref().map(|f| format!("{f:?}"));
        st.log.push(seen.clone());
        fault
    };
    let forward = || forward(upstream, &seen, &headers);
    let (code, body, extra): (u16, String, Vec<(String, String)>) = match fault {
        None => forward(),
        Some(Fault::NotJson) => (
            200,
            "<html><body>Sign in to continue</body></html>".into(),
            vec![],
        ),
        Some(Fault::EmptyObject) => (200, "{}".into(), vec![]),
        Some(Fault::Replace(v)) => (200, v.to_string(), vec![]),
        Some(Fault::Edit(edit)) => {
            let (code, text, h) = forward();
            match serde_json::from_str::<Value>(&text) {
                Ok(mut v) => {
                    edit(&mut v);
                    (code, v.to_string(), h)
                }
                Err(_) => (code, text, h),
            }
        }
        Some(Fault::Status { code, retry_after }) => (
            code,
            status_body(code, "injected by the fault proxy"),
            retry_after
                .map(|s| vec![("Retry-After".to_string(), s.to_string())])
                .unwrap_or_default(),
        ),
        Some(Fault::Respond { code, body }) => (code, body, vec![]),
        Some(Fault::EchoAuth(code)) => {
            let auth = header("authorization").unwrap_or_default();
            (
                code,
                status_body(code, &format!("rejected credentials: {auth}")),
                vec![],
            )
        }
        Some(Fault::Stall) => {
            stall(state);
            return;
        }
        Some(Fault::StallAfterForward) => {
            let _ = forward();
            stall(state);
            return;
        }
    };
    let mut resp = tiny_http::Response::from_string(body).with_status_code(code);
    let has_type = extra
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !has_type {
        resp.add_header(header_of("Content-Type", "application/json"));
    }
    for (k, v) in extra {
        resp.add_header(header_of(&k, &v));
    }
    let _ = rq.respond(resp);
}

fn header_of(k: &str, v: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("valid header")
}

/// Sends the request upstream; returns status, body and the headers worth relaying.
fn forward(
    upstream: &str,
    r: &Seen,
    headers: &[(String, String)],
) -> (u16, String, Vec<(String, String)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let url = match r.query.is_empty() {
        true => format!("{upstream}{}", r.path),
        false => format!("{upstream}{}?{}", r.path, r.query),
    };
    let mut req = ureq::http::Request::builder()
        .method(r.method.as_str())
        .uri(url);
    for (k, v) in headers {
        let skip = [
            "host",
            "connection",
            "content-length",
            "transfer-encoding",
            "accept-encoding",
        ];
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let result = match r.body.is_empty() {
        true => agent.run(req.body(()).expect("request")),
        false => agent.run(req.body(r.body.clone().into_bytes()).expect("request")),
    };
    match result {
        Ok(mut resp) => {
            let keep: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(k, _)| {
                    ["content-type", "retry-after"]
                        .contains(&k.as_str().to_ascii_lowercase().as_str())
                })
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let code = resp.status().as_u16();
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            (code, body, keep)
        }
        Err(e) => (502, status_body(502, &format!("proxy: {e}")), vec![]),
    }
}
