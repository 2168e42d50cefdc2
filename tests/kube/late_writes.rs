//! Late writes must not undo later ones. A write the client gave up on (its answer came after the
//! client timeout) can still be applied by the API server afterwards; before resourceVersion
//! preconditions, such a late `set_weight(50)` reverted a promotion and a late promote landed
//! after a rollback. Here the KServe platform runs over the real client against the test API
//! server, the race is forced (an answer held past the client timeout, then served; or a stale
//! write replayed; or an outside write slipped between our read and our write), and the server's
//! final object must be the latest intended state.
use crate::support::kube;

use kube::{Fault, KubeServer, Request};
use mlcanary::clients::kube::{Client, KubeError, PatchKind, PatchParams};
use mlcanary::platform::k8s::KubeApi;
use mlcanary::platform::kserve::Kserve;
use mlcanary::platform::kube_platform::KubeTarget;
use mlcanary::platform::{Platform, PlatformError};
use mlcanary::rollout::kube_live::LiveKube;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";
/// The client's whole-request timeout; a held answer takes longer.
const TIMEOUT: Duration = Duration::from_millis(300);
/// How long the server holds a faulted write before applying it: long enough that the client's
/// retry and our next change land first, whatever the machine's load.
const LATE: Duration = Duration::from_millis(1500);

fn client(url: &str) -> Client {
    kube::quick_client(url, TIMEOUT)
}

fn isvc(weight: u32) -> Value {
    json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "fd", "namespace": "ml"},
        "spec": {"predictor": {"canaryTrafficPercent": weight,
            "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v2"}}}})
}

fn server() -> KubeServer {
    let server = KubeServer::start();
    server.set_ready_after(0);
    server.insert(
        ISVC,
        json!({"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v1"}}}}),
    );
    server.tick();
    server
}

fn kserve_over(api: Box<dyn KubeApi>) -> Kserve {
    Kserve::new(KubeTarget {
        api,
        namespace: "ml".into(),
        name: "fd".into(),
        planned: Vec::new(),
        gitops: Vec::new(),
    })
}

fn kserve(server: &KubeServer) -> Kserve {
    kserve_over(Box::new(LiveKube::from_client(
        client(&server.url),
        "mlcanary",
    )))
}

/// The canary percent in the stored spec (`None`: the field is gone, i.e. promoted).
fn canary_percent(server: &KubeServer) -> Option<u64> {
    server.object(ISVC).unwrap()["spec"]["predictor"]["canaryTrafficPercent"].as_u64()
}

fn percent_write(r: &Request) -> Option<u64> {
    let ops: Value = serde_json::from_str(&r.body).ok()?;
    ops.as_array()?
        .iter()
        .find(|o| o["path"] == "/spec/predictor/canaryTrafficPercent" && o["op"] == "add")?["value"]
        .as_u64()
}

fn is_promote(r: &Request) -> bool {
    r.method == "PATCH" && r.body.contains("\"remove\"")
}

/// Waits until every held request has been served (received + LATE, with a margin).
fn wait_for_late_writes(server: &KubeServer) {
    let last = server
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .map(|r| r.at)
        .max()
        .expect("a held request");
    let due = last + LATE + Duration::from_millis(400);
    if let Ok(left) = due.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

/// The JSON patch's first op is a `test` of the resourceVersion.
fn guarded(r: &Request) -> bool {
    let ops: Value = serde_json::from_str(&r.body).unwrap();
    ops[0]["op"] == "test" && ops[0]["path"] == "/metadata/resourceVersion"
}

#[test]
fn a_late_weight_change_does_not_revert_the_promotion() {
    let server = server();
    let mut k = kserve(&server);
    k.prepare(10, 0, &[isvc(10)]).unwrap();
    // The first 50% write is answered only after LATE (the client times out and retries).
    server.inject(
        |r| r.method == "PATCH" && percent_write(r) == Some(50),
        Fault::Hang(LATE),
        1,
    );
    k.set_weight(50).unwrap();
    assert_eq!(canary_percent(&server), Some(50), "the retry landed");
    k.promote().unwrap();
    assert_eq!(canary_percent(&server), None, "promoted");
    wait_for_late_writes(&server);
    // The held 50% write has now been served: refused, since the object moved on.
    assert_eq!(
        canary_percent(&server),
        None,
        "a late weight change reverted the promotion"
    );
    let writes: Vec<Request> = server
        .requests()
        .into_iter()
        .filter(|r| percent_write(r).is_some() || is_promote(r))
        .collect();
    assert!(writes.iter().all(guarded), "every traffic write is guarded");
    assert!(writes[0].fault.is_some() && percent_write(&writes[0]) == Some(50));
}

#[test]
fn a_late_promote_does_not_undo_the_rollback() {
    let server = server();
    let mut k = kserve(&server);
    k.prepare(10, 0, &[isvc(10)]).unwrap();
    // Every promote attempt is held past the timeout: promote fails, the run rolls back, and
    // the held promotes reach the server afterwards.
    server.inject(is_promote, Fault::Hang(LATE), usize::MAX);
    let err = k.promote().unwrap_err();
    assert!(err.to_string().contains("PATCH"), "{err}");
    assert_eq!(canary_percent(&server), Some(10), "nothing applied yet");
    k.rollback().unwrap();
    assert_eq!(canary_percent(&server), Some(0), "rolled back");
    wait_for_late_writes(&server);
    let held = server.requests().iter().filter(|r| is_promote(r)).count();
    assert_eq!(held, 3, "the client's three attempts were all held");
    assert_eq!(
        canary_percent(&server),
        Some(0),
        "a late promote landed after the rollback"
    );
}

#[test]
fn a_replayed_stale_write_is_refused_with_real_status_answers() {
    let server = server();
    let mut k = kserve(&server);
    k.prepare(10, 0, &[isvc(10)]).unwrap();
    k.set_weight(50).unwrap();
    k.promote().unwrap();
    let stale = server
        .requests()
        .into_iter()
        .find(|r| percent_write(r) == Some(50))
        .unwrap();
    let c = client(&server.url);
    // The JSON patch's resourceVersion test fails: 422 Invalid, nothing changes.
    let body: Value = serde_json::from_str(&stale.body).unwrap();
    let e = c
        .patch(ISVC, &PatchKind::Json, &body, &PatchParams::default())
        .unwrap_err();
    assert!(matches!(e, KubeError::Invalid { .. }), "{e:?}");
    // A merge patch carrying a stale metadata.resourceVersion: 409 Conflict.
    let stale_rv = body_rv(&stale.body);
    let e = c
        .patch(
            ISVC,
            &PatchKind::Merge,
            &json!({"metadata": {"resourceVersion": stale_rv},
                "spec": {"predictor": {"canaryTrafficPercent": 50}}}),
            &PatchParams::default(),
        )
        .unwrap_err();
    assert!(matches!(e, KubeError::Conflict { .. }), "{e:?}");
    assert_eq!(canary_percent(&server), None, "still promoted");
}

fn body_rv(body: &str) -> String {
    let ops: Value = serde_json::from_str(body).unwrap();
    ops[0]["value"].as_str().unwrap().to_string()
}

/// A write by someone else, with its own client.
type OutsideWrite = Box<dyn FnOnce(&Client)>;

/// Runs `before_first_patch` (with its own client) just before the first real traffic PATCH
/// goes out, so the object moves between our read and our write.
struct Interleave {
    live: LiveKube,
    other: Client,
    before_first_patch: Option<OutsideWrite>,
}

impl KubeApi for Interleave {
    fn get(&mut self, path: &str) -> Result<Option<Value>, PlatformError> {
        self.live.get(path)
    }
    fn patch(
        &mut self,
        path: &str,
        kind: &PatchKind,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, PlatformError> {
        if *kind == PatchKind::Json && !dry_run {
            if let Some(f) = self.before_first_patch.take() {
                f(&self.other);
            }
        }
        self.live.patch(path, kind, body, dry_run)
    }
    fn delete(&mut self, path: &str) -> Result<(), PlatformError> {
        self.live.delete(path)
    }
    fn field_manager(&self) -> &str {
        self.live.field_manager()
    }
}

fn interleaved(server: &KubeServer, f: impl FnOnce(&Client) + 'static) -> Kserve {
    kserve_over(Box::new(Interleave {
        live: LiveKube::from_client(client(&server.url), "mlcanary"),
        other: client(&server.url),
        before_first_patch: Some(Box::new(f)),
    }))
}

fn traffic_writes(server: &KubeServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && percent_write(r).is_some())
        .count()
}

#[test]
fn an_outside_change_between_read_and_write_is_recomputed_not_overwritten_blindly() {
    let server = server();
    // Someone else (say, a controller) writes the object after our read: our first write is
    // refused, we read again and write again from the new version.
    let mut k = interleaved(&server, |c| {
        c.patch(
            ISVC,
            &PatchKind::Merge,
            &json!({"metadata": {"labels": {"team": "fraud"}}}),
            &PatchParams::default(),
        )
        .unwrap();
    });
    k.prepare(10, 0, &[isvc(10)]).unwrap();
    k.set_weight(50).unwrap();
    assert_eq!(canary_percent(&server), Some(50));
    let obj = server.object(ISVC).unwrap();
    assert_eq!(obj["metadata"]["labels"]["team"], "fraud", "theirs kept");
    assert_eq!(traffic_writes(&server), 2, "refused once, then recomputed");
}

#[test]
fn finding_the_intended_state_after_a_conflict_stops_without_writing_again() {
    let server = server();
    // Our own earlier attempt lands first (as a late write would): the object already has 50%.
    let landed: Rc<RefCell<Option<Value>>> = Rc::default();
    let seen = landed.clone();
    let mut k = interleaved(&server, move |c| {
        *seen.borrow_mut() = Some(c.patch(
            ISVC,
            &PatchKind::Json, &json!([{"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": 50}]),
            &PatchParams::default(),
        )
        .unwrap());
    });
    k.prepare(10, 0, &[isvc(10)]).unwrap();
    k.set_weight(50).unwrap();
    assert_eq!(canary_percent(&server), Some(50));
    // The outside write and our refused one; no third write once 50% was found in place.
    assert_eq!(traffic_writes(&server), 2);
    let landed = landed.borrow().clone().unwrap();
    assert_eq!(
        server.object(ISVC).unwrap()["metadata"]["resourceVersion"],
        landed["metadata"]["resourceVersion"],
        "our stale write was refused: the object is as the first write left it"
    );
}
