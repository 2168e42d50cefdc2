//! Azure ML end to end through the binary: `mlcanary run -c FILE --report R.json` against the
//! local Azure fakes (Entra and ARM over HTTPS with a throw-away CA trusted through
//! `SSL_CERT_FILE`, GitHub's OIDC endpoint, Azure Monitor metrics, Log Analytics), with the
//! config's `azure: {cloud: custom, endpoints}` pointing at them. What a CI job sees is what is
//! asserted: exit code, the JSON report, GitHub's step summary and outputs, and the traffic the
//! fake endpoint holds afterwards. No secret may appear anywhere but in `::add-mask::` lines.

use crate::support::azure;

use assert_cmd::Command;
use azure::{FakeAzure, CLIENT_ID, CLIENT_SECRET, OIDC_REQUEST_TOKEN, SUB, TENANT, WORKSPACE_ID};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

const GOOD_MODEL: &str = "azureml:fraud:2";
const BROKEN_MODEL: &str = "azureml:fraud-broken:3";

/// The rollout config: one 50% stage, 1 s checks, guardrails through both Azure providers.
fn config(fake: &FakeAzure, auth: &str, model: &str, extra_azure: &str) -> String {
    let arm = &fake.arm;
    let authority = &fake.authority;
    format!(
        r#"apiVersion: mlcanary/v1
name: fraud
model:
  uri: {model}
  version: "2"
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
    model: {model}
    environment: azureml:sklearn-env:3
    instanceType: Standard_DS3_v2
    instanceCount: 1
azure:
  auth: {auth}
  cloud: custom
  endpoints:
    arm: {arm}
    authority: {authority}
    logAnalytics: {arm}/la
{extra_azure}stages:
  - weight: 50
    pause: 2s
analysis:
  pause: 2s
  interval: 1s
  warmup: 0s
providers:
  azmon:
    type: azure-monitor
  logs:
    type: log-analytics
    workspaceId: {WORKSPACE_ID}
guardrails:
  - name: error-rate
    provider: logs
    query: |
      AmlOnlineEndpointTrafficLog
      | where EndpointName == "fraud" and DeploymentName == "{{{{ canary.name }}}}"
      | summarize errors = countif(toint(ResponseCode) >= 500), total = count()
      | project rate = todouble(errors) / todouble(total)
    promote: "< 1%"
    rollback: "> 2%"
  - name: p99
    provider: azmon
    query: RequestLatency_P99
    aggregation: Average
    promote: "< 200"
    rollback: "> 500"
"#
    )
}

/// Seed the endpoint (blue 100%), make provisioning and endpoint updates finish on the first
/// poll (the machine polls readiness right away, then after waits doubling from 0.5 s), and give the canary `p99_ms` and `error_rate`.
fn fake_with(p99_ms: f64, error_rate: f64) -> FakeAzure {
    let fake = FakeAzure::start_fraud();
    let mut w = fake.world();
    let metric = |dep: &str, v: f64| {
        (
            ("RequestLatency_P99".to_string(), dep.to_string()),
            vec![Some(v * 0.9), Some(v), None],
        )
    };
    w.metric_points
        .extend([metric("green", p99_ms), metric("blue", 95.0)]);
    w.la_by_deployment
        .insert("green".into(), azure::rate_table(error_rate));
    w.la_by_deployment
        .insert("blue".into(), azure::rate_table(0.001));
    drop(w);
    fake
}

/// What one run left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    report: Value,
    report_text: String,
    summary: String,
    outputs: String,
}

impl Run {
    /// Every text a CI log or artifact could show.
    fn everything(&self) -> String {
        [
            &self.stdout,
            &self.stderr,
            &self.report_text,
            &self.summary,
            &self.outputs,
        ]
        .map(|s| s.as_str())
        .join("\n")
    }

    fn result(&self) -> &str {
        self.report["outcome"]["result"].as_str().unwrap_or("")
    }

    fn report_split(&self) -> BTreeMap<String, u64> {
        serde_json::from_value(self.report["traffic"]["split"].clone()).unwrap()
    }
}

fn run(config_text: &str, env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mlcanary.yaml");
    std::fs::write(&cfg, config_text).unwrap();
    let report = dir.path().join("report.json");
    let summary = dir.path().join("summary.md");
    let outputs = dir.path().join("outputs.txt");
    let mut cmd = Command::from_std(azure::binary::command());
    cmd.env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .envs(env.iter().copied())
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report)
        .timeout(std::time::Duration::from_secs(120));
    let out = cmd.output().unwrap();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let report_text = read(&report);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report: serde_json::from_str(&report_text).unwrap_or(Value::Null),
        report_text,
        summary: read(&summary),
        outputs: read(&outputs),
    }
}

fn secret_env() -> Vec<(&'static str, &'static str)> {
    azure::binary::SECRET_VARS.to_vec()
}

/// No client secret, OIDC request token, access token or OIDC assertion outside `::add-mask::`.
fn assert_no_secret(r: &Run, fake: &FakeAzure) {
    let w = fake.world();
    let mut secrets = vec![CLIENT_SECRET.to_string(), OIDC_REQUEST_TOKEN.to_string()];
    secrets.extend(w.tokens.iter().map(|t| t.token.clone()));
    secrets.extend(w.oidc_issued.iter().map(|(jwt, _)| jwt.clone()));
    assert!(!w.tokens.is_empty(), "the run obtained tokens");
    let shown: String = r
        .everything()
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for s in &secrets {
        assert!(
            !shown.contains(s.as_str()),
            "secret {}... leaked:\n{shown}",
            &s[..6]
        );
    }
}

/// The `::add-mask::` lines come first on stdout, one per given value.
fn assert_masked_first(r: &Run, values: &[&str]) {
    let masks: Vec<&str> = r
        .stdout
        .lines()
        .take_while(|l| l.starts_with("::add-mask::"))
        .collect();
    for v in values {
        assert!(
            masks.contains(&format!("::add-mask::{v}").as_str()),
            "no mask for a secret before other output:\n{}",
            r.stdout
        );
    }
    // A token obtained later (a refresh) is masked when first used: its mask may come later, but
    // never after the value itself was shown.
    let lines: Vec<&str> = r.stdout.lines().collect();
    for (i, l) in lines.iter().enumerate().skip(masks.len()) {
        if let Some(v) = l.strip_prefix("::add-mask::") {
            assert!(
                !lines[..i].iter().any(|e| e.contains(v)),
                "a value shown before its mask:\n{}",
                r.stdout
            );
        }
    }
}

fn endpoint_traffic(fake: &FakeAzure) -> Value {
    fake.world().endpoints[&fake.endpoint_path("fraud")]["properties"]["traffic"].clone()
}

fn endpoint_puts(fake: &FakeAzure) -> Vec<String> {
    let prefix = format!("PUT {} ", fake.endpoint_path("fraud"));
    fake.world()
        .log
        .iter()
        .filter(|l| l.starts_with(&prefix))
        .cloned()
        .collect()
}

#[test]
fn good_canary_is_promoted_through_an_etag_conflict_with_secrets_masked() {
    let fake = fake_with(120.0, 0.001);
    fake.world().conflicts_to_inject = 1;
    let mut env = secret_env();
    env.push(("GITHUB_ACTIONS", "true"));
    let r = run(&config(&fake, "secret", GOOD_MODEL, ""), &env);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.result(), "promoted");
    assert_eq!(
        r.report_split(),
        BTreeMap::from([("blue".into(), 0), ("green".into(), 100)])
    );
    assert_eq!(endpoint_traffic(&fake), json!({"blue": 0, "green": 100}));
    assert!(
        r.stdout.contains("azure credential secret: used"),
        "{}",
        r.stdout
    );
    assert!(r.outputs.contains("promoted"), "{}", r.outputs);
    assert!(r.summary.contains("promoted"), "{}", r.summary);

    // The first endpoint PUT met a concurrent change (412), was re-read and retried; every
    // endpoint PUT carried the ETag it had read.
    let puts = endpoint_puts(&fake);
    assert!(puts[0].ends_with("-> 412"), "{puts:?}");
    assert!(puts[1..].iter().all(|l| l.ends_with("-> 200")), "{puts:?}");
    assert_eq!(puts.len(), 3, "412 retry, 50%, 100%: {puts:?}");
    let if_match = fake.world().endpoint_put_if_match.clone();
    assert_eq!(if_match.len(), puts.len());
    assert!(
        if_match
            .iter()
            .all(|m| m.as_deref().is_some_and(|e| e.starts_with('"'))),
        "{if_match:?}"
    );
    // Both providers were asked about the canary, each with a token for its own audience.
    assert!(fake
        .world()
        .la_queries
        .iter()
        .all(|q| q.contains("\"green\"")));
    assert!(fake
        .world()
        .log
        .iter()
        .any(|l| l.contains("/providers/Microsoft.Insights/metrics -> 200")));

    assert_masked_first(&r, &[CLIENT_SECRET]);
    assert_no_secret(&r, &fake);
}

#[test]
fn bad_canary_is_rolled_back_with_exit_1() {
    let fake = fake_with(900.0, 0.05);
    let r = run(&config(&fake, "secret", GOOD_MODEL, ""), &secret_env());
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.result(), "rolled-back");
    let reason = r.report["outcome"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("p99") || reason.contains("error-rate"),
        "{reason}"
    );
    assert_eq!(
        r.report_split(),
        BTreeMap::from([("blue".into(), 100), ("green".into(), 0)])
    );
    assert_eq!(endpoint_traffic(&fake), json!({"blue": 100, "green": 0}));
    assert!(r.outputs.contains("rolled-back"), "{}", r.outputs);
    assert_no_secret(&r, &fake);
}

#[test]
fn failed_provisioning_exits_3_and_never_touches_blue() {
    let fake = fake_with(120.0, 0.001);
    let r = run(&config(&fake, "secret", BROKEN_MODEL, ""), &secret_env());
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.result(), "failed");
    let reason = r.report["outcome"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("crashed during startup"), "{reason}");
    assert_eq!(r.report_split(), BTreeMap::from([("blue".into(), 100)]));
    assert_eq!(endpoint_traffic(&fake), json!({"blue": 100}));
    assert!(
        endpoint_puts(&fake).is_empty(),
        "the endpoint was never written: {:?}",
        fake.world().log
    );
    assert!(fake.world().la_queries.is_empty(), "nothing was judged");
    assert_no_secret(&r, &fake);
}

#[test]
fn github_oidc_token_expiring_mid_run_is_refreshed_and_masked() {
    let fake = fake_with(120.0, 0.001);
    // azure_identity renews a token once it is within 5 minutes of expiry: a 302 s lifetime
    // enters that window 2 s into the run, as a 1 h token would after 55 min of rollout.
    fake.world().expires_in = 302;
    let url = fake.oidc_request_url();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
    ];
    let r = run(&config(&fake, "oidc", GOOD_MODEL, ""), &env);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.result(), "promoted");
    assert!(
        r.stdout.contains("azure credential oidc: used"),
        "{}",
        r.stdout
    );
    let w = fake.world();
    // ARM refuses expired tokens (401 ExpiredAuthenticationToken): none was refused.
    assert!(!w.log.iter().any(|l| l.ends_with("-> 401")), "{:?}", w.log);
    // The token was cached between renewals, and renewed mid-run once it was due.
    let arm: Vec<_> = w.tokens.iter().filter(|t| t.scope == w.arm_scope).collect();
    let arm_requests = w
        .log
        .iter()
        .filter(|l| !l.contains("/_apis/") && !l.contains("/la/"))
        .count();
    assert!(arm.len() >= 2, "renewed mid-run: {} tokens", arm.len());
    assert!(
        arm.len() < arm_requests,
        "cached: {} tokens for {arm_requests} requests",
        arm.len()
    );
    let (first, last) = (arm[0].expires, arm[arm.len() - 1].expires);
    assert!(
        last.duration_since(first) >= std::time::Duration::from_secs(2),
        "the renewal came once the first token was due"
    );
    // Every renewal presented a fresh GitHub ID token (they live minutes; rollouts, hours).
    assert!(w.oidc_issued.len() >= 2, "{}", w.oidc_issued.len());
    assert_eq!(w.oidc_issued.len(), w.token_requests.len());
    assert!(w
        .oidc_issued
        .iter()
        .all(|(_, aud)| aud == "api://AzureADTokenExchange"));
    drop(w);
    assert_masked_first(&r, &[OIDC_REQUEST_TOKEN]);
    assert_no_secret(&r, &fake);
}

#[test]
fn gitlab_id_token_variable_named_in_the_config_authenticates() {
    let fake = fake_with(120.0, 0.001);
    let jwt = "eyJhbGciOiJSUzI1NiJ9.gitlab-ci-id-token.sig";
    fake.world()
        .oidc_issued
        .push((jwt.into(), "api://AzureADTokenExchange".into()));
    let env = [
        ("GITLAB_CI", "true"),
        ("CI_AZURE_JWT", jwt),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
    ];
    let r = run(
        &config(
            &fake,
            "auto",
            GOOD_MODEL,
            "  idTokenVariable: CI_AZURE_JWT\n",
        ),
        &env,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // auto prefers the CI's OIDC token over the secret that is also present.
    assert!(
        r.stdout.contains("azure credential oidc: used"),
        "{}",
        r.stdout
    );
    assert!(fake.world().token_requests.iter().all(|f| f.contains(&(
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()
    ))));
    assert!(!r.everything().contains(jwt), "the GitLab ID token leaked");
    assert_no_secret(&r, &fake);
}

#[test]
fn dry_run_of_the_example_prints_the_exact_arm_requests_in_order() {
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        .args(["run", "--dry-run", "-c", "examples/azureml.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let ep = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml-prod-rg\
              /providers/Microsoft.MachineLearningServices/workspaces/ml-prod-ws\
              /onlineEndpoints/churn-endpoint";
    let v = "?api-version=2025-12-01";
    let green = format!("{ep}/deployments/green{v}");
    let endpoint = format!("{ep}{v}");
    let mut expected = vec![format!("PUT {green}"), format!("GET {green}")];
    // shadow 10%, then 5, 25, 50, then promotion to 100: each a GET and a whole-endpoint PUT.
    for _ in 0..5 {
        expected.push(format!("GET {endpoint}"));
        expected.push(format!("PUT {endpoint}"));
    }
    let requests: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("== API requests"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let (n, rest) = l.trim_start().split_once(". ")?;
            n.parse::<u32>().ok()?;
            Some(rest.trim_end_matches("  [application/json]").to_string())
        })
        .collect();
    assert_eq!(requests, expected, "{text}");
    // The traffic each PUT sends, in order.
    for split in [
        r#""traffic":{"blue":100},"mirrorTraffic":{"green":10}"#,
        r#""traffic":{"blue":95,"green":5}"#,
        r#""traffic":{"blue":75,"green":25}"#,
        r#""traffic":{"blue":50,"green":50}"#,
        r#""traffic":{"blue":0,"green":100}"#,
    ] {
        assert!(text.contains(split), "{split} missing:\n{text}");
    }
    assert!(text.contains("result: promoted (dry run)"));
}

/// The deployment PUT the fake received for `green`.
fn green_deployment(fake: &FakeAzure) -> Value {
    let path = format!("{}/deployments/green", fake.endpoint_path("fraud"));
    fake.world()
        .deployments
        .get(&path)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn mlflow_model_at_latest_deploys_without_environment_or_location() {
    let fake = fake_with(100.0, 0.001);
    fake.world().asset_versions.insert(
        "models/fraud".into(),
        vec![
            ("1".into(), "2026-01-01T00:00:00Z".into()),
            ("7".into(), "2026-03-01T00:00:00Z".into()),
            ("10".into(), "2026-02-01T00:00:00Z".into()),
        ],
    );
    // No target.location, no deployment.model (model.uri is used), environment: null.
    let text = config(&fake, "secret", "azureml:fraud@latest", "")
        .replace("  location: westeurope\n", "")
        .replace(
            "    model: azureml:fraud@latest\n    environment: azureml:sklearn-env:3\n",
            "    environment: null\n",
        );
    assert!(!text.contains("location:") && text.contains("environment: null"));
    let r = run(&text, &secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let dep = green_deployment(&fake);
    let ws = fake.workspace_path();
    // Latest is the most recently created version (7), not the highest number (10).
    assert_eq!(
        dep["properties"]["model"],
        json!(format!("{ws}/models/fraud/versions/7"))
    );
    assert!(
        dep["properties"].get("environmentId").is_none(),
        "no environment sent: {dep}"
    );
    assert_eq!(
        dep["location"],
        json!("westeurope"),
        "the endpoint's location"
    );
}

#[test]
fn asset_references_are_expanded_to_arm_ids_and_ids_pass_through() {
    let fake = fake_with(100.0, 0.001);
    let ws = fake.workspace_path();
    let registry = "azureml://registries/azureml/environments/sklearn-1.5/versions/2";
    // deployment.model overrides model.uri: the deployment runs version 3, and the run says so.
    let text = config(&fake, "secret", "azureml:fraud:2", "")
        .replace(
            "environment: azureml:sklearn-env:3",
            &format!("environment: {registry}"),
        )
        .replace(
            "    model: azureml:fraud:2\n",
            "    model: azureml:fraud:3\n",
        );
    let r = run(&text, &secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let dep = green_deployment(&fake);
    assert_eq!(
        dep["properties"]["model"],
        json!(format!("{ws}/models/fraud/versions/3"))
    );
    assert!(
        r.stderr
            .contains("target.deployment.model (azureml:fraud:3) differs from model.uri"),
        "{}",
        r.stderr
    );
    assert_eq!(dep["properties"]["environmentId"], json!(registry));
}

#[test]
fn empty_or_unresolvable_references_are_refused_at_validate_with_file_line_key() {
    let fake = fake_with(100.0, 0.001);
    for (from, to, key) in [
        (
            "environment: azureml:sklearn-env:3",
            "environment: \"\"",
            "target.deployment.environment",
        ),
        (
            "    model: azureml:fraud:2\n",
            "    model: azureml:fraud\n",
            "target.deployment.model",
        ),
        (
            "  location: westeurope\n",
            "  location: \" \"\n",
            "target.location",
        ),
    ] {
        let text = config(&fake, "secret", "azureml:fraud:2", "").replace(from, to);
        assert!(text.contains(to.trim()), "{to}");
        let r = run(&text, &secret_env());
        assert_eq!(r.code, 2, "{to}: {}\n{}", r.stdout, r.stderr);
        let all = r.everything();
        assert!(all.contains(key), "{to}: {all}");
        assert!(all.contains("mlcanary.yaml:"), "file:line: {all}");
    }
    assert!(
        fake.world().log.iter().all(|l| !l.starts_with("PUT")),
        "nothing was written"
    );
}

/// `run --dry-run` prints the requests a live run sends: the same writes to the same paths in
/// the same order, with the same bodies (the live run's progress-record tags aside: a dry run
/// stores no progress), because both run the one driver over ARM or over a recorder.
#[test]
fn dry_run_shows_the_requests_a_live_run_sends() {
    let fake = fake_with(100.0, 0.001);
    let text = config(&fake, "secret", GOOD_MODEL, "");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mlcanary.yaml");
    std::fs::write(&cfg, &text).unwrap();
    let dry = Command::cargo_bin("mlcanary")
        .unwrap()
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        .args(["run", "--dry-run", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(0));
    let out = String::from_utf8(dry.stdout).unwrap();
    // (method, path, body) of each write the dry run lists.
    let mut dry_writes: Vec<(String, String, Value)> = Vec::new();
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with("== API requests"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .peekable();
    while let Some(l) = lines.next() {
        let Some((_, rest)) = l.trim_start().split_once(". ") else {
            continue;
        };
        let rest = rest.trim_end_matches("  [application/json]");
        let (method, path) = rest.split_once(' ').unwrap();
        if method == "GET" {
            continue;
        }
        let body = match lines.peek() {
            Some(b) if b.trim_start().starts_with('{') => {
                serde_json::from_str(lines.next().unwrap().trim()).unwrap()
            }
            _ => Value::Null,
        };
        dry_writes.push((method.into(), path.split('?').next().unwrap().into(), body));
    }
    assert!(dry_writes.len() >= 3, "{out}");

    let captured: std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value)>>> =
        Default::default();
    let c = captured.clone();
    fake.inject(
        move |r, _| {
            if matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE") {
                c.lock().unwrap().push((
                    r.method.clone(),
                    r.path.clone(),
                    r.json().unwrap_or(Value::Null),
                ));
            }
            false
        },
        azure::ArmFault::Status(500),
        usize::MAX,
    );
    let r = run(&text, &secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let live: Vec<(String, String, Value)> = captured
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, _, _)| m != "PATCH") // progress records
        .map(|(m, p, b)| {
            let mut b = b.clone();
            if let Some(o) = b.as_object_mut() {
                o.shift_remove("tags");
                // What the fake's seeded endpoint carries and the recorder's does not.
                o.shift_remove("identity");
            }
            (m.clone(), p.clone(), b)
        })
        .collect();
    assert_eq!(
        live.len(),
        dry_writes.len(),
        "live {live:#?}\ndry {dry_writes:#?}"
    );
    for ((lm, lp, lb), (dm, dp, db)) in live.iter().zip(&dry_writes) {
        assert_eq!((lm, lp), (dm, dp));
        assert_eq!(lb, db, "{lm} {lp}");
    }
}

/// ARM may answer a traffic PUT with `200` + `provisioningState: Updating` and no operation
/// header: the run follows the endpoint itself, so "promoted" means the endpoint serves 100%.
#[test]
fn a_put_answered_updating_without_a_header_is_followed_before_reporting_promoted() {
    let fake = fake_with(100.0, 0.001);
    {
        let mut w = fake.world();
        w.lro = azure::Lro::NoHeader;
        // Operations take 1.5 s: a run that does not follow them ends with the last one still
        // running (and the old split served).
        w.endpoint_polls = 0;
        w.op_min_duration = std::time::Duration::from_millis(1500);
        w.conflict_while_busy = true;
    }
    let r = run(&config(&fake, "secret", GOOD_MODEL, ""), &secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.result(), "promoted");
    assert_eq!(
        fake.serving("fraud"),
        json!({"blue": 0, "green": 100}),
        "the endpoint serves what the report says"
    );
    let ep = fake.endpoint_path("fraud");
    assert_eq!(
        fake.world().endpoints[&ep]["properties"]["provisioningState"],
        json!("Succeeded")
    );
}
