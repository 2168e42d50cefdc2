//! Argo Rollouts drive mode against the test API server's Argo controller (ported from upstream
//! `rollout/canary.go` and `rollout/pause.go`), through the real client: a resumed run locates
//! itself from the live Rollout and never releases a pause it did not judge, never "promotes"
//! again a Rollout that is already unpausing (controllerPause true, no pause conditions), and
//! never aborts a Rollout that is already fully promoted.
use crate::support::kube;

use kube::KubeServer;
use mlcanary::clients::kube::{Client, PatchKind, PatchParams};
use mlcanary::platform::argo::Argo;
use mlcanary::platform::kube_platform::KubeTarget;
use mlcanary::platform::{Platform, Readiness};
use mlcanary::rollout::kube_live::LiveKube;
use serde_json::{json, Value};
use std::time::Duration;

const RO: &str = "/apis/argoproj.io/v1alpha1/namespaces/ml/rollouts/r";

fn client(server: &KubeServer) -> Client {
    server.client()
}

/// The drive-mode Rollout mlcanary renders for stages 10, 25, 50 with `image`.
fn rollout(image: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r", "namespace": "ml"},
        "spec": {"replicas": 1,
        "template": {"spec": {"containers": [{"name": "m", "image": image}]}},
        "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]}}}})
}

/// A new mlcanary process (a resumed run): nothing remembered but the live Rollout.
fn argo(server: &KubeServer) -> Argo {
    Argo::new(KubeTarget {
        api: Box::new(LiveKube::from_client(client(server), "mlcanary")),
        namespace: "ml".into(),
        name: "r".into(),
        planned: vec![rollout("m:v2")],
        gitops: Vec::new(),
    })
}

fn merge(server: &KubeServer, path: &str, body: Value) -> Value {
    client(server)
        .patch(path, &PatchKind::Merge, &body, &PatchParams::default())
        .unwrap()
}

/// (currentStepIndex, canary weight, controllerPause, has pause conditions)
fn at(server: &KubeServer) -> (u64, u64, bool, bool) {
    let s = server.object(RO).unwrap()["status"].clone();
    (
        s["currentStepIndex"].as_u64().unwrap_or(99),
        s["canary"]["weights"]["canary"]["weight"]
            .as_u64()
            .unwrap_or(999),
        s["controllerPause"] == true,
        s["pauseConditions"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
    )
}

fn status_patches(server: &KubeServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/status"))
        .map(|r| r.body)
        .collect()
}

/// A cluster with controllers reacting `lag` late; the update to v2 sits at the pause of
/// stage 1 (step 1).
fn updated(lag: Duration) -> KubeServer {
    let mut server = KubeServer::start();
    server.insert(RO, rollout("m:v1"));
    server.set_controllers(lag, Duration::from_millis(40));
    merge(
        &server,
        RO,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:v2"}]}}}}),
    );
    server.settle();
    assert_eq!(at(&server), (1, 10, true, true));
    server
}

/// The issue's first failure: the re-run found the Rollout at the pause of stage 2 (the stage
/// it resumes) and cleared it, so Argo moved to 50% while stage 2 was being judged.
#[test]
fn a_resumed_run_judges_the_pause_it_finds_instead_of_releasing_it() {
    let server = updated(Duration::from_millis(100));
    // The killed run moved on from stage 1 (released its pause); Argo is now at stage 2's pause.
    merge(
        &server,
        &format!("{RO}/status"),
        json!({"status": {"pauseConditions": null}}),
    );
    server.settle();
    assert_eq!(at(&server), (3, 25, true, true));
    let before = status_patches(&server).len();
    let mut p = argo(&server);
    p.set_weight(25).unwrap();
    assert_eq!(p.poll_ready().unwrap(), Readiness::Ready);
    server.settle();
    assert_eq!(status_patches(&server).len(), before, "no pause released");
    assert_eq!(at(&server), (3, 25, true, true), "still paused at stage 2");
    // Judged: moving on releases exactly that pause.
    p.set_weight(50).unwrap();
    server.settle();
    assert_eq!(at(&server).0, 5);
    assert_eq!(p.poll_ready().unwrap(), Readiness::Ready);
}

/// The killed run cleared stage 1's pause and the controller has not reconciled yet
/// (controllerPause true, no conditions: "waiting for rollout to unpause"). The plugin's
/// `promote` would now step currentStepIndex on, and the controller would complete the next
/// pause too (controllerPause is still true): stage 2 skipped. The re-run must just wait.
#[test]
fn a_rollout_already_unpausing_is_not_promoted_again() {
    let server = updated(Duration::from_millis(1500));
    merge(
        &server,
        &format!("{RO}/status"),
        json!({"status": {"pauseConditions": null}}),
    );
    assert_eq!(at(&server), (1, 10, true, false), "unpausing");
    let mut p = argo(&server);
    p.set_weight(25).unwrap();
    assert!(
        matches!(p.poll_ready().unwrap(), Readiness::Pending(_)),
        "not ready while unpausing"
    );
    assert!(
        !status_patches(&server)
            .iter()
            .any(|b| b.contains("currentStepIndex")),
        "{:?}",
        status_patches(&server)
    );
    server.settle();
    assert_eq!(
        at(&server),
        (3, 25, true, true),
        "paused at stage 2, not past it"
    );
    assert_eq!(p.poll_ready().unwrap(), Readiness::Ready);
}

/// Moving on before the controller paused at the judged step: the release waits for the pause.
#[test]
fn a_pause_not_yet_reached_is_released_once_the_controller_pauses_there() {
    let mut server = KubeServer::start();
    server.insert(RO, rollout("m:v1"));
    server.set_controllers(Duration::from_millis(600), Duration::from_millis(40));
    merge(
        &server,
        RO,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:v2"}]}}}}),
    );
    // Stale: the controller has not seen the new template; the record says stage 2.
    let mut p = argo(&server);
    p.set_weight(25).unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while p.poll_ready().unwrap() != Readiness::Ready {
        assert!(
            std::time::Instant::now() < until,
            "never ready: {:?}",
            at(&server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(at(&server), (3, 25, true, true));
}

/// A SIGTERM (rollback) after Argo fully promoted must not abort: an abort then only degrades
/// the Rollout with 100% on the new version.
#[test]
fn a_fully_promoted_rollout_is_never_aborted() {
    let server = updated(Duration::from_millis(100));
    let mut p = argo(&server);
    p.promote().unwrap();
    server.settle();
    let o = server.object(RO).unwrap();
    assert_eq!(o["status"]["phase"], "Healthy", "{o}");
    assert_eq!(p.settled().unwrap(), None);
    let err = p.rollback().unwrap_err().to_string();
    assert!(err.contains("already fully promoted"), "{err}");
    assert!(
        !status_patches(&server).iter().any(|b| b.contains("abort")),
        "{:?}",
        status_patches(&server)
    );
    server.settle();
    assert_eq!(server.object(RO).unwrap()["status"]["phase"], "Healthy");
}

/// A Rollout CRD installed without the status subresource answers 404 on `/status`: the abort
/// goes to the main resource, as `kubectl argo rollouts abort` does (`AbortRollout` in
/// argo-rollouts' `cmd/abort/abort.go`: on `k8serrors.IsNotFound` it patches without
/// "status"). The real client reports the 404 as a typed `KubeError::NotFound`; matching the
/// message text for "404" missed it and the rollback failed.
#[test]
fn an_abort_without_the_status_subresource_patches_the_rollout() {
    let server = updated(Duration::from_millis(100));
    let status = format!("{RO}/status");
    server.inject(
        move |r| r.method == "PATCH" && r.path == status,
        kube::Fault::Status(404),
        usize::MAX,
    );
    let mut p = argo(&server);
    p.rollback().unwrap();
    let patches: Vec<(String, String)> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| (r.path, r.body))
        .collect();
    let n = patches.len();
    assert!(n >= 2, "{patches:?}");
    assert_eq!(patches[n - 2].0, format!("{RO}/status"), "{patches:?}");
    assert_eq!(patches[n - 1].0, RO, "{patches:?}");
    let body: Value = serde_json::from_str(&patches[n - 1].1).unwrap();
    assert_eq!(body["status"]["abort"], true, "{body}");
}
