//! A platform failure as the state machine is told of it: its kind and its words.
//!
//! The platform's error (`platform::PlatformError`, which keeps the Kubernetes or ARM client's
//! typed error) stays with the driver, which decides there what a retry or a re-read can fix;
//! what reaches the pure machine is this classification, built from the typed error in one place
//! (`Fault::from(&PlatformError)`), never parsed back out of a message.

use std::fmt;

/// What kind of failure the platform reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The API refused the request (permissions, admission, validation, not found).
    Refused,
    /// The API could not be reached or failed on its side (transport, 429, 5xx) and the
    /// client's retries ran out; a re-run may succeed.
    Unavailable,
    /// The object changed under us faster than re-reads could keep up (409 Conflict).
    Conflict,
    /// The platform cannot do what the config asks (e.g. mirroring on KServe).
    Unsupported,
    /// A rule of the platform's own refused (the stable predictor is gone, the Rollout is
    /// already fully promoted, an answer that is not what the API documents).
    Rule,
}

/// A platform failure: kind and message (the request sent and the platform's answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub message: String,
}

impl Fault {
    pub fn new(kind: FaultKind, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fault {}
