//! HTTP agents: one place that decides timeouts and TLS trust for every outgoing request.
//!
//! TLS is always verified unless a caller explicitly opts out (kubeconfig `insecure-skip-tls-verify`).
//! Trust = the platform store (rustls-platform-verifier, which on Linux reads the system bundle and
//! honours `SSL_CERT_FILE`) plus any extra PEM roots the caller passes (e.g. a kubeconfig CA).

use std::time::Duration;

/// Options for building a [`ureq::Agent`].
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A plain agent: platform TLS verification, timeouts, HTTP status codes returned as responses
/// (never turned into errors, so callers can read Kubernetes/ARM/Prometheus error bodies).
pub fn agent(opts: &AgentOptions) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .timeout_connect(Some(opts.connect_timeout))
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into()
}
