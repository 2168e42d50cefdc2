//! The fault matrix: a whole KServe rollout (10% -> 50% -> promote) driven in-process over the real
//! Kubernetes client against the test API server, with one fault injected at one step per case:
//! HTTP 500, 503 with `Retry-After`, 429, 409, connection refused, a response that never comes, a
//! malformed body; once (the client's retries should absorb it) and for good. Steps: the apply
//! (prepare), a readiness poll, the weight change, a guardrail check (the metrics provider),
//! promote, and rollback (in a run whose guardrail fails).
//!
//! Two kinds of case the one-fault-per-step grid misses (issue 15): a fault on the read right
//! after readiness (the GET that learns the revision names: 500, a truncated body, an HTML page,
//! an empty object, another object), and a signal while a write is held by the server (no answer
//! at all, or 503 with `Retry-After: 119`), where the run must roll back within seconds.
//!
//! Whatever happens, the run must end consistent: promoted -> the canary field is gone and the
//! new revision has 100%; rolled back -> the canary field is 0; rollback itself failed (exit 3)
//! -> the report names the split left behind and it equals the server's.
use crate::support::kube;
use crate::support::matrix;

use kube::{Fault, KubeServer, Request};
use mlcanary::clients::kube::Client;
use mlcanary::config::{load_str, Config};
use mlcanary::core::machine::Outcome;
use mlcanary::core::plan::Plan;
use mlcanary::metrics::prometheus::{PrometheusOptions, PrometheusProvider};
use mlcanary::platform::k8s::{KubeApi, PatchKind};
use mlcanary::platform::PlatformError;
use mlcanary::render::Renderer;
use mlcanary::report::record::RunRecord;
use mlcanary::rollout::build;
use mlcanary::rollout::clock::{Cancel, VirtualClock};
use mlcanary::rollout::driver::{Driver, Quiet, SharedProvider};
use mlcanary::rollout::kube_live::LiveKube;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";
const SDEP: &str = "/apis/machinelearning.seldon.io/v1/namespaces/ml/seldondeployments/fd";
/// Client timeout; a hung answer takes longer than this.
const TIMEOUT: Duration = Duration::from_millis(300);
const HANG: Duration = Duration::from_millis(450);
/// A Kubernetes answer that never comes: long past the run (the server applies it only then).
const NEVER: Duration = Duration::from_secs(3600);
/// Forever, for a fault that never clears.
const ALWAYS: usize = usize::MAX;

const CONFIG: &str = r#"
apiVersion: mlcanary/v1
name: fd
model: {uri: "s3://m/v2", format: sklearn, version: v2}
target: {platform: PLATFORM, namespace: ml}
stages: [{weight: 10, pause: 2m}, {weight: 50, pause: 2m}]
analysis: {interval: 1m, warmup: 0s, errorLimit: 1, inconclusiveLimit: 2, deadline: 10m}
providers: {prom: {type: prometheus, address: "http://unused"}}
guardrails:
  - {name: error-rate, provider: prom, query: "errors", promote: "< 0.01", rollback: "> 0.02"}
"#;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    S500,
    S503RetryAfter,
    S429,
    S409,
    Refused,
    Timeout,
    Malformed,
    /// 200 with an HTML page.
    NotJson,
    /// 200 with `{}`.
    Empty,
    /// 200 with another object.
    Other,
}

const KINDS: [Kind; 7] = [
    Kind::S500,
    Kind::S503RetryAfter,
    Kind::S429,
    Kind::S409,
    Kind::Refused,
    Kind::Timeout,
    Kind::Malformed,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Prepare,
    ReadyPoll,
    Weight50,
    Check,
    Promote,
    Rollback,
    /// The read right after readiness (the revision names).
    ReadAfterReady,
}

/// What a read can be answered with instead of the object.
const READ_KINDS: [Kind; 5] = [
    Kind::S500,
    Kind::Malformed,
    Kind::NotJson,
    Kind::Empty,
    Kind::Other,
];

const STEPS: [Step; 6] = [
    Step::Prepare,
    Step::ReadyPoll,
    Step::Weight50,
    Step::Check,
    Step::Promote,
    Step::Rollback,
];

/// JSON-patch value written to canaryTrafficPercent, if the request is such a write.
fn percent_write(r: &Request) -> Option<u64> {
    if r.method != "PATCH" || !r.content_type.starts_with("application/json-patch") {
        return None;
    }
    let ops: Value = serde_json::from_str(&r.body).ok()?;
    ops.as_array()?
        .iter()
        .find(|o| o["op"] == "add" && o["path"] == "/spec/predictor/canaryTrafficPercent")?["value"]
        .as_u64()
}

/// A Seldon JSON patch giving some predictor `value` percent.
fn seldon_traffic_write(r: &Request, value: u64) -> bool {
    let Ok(ops) = serde_json::from_str::<Value>(&r.body) else {
        return false;
    };
    r.method == "PATCH"
        && ops.as_array().into_iter().flatten().any(|o| {
            o["path"].as_str().is_some_and(|p| p.ends_with("/traffic")) && o["value"] == value
        })
}

/// Which Kubernetes requests a step is made of.
fn kube_pred(platform: Target, step: Step) -> Box<dyn Fn(&Request) -> bool + Send + Sync> {
    if platform == Target::Seldon {
        assert_eq!(
            step,
            Step::Weight50,
            "the Seldon case faults the weight change"
        );
        return Box::new(|r: &Request| seldon_traffic_write(r, 50));
    }
    match step {
        Step::Prepare => Box::new(|r: &Request| {
            r.method == "PATCH"
                && r.content_type.starts_with("application/apply-patch")
                && r.param("dryRun").is_none()
        }),
        Step::ReadyPoll => {
            // The first GET is prepare's read; the second is the first readiness poll.
            let gets = AtomicUsize::new(0);
            Box::new(move |r: &Request| {
                r.method == "GET" && r.path == ISVC && gets.fetch_add(1, Ordering::SeqCst) >= 1
            })
        }
        Step::ReadAfterReady => {
            // GETs: prepare's read, the first (ready) poll, then the revision names.
            let gets = AtomicUsize::new(0);
            Box::new(move |r: &Request| {
                r.method == "GET" && r.path == ISVC && gets.fetch_add(1, Ordering::SeqCst) >= 2
            })
        }
        Step::Weight50 => Box::new(|r: &Request| percent_write(r) == Some(50)),
        Step::Promote => Box::new(|r: &Request| r.method == "PATCH" && r.body.contains("remove")),
        Step::Rollback => Box::new(|r: &Request| percent_write(r) == Some(0)),
        Step::Check => Box::new(|_: &Request| false),
    }
}

// ---------- a Prometheus double with per-request faults ----------

/// Answers instant queries with `value`; request n (from 0) gets `fault(n)` instead when set.
struct Prom {
    url: String,
    seen: Arc<AtomicUsize>,
    _server: Arc<tiny_http::Server>,
}

type PromFault = Arc<dyn Fn(usize) -> Option<Kind> + Send + Sync>;

impl Prom {
    fn start(value: f64, fault: PromFault) -> Prom {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let (s, n) = (server.clone(), seen.clone());
        std::thread::spawn(move || {
            for rq in s.incoming_requests() {
                let i = n.fetch_add(1, Ordering::SeqCst);
                let f = fault(i);
                std::thread::spawn(move || prom_answer(rq, value, f));
            }
        });
        Prom {
            url,
            seen,
            _server: server,
        }
    }
}

fn prom_answer(rq: tiny_http::Request, value: f64, fault: Option<Kind>) {
    use std::io::Write;
    let ok = json!({"status": "success", "data": {"resultType": "vector",
        "result": [{"metric": {}, "value": [1_767_225_600.0, value.to_string()]}]}});
    let err = |t: &str| json!({"status": "error", "errorType": t, "error": "injected"});
    let (code, body, retry_after) = match fault {
        None => (200, ok, None),
        Some(Kind::S500) => (500, err("internal"), None),
        Some(Kind::S503RetryAfter) => (503, err("unavailable"), Some("1")),
        Some(Kind::S429) => (429, err("too_many_requests"), None),
        Some(Kind::S409) => (409, err("conflict"), None),
        Some(Kind::NotJson | Kind::Empty | Kind::Other) => {
            unreachable!("read faults are for Kubernetes reads")
        }
        Some(Kind::Malformed) => {
            let h = "Content-Type: application/json".parse::<tiny_http::Header>();
            let _ = rq.respond(
                tiny_http::Response::from_string("{\"status\": \"succ").with_header(h.unwrap()),
            );
            return;
        }
        Some(Kind::Timeout) => {
            std::thread::sleep(HANG);
            (200, ok, None)
        }
        Some(Kind::Refused) => {
            // Per request a listener cannot refuse; break the exchange instead (refusal proper
            // is the "provider down" case with no listener at all).
            let mut w = rq.into_writer();
            let _ = w.write_all(b"HTTP/1.1 ???\r\n\r\n");
            return;
        }
    };
    let mut resp = tiny_http::Response::from_string(body.to_string())
        .with_status_code(code)
        .with_header(
            "Content-Type: application/json"
                .parse::<tiny_http::Header>()
                .unwrap(),
        );
    if let Some(s) = retry_after {
        resp.add_header(tiny_http::Header::from_bytes(&b"Retry-After"[..], s.as_bytes()).unwrap());
    }
    let _ = rq.respond(resp);
}

fn provider(address: &str) -> SharedProvider {
    Arc::new(PrometheusProvider::new(PrometheusOptions {
        address: address.into(),
        headers: BTreeMap::new(),
        bearer_token_env: None,
        timeout: TIMEOUT,
    }))
}

/// An address where nothing listens: connections are refused.
fn dead_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    format!("http://{a}")
}

// ---------- the Kubernetes side ----------

fn client(url: &str) -> Client {
    kube::quick_client(url, TIMEOUT)
}

/// Sends requests a predicate picks to an address where nothing listens (connection refused,
/// through the real client and its retries), the rest to the server.
struct Refusing {
    live: LiveKube,
    dead: LiveKube,
    pred: Box<dyn Fn(&Request) -> bool + Send + Sync>,
    times: usize,
}

impl Refusing {
    fn pick(
        &mut self,
        method: &str,
        path: &str,
        kind: Option<&PatchKind>,
        body: Option<&Value>,
        dry_run: bool,
    ) -> bool {
        let content_type = match kind {
            Some(PatchKind::Json) => "application/json-patch+json",
            Some(PatchKind::Merge) => "application/merge-patch+json",
            Some(PatchKind::Apply { .. }) => "application/apply-patch+yaml",
            None => "",
        };
        let r = Request {
            method: method.into(),
            path: path.into(),
            query: if dry_run {
                "dryRun=All".into()
            } else {
                String::new()
            },
            content_type: content_type.into(),
            body: body.map(Value::to_string).unwrap_or_default(),
            authorization: None,
            fault: None,
            at: std::time::SystemTime::now(),
        };
        if self.times > 0 && (self.pred)(&r) {
            self.times -= 1;
            return true;
        }
        false
    }
}

impl KubeApi for Refusing {
    fn get(&mut self, path: &str) -> Result<Option<Value>, PlatformError> {
        if self.pick("GET", path, None, None, false) {
            return self.dead.get(path);
        }
        self.live.get(path)
    }
    fn patch(
        &mut self,
        path: &str,
        kind: &PatchKind,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, PlatformError> {
        if self.pick("PATCH", path, Some(kind), Some(body), dry_run) {
            return self.dead.patch(path, kind, body, dry_run);
        }
        self.live.patch(path, kind, body, dry_run)
    }
    fn delete(&mut self, path: &str) -> Result<(), PlatformError> {
        self.live.delete(path)
    }
    fn field_manager(&self) -> &str {
        self.live.field_manager()
    }
}

fn kube_fault(kind: Kind) -> Fault {
    match kind {
        Kind::S500 => Fault::Status(500),
        Kind::S503RetryAfter => Fault::RetryAfter(503, 1),
        Kind::S429 => Fault::Status(429),
        Kind::S409 => Fault::Status(409),
        // The answer never comes (within the run): the request is neither answered nor applied.
        Kind::Timeout => Fault::Hang(NEVER),
        Kind::Malformed => Fault::Body("{\"kind\": \"InferenceSer".into()),
        Kind::NotJson => Fault::Body("<html><body>Sign in</body></html>".into()),
        Kind::Empty => Fault::Body("{}".into()),
        Kind::Other => Fault::Body(
            json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": "other", "namespace": "ml", "generation": 1, "resourceVersion": "1"},
                "spec": {"predictor": {"canaryTrafficPercent": 0}}})
            .to_string(),
        ),
        Kind::Refused => unreachable!("refusal is routed by the client side"),
    }
}

// ---------- one case ----------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Kserve,
    Seldon,
}

struct Case {
    platform: Target,
    step: Step,
    kind: Kind,
    times: usize,
    /// SIGTERM (the run's cancel) as soon as the faulted request reaches the server.
    signal: bool,
}

/// The fault a signal case holds a write with: no answer at all, or `Retry-After: 119`.
fn held_write(kind: Kind) -> Fault {
    match kind {
        Kind::Timeout => Fault::Hang(NEVER),
        _ => Fault::RetryAfter(503, 119),
    }
}

/// What the server holds after the run.
struct Truth {
    /// The new version serves everyone and no canary setting is left.
    promoted: bool,
    /// The stable version serves everyone.
    rolled_back: bool,
    /// Live traffic per revision (KServe) or predictor (Seldon).
    split: BTreeMap<String, u32>,
    /// The canary's percent, where the spec has one.
    canary_percent: Option<u64>,
}

struct Ended {
    record: RunRecord,
    truth: Truth,
}

fn seed(platform: Target, server: &KubeServer) {
    match platform {
        Target::Kserve => {
            server.insert(
                ISVC,
                json!({"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v1"}}}}),
            );
            server.tick();
            server.tick();
        }
        Target::Seldon => {
            server.insert(
                SDEP,
                json!({"spec": {"predictors": [{"name": "main", "traffic": 100, "replicas": 1,
                    "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "s3://m/v1"}}]}}),
            );
            server.tick();
        }
    }
}

fn truth(platform: Target, server: &KubeServer) -> Truth {
    let mut split = BTreeMap::new();
    match platform {
        Target::Kserve => {
            let obj = server.object(ISVC).unwrap();
            for t in obj["status"]["components"]["predictor"]["traffic"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let rev = t["revisionName"].as_str().unwrap_or("?").to_string();
                *split.entry(rev).or_insert(0) += t["percent"].as_u64().unwrap_or(0) as u32;
            }
            let canary_percent = obj["spec"]["predictor"]["canaryTrafficPercent"].as_u64();
            Truth {
                promoted: canary_percent.is_none() && split.get("fd-predictor-00002") == Some(&100),
                rolled_back: canary_percent == Some(0)
                    && split.get("fd-predictor-00001") == Some(&100),
                split,
                canary_percent,
            }
        }
        Target::Seldon => {
            let obj = server.object(SDEP).unwrap();
            let preds = obj["spec"]["predictors"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let live: Vec<&Value> = preds.iter().filter(|p| p["shadow"] != true).collect();
            for p in &live {
                let default = if live.len() == 1 { 100 } else { 0 };
                let n = p["traffic"].as_u64().unwrap_or(default) as u32;
                split.insert(p["name"].as_str().unwrap_or("?").to_string(), n);
            }
            let main = preds.iter().find(|p| p["name"] == "main");
            let main_uri = main
                .and_then(|m| m["graph"]["modelUri"].as_str())
                .unwrap_or("");
            let canary_percent = preds
                .iter()
                .find(|p| p["name"] == "canary")
                .map(|p| p["traffic"].as_u64().unwrap_or(0));
            Truth {
                promoted: preds.len() == 1
                    && main_uri == "s3://m/v2"
                    && split.get("main") == Some(&100),
                rolled_back: main_uri == "s3://m/v1"
                    && split.get("main") == Some(&100)
                    && canary_percent.unwrap_or(0) == 0,
                split,
                canary_percent,
            }
        }
    }
}

fn run_case(case: &Case) -> Ended {
    let platform = match case.platform {
        Target::Kserve => "kserve",
        Target::Seldon => "seldon, stableModelUri: \"s3://m/v1\"",
    };
    let c: Config = load_str("c.yaml", &CONFIG.replace("PLATFORM", platform), None).unwrap();
    let server = Arc::new(KubeServer::start());
    server.set_ready_after(1);
    seed(case.platform, &server);
    // A failing canary for the rollback step (rollback must happen to be faulted).
    let value = if case.step == Step::Rollback {
        0.5
    } else {
        0.001
    };
    let prom_fault: PromFault = match (case.step, case.kind, case.times) {
        (Step::Check, k, ALWAYS) => Arc::new(move |n| (n >= 1).then_some(k)),
        (Step::Check, k, _) => Arc::new(move |n| (n == 1).then_some(k)),
        _ => Arc::new(|_| None),
    };
    let prom = Prom::start(value, prom_fault);
    let prom_url = if case.step == Step::Check && case.kind == Kind::Refused && case.times == ALWAYS
    {
        dead_address() // the provider is down for good: nothing listens
    } else {
        prom.url.clone()
    };
    let cancel = Cancel::new();
    let mut live = LiveKube::from_client(client(&server.url), "mlcanary");
    if case.signal {
        live = live.interruptible_by(cancel.clone());
        server.inject(
            kube_pred(case.platform, case.step),
            held_write(case.kind),
            case.times,
        );
        let (server, on_signal) = (Arc::clone(&server), cancel.clone());
        std::thread::spawn(move || {
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_secs(60) {
                if server.requests().iter().any(|r| r.fault.is_some()) {
                    std::thread::sleep(Duration::from_millis(100));
                    on_signal.cancel();
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }
    let api: Box<dyn KubeApi> = if case.signal {
        Box::new(live)
    } else if case.kind == Kind::Refused && case.step != Step::Check {
        Box::new(Refusing {
            live,
            dead: LiveKube::from_client(client(&dead_address()), "mlcanary"),
            pred: kube_pred(case.platform, case.step),
            times: case.times,
        })
    } else {
        if case.step != Step::Check {
            server.inject(
                kube_pred(case.platform, case.step),
                kube_fault(case.kind),
                case.times,
            );
        }
        Box::new(live)
    };
    let plan = Plan::for_run(&c);
    let renderer = Renderer::new(None).unwrap();
    let rendered = build::render_run(&c, &plan, &renderer, &Default::default()).unwrap();
    // Signal cases bound writes on the wall clock: virtual time starts now, so the run's
    // deadline (virtual) is not already past in real time.
    let start = match case.signal {
        true => mlcanary::rollout::clock::Clock::now_ms(&mlcanary::rollout::clock::SystemClock),
        false => 1_767_225_600_000,
    };
    let clock = VirtualClock::new(start);
    let driver = Driver {
        config: &c,
        plan,
        platform: build::kube_platform(&c, api, &rendered),
        providers: BTreeMap::from([("prom".to_string(), provider(&prom_url))]),
        renderer: &renderer,
        clock: &clock,
        cancel,
        env: Default::default(),
        rendered,
    };
    let t = std::time::Instant::now();
    let record = driver.run(&mut Quiet);
    if case.signal {
        // The runner kills ~10 s after the signal; the run must be over well before.
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }
    let _ = prom.seen.load(Ordering::SeqCst);
    Ended {
        record,
        truth: truth(case.platform, &server),
    }
}

/// Consistency of a finished run with the server; Err says what does not match.
fn consistent(e: &Ended) -> Result<(), String> {
    let (r, t) = (&e.record, &e.truth);
    let rolled_back = match &r.outcome {
        Outcome::Promoted if t.promoted => return Ok(()),
        Outcome::Promoted => {
            return Err(format!(
                "promoted, but the server has split {:?}, canary {:?}",
                t.split, t.canary_percent
            ))
        }
        Outcome::RolledBack { .. } => true,
        Outcome::Failed { rolled_back, .. } | Outcome::Interrupted { rolled_back } => *rolled_back,
        Outcome::Inconclusive { .. } => false,
    };
    if rolled_back {
        if !t.rolled_back {
            return Err(format!(
                "rolled back, but the server has split {:?}, canary {:?}",
                t.split, t.canary_percent
            ));
        }
        return Ok(());
    }
    // Traffic left where it was: the report must name it exactly.
    match r.traffic.as_ref().map(|x| &x.split) {
        Some(s) if *s == t.split => Ok(()),
        Some(s) => Err(format!("report names {s:?}, the server has {:?}", t.split)),
        None if Some(r.final_weight as u64) == t.canary_percent => Ok(()),
        None => Err(format!(
            "no split in the report ({:?}); last applied {}%, the server has {:?}",
            r.traffic_error, r.final_weight, t.canary_percent
        )),
    }
}

/// What the issue promises beyond consistency, where it promises something: a fault the
/// client's retries absorb (or a single 409 on a guarded write, recomputed) leaves the run as if
/// nothing happened; the provider down for a whole stage rolls back on `errorLimit`; a single
/// fault on the rollback is retried until it lands; a rollback that keeps failing exits 3 naming
/// the split once time runs out.
fn as_promised(case: &Case, e: &Ended) -> Result<(), String> {
    let o = &e.record.outcome;
    // A single 409 on a guarded traffic write is re-read and recomputed, not final.
    let recomputed = case.kind == Kind::S409
        && matches!(case.step, Step::Weight50 | Step::Promote | Step::Rollback);
    let retried = (matches!(
        case.kind,
        Kind::S500 | Kind::S503RetryAfter | Kind::S429 | Kind::Timeout
    ) || recomputed)
        && case.times == 1;
    if case.signal {
        return match o {
            Outcome::Interrupted { rolled_back: true } => Ok(()),
            o => Err(format!("a signal during a held write: {o:?}")),
        };
    }
    let ok = match (case.step, case.times) {
        // A GET is safe to repeat: every bad answer to it once is absorbed.
        (Step::ReadAfterReady, 1) => *o == Outcome::Promoted,
        (Step::Check, ALWAYS) => o.reason().is_some_and(|r| r.contains("errorLimit")),
        (Step::Check, _) => *o == Outcome::Promoted,
        (Step::Rollback, ALWAYS) => {
            matches!(
                o,
                Outcome::Failed {
                    rolled_back: false,
                    ..
                }
            ) && e.record.traffic.as_ref().map(|t| t.split.clone())
                == Some(BTreeMap::from([
                    ("fd-predictor-00001".to_string(), 90),
                    ("fd-predictor-00002".to_string(), 10),
                ]))
        }
        // Any single fault on the rollback: it is retried while time remains, and lands.
        (Step::Rollback, _) => matches!(o, Outcome::RolledBack { .. }),
        (_, _) if retried => *o == Outcome::Promoted,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("not as promised: {o:?}"))
    }
}

/// (case name, consistency verdict, outcome label, exit code).

#[test]
fn every_fault_at_every_step_ends_consistent() {
    let mut cases = Vec::new();
    for (platform, steps) in [
        (Target::Kserve, &STEPS[..]),
        (Target::Seldon, &[Step::Weight50][..]),
    ] {
        for &step in steps {
            for kind in KINDS {
                for times in [1, ALWAYS] {
                    cases.push(Case {
                        platform,
                        step,
                        kind,
                        times,
                        signal: false,
                    });
                }
            }
        }
    }
    for kind in READ_KINDS {
        for times in [1, ALWAYS] {
            cases.push(Case {
                platform: Target::Kserve,
                step: Step::ReadAfterReady,
                kind,
                times,
                signal: false,
            });
        }
    }
    for step in [Step::Weight50, Step::Promote] {
        for kind in [Kind::Timeout, Kind::S503RetryAfter] {
            for times in [1, ALWAYS] {
                cases.push(Case {
                    platform: Target::Kserve,
                    step,
                    kind,
                    times,
                    signal: true,
                });
            }
        }
    }
    matrix::run("fault matrix", cases, one);
}

/// Run one case and judge it.
fn one(case: &Case) -> matrix::CaseResult {
    let name = format!(
        "{:?} {:?} {:?} {}{}",
        case.platform,
        case.step,
        case.kind,
        matrix::times_word(case.times == ALWAYS),
        if case.signal { " +signal" } else { "" }
    );
    let ended = run_case(case);
    let verdict = consistent(&ended).and_then(|_| as_promised(case, &ended));
    let code = ended.record.outcome.exit_code();
    (name, verdict, matrix::label(&ended.record.outcome), code)
}
