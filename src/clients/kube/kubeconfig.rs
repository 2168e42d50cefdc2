//! kubeconfig files, read and merged as kubectl does, resolved to one [`ClusterConfig`].
//!
//! Merge rules (client-go `LoadingRules`): files of a `KUBECONFIG` list are read in order, missing
//! ones are skipped, the first file to set `current-context` wins and the first definition of a
//! named cluster/user/context wins. Relative file references resolve against the file that holds
//! them, so merged configs keep working.

use super::error::KubeError;
use super::exec::ExecConfig;
use crate::clients::http::TlsOptions;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Option<Vec<Named<Cluster>>>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
    #[serde(default)]
    contexts: Option<Vec<Named<Context>>>,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "context")]
    #[serde(rename = "value")]
    value: T,
}

#[derive(Debug, Deserialize)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: Option<String>,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Context {
    cluster: String,
    user: Option<String>,
    namespace: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<ExecConfig>,
    auth_provider: Option<serde_json::Value>,
}

/// How requests authenticate. Secrets stay inside; `Debug` never shows them.
#[derive(Clone)]
pub enum AuthSpec {
    None,
    Token(String),
    /// Re-read before every request: service-account tokens rotate.
    TokenFile(PathBuf),
    Basic {
        username: String,
        password: String,
    },
    Exec(ExecConfig),
}

impl std::fmt::Debug for AuthSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthSpec::None => f.write_str("None"),
            AuthSpec::Token(_) => f.write_str("Token(<redacted>)"),
            AuthSpec::TokenFile(p) => write!(f, "TokenFile({p:?})"),
            AuthSpec::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            AuthSpec::Exec(e) => write!(f, "Exec({:?})", e.command),
        }
    }
}

/// Everything needed to talk to one cluster as one user.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub server: String,
    pub namespace: Option<String>,
    /// CA, static client certificate, insecure flag, proxy.
    pub tls: TlsOptions,
    /// Kubeconfig `tls-server-name`: the name for SNI and certificate verification, while the
    /// connection goes to `server`'s host (see `server_name`).
    pub tls_server_name: Option<String>,
    pub auth: AuthSpec,
}

/// The files to read, in order: an explicit path, else the `KUBECONFIG` list, else `~/.kube/config`.
pub fn kubeconfig_paths(
    explicit: Option<&Path>,
    env_kubeconfig: Option<&str>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![expand_home(p, home)];
    }
    if let Some(list) = env_kubeconfig.filter(|s| !s.is_empty()) {
        let sep = if cfg!(windows) { ';' } else { ':' };
        return list
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

fn expand_home(p: &Path, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~"), home) {
        (Ok(rest), Some(h)) => h.join(rest),
        _ => p.to_path_buf(),
    }
}

/// A merged kubeconfig.
#[derive(Debug, Default)]
pub struct Kubeconfig {
    current_context: Option<String>,
    clusters: Vec<(String, Cluster)>,
    users: Vec<(String, User)>,
    contexts: Vec<(String, Context)>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("User(<redacted>)")
    }
}

fn rebase(dir: &Path, p: &mut Option<PathBuf>) {
    if let Some(path) = p {
        if path.is_relative() {
            *path = dir.join(&*path);
        }
    }
}

impl Kubeconfig {
    /// Reads and merges `paths`; missing files are skipped (as kubectl does), but an explicit
    /// single path that is missing, or a file that does not parse, is an error.
    pub fn load(paths: &[PathBuf]) -> Result<Kubeconfig, KubeError> {
        let mut merged = Kubeconfig::default();
        let mut found = false;
        for path in paths {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && paths.len() > 1 => continue,
                Err(e) => {
                    return Err(KubeError::Config(format!(
                        "cannot read kubeconfig {}: {e}",
                        path.display()
                    )))
                }
            };
            found = true;
            let dir = path.parent().unwrap_or(Path::new("."));
            merged.merge(Self::parse(&text, dir).map_err(|e| {
                KubeError::Config(format!("kubeconfig {} does not parse: {e}", path.display()))
            })?);
        }
        if !found {
            return Err(KubeError::Config(format!(
                "none of the kubeconfig files exist: {paths:?}"
            )));
        }
        Ok(merged)
    }

    /// Parses one file's text; relative paths resolve against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Kubeconfig, String> {
        let file: File = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        let mut clusters = Vec::new();
        for mut c in file.clusters.unwrap_or_default() {
            rebase(dir, &mut c.value.certificate_authority);
            clusters.push((c.name, c.value));
        }
        let mut users = Vec::new();
        for mut u in file.users.unwrap_or_default() {
            rebase(dir, &mut u.user.token_file);
            rebase(dir, &mut u.user.client_certificate);
            rebase(dir, &mut u.user.client_key);
            users.push((u.name, u.user));
        }
        let contexts = file
            .contexts
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect();
        Ok(Kubeconfig {
            current_context: file.current_context.filter(|c| !c.is_empty()),
            clusters,
            users,
            contexts,
        })
    }

    fn merge(&mut self, other: Kubeconfig) {
        if self.current_context.is_none() {
            self.current_context = other.current_context;
        }
        fn add<T>(into: &mut Vec<(String, T)>, from: Vec<(String, T)>) {
            for (name, v) in from {
                if !into.iter().any(|(n, _)| *n == name) {
                    into.push((name, v));
                }
            }
        }
        add(&mut self.clusters, other.clusters);
        add(&mut self.users, other.users);
        add(&mut self.contexts, other.contexts);
    }

    /// The context in use: `context` if given, else `current-context`.
    pub fn current_context(&self) -> Option<&str> {
        self.current_context.as_deref()
    }

    /// Resolves a context to a cluster, a user and a namespace.
    pub fn resolve(&self, context: Option<&str>) -> Result<ClusterConfig, KubeError> {
        let ctx_name = context.or(self.current_context.as_deref()).ok_or_else(|| {
            KubeError::Config("no context given and the kubeconfig has no current-context".into())
        })?;
        let ctx = self
            .contexts
            .iter()
            .find(|(n, _)| n == ctx_name)
            .map(|(_, c)| c)
            .ok_or_else(|| {
                let known: Vec<&str> = self.contexts.iter().map(|(n, _)| n.as_str()).collect();
                KubeError::Config(format!(
                    "context {ctx_name:?} is not in the kubeconfig (known: {known:?})"
                ))
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|(n, _)| *n == ctx.cluster)
            .map(|(_, c)| c)
            .ok_or_else(|| {
                KubeError::Config(format!(
                    "context {ctx_name:?} names cluster {:?}, which is not defined",
                    ctx.cluster
                ))
            })?;
        let user = match &ctx.user {
            Some(u) if !u.is_empty() => self
                .users
                .iter()
                .find(|(n, _)| n == u)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    KubeError::Config(format!(
                        "context {ctx_name:?} names user {u:?}, which is not defined"
                    ))
                })?,
            _ => User::default(),
        };
        let server = cluster
            .server
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| KubeError::Config(format!("cluster {:?} has no server", ctx.cluster)))?;
        let ca_pem = data_or_file(
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
            "certificate-authority",
        )?;
        let cert = data_or_file(
            &user.client_certificate_data,
            &user.client_certificate,
            "client-certificate",
        )?;
        let key = data_or_file(&user.client_key_data, &user.client_key, "client-key")?;
        let client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(KubeError::Config(
                    "a client certificate needs both certificate and key".into(),
                ))
            }
        };
        if user.auth_provider.is_some() {
            return Err(KubeError::Config(
                "the kubeconfig user uses the removed auth-provider mechanism; use an exec plugin"
                    .into(),
            ));
        }
        let auth = if let Some(t) = user.token.clone().filter(|t| !t.is_empty()) {
            AuthSpec::Token(t)
        } else if let Some(f) = user.token_file.clone() {
            AuthSpec::TokenFile(f)
        } else if let Some(e) = user.exec.clone() {
            AuthSpec::Exec(e)
        } else if let (Some(u), Some(p)) = (user.username.clone(), user.password.clone()) {
            AuthSpec::Basic {
                username: u,
                password: p,
            }
        } else {
            AuthSpec::None
        };
        Ok(ClusterConfig {
            server: server.trim_end_matches('/').to_string(),
            namespace: ctx.namespace.clone().filter(|n| !n.is_empty()),
            tls: TlsOptions {
                ca_pem,
                client_cert,
                insecure: cluster.insecure_skip_tls_verify,
                proxy: cluster.proxy_url.clone().filter(|p| !p.is_empty()),
            },
            tls_server_name: cluster.tls_server_name.clone(),
            auth,
        })
    }
}

/// `*-data` (base64) wins over the file, as in client-go.
fn data_or_file(
    data: &Option<String>,
    file: &Option<PathBuf>,
    what: &str,
) -> Result<Option<Vec<u8>>, KubeError> {
    use base64::Engine;
    if let Some(d) = data.as_ref().filter(|d| !d.is_empty()) {
        let clean: String = d.split_whitespace().collect();
        return base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| KubeError::Config(format!("{what}-data is not valid base64: {e}")));
    }
    match file {
        Some(p) => std::fs::read(p)
            .map(Some)
            .map_err(|e| KubeError::Config(format!("cannot read {what} {}: {e}", p.display()))),
        None => Ok(None),
    }
}

/// The service-account directory mounted into every pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// In-cluster config from `KUBERNETES_SERVICE_HOST`/`_PORT` and the service-account files in `dir`
/// (`token`, `ca.crt`, `namespace`). Tests pass their own directory.
pub fn in_cluster(host: &str, port: &str, dir: &Path) -> Result<ClusterConfig, KubeError> {
    let token = dir.join("token");
    if !token.exists() {
        return Err(KubeError::Config(format!(
            "running in a cluster but the service-account token {} is missing (automountServiceAccountToken: false?)",
            token.display()
        )));
    }
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let ca = std::fs::read(dir.join("ca.crt")).ok();
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|s| s.trim().to_string());
    Ok(ClusterConfig {
        server: format!("https://{host}:{port}"),
        namespace: namespace.filter(|n| !n.is_empty()),
        tls: TlsOptions {
            ca_pem: ca,
            ..TlsOptions::default()
        },
        tls_server_name: None,
        auth: AuthSpec::TokenFile(token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c1
  cluster: {server: "https://one:6443/", insecure-skip-tls-verify: true, proxy-url: "http://proxy:3128"}
users:
- name: u1
  user: {token: secret-a}
contexts:
- name: a
  context: {cluster: c1, user: u1, namespace: ml}
"#;
    const B: &str = r#"
current-context: b
clusters:
- name: c1
  cluster: {server: "https://shadowed"}
- name: c2
  cluster: {server: "http://two", certificate-authority: ca.pem}
users:
- name: u2
  user: {tokenFile: tok, username: x, password: y}
- name: u3
  user: {username: admin, password: pw}
- name: u4
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: plugin, args: [get-token], env: [{name: A, value: b}]}
- name: u5
  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}
contexts:
- {name: b, context: {cluster: c2, user: u2}}
- {name: basic, context: {cluster: c2, user: u3}}
- {name: exec, context: {cluster: c2, user: u4}}
- {name: cert, context: {cluster: c2, user: u5}}
- {name: a, context: {cluster: c2}}
"#;

    fn merged() -> Kubeconfig {
        let mut k = Kubeconfig::parse(A, Path::new("/a")).unwrap();
        k.merge(Kubeconfig::parse(B, Path::new("/b")).unwrap());
        k
    }

    #[test]
    fn first_file_wins_for_current_context_and_names() {
        let k = merged();
        assert_eq!(k.current_context(), Some("a"));
        let c = k.resolve(None).unwrap();
        assert_eq!(c.server, "https://one:6443");
        assert_eq!(c.namespace.as_deref(), Some("ml"));
        assert!(c.tls.insecure);
        assert_eq!(c.tls.proxy.as_deref(), Some("http://proxy:3128"));
        assert!(matches!(c.auth, AuthSpec::Token(ref t) if t == "secret-a"));
    }

    #[test]
    fn every_auth_kind_resolves() {
        let k = merged();
        let b = k.resolve(Some("b"));
        // ca.pem does not exist under /b: the error names the file.
        assert!(b.unwrap_err().to_string().contains("/b/ca.pem"));
        let mut k2 = Kubeconfig::parse(
            &B.replace(
                "certificate-authority: ca.pem",
                "insecure-skip-tls-verify: false",
            ),
            Path::new("/b"),
        )
        .unwrap();
        k2.current_context = Some("b".into());
        assert!(
            matches!(k2.resolve(None).unwrap().auth, AuthSpec::TokenFile(ref p) if p == Path::new("/b/tok"))
        );
        assert!(
            matches!(k2.resolve(Some("basic")).unwrap().auth, AuthSpec::Basic { ref username, .. } if username == "admin")
        );
        match k2.resolve(Some("exec")).unwrap().auth {
            AuthSpec::Exec(e) => {
                assert_eq!(e.command, "plugin");
                assert_eq!(e.args, vec!["get-token"]);
            }
            other => panic!("{other:?}"),
        }
        let cert = k2.resolve(Some("cert")).unwrap();
        assert_eq!(
            cert.tls.client_cert,
            Some((b"cert".to_vec(), b"key".to_vec()))
        );
        assert!(matches!(cert.auth, AuthSpec::None));
    }

    #[test]
    fn unknown_context_lists_the_known_ones() {
        let e = merged().resolve(Some("nope")).unwrap_err().to_string();
        assert!(e.contains("\"nope\"") && e.contains("\"exec\""), "{e}");
    }

    #[test]
    fn path_order_explicit_then_env_list_then_home() {
        let home = Path::new("/home/u");
        assert_eq!(
            kubeconfig_paths(Some(Path::new("~/k")), Some("/x"), Some(home)),
            vec![PathBuf::from("/home/u/k")]
        );
        assert_eq!(
            kubeconfig_paths(None, Some("/x::/y"), Some(home)),
            vec![PathBuf::from("/x"), PathBuf::from("/y")]
        );
        assert_eq!(
            kubeconfig_paths(None, None, Some(home)),
            vec![PathBuf::from("/home/u/.kube/config")]
        );
    }

    #[test]
    fn in_cluster_reads_the_service_account_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(in_cluster("10.0.0.1", "443", dir.path()).is_err());
        std::fs::write(dir.path().join("token"), "t").unwrap();
        std::fs::write(dir.path().join("namespace"), "ml\n").unwrap();
        let c = in_cluster("fd00::1", "443", dir.path()).unwrap();
        assert_eq!(c.server, "https://[fd00::1]:443");
        assert_eq!(c.namespace.as_deref(), Some("ml"));
        assert!(matches!(c.auth, AuthSpec::TokenFile(_)));
    }
}
