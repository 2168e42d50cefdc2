//! The Kubernetes client over HTTPS: kubeconfig CA (data and file), client certificates (data
//! and file), `insecure-skip-tls-verify`, `tls-server-name`, and verification failing without the CA.
use crate::support::kube;

use base64::Engine;
use kube::KubeServer;
use mlcanary::clients::kube::{Client, ClientOptions, KubeError, RetryPolicy};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";

fn b64(p: &Path) -> String {
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap())
}

fn connect(
    dir: &Path,
    server: &KubeServer,
    cluster: &str,
    user: &str,
) -> Result<serde_json::Value, KubeError> {
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "current-context: t\nclusters:\n- name: c\n  cluster:\n    server: {}\n{cluster}users:\n- name: u\n  user:\n{user}contexts:\n- {{name: t, context: {{cluster: c, user: u}}}}\n",
            server.url
        ),
    )
    .unwrap();
    let retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let c = Client::new(&ClientOptions {
        kubeconfig: Some(kc),
        retry,
        ..ClientOptions::default()
    })?;
    c.get(ISVC)
}

fn seed(s: &KubeServer) {
    s.insert(
        ISVC,
        json!({"spec": {"predictor": {"model": {"storageUri": "s3://m/v1"}}}}),
    );
}

#[test]
fn ca_data_and_ca_file_are_trusted_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let (s, f) = KubeServer::start_tls(dir.path(), false);
    seed(&s);
    let ca_data = format!("    certificate-authority-data: {}\n", b64(&f.ca_crt));
    assert_eq!(
        connect(dir.path(), &s, &ca_data, "    {}\n").unwrap()["metadata"]["name"],
        "fd"
    );
    let ca_file = format!("    certificate-authority: {}\n", f.ca_crt.display());
    assert!(connect(dir.path(), &s, &ca_file, "    {}\n").is_ok());
    // Without the CA the platform store does not know this server: verification fails.
    let e = connect(dir.path(), &s, "", "    {}\n").unwrap_err();
    assert!(matches!(e, KubeError::Transport(_)), "{e:?}");
    // Unless verification is explicitly switched off.
    assert!(connect(
        dir.path(),
        &s,
        "    insecure-skip-tls-verify: true\n",
        "    {}\n"
    )
    .is_ok());
}

#[test]
fn client_certificates_from_data_or_files_pass_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (s, f) = KubeServer::start_tls(dir.path(), true);
    seed(&s);
    let ca = format!("    certificate-authority-data: {}\n", b64(&f.ca_crt));
    let data = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&f.client_crt),
        b64(&f.client_key)
    );
    assert!(connect(dir.path(), &s, &ca, &data).is_ok());
    let files = format!(
        "    client-certificate: {}\n    client-key: {}\n",
        f.client_crt.display(),
        f.client_key.display()
    );
    assert!(connect(dir.path(), &s, &ca, &files).is_ok());
    let e = connect(dir.path(), &s, &ca, "    {}\n").unwrap_err();
    assert!(
        matches!(e, KubeError::Transport(_)),
        "no client certificate must fail the handshake: {e:?}"
    );
}

#[test]
fn exec_plugin_client_certificates_pass_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (s, f) = KubeServer::start_tls(dir.path(), true);
    seed(&s);
    let cred = json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {
        "clientCertificateData": std::fs::read_to_string(&f.client_crt).unwrap(),
        "clientKeyData": std::fs::read_to_string(&f.client_key).unwrap()}});
    let cred_file = dir.path().join("cred.json");
    std::fs::write(&cred_file, cred.to_string()).unwrap();
    let ca = format!("    certificate-authority-data: {}\n", b64(&f.ca_crt));
    let user = format!(
        "    exec: {{apiVersion: client.authentication.k8s.io/v1, command: cat, args: [\"{}\"]}}\n",
        cred_file.display()
    );
    assert_eq!(
        connect(dir.path(), &s, &ca, &user).unwrap()["metadata"]["name"],
        "fd"
    );
}

/// A server whose certificate names only `kubernetes.internal`, listening on 127.0.0.1.
const INTERNAL: &str = "DNS:kubernetes.internal";

#[test]
fn tls_server_name_is_verified_while_the_connection_goes_to_the_server_url() {
    let dir = tempfile::tempdir().unwrap();
    let (s, f) = KubeServer::start_tls_for(dir.path(), false, INTERNAL);
    seed(&s);
    let ca = format!("    certificate-authority-data: {}\n", b64(&f.ca_crt));
    let named = format!("{ca}    tls-server-name: kubernetes.internal\n");
    assert_eq!(
        connect(dir.path(), &s, &named, "    {}\n").unwrap()["metadata"]["name"],
        "fd"
    );
    assert_eq!(s.requests().len(), 1, "one request reached the server");
    // Without it the certificate does not name the URL's host (127.0.0.1).
    let e = connect(dir.path(), &s, &ca, "    {}\n").unwrap_err();
    let KubeError::Transport(msg) = &e else {
        panic!("expected a transport error: {e:?}")
    };
    assert!(
        msg.contains("certificate") && msg.contains("127.0.0.1"),
        "{msg}"
    );
    // A name the certificate does not hold fails the same way, naming it.
    let wrong = format!("{ca}    tls-server-name: other.internal\n");
    let e = connect(dir.path(), &s, &wrong, "    {}\n").unwrap_err();
    let KubeError::Transport(msg) = &e else {
        panic!("expected a transport error: {e:?}")
    };
    assert!(
        msg.contains("certificate") && msg.contains("other.internal"),
        "{msg}"
    );
    assert_eq!(s.requests().len(), 1, "failed handshakes send nothing");
}

#[test]
fn tls_server_name_applies_to_exec_plugin_client_certificates_too() {
    let dir = tempfile::tempdir().unwrap();
    let (s, f) = KubeServer::start_tls_for(dir.path(), true, INTERNAL);
    seed(&s);
    let cred = json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {
        "clientCertificateData": std::fs::read_to_string(&f.client_crt).unwrap(),
        "clientKeyData": std::fs::read_to_string(&f.client_key).unwrap()}});
    let cred_file = dir.path().join("cred.json");
    std::fs::write(&cred_file, cred.to_string()).unwrap();
    let cluster = format!(
        "    certificate-authority-data: {}\n    tls-server-name: kubernetes.internal\n",
        b64(&f.ca_crt)
    );
    let user = format!(
        "    exec: {{apiVersion: client.authentication.k8s.io/v1, command: cat, args: [\"{}\"]}}\n",
        cred_file.display()
    );
    assert_eq!(
        connect(dir.path(), &s, &cluster, &user).unwrap()["metadata"]["name"],
        "fd"
    );
}
