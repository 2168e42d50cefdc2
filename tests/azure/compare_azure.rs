//! The prediction comparison on Azure ML through the binary, against the Azure fakes: the scoring
//! URI comes from the endpoint (ARM GET), the key from ARM `listKeys`, and each deployment is
//! addressed with `azureml-model-deployment` on the scoring double (key checked, JSON-encoded
//! `run()` answers). The key never appears outside `::add-mask::`; a canary that disagrees stops
//! before the canary deployment gets any traffic.
use crate::support::azure;
use crate::support::inference;

use assert_cmd::Command;
use azure::arm::ENDPOINT_KEY;
use azure::{FakeAzure, SUB};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn config(fake: &FakeAzure, extra: &str) -> String {
    format!(
        r#"apiVersion: mlcanary/v1
name: fraud
model:
  uri: azureml:fraud:2
target:
  platform: azureml
  subscriptionId: {SUB}
  resourceGroup: rg-ml
  workspace: ws-ml
  endpoint: fraud
  stableDeployment: blue
  canaryDeployment: green
  location: westeurope
  deployment:
    model: azureml:fraud:2
    environment: azureml:sklearn-env:3
    instanceType: Standard_DS3_v2
azure:
  auth: secret
  cloud: custom
  endpoints:
    arm: {arm}
    authority: {authority}
compare:
  requests: requests.jsonl
  protocol: azureml
  rate: 500
{extra}stages:
  - weight: 50
    pause: 1s
analysis:
  interval: 1s
  warmup: 0s
guardrails:
  - name: label-disagreement
    provider: compare
    query: disagreement
    rollback: "> 2%"
    critical: true
"#,
        arm = fake.arm,
        authority = fake.authority
    )
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    report: Value,
    everything: String,
}

fn run(cfg: &str, rows: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mlcanary.yaml"), cfg).unwrap();
    std::fs::write(
        dir.path().join("requests.jsonl"),
        inference::jsonl("azureml", &inference::feature_rows(rows)),
    )
    .unwrap();
    let (report, summary) = (
        dir.path().join("report.json"),
        dir.path().join("summary.md"),
    );
    let mut cmd = Command::from_std(azure::binary::command());
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .envs(azure::binary::SECRET_VARS)
        .args(["run", "-c"])
        .arg(dir.path().join("mlcanary.yaml"))
        .arg("--report")
        .arg(&report)
        .timeout(std::time::Duration::from_secs(120));
    let out = cmd.output().unwrap();
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let everything = [
        stdout.as_str(),
        stderr.as_str(),
        &report_text,
        &std::fs::read_to_string(&summary).unwrap_or_default(),
    ]
    .join("\n");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        report: serde_json::from_str(&report_text).unwrap_or(Value::Null),
        everything,
    }
}

fn fake_scoring_at(scoring: &inference::Server) -> FakeAzure {
    let fake = FakeAzure::start_fraud();
    let ep = fake.endpoint_path("fraud");
    let mut w = fake.world();
    w.endpoints.get_mut(&ep).unwrap()["properties"]["scoringUri"] =
        json!(format!("{}/score", scoring.url));
    drop(w);
    fake
}

fn assert_key_masked_only(r: &Run) {
    assert!(
        r.stdout.contains(&format!("::add-mask::{ENDPOINT_KEY}\n")),
        "{}",
        r.stdout
    );
    let shown: String = r
        .everything
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !shown.contains(ENDPOINT_KEY),
        "the endpoint key leaked:\n{shown}"
    );
}

#[test]
fn azure_key_from_list_keys_and_deployment_header_reach_each_deployment() {
    let scoring = inference::azureml(
        ENDPOINT_KEY,
        BTreeMap::from([
            ("blue".to_string(), inference::reference()),
            ("green".to_string(), inference::reference()),
        ]),
    );
    let fake = fake_scoring_at(&scoring);
    let r = run(&config(&fake, ""), 40);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let c = &r.report["compare"];
    assert_eq!(
        (c["requests"].as_u64(), c["disagreement"].as_f64()),
        (Some(40), Some(0.0)),
        "{c}"
    );
    let seen = scoring.seen.lock().unwrap();
    for d in ["blue", "green"] {
        let n = seen
            .iter()
            .filter(|s| {
                s.headers
                    .get("azureml-model-deployment")
                    .map(String::as_str)
                    == Some(d)
            })
            .count();
        assert_eq!(n, 40, "{d}");
    }
    assert!(seen
        .iter()
        .all(|s| s.headers.get("authorization").map(String::as_str)
            == Some(&format!("Bearer {ENDPOINT_KEY}"))));
    let w = fake.world();
    assert!(
        w.log
            .iter()
            .any(|l| l.starts_with("POST ") && l.contains("/onlineEndpoints/fraud/listKeys")),
        "{:?}",
        w.log
    );
    drop(w);
    assert_key_masked_only(&r);
}

#[test]
fn azure_disagreeing_green_is_stopped_before_it_gets_traffic() {
    let scoring = inference::azureml(
        ENDPOINT_KEY,
        BTreeMap::from([
            ("blue".to_string(), inference::reference()),
            ("green".to_string(), inference::differs_on_slice(7.0)),
        ]),
    );
    let fake = fake_scoring_at(&scoring);
    let r = run(&config(&fake, "  stopEarly: {tolerance: \"2%\"}\n"), 300);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.report["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("label-disagreement"),
        "{}",
        r.report
    );
    let ep = fake.endpoint_path("fraud");
    let w = fake.world();
    assert_eq!(w.endpoints[&ep]["properties"]["traffic"]["blue"], 100);
    // No endpoint PUT ever gave green traffic.
    assert!(
        r.report["compare"]["requests"].as_u64().unwrap() < 300,
        "stopped early"
    );
    drop(w);
    for e in r.report["events"].as_array().unwrap() {
        if e["event"] == "phaseStarted" {
            assert_eq!(e["weight"], 0, "{e}");
        }
    }
    assert_key_masked_only(&r);
}

/// `auth: token`: an Entra ID token for https://ml.azure.com from the run's credential, no ARM
/// `listKeys` call.
#[test]
fn azure_token_auth_uses_an_entra_token_for_ml_azure_com() {
    const AML: &str = "https://ml.azure.com/.default";
    let issued: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let seen = issued.clone();
    let scoring = inference::azureml_auth(
        std::sync::Arc::new(move |a: &str| {
            seen.lock()
                .unwrap()
                .iter()
                .any(|t| a == format!("Bearer {t}"))
        }),
        BTreeMap::from([
            ("blue".to_string(), inference::reference()),
            ("green".to_string(), inference::reference()),
        ]),
    );
    let fake = fake_scoring_at(&scoring);
    fake.world().scopes.push(AML.into());
    // The double accepts exactly the tokens the fake Entra issued for the ml.azure.com scope.
    let watcher = {
        let (issued, fake_world) = (issued.clone(), &fake);
        move || {
            let w = fake_world.world();
            *issued.lock().unwrap() = w
                .tokens
                .iter()
                .filter(|t| t.scope == AML)
                .map(|t| t.token.clone())
                .collect();
        }
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                watcher();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let r = run(&config(&fake, "  auth: token\n"), 20);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    });
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.report["compare"]["requests"], 20,
        "{}",
        r.report["compare"]
    );
    assert_eq!(
        r.report["compare"]["stableErrorRate"], 0.0,
        "{}",
        r.report["compare"]
    );
    let w = fake.world();
    assert!(
        w.tokens.iter().any(|t| t.scope == AML),
        "a token for ml.azure.com was requested"
    );
    assert!(
        !w.log.iter().any(|l| l.contains("/listKeys")),
        "no key listed: {:?}",
        w.log
    );
    let token = w
        .tokens
        .iter()
        .find(|t| t.scope == AML)
        .unwrap()
        .token
        .clone();
    drop(w);
    let shown: String = r
        .everything
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!shown.contains(&token), "the token leaked");
    assert!(
        r.stdout.contains(&format!("::add-mask::{token}")),
        "{}",
        r.stdout
    );
}
