//! The test API server's own API semantics, checked with raw HTTP (what kubectl or any client
//! sees): create/update/delete, resourceVersion and generation rules, Status error shapes.
use crate::support::kube;

use kube::{Fault, KubeServer};
use serde_json::{json, Value};

const COLL: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices";
const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn send(server: &KubeServer, method: &str, path: &str, ct: &str, body: &str) -> (u16, Value) {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.url))
        .header("Content-Type", ct)
        .body(body.to_string())
        .unwrap();
    let mut resp = agent().run(req).unwrap();
    let code = resp.status().as_u16();
    (
        code,
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

fn isvc(uri: &str) -> String {
    json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "fd"},
           "spec": {"predictor": {"model": {"storageUri": uri}}}})
    .to_string()
}

#[test]
fn create_then_already_exists() {
    let s = KubeServer::start();
    let (code, obj) = send(&s, "POST", COLL, "application/json", &isvc("s3://v1"));
    assert_eq!(code, 201);
    assert_eq!(
        (
            obj["metadata"]["generation"].clone(),
            obj["metadata"]["namespace"].clone()
        ),
        (json!(1), json!("ml"))
    );
    let (code, st) = send(&s, "POST", COLL, "application/json", &isvc("s3://v1"));
    assert_eq!(
        (code, st["kind"].as_str(), st["reason"].as_str()),
        (409, Some("Status"), Some("AlreadyExists"))
    );
    let (code, list) = send(&s, "GET", COLL, "application/json", "");
    assert_eq!(
        (
            code,
            list["kind"].as_str(),
            list["items"].as_array().map(Vec::len)
        ),
        (200, Some("InferenceServiceList"), Some(1))
    );
}

#[test]
fn generation_moves_on_spec_changes_only_and_resource_version_on_every_write() {
    let s = KubeServer::start();
    send(&s, "POST", COLL, "application/json", &isvc("s3://v1"));
    let rv0 = s.object(ISVC).unwrap()["metadata"]["resourceVersion"].clone();
    let (_, o) = send(
        &s,
        "PATCH",
        ISVC,
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"a":"b"}}}"#,
    );
    assert_eq!(o["metadata"]["generation"], 1);
    assert_ne!(o["metadata"]["resourceVersion"], rv0);
    let (_, o) = send(
        &s,
        "PATCH",
        ISVC,
        "application/merge-patch+json",
        r#"{"spec":{"predictor":{"minReplicas":1}}}"#,
    );
    assert_eq!(o["metadata"]["generation"], 2);
    // Status written through the main resource is ignored.
    let (_, o) = send(
        &s,
        "PATCH",
        ISVC,
        "application/merge-patch+json",
        r#"{"status":{"url":"hacked"}}"#,
    );
    assert_ne!(o["status"]["url"], "hacked");
}

#[test]
fn put_with_a_stale_resource_version_conflicts() {
    let s = KubeServer::start();
    let (_, created) = send(&s, "POST", COLL, "application/json", &isvc("s3://v1"));
    send(
        &s,
        "PATCH",
        ISVC,
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"x":"y"}}}"#,
    );
    let mut stale = created.clone();
    stale["spec"]["predictor"]["minReplicas"] = json!(3);
    let (code, st) = send(&s, "PUT", ISVC, "application/json", &stale.to_string());
    assert_eq!(code, 409);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified"),
        "{st}"
    );
    let fresh = s.object(ISVC).unwrap();
    let (code, _) = send(&s, "PUT", ISVC, "application/json", &fresh.to_string());
    assert_eq!(code, 200);
}

#[test]
fn strategic_merge_patch_on_a_custom_resource_is_415() {
    let s = KubeServer::start();
    send(&s, "POST", COLL, "application/json", &isvc("s3://v1"));
    let (code, st) = send(
        &s,
        "PATCH",
        ISVC,
        "application/strategic-merge-patch+json",
        "{}",
    );
    assert_eq!(
        (code, st["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
}

#[test]
fn apply_requires_a_field_manager_and_dry_run_create_stores_nothing() {
    let s = KubeServer::start();
    let (code, _) = send(
        &s,
        "PATCH",
        ISVC,
        "application/apply-patch+yaml",
        &isvc("s3://v1"),
    );
    assert_eq!(code, 400);
    let (code, o) = send(
        &s,
        "PATCH",
        &format!("{ISVC}?fieldManager=m&dryRun=All"),
        "application/apply-patch+yaml",
        &isvc("s3://v1"),
    );
    assert_eq!((code, o["metadata"]["name"].as_str()), (201, Some("fd")));
    assert!(s.object(ISVC).is_none());
    let (code, _) = send(&s, "PATCH", &format!("{ISVC}?fieldManager=m"), "application/apply-patch+yaml", "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: fd}\nspec: {predictor: {}}\n");
    assert_eq!(code, 201);
    assert!(s.object(ISVC).is_some());
}

#[test]
fn delete_removes_and_then_404s() {
    let s = KubeServer::start();
    send(&s, "POST", COLL, "application/json", &isvc("s3://v1"));
    assert_eq!(send(&s, "DELETE", ISVC, "application/json", "").0, 200);
    let (code, st) = send(&s, "GET", ISVC, "application/json", "");
    assert_eq!((code, st["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(
        st["message"],
        "inferenceservices.serving.kserve.io \"fd\" not found"
    );
}

#[test]
fn forbidden_uses_rbac_wording_and_subresources_are_separate() {
    let s = KubeServer::start();
    send(&s, "POST", COLL, "application/json", &isvc("s3://v1"));
    s.deny("patch", "inferenceservices/status");
    assert_eq!(
        send(&s, "PATCH", ISVC, "application/merge-patch+json", "{}").0,
        200
    );
    let (code, st) = send(
        &s,
        "PATCH",
        &format!("{ISVC}/status"),
        "application/merge-patch+json",
        "{}",
    );
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "inferenceservices.serving.kserve.io \"fd\" is forbidden: User \"system:serviceaccount:ci:mlcanary\" cannot patch resource \"inferenceservices/status\" in API group \"serving.kserve.io\" in the namespace \"ml\""
    );
}

#[test]
fn injected_faults_hit_only_the_next_n_matching_requests() {
    let s = KubeServer::start();
    s.inject(
        |r| r.method == "GET" && r.path == "/version",
        Fault::RetryAfter(429, 7),
        1,
    );
    let resp = agent().get(format!("{}/version", s.url)).call().unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "7");
    assert_eq!(
        agent()
            .get(format!("{}/version", s.url))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let log = s.requests();
    assert!(log[0].fault.is_some() && log[1].fault.is_none());
}
