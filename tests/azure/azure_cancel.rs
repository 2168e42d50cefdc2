//! A signal while our own endpoint operation is in flight (ARM refuses other writes with 409
//! until it ends): the rollback follows our operation to its end and is sent the moment ARM
//! accepts a write, retrying 409 until the process must exit; when time runs out the error says
//! where the endpoint is, and a later `mlcanary rollback` (a fresh driver) finishes the job.
//! The guard is the live one (`rollout::live::CancelGuard`) over a real `Cancel` flag.

use crate::support::azure;

use azure::wire::{arm, credential, secret_env};
use azure::FakeAzure;
use mlcanary::platform::azureml::{AzureMl, AzureMlTarget};
use mlcanary::platform::Platform;
use mlcanary::rollout::clock::Cancel;
use mlcanary::rollout::live::CancelGuard;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn target() -> AzureMlTarget {
    azure::wire::target(false, false)
}

/// blue 90 / green 10 served; endpoint operations take `polls` observations; 409 while busy.
fn fake(polls: u32) -> FakeAzure {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let ep = fake.endpoint_path("fraud");
    let mut w = fake.world();
    let blue = w.deployments[&format!("{ep}/deployments/blue")].clone();
    w.deployments
        .insert(format!("{ep}/deployments/green"), blue);
    w.endpoints.get_mut(&ep).unwrap()["properties"]["traffic"] = json!({"blue": 90, "green": 10});
    w.serving.insert(ep, json!({"blue": 90, "green": 10}));
    w.conflict_while_busy = true;
    w.endpoint_polls = polls;
    drop(w);
    fake
}

/// A driver whose reads a signal abandons, with `grace` to finish after it; the signal comes
/// when the fake first answers a poll of an endpoint operation.
fn driver_signalled_mid_operation(fake: &FakeAzure, grace: Duration) -> AzureMl {
    let cancel = Cancel::new();
    let on_poll = cancel.clone();
    fake.inject(
        move |req, _| {
            if req.path.contains("/mfeOperationsStatus/") {
                on_poll.cancel();
            }
            false
        },
        azure::ArmFault::Status(500),
        usize::MAX,
    );
    let client = arm(fake, credential(fake, &secret_env()))
        .interruptible_by(Arc::new(CancelGuard::with_grace(cancel, grace)));
    AzureMl::new(client, target(), None)
}

#[test]
fn rollback_waits_for_our_own_operation_then_lands() {
    let fake = fake(20);
    let mut p = driver_signalled_mid_operation(&fake, Duration::from_secs(30));
    let err = p.set_weight(50).unwrap_err().to_string();
    assert!(err.contains("abandoned"), "{err}");
    // Our 50% is still being applied at ARM: a write now would get 409.
    assert_eq!(fake.serving("fraud"), json!({"blue": 90, "green": 10}));
    p.rollback().unwrap();
    assert_eq!(fake.serving("fraud"), json!({"blue": 100, "green": 0}));
    let w = fake.world();
    let puts: Vec<_> = w.log.iter().filter(|l| l.starts_with("PUT")).collect();
    assert_eq!(
        puts.len(),
        2,
        "the 50% and the rollback, nothing refused: {puts:#?}"
    );
    assert!(puts.iter().all(|l| l.ends_with("-> 200")), "{puts:#?}");
}

#[test]
fn rollback_retries_409_of_an_operation_it_did_not_start() {
    // Someone else's operation (the portal, another pipeline) holds the endpoint: 409 until it
    // ends; the rollback keeps trying within the grace and lands.
    let fake = fake(6);
    let cancel = Cancel::new();
    cancel.cancel();
    let client = arm(&fake, credential(&fake, &secret_env())).interruptible_by(Arc::new(
        CancelGuard::with_grace(cancel, Duration::from_secs(30)),
    ));
    let mut p = AzureMl::new(client, target(), None);
    {
        // Another client starts an operation (a traffic change) and does not wait for it.
        let ep = fake.endpoint_path("fraud");
        let c = arm(&fake, credential(&fake, &secret_env()));
        let mut body = azure::wire::writable(c.get(&ep).unwrap().body);
        body["properties"]["traffic"] = json!({"blue": 80, "green": 20});
        c.put(&ep, &body, None).unwrap();
    }
    p.rollback().unwrap();
    assert_eq!(fake.serving("fraud"), json!({"blue": 100, "green": 0}));
    let w = fake.world();
    assert!(
        w.log
            .iter()
            .any(|l| l.starts_with("PUT") && l.ends_with("-> 409")),
        "{:#?}",
        w.log
    );
}

#[test]
fn when_time_runs_out_the_error_says_where_traffic_is_and_a_later_rollback_finishes() {
    // An operation far longer than the grace.
    let fake = fake(100_000);
    let mut p = driver_signalled_mid_operation(&fake, Duration::from_millis(150));
    assert!(p.set_weight(50).is_err());
    let err = p.rollback().unwrap_err().to_string();
    assert!(err.contains("blue 50%, green 50%"), "{err}");
    assert!(err.contains("mlcanary rollback"), "{err}");
    assert_eq!(fake.serving("fraud"), json!({"blue": 90, "green": 10}));
    // Later, `mlcanary rollback` (a new process, no signal): the operation ends meanwhile.
    {
        let mut w = fake.world();
        w.endpoint_polls = 2;
        for op in w.ops.values_mut() {
            op.polls_left = op.polls_left.min(3);
        }
    }
    let mut later = AzureMl::new(arm(&fake, credential(&fake, &secret_env())), target(), None);
    later.rollback().unwrap();
    assert_eq!(fake.serving("fraud"), json!({"blue": 100, "green": 0}));
}
