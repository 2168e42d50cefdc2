//! The test API server's own behaviour: store rules, Status errors, controllers.
#[path = "support/kube/mod.rs"]
mod kube;

#[test]
fn placeholder_builds() {
    let s = kube::KubeServer::start();
    assert!(s.url.starts_with("http://127.0.0.1:"));
}
