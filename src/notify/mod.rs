//! Notifications (config `notify:`): webhooks told when a rollout starts, enters a stage, is
//! promoted, rolled back or fails.
//!
//! Why it is built this way: a notification is a courtesy, the rollout is the job. So a webhook
//! that is unset, refuses, hangs or answers garbage never fails or blocks the rollout: bodies are
//! rendered on the driver's thread (the template context is there), sent from one background
//! thread with bounded retries ([`Timing`]), and whatever went wrong comes back from
//! [`Notifier::finish`] as warnings for the run record and the step summary. The webhook URL after
//! `${VAR}` expansion is a credential: reports name a webhook only as `notify[i] (host)`.

mod message;
mod progress;
mod send;
mod target;

pub use message::{body, body_context, event_name, final_event, message, BodyError, Milestone};
pub use progress::Notifying;
pub use send::Timing;
pub use target::{expand, host_of, secret_values, Target, TargetError};

use crate::config::Notify;
use crate::render::Renderer;
use std::sync::Arc;

/// Sends the configured webhooks; collects warnings instead of failing.
pub struct Notifier {
    targets: Vec<Arc<Target>>,
    worker: Option<send::Worker>,
    warnings: Vec<String>,
    timing: Timing,
}

impl Notifier {
    /// Resolve every webhook now (`${VAR}` from `lookup`); an unusable one becomes a warning.
    /// No thread is started until something is sent.
    pub fn new(
        notify: &[Notify],
        lookup: &dyn Fn(&str) -> Option<String>,
        timing: Timing,
    ) -> Notifier {
        let mut targets = Vec::new();
        let mut warnings = Vec::new();
        for (i, n) in notify.iter().enumerate() {
            match Target::resolve(i, n, lookup) {
                Ok(t) => targets.push(Arc::new(t)),
                Err(e) => warnings.push(format!("notify[{i}]: {e}: no notifications sent")),
            }
        }
        Notifier {
            targets,
            worker: None,
            warnings,
            timing,
        }
    }

    /// Render and queue the milestone for every webhook that asked for its event.
    pub fn notify(&mut self, m: &Milestone, renderer: &Renderer) {
        let event = event_name(m.event);
        for t in self.targets.iter().filter(|t| t.wants(m.event)) {
            let what = format!("notify[{}] body", t.index);
            match body(t.body.as_deref(), &what, m, renderer) {
                Ok(b) => self
                    .worker
                    .get_or_insert_with(|| send::Worker::start(self.timing.clone()))
                    .queue(send::Job {
                        target: t.clone(),
                        event,
                        body: crate::report::redact::redact(&b),
                    }),
                Err(e) => self.warnings.push(send::scrub(
                    &format!("{}: the {event} notification was not sent: {e}", t.label()),
                    &t.secrets(),
                )),
            }
        }
    }

    /// Wait for deliveries up to the deadline; every warning so far (each one free of secrets).
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = std::mem::take(&mut self.warnings);
        if let Some(w) = self.worker.as_mut() {
            out.extend(w.finish());
        }
        out
    }
}
