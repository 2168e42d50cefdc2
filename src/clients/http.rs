//! HTTP agents: one place that decides timeouts and TLS trust for every outgoing request.
//!
//! TLS is always verified unless a caller explicitly opts out (kubeconfig `insecure-skip-tls-verify`).
//! Trust = the platform store (rustls-platform-verifier, which on Linux reads the system bundle and
//! honours `SSL_CERT_FILE`) plus any extra PEM roots the caller passes (e.g. a kubeconfig CA).

use std::time::Duration;

/// Log targets of the HTTP stack that print secrets when verbose: ureq logs every full URL at
/// debug (a webhook URL is its own credential) and dumps the raw wire, tokens included, at trace.
/// The binary never lets them below info, whatever `MLCANARY_LOG` says.
pub const WIRE_LOG_TARGETS: &[&str] = &["ureq", "ureq_proto", "rustls"];

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

/// TLS trust, client identity and proxy beyond the defaults (kubeconfig clusters and users).
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// PEM roots that REPLACE the platform store: a kubeconfig CA means "trust only the cluster's CA",
    /// exactly as kubectl does.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate chain and PEM private key (mutual TLS).
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// Skip server certificate verification (kubeconfig `insecure-skip-tls-verify`). Never a default.
    pub insecure: bool,
    /// Proxy URL (`http://`, `https://`, `socks5://`); `None` = `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
}

// Hand-written so a private key can never reach a log line.
impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|_| "<redacted>"),
            )
            .field("insecure", &self.insecure)
            .field("proxy", &self.proxy)
            .finish()
    }
}

/// Why a TLS/proxy setup could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} is not valid PEM: {detail}")]
    Pem { what: &'static str, detail: String },
    #[error("{0} holds no usable PEM item")]
    Empty(&'static str),
    #[error("invalid proxy URL {url:?}: {detail}")]
    Proxy { url: String, detail: String },
}

fn pem_certs(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<ureq::tls::Certificate<'static>>, TlsError> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item.map_err(|e| TlsError::Pem {
            what,
            detail: e.to_string(),
        })? {
            ureq::tls::PemItem::Certificate(c) => out.push(c),
            _ => continue,
        }
    }
    if out.is_empty() {
        return Err(TlsError::Empty(what));
    }
    Ok(out)
}

fn pem_key(pem: &[u8]) -> Result<ureq::tls::PrivateKey<'static>, TlsError> {
    for item in ureq::tls::parse_pem(pem) {
        // The error text never contains key material, only the PEM section kind.
        if let ureq::tls::PemItem::PrivateKey(k) = item.map_err(|e| TlsError::Pem {
            what: "client key",
            detail: e.to_string(),
        })? {
            return Ok(k);
        }
    }
    Err(TlsError::Empty("client key"))
}

/// An agent like [`agent`] with extra TLS trust, a client certificate, an explicit proxy, or
/// (only when asked) no server verification.
pub fn agent_with_tls(opts: &AgentOptions, tls: &TlsOptions) -> Result<ureq::Agent, TlsError> {
    config_with_tls(opts, tls).map(Into::into)
}

/// The configuration [`agent_with_tls`] builds its agent from, for callers that assemble the agent
/// themselves with [`ureq::Agent::with_parts`] (a custom resolver: kubeconfig `tls-server-name`).
pub fn config_with_tls(
    opts: &AgentOptions,
    tls: &TlsOptions,
) -> Result<ureq::config::Config, TlsError> {
    let roots = match &tls.ca_pem {
        Some(pem) => ureq::tls::RootCerts::new_with_certs(&pem_certs(pem, "CA certificate")?),
        None => ureq::tls::RootCerts::PlatformVerifier,
    };
    let client_cert = match &tls.client_cert {
        Some((chain, key)) => Some(ureq::tls::ClientCert::new_with_certs(
            &pem_certs(chain, "client certificate")?,
            pem_key(key)?,
        )),
        None => None,
    };
    let tls_config = ureq::tls::TlsConfig::builder()
        .root_certs(roots)
        .client_cert(client_cert)
        .disable_verification(tls.insecure)
        .build();
    let proxy = match &tls.proxy {
        Some(url) => Some(ureq::Proxy::new(url).map_err(|e| TlsError::Proxy {
            url: url.clone(),
            detail: e.to_string(),
        })?),
        None => ureq::Proxy::try_from_env(),
    };
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .timeout_connect(Some(opts.connect_timeout))
        .http_status_as_error(false)
        .tls_config(tls_config)
        .proxy(proxy)
        .build())
}
