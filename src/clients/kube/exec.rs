//! Exec-plugin credentials (`client.authentication.k8s.io/v1`), in two halves: RUN spawns the
//! plugin with `KUBERNETES_EXEC_INFO`, PARSE turns its `ExecCredential` into a credential. PARSE
//! is pure so it is tested without processes; the cache (in `auth`) keeps a credential until its
//! `expirationTimestamp`, because plugins such as `aws eks get-token` are slow and rate limited.

use super::error::KubeError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The kubeconfig `user.exec` block. `Debug` hides env values (they may hold secrets).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecConfig {
    #[serde(default)]
    pub api_version: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, deserialize_with = "env_list")]
    pub env: Vec<(String, String)>,
    #[serde(default)]
    pub install_hint: Option<String>,
    #[serde(default)]
    pub provide_cluster_info: bool,
}

impl std::fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExecConfig")
            .field("api_version", &self.api_version)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &env)
            .finish()
    }
}

fn env_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    struct Var {
        name: String,
        value: String,
    }
    let vars: Option<Vec<Var>> = Option::deserialize(d)?;
    Ok(vars
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect())
}

/// What a plugin hands back. `Debug` is redacted.
#[derive(Clone, PartialEq)]
pub struct ExecCredential {
    pub token: Option<String>,
    /// PEM certificate and key.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// `None` = valid until the server rejects it.
    pub expires: Option<SystemTime>,
}

impl std::fmt::Debug for ExecCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecCredential")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .finish()
    }
}

impl ExecCredential {
    /// Still usable at `now`.
    pub fn valid_at(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

const SUPPORTED: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// PARSE: an `ExecCredential` JSON document (the plugin's stdout) into a credential.
pub fn parse_exec_credential(
    stdout: &[u8],
    expected_api_version: &str,
) -> Result<ExecCredential, KubeError> {
    let bad = |m: String| KubeError::Auth(format!("exec plugin output: {m}"));
    let v: Value = serde_json::from_slice(stdout).map_err(|e| bad(format!("not JSON ({e})")))?;
    if v.get("kind").and_then(Value::as_str) != Some("ExecCredential") {
        return Err(bad("kind is not ExecCredential".into()));
    }
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !expected_api_version.is_empty() && api != expected_api_version {
        return Err(bad(format!(
            "apiVersion {api:?}, the kubeconfig asked for {expected_api_version:?}"
        )));
    }
    let status = v.get("status").ok_or_else(|| bad("no status".into()))?;
    let s = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let client_cert = match (s("clientCertificateData"), s("clientKeyData")) {
        (Some(c), Some(k)) => Some((c.into_bytes(), k.into_bytes())),
        (None, None) => None,
        _ => {
            return Err(bad(
                "clientCertificateData and clientKeyData must come together".into(),
            ))
        }
    };
    let token = s("token");
    if token.is_none() && client_cert.is_none() {
        return Err(bad("status has neither token nor client certificate".into()));
    }
    let expires = match s("expirationTimestamp") {
        Some(ts) => {
            Some(parse_rfc3339(&ts).ok_or_else(|| bad(format!("bad expirationTimestamp {ts:?}")))?)
        }
        None => None,
    };
    Ok(ExecCredential {
        token,
        client_cert,
        expires,
    })
}

/// RFC 3339 (`2026-11-21T10:00:00Z`, fractions, offsets) to a `SystemTime`.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits.len()..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// RUN: spawns the plugin and returns its stdout. The plugin's stderr goes to ours (prompts,
/// warnings), stdin is closed: a CI step is never interactive.
pub fn run_exec_plugin(cfg: &ExecConfig, server: &str) -> Result<Vec<u8>, KubeError> {
    let api = if cfg.api_version.is_empty() {
        SUPPORTED[0]
    } else {
        cfg.api_version.as_str()
    };
    if !SUPPORTED.contains(&api) {
        return Err(KubeError::Auth(format!(
            "exec plugin apiVersion {api:?} is not supported (use {})",
            SUPPORTED[0]
        )));
    }
    let mut spec = json!({"interactive": false});
    if cfg.provide_cluster_info {
        spec["cluster"] = json!({"server": server});
    }
    let info = json!({"apiVersion": api, "kind": "ExecCredential", "spec": spec});
    let out = std::process::Command::new(&cfg.command)
        .args(&cfg.args)
        .envs(cfg.env.iter().map(|(k, v)| (k, v)))
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            let hint = cfg
                .install_hint
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            KubeError::Auth(format!(
                "cannot run exec plugin {:?}: {e}{hint}",
                cfg.command
            ))
        })?;
    if !out.status.success() {
        return Err(KubeError::Auth(format!(
            "exec plugin {:?} failed with {}",
            cfg.command, out.status
        )));
    }
    Ok(out.stdout)
}

/// RUN then PARSE.
pub fn exec_credential(cfg: &ExecConfig, server: &str) -> Result<ExecCredential, KubeError> {
    let api = if cfg.api_version.is_empty() {
        ""
    } else {
        cfg.api_version.as_str()
    };
    parse_exec_credential(&run_exec_plugin(cfg, server)?, api)
}

#[cfg(test)]
mod tests {
    use super::*;
    const V1: &str = "client.authentication.k8s.io/v1";

    #[test]
    fn parses_token_and_expiry() {
        let c = parse_exec_credential(
            br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"abc","expirationTimestamp":"2026-11-21T10:00:00Z"}}"#,
            V1,
        )
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("abc"));
        let e = c.expires.unwrap();
        assert_eq!(
            e.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_795_255_200
        );
        assert!(c.valid_at(e - Duration::from_secs(1)) && !c.valid_at(e));
        assert!(!format!("{c:?}").contains("abc"));
    }

    #[test]
    fn parses_client_certificates_without_expiry() {
        let c = parse_exec_credential(
            br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"C","clientKeyData":"K"}}"#,
            V1,
        )
        .unwrap();
        assert_eq!(c.client_cert, Some((b"C".to_vec(), b"K".to_vec())));
        assert!(c.expires.is_none() && c.valid_at(SystemTime::now()));
    }

    #[test]
    fn rejects_wrong_shapes() {
        for bad in [
            &br#"not json"#[..],
            br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"Other","status":{"token":"t"}}"#,
            br#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}"#,
            br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#,
            br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientKeyData":"K"}}"#,
            br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"soon"}}"#,
        ] {
            let e = parse_exec_credential(bad, V1).unwrap_err();
            assert!(matches!(e, KubeError::Auth(_)), "{e:?}");
        }
    }

    #[test]
    fn rfc3339_variants() {
        let base = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-01-01T01:00:00+01:00"), Some(base));
        assert_eq!(
            parse_rfc3339("2025-12-31T23:00:00.5-01:00"),
            Some(base + Duration::from_millis(500))
        );
        assert_eq!(
            base.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_767_225_600
        );
        assert!(parse_rfc3339("2026-01-01").is_none());
    }
}
