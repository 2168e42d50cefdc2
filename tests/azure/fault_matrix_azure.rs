//! The fault matrix for Azure ML: a whole rollout (10% -> 50% -> promote) driven in-process over
//! the real ARM and Log Analytics clients against the Azure fakes, with one fault injected at one
//! step per case: HTTP 500, 503 with `Retry-After`, 429, 409, a connection broken off without an
//! answer (what a refused or reset connection looks like to the client), an answer that never
//! comes, a malformed body; once (the client's retries should absorb it) and for good. Steps: the
//! canary deployment PUT (prepare), the first provisioning poll (GET deployment), the first
//! long-running-operation poll, the endpoint GET and PUT of the 50% change, a Log Analytics
//! query, an Azure Monitor query, the promoting PUT, and the rollback PUT (in a run whose
//! guardrail fails).
//!
//! Whatever happens, the run must end consistent with the fake endpoint: promoted -> green has
//! 100%; rolled back -> blue has 100%; otherwise (exit 3) the report names the split left behind
//! and it equals the endpoint's.
use crate::support::azure;
use crate::support::matrix;

use azure::http::Req;
use azure::{wire, ArmFault, FakeAzure, World, WORKSPACE_ID};
use mlcanary::clients::azure::{ArmClient, PollPolicy};
use mlcanary::clients::http::{agent, AgentOptions};
use mlcanary::config::{load_str, Config};
use mlcanary::core::machine::Outcome;
use mlcanary::core::plan::Plan;
use mlcanary::metrics::azure_monitor::AzureMonitor;
use mlcanary::metrics::log_analytics::LogAnalytics;
use mlcanary::platform::azureml::AzureMl;
use mlcanary::render::Renderer;
use mlcanary::report::record::RunRecord;
use mlcanary::rollout::build;
use mlcanary::rollout::clock::{Cancel, VirtualClock};
use mlcanary::rollout::driver::{Driver, Quiet, SharedProvider};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Client timeout; a hung answer takes longer than this.
const TIMEOUT: Duration = Duration::from_millis(300);
/// An answer that never comes (within the run): the request is neither answered nor applied.
const NEVER: Duration = Duration::from_secs(3600);
const ALWAYS: usize = usize::MAX;

const CONFIG: &str = r#"
apiVersion: mlcanary/v1
name: fraud
model: {uri: "azureml:fraud:2", version: "2"}
target:
  platform: azureml
  subscriptionId: SUB
  resourceGroup: rg-ml
  workspace: ws-ml
  endpoint: fraud
  stableDeployment: blue
  canaryDeployment: green
  location: westeurope
  deployment: {model: "azureml:fraud:2", environment: "azureml:sklearn-env:3", instanceType: Standard_DS3_v2, instanceCount: 1}
stages: [{weight: 10, pause: 2m}, {weight: 50, pause: 2m}]
analysis: {interval: 1m, warmup: 0s, errorLimit: 1, inconclusiveLimit: 2, deadline: 2h}
providers:
  azmon: {type: azure-monitor}
  logs: {type: log-analytics, workspaceId: WORKSPACE}
guardrails:
  - {name: error-rate, provider: logs, query: "AmlOnlineEndpointTrafficLog | where DeploymentName == '{{ canary.name }}' | project rate", promote: "< 1%", rollback: "> 2%"}
  - {name: p99, provider: azmon, query: RequestLatency_P99, aggregation: Average, promote: "< 200", rollback: "> 500"}
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

fn fault(kind: Kind) -> ArmFault {
    match kind {
        Kind::S500 => ArmFault::Status(500),
        Kind::S503RetryAfter => ArmFault::RetryAfter(503, 1),
        Kind::S429 => ArmFault::RetryAfter(429, 2),
        Kind::S409 => ArmFault::Status(409),
        Kind::Refused => ArmFault::Broken,
        Kind::Timeout => ArmFault::Hang(NEVER),
        Kind::Malformed => ArmFault::Malformed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// PUT of the canary deployment.
    Prepare,
    /// GET of the canary deployment (provisioning poll).
    ReadyPoll,
    /// GET of a long-running operation's status.
    LroPoll,
    /// The endpoint GET that starts the 50% change.
    Weight50Get,
    /// The endpoint PUT giving green 50%.
    Weight50Put,
    /// A Log Analytics query (the second on).
    CheckLogs,
    /// An Azure Monitor metrics query (the second on).
    CheckMetrics,
    /// The endpoint PUT giving green 100%.
    Promote,
    /// The endpoint PUT giving green 0% (the canary is bad).
    Rollback,
}

const STEPS: [Step; 9] = [
    Step::Prepare,
    Step::ReadyPoll,
    Step::LroPoll,
    Step::Weight50Get,
    Step::Weight50Put,
    Step::CheckLogs,
    Step::CheckMetrics,
    Step::Promote,
    Step::Rollback,
];

fn green(traffic: Option<&Value>) -> Option<u64> {
    traffic?.get("green")?.as_u64()
}

/// Which requests a step is made of.
fn pred(step: Step, endpoint: String) -> impl FnMut(&Req, &World) -> bool + Send + 'static {
    let mut seen = 0usize;
    move |r: &Req, w: &World| {
        let put_green = |n: u64| {
            r.method == "PUT"
                && r.path == endpoint
                && green(
                    r.json()
                        .as_ref()
                        .and_then(|b| b.pointer("/properties/traffic")),
                ) == Some(n)
        };
        match step {
            Step::Prepare => r.method == "PUT" && r.path.ends_with("/deployments/green"),
            Step::ReadyPoll => r.method == "GET" && r.path.ends_with("/deployments/green"),
            Step::LroPoll => r.path.contains("/mfeOperationsStatus/"),
            Step::Weight50Get => {
                r.method == "GET"
                    && r.path == endpoint
                    && green(w.endpoints[&endpoint].pointer("/properties/traffic")) == Some(10)
            }
            Step::Weight50Put => put_green(50),
            Step::Promote => put_green(100),
            Step::Rollback => put_green(0),
            Step::CheckLogs | Step::CheckMetrics => {
                let hit = if step == Step::CheckLogs {
                    r.path.starts_with("/la/")
                } else {
                    r.path.ends_with("/providers/Microsoft.Insights/metrics")
                };
                if !hit {
                    return false;
                }
                seen += 1;
                seen >= 2
            }
        }
    }
}

struct Case {
    step: Step,
    kind: Kind,
    times: usize,
}

/// What the fake endpoint holds after the run.
struct Truth {
    split: BTreeMap<String, u32>,
}

impl Truth {
    fn get(&self, d: &str) -> u32 {
        self.split.get(d).copied().unwrap_or(0)
    }
    fn promoted(&self) -> bool {
        self.get("green") == 100
    }
    fn rolled_back(&self) -> bool {
        self.get("blue") == 100
    }
}

struct Ended {
    record: RunRecord,
    truth: Truth,
}

fn fake(bad_canary: bool) -> FakeAzure {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let mut w = fake.world();
    let metric = |dep: &str, v: f64| {
        (
            ("RequestLatency_P99".to_string(), dep.to_string()),
            vec![Some(v * 0.9), Some(v), None],
        )
    };
    w.metric_points
        .extend([metric("green", 120.0), metric("blue", 95.0)]);
    let table = |rate: f64| {
        json!({"tables": [{"name": "PrimaryResult",
            "columns": [{"name": "rate", "type": "real"}], "rows": [[rate]]}]})
    };
    let rate = if bad_canary { 0.5 } else { 0.001 };
    w.la_by_deployment.insert("green".into(), table(rate));
    w.la_by_deployment.insert("blue".into(), table(0.001));
    drop(w);
    fake
}

/// ARM and Log Analytics clients with a short timeout and millisecond delays.
fn clients(fake: &FakeAzure) -> (ArmClient, ArmClient) {
    let cred = wire::credential(fake, &wire::secret_env());
    let s = wire::settings(fake);
    let a = agent(&AgentOptions {
        timeout: TIMEOUT,
        connect_timeout: TIMEOUT,
    });
    let policy = PollPolicy {
        max_retries: 3,
        ..PollPolicy::fast()
    };
    let arm = ArmClient::new(
        a.clone(),
        &s.arm_url(&BTreeMap::new()),
        &s.arm_scope(),
        cred.clone(),
        policy.clone(),
    );
    let la = ArmClient::new(
        a,
        &s.log_analytics_url(),
        &s.log_analytics_scope(),
        cred,
        policy,
    );
    (arm, la)
}

fn run_case(case: &Case) -> Ended {
    let fake = fake(case.step == Step::Rollback);
    let text = CONFIG
        .replace("SUB", azure::SUB)
        .replace("WORKSPACE", WORKSPACE_ID);
    let c: Config = load_str("c.yaml", &text, None).unwrap();
    let endpoint = fake.endpoint_path("fraud");
    fake.inject(
        pred(case.step, endpoint.clone()),
        fault(case.kind),
        case.times,
    );
    let (arm, la) = clients(&fake);
    let plan = Plan::for_run(&c);
    let renderer = Renderer::new(None).unwrap();
    let rendered = build::render_run(&c, &plan, &renderer, &Default::default()).unwrap();
    let body = rendered.azure_deployment.clone();
    let platform = AzureMl::new(
        arm.clone(),
        mlcanary::platform::azureml::AzureMlTarget::from_config(&c),
        body,
    );
    let providers: BTreeMap<String, SharedProvider> = BTreeMap::from([
        (
            "azmon".to_string(),
            Arc::new(AzureMonitor::new(arm, &endpoint)) as SharedProvider,
        ),
        (
            "logs".to_string(),
            Arc::new(LogAnalytics::new(la, WORKSPACE_ID)) as SharedProvider,
        ),
    ]);
    let clock = VirtualClock::new(1_767_225_600_000);
    let driver = Driver {
        config: &c,
        plan,
        platform: Box::new(platform),
        providers,
        renderer: &renderer,
        clock: &clock,
        cancel: Cancel::new(),
        env: Default::default(),
        rendered,
    };
    let record = driver.run(&mut Quiet);
    let w = fake.world();
    let split = w.endpoints[&endpoint]
        .pointer("/properties/traffic")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0) as u32))
                .collect()
        })
        .unwrap_or_default();
    Ended {
        record,
        truth: Truth { split },
    }
}

/// Consistency of a finished run with the fake endpoint; Err says what does not match.
fn consistent(e: &Ended) -> Result<(), String> {
    let (r, t) = (&e.record, &e.truth);
    let rolled_back = match &r.outcome {
        Outcome::Promoted if t.promoted() => return Ok(()),
        Outcome::Promoted => return Err(format!("promoted, but the endpoint has {:?}", t.split)),
        Outcome::RolledBack { .. } => true,
        Outcome::Failed { rolled_back, .. } | Outcome::Interrupted { rolled_back } => *rolled_back,
        Outcome::Inconclusive { .. } => false,
    };
    if rolled_back {
        if !t.rolled_back() {
            return Err(format!("rolled back, but the endpoint has {:?}", t.split));
        }
        return Ok(());
    }
    // Traffic left where it was: the report must name it exactly.
    match r.traffic.as_ref().map(|x| &x.split) {
        Some(s) if *s == t.split => Ok(()),
        Some(s) => Err(format!(
            "report names {s:?}, the endpoint has {:?}",
            t.split
        )),
        None if r.final_weight == t.get("green") => Ok(()),
        None => Err(format!(
            "no split in the report ({:?}); last applied {}%, the endpoint has {:?}",
            r.traffic_error, r.final_weight, t.split
        )),
    }
}

/// What the issue promises beyond consistency: a fault the client's retries absorb leaves the
/// run as if nothing happened; a provider failing for a whole stage rolls back on `errorLimit`;
/// a rollback that keeps failing exits 3 naming the split.
fn as_promised(case: &Case, e: &Ended) -> Result<(), String> {
    let o = &e.record.outcome;
    // One 409 on an endpoint PUT (another operation running) is retried after a re-read.
    let endpoint_put = matches!(
        case.step,
        Step::Weight50Put | Step::Promote | Step::Rollback
    );
    let retried = case.times == 1
        && (matches!(
            case.kind,
            Kind::S500
                | Kind::S503RetryAfter
                | Kind::S429
                | Kind::Timeout
                | Kind::Refused
                | Kind::Malformed
        ) || (case.kind == Kind::S409 && endpoint_put));
    let ok = match (case.step, case.times) {
        (Step::CheckLogs | Step::CheckMetrics, ALWAYS) => {
            o.reason().is_some_and(|r| r.contains("errorLimit"))
        }
        (Step::CheckLogs | Step::CheckMetrics, _) => *o == Outcome::Promoted,
        (Step::Rollback, ALWAYS) => {
            matches!(
                o,
                Outcome::Failed {
                    rolled_back: false,
                    ..
                }
            ) && e.record.traffic.as_ref().map(|t| t.split.clone())
                == Some(BTreeMap::from([
                    ("blue".to_string(), 90),
                    ("green".to_string(), 10),
                ]))
        }
        (Step::Rollback, _) if retried => matches!(o, Outcome::RolledBack { .. }),
        (_, _) if retried => *o == Outcome::Promoted,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("not as promised: {o:?}"))
    }
}

/// (case name, verdict, outcome label, exit code).

#[test]
fn every_fault_at_every_azure_step_ends_consistent() {
    let mut cases = Vec::new();
    for step in STEPS {
        for kind in KINDS {
            for times in [1, ALWAYS] {
                cases.push(Case { step, kind, times });
            }
        }
    }
    matrix::run("azure fault matrix", cases, one);
}

/// Run one case and judge it.
fn one(case: &Case) -> matrix::CaseResult {
    let name = format!(
        "{:?} {:?} {}",
        case.step,
        case.kind,
        matrix::times_word(case.times == ALWAYS)
    );
    let ended = run_case(case);
    let verdict = consistent(&ended).and_then(|_| as_promised(case, &ended));
    let code = ended.record.outcome.exit_code();
    (name, verdict, matrix::label(&ended.record.outcome), code)
}
