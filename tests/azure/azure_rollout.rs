//! Azure ML driver end to end against the local Azure fakes (tests/support/azure): Entra token
//! endpoint over HTTPS, GitHub OIDC, ARM with long-running operations, ETags and throttling.

use crate::support::azure;

use azure::wire::{arm, credential, env, secret_env};
use azure::{capture, FakeAzure, CLIENT_ID, CLIENT_SECRET, OIDC_REQUEST_TOKEN, TENANT};
use mlcanary::clients::azure::{AzureError, TokenSource};
use mlcanary::platform::azureml::{AzureMl, AzureMlTarget};
use mlcanary::platform::{Platform, Readiness};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

fn target(delete_old: bool, delete_canary: bool) -> AzureMlTarget {
    azure::wire::target(delete_old, delete_canary)
}

fn deployment(model: &str) -> Value {
    json!({"location": "westeurope", "sku": {"name": "Default", "capacity": 1},
        "properties": {"endpointComputeType": "Managed", "model": model,
            "instanceType": "Standard_DS3_v2", "environmentId": "azureml:sklearn-env:3",
            "requestSettings": {"requestTimeout": "PT5S"}}})
}

fn wait_ready(p: &mut AzureMl) -> Readiness {
    for _ in 0..50 {
        match p.poll_ready().unwrap() {
            Readiness::Pending(_) => std::thread::sleep(Duration::from_millis(5)),
            other => return other,
        }
    }
    panic!("never converged");
}

fn split(p: &mut AzureMl) -> BTreeMap<String, u32> {
    p.traffic().unwrap().split
}

fn assert_no_secret(text: &str, fake: &FakeAzure) {
    assert!(
        !text.contains(CLIENT_SECRET),
        "client secret leaked: {text}"
    );
    assert!(
        !text.contains(OIDC_REQUEST_TOKEN),
        "OIDC request token leaked: {text}"
    );
    for t in fake.world().tokens.iter() {
        assert!(!text.contains(&t.token), "access token leaked: {text}");
    }
    for (jwt, _) in fake.world().oidc_issued.iter() {
        assert!(!text.contains(jwt), "OIDC assertion leaked: {text}");
    }
}

#[test]
fn good_canary_is_created_ready_then_promoted_through_stages() {
    capture::install();
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let cred = credential(&fake, &secret_env());
    assert_eq!(cred.explanation().last().unwrap(), "secret: used");
    let mut p = AzureMl::new(
        arm(&fake, cred),
        target(true, false),
        Some(deployment("azureml:fraud:2")),
    );

    p.prepare(5, 0, &[]).unwrap();
    // Traffic never moves before the deployment is provisioned.
    assert_eq!(split(&mut p), BTreeMap::from([("blue".into(), 100)]));
    assert_eq!(wait_ready(&mut p), Readiness::Ready);
    assert_eq!(
        split(&mut p),
        BTreeMap::from([("blue".into(), 95), ("green".into(), 5)])
    );
    for w in [25, 50] {
        p.set_weight(w).unwrap();
        assert_eq!(
            split(&mut p),
            BTreeMap::from([("blue".into(), 100 - w), ("green".into(), w)])
        );
    }
    p.promote().unwrap();
    assert_eq!(split(&mut p), BTreeMap::from([("green".into(), 100)]));

    let w = fake.world();
    let blue = format!("{}/deployments/blue", fake.endpoint_path("fraud"));
    assert!(
        !w.deployments.contains_key(&blue),
        "old deployment deleted after promotion"
    );
    assert!(w
        .log
        .iter()
        .any(|l| l.starts_with("DELETE") && l.ends_with("-> 202")));
    // Long-running operations were followed, not assumed.
    assert!(w
        .log
        .iter()
        .any(|l| l.contains("/mfeOperationsStatus/") && l.ends_with("-> 200")));
    assert!(w.log.iter().any(|l| l.contains("/mfeOperationResults/")));
    // The secret grant carried what Entra requires.
    let first = &w.token_requests[0];
    assert!(first.contains(&("grant_type".into(), "client_credentials".into())));
    assert!(first.contains(&("client_id".into(), CLIENT_ID.into())));
    assert!(first.contains(&("scope".into(), format!("{}/.default", fake.arm))));
}

#[test]
fn provisioning_failure_is_reported_and_blue_keeps_all_traffic() {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let cred = credential(&fake, &secret_env());
    let mut p = AzureMl::new(
        arm(&fake, cred),
        target(false, true),
        Some(deployment("azureml:broken-model:7")),
    );
    p.prepare(10, 0, &[]).unwrap();
    // A failed provisioning is a platform failure (exit 3), not a readiness verdict.
    let msg = loop {
        match p.poll_ready() {
            Ok(Readiness::Pending(_)) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break e.to_string(),
            Ok(other) => panic!("expected a platform error, got {other:?}"),
        }
    };
    assert!(msg.contains("green"), "{msg}");
    assert!(
        msg.contains("crashed during startup"),
        "operation error shown: {msg}"
    );
    assert_eq!(split(&mut p), BTreeMap::from([("blue".into(), 100)]));
    p.rollback().unwrap();
    assert_eq!(split(&mut p), BTreeMap::from([("blue".into(), 100)]));
    let green = format!("{}/deployments/green", fake.endpoint_path("fraud"));
    assert!(
        !fake.world().deployments.contains_key(&green),
        "canary deleted on rollback"
    );
}

#[test]
fn github_oidc_token_expiring_mid_rollout_is_refreshed_with_a_fresh_assertion() {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    fake.world().expires_in = 1;
    let e = env(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", &fake.oidc_request_url()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
    ]);
    let cred = credential(&fake, &e);
    assert_eq!(cred.explanation(), ["oidc: used".to_string()]);
    let first = cred.token(&format!("{}/.default", fake.arm)).unwrap();

    let mut p = AzureMl::new(
        arm(&fake, cred.clone()),
        target(false, false),
        Some(deployment("azureml:fraud:2")),
    );
    p.prepare(5, 0, &[]).unwrap();
    assert_eq!(wait_ready(&mut p), Readiness::Ready);
    std::thread::sleep(Duration::from_millis(1100));
    // The first token is now expired: the fake refuses it, as ARM would.
    {
        let req = ureq::get(&format!(
            "{}{}?api-version=2025-12-01",
            fake.arm,
            fake.endpoint_path("fraud")
        ))
        .header("Authorization", &format!("Bearer {}", first.secret()))
        .config()
        .http_status_as_error(false)
        .build();
        let resp = req.call().unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
    p.set_weight(30).unwrap();
    assert_eq!(split(&mut p)["green"], 30);

    let w = fake.world();
    assert!(w.tokens.len() >= 2, "token refreshed");
    assert!(
        w.oidc_issued.len() >= 2,
        "a new OIDC assertion was requested for the refresh"
    );
    assert!(w
        .oidc_issued
        .iter()
        .all(|(_, aud)| aud == "api://AzureADTokenExchange"));
    assert!(w.token_requests.iter().all(|r| r.contains(&(
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()
    ))));
    // Only the deliberate request with the stale token was refused; the driver never sent one.
    assert_eq!(
        w.log.iter().filter(|l| l.ends_with("-> 401")).count(),
        1,
        "{:?}",
        w.log
    );
}

#[test]
fn etag_conflict_is_reread_and_retried() {
    capture::install();
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let cred = credential(&fake, &secret_env());
    let mut p = AzureMl::new(
        arm(&fake, cred),
        target(false, false),
        Some(deployment("azureml:fraud:2")),
    );
    p.prepare(0, 0, &[]).unwrap();
    assert_eq!(wait_ready(&mut p), Readiness::Ready);
    fake.world().conflicts_to_inject = 1;
    p.set_weight(20).unwrap();
    assert_eq!(split(&mut p)["green"], 20);
    let w = fake.world();
    let ep = fake.endpoint_path("fraud");
    let puts: Vec<_> = w
        .log
        .iter()
        .filter(|l| l.starts_with(&format!("PUT {ep} ")))
        .collect();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(
        puts[0].ends_with("-> 412") && puts[1].ends_with("-> 200"),
        "{puts:?}"
    );
    assert!(capture::lines().iter().any(|l| l.contains("HTTP 412")));
}

#[test]
fn throttled_requests_wait_and_retry() {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let cred = credential(&fake, &secret_env());
    let mut p = AzureMl::new(arm(&fake, cred), target(false, false), None);
    fake.world().throttles_to_inject = 2;
    assert_eq!(split(&mut p), BTreeMap::from([("blue".into(), 100)]));
    let w = fake.world();
    assert_eq!(w.log.iter().filter(|l| l.ends_with("-> 429")).count(), 2);
}

#[test]
fn shadow_mirrors_then_live_traffic_replaces_it_and_limits_are_enforced() {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let cred = credential(&fake, &secret_env());
    let client = arm(&fake, cred);
    let mut p = AzureMl::new(
        client.clone(),
        target(false, false),
        Some(deployment("azureml:fraud:2")),
    );
    p.prepare(0, 0, &[]).unwrap();
    assert_eq!(wait_ready(&mut p), Readiness::Ready);
    p.set_shadow(10).unwrap();
    assert_eq!(
        p.traffic().unwrap().mirror,
        BTreeMap::from([("green".into(), 10)])
    );
    assert!(
        p.set_shadow(60).is_err(),
        "more than 50% mirror refused before any request"
    );
    p.set_weight(5).unwrap();
    let t = p.traffic().unwrap();
    assert_eq!(t.split["green"], 5);
    assert!(t.mirror.is_empty());
    p.rollback().unwrap();
    assert_eq!(
        split(&mut p),
        BTreeMap::from([("blue".into(), 100), ("green".into(), 0)])
    );

    // The fake refuses what ARM refuses, with ARM's error body.
    let ep = fake.endpoint_path("fraud");
    let mut body = azure::wire::writable(client.get(&ep).unwrap().body);
    body["properties"]["traffic"] = json!({"blue": 60, "green": 30});
    match client.put(&ep, &body, None) {
        Err(AzureError::Api {
            status,
            code,
            message,
            ..
        }) => {
            assert_eq!((status, code.as_str()), (400, "BadArgument"));
            assert!(message.contains("sum to 100"), "{message}");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    body["properties"]["traffic"] = json!({"blue": 100, "green": 0});
    body["properties"]["mirrorTraffic"] = json!({"green": 60});
    assert_eq!(
        client.put(&ep, &body, None).unwrap_err().status(),
        Some(400)
    );
}

#[test]
fn no_secret_or_token_in_errors_debug_or_logs() {
    capture::install();
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let cred = credential(&fake, &secret_env());
    let mut p = AzureMl::new(
        arm(&fake, cred.clone()),
        target(false, false),
        Some(deployment("azureml:broken:1")),
    );
    p.prepare(5, 0, &[]).unwrap();
    let failed = loop {
        match p.poll_ready() {
            Ok(Readiness::Pending(_)) => std::thread::sleep(Duration::from_millis(5)),
            other => break format!("{other:?}"),
        }
    };
    let api_err = p.set_weight(500).unwrap_err();
    // Wrong secret: Entra's refusal is reported, the secret is not.
    let wrong = "Wr0ng~Secret-Value-xyz";
    let mut e = secret_env();
    e.insert("AZURE_CLIENT_SECRET".into(), wrong.into());
    let bad = credential(&fake, &e);
    let auth_err = bad.token(&format!("{}/.default", fake.arm)).unwrap_err();
    let auth_text = format!("{auth_err} {auth_err:?} {bad:?}");
    assert!(auth_text.contains("7000215"), "{auth_text}");
    assert!(!auth_text.contains(wrong), "{auth_text}");
    let everything = format!(
        "{failed} {api_err} {api_err:?} {p:?} {cred:?} {auth_text} {}",
        capture::lines().join("\n")
    );
    assert_no_secret(&everything, &fake);
}
