//! The test API server's platform controllers, driven through the mlcanary Kubernetes client as
//! a rollout would drive them: KServe, Seldon v1, Seldon v2, Argo Rollouts.
use crate::support::kube;

use kube::KubeServer;
use mlcanary::clients::kube::{Client, KubeError, PatchKind, PatchParams};
use serde_json::{json, Value};

const ISVC: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";
const SDEP: &str = "/apis/machinelearning.seldon.io/v1/namespaces/ml/seldondeployments/sd";
const EXP: &str = "/apis/mlops.seldon.io/v1alpha1/namespaces/ml/experiments/ex";
const MODEL: &str = "/apis/mlops.seldon.io/v1alpha1/namespaces/ml/models/m2";
const RO: &str = "/apis/argoproj.io/v1alpha1/namespaces/ml/rollouts/r";

fn client(server: &KubeServer) -> Client {
    server.client()
}

fn merge(c: &Client, path: &str, body: Value) -> Value {
    c.patch(path, &PatchKind::Merge, &body, &PatchParams::default())
        .unwrap()
}

fn poll(c: &Client, path: &str, times: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..times {
        last = c.get(path).unwrap();
    }
    last
}

// ---------- KServe ----------

fn predictor(v: &Value) -> &Value {
    &v["status"]["components"]["predictor"]
}

fn traffic(v: &Value) -> Vec<(String, String, u64)> {
    predictor(v)["traffic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().into(),
                t["revisionName"].as_str().unwrap().into(),
                t["percent"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn kserve_v1_rolled_out(server: &KubeServer, c: &Client) {
    server.insert(ISVC, json!({"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/v1"}}}}));
    let v = poll(c, ISVC, 2);
    assert_eq!(
        predictor(&v)["latestRolledoutRevision"],
        "fd-predictor-00001"
    );
}

#[test]
fn kserve_canary_revision_gets_ready_after_k_polls_and_takes_its_share() {
    let server = KubeServer::start();
    let c = client(&server);
    kserve_v1_rolled_out(&server, &c);
    let v = merge(
        &c,
        ISVC,
        json!({"spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": "s3://m/v2"}}}}),
    );
    assert_eq!(predictor(&v)["latestCreatedRevision"], "fd-predictor-00002");
    assert_eq!(
        v["status"]["observedGeneration"],
        v["metadata"]["generation"]
    );
    let first = c.get(ISVC).unwrap();
    assert_eq!(
        predictor(&first)["latestReadyRevision"],
        "fd-predictor-00001",
        "not ready after one poll"
    );
    assert_eq!(first["status"]["conditions"][1]["status"], "Unknown");
    let ready = c.get(ISVC).unwrap();
    assert_eq!(
        predictor(&ready)["latestReadyRevision"],
        "fd-predictor-00002"
    );
    assert_eq!(ready["status"]["conditions"][1]["status"], "True");
    assert_eq!(
        traffic(&ready),
        vec![
            ("prev".into(), "fd-predictor-00001".into(), 90),
            ("latest".into(), "fd-predictor-00002".into(), 10)
        ]
    );
}

#[test]
fn kserve_promotion_and_rollback() {
    let server = KubeServer::start();
    server.set_ready_after(0);
    let c = client(&server);
    kserve_v1_rolled_out(&server, &c);
    merge(
        &c,
        ISVC,
        json!({"spec": {"predictor": {"canaryTrafficPercent": 25, "model": {"storageUri": "s3://m/v2"}}}}),
    );
    let rolled_back = merge(
        &c,
        ISVC,
        json!({"spec": {"predictor": {"canaryTrafficPercent": 0}}}),
    );
    assert_eq!(
        traffic(&rolled_back)[0],
        ("prev".into(), "fd-predictor-00001".into(), 100)
    );
    let promoted = c
        .patch(
            ISVC,
            &PatchKind::Json,
            &json!([{"op": "remove", "path": "/spec/predictor/canaryTrafficPercent"}]),
            &PatchParams::default(),
        )
        .unwrap();
    assert_eq!(
        predictor(&promoted)["latestRolledoutRevision"],
        "fd-predictor-00002"
    );
    assert_eq!(
        predictor(&promoted)["previousRolledoutRevision"],
        "fd-predictor-00001"
    );
    assert_eq!(
        traffic(&promoted),
        vec![("latest".into(), "fd-predictor-00002".into(), 100)]
    );
}

#[test]
fn kserve_broken_revision_never_becomes_ready() {
    let server = KubeServer::start();
    let c = client(&server);
    kserve_v1_rolled_out(&server, &c);
    merge(
        &c,
        ISVC,
        json!({"spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": "s3://m/broken"}}}}),
    );
    let v = poll(&c, ISVC, 10);
    assert_eq!(predictor(&v)["latestCreatedRevision"], "fd-predictor-00002");
    assert_eq!(predictor(&v)["latestReadyRevision"], "fd-predictor-00001");
    assert_eq!(v["status"]["conditions"][1]["status"], "False");
    assert_eq!(v["status"]["conditions"][1]["reason"], "RevisionFailed");
}

// ---------- Seldon v1 ----------

fn sdep(predictors: Value) -> Value {
    json!({"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": {"name": "sd"}, "spec": {"predictors": predictors}})
}

#[test]
fn seldon_state_goes_creating_then_available_or_failed() {
    let server = KubeServer::start();
    let c = client(&server);
    let created = c
        .patch(
            SDEP,
            &PatchKind::Apply { force: false },
            &sdep(json!([{"name": "main", "graph": {"name": "m", "modelUri": "s3://v1"}}])),
            &PatchParams::default(),
        )
        .unwrap();
    assert_eq!(created["status"]["state"], "Creating");
    assert_eq!(poll(&c, SDEP, 2)["status"]["state"], "Available");
    let two = json!([{"name": "main", "traffic": 90, "graph": {"name": "m", "modelUri": "s3://v1"}},
                     {"name": "canary", "traffic": 10, "graph": {"name": "m", "modelUri": "s3://broken"}}]);
    assert_eq!(
        merge(&c, SDEP, json!({"spec": {"predictors": two}}))["status"]["state"],
        "Creating"
    );
    assert_eq!(poll(&c, SDEP, 2)["status"]["state"], "Failed");
}

fn seldon_driver(server: &KubeServer) -> mlcanary::platform::seldon::Seldon {
    use mlcanary::platform::kube_platform::KubeTarget;
    use mlcanary::rollout::kube_live::LiveKube;
    mlcanary::platform::seldon::Seldon::new(
        KubeTarget {
            api: Box::new(LiveKube::from_client(server.client(), "mlcanary")),
            namespace: "ml".into(),
            name: "sd".into(),
            planned: vec![],
            gitops: Vec::new(),
        },
        "main".into(),
        "canary".into(),
    )
}

/// Polls the driver's readiness (bounded) until Ready; panics on Failed or time out.
fn seldon_until_ready(s: &mut mlcanary::platform::seldon::Seldon) {
    use mlcanary::platform::{Platform, Readiness};
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match s.poll_ready().unwrap() {
            Readiness::Ready => return,
            Readiness::Failed(why) => panic!("failed: {why}"),
            Readiness::Pending(why) => {
                assert!(std::time::Instant::now() < until, "never ready: {why}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// A role without `get` on the routing objects (Istio here) keeps the Deployments-only
/// judgement: the traffic patch is ready once the Deployments are, never a readiness error that
/// would roll back a healthy canary.
#[test]
fn seldon_v1_readiness_without_permission_to_read_routes_rests_on_the_deployments() {
    use mlcanary::platform::{Platform, Readiness};
    let server = KubeServer::start();
    server.deny("get", "virtualservices");
    let mut s = seldon_canary_at_10(&server);
    s.set_weight(50).unwrap();
    assert_eq!(s.poll_ready().unwrap(), Readiness::Ready);
}

/// A SeldonDeployment at v1, then the canary predictor (v2) at 10% and ready.
fn seldon_canary_at_10(server: &KubeServer) -> mlcanary::platform::seldon::Seldon {
    use mlcanary::platform::Platform;
    let graph =
        |uri: &str| json!({"name": "m", "implementation": "SKLEARN_SERVER", "modelUri": uri});
    server.insert(
        SDEP,
        sdep(json!([{"name": "main", "traffic": 100, "graph": graph("s3://v1")}])),
    );
    let mut s = seldon_driver(server);
    seldon_until_ready(&mut s);
    let rendered = sdep(
        json!([{"name": "main", "traffic": 90, "graph": graph("s3://v2")},
                               {"name": "canary", "traffic": 10, "graph": graph("s3://v2")}]),
    );
    s.prepare(10, 0, &[rendered]).unwrap();
    seldon_until_ready(&mut s);
    s
}

/// Seldon v1 traffic-only changes: the patch leaves the status as it was (Available, the same
/// Deployments, no `observedGeneration`), so only the routes the operator writes once it acted
/// (Istio VirtualService, Ambassador v2 Mappings) show the new split. Readiness (and, after the
/// promote, `settled`) waits for them; with neither configured it is judged on Deployments.
#[test]
fn seldon_v1_readiness_waits_for_the_routes_to_carry_the_new_split() {
    use kube::SeldonRouting;
    use mlcanary::platform::{Platform, Readiness};
    const VS: &str = "/apis/networking.istio.io/v1alpha3/namespaces/ml/virtualservices/sd";
    let mapping =
        |p: &str| format!("/apis/getambassador.io/v2/namespaces/ml/mappings/seldon-ml-sd-{p}-rest");
    for routing in [
        SeldonRouting::Istio,
        SeldonRouting::Ambassador,
        SeldonRouting::None,
    ] {
        let mut server = KubeServer::start();
        server.set_seldon_routing(routing);
        server.set_controllers(
            std::time::Duration::from_millis(300),
            std::time::Duration::from_millis(60),
        );
        let mut s = seldon_canary_at_10(&server);
        s.set_weight(50).unwrap();
        let stale = c_get(&server, SDEP);
        assert_eq!(
            stale["status"]["state"], "Available",
            "{routing:?}: status as before"
        );
        match (routing, s.poll_ready().unwrap()) {
            (SeldonRouting::Istio, Readiness::Pending(why)) => assert!(
                why.contains("VirtualService sd routes canary 10%, main 90% (the spec asks canary 50%, main 50%)"),
                "{why}"
            ),
            (SeldonRouting::Ambassador, Readiness::Pending(why)) => {
                assert!(why.contains("seldon-ml-sd-canary-rest has weight 10"), "{why}")
            }
            (SeldonRouting::None, Readiness::Ready) => {}
            (r, got) => panic!("{r:?}: right after the traffic patch: {got:?}"),
        }
        seldon_until_ready(&mut s);
        match routing {
            SeldonRouting::Istio => {
                let vs = c_get(&server, VS);
                assert_eq!(vs["spec"]["http"][0]["route"][1]["weight"], 50, "{vs}");
            }
            SeldonRouting::Ambassador => {
                assert_eq!(c_get(&server, &mapping("canary"))["spec"]["weight"], 50);
            }
            SeldonRouting::None => {}
        }
        s.promote().unwrap();
        server.settle();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while let Some(why) = s.settled().unwrap() {
            assert!(std::time::Instant::now() < until, "never settled: {why}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        match routing {
            SeldonRouting::Istio => {
                let vs = c_get(&server, VS);
                let routes = vs["spec"]["http"][0]["route"].as_array().unwrap().clone();
                assert_eq!(routes.len(), 1, "{vs}");
                assert_eq!(routes[0]["destination"]["subset"], "main");
            }
            SeldonRouting::Ambassador => {
                assert!(server.object(&mapping("canary")).is_none());
                assert!(server.object(&mapping("main")).is_some());
            }
            SeldonRouting::None => assert!(server.object(VS).is_none()),
        }
    }
}

fn c_get(server: &KubeServer, path: &str) -> Value {
    server.client().get(path).unwrap()
}

#[test]
fn seldon_admission_rejects_bad_traffic_and_two_shadows() {
    let server = KubeServer::start();
    let c = client(&server);
    server.insert(
        SDEP,
        json!({"spec": {"predictors": [{"name": "main", "traffic": 100}]}}),
    );
    let bad_sum = json!([{"name": "a", "traffic": 50}, {"name": "b", "traffic": 40}]);
    let shadows = json!([{"name": "a", "traffic": 100}, {"name": "s1", "shadow": true}, {"name": "s2", "shadow": true}]);
    for (preds, words) in [
        (bad_sum, "Traffic must sum to 100"),
        (shadows, "Only 1 shadow"),
    ] {
        let e = c
            .patch(
                SDEP,
                &PatchKind::Merge,
                &json!({"spec": {"predictors": preds}}),
                &PatchParams { dry_run: true },
            )
            .unwrap_err();
        assert!(
            matches!(e, KubeError::Invalid { .. }) && e.to_string().contains(words),
            "{e}"
        );
    }
    let ok = json!([{"name": "a", "traffic": 100}, {"name": "s", "shadow": true, "traffic": 100}]);
    merge(&c, SDEP, json!({"spec": {"predictors": ok}}));
}

// ---------- Seldon v2 ----------

fn conditions(v: &Value) -> Vec<(String, String)> {
    v["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().into(),
                c["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn seldon_v2_experiment_gets_ready_after_k_polls() {
    let server = KubeServer::start();
    server.set_ready_after(3);
    let c = client(&server);
    server.insert(EXP, json!({"spec": {"default": "m1", "candidates": [{"name": "m1", "weight": 90}, {"name": "m2", "weight": 10}]}}));
    assert!(conditions(&poll(&c, EXP, 2))
        .iter()
        .all(|(_, s)| s == "False"));
    let ready = conditions(&c.get(EXP).unwrap());
    assert_eq!(
        ready,
        vec![
            ("ExperimentReady".into(), "True".into()),
            ("CandidatesReady".into(), "True".into()),
            ("Ready".into(), "True".into())
        ]
    );
    // A weight change is a new spec: not ready again until polled.
    merge(
        &c,
        EXP,
        json!({"spec": {"candidates": [{"name": "m1", "weight": 50}, {"name": "m2-broken", "weight": 50}]}}),
    );
    let v = poll(&c, EXP, 5);
    assert!(conditions(&v).contains(&("CandidatesReady".into(), "False".into())));
    server.insert(MODEL, json!({"spec": {"storageUri": "gs://m/v2"}}));
    server.tick();
    server.tick();
    assert!(conditions(&server.object(MODEL).unwrap())
        .iter()
        .all(|(_, s)| s == "False"));
    server.tick();
    assert!(conditions(&server.object(MODEL).unwrap())
        .iter()
        .all(|(_, s)| s == "True"));
}

// ---------- Argo Rollouts ----------

fn rollout(image: &str) -> Value {
    json!({"spec": {"replicas": 4,
        "template": {"spec": {"containers": [{"name": "m", "image": image}]}},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "1m"}}, {"setWeight": 80}, {"pause": {}}]}}}})
}

fn ro_state(v: &Value) -> (String, u64, u64) {
    let s = &v["status"];
    (
        s["phase"].as_str().unwrap().into(),
        s["currentStepIndex"].as_u64().unwrap(),
        s["canary"]["weights"]["canary"]["weight"].as_u64().unwrap(),
    )
}

/// `kubectl argo rollouts promote` with pause conditions present: clear them on /status.
fn clear_pause(c: &Client) -> Value {
    merge(
        c,
        &format!("{RO}/status"),
        json!({"status": {"pauseConditions": null}}),
    )
}

fn start_update(server: &KubeServer, c: &Client) -> Value {
    server.insert(RO, rollout("m:v1"));
    assert_eq!(ro_state(&c.get(RO).unwrap()), ("Healthy".into(), 6, 100));
    merge(
        c,
        RO,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:v2"}]}}}}),
    )
}

#[test]
fn argo_steps_pause_and_promote_like_the_kubectl_plugin() {
    let server = KubeServer::start();
    let c = client(&server);
    let v = start_update(&server, &c);
    assert_eq!(ro_state(&v), ("Paused".into(), 1, 20));
    assert_eq!(
        v["status"]["pauseConditions"][0]["reason"],
        "CanaryPauseStep"
    );
    assert_eq!(
        v["status"]["observedGeneration"],
        json!(v["metadata"]["generation"].as_i64().unwrap().to_string())
    );
    // promote = clear pause conditions on /status
    let v = clear_pause(&c);
    assert_eq!(
        ro_state(&v),
        ("Paused".into(), 3, 50),
        "timed pause holds for one poll"
    );
    assert_eq!(ro_state(&c.get(RO).unwrap()), ("Paused".into(), 5, 80));
    // A user pause and unpause (spec.paused) leaves the step's own pause in place (upstream:
    // completedCurrentCanaryStep is false while spec.paused, and the condition is still there).
    let v = merge(&c, RO, json!({"spec": {"paused": true}}));
    assert_eq!(v["status"]["message"], "manually paused");
    let v = merge(&c, RO, json!({"spec": {"paused": false}}));
    assert_eq!(ro_state(&v), ("Paused".into(), 5, 80));
    // Clearing the conditions completes it.
    let v = clear_pause(&c);
    assert_eq!(ro_state(&v), ("Healthy".into(), 6, 100));
    assert_eq!(v["status"]["stableRS"], v["status"]["currentPodHash"]);
    assert!(v["status"].get("controllerPause").is_none());
}

/// Async controllers (as in a cluster): a cleared pause is seen as "unpausing" (controllerPause
/// true, no pause conditions, stored phase still Paused) until the controller's next reconcile,
/// which completes the step; a second clear in that window would skip nothing (no conditions).
#[test]
fn argo_async_controller_shows_the_unpausing_state_until_it_reconciles() {
    let mut server = KubeServer::start();
    server.set_controllers(
        std::time::Duration::from_millis(400),
        std::time::Duration::from_millis(100),
    );
    let c = client(&server);
    server.insert(RO, rollout("m:v1"));
    merge(
        &c,
        RO,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:v2"}]}}}}),
    );
    // Stale read: the controller has not seen the new template yet.
    let v = c.get(RO).unwrap();
    assert_eq!(ro_state(&v), ("Healthy".into(), 6, 100));
    assert_ne!(
        v["status"]["observedGeneration"],
        json!(v["metadata"]["generation"].as_i64().unwrap().to_string())
    );
    server.settle();
    let v = c.get(RO).unwrap();
    assert_eq!(ro_state(&v), ("Paused".into(), 1, 20));
    assert_eq!(v["status"]["controllerPause"], true);
    let v = clear_pause(&c);
    assert_eq!(
        ro_state(&v),
        ("Paused".into(), 1, 20),
        "stored phase is stale"
    );
    assert_eq!(v["status"]["controllerPause"], true);
    assert!(v["status"]["pauseConditions"].is_null());
    server.settle();
    let v = c.get(RO).unwrap();
    assert_eq!(
        ro_state(&v).1,
        3,
        "one step completed, on to the next pause"
    );
    assert_eq!(ro_state(&v).2, 50);
}

#[test]
fn argo_abort_degrades_and_retry_restarts() {
    let server = KubeServer::start();
    let c = client(&server);
    start_update(&server, &c);
    let v = merge(
        &c,
        &format!("{RO}/status"),
        json!({"status": {"abort": true}}),
    );
    assert_eq!(ro_state(&v).0, "Degraded");
    assert_eq!(ro_state(&v).2, 0);
    assert!(v["status"]["message"]
        .as_str()
        .unwrap()
        .starts_with("RolloutAborted"));
    let v = merge(
        &c,
        &format!("{RO}/status"),
        json!({"status": {"abort": false}}),
    );
    assert_eq!(ro_state(&v), ("Paused".into(), 1, 20));
}

#[test]
fn argo_promote_full_skips_the_remaining_steps() {
    let server = KubeServer::start();
    let c = client(&server);
    start_update(&server, &c);
    let v = merge(
        &c,
        &format!("{RO}/status"),
        json!({"status": {"promoteFull": true}}),
    );
    assert_eq!(ro_state(&v), ("Healthy".into(), 6, 100));
    assert!(v["status"].get("promoteFull").is_none());
}

/// The comparison phase's steps (`setCanaryScale {replicas: 1}` + `setWeight: 0` + `pause: {}`):
/// with a traffic router, one canary pod with no traffic while paused; `matchTrafficWeight: true`
/// returns the canary to the weight's scale; an abort scales it down. Without a router the step
/// is an invalid spec, as upstream's validation says, and a basic canary at 0% has no pods.
#[test]
fn argo_set_canary_scale_holds_canary_pods_at_weight_zero_only_with_a_router() {
    let compare_steps = json!([{"setCanaryScale": {"replicas": 1}}, {"setWeight": 0}, {"pause": {}},
        {"setCanaryScale": {"matchTrafficWeight": true}}, {"setWeight": 50}, {"pause": {}}]);
    let routed = |image: &str| {
        let mut r = rollout(image);
        r["spec"]["strategy"]["canary"] = json!({"trafficRouting": {"nginx": {"stableIngress": "r"}},
            "canaryService": "r-canary", "stableService": "r-stable", "steps": compare_steps});
        r
    };
    let counts = |v: &Value| {
        (
            v["status"]["updatedReplicas"].as_u64().unwrap(),
            v["status"]["replicas"].as_u64().unwrap(),
        )
    };
    let server = KubeServer::start();
    let c = client(&server);
    server.insert(RO, routed("m:v1"));
    let v = c.get(RO).unwrap();
    assert_eq!(ro_state(&v), ("Healthy".into(), 6, 100));
    assert_eq!(counts(&v), (4, 4));
    let mut next = routed("m:v2");
    next["metadata"] = v["metadata"].clone();
    let v = merge(&c, RO, json!({"spec": next["spec"]}));
    assert_eq!(ro_state(&v), ("Paused".into(), 2, 0));
    assert_eq!(
        counts(&v),
        (1, 5),
        "one canary pod beside the 4 stable, no traffic"
    );
    let v = clear_pause(&c);
    assert_eq!(ro_state(&v), ("Paused".into(), 5, 50));
    assert_eq!(
        counts(&v),
        (2, 6),
        "ceil(50% of 4): the weight's scale again"
    );
    let v = merge(
        &c,
        &format!("{RO}/status"),
        json!({"status": {"abort": true}}),
    );
    assert_eq!(ro_state(&v), ("Degraded".into(), 0, 0));
    assert_eq!(counts(&v).0, 0);

    // No traffic router: upstream rejects the step (InvalidSpec) and nothing moves.
    let server = KubeServer::start();
    let c = client(&server);
    server.insert(RO, rollout("m:v1"));
    let v = merge(
        &c,
        RO,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:v2"}]}},
            "strategy": {"canary": {"steps": compare_steps}}}}),
    );
    assert_eq!(v["status"]["phase"], "Degraded");
    assert_eq!(v["status"]["conditions"][0]["type"], "InvalidSpec");
    assert_eq!(
        v["status"]["message"],
        "InvalidSpec: The Rollout \"r\" is invalid: spec.strategy.canary.trafficRouting: Required value: SetCanaryScale requires TrafficRouting to be set"
    );
    // A basic canary at setWeight 0 has no canary pods to ask.
    let v = merge(
        &c,
        RO,
        json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 0}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]}}}}),
    );
    assert_eq!(ro_state(&v), ("Paused".into(), 1, 0));
    assert_eq!(counts(&v), (0, 4));
}
