//! Inference requests to a model server: POST one JSON body, time the answer. The edge under the
//! prediction comparison (`rollout::compare`); reading predictions is `core::compare::extract`.

use std::time::Instant;

/// What came back from one POST.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// An HTTP answer (any status) with its body and the time to read it whole.
    Answer {
        status: u16,
        body: String,
        latency_ms: f64,
    },
    /// Nothing came back: connection refused, DNS, TLS, timeout.
    Failed(String),
}

/// POST `body` as JSON to `url` with `headers` (values already expanded: they may be secrets and
/// are never part of an error).
pub fn post(agent: &ureq::Agent, url: &str, headers: &[(String, String)], body: &[u8]) -> Sent {
    let mut req = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let start = Instant::now();
    let mut resp = match req.send(body) {
        Ok(r) => r,
        Err(ureq::Error::Http(e)) => {
            return Sent::Failed(format!("cannot build the request (check the headers): {e}"))
        }
        Err(ureq::Error::Timeout(which)) => return Sent::Failed(format!("timed out ({which})")),
        Err(e) => return Sent::Failed(e.to_string()),
    };
    let status = resp.status().as_u16();
    match resp.body_mut().read_to_string() {
        Ok(body) => Sent::Answer {
            status,
            body,
            latency_ms: start.elapsed().as_secs_f64() * 1000.0,
        },
        Err(e) => Sent::Failed(format!("reading the answer: {e}")),
    }
}
