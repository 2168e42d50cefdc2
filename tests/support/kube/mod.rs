//! A Kubernetes API test server that kubectl accepts, with the platform controllers mlcanary
//! drives (KServe, Seldon v1/v2, Argo Rollouts). Real shapes over fakes: `Status` errors, RBAC
//! wording, resourceVersion/generation rules, the three patch types and dry run behave as on a
//! real API server, so client code tested here works against a cluster.
//!
//! Use from a test: `use crate::support::kube;` (mounted in the binary's `support` module) then
//! `kube::KubeServer::start()`.
#![allow(dead_code)]

mod argo;
mod controllers;
mod front;
mod kserve;
pub mod proxy;
mod resources;
mod seldon;
mod seldon_v2;
mod status;
mod store;
pub mod tls;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use status::Reply;

/// One request as received (the log entry and what fault predicates see).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
    /// The `Authorization` header, for auth tests. Never printed by the server.
    pub authorization: Option<String>,
    /// The fault injected into this request, if any.
    pub fault: Option<String>,
    /// When the server received it (for measuring how fast a client reacted).
    pub at: std::time::SystemTime,
}

impl Request {
    /// A query parameter's (undecoded) value.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then_some(v)
        })
    }
}

/// What to do to a matching request instead of (or before) serving it.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with a real `Status` body.
    Status(u16),
    /// Answer this status with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// Break the exchange: an unparsable answer, then the connection is dropped.
    Close,
    /// Wait this long, then serve normally (a client with a shorter timeout sees a timeout).
    Hang(Duration),
    /// Answer 200 with this raw body.
    Body(String),
}

type Pred = Box<dyn Fn(&Request) -> bool + Send>;

struct FaultRule {
    pred: Pred,
    fault: Fault,
    remaining: usize,
}

/// Server state; tests reach it through [`KubeServer`] methods.
pub struct State {
    pub objects: BTreeMap<String, Value>,
    side: HashMap<String, controllers::Side>,
    pub log: Vec<Request>,
    faults: Vec<FaultRule>,
    /// Expected `Authorization` header value; `None` = anonymous access allowed.
    auth: Option<String>,
    /// `(verb, resource)` pairs RBAC denies; resource is `plural` or `plural/status`.
    denies: Vec<(String, String)>,
    pub rv: u64,
    uid: u64,
    /// Polls before a pending change becomes ready (KServe revision, Seldon state, conditions).
    pub ready_after: u32,
    user: String,
    /// `Some`: controllers run on their own thread (see [`KubeServer::set_controllers`]);
    /// `None`: inside each request (a write reconciles at once, a GET is a poll).
    timing: Option<controllers::Timing>,
    /// Async mode: writes the controllers have not seen yet (key -> object before the first
    /// unseen write, time of the last write).
    unseen: HashMap<String, (Option<Value>, std::time::Instant)>,
    /// How the Seldon v1 operator routes between predictors (its environment).
    pub seldon_routing: SeldonRouting,
}

pub use seldon::Routing as SeldonRouting;

/// The running server. Dropping it stops the accept loop.
pub struct KubeServer {
    pub url: String,
    state: Arc<Mutex<State>>,
    http: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    tls_front: Option<tls::TlsFront>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    controller: Option<std::thread::JoinHandle<()>>,
}

impl KubeServer {
    /// Plain HTTP on 127.0.0.1 and a free port (through the one-request-per-connection front).
    pub fn start() -> KubeServer {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let port = front::start_plain(http.server_addr().to_ip().expect("an IP listener"));
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State {
            objects: BTreeMap::new(),
            side: HashMap::new(),
            log: Vec::new(),
            faults: Vec::new(),
            auth: None,
            denies: Vec::new(),
            rv: 1000,
            uid: 0,
            ready_after: 2,
            user: "system:serviceaccount:ci:mlcanary".into(),
            timing: None,
            unseen: HashMap::new(),
            seldon_routing: SeldonRouting::Istio,
        }));
        let (h, s) = (http.clone(), state.clone());
        let host = format!("127.0.0.1:{port}");
        let thread = std::thread::spawn(move || {
            for rq in h.incoming_requests() {
                let (s, host) = (s.clone(), host.clone());
                std::thread::spawn(move || serve(rq, &s, &host));
            }
        });
        KubeServer {
            url,
            state,
            http,
            thread: Some(thread),
            tls_front: None,
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            controller: None,
        }
    }

    /// Controllers as they run in a cluster: on their own thread, reacting to a write only
    /// `lag` after it (reads in between see the old status: a stale read), with a new model
    /// version taking `load` to become ready. Replaces the in-request mode for this server.
    pub fn set_controllers(&mut self, lag: Duration, load: Duration) {
        {
            let mut st = self.lock();
            st.timing = Some(controllers::Timing { lag, load });
            st.ready_after = u32::try_from(load.as_millis() / controllers::TICK.as_millis())
                .unwrap_or(u32::MAX)
                .max(1);
        }
        if self.controller.is_none() {
            let (state, stop) = (self.state.clone(), self.stop.clone());
            self.controller = Some(std::thread::spawn(move || {
                controllers::run_async(&state, &stop)
            }));
        }
    }

    /// How the Seldon v1 operator routes (Istio by default).
    pub fn set_seldon_routing(&self, routing: SeldonRouting) {
        self.lock().seldon_routing = routing;
    }

    /// Changes the lag of async controllers (a test can make the controller slow mid-run).
    pub fn set_lag(&self, lag: Duration) {
        if let Some(t) = self.lock().timing.as_mut() {
            t.lag = lag;
        }
    }

    /// Async mode: waits (bounded) until the controllers have seen every write.
    pub fn settle(&self) {
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while !self.lock().unseen.is_empty() && std::time::Instant::now() < until {
            std::thread::sleep(controllers::TICK);
        }
        std::thread::sleep(controllers::TICK * 2);
    }

    /// HTTPS in front of the same server, with certificates made in `dir` (returned for
    /// kubeconfigs); `require_client_cert` makes the handshake demand a CA-signed client certificate.
    pub fn start_tls(dir: &Path, require_client_cert: bool) -> (KubeServer, tls::TlsFiles) {
        KubeServer::start_tls_for(dir, require_client_cert, "IP:127.0.0.1,DNS:localhost")
    }

    /// Like [`KubeServer::start_tls`], with a server certificate valid only for `san`
    /// (still listening on 127.0.0.1).
    pub fn start_tls_for(
        dir: &Path,
        require_client_cert: bool,
        san: &str,
    ) -> (KubeServer, tls::TlsFiles) {
        let mut server = KubeServer::start();
        let files = tls::make_certs_for(dir, san);
        let backend = server.http.server_addr().to_ip().expect("an IP listener");
        let front = tls::start_front(&files, require_client_cert, backend);
        server.url = format!("https://127.0.0.1:{}", front.port);
        server.tls_front = Some(front);
        (server, files)
    }

    /// A CONNECT proxy that tunnels every target to this server.
    pub fn proxy(&self) -> proxy::ConnectProxy {
        proxy::start(self.http.server_addr().to_ip().expect("an IP listener"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requires `Authorization: Bearer {token}`.
    pub fn require_token(&self, token: &str) {
        self.lock().auth = Some(format!("Bearer {token}"));
    }

    /// Requires HTTP basic auth.
    pub fn require_basic(&self, user: &str, password: &str) {
        use base64::Engine;
        let raw = format!("{user}:{password}");
        self.lock().auth = Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ));
    }

    /// RBAC denies `verb` (get, list, create, update, patch, delete) on `resource` (`plural` or `plural/status`).
    pub fn deny(&self, verb: &str, resource: &str) {
        self.lock().denies.push((verb.into(), resource.into()));
    }

    /// Polls before pending changes become ready (default 2).
    pub fn set_ready_after(&self, polls: u32) {
        self.lock().ready_after = polls;
    }

    /// The next `times` requests matching `pred` get `fault`.
    pub fn inject(
        &self,
        pred: impl Fn(&Request) -> bool + Send + 'static,
        fault: Fault,
        times: usize,
    ) {
        self.lock().faults.push(FaultRule {
            pred: Box::new(pred),
            fault,
            remaining: times,
        });
    }

    /// Stores an object directly (no admission); a given `status` is kept as is.
    pub fn insert(&self, path: &str, obj: Value) {
        store::seed(&mut self.lock(), path, obj);
    }

    /// The mlcanary Kubernetes client for this server (anonymous, default options).
    pub fn client(&self) -> mlcanary::clients::kube::Client {
        use mlcanary::clients::kube::{AuthSpec, Client, ClientOptions, ClusterConfig};
        let cfg = ClusterConfig {
            server: self.url.clone(),
            namespace: None,
            tls: Default::default(),
            tls_server_name: None,
            auth: AuthSpec::None,
        };
        Client::from_config(cfg, &ClientOptions::default()).expect("a client for the test server")
    }

    /// The stored object, without running controllers.
    pub fn object(&self, path: &str) -> Option<Value> {
        self.lock().objects.get(path).cloned()
    }

    /// Seldon v2: the storageUri of the Model version the scheduler serves (not in the API:
    /// what the scheduler knows), `None` before any version loaded.
    pub fn serving_uri(&self, path: &str) -> Option<String> {
        self.lock().side.get(path).and_then(|s| s.loaded.clone())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().log.clone()
    }

    /// Runs every controller once, as if each object were polled. In async mode: waits until
    /// the controllers have seen every write and a model had time to load.
    pub fn tick(&self) {
        let load = self.lock().timing.map(|t| t.load);
        if let Some(load) = load {
            self.settle();
            std::thread::sleep(load + controllers::TICK * 2);
            return;
        }
        let mut st = self.lock();
        let keys: Vec<String> = st.objects.keys().cloned().collect();
        for k in keys {
            if let Some(t) = store::parse_target(&k) {
                controllers::on_poll(&mut st, &k, t.res);
            }
        }
    }

    /// Writes a kubeconfig pointing at this server (context `test`, namespace `ml`, optional token).
    pub fn write_kubeconfig(&self, dir: &Path, token: Option<&str>) -> PathBuf {
        let user = match token {
            Some(t) => format!("{{token: \"{t}\"}}"),
            None => "{}".into(),
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: test\n  cluster: {{server: \"{}\"}}\nusers:\n- name: test\n  user: {user}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test, namespace: ml}}\n",
            self.url
        );
        let path = dir.join("kubeconfig");
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

impl Drop for KubeServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.controller.take() {
            let _ = t.join();
        }
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut rq: tiny_http::Request, state: &Mutex<State>, host: &str) {
    let mut body = String::new();
    let _ = rq.as_reader().read_to_string(&mut body);
    let header = |name: &str| {
        rq.headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_string())
    };
    let (path, query) = match rq.url().split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (rq.url().to_string(), String::new()),
    };
    let mut req = Request {
        method: rq.method().as_str().to_uppercase(),
        path: path.trim_end_matches('/').to_string(),
        query,
        content_type: header("content-type").unwrap_or_default(),
        body,
        authorization: header("authorization"),
        fault: None,
        at: std::time::SystemTime::now(),
    };
    let fault = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let fault = st
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && (f.pred)(&req))
            .map(|f| {
                f.remaining -= 1;
                f.fault.clone()
            });
        req.fault = fault.as_ref().map(|f| format!("{f:?}"));
        st.log.push(req.clone());
        fault
    };
    let reply = match fault {
        Some(Fault::Status(code)) => status::server_error(code, None),
        Some(Fault::RetryAfter(code, secs)) => status::server_error(code, Some(secs)),
        Some(Fault::Body(raw)) => {
            let _ = rq.respond(tiny_http::Response::from_string(raw).with_header(json_header()));
            return;
        }
        Some(Fault::Close) => {
            let mut w = rq.into_writer();
            let _ = w.write_all(b"HTTP/1.1 ???\r\n\r\n");
            let _ = w.flush();
            return;
        }
        Some(Fault::Hang(d)) => {
            std::thread::sleep(d);
            handle(state, &req, host)
        }
        None => handle(state, &req, host),
    };
    let mut resp = tiny_http::Response::from_string(reply.body.to_string())
        .with_status_code(reply.code)
        .with_header(json_header());
    for (k, v) in &reply.headers {
        resp.add_header(
            tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("valid header"),
        );
    }
    let _ = rq.respond(resp);
}

fn json_header() -> tiny_http::Header {
    tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
        .expect("valid header")
}

fn handle(state: &Mutex<State>, req: &Request, host: &str) -> Reply {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(expected) = &st.auth {
        if req.authorization.as_deref() != Some(expected.as_str()) {
            return status::unauthorized();
        }
    }
    if req.method == "GET" {
        if let Some(doc) = resources::discovery(&req.path, host) {
            return Reply::ok(doc);
        }
    }
    let Some(t) = store::parse_target(&req.path) else {
        return status::no_route();
    };
    let verb = store::verb(&req.method, t.name.is_some());
    let resource = if t.status {
        format!("{}/status", t.res.plural)
    } else {
        t.res.plural.to_string()
    };
    if st.denies.iter().any(|(v, r)| v == verb && *r == resource) {
        let user = st.user.clone();
        return status::forbidden(
            &user,
            verb,
            t.res.group,
            &resource,
            t.name.as_deref().unwrap_or(""),
            &t.namespace,
        );
    }
    store::handle(&mut st, req, &t)
}

/// A client of `url` with no credentials, short retries (3 attempts, 10-50 ms apart) and a
/// whole-request `timeout`: what tests that fault the server use to see each retry quickly.
pub fn quick_client(url: &str, timeout: std::time::Duration) -> mlcanary::clients::kube::Client {
    use mlcanary::clients::kube::{AuthSpec, Client, ClientOptions, ClusterConfig, RetryPolicy};
    let cfg = ClusterConfig {
        server: url.into(),
        namespace: None,
        tls: Default::default(),
        tls_server_name: None,
        auth: AuthSpec::None,
    };
    let opts = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: std::time::Duration::from_millis(10),
            max_delay: std::time::Duration::from_millis(50),
        },
        timeout,
        ..ClientOptions::default()
    };
    Client::from_config(cfg, &opts).unwrap()
}
