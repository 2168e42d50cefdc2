//! Azure ML reliability through the binary, against the local Azure fakes (ARM and Entra over
//! HTTPS): the rollout's progress lives in the endpoint tag `mlcanary-rollout`, so a runner killed
//! with SIGKILL (no handler, no rollback) is continued by the next run instead of restarting at the
//! first stage, another version is refused while one is mid-rollout, and a finished rollout is
//! reported, not redone. And a SIGINT while an ARM answer hangs still reaches the rollback request
//! within seconds: reads in flight are abandoned, writes are not.

use crate::support::azure;

use azure::{ArmFault, FakeAzure, SUB, WORKSPACE_ID};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const TAG: &str = "mlcanary-rollout";

/// A rollout of `model` through `stages` (weights), `pause` each, 1 s checks.
fn config(fake: &FakeAzure, model: &str, stages: &[u32], pause: &str) -> String {
    let (arm, authority) = (&fake.arm, &fake.authority);
    let stages: String = stages
        .iter()
        .map(|w| format!("  - {{weight: {w}, pause: {pause}}}\n"))
        .collect();
    format!(
        r#"apiVersion: mlcanary/v1
name: fraud
model: {{uri: "{model}", version: "{model}"}}
target:
  platform: azureml
  subscriptionId: {SUB}
  resourceGroup: rg-ml
  workspace: ws-ml
  endpoint: fraud
  stableDeployment: blue
  canaryDeployment: green
  location: westeurope
  deployment: {{model: "{model}", environment: "azureml:sklearn-env:3", instanceType: Standard_DS3_v2, instanceCount: 1}}
azure:
  auth: secret
  cloud: custom
  endpoints: {{arm: "{arm}", authority: "{authority}", logAnalytics: "{arm}/la"}}
stages:
{stages}analysis: {{interval: 1s, warmup: 0s}}
providers:
  logs: {{type: log-analytics, workspaceId: {WORKSPACE_ID}}}
guardrails:
  - name: error-rate
    provider: logs
    query: "AmlOnlineEndpointTrafficLog | where DeploymentName == '{{{{ canary.name }}}}' | project rate"
    promote: "< 1%"
    rollback: "> 2%"
"#
    )
}

/// The endpoint (blue 100%), deployments and endpoint updates that finish on their first poll, a
/// healthy canary.
fn fake() -> FakeAzure {
    let fake = FakeAzure::start_fraud();
    let mut w = fake.world();
    w.la_by_deployment
        .insert("green".into(), azure::rate_table(0.001));
    w.la_by_deployment
        .insert("blue".into(), azure::rate_table(0.001));
    drop(w);
    fake
}

fn command(dir: &Path, config_text: &str) -> Command {
    let cfg = dir.join("mlcanary.yaml");
    std::fs::write(&cfg, config_text).unwrap();
    let mut cmd = azure::binary::command();
    cmd.envs(azure::binary::SECRET_VARS)
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("--report")
        .arg(dir.join("report.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn log(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

fn ran(out: Output) -> Ran {
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(dir: &Path, config_text: &str) -> Ran {
    ran(command(dir, config_text).output().unwrap())
}

fn endpoint(fake: &FakeAzure) -> Value {
    fake.world().endpoints[&fake.endpoint_path("fraud")].clone()
}

fn tag(fake: &FakeAzure) -> String {
    endpoint(fake)["tags"][TAG]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn traffic(fake: &FakeAzure) -> Value {
    endpoint(fake)["properties"]["traffic"].clone()
}

/// Writes (PUT, PATCH, DELETE) the fakes have seen, in order.
fn writes(fake: &FakeAzure) -> Vec<String> {
    fake.world()
        .log
        .iter()
        .filter(|l| l.starts_with("PUT ") || l.starts_with("PATCH ") || l.starts_with("DELETE "))
        .cloned()
        .collect()
}

/// Every endpoint PUT's canary share, with when it arrived (an observer: it never injects).
fn watch_green_puts(fake: &FakeAzure) -> Arc<Mutex<Vec<(u64, SystemTime)>>> {
    let seen: Arc<Mutex<Vec<(u64, SystemTime)>>> = Default::default();
    let (s, ep) = (seen.clone(), fake.endpoint_path("fraud"));
    fake.inject(
        move |r, _| {
            if r.method == "PUT" && r.path == ep {
                let body = r.json().unwrap_or_default();
                if let Some(g) = body
                    .pointer("/properties/traffic/green")
                    .and_then(Value::as_u64)
                {
                    s.lock().unwrap().push((g, SystemTime::now()));
                }
            }
            false
        },
        ArmFault::Status(500),
        usize::MAX,
    );
    seen
}

fn greens(seen: &Mutex<Vec<(u64, SystemTime)>>) -> Vec<u64> {
    seen.lock().unwrap().iter().map(|(g, _)| *g).collect()
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig}");
}

#[test]
fn a_killed_azure_run_is_resumed_and_a_finished_one_is_not_redone() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&fake, "azureml:fraud:2", &[10, 50, 80], "3s");
    let puts = watch_green_puts(&fake);

    // Run 1: killed with SIGKILL once stage 2 (50%) is recorded on the endpoint.
    let mut first = command(dir.path(), &cfg).spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(90);
    while !tag(&fake).contains("phase=1;weight=50") {
        if Instant::now() > until || first.try_wait().unwrap().is_some() {
            let _ = first.kill();
            let out = ran(first.wait_with_output().unwrap());
            panic!(
                "stage 2 never recorded; tag {:?}, log {:?}\n{}",
                tag(&fake),
                fake.world().log,
                out.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(&first, "KILL");
    let _ = first.wait();
    let rec = tag(&fake);
    assert!(
        rec.starts_with("state=in-progress;phase=1;weight=50;run="),
        "{rec}"
    );
    // The record is written before the traffic move it announces (a crash between the two
    // makes the re-run repeat the move forward): the kill may land before the 50% PUT.
    let t = traffic(&fake);
    assert!(
        t == json!({"blue": 50, "green": 50}) || t == json!({"blue": 90, "green": 10}),
        "{t}"
    );
    let run_id = rec
        .split(";run=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();

    // Another version while this one is mid-rollout: refused with exit 2, nothing written.
    let before = writes(&fake);
    let other = run(
        dir.path(),
        &config(&fake, "azureml:fraud:3", &[10, 50, 80], "3s"),
    );
    assert_eq!(other.code, 2, "{}", other.log());
    assert!(
        other.stderr.contains("refusing to start") && other.stderr.contains("--force"),
        "{}",
        other.stderr
    );
    assert_eq!(writes(&fake), before, "a refused run sends no write");
    assert_eq!(tag(&fake), rec);

    // Run 2: the same version continues at 50% (never back to 10%) and is promoted.
    let n = greens(&puts).len();
    let second = run(dir.path(), &cfg);
    assert_eq!(second.code, 0, "{}", second.log());
    assert!(
        second
            .stdout
            .contains(&format!("resuming run {run_id} at stage 2 (50%)")),
        "{}",
        second.stdout
    );
    let resumed = greens(&puts)[n..].to_vec();
    assert!(
        resumed.iter().all(|g| *g >= 50) && resumed.contains(&80) && resumed.last() == Some(&100),
        "continued at 50%, not restarted: canary shares written {resumed:?}"
    );
    assert_eq!(traffic(&fake)["green"], 100, "{}", second.log());
    assert!(tag(&fake).starts_with("state=promoted;"), "{}", tag(&fake));

    // Run 3: already promoted: reported, nothing sent.
    let before = writes(&fake);
    let third = run(dir.path(), &cfg);
    assert_eq!(third.code, 0, "{}", third.log());
    assert!(
        third.stdout.contains("already promoted"),
        "{}",
        third.stdout
    );
    assert_eq!(writes(&fake), before, "a finished rollout is not redone");
}

#[test]
fn sigint_while_an_arm_operation_poll_hangs_rolls_back_within_seconds() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    // The first poll of the 10% endpoint update never answers (the PUT itself was accepted).
    let puts = watch_green_puts(&fake);
    let hung = Arc::new(AtomicBool::new(false));
    let h = hung.clone();
    fake.inject(
        move |r, w| {
            let op_poll = r.path.contains("/mfeOperationsStatus/");
            let at_ten = w
                .endpoints
                .values()
                .any(|e| e.pointer("/properties/traffic/green") == Some(&json!(10)));
            let hit = op_poll && at_ten && !h.load(Ordering::SeqCst);
            if hit {
                h.store(true, Ordering::SeqCst);
            }
            hit
        },
        ArmFault::Hang(Duration::from_secs(3600)),
        1,
    );
    let child = command(
        dir.path(),
        &config(&fake, "azureml:fraud:2", &[10, 50], "30s"),
    )
    .spawn()
    .unwrap();
    wait_until("the hung operation poll", Duration::from_secs(60), || {
        hung.load(Ordering::SeqCst)
    });
    // Give the client time to be well inside the hung request.
    std::thread::sleep(Duration::from_millis(500));
    let sent = SystemTime::now();
    kill(&child, "INT");
    let rollback_at = || {
        puts.lock()
            .unwrap()
            .iter()
            .find(|(g, t)| *g == 0 && *t >= sent)
            .map(|(_, t)| *t)
    };
    wait_until("the rollback PUT", Duration::from_secs(30), || {
        rollback_at().is_some()
    });
    let took = rollback_at().unwrap().duration_since(sent).unwrap();
    println!("SIGINT -> rollback PUT (ARM operation poll hung): {took:?}");
    let out = ran(child.wait_with_output().unwrap());
    assert!(
        took < Duration::from_secs(5),
        "rollback request {took:?} after SIGINT"
    );
    assert_eq!(out.code, 130, "{}", out.log());
    assert_eq!(
        traffic(&fake),
        json!({"blue": 100, "green": 0}),
        "{}",
        out.log()
    );
}

#[test]
fn sigint_while_a_provisioning_poll_hangs_rolls_back_within_seconds() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let ep = fake.endpoint_path("fraud");
    // Requests to the endpoint itself, with when they came (an observer: it never injects).
    let seen: Arc<Mutex<Vec<(String, SystemTime)>>> = Default::default();
    let s = seen.clone();
    let e = ep.clone();
    fake.inject(
        move |r, _| {
            if r.path == e {
                s.lock()
                    .unwrap()
                    .push((r.method.clone(), SystemTime::now()));
            }
            false
        },
        ArmFault::Status(500),
        usize::MAX,
    );
    // The first GET of the canary deployment (its provisioning poll) never answers.
    let hung = Arc::new(AtomicBool::new(false));
    let h = hung.clone();
    fake.inject(
        move |r, _| {
            let hit = r.method == "GET" && r.path.ends_with("/deployments/green");
            if hit {
                h.store(true, Ordering::SeqCst);
            }
            hit
        },
        ArmFault::Hang(Duration::from_secs(3600)),
        1,
    );
    let child = command(
        dir.path(),
        &config(&fake, "azureml:fraud:2", &[10, 50], "30s"),
    )
    .spawn()
    .unwrap();
    wait_until(
        "the hung provisioning poll",
        Duration::from_secs(60),
        || hung.load(Ordering::SeqCst),
    );
    std::thread::sleep(Duration::from_millis(500));
    let sent = SystemTime::now();
    kill(&child, "INT");
    // The canary never got traffic: the rollback reads the endpoint, finds blue at 100% and
    // leaves it so; that read is its first request.
    let first_after = || {
        seen.lock()
            .unwrap()
            .iter()
            .find(|(_, t)| *t >= sent)
            .map(|(_, t)| *t)
    };
    wait_until("the rollback's request", Duration::from_secs(30), || {
        first_after().is_some()
    });
    let took = first_after().unwrap().duration_since(sent).unwrap();
    println!("SIGINT -> rollback request (provisioning poll hung): {took:?}");
    let out = ran(child.wait_with_output().unwrap());
    assert!(
        took < Duration::from_secs(5),
        "rollback request {took:?} after SIGINT"
    );
    assert_eq!(out.code, 130, "{}", out.log());
    assert_eq!(traffic(&fake), json!({"blue": 100}), "{}", out.log());
    assert!(
        tag(&fake).starts_with("state=interrupted;"),
        "{}",
        tag(&fake)
    );
}

/// A kill between a traffic move and its record cannot separate them: the record travels in the
/// move's PUT. Every record PATCH after the first one hangs (so a record sent on its own would
/// never land); the runner is killed once the endpoint serves 50%; the record says 50% and the
/// re-run continues from there, never writing 10% again.
#[test]
fn a_kill_between_a_traffic_move_and_its_record_cannot_separate_them() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&fake, "azureml:fraud:2", &[10, 50, 80], "3s");
    let puts = watch_green_puts(&fake);
    let hang = Arc::new(AtomicBool::new(true));
    let h = hang.clone();
    fake.inject(
        // Every record PATCH once the endpoint serves 50%: the record travels in the traffic PUT
        // (and the driver stores it before each move), so none is needed to know where traffic is.
        move |r, w| {
            h.load(Ordering::SeqCst)
                && r.method == "PATCH"
                && w.serving.values().any(|s| s["green"] == json!(50))
        },
        ArmFault::Hang(Duration::from_secs(60)),
        usize::MAX,
    );
    let mut first = command(dir.path(), &cfg).spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(90);
    while fake.serving("fraud")["green"] != json!(50) {
        if Instant::now() > until || first.try_wait().unwrap().is_some() {
            let _ = first.kill();
            let out = ran(first.wait_with_output().unwrap());
            panic!(
                "50% never served; log {:?}\n{}",
                fake.world().log,
                out.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&first, "KILL");
    let _ = first.wait();
    hang.store(false, Ordering::SeqCst);
    let rec = tag(&fake);
    assert!(
        rec.starts_with("state=in-progress;phase=1;weight=50;"),
        "the record says where traffic is: {rec}"
    );
    let n = greens(&puts).len();
    let second = run(dir.path(), &cfg);
    assert_eq!(second.code, 0, "{}", second.log());
    let resumed = greens(&puts)[n..].to_vec();
    assert!(
        resumed.iter().all(|g| *g >= 50) && resumed.last() == Some(&100),
        "continued at 50%: canary shares written {resumed:?}"
    );
}
