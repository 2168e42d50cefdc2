//! The Kubernetes client against the test API server: auth kinds, patch types, dry run, Status
//! errors in plain words, retries (429/5xx/Retry-After/transport), 409 re-read and re-apply.
use crate::support::kube;

use kube::{Fault, KubeServer};
use mlcanary::clients::kube::{
    AuthSpec, Client, ClientOptions, ClusterConfig, KubeError, Kubeconfig, PatchKind, PatchParams,
    RetryPolicy,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";
const SDEP: &str = "/apis/machinelearning.seldon.io/v1/namespaces/ml/seldondeployments/sd";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn opts() -> ClientOptions {
    ClientOptions {
        field_manager: "mlcanary-test".into(),
        retry: fast_retry(),
        ..ClientOptions::default()
    }
}

fn config(server: &KubeServer, auth: AuthSpec) -> ClusterConfig {
    ClusterConfig {
        server: server.url.clone(),
        namespace: Some("ml".into()),
        tls: Default::default(),
        tls_server_name: None,
        auth,
    }
}

fn client(server: &KubeServer) -> Client {
    Client::from_config(config(server, AuthSpec::None), &opts()).unwrap()
}

fn seeded() -> KubeServer {
    let s = KubeServer::start();
    s.insert(
        ISVC,
        json!({"spec": {"predictor": {"model": {"storageUri": "s3://m/v1"}}}}),
    );
    s
}

fn patches(server: &KubeServer) -> Vec<kube::Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

// ---------- configuration and auth ----------

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn explicit_kubeconfig_and_context_select_server_user_and_namespace() {
    let server = seeded();
    server.require_token("ctx-token");
    let dir = tempfile::tempdir().unwrap();
    let kc = write(
        dir.path(),
        "config",
        &format!(
            "current-context: wrong\nclusters:\n- {{name: c, cluster: {{server: \"{}\"}}}}\n- {{name: dead, cluster: {{server: \"http://127.0.0.1:9\"}}}}\nusers:\n- {{name: u, user: {{token: ctx-token}}}}\ncontexts:\n- {{name: wrong, context: {{cluster: dead, user: u}}}}\n- {{name: right, context: {{cluster: c, user: u, namespace: ml}}}}\n",
            server.url
        ),
    );
    let c = Client::new(&ClientOptions {
        kubeconfig: Some(kc),
        context: Some("right".into()),
        ..opts()
    })
    .unwrap();
    assert_eq!(c.server(), server.url);
    assert_eq!(c.default_namespace(), Some("ml"));
    assert_eq!(c.get(ISVC).unwrap()["metadata"]["name"], "fd");
    assert_eq!(
        server.requests()[0].authorization.as_deref(),
        Some("Bearer ctx-token")
    );
}

#[test]
fn merged_kubeconfig_list_reaches_the_server() {
    let server = seeded();
    server.require_basic("admin", "s3cret");
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a",
        "current-context: test\nusers:\n- {name: u, user: {username: admin, password: s3cret}}\n",
    );
    let b = write(
        dir.path(),
        "b",
        &format!("current-context: ignored\nclusters:\n- {{name: c, cluster: {{server: \"{}\"}}}}\ncontexts:\n- {{name: test, context: {{cluster: c, user: u}}}}\n", server.url),
    );
    let missing = dir.path().join("missing");
    let cfg = Kubeconfig::load(&[a, missing, b])
        .unwrap()
        .resolve(None)
        .unwrap();
    let c = Client::from_config(cfg, &opts()).unwrap();
    assert!(c.get(ISVC).is_ok());
}

#[test]
fn wrong_credentials_are_an_auth_error_not_retried() {
    let server = seeded();
    server.require_token("right");
    let c = Client::from_config(config(&server, AuthSpec::Token("wrong".into())), &opts()).unwrap();
    let e = c.get(ISVC).unwrap_err();
    assert!(matches!(e, KubeError::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("401"), "{e}");
    assert!(
        !e.to_string().contains("wrong"),
        "the token must not be printed: {e}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn token_file_is_reread_so_rotation_works() {
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    let tok = write(dir.path(), "token", "first\n");
    server.require_token("first");
    let c =
        Client::from_config(config(&server, AuthSpec::TokenFile(tok.clone())), &opts()).unwrap();
    c.get(ISVC).unwrap();
    std::fs::write(&tok, "second").unwrap();
    server.require_token("second");
    c.get(ISVC).unwrap();
}

#[test]
fn in_cluster_config_uses_the_service_account_files() {
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "token", "sa-token");
    write(dir.path(), "namespace", "ml");
    server.require_token("sa-token");
    let mut cfg =
        mlcanary::clients::kube::kubeconfig::in_cluster("10.96.0.1", "443", dir.path()).unwrap();
    assert_eq!(cfg.server, "https://10.96.0.1:443");
    cfg.server = server.url.clone(); // the test server speaks plain HTTP
    let c = Client::from_config(cfg, &opts()).unwrap();
    assert_eq!(c.default_namespace(), Some("ml"));
    c.get(ISVC).unwrap();
}

/// An exec plugin that counts its runs in `count` and prints `token-N`, expiring at `expiry`.
fn exec_plugin(dir: &Path, expiry: &str) -> AuthSpec {
    let script = write(
        dir,
        "plugin.sh",
        &format!(
            "#!/bin/sh\nn=$(cat \"$1\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$1\"\n\
             case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 3;; esac\n\
             printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"token-%s\",\"expirationTimestamp\":\"{expiry}\"}}}}' $n\n"
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = format!(
        "apiVersion: client.authentication.k8s.io/v1\ncommand: {}\nargs: [{}]\nenv: [{{name: X, value: y}}]\n",
        script.display(),
        dir.join("count").display()
    );
    AuthSpec::Exec(yaml_serde::from_str(&yaml).unwrap())
}

fn runs(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn exec_credential_is_cached_until_it_expires() {
    let server = seeded();
    server.require_token("token-1");
    let dir = tempfile::tempdir().unwrap();
    let c = Client::from_config(
        config(&server, exec_plugin(dir.path(), "2099-01-01T00:00:00Z")),
        &opts(),
    )
    .unwrap();
    for _ in 0..3 {
        c.get(ISVC).unwrap();
    }
    assert_eq!(runs(dir.path()), 1);
}

#[test]
fn expired_exec_credential_runs_the_plugin_again() {
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    let c = Client::from_config(
        config(&server, exec_plugin(dir.path(), "2001-01-01T00:00:00Z")),
        &opts(),
    )
    .unwrap();
    for _ in 0..3 {
        c.get(ISVC).unwrap();
    }
    assert_eq!(runs(dir.path()), 3);
    let sent: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.authorization.clone())
        .collect();
    assert_eq!(
        sent,
        vec!["Bearer token-1", "Bearer token-2", "Bearer token-3"]
    );
}

#[test]
fn a_401_refreshes_the_exec_credential_once() {
    let server = seeded();
    server.require_token("token-2");
    let dir = tempfile::tempdir().unwrap();
    let c = Client::from_config(
        config(&server, exec_plugin(dir.path(), "2099-01-01T00:00:00Z")),
        &opts(),
    )
    .unwrap();
    c.get(ISVC).unwrap();
    assert_eq!(runs(dir.path()), 2);
}

// ---------- patches ----------

#[test]
fn json_patch_merge_patch_and_apply_each_reach_the_store() {
    let server = seeded();
    let c = client(&server);
    let p = PatchParams::default();
    c.patch(
        ISVC,
        &PatchKind::Json,
        &json!([{"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": 10}]),
        &p,
    )
    .unwrap();
    assert_eq!(
        server.object(ISVC).unwrap()["spec"]["predictor"]["canaryTrafficPercent"],
        10
    );
    c.patch(
        ISVC,
        &PatchKind::Merge,
        &json!({"spec": {"predictor": {"canaryTrafficPercent": null}}}),
        &p,
    )
    .unwrap();
    assert!(server.object(ISVC).unwrap()["spec"]["predictor"]
        .get("canaryTrafficPercent")
        .is_none());
    let body = json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                      "metadata": {"name": "fd", "namespace": "ml"},
                      "spec": {"predictor": {"model": {"storageUri": "s3://m/v2"}}}});
    let out = c
        .patch(ISVC, &PatchKind::Apply { force: true }, &body, &p)
        .unwrap();
    assert_eq!(out["spec"]["predictor"]["model"]["storageUri"], "s3://m/v2");
    let sent = patches(&server);
    let types: Vec<&str> = sent.iter().map(|r| r.content_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml"
        ]
    );
    assert_eq!(sent[2].param("fieldManager"), Some("mlcanary-test"));
    assert_eq!(sent[2].param("force"), Some("true"));
    assert_eq!(sent[0].param("force"), None);
}

#[test]
fn status_subresource_patch_changes_only_status() {
    let server = KubeServer::start();
    let ro = "/apis/argoproj.io/v1alpha1/namespaces/ml/rollouts/r";
    server.insert(ro, json!({"spec": {"replicas": 1}, "status": {"phase": "Paused", "pauseConditions": [{"reason": "CanaryPauseStep"}]}}));
    let c = client(&server);
    let out = c
        .patch(
            &format!("{ro}/status"),
            &PatchKind::Merge,
            &json!({"spec": {"replicas": 5}, "status": {"pauseConditions": null}}),
            &PatchParams::default(),
        )
        .unwrap();
    assert_eq!(out["spec"]["replicas"], 1);
    assert!(out["status"].get("pauseConditions").is_none());
}

#[test]
fn dry_run_validates_answers_and_stores_nothing() {
    let server = seeded();
    let c = client(&server);
    let before = server.object(ISVC).unwrap();
    let out = c
        .patch(
            ISVC,
            &PatchKind::Merge,
            &json!({"spec": {"predictor": {"canaryTrafficPercent": 10}}}),
            &PatchParams { dry_run: true },
        )
        .unwrap();
    assert_eq!(out["spec"]["predictor"]["canaryTrafficPercent"], 10);
    assert_eq!(server.object(ISVC).unwrap(), before);
    let sent = &patches(&server)[0];
    assert_eq!(
        (sent.param("dryRun"), sent.param("fieldValidation")),
        (Some("All"), Some("Strict"))
    );
    // Strict validation rejects an unknown field in the dry run, before anything is applied.
    let e = c
        .patch(
            ISVC,
            &PatchKind::Merge,
            &json!({"sepc": {}}),
            &PatchParams { dry_run: true },
        )
        .unwrap_err();
    assert!(matches!(e, KubeError::Api { code: 400, .. }), "{e:?}");
    assert_eq!(server.object(ISVC).unwrap(), before);
}

// ---------- errors in plain words ----------

#[test]
fn forbidden_names_the_missing_rbac_permission() {
    let server = seeded();
    server.deny("patch", "inferenceservices");
    let e = client(&server)
        .patch(ISVC, &PatchKind::Merge, &json!({}), &PatchParams::default())
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("permission to patch inferenceservices.serving.kserve.io in namespace ml"),
        "{text}"
    );
    assert!(
        text.contains("cannot patch resource \"inferenceservices\""),
        "{text}"
    );
    assert_eq!(server.requests().len(), 1, "a 403 is not retried");
}

#[test]
fn not_found_and_admission_rejections_are_typed() {
    let server = seeded();
    let c = client(&server);
    let e = c.get(&ISVC.replace("/fd", "/missing")).unwrap_err();
    assert!(matches!(e, KubeError::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("inferenceservices.serving.kserve.io \"missing\" in namespace ml"),
        "{e}"
    );
    server.insert(
        SDEP,
        json!({"spec": {"predictors": [{"name": "main", "traffic": 100}]}}),
    );
    let e = c
        .patch(SDEP, &PatchKind::Merge, &json!({"spec": {"predictors": [{"name": "main", "traffic": 90}, {"name": "canary", "traffic": 20}]}}), &PatchParams::default())
        .unwrap_err();
    match &e {
        KubeError::Invalid { causes, .. } => {
            assert!(causes[0].contains("Traffic must sum to 100"), "{causes:?}")
        }
        other => panic!("{other:?}"),
    }
}

// ---------- retries ----------

#[test]
fn retries_429_then_succeeds() {
    let server = seeded();
    server.inject(|r| r.method == "GET", Fault::Status(429), 2);
    client(&server).get(ISVC).unwrap();
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn honours_retry_after_on_503() {
    let server = seeded();
    server.inject(|r| r.method == "PATCH", Fault::RetryAfter(503, 1), 1);
    let started = Instant::now();
    client(&server)
        .patch(
            ISVC,
            &PatchKind::Merge,
            &json!({"metadata": {"labels": {"a": "b"}}}),
            &PatchParams::default(),
        )
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(patches(&server).len(), 2);
}

#[test]
fn gives_up_after_max_attempts_with_the_last_error() {
    let server = seeded();
    server.inject(|_| true, Fault::Status(500), 10);
    let e = client(&server).get(ISVC).unwrap_err();
    assert!(matches!(e, KubeError::Api { code: 500, .. }), "{e:?}");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn transport_failures_are_retried() {
    let server = seeded();
    server.inject(|_| true, Fault::Close, 1);
    server.inject(|_| true, Fault::Hang(Duration::from_millis(700)), 1);
    let c = Client::from_config(
        config(&server, AuthSpec::None),
        &ClientOptions {
            timeout: Duration::from_millis(300),
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(c.get(ISVC).unwrap()["metadata"]["name"], "fd");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_non_json_answer_is_retried_then_a_transport_error() {
    let server = seeded();
    // Once: a GET is safe to repeat, so the retry reads the object (issue 15).
    server.inject(|_| true, Fault::Body("<html>proxy</html>".into()), 1);
    assert_eq!(client(&server).get(ISVC).unwrap()["metadata"]["name"], "fd");
    // For good: the error says why.
    server.inject(
        |_| true,
        Fault::Body("<html>proxy</html>".into()),
        usize::MAX,
    );
    let e = client(&server).get(ISVC).unwrap_err();
    assert!(
        matches!(e, KubeError::Transport(ref m) if m.contains("not JSON")),
        "{e:?}"
    );
}

#[test]
fn a_write_computed_from_a_stale_read_is_recomputed() {
    use mlcanary::platform::k8s::{patch_from, Intent, WriteTo};
    let server = seeded();
    let mut api = mlcanary::rollout::kube_live::LiveKube::from_client(client(&server), "t");
    let mut calls = 0;
    patch_from(&mut api, &WriteTo::object(ISVC, "InferenceService"), |_| {
        calls += 1;
        if calls == 1 {
            // Someone else writes between our read and our patch.
            server.insert(ISVC, json!({"spec": {"predictor": {"model": {"storageUri": "s3://m/v1"}, "minReplicas": 2}}}));
        }
        Ok(Intent::Patch(
            PatchKind::Json,
            json!([{"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": 10}]),
        ))
    })
    .unwrap();
    assert_eq!(
        calls, 2,
        "refused by the resourceVersion test, then recomputed"
    );
    let out = server.object(ISVC).unwrap();
    assert_eq!(out["spec"]["predictor"]["canaryTrafficPercent"], 10);
    assert_eq!(out["spec"]["predictor"]["minReplicas"], 2);
}

#[test]
fn kubeconfig_proxy_url_carries_the_requests() {
    let server = seeded();
    let proxy = server.proxy();
    let dir = tempfile::tempdir().unwrap();
    let kc = write(
        dir.path(),
        "config",
        &format!(
            "current-context: p\nclusters:\n- {{name: c, cluster: {{server: \"http://kube.invalid:6443\", proxy-url: \"{}\"}}}}\ncontexts:\n- {{name: p, context: {{cluster: c}}}}\n",
            proxy.url
        ),
    );
    let c = Client::new(&ClientOptions {
        kubeconfig: Some(kc),
        ..opts()
    })
    .unwrap();
    assert_eq!(c.get(ISVC).unwrap()["metadata"]["name"], "fd");
    assert_eq!(
        proxy.targets.lock().unwrap().as_slice(),
        ["kube.invalid:6443"]
    );
}
