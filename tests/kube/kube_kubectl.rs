//! kubectl 1.32 against the test API server: proves the server speaks real Kubernetes (discovery,
//! GET, JSON patch, server-side apply), so what passes against it passes against a cluster.
use crate::support::kube;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";

fn kubectl(home: &Path, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup() -> (kube::KubeServer, tempfile::TempDir, std::path::PathBuf) {
    let server = kube::KubeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kc = server.write_kubeconfig(dir.path(), None);
    server.insert(
        ISVC,
        json!({"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v1"}}}}),
    );
    (server, dir, kc)
}

#[test]
fn kubectl_get_reads_the_object_as_json() {
    let (server, dir, kc) = setup();
    let (ok, out, err) = kubectl(
        dir.path(),
        &kc,
        &["get", "inferenceservices", "-n", "ml", "fd", "-o", "json"],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spec"]["predictor"]["model"]["storageUri"], "s3://m/v1");
    assert_eq!(v["kind"], "InferenceService");
    // Short names from discovery work too.
    let (ok, _, err) = kubectl(dir.path(), &kc, &["get", "isvc", "fd", "-o", "name"]);
    assert!(ok, "{err}");
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path == "/apis/serving.kserve.io/v1beta1"));
}

#[test]
fn kubectl_json_patch_changes_the_store() {
    let (server, dir, kc) = setup();
    let patch = r#"[{"op":"add","path":"/spec/predictor/canaryTrafficPercent","value":10},{"op":"replace","path":"/spec/predictor/model/storageUri","value":"s3://m/v2"}]"#;
    let (ok, _, err) = kubectl(
        dir.path(),
        &kc,
        &[
            "patch",
            "inferenceservice",
            "fd",
            "-n",
            "ml",
            "--type=json",
            "-p",
            patch,
        ],
    );
    assert!(ok, "{err}");
    let obj = server.object(ISVC).unwrap();
    assert_eq!(obj["spec"]["predictor"]["canaryTrafficPercent"], 10);
    assert_eq!(obj["metadata"]["generation"], 2);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.method == "PATCH" && r.content_type == "application/json-patch+json"));
}

#[test]
fn kubectl_server_side_apply_creates_and_records_the_manager() {
    let (server, dir, kc) = setup();
    let file = dir.path().join("rollout.yaml");
    std::fs::write(
        &file,
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\n  namespace: ml\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers: [{name: m, image: m:v1}]\n  strategy:\n    canary:\n      steps: [{setWeight: 20}, {pause: {}}]\n",
    )
    .unwrap();
    let (ok, out, err) = kubectl(
        dir.path(),
        &kc,
        &[
            "apply",
            "--server-side",
            "--field-manager=ci",
            "-f",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("serverside-applied"), "{out}");
    let obj = server
        .object("/apis/argoproj.io/v1alpha1/namespaces/ml/rollouts/r")
        .unwrap();
    assert_eq!(obj["spec"]["replicas"], 2);
    assert_eq!(obj["metadata"]["managedFields"][0]["manager"], "ci");
    assert_eq!(obj["status"]["phase"], "Healthy");
    let apply = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert!(
        apply
            .content_type
            .starts_with("application/apply-patch+yaml"),
        "{apply:?}"
    );
    assert_eq!(apply.param("fieldManager"), Some("ci"));
    assert_eq!(apply.param("fieldValidation"), Some("Strict"));
}

#[test]
fn kubectl_reports_not_found_and_forbidden_like_a_cluster() {
    let (server, dir, kc) = setup();
    let (ok, _, err) = kubectl(
        dir.path(),
        &kc,
        &["get", "inferenceservice", "nope", "-n", "ml"],
    );
    assert!(!ok);
    assert!(
        err.contains("inferenceservices.serving.kserve.io \"nope\" not found"),
        "{err}"
    );
    server.deny("patch", "inferenceservices");
    let (ok, _, err) = kubectl(
        dir.path(),
        &kc,
        &[
            "patch",
            "isvc",
            "fd",
            "-n",
            "ml",
            "--type=merge",
            "-p",
            "{\"spec\":{}}",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("cannot patch resource \"inferenceservices\""),
        "{err}"
    );
}

#[test]
fn kubectl_over_https_with_ca_and_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let (server, files) = kube::KubeServer::start_tls(dir.path(), false);
    server.require_token("tls-token");
    server.insert(
        ISVC,
        json!({"spec": {"predictor": {"model": {"storageUri": "s3://m/v1"}}}}),
    );
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "current-context: t\nclusters:\n- {{name: c, cluster: {{server: \"{}\", certificate-authority: \"{}\"}}}}\nusers:\n- {{name: u, user: {{token: tls-token}}}}\ncontexts:\n- {{name: t, context: {{cluster: c, user: u, namespace: ml}}}}\n",
            server.url,
            files.ca_crt.display()
        ),
    )
    .unwrap();
    let (ok, out, err) = kubectl(
        dir.path(),
        &kc,
        &[
            "get",
            "isvc",
            "fd",
            "-o",
            "jsonpath={.spec.predictor.model.storageUri}",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "s3://m/v1");
    assert!(server
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer tls-token")));
}
