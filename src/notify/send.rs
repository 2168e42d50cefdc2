//! Delivery: one background thread POSTs the queued bodies in order, retrying 5xx, 429 and network
//! failures with backoff inside a fixed budget. Why a thread: a slow or dead webhook must never stall
//! the rollout between stages, and at the end the run waits for it only until a short deadline.
//! Failures become warnings; their text is scrubbed of the URL (the webhook's credential).

use super::target::Target;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Retry and deadline settings. The defaults bound one notification to about 5 s.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Timeout of one attempt (connect + send + answer).
    pub attempt_timeout: Duration,
    /// Attempts at most.
    pub attempts: u32,
    /// Wait before the second attempt; doubled each time.
    pub backoff: Duration,
    /// All attempts of one notification together.
    pub budget: Duration,
    /// How long the end of the run waits for notifications still under way.
    pub deadline: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            attempt_timeout: Duration::from_secs(3),
            attempts: 3,
            backoff: Duration::from_millis(500),
            budget: Duration::from_secs(5),
            deadline: Duration::from_secs(5),
        }
    }
}

pub(crate) struct Job {
    pub target: Arc<Target>,
    pub event: &'static str,
    pub body: String,
}

/// Replace every secret in `text` (longest first, so a URL goes before its own path).
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut s: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    s.sort_by_key(|s| std::cmp::Reverse(s.len()));
    s.into_iter().fold(text.to_string(), |t, sec| {
        t.replace(sec.as_str(), "<redacted>")
    })
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(io) => format!("network error ({})", io.kind()),
        other => other.to_string(),
    }
}

fn retry_after<B>(r: &ureq::http::Response<B>) -> Duration {
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

fn retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// POST one body with retries; `Err` says why the last attempt failed.
pub(crate) fn deliver(agent: &ureq::Agent, job: &Job, t: &Timing) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::from("not attempted");
    let mut tries = 0;
    // The server's own `Retry-After` (seconds), when it gave one.
    let mut asked = Duration::ZERO;
    let typed = job
        .target
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    for attempt in 0..t.attempts.max(1) {
        let left = t.budget.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        if attempt > 0 {
            let wait = t
                .backoff
                .saturating_mul(1 << (attempt - 1).min(16))
                .max(asked);
            if wait >= left {
                break;
            }
            std::thread::sleep(wait);
        }
        let left = t.budget.saturating_sub(start.elapsed());
        let mut req = agent
            .post(&job.target.url)
            .config()
            .timeout_global(Some(t.attempt_timeout.min(left)))
            .build();
        if !typed {
            req = req.header("Content-Type", "application/json");
        }
        for (k, v) in &job.target.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        tries += 1;
        match req.send(job.body.as_str()) {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if retryable(r.status().as_u16()) => {
                last = format!("HTTP {}", r.status());
                asked = retry_after(&r);
            }
            Ok(r) => return Err(format!("HTTP {} (not retried)", r.status())),
            Err(e) => last = describe(&e),
        }
    }
    Err(format!("{last} after {tries} attempt(s)"))
}

/// The background sender and what it has to report.
pub(crate) struct Worker {
    tx: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<()>,
    handle: Option<JoinHandle<()>>,
    failures: Arc<Mutex<Vec<String>>>,
    /// (queued, finished) counts, for the deadline warning.
    counts: Arc<Mutex<(usize, usize)>>,
    deadline: Duration,
}

impl Worker {
    pub fn start(timing: Timing) -> Worker {
        let (tx, rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        let failures = Arc::new(Mutex::new(Vec::new()));
        let counts = Arc::new(Mutex::new((0, 0)));
        let (f, c) = (failures.clone(), counts.clone());
        let deadline = timing.deadline;
        let handle = std::thread::spawn(move || {
            let agent = crate::clients::http::agent(&crate::clients::http::AgentOptions {
                timeout: timing.attempt_timeout,
                connect_timeout: timing.attempt_timeout,
            });
            for job in rx {
                if let Err(why) = deliver(&agent, &job, &timing) {
                    let msg = format!(
                        "{}: the {} notification was not delivered: {}",
                        job.target.label(),
                        job.event,
                        scrub(&why, &job.target.secrets())
                    );
                    f.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
                }
                c.lock().unwrap_or_else(|p| p.into_inner()).1 += 1;
            }
            let _ = done_tx.send(());
        });
        Worker {
            tx: Some(tx),
            done,
            handle: Some(handle),
            failures,
            counts,
            deadline,
        }
    }

    pub fn queue(&mut self, job: Job) {
        if let Some(tx) = &self.tx {
            self.counts.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
            // The thread only ends once the sender is dropped, so this cannot fail.
            let _ = tx.send(job);
        }
    }

    /// Stop accepting work and wait for the queue up to the deadline; failures plus a warning for
    /// whatever was still under way (left to finish or die with the process).
    pub fn finish(&mut self) -> Vec<String> {
        self.tx = None;
        let finished = self.done.recv_timeout(self.deadline).is_ok();
        if finished {
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
        let mut out = std::mem::take(&mut *self.failures.lock().unwrap_or_else(|p| p.into_inner()));
        let (queued, sent) = *self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if !finished && queued > sent {
            out.push(format!(
                "{} notification(s) still unsent after waiting {} s: abandoned",
                queued - sent,
                self.deadline.as_secs_f64()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_the_longest_secret_first() {
        let secrets = vec!["/p/secret".to_string(), "https://h/p/secret".to_string()];
        assert_eq!(
            scrub("POST https://h/p/secret failed (/p/secret)", &secrets),
            "POST <redacted> failed (<redacted>)"
        );
    }

    #[test]
    fn only_server_errors_and_throttling_are_retried() {
        assert!(retryable(500) && retryable(503) && retryable(429));
        assert!(!retryable(400) && !retryable(404));
    }
}
