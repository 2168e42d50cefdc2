//! The prediction comparison at run time: the two versions' addresses (with the Azure ML endpoint
//! key or token), the paced sending of the recorded requests to both, and the `compare` provider
//! guardrails read the result from. Pure parts (reading answers, values, the stopping rule) are in
//! `core::compare`; the HTTP POST is `clients::inference`.
//!
//! The comparison runs once, at the first query of the phase, and its result is kept: every
//! guardrail of the phase (and any extension's re-check) judges the same answers.

use super::clock::Cancel;
use crate::clients::azure::arm::{ArmClient, API_VERSION};
use crate::clients::azure::credential::TokenSource;
use crate::clients::inference::{post, Sent};
use crate::config::compare::{Compare, CompareAuth};
use crate::config::{Config, PlatformKind};
use crate::core::compare::address::{addresses, Address, Names};
use crate::core::compare::extract::predictions;
use crate::core::compare::requests::{self, Request};
use crate::core::compare::{input_text, Answer, Outcome, Pair, Tally};
use crate::metrics::{Observation, Provider, ProviderError, Query};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Entra ID scope of Azure ML online endpoints (token auth).
pub const AML_SCOPE: &str = "https://ml.azure.com/.default";

/// One version, ready to send to: header values expanded (they may be secrets).
#[derive(Clone)]
pub struct Version {
    pub url: String,
    headers: Vec<(String, String)>,
    /// Header names only, for printing.
    shown: Vec<String>,
}

impl Version {
    fn describe(&self) -> String {
        if self.shown.is_empty() {
            format!("POST {}", self.url)
        } else {
            format!("POST {} (headers {})", self.url, self.shown.join(", "))
        }
    }
}

/// The requests file of `compare`, read and checked: a bad line is a config error (exit 2)
/// naming the file and the line, before anything is sent. `requests` is relative to `base`.
pub fn load_requests(
    k: &Compare,
    base: &std::path::Path,
) -> Result<Vec<Request>, crate::config::ConfigError> {
    let path = base.join(&k.requests);
    let err = |line: usize, message: String| crate::config::ConfigError {
        file: path.display().to_string(),
        diagnostics: vec![crate::config::Diagnostic {
            line,
            col: 1,
            path: "compare.requests".into(),
            message,
        }],
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| err(1, format!("cannot read the requests file: {e}")))?;
    let all = requests::parse(&text, k.protocol).map_err(|(l, m)| err(l, m))?;
    Ok(requests::sample(all, k.sample, k.seed))
}

/// How an Azure ML endpoint is called: its scoring URI and the `Authorization` value.
pub struct AzureScoring {
    pub scoring_uri: String,
    pub authorization: String,
}

/// The scoring URI (GET the endpoint) and the key (POST .../listKeys) or an Entra token.
pub fn azure_scoring(
    c: &Config,
    arm: &ArmClient,
    tokens: &dyn TokenSource,
) -> Result<AzureScoring, String> {
    let ep = crate::platform::azureml::AzureMlTarget::from_config(c).endpoint_path();
    let got = arm
        .get(&ep)
        .map_err(|e| format!("reading the endpoint's scoring URI: {e}"))?;
    let scoring_uri = got.body["properties"]["scoringUri"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("the online endpoint has no properties.scoringUri")?
        .to_string();
    let auth = c.compare.as_ref().map_or(CompareAuth::Key, |k| k.auth);
    let secret = match auth {
        CompareAuth::Key => {
            let url = arm.url(&format!("{ep}/listKeys"), API_VERSION);
            let resp = arm
                .send("POST", &url, None, &[])
                .map_err(|e| format!("listing the endpoint keys: {e}"))?;
            if !(200..300).contains(&resp.status) {
                let (code, msg) = crate::clients::azure::arm::error_parts(&resp.body);
                return Err(format!(
                    "listing the endpoint keys: HTTP {} {code}: {msg}",
                    resp.status
                ));
            }
            resp.body["primaryKey"]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or("listKeys answered no primaryKey (is the endpoint's authMode key?)")?
                .to_string()
        }
        CompareAuth::Token => tokens
            .token(AML_SCOPE)
            .map_err(|e| format!("an Entra token for the endpoint: {e}"))?
            .secret()
            .to_string(),
    };
    Ok(AzureScoring {
        scoring_uri,
        authorization: format!("Bearer {secret}"),
    })
}

/// The (stable, canary) addresses of this config's platform, explicit overrides applied.
pub fn resolve(c: &Config, scoring_uri: Option<&str>) -> Result<(Address, Address), String> {
    let rev = super::context::default_revisions(c);
    let k = crate::platform::kube_platform::KubeSettings::from_config(c);
    addresses(
        c,
        &Names {
            namespace: &k.namespace,
            resource: &k.resource,
            stable: &rev.stable_name,
            canary: &rev.canary_name,
            scoring_uri,
        },
    )
}

fn version(
    a: Address,
    authorization: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Version, String> {
    let mut headers = Vec::new();
    let mut shown = Vec::new();
    if let Some(auth) = authorization {
        if !a
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("authorization"))
        {
            headers.push(("Authorization".to_string(), auth.to_string()));
            shown.push("Authorization".to_string());
        }
    }
    for (k, v) in a.headers {
        let value = crate::notify::expand(&v, "a compare header", env)
            .map_err(|e| format!("compare header {k}: {e}"))?;
        shown.push(if v.contains("${") {
            k.clone()
        } else {
            format!("{k}: {v}")
        });
        headers.push((k, value));
    }
    Ok(Version {
        url: a.url,
        headers,
        shown,
    })
}

/// Every value a log must mask: expanded `${VAR}` header values and the Azure authorization.
pub fn secret_values(s: &Session) -> Vec<String> {
    s.versions
        .iter()
        .flat_map(|v| v.headers.iter())
        .filter(|(k, _)| s.secret_headers.contains(k) || k.eq_ignore_ascii_case("authorization"))
        .flat_map(|(_, v)| {
            // The credential alone too, so it is masked wherever it appears without its scheme.
            let bare = v.strip_prefix("Bearer ").map(str::to_string);
            std::iter::once(v.clone()).chain(bare)
        })
        .collect()
}

/// One comparison: what to send, where, and (after it ran) what came back.
pub struct Session {
    k: Compare,
    requests: Vec<Request>,
    versions: [Version; 2],
    secret_headers: Vec<String>,
    agent: ureq::Agent,
    cancel: Cancel,
    result: Mutex<Option<Outcome>>,
}

impl Session {
    /// `authorization`: the Azure ML endpoint's `Bearer KEY` (added unless a header sets one).
    pub fn new(
        c: &Config,
        requests: Vec<Request>,
        (stable, canary): (Address, Address),
        authorization: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
        cancel: Cancel,
    ) -> Result<Session, String> {
        let k = c.compare.clone().ok_or("no `compare` in the config")?;
        let secret_headers = stable
            .headers
            .iter()
            .chain(canary.headers.iter())
            .filter(|(_, v)| v.contains("${"))
            .map(|(k, _)| k.clone())
            .collect();
        let versions = [
            version(stable, authorization, env)?,
            version(canary, authorization, env)?,
        ];
        let agent = crate::clients::http::agent(&crate::clients::http::AgentOptions {
            timeout: k.timeout.into(),
            connect_timeout: Duration::from(k.timeout).min(Duration::from_secs(10)),
        });
        Ok(Session {
            k,
            requests,
            versions,
            secret_headers,
            agent,
            cancel,
            result: Mutex::new(None),
        })
    }

    /// What the phase sends, in one line (no secrets).
    pub fn describe(&self) -> String {
        describe(
            &self.k,
            self.requests.len(),
            &self.versions[0].describe(),
            &self.versions[1].describe(),
        )
    }

    /// The result, once the comparison ran.
    pub fn outcome(&self) -> Option<Outcome> {
        self.result.lock().ok().and_then(|r| r.clone())
    }

    /// Run the comparison (once; later calls return the kept result).
    pub fn run(&self) -> Outcome {
        let mut kept = self.result.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = kept.as_ref() {
            return o.clone();
        }
        let o = self.send_all();
        *kept = Some(o.clone());
        o
    }

    /// A cancelled run, or one past its deadline, sends nothing more (the driver has already
    /// abandoned waiting for the result; its worker must not keep sending).
    fn halted(&self) -> bool {
        use super::clock::Clock;
        self.cancel.is_cancelled()
            || self
                .cancel
                .deadline()
                .is_some_and(|d| super::clock::SystemClock.now_ms() >= d)
    }

    fn answer(&self, side: usize, body: &[u8]) -> Answer {
        let v = &self.versions[side];
        match post(&self.agent, &v.url, &v.headers, body) {
            Sent::Failed(message) => Answer::Unreachable {
                message: format!("{}: {message}", v.url),
            },
            Sent::Answer { status, body, .. } if !(200..300).contains(&status) => Answer::Bad {
                status: Some(status),
                message: format!(
                    "HTTP {status}: {}",
                    crate::metrics::http_common::quote_body(&body)
                ),
            },
            Sent::Answer {
                status,
                body,
                latency_ms,
            } => {
                let read = serde_json::from_str(&body)
                    .map_err(|e| {
                        format!(
                            "not JSON ({e}): {}",
                            crate::metrics::http_common::quote_body(&body)
                        )
                    })
                    .and_then(|json| predictions(self.k.protocol, &self.k.prediction, &json));
                match read {
                    Ok(preds) => Answer::Ok { preds, latency_ms },
                    Err(message) => Answer::Bad {
                        status: Some(status),
                        message: format!("unreadable answer: {message}"),
                    },
                }
            }
        }
    }

    /// Send every request to both versions at `rate` per second with at most `concurrency` in
    /// flight per version; stop early when the sequential test or an unreachable version says so,
    /// or when the run is cancelled.
    fn send_all(&self) -> Outcome {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let why: Mutex<Option<String>> = Mutex::new(None);
        let tally = Mutex::new(Tally::default());
        let start = Instant::now();
        let gap = Duration::from_secs_f64(1.0 / self.k.rate);
        std::thread::scope(|scope| {
            for _ in 0..self.k.concurrency.max(1) {
                scope.spawn(|| loop {
                    if stop.load(Ordering::SeqCst) || self.halted() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(req) = self.requests.get(i) else { return };
                    let due = start + gap.mul_f64(i as f64);
                    // Wait for this request's slot in short slices, so a cancellation is seen.
                    while Instant::now() < due {
                        if self.halted() {
                            return;
                        }
                        std::thread::sleep((due - Instant::now()).min(Duration::from_millis(50)));
                    }
                    let body = serde_json::to_vec(&req.body).unwrap_or_default();
                    let (stable, canary) = std::thread::scope(|s| {
                        let c = s.spawn(|| self.answer(1, &body));
                        let st = self.answer(0, &body);
                        (st, c.join().unwrap_or(Answer::Unreachable { message: "the sender panicked".into() }))
                    });
                    let pair = Pair {
                        line: req.line,
                        input: input_text(&req.body),
                        stable,
                        canary,
                    };
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    let proven = t.add(pair, &self.k);
                    let reason = if proven {
                        Some(format!(
                            "stopped early after {} answers: the disagreement rate is shown above the {}% tolerance",
                            t.pairs.len(),
                            crate::core::judge::fmt_num(
                                100.0 * self.k.stop_early.as_ref().map_or(0.0, |s| s.tolerance.0)
                            )
                        ))
                    } else if t.hopeless() {
                        Some(format!("stopped after {} requests: a version answers nothing", t.pairs.len()))
                    } else {
                        None
                    };
                    if let Some(r) = reason {
                        let mut w = why.lock().unwrap_or_else(|p| p.into_inner());
                        if w.is_none() {
                            *w = Some(r);
                        }
                        stop.store(true, Ordering::SeqCst);
                    }
                });
            }
        });
        let mut t = tally.into_inner().unwrap_or_else(|p| p.into_inner());
        t.pairs.sort_by_key(|p| p.line);
        let why = why.into_inner().unwrap_or_else(|p| p.into_inner());
        t.outcome(&self.k, why)
    }
}

/// One line for dry runs and the report.
pub fn describe(k: &Compare, n: usize, stable: &str, canary: &str) -> String {
    format!(
        "compare {n} request(s) from {} ({} protocol, {} per second, {} in flight): stable {stable}; canary {canary}",
        k.requests,
        k.protocol.as_str(),
        crate::core::judge::fmt_num(k.rate),
        k.concurrency
    )
}

/// The `compare` provider: guardrails' queries are value names or histograms of the comparison.
pub struct CompareProvider(pub Arc<Session>);

impl Provider for CompareProvider {
    fn fetch(&self, q: &Query) -> Result<Observation, ProviderError> {
        let o = self.0.run();
        if let Some(u) = &o.unreachable {
            return Err(ProviderError::Query(u.clone()));
        }
        o.value(&q.text).map_err(ProviderError::Query)
    }
    fn describe(&self, q: &Query) -> String {
        format!("{} -> {}", self.0.describe(), q.text.trim())
    }
    fn fatal(&self) -> Option<String> {
        self.0.outcome().and_then(|o| o.unreachable)
    }
}

/// The dry-run stand-in: says what would be sent, sends nothing.
pub struct DryCompare(pub String);

impl Provider for DryCompare {
    fn fetch(&self, _: &Query) -> Result<Observation, ProviderError> {
        Ok(Observation::NoData)
    }
    fn describe(&self, q: &Query) -> String {
        format!("{} -> {}", self.0, q.text.trim())
    }
}

/// `DryCompare` for a config: the addresses as far as they are known without the network.
pub fn dry(c: &Config, n: usize) -> Option<DryCompare> {
    let k = c.compare.as_ref()?;
    let shown = |a: &Address| {
        let v = Version {
            url: a.url.clone(),
            headers: vec![],
            shown: a
                .headers
                .iter()
                .map(|(k, v)| {
                    if v.contains("${") {
                        k.clone()
                    } else {
                        format!("{k}: {v}")
                    }
                })
                .collect(),
        };
        v.describe()
    };
    let line = match (c.target.platform, resolve(c, None)) {
        (_, Ok((s, cn))) => describe(k, n, &shown(&s), &shown(&cn)),
        (PlatformKind::Azureml, Err(_)) => {
            let t = crate::platform::azureml::AzureMlTarget::from_config(c);
            describe(
                k,
                n,
                &format!("POST <scoring URI of {}> (headers Authorization, azureml-model-deployment: {})", t.endpoint, t.stable_deployment),
                &format!("POST <scoring URI of {}> (headers Authorization, azureml-model-deployment: {})", t.endpoint, t.canary_deployment),
            )
        }
        (_, Err(e)) => format!("compare: {e}"),
    };
    Some(DryCompare(line))
}

/// The live comparison of a config (None without `compare:`): requests read, addresses resolved
/// (for Azure ML the scoring URI and key over ARM), nothing sent yet.
pub fn live_session(
    c: &Config,
    tokens: Arc<dyn TokenSource>,
    cancel: Cancel,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Arc<Session>>> {
    let Some(k) = &c.compare else {
        return Ok(None);
    };
    let requests = load_requests(k, std::path::Path::new(""))?;
    let setup = super::live::SetupError::Compare;
    let explicit =
        |e: &Option<crate::config::compare::Endpoint>| e.as_ref().is_some_and(|e| e.url.is_some());
    let needs_azure = c.target.platform == PlatformKind::Azureml
        && !(explicit(&k.stable) && explicit(&k.canary) && k.auth == CompareAuth::Key && {
            // explicit URLs with their own Authorization header need no ARM call
            [&k.stable, &k.canary].iter().all(|e| {
                e.as_ref().is_some_and(|e| {
                    e.headers
                        .keys()
                        .any(|h| h.eq_ignore_ascii_case("authorization"))
                })
            })
        });
    let scoring = if needs_azure {
        let (arm, _) = super::azure::clients(
            &super::azure::settings(c),
            &crate::clients::azure::settings::ProcessEnv,
            tokens.clone(),
            Default::default(),
        );
        Some(azure_scoring(c, &arm, tokens.as_ref()).map_err(setup)?)
    } else {
        None
    };
    let addrs = resolve(c, scoring.as_ref().map(|s| s.scoring_uri.as_str())).map_err(setup)?;
    let s = Session::new(
        c,
        requests,
        addrs,
        scoring.as_ref().map(|s| s.authorization.as_str()),
        env,
        cancel,
    )
    .map_err(setup)?;
    Ok(Some(Arc::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(cancel: Cancel) -> Session {
        let text = "apiVersion: mlcanary/v1\nname: m\nmodel: {uri: s3://m}\ntarget: {platform: seldon-v2, stableModel: a}\ncompare: {requests: r.jsonl, protocol: v2, rate: 1000}\nguardrails:\n  - {name: d, provider: compare, query: disagreement, rollback: \"> 2%\"}\n";
        let c = crate::config::load_str("c.yaml", text, None).unwrap();
        let requests = (1..=50)
            .map(|line| Request {
                line,
                body: serde_json::json!({"inputs": [{"name": "x", "data": [1]}]}),
            })
            .collect();
        // Nothing listens on port 9 of 127.0.0.1: every request would fail fast if sent.
        let addr = |m: &str| Address {
            url: format!("http://127.0.0.1:9/v2/models/{m}/infer"),
            headers: Default::default(),
        };
        Session::new(
            &c,
            requests,
            (addr("a"), addr("b")),
            None,
            &|_| None,
            cancel,
        )
        .unwrap()
    }

    #[test]
    fn a_cancelled_or_expired_run_sends_nothing() {
        let cancelled = Cancel::new();
        cancelled.cancel();
        assert_eq!(session(cancelled).run().requests, 0);
        let expired = Cancel::new();
        expired.set_deadline(1); // long past
        assert_eq!(session(expired).run().requests, 0);
        // Not halted: it sends until a version proves unreachable.
        let o = session(Cancel::new()).run();
        assert!(
            o.requests >= crate::core::compare::UNREACHABLE_AFTER,
            "{o:?}"
        );
        assert!(o.unreachable.is_some(), "{o:?}");
    }
}
