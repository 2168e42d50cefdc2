//! Azure long-running operations in every style ARM's RPC and the Microsoft.MachineLearningServices
//! swagger allow (`tests/support/azure` answers in the style a test picks): 200/201 with
//! `Azure-AsyncOperation`, 201/202 with `Location`, 200/201 with a non-terminal
//! `provisioningState` and no header (`final-state-via: original-uri`: the resource itself is
//! polled), with and without `Retry-After`, operations ending Failed/Canceled, and 409 while an
//! operation runs. After every call returns, the traffic the endpoint really serves is the one
//! asked for.

use crate::support::azure;

use azure::wire::{arm, credential, secret_env};
use azure::{FakeAzure, Lro};
use mlcanary::clients::azure::{ArmClient, PollPolicy};
use mlcanary::clients::http::{agent, AgentOptions};
use mlcanary::platform::azureml::{AzureMl, AzureMlTarget};
use mlcanary::platform::{Platform, Readiness};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn target(delete_old: bool) -> AzureMlTarget {
    azure::wire::target(delete_old, false)
}

fn deployment() -> Value {
    json!({"location": "westeurope", "sku": {"name": "Default", "capacity": 1},
        "properties": {"endpointComputeType": "Managed", "model": "azureml:fraud:2",
            "instanceType": "Standard_DS3_v2", "environmentId": "azureml:sklearn-env:3"}})
}

fn fake(lro: Lro, retry_after: Option<u32>) -> FakeAzure {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    {
        let mut w = fake.world();
        w.lro = lro;
        w.retry_after = retry_after;
        w.conflict_while_busy = true;
        w.endpoint_polls = 3;
    }
    fake
}

fn ready(p: &mut AzureMl) {
    for _ in 0..100 {
        match p.poll_ready().unwrap() {
            Readiness::Pending(_) => std::thread::sleep(Duration::from_millis(2)),
            Readiness::Ready => return,
            other => panic!("{other:?}"),
        }
    }
    panic!("never ready");
}

fn state(fake: &FakeAzure) -> String {
    let ep = fake.endpoint_path("fraud");
    fake.world().endpoints[&ep]["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

const STYLES: [(Lro, Option<u32>); 6] = [
    (Lro::AsyncOperation, Some(1)),
    (Lro::AsyncOperation, None),
    (Lro::Location, Some(1)),
    (Lro::Location, None),
    (Lro::NoHeader, Some(1)),
    (Lro::NoHeader, None),
];

#[test]
fn every_operation_style_is_followed_until_the_traffic_is_served() {
    for (lro, ra) in STYLES {
        let fake = fake(lro, ra);
        let cred = credential(&fake, &secret_env());
        let mut p = AzureMl::new(arm(&fake, cred), target(true), Some(deployment()));
        p.prepare(10, 0, &[]).unwrap();
        ready(&mut p);
        assert_eq!(
            fake.serving("fraud"),
            json!({"blue": 90, "green": 10}),
            "{lro:?}/{ra:?}: first stage"
        );
        assert_eq!(state(&fake), "Succeeded", "{lro:?}/{ra:?}");
        p.set_weight(50).unwrap();
        assert_eq!(
            fake.serving("fraud"),
            json!({"blue": 50, "green": 50}),
            "{lro:?}/{ra:?}: 50%"
        );
        p.promote().unwrap();
        assert_eq!(
            fake.serving("fraud"),
            json!({"green": 100}),
            "{lro:?}/{ra:?}: promote returned while the endpoint still served the old split"
        );
        let blue = format!("{}/deployments/blue", fake.endpoint_path("fraud"));
        assert!(
            !fake.world().deployments.contains_key(&blue),
            "{lro:?}/{ra:?}: the old deployment's DELETE was followed to its end"
        );
        // Nothing ever had to be retried over a 409: each operation was over before the next write.
        let log = fake.world().log.clone();
        assert!(
            !log.iter().any(|l| l.ends_with("-> 409")),
            "{lro:?}/{ra:?}: {log:#?}"
        );
    }
}

#[test]
fn an_operation_ending_failed_or_canceled_is_an_error_with_its_body() {
    for (lro, _) in STYLES.iter().step_by(2) {
        for status in ["Failed", "Canceled"] {
            let fake = fake(*lro, Some(1));
            fake.world().endpoint_op_failures.push((
                status.into(),
                "InferencingClientCallFailed".into(),
                "The traffic update could not be applied: quota exceeded.".into(),
            ));
            // The canary already exists and serves nothing.
            let ep = fake.endpoint_path("fraud");
            {
                let mut w = fake.world();
                let blue = w.deployments[&format!("{ep}/deployments/blue")].clone();
                w.deployments
                    .insert(format!("{ep}/deployments/green"), blue);
            }
            let cred = credential(&fake, &secret_env());
            let mut p = AzureMl::new(arm(&fake, cred), target(false), None);
            let err = p.set_weight(20).unwrap_err().to_string();
            assert!(err.contains(status), "{lro:?} {status}: {err}");
            assert!(
                err.contains("InferencingClientCallFailed") && err.contains("quota exceeded"),
                "{lro:?} {status}: the operation's error is shown: {err}"
            );
            assert!(
                err.contains("x-ms-client-request-id"),
                "{lro:?} {status}: {err}"
            );
            assert_eq!(fake.serving("fraud"), json!({"blue": 100}));
        }
    }
}

/// A client whose `Retry-After` second lasts `unit`, and whose own backoff is 1 ms.
fn client_with_unit(fake: &FakeAzure, unit: Duration) -> ArmClient {
    let s = azure::wire::settings(fake);
    ArmClient::new(
        agent(&AgentOptions::default()),
        &s.arm_url(&BTreeMap::new()),
        &s.arm_scope(),
        credential(fake, &secret_env()),
        PollPolicy {
            retry_after_unit: unit,
            default_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
            max_retries: 3,
            max_polls: 50,
            busy_patience: Duration::from_secs(2),
        },
    )
}

#[test]
fn retry_after_paces_the_polls_in_every_style() {
    // (style, write, least time): operation status and Location polls carry `Retry-After: 3`
    // (x 20 ms) on each of the 3 polls before the end; a resource's own GET carries none (ARM
    // sends it on operation answers only), so there only the write's answer paces the first poll.
    // Our own backoff alone would take ~7 ms.
    for (lro, method, least) in [
        (Lro::AsyncOperation, "PUT", 180),
        (Lro::Location, "PATCH", 180),
        (Lro::NoHeader, "PUT", 60),
    ] {
        let fake = fake(lro, Some(3));
        let ep = fake.endpoint_path("fraud");
        let arm = client_with_unit(&fake, Duration::from_millis(20));
        let mut body = azure::wire::writable(arm.get(&ep).unwrap().body);
        body["tags"] = json!({"team": "fraud"});
        let started = Instant::now();
        let first = match method {
            "PUT" => arm.put(&ep, &body, None).unwrap(),
            _ => arm
                .patch(&ep, &json!({"tags": body["tags"]}), None)
                .unwrap(),
        };
        arm.wait(&first).unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(least),
            "{lro:?} {method}: {took:?}"
        );
        assert_eq!(state(&fake), "Succeeded", "{lro:?}");
    }
}

#[test]
fn every_arm_request_carries_its_own_client_request_id() {
    let fake = fake(Lro::AsyncOperation, Some(1));
    let cred = credential(&fake, &secret_env());
    let mut p = AzureMl::new(arm(&fake, cred), target(false), Some(deployment()));
    p.prepare(10, 0, &[]).unwrap();
    ready(&mut p);
    p.save_progress("v1;stage=1").unwrap();
    let ids = fake.world().client_request_ids.clone();
    assert!(ids.len() > 5);
    for id in &ids {
        assert_eq!(id.len(), 36, "a UUID: {ids:?}");
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "fresh per request: {ids:?}");
}

#[test]
fn the_progress_tag_patch_is_guarded_by_the_etag() {
    let fake = fake(Lro::AsyncOperation, Some(1));
    let cred = credential(&fake, &secret_env());
    let mut p = AzureMl::new(arm(&fake, cred), target(false), None);
    let ep = fake.endpoint_path("fraud");
    // Someone changes the endpoint between our read and our PATCH, once: 412, re-read, stored.
    fake.world().patch_conflicts_to_inject = 1;
    p.save_progress("v1;stage=2").unwrap();
    let w = fake.world();
    assert_eq!(
        w.endpoint_patch_if_match,
        vec![Some("\"1\"".to_string()), Some("\"2\"".to_string())]
    );
    assert!(w
        .log
        .iter()
        .any(|l| l.starts_with("PATCH") && l.ends_with("-> 412")));
    assert_eq!(
        w.endpoints[&ep]["tags"][mlcanary::core::progress::TAG],
        json!("v1;stage=2")
    );
}

/// The fake checks bodies against the REST definitions of api-version 2025-12-01 (azure-ai-ml's
/// generated models): read-only and unknown properties, and missing required ones, get ARM's 400.
#[test]
fn the_fake_refuses_bodies_the_rest_spec_refuses() {
    if azure::spec::spec().is_none() {
        return; // said so on stderr; under CI=true `spec()` fails instead
    }
    let fake = fake(Lro::AsyncOperation, Some(1));
    let ep = fake.endpoint_path("fraud");
    let arm = arm(&fake, credential(&fake, &secret_env()));
    let read = arm.get(&ep).unwrap().body;
    let refused = |body: &Value, what: &str| {
        let err = arm.put(&ep, body, None).unwrap_err().to_string();
        assert!(
            err.contains("400") && err.contains("InvalidRequestContent") && err.contains(what),
            "{what}: {err}"
        );
    };
    // Sent back as read: id, name, type, systemData, provisioningState, scoringUri are read-only.
    refused(&read, "read-only");
    let mut body = azure::wire::writable(read.clone());
    body["identity"]["principalId"] = json!("00000000-0000-0000-0000-000000000001");
    refused(&body, "identity.principalId: the property is read-only");
    let mut body = azure::wire::writable(read.clone());
    body["properties"]["trafic"] = json!({"blue": 100});
    refused(&body, "Could not find member 'trafic'");
    let mut body = azure::wire::writable(read.clone());
    body["properties"]
        .as_object_mut()
        .unwrap()
        .remove("authMode");
    refused(&body, "'authMode' is required");
    let mut body = azure::wire::writable(read);
    body["properties"]["traffic"] = json!({"blue": "100"});
    refused(&body, "properties.traffic.blue: expected");
    // A deployment: the discriminator picks ManagedOnlineDeployment's definition.
    let mut dep = deployment();
    dep["properties"]["provisioningState"] = json!("Succeeded");
    let err = arm
        .put(&format!("{ep}/deployments/green"), &dep, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("provisioningState: the property is read-only"),
        "{err}"
    );
}

/// A traffic change and its progress record go in one PUT: a process killed right after the
/// move (before any other write) leaves a record that says where traffic is.
#[test]
fn the_progress_record_travels_in_the_traffic_put() {
    let fake = fake(Lro::AsyncOperation, Some(1));
    let ep = fake.endpoint_path("fraud");
    {
        let mut w = fake.world();
        let blue = w.deployments[&format!("{ep}/deployments/blue")].clone();
        w.deployments
            .insert(format!("{ep}/deployments/green"), blue);
    }
    let tag = |fake: &FakeAzure| {
        fake.world().endpoints[&ep]["tags"][mlcanary::core::progress::TAG]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let mut p = AzureMl::new(
        arm(&fake, credential(&fake, &secret_env())),
        target(false),
        None,
    );
    p.set_weight(10).unwrap();
    let first = "state=in-progress;phase=0;weight=10;run=r1;started=1;failed=0;model=abc;version=2";
    p.save_progress(first).unwrap();
    let patches = |fake: &FakeAzure| {
        fake.world()
            .log
            .iter()
            .filter(|l| l.starts_with("PATCH"))
            .count()
    };
    assert_eq!(patches(&fake), 1);
    // The move to 50%, then the process dies: no other write.
    p.set_weight(50).unwrap();
    drop(p);
    assert_eq!(fake.serving("fraud"), json!({"blue": 50, "green": 50}));
    assert_eq!(
        tag(&fake),
        "state=in-progress;phase=1;weight=50;run=r1;started=1;failed=0;model=abc;version=2"
    );
    // A re-run reads it; the driver's own save of the same record sends nothing more.
    let mut again = AzureMl::new(
        arm(&fake, credential(&fake, &secret_env())),
        target(false),
        None,
    );
    let read = again.load_progress().unwrap().unwrap();
    assert!(read.contains("phase=1;weight=50"), "{read}");
    again.save_progress(&read).unwrap();
    assert_eq!(patches(&fake), 1, "nothing to store twice");
    again.promote().unwrap();
    assert!(
        tag(&fake).starts_with("state=promoted;phase=1;weight=100;"),
        "{}",
        tag(&fake)
    );
    again.rollback().unwrap();
    assert!(
        tag(&fake).starts_with("state=rolled-back;phase=1;weight=0;"),
        "{}",
        tag(&fake)
    );
}
