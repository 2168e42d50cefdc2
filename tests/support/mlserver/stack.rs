//! A KServe rollout on real model servers: MLServer v1 (stable, revision `fd-predictor-00001`) and
//! MLServer v2 (the canary, `fd-predictor-00002`), a real Prometheus scraping both servers'
//! `/metrics` with the revision as a target label, the Kubernetes API test server holding the
//! InferenceService (the e2e harness), the router splitting by the InferenceService's live traffic,
//! and the load generator sending ~20 req/s through it.
//!
//! Needs both harnesses in the binary's `support` module (tests/e2e/main.rs):
//!
//! ```ignore
//! use crate::support::mlserver::{self, stack};
//! let Some(s) = stack::Stack::start(mlserver::Variant::V2Unseen) else { return };
//! let run = s.env.run(&s.config(&stack::Plan::default()));
//! ```
#![allow(dead_code)]

use crate::support::e2e::{self, Env, Kind};
use crate::support::mlserver::load::{Load, Tally};
use crate::support::mlserver::router::{kserve_split, Router};
use crate::support::mlserver::{MlServer, Variant};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const STABLE_REVISION: &str = "fd-predictor-00001";
/// The revision the KServe controller creates for the new storageUri.
pub const CANARY_REVISION: &str = "fd-predictor-00002";
/// Requests per second of the load.
pub const RPS: f64 = 20.0;

/// Everything one scenario runs; stops when dropped (load first, then servers).
pub struct Stack {
    pub load: Load,
    pub router: Router,
    pub env: Env,
    pub stable: MlServer,
    pub canary: MlServer,
}

/// Stages and timing of the generated config.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stages: Vec<u32>,
    pub pause: &'static str,
    pub interval: &'static str,
    pub warmup: &'static str,
}

impl Default for Plan {
    /// Two short stages: 20% (4 req/s to the canary) then 50%, 16 s each, a check every 2 s.
    /// 16 s at 20%: the canary gets ~64 requests, ~6 of them in the category `V2Unseen` never
    /// saw (none at all: e^-6.4, about 0.2%).
    fn default() -> Plan {
        Plan {
            stages: vec![20, 50],
            pause: "16s",
            interval: "2s",
            warmup: "2s",
        }
    }
}

impl Stack {
    /// Starts both servers (in parallel), Prometheus, the API server with v1 serving, the router
    /// and the load, and waits until Prometheus has scraped the stable's served requests. `None`
    /// only on a local, opted-in skip.
    pub fn start(canary: Variant) -> Option<Stack> {
        let started = std::time::Instant::now();
        let second = std::thread::spawn(move || MlServer::start(canary));
        let stable = MlServer::start(Variant::V1);
        let canary = second.join().expect("MLServer start thread");
        let (stable, canary) = (stable?, canary?);
        let prom = e2e::prom::PromServer::start_labelled(&[
            (stable.metrics_addr(), &[("revision_name", STABLE_REVISION)]),
            (canary.metrics_addr(), &[("revision_name", CANARY_REVISION)]),
        ])?;
        let env = Env::with_prometheus(Kind::Kserve, prom)?;
        let backends = HashMap::from([
            (STABLE_REVISION.to_string(), stable.url()),
            (CANARY_REVISION.to_string(), canary.url()),
        ]);
        let (kube, path) = (env.kube.clone(), Kind::Kserve.path());
        let split = Arc::new(move || kserve_split(&kube.object(&path).unwrap_or(Value::Null)));
        let router = Router::start(backends, split);
        // Bounded: at most 2 minutes (the tests' rollouts take well under one).
        let load = Load::start(
            format!("{}/v2/models/fd/infer", router.url()),
            RPS,
            2400,
            Duration::from_secs(120),
        );
        let q = format!(
            "sum(model_infer_request_duration_count{{revision_name=\"{STABLE_REVISION}\"}}) > 20"
        );
        let mut stack = Stack {
            load,
            router,
            env,
            stable,
            canary,
        };
        stack.env.prom().wait_for(&q, Duration::from_secs(60));
        eprintln!(
            "[{:?}] servers, Prometheus, API server, router and load ready in {:.1} s",
            stack.canary.variant,
            started.elapsed().as_secs_f64()
        );
        Some(stack)
    }

    /// The config: stages of `plan`; guardrails on MLServer's own metrics, each kind paired with
    /// an absolute SLO threshold (see docs/testing.md):
    /// - `errors` (sequential rate test, canary vs stable): failed inferences per inference;
    /// - `error-slo` (threshold): canary failure ratio over the last 10 s above 1%;
    /// - `slow-requests` (sequential latency test): share of requests slower than 100 ms;
    /// - `latency-slo` (threshold): canary median over the last 10 s above 150 ms (a median:
    ///   a few requests slowed by a busy CI machine do not move it, the slow model's 200 ms
    ///   lookup does).
    pub fn config(&self, plan: &Plan) -> String {
        let stages: Vec<String> = plan.stages.iter().map(u32::to_string).collect();
        let prom = self.env.prom.as_ref().expect("a Prometheus").url();
        format!(
            r#"apiVersion: mlcanary/v1
name: fd-mlserver
model:
  uri: {uri}
  format: sklearn
  version: v2
target:
  platform: kserve
  resource: {name}
stages: [{stages}]
analysis:
  pause: {pause}
  interval: {interval}
  warmup: {warmup}
  inconclusiveLimit: 3
  errorLimit: 2
  deadline: 2m
providers:
  prom:
    type: prometheus
    address: {prom}
guardrails:
  - name: errors
    provider: prom
    critical: true
    sequential:
      test: rate
      alpha: 0.01
      canary:
        events: sum(increase(model_infer_request_failure_total{{revision_name="{{{{ canary.revision }}}}"}}[{{{{ stage.elapsed }}}}]))
        total: sum(increase(model_infer_request_duration_count{{revision_name="{{{{ canary.revision }}}}"}}[{{{{ stage.elapsed }}}}]))
      baseline:
        events: sum(increase(model_infer_request_failure_total{{revision_name="{{{{ stable.revision }}}}"}}[{{{{ stage.elapsed }}}}]))
        total: sum(increase(model_infer_request_duration_count{{revision_name="{{{{ stable.revision }}}}"}}[{{{{ stage.elapsed }}}}]))
  - name: error-slo
    provider: prom
    critical: true
    query: |
      sum(rate(model_infer_request_failure_total{{revision_name="{{{{ canary.revision }}}}"}}[10s]))
      / sum(rate(model_infer_request_duration_count{{revision_name="{{{{ canary.revision }}}}"}}[10s]))
    rollback: "> 1%"
  - name: slow-requests
    provider: prom
    critical: true
    sequential:
      test: latency
      alpha: 0.01
      canary:
        events: sum(increase(rest_server_request_duration_seconds_count{{revision_name="{{{{ canary.revision }}}}",path="/v2/models/{{model_name}}/infer"}}[{{{{ stage.elapsed }}}}])) - sum(increase(rest_server_request_duration_seconds_bucket{{revision_name="{{{{ canary.revision }}}}",path="/v2/models/{{model_name}}/infer",le="0.1"}}[{{{{ stage.elapsed }}}}]))
        total: sum(increase(rest_server_request_duration_seconds_count{{revision_name="{{{{ canary.revision }}}}",path="/v2/models/{{model_name}}/infer"}}[{{{{ stage.elapsed }}}}]))
      baseline:
        events: sum(increase(rest_server_request_duration_seconds_count{{revision_name="{{{{ stable.revision }}}}",path="/v2/models/{{model_name}}/infer"}}[{{{{ stage.elapsed }}}}])) - sum(increase(rest_server_request_duration_seconds_bucket{{revision_name="{{{{ stable.revision }}}}",path="/v2/models/{{model_name}}/infer",le="0.1"}}[{{{{ stage.elapsed }}}}]))
        total: sum(increase(rest_server_request_duration_seconds_count{{revision_name="{{{{ stable.revision }}}}",path="/v2/models/{{model_name}}/infer"}}[{{{{ stage.elapsed }}}}]))
  - name: latency-slo
    provider: prom
    critical: true
    query: histogram_quantile(0.5, sum by (le) (rate(rest_server_request_duration_seconds_bucket{{revision_name="{{{{ canary.revision }}}}",path="/v2/models/{{model_name}}/infer"}}[10s])))
    rollback: "> 0.15"
"#,
            uri = e2e::CANARY_URI,
            name = e2e::NAME,
            stages = stages.join(", "),
            pause = plan.pause,
            interval = plan.interval,
            warmup = plan.warmup,
        )
    }

    /// When the API server received the rollback write: the first PATCH setting the InferenceService's
    /// `canaryTrafficPercent` to 0.
    pub fn rollback_write(&self) -> Option<SystemTime> {
        let path = Kind::Kserve.path();
        self.env
            .kube
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path == path && !r.query.contains("dryRun"))
            .find(|r| sets_canary_to_zero(&r.body))
            .map(|r| r.at)
    }

    /// Requests the canary served (and how many failed) before `t` (all when `None`).
    pub fn canary_served(&self, before: Option<SystemTime>) -> (usize, usize) {
        self.router.count(CANARY_REVISION, before)
    }

    /// Prometheus' view of its scrapes per revision (`up`, last scrape duration), for failure
    /// messages: a target that does not answer a scrape within its 1 s timeout has no data.
    pub fn scrape_health(&mut self) -> String {
        let prom = self.env.prom().url();
        ["up", "scrape_duration_seconds"]
            .iter()
            .map(|q| {
                let answer = ureq::get(format!("{prom}/api/v1/query"))
                    .query("query", *q)
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_to_string().ok())
                    .unwrap_or_default();
                format!("{q}: {answer}\n")
            })
            .collect()
    }

    /// Stops the load and returns its counts.
    pub fn stop_load(&mut self) -> Tally {
        self.load.stop()
    }
}

/// A JSON Patch or merge patch body that sets `canaryTrafficPercent` to 0.
fn sets_canary_to_zero(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let op_sets =
        |op: &Value| op["path"] == "/spec/predictor/canaryTrafficPercent" && op["value"] == 0;
    match &v {
        Value::Array(ops) => ops.iter().any(op_sets),
        _ => v["spec"]["predictor"]["canaryTrafficPercent"] == 0,
    }
}
