//! Kubeconfig `tls-server-name`, with kubectl's meaning: the name used for SNI and for verifying the
//! server certificate, while the connection still goes to the `server` URL's host and port.
//!
//! Why it is done this way: ureq 3 takes the TLS name from the request URL and has no override. So
//! requests are addressed to `https://<tls-server-name>:<port><path>` (SNI and verification then use
//! that name), a [`Resolver`] maps that one name to the addresses of the `server` URL's host (every
//! other name resolves as usual), and the `Host` header keeps the `server` URL's authority, as
//! kubectl sends it. Everything lives here so the client only swaps a base URL and an agent.
//!
//! Limitation, with a proxy (`proxy-url` or `HTTPS_PROXY`): the proxy is told to CONNECT to
//! `<tls-server-name>:<port>` and resolves that name itself (kubectl asks for the `server` host), so
//! the proxy must be able to resolve it; `NO_PROXY` is likewise matched against the TLS name.

use super::error::KubeError;
use crate::clients::http::{agent_with_tls, config_with_tls, AgentOptions, TlsError, TlsOptions};
use std::net::Ipv6Addr;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// How requests reach a cluster whose kubeconfig sets `tls-server-name`.
#[derive(Debug, Clone)]
pub(super) struct ServerName {
    /// `https://<tls-server-name>[:port][path]`: what request paths are appended to.
    base: String,
    /// The `server` URL's `host[:port]`, sent as `Host`.
    host_header: String,
    resolver: PinnedName,
}

/// Resolves `name` to the addresses of `target` (the `server` URL), anything else as usual.
#[derive(Debug, Clone)]
struct PinnedName {
    /// As `Uri::host` spells it (IPv6 in brackets).
    name: String,
    target: Uri,
}

impl Resolver for PinnedName {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let ours = uri
            .host()
            .is_some_and(|h| h.eq_ignore_ascii_case(&self.name));
        let uri = if ours { &self.target } else { uri };
        DefaultResolver::default().resolve(uri, config, timeout)
    }
}

fn invalid(what: &str, value: &str) -> KubeError {
    KubeError::Config(format!(
        "kubeconfig {what} {value:?} is not usable with tls-server-name"
    ))
}

impl ServerName {
    /// The route for `server` (an `https://` URL without trailing slash) verified as `name`.
    /// `None` for a plain `http://` server, where no TLS name applies.
    pub(super) fn new(server: &str, name: &str) -> Result<Option<ServerName>, KubeError> {
        let uri: Uri = server.parse().map_err(|_| invalid("server", server))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") => return Ok(None),
            _ => return Err(invalid("server", server)),
        }
        let authority = uri.authority().ok_or_else(|| invalid("server", server))?;
        let port = authority
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        // What follows the authority (a path prefix such as Rancher's `/k8s/clusters/<id>`) is kept.
        let after_scheme = &server["https://".len()..];
        let rest = &after_scheme[authority.as_str().len()..];
        let host = if name.parse::<Ipv6Addr>().is_ok() {
            format!("[{name}]")
        } else {
            name.to_string()
        };
        let base = format!("https://{host}{port}{rest}");
        // The name must be exactly the URL's host: no port, path, user or stray characters.
        let parsed: Uri = base.parse().map_err(|_| invalid("tls-server-name", name))?;
        if name.is_empty()
            || !parsed.host().is_some_and(|h| h.eq_ignore_ascii_case(&host))
            || parsed.port() != authority.port()
        {
            return Err(invalid("tls-server-name", name));
        }
        let target: Uri = format!("https://{}{port}/", authority.host())
            .parse()
            .map_err(|_| invalid("server", server))?;
        log::debug!(
            "kubeconfig tls-server-name {name:?}: connecting to {}{port}, verifying {name:?}",
            authority.host()
        );
        Ok(Some(ServerName {
            base,
            host_header: format!("{}{port}", authority.host()),
            resolver: PinnedName { name: host, target },
        }))
    }

    pub(super) fn base(&self) -> &str {
        &self.base
    }

    pub(super) fn host_header(&self) -> &str {
        &self.host_header
    }
}

/// An agent for `tls` that, given a route, resolves its TLS name to the real server.
pub(super) fn agent(
    opts: &AgentOptions,
    tls: &TlsOptions,
    route: Option<&ServerName>,
) -> Result<ureq::Agent, TlsError> {
    match route {
        None => agent_with_tls(opts, tls),
        Some(r) => Ok(ureq::Agent::with_parts(
            config_with_tls(opts, tls)?,
            DefaultConnector::new(),
            r.resolver.clone(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(server: &str, name: &str) -> ServerName {
        ServerName::new(server, name).unwrap().unwrap()
    }

    #[test]
    fn the_url_names_the_tls_name_and_host_keeps_the_server() {
        let r = route("https://10.0.0.7:6443", "kubernetes.internal");
        assert_eq!(r.base(), "https://kubernetes.internal:6443");
        assert_eq!(r.host_header(), "10.0.0.7:6443");
        assert_eq!(r.resolver.target.to_string(), "https://10.0.0.7:6443/");
        let r = route("https://rancher.example/k8s/clusters/c-1", "api.internal");
        assert_eq!(r.base(), "https://api.internal/k8s/clusters/c-1");
        assert_eq!(r.host_header(), "rancher.example");
        assert_eq!(
            route("https://[::1]:6443", "::1").base(),
            "https://[::1]:6443"
        );
    }

    #[test]
    fn plain_http_has_no_route_and_bad_names_are_refused() {
        assert!(ServerName::new("http://127.0.0.1:8080", "x.internal")
            .unwrap()
            .is_none());
        for bad in ["a/b", "a:1", "u@a", "a b", ""] {
            let e = ServerName::new("https://127.0.0.1:6443", bad);
            assert!(matches!(e, Err(KubeError::Config(_))), "{bad:?}: {e:?}");
        }
        assert!(ServerName::new("ftp://h:1", "a").is_err());
    }

    #[test]
    fn only_the_tls_name_is_pinned_to_the_server() {
        let r = route("https://127.0.0.1:6443", "Kubernetes.Internal");
        let cfg = Config::default();
        let no_timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::NotHappening,
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        let resolve = |u: &str| {
            r.resolver
                .resolve(&u.parse().unwrap(), &cfg, no_timeout)
                .map(|a| a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            resolve("https://kubernetes.internal:6443/api").unwrap(),
            vec!["127.0.0.1:6443"]
        );
        assert_eq!(
            resolve("http://127.0.0.2:3128/").unwrap(),
            vec!["127.0.0.2:3128"]
        );
    }
}
