//! Shared by the notify, hostile-input and secrets tests: an in-memory platform, a scripted
//! provider, a webhook receiver on 127.0.0.1 (tiny_http) that answers from a script, and one call
//! that runs a whole rollout in-process on a virtual clock with notifications wired as `run` does.
#![allow(dead_code)]

use mlcanary::config::Config;
use mlcanary::core::plan::Plan;
use mlcanary::metrics::{Observation, Provider, ProviderError, Query};
use mlcanary::notify::{Notifier, Notifying, Timing};
use mlcanary::platform::{Platform, PlatformError, Readiness, Revisions, Traffic};
use mlcanary::render::Renderer;
use mlcanary::report::record::RunRecord;
use mlcanary::rollout::clock::{Cancel, VirtualClock};
use mlcanary::rollout::driver::{Driver, Progress};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A platform that converges at once and reports what it was told.
#[derive(Default)]
pub struct Instant {
    pub weight: u32,
}

impl Platform for Instant {
    fn prepare(
        &mut self,
        weight: u32,
        _mirror: u32,
        _: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        self.weight = weight;
        Ok(())
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        Ok(Readiness::Ready)
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        self.weight = weight;
        Ok(())
    }
    fn set_shadow(&mut self, _percent: u32) -> Result<(), PlatformError> {
        Ok(())
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        Ok(Traffic {
            split: BTreeMap::from([
                ("canary".into(), self.weight),
                ("stable".into(), 100 - self.weight),
            ]),
            mirror: BTreeMap::new(),
        })
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        Ok(Revisions {
            canary_name: "m".into(),
            canary_revision: Some("m-00002".into()),
            stable_name: "m".into(),
            stable_revision: Some("m-00001".into()),
        })
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        self.weight = 100;
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.weight = 0;
        Ok(())
    }
}

/// Every query answers the same value.
pub struct Constant(pub f64);

impl Provider for Constant {
    fn fetch(&self, _q: &Query) -> Result<Observation, ProviderError> {
        Ok(Observation::Scalar(self.0))
    }
    fn describe(&self, q: &Query) -> String {
        format!("GET /api/v1/query?query={}", q.text)
    }
}

/// Run `c` to the end with `providers`, notifications from `c.notify` (`${VAR}` from `env`), and
/// progress to `progress`; warnings land in the record as `run` puts them there.
pub fn rollout(
    c: &Config,
    providers: BTreeMap<String, Box<dyn Provider + Send + Sync>>,
    env: &dyn Fn(&str) -> Option<String>,
    timing: Timing,
    progress: &mut dyn Progress,
) -> RunRecord {
    let renderer = Renderer::new(None).unwrap();
    let clock = VirtualClock::new(1_767_225_600_000);
    let d = Driver {
        config: c,
        plan: Plan::for_run(c),
        platform: Box::new(Instant::default()),
        providers: mlcanary::rollout::driver::shared(providers),
        renderer: &renderer,
        clock: &clock,
        cancel: Cancel::new(),
        env: mlcanary::rollout::context::env_subset(c, env),
        rendered: Default::default(),
    };
    let mut notifier = Notifier::new(&c.notify, env, timing);
    let mut r = d.run(&mut Notifying {
        inner: progress,
        notifier: &mut notifier,
        renderer: &renderer,
    });
    r.warnings.extend(notifier.finish());
    r
}

/// One prometheus-like provider answering `value` for every query, under the name `prom`.
pub fn constant(value: f64) -> BTreeMap<String, Box<dyn Provider + Send + Sync>> {
    let mut p: BTreeMap<String, Box<dyn Provider + Send + Sync>> = BTreeMap::new();
    p.insert("prom".into(), Box::new(Constant(value)));
    p
}

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// This status with `Retry-After: seconds`.
    RetryAfter(u16, u64),
    /// Keep the connection open and never answer.
    Hang,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// A webhook endpoint: answers from `script` in order, then 200 for ever.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    server: Arc<tiny_http::Server>,
}

impl Receiver {
    pub fn start(script: Vec<Answer>) -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!(
            "http://{}/services/T0SECRET/B0SECRET/XXXXwebhookSECRETpath",
            server.server_addr().to_ip().unwrap()
        );
        let got = Arc::new(Mutex::new(Vec::new()));
        let (s, g) = (server.clone(), got.clone());
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            let mut held = Vec::new();
            for mut rq in s.incoming_requests() {
                let mut body = String::new();
                let _ = rq.as_reader().read_to_string(&mut body);
                g.lock().unwrap().push(Received {
                    path: rq.url().to_string(),
                    headers: rq
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                });
                match script.next().unwrap_or(Answer::Status(200)) {
                    Answer::Status(code) => {
                        let _ = rq
                            .respond(tiny_http::Response::from_string("ok").with_status_code(code));
                    }
                    Answer::RetryAfter(code, secs) => {
                        let h =
                            tiny_http::Header::from_bytes("Retry-After", secs.to_string()).unwrap();
                        let r = tiny_http::Response::from_string("slow down")
                            .with_status_code(code)
                            .with_header(h);
                        let _ = rq.respond(r);
                    }
                    Answer::Hang => held.push(rq),
                }
            }
        });
        Receiver { url, got, server }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
    }
}
