//! The manual gates (`mlcanary promote`, `rollback`, `status`) through the binary against the
//! test API server: a pipeline leaves a canary live at some stage, a later job acts on the live
//! resource and prints where traffic is. kubectl sets the canary up and reads the result back.
use crate::support::e2e;

use e2e::{Env, Kind, Opts, CANARY_URI, NAME};
use serde_json::Value;

fn gate(env: &Env, cmd: &str, json: bool) -> e2e::Run {
    let file = env.write_config(&env.config(&Opts::default()));
    let mut args = vec![cmd.to_string(), "-c".into(), file.display().to_string()];
    if json {
        args.extend(["--format".into(), "json".into()]);
    }
    env.mlcanary(&args)
}

fn json_out(run: &e2e::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.log()))
}

/// KServe with the new revision live at 10%, as a run paused at its first stage leaves it.
fn kserve_canary_at_10() -> Env {
    let env = Env::kube_only(Kind::Kserve);
    let patch = format!(
        r#"{{"spec":{{"predictor":{{"canaryTrafficPercent":10,"model":{{"storageUri":"{CANARY_URI}"}}}}}}}}"#
    );
    env.kubectl(&[
        "patch",
        "isvc",
        NAME,
        "-n",
        "ml",
        "--type=merge",
        "-p",
        &patch,
    ]);
    env.kube.tick(); // the new revision becomes ready
    env
}

#[test]
fn status_prints_the_live_split_and_revisions() {
    let env = kserve_canary_at_10();
    let run = gate(&env, "status", true);
    assert_eq!(run.code, 0, "{}", run.log());
    let v = json_out(&run);
    assert_eq!(v["command"], "status");
    assert_eq!(
        v["namespace"], "ml",
        "namespace from the kubeconfig context"
    );
    assert_eq!(v["traffic"]["split"]["fd-predictor-00001"], 90, "{v}");
    assert_eq!(v["traffic"]["split"]["fd-predictor-00002"], 10, "{v}");
    assert_eq!(
        v["revisions"]["canary_revision"], "fd-predictor-00002",
        "{v}"
    );
    assert_eq!(
        v["revisions"]["stable_revision"], "fd-predictor-00001",
        "{v}"
    );
    let text = gate(&env, "status", false);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout
            .contains("traffic now: fd-predictor-00001 90%, fd-predictor-00002 10%"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(
            "canary: fd (revision fd-predictor-00002); stable: fd (revision fd-predictor-00001)"
        ),
        "{}",
        text.stdout
    );
    // status changes nothing.
    let patches = env
        .kube
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(patches, 1, "only kubectl's setup patch");
}

#[test]
fn promote_sends_everything_to_the_canary_and_waits_until_ready() {
    let env = kserve_canary_at_10();
    let run = gate(&env, "promote", false);
    assert_eq!(run.code, 0, "{}", run.log());
    assert!(
        run.stdout.starts_with("promoted: kserve fd in ml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("traffic now: fd-predictor-00002 100%"),
        "{}",
        run.stdout
    );
    let k = env.kubectl_main().unwrap();
    assert!(
        k["spec"]["predictor"].get("canaryTrafficPercent").is_none(),
        "{k}"
    );
    assert_eq!(
        k["status"]["components"]["predictor"]["latestRolledoutRevision"],
        "fd-predictor-00002"
    );
}

#[test]
fn rollback_puts_all_traffic_back_on_stable() {
    let env = kserve_canary_at_10();
    let run = gate(&env, "rollback", true);
    assert_eq!(run.code, 0, "{}", run.log());
    let v = json_out(&run);
    assert_eq!(v["ok"], true);
    assert_eq!(v["traffic"]["split"]["fd-predictor-00001"], 100, "{v}");
    let k = env.kubectl_main().unwrap();
    assert_eq!(k["spec"]["predictor"]["canaryTrafficPercent"], 0, "{k}");
}

#[test]
fn rollback_refused_by_rbac_exits_3_and_says_where_traffic_still_is() {
    let env = kserve_canary_at_10();
    env.kube.deny("patch", "inferenceservices");
    let run = gate(&env, "rollback", false);
    assert_eq!(run.code, 3, "{}", run.log());
    assert!(run.stdout.starts_with("rollback FAILED"), "{}", run.stdout);
    assert!(run.stdout.contains("forbidden"), "{}", run.stdout);
    assert!(
        run.stdout.contains("fd-predictor-00002 10%"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_config_exits_2_without_touching_the_cluster() {
    let env = Env::kube_only(Kind::Kserve);
    let file = env.write_config("apiVersion: mlcanary/v1\nname: x\n");
    let run = env.mlcanary(&["rollback".into(), "-c".into(), file.display().to_string()]);
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(env.kube.requests().is_empty());
}

#[test]
fn seldon_rollback_removes_the_canary_predictor() {
    let env = Env::kube_only(Kind::Seldon);
    let patch = format!(
        r#"[{{"op":"replace","path":"/spec/predictors/0/traffic","value":75}},{{"op":"add","path":"/spec/predictors/-","value":{{"name":"canary","replicas":1,"traffic":25,"graph":{{"name":"classifier","implementation":"SKLEARN_SERVER","modelUri":"{CANARY_URI}"}}}}}}]"#
    );
    env.kubectl(&[
        "patch",
        "sdep",
        NAME,
        "-n",
        "ml",
        "--type=json",
        "-p",
        &patch,
    ]);
    let status = json_out(&gate(&env, "status", true));
    assert_eq!(status["traffic"]["split"]["canary"], 25, "{status}");
    let run = gate(&env, "rollback", false);
    assert_eq!(run.code, 0, "{}", run.log());
    assert!(
        run.stdout.contains("traffic now: main 100%"),
        "{}",
        run.stdout
    );
    let k = env.kubectl_main().unwrap();
    assert_eq!(k["spec"]["predictors"].as_array().unwrap().len(), 1, "{k}");
}

#[test]
fn argo_promote_from_the_first_pause_goes_all_the_way() {
    let env = Env::kube_only(Kind::ArgoDrive);
    // A drive-mode Rollout paused at its first stage: the new template and the mlcanary steps.
    let patch = r#"{"spec":{"template":{"spec":{"containers":[{"name":"model","image":"ghcr.io/acme/fd:2"}]}},"strategy":{"canary":{"steps":[{"setWeight":10},{"pause":{}},{"setWeight":50},{"pause":{}}]}}}}"#;
    env.kubectl(&[
        "patch",
        "rollouts.argoproj.io",
        NAME,
        "-n",
        "ml",
        "--type=merge",
        "-p",
        patch,
    ]);
    env.kube.tick(); // the controller reaches the first pause
    let before = env.kubectl_main().unwrap();
    assert_eq!(before["status"]["phase"], "Paused", "{before}");
    assert_eq!(before["status"]["currentStepIndex"], 1);
    let run = gate(&env, "promote", true);
    assert_eq!(run.code, 0, "{}", run.log());
    let v = json_out(&run);
    let canary = before["status"]["currentPodHash"].as_str().unwrap();
    assert_eq!(v["traffic"]["split"][canary], 100, "{v}");
    let k = env.kubectl_main().unwrap();
    assert_eq!(k["status"]["phase"], "Healthy", "{k}");
    assert_eq!(k["status"]["stableRS"], canary);
}
