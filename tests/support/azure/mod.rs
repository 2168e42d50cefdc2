//! Local fakes of the Azure services mlcanary talks to, behaving as the real ones do for what it
//! uses: Entra ID's token endpoint (HTTPS, as the SDK insists), GitHub's OIDC ID-token endpoint,
//! ARM for Azure ML online endpoints/deployments with long-running operations, Azure Monitor
//! metrics and Log Analytics queries. One shared [`World`] holds their state so tests can seed it,
//! inject faults (412, 429, or any [`ArmFault`] on the requests a predicate picks) and inspect
//! what happened.

#![allow(dead_code)]

pub mod arm;
pub mod entra;
pub mod http;
pub mod insights;
pub mod spec;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A fault answered instead of (or before) the real answer to an ARM / insights request.
#[derive(Debug, Clone, PartialEq)]
pub enum ArmFault {
    /// This status with ARM's `{"error":{...}}` body; nothing is applied.
    Status(u16),
    /// This status with `Retry-After: secs`; nothing is applied.
    RetryAfter(u16, u32),
    /// The connection is broken off without an answer; nothing is applied.
    Broken,
    /// The answer comes only after this long (then the request is handled as usual).
    Hang(Duration),
    /// 200 with a truncated JSON body; nothing is applied.
    Malformed,
}

impl ArmFault {
    fn answer(&self) -> http::Resp {
        let (code, text) = match self {
            ArmFault::Status(409) | ArmFault::RetryAfter(409, _) => (
                "Conflict",
                "The request failed due to conflict with a concurrent request.",
            ),
            ArmFault::Status(429) | ArmFault::RetryAfter(429, _) => {
                ("TooManyRequests", "The request is being throttled.")
            }
            ArmFault::Status(503) | ArmFault::RetryAfter(503, _) => (
                "ServiceUnavailable",
                "The service is temporarily unavailable.",
            ),
            _ => ("InternalServerError", "Encountered internal server error."),
        };
        match self {
            ArmFault::Status(s) => arm::arm_error(*s, code, text),
            ArmFault::RetryAfter(s, secs) => {
                arm::arm_error(*s, code, text).with("Retry-After", &secs.to_string())
            }
            ArmFault::Broken => http::Resp::broken(),
            ArmFault::Malformed => http::Resp {
                status: 200,
                headers: vec![(
                    "Content-Type".into(),
                    "application/json; charset=utf-8".into(),
                )],
                body: "{\"id\": \"/subscriptions/".into(),
            },
            ArmFault::Hang(_) => unreachable!("a hang is answered late, not instead"),
        }
    }
}

/// Picks the requests a fault applies to; sees the world as it is before the request.
pub type FaultPred = Box<dyn FnMut(&http::Req, &World) -> bool + Send>;

struct Injected {
    pred: FaultPred,
    fault: ArmFault,
    times: usize,
}

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";
pub const CLIENT_SECRET: &str = "Sup3r~Secr3t.Value-DoNotPrint";
pub const OIDC_REQUEST_TOKEN: &str = "gh-request-token-DoNotPrint";
pub const SUB: &str = "00000000-1111-2222-3333-444444444444";
pub const WORKSPACE_ID: &str = "ffffffff-eeee-dddd-cccc-bbbbbbbbbbbb";

#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub scope: String,
    pub expires: Instant,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Set the resource's provisioningState to Succeeded/Failed when the operation ends.
    Provisioned(String),
    /// Remove the deployment when the operation ends.
    Delete(String),
}

impl Action {
    pub fn path(&self) -> &str {
        match self {
            Action::Provisioned(p) | Action::Delete(p) => p,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Op {
    pub polls_left: u32,
    /// `Err((status, code, message))`: the operation ends `status` (Failed or Canceled).
    pub outcome: Result<(), (String, String, String)>,
    pub action: Action,
    pub done: bool,
    /// The operation cannot end before this (slow operations, whoever looks).
    pub not_before: Instant,
}

/// How ARM answers a write that starts a long-running operation. ARM's RPC and the
/// Microsoft.MachineLearningServices swagger (`x-ms-long-running-operation-options`:
/// `final-state-via: original-uri` on the endpoint/deployment PUTs, `location` on PATCH and
/// DELETE) allow each of these; the Azure SDKs' ARM polling handles all of them, so must we.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Lro {
    /// 200/201 with `Azure-AsyncOperation` (what the service sends today).
    #[default]
    AsyncOperation,
    /// 201 (or 202 for PATCH/DELETE) with `Location` only.
    Location,
    /// 200/201 with `provisioningState: Updating|Creating` and no header at all: only the
    /// resource itself says when it is done.
    NoHeader,
}

#[derive(Debug, Default)]
pub struct World {
    pub arm_base: String,
    pub subscription: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub arm_scope: String,
    pub la_scope: String,
    pub expires_in: u64,
    pub tokens: Vec<Issued>,
    /// Form fields of every token request, secrets and assertions removed.
    pub token_requests: Vec<Vec<(String, String)>>,
    pub oidc_request_token: String,
    /// (JWT, audience) of every GitHub ID token handed out.
    pub oidc_issued: Vec<(String, String)>,
    pub endpoints: BTreeMap<String, Value>,
    pub etags: BTreeMap<String, u64>,
    pub deployments: BTreeMap<String, Value>,
    pub ops: BTreeMap<String, Op>,
    /// Endpoint PUTs that meet a concurrent change (the ETag moves just before them).
    pub conflicts_to_inject: u32,
    /// The same for endpoint PATCHes.
    pub patch_conflicts_to_inject: u32,
    pub throttles_to_inject: u32,
    /// "METHOD path -> status" of every ARM/insights request.
    pub log: Vec<String>,
    /// (metric, deployment) -> points (None = no value that minute).
    pub metric_points: BTreeMap<(String, String), Vec<Option<f64>>>,
    pub la_workspace: String,
    pub la_answer: Value,
    pub la_queries: Vec<String>,
    /// Log Analytics answers by deployment: a query naming `'green'` or `"green"` gets the
    /// `green` answer (else `la_answer`), so good and bad canaries can be told apart.
    pub la_by_deployment: BTreeMap<String, Value>,
    /// Operation polls before a deployment PUT ends (real deployments take minutes).
    pub deployment_polls: u32,
    /// Operation polls before an endpoint PUT ends.
    pub endpoint_polls: u32,
    /// The least time any operation takes (besides its polls).
    pub op_min_duration: Duration,
    /// The `If-Match` header of every endpoint PUT, in order.
    pub endpoint_put_if_match: Vec<Option<String>>,
    /// The `If-Match` header of every endpoint PATCH, in order.
    pub endpoint_patch_if_match: Vec<Option<String>>,
    /// `x-ms-client-request-id` of every ARM request, in order ("" when missing).
    pub client_request_ids: Vec<String>,
    pub serial: u64,
    /// How writes are answered (see [`Lro`]).
    pub lro: Lro,
    /// `Retry-After` seconds on operation answers (None: no header).
    pub retry_after: Option<u32>,
    /// A write to an endpoint while an operation on it (or on one of its deployments) runs is
    /// refused with 409, as the service does ("There is an operation in progress").
    pub conflict_while_busy: bool,
    /// The next endpoint operations end this way (`(status, code, message)`), in order.
    pub endpoint_op_failures: Vec<(String, String, String)>,
    /// Asset versions by "models/NAME" or "environments/NAME": (version, createdAt) in any order.
    pub asset_versions: BTreeMap<String, Vec<(String, String)>>,
    /// Traffic the endpoint really serves: what its last operation that Succeeded applied (an
    /// endpoint body shows the requested split as soon as the PUT is accepted).
    pub serving: BTreeMap<String, Value>,
}

/// The running fakes.
pub struct FakeAzure {
    pub world: Arc<Mutex<World>>,
    /// https base of the token endpoint (the authority host).
    pub authority: String,
    /// http base of ARM (also serves the OIDC request endpoint and Log Analytics under /la).
    pub arm: String,
    faults: Arc<Mutex<Vec<Injected>>>,
}

impl FakeAzure {
    /// ARM over plain HTTP (library tests that build clients directly).
    pub fn start() -> FakeAzure {
        FakeAzure::start_with(false)
    }

    /// ARM over HTTPS too, as the binary's config insists (`azure.endpoints` are all https).
    pub fn start_tls() -> FakeAzure {
        FakeAzure::start_with(true)
    }

    /// HTTPS fakes with endpoint `fraud` served by deployment `blue`, every operation finished at
    /// its first poll.
    pub fn start_fraud() -> FakeAzure {
        let fake = FakeAzure::start_tls();
        fake.seed_endpoint("fraud", "blue");
        let mut w = fake.world();
        w.deployment_polls = 0;
        w.endpoint_polls = 0;
        drop(w);
        fake
    }

    fn start_with(tls: bool) -> FakeAzure {
        http::trust_test_ca();
        let world = Arc::new(Mutex::new(World {
            tenant: TENANT.into(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            oidc_request_token: OIDC_REQUEST_TOKEN.into(),
            subscription: SUB.into(),
            expires_in: 3600,
            la_workspace: WORKSPACE_ID.into(),
            deployment_polls: 2,
            endpoint_polls: 1,
            retry_after: Some(1),
            ..Default::default()
        }));
        let w = world.clone();
        let authority = http::serve_https(Arc::new(move |req| {
            entra::token(&mut w.lock().unwrap(), req)
        }));
        let w = world.clone();
        let faults: Arc<Mutex<Vec<Injected>>> = Default::default();
        let f = faults.clone();
        let serve = if tls {
            http::serve_https
        } else {
            http::serve_http
        };
        let arm = serve(Arc::new(move |req| {
            let fault = {
                let world = w.lock().unwrap();
                let mut faults = f.lock().unwrap();
                faults.iter_mut().find_map(|i| {
                    (i.times > 0 && (i.pred)(req, &world)).then(|| {
                        i.times -= 1;
                        i.fault.clone()
                    })
                })
            };
            match fault {
                // Slept outside the lock: other requests go on meanwhile.
                Some(ArmFault::Hang(d)) => std::thread::sleep(d),
                Some(fault) => {
                    let resp = fault.answer();
                    w.lock().unwrap().log.push(format!(
                        "{} {} -> {} (injected)",
                        req.method, req.path, resp.status
                    ));
                    return resp;
                }
                None => {}
            }
            let mut world = w.lock().unwrap();
            let resp = if req.path.starts_with("/_apis/") {
                entra::github_id_token(&mut world, req)
            } else if req.path.starts_with("/la/v1/workspaces/") {
                insights::log_query(&mut world, req)
            } else if req.path.ends_with("/providers/Microsoft.Insights/metrics") {
                insights::metrics(&mut world, req)
            } else {
                arm::handle(&mut world, req)
            };
            world
                .log
                .push(format!("{} {} -> {}", req.method, req.path, resp.status));
            resp
        }));
        {
            let mut wd = world.lock().unwrap();
            wd.arm_base = arm.clone();
            wd.arm_scope = format!("{arm}/.default");
            wd.la_scope = format!("{arm}/la/.default");
            wd.scopes = vec![wd.arm_scope.clone(), wd.la_scope.clone()];
        }
        FakeAzure {
            world,
            authority,
            arm,
            faults,
        }
    }

    /// Answer `fault` to the next `times` ARM / insights requests `pred` picks (faults are tried
    /// in the order injected; the first that picks a request takes it).
    pub fn inject(
        &self,
        pred: impl FnMut(&http::Req, &World) -> bool + Send + 'static,
        fault: ArmFault,
        times: usize,
    ) {
        self.faults.lock().unwrap().push(Injected {
            pred: Box::new(pred),
            fault,
            times,
        });
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL` (it carries a query string, as GitHub's does).
    pub fn oidc_request_url(&self) -> String {
        format!(
            "{}/_apis/distributedtask/hubs/Actions/plans/p1/jobs/j1/idtoken?api-version=2.0",
            self.arm
        )
    }

    pub fn workspace_path(&self) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-ml")
    }

    pub fn endpoint_path(&self, endpoint: &str) -> String {
        format!("{}/onlineEndpoints/{endpoint}", self.workspace_path())
    }

    /// An endpoint with a Succeeded `stable` deployment holding 100% of traffic.
    pub fn seed_endpoint(&self, endpoint: &str, stable: &str) {
        let ep = self.endpoint_path(endpoint);
        let mut w = self.world();
        w.deployments.insert(
            format!("{ep}/deployments/{stable}"),
            json!({"id": format!("{ep}/deployments/{stable}"), "name": stable, "location": "westeurope",
                "sku": {"name": "Default", "capacity": 1},
                "properties": {"endpointComputeType": "Managed", "model": "azureml:fraud:1",
                    "instanceType": "Standard_DS3_v2", "provisioningState": "Succeeded"}}),
        );
        w.endpoints.insert(
            ep.clone(),
            json!({"id": ep, "name": endpoint, "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
                "location": "westeurope", "identity": {"type": "SystemAssigned"},
                "systemData": {"createdBy": "someone"},
                "properties": {"authMode": "Key", "traffic": {stable: 100}, "mirrorTraffic": {},
                    "provisioningState": "Succeeded", "scoringUri": format!("https://{endpoint}.westeurope.inference.ml.azure.com/score")}}),
        );
        w.serving.insert(ep.clone(), json!({stable: 100}));
        w.etags.insert(ep, 1);
    }

    /// The traffic the endpoint really serves (see [`World::serving`]).
    pub fn serving(&self, endpoint: &str) -> Value {
        let ep = self.endpoint_path(endpoint);
        self.world()
            .serving
            .get(&ep)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

/// A Log Analytics answer: one `PrimaryResult` table with one `rate` column and row.
pub fn rate_table(rate: f64) -> Value {
    json!({"tables": [{"name": "PrimaryResult",
        "columns": [{"name": "rate", "type": "real"}], "rows": [[rate]]}]})
}

/// The `mlcanary` binary run against the fakes, as a CI job runs it.
pub mod binary {
    use super::{CLIENT_ID, CLIENT_SECRET, TENANT};

    /// Environment variables a developer's or CI's shell may carry that would change a run.
    pub const SCRUBBED: [&str; 13] = [
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_ID_TOKEN",
        "MLCANARY_AZURE_ARM_URL",
        "GITLAB_CI",
        "RUST_LOG",
        "NO_COLOR",
    ];

    /// The client-secret credential's variables, for the fakes' tenant.
    pub const SECRET_VARS: [(&str, &str); 3] = [
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
    ];

    /// `mlcanary` without any [`SCRUBBED`] variable, trusting the fakes' test CA exactly as
    /// production trusts a private CA (`SSL_CERT_FILE`); the caller adds its variables and
    /// arguments.
    pub fn command() -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mlcanary"));
        for k in SCRUBBED {
            cmd.env_remove(k);
        }
        cmd.env("SSL_CERT_FILE", std::env::var("SSL_CERT_FILE").unwrap());
        cmd
    }
}

/// Helpers that wire mlcanary's Azure clients to the fakes.
pub mod wire {
    use super::*;
    use mlcanary::clients::azure::{ArmClient, AzureSettings, Cloud, Credential, PollPolicy};
    use mlcanary::clients::http::{agent, AgentOptions};

    pub fn settings(fake: &FakeAzure) -> AzureSettings {
        AzureSettings {
            cloud: Cloud::Custom {
                arm: fake.arm.clone(),
                authority: fake.authority.clone(),
                log_analytics: format!("{}/la", fake.arm),
            },
            ..Default::default()
        }
    }

    pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn secret_env() -> BTreeMap<String, String> {
        env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
        ])
    }

    pub fn credential(fake: &FakeAzure, env: &BTreeMap<String, String>) -> Arc<Credential> {
        Arc::new(
            Credential::from_settings(&settings(fake), env, agent(&AgentOptions::default()))
                .unwrap(),
        )
    }

    pub fn arm(fake: &FakeAzure, cred: Arc<Credential>) -> ArmClient {
        let s = settings(fake);
        ArmClient::new(
            agent(&AgentOptions::default()),
            &s.arm_url(&BTreeMap::new()),
            &s.arm_scope(),
            cred,
            PollPolicy::fast(),
        )
    }

    /// An endpoint as read, without what ARM computes (the fake refuses read-only properties).
    pub fn writable(mut ep: Value) -> Value {
        for k in ["id", "name", "type", "systemData"] {
            ep.as_object_mut().unwrap().remove(k);
        }
        let props = ep["properties"].as_object_mut().unwrap();
        props.remove("provisioningState");
        props.remove("scoringUri");
        ep
    }

    /// The endpoint `fraud` of workspace `ws-ml` with deployments blue (stable) and green.
    pub fn target(
        delete_old: bool,
        delete_canary: bool,
    ) -> mlcanary::platform::azureml::AzureMlTarget {
        mlcanary::platform::azureml::AzureMlTarget {
            subscription_id: SUB.into(),
            resource_group: "rg-ml".into(),
            workspace: "ws-ml".into(),
            endpoint: "fraud".into(),
            stable_deployment: "blue".into(),
            canary_deployment: "green".into(),
            delete_old_deployment: delete_old,
            delete_canary_on_rollback: delete_canary,
        }
    }

    pub fn log_analytics_client(fake: &FakeAzure, cred: Arc<Credential>) -> ArmClient {
        let s = settings(fake);
        ArmClient::new(
            agent(&AgentOptions::default()),
            &s.log_analytics_url(),
            &s.log_analytics_scope(),
            cred,
            PollPolicy::fast(),
        )
    }
}

/// A `log` logger that keeps every line, so tests can assert no secret is ever logged.
pub mod capture {
    use std::sync::{Mutex, OnceLock};

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            LINES
                .lock()
                .unwrap()
                .push(format!("{} {}: {}", r.level(), r.target(), r.args()));
        }
        fn flush(&self) {}
    }
    static CAPTURE: Capture = Capture;

    pub fn install() {
        static ONCE: OnceLock<()> = OnceLock::new();
        ONCE.get_or_init(|| {
            let _ = log::set_logger(&CAPTURE);
            log::set_max_level(log::LevelFilter::Trace);
        });
    }

    pub fn lines() -> Vec<String> {
        LINES.lock().unwrap().clone()
    }
}
