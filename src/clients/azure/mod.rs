//! Azure: Entra ID credentials over a ureq transport, ARM requests, long-running operations.
//!
//! Why this shape: the official `azure_identity` credentials do the token protocol (and its cache), but
//! their default transport is reqwest on tokio, which this binary does not ship. [`transport`] hands
//! them a synchronous ureq agent behind `azure_core`'s `HttpClient`, and every future is driven with
//! `futures::executor::block_on`. ARM itself is spoken directly over ureq ([`arm`]), because what we
//! need from it (PUT, long-running operations, If-Match) is small and must be testable against a
//! local fake without any SDK in the way.

pub mod arm;
pub mod credential;
pub mod oidc;
pub mod settings;
pub mod timespan;
pub mod transport;

pub use arm::{ArmClient, ArmResponse, PollPolicy};
pub use credential::{BearerToken, Credential, TokenSource};
pub use settings::{AuthMode, AzureSettings, Cloud, EnvLookup, ProcessEnv};

use thiserror::Error;

/// Everything that can go wrong talking to Azure. Messages never contain tokens or secrets.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AzureError {
    /// No credential could be built or a token could not be obtained.
    #[error("Azure authentication failed: {0}")]
    Auth(String),
    /// The settings are incomplete or contradictory.
    #[error("Azure configuration: {0}")]
    Config(String),
    /// The request never got an HTTP answer.
    #[error("{method} {url}: cannot reach Azure: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },
    /// ARM answered with an error status; `code`/`message` come from its `{"error":{...}}` body.
    #[error("{method} {url} answered HTTP {status} {code}: {message} (x-ms-client-request-id {request_id})")]
    Api {
        method: String,
        url: String,
        status: u16,
        code: String,
        message: String,
        /// Our `x-ms-client-request-id` of the request: what Azure support asks for.
        request_id: String,
    },
    /// A long-running operation ended Failed or Canceled.
    #[error(
        "operation {url} ended {status}: {code}: {message} (x-ms-client-request-id {request_id})"
    )]
    Operation {
        url: String,
        status: String,
        code: String,
        message: String,
        request_id: String,
    },
    /// A read or an operation wait given up on a signal or at the deadline (the operation, if
    /// any, goes on at ARM).
    #[error("{url}: {message}")]
    Abandoned { url: String, message: String },
    /// A long-running operation did not finish within the polling budget.
    #[error("operation {0} did not finish within the polling budget")]
    Timeout(String),
}

impl AzureError {
    /// HTTP status of an [`AzureError::Api`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            AzureError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
