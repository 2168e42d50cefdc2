//! Seldon Core v1: is the traffic split of the spec in effect? The operator (1.18,
//! `seldondeployment_controller.go`) writes the routes in `completeServiceCreation`, only in a
//! reconcile that found every predictor's Deployment ready, and it writes no
//! `observedGeneration`: routes that carry the spec's weights are the evidence that the
//! operator acted on the spec as it is now (a status read right after a traffic-only patch
//! still says Available, and the Deployments did not change).
//!
//! Which routes exist depends on the operator's environment, shown by two status conditions
//! (`status.conditions`, reasons verbatim from `seldon_deployment_status.go`):
//! - `istioVirtualServicesReady` not "No VirtualServices defined": one VirtualService named
//!   after the SeldonDeployment (`createIstioResources`); its first HTTP route has one
//!   destination per non-shadow predictor (`subset` = predictor name, `weight` = its traffic,
//!   omitted when 0) and a shadow predictor as `mirror`;
//! - `AmbassadorMappingsReady` not "No Ambassador Mappaings defined" (Ambassador v2 API):
//!   a Mapping `seldon-{ns}-{sdep}-{predictor}-rest` per predictor (`GetV2AmbassadorConfigs`),
//!   with `weight` = traffic on every predictor but the first and `shadow: true` on a shadow;
//! - neither: Ambassador's v1 API, whose Mappings are an annotation on each predictor's Service
//!   (`seldon_ambassador_v1.rs`), or no routing at all (readiness is then judged on the
//!   Deployments only; documented in docs/kubernetes.md).

use super::k8s::{condition, KubeApi, AMBASSADOR_MAPPING, ISTIO_VIRTUAL_SERVICE};
use super::PlatformError;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Routing {
    Istio,
    Ambassador,
    /// No routing object the operator writes: judged on Deployments only.
    Unrouted,
}

/// The routing the operator reports in its conditions.
pub fn routing(sdep: &Value) -> Routing {
    let defined = |t: &str| {
        condition(sdep, t)
            .and_then(|c| c["reason"].as_str())
            .is_some_and(|r| !r.is_empty() && !r.starts_with("No "))
    };
    if defined("istioVirtualServicesReady") {
        Routing::Istio
    } else if defined("AmbassadorMappingsReady") {
        Routing::Ambassador
    } else {
        Routing::Unrouted
    }
}

/// Predictor name -> live traffic percent the spec asks (a single live predictor takes all),
/// and the shadow predictor, if any.
fn asked(sdep: &Value) -> (BTreeMap<String, u64>, Option<String>) {
    let preds = sdep["spec"]["predictors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let live: Vec<&Value> = preds.iter().filter(|p| p["shadow"] != true).collect();
    let split = shares(live.iter().map(|p| {
        (
            p["name"].as_str().unwrap_or("").to_string(),
            p["traffic"].as_u64().unwrap_or(0),
        )
    }));
    let shadow = preds
        .iter()
        .find(|p| p["shadow"] == true)
        .and_then(|p| p["name"].as_str())
        .map(String::from);
    (split, shadow)
}

/// Name -> percent: a lone entry takes everything, whatever its weight says.
fn shares(entries: impl ExactSizeIterator<Item = (String, u64)>) -> BTreeMap<String, u64> {
    let lone = entries.len() == 1;
    entries
        .map(|(n, w)| (n, if lone { 100 } else { w }))
        .collect()
}

fn words(split: &BTreeMap<String, u64>) -> String {
    split
        .iter()
        .map(|(n, w)| format!("{n} {w}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `None` when the routes carry the spec's split (or no routes are written), else what they
/// still say. `gone`: predictors removed by this run, whose routes must be gone too.
pub fn not_routed(
    api: &mut dyn KubeApi,
    namespace: &str,
    sdep: &Value,
    gone: &[&str],
) -> Result<Option<String>, PlatformError> {
    match routes_differ(api, namespace, sdep, gone) {
        // A role without `get` on the routing objects (enough before these checks existed)
        // keeps the Deployments-only judgement, said once in the log, rather than failing the
        // readiness of a healthy canary.
        Err(e) if e.is_forbidden() => {
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                log::warn!("Seldon v1 readiness: cannot read the routes ({e}); readiness rests on the Deployments");
            }
            Ok(None)
        }
        other => other,
    }
}

/// A forbidden route read is logged once per process, not at every readiness poll.
static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn routes_differ(
    api: &mut dyn KubeApi,
    namespace: &str,
    sdep: &Value,
    gone: &[&str],
) -> Result<Option<String>, PlatformError> {
    let name = sdep["metadata"]["name"].as_str().unwrap_or("");
    match routing(sdep) {
        // No routing condition: Ambassador's v1 API (Mappings in the predictor Services'
        // annotation), or no routing at all.
        Routing::Unrouted => super::seldon_ambassador_v1::differs(api, namespace, sdep, gone),
        Routing::Istio => {
            // Named by `GetSeldonDeploymentName`: the name, or "seldon-" + md5 past 63 characters.
            let name = &crate::core::seldon_names::operator_name(name);
            let path = ISTIO_VIRTUAL_SERVICE.path(namespace, name);
            let Some(vs) = api.get(&path)? else {
                return Ok(Some(format!(
                    "the VirtualService {name} is not created yet"
                )));
            };
            Ok(istio_differs(sdep, &vs).map(|d| format!("the VirtualService {name} {d}")))
        }
        Routing::Ambassador => ambassador_differs(api, namespace, sdep, gone),
    }
}

/// How the VirtualService's first HTTP route differs from the spec, if it does.
fn istio_differs(sdep: &Value, vs: &Value) -> Option<String> {
    let (want, shadow) = asked(sdep);
    let http = &vs["spec"]["http"][0];
    let routes = http["route"].as_array().cloned().unwrap_or_default();
    let got = shares(routes.iter().map(|r| {
        (
            r["destination"]["subset"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            r["weight"].as_u64().unwrap_or(0),
        )
    }));
    if got != want {
        return Some(format!(
            "routes {} (the spec asks {})",
            words(&got),
            words(&want)
        ));
    }
    let mirror = http["mirror"]["subset"].as_str().map(String::from);
    (mirror != shadow).then(|| match (mirror, shadow) {
        (_, Some(s)) => format!("does not mirror to the shadow predictor {s} yet"),
        (Some(m), None) => format!("still mirrors to {m}"),
        (None, None) => unreachable!("equal"),
    })
}

/// How the Ambassador Mappings differ from the spec, if they do.
fn ambassador_differs(
    api: &mut dyn KubeApi,
    namespace: &str,
    sdep: &Value,
    gone: &[&str],
) -> Result<Option<String>, PlatformError> {
    let name = sdep["metadata"]["name"].as_str().unwrap_or("");
    let mapping = |p: &str| format!("seldon-{namespace}-{name}-{p}-rest");
    let preds = sdep["spec"]["predictors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, p) in preds.iter().enumerate() {
        let pname = p["name"].as_str().unwrap_or("");
        let m = mapping(pname);
        let Some(obj) = api.get(&AMBASSADOR_MAPPING.path(namespace, &m))? else {
            return Ok(Some(format!(
                "the Ambassador Mapping {m} is not created yet"
            )));
        };
        let shadow = p["shadow"] == true;
        // The first predictor carries no weight: Ambassador gives it what the others leave.
        if shadow || i > 0 {
            let (got, want) = (
                obj["spec"]["weight"].as_u64().unwrap_or(0),
                p["traffic"].as_u64().unwrap_or(0),
            );
            if got != want {
                return Ok(Some(format!(
                    "the Ambassador Mapping {m} has weight {got} (the spec asks {want})"
                )));
            }
        }
        if (obj["spec"]["shadow"] == true) != shadow {
            return Ok(Some(format!(
                "the Ambassador Mapping {m} does not match the predictor's shadow flag yet"
            )));
        }
    }
    for p in gone {
        let m = mapping(p);
        if api.get(&AMBASSADOR_MAPPING.path(namespace, &m))?.is_some() {
            return Ok(Some(format!(
                "the Ambassador Mapping {m} of the removed predictor {p} still exists"
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sdep(reasons: (&str, &str), preds: Value) -> Value {
        json!({"metadata": {"name": "sd"}, "spec": {"predictors": preds}, "status": {"conditions": [
            {"type": "istioVirtualServicesReady", "status": "True", "reason": reasons.0},
            {"type": "AmbassadorMappingsReady", "status": "True", "reason": reasons.1},
        ]}})
    }

    #[test]
    fn routing_from_the_operators_condition_reasons() {
        let p = json!([]);
        for (r, want) in [
            (
                (
                    "All VirtualServices created",
                    "No Ambassador Mappaings defined",
                ),
                Routing::Istio,
            ),
            (
                (
                    "Not all VirtualServices created",
                    "No Ambassador Mappaings defined",
                ),
                Routing::Istio,
            ),
            (
                (
                    "No VirtualServices defined",
                    "All Ambassador Mappings created",
                ),
                Routing::Ambassador,
            ),
            (
                (
                    "No VirtualServices defined",
                    "No Ambassador Mappaings defined",
                ),
                Routing::Unrouted,
            ),
        ] {
            assert_eq!(routing(&sdep(r, p.clone())), want, "{r:?}");
        }
        assert_eq!(routing(&json!({"status": {}})), Routing::Unrouted);
    }

    #[test]
    fn istio_routes_compared_with_the_spec_weights_mirror_and_single_route() {
        let s = sdep(
            ("All VirtualServices created", ""),
            json!([{"name": "main", "traffic": 80}, {"name": "canary", "traffic": 20}]),
        );
        let vs = |routes: Value, mirror: Option<&str>| {
            let mut h = json!({"route": routes});
            if let Some(m) = mirror {
                h["mirror"] = json!({"subset": m});
            }
            json!({"spec": {"http": [h]}})
        };
        let r = |n: &str, w: Option<u64>| {
            let mut d = json!({"destination": {"subset": n}});
            if let Some(w) = w {
                d["weight"] = json!(w);
            }
            d
        };
        assert_eq!(
            istio_differs(
                &s,
                &vs(json!([r("main", Some(80)), r("canary", Some(20))]), None)
            ),
            None
        );
        let stale = istio_differs(
            &s,
            &vs(json!([r("main", Some(90)), r("canary", Some(10))]), None),
        );
        assert_eq!(
            stale.as_deref(),
            Some("routes canary 10%, main 90% (the spec asks canary 20%, main 80%)")
        );
        // A zero weight is omitted (proto3 JSON); a lone route takes everything.
        let s0 = sdep(
            ("All VirtualServices created", ""),
            json!([{"name": "main", "traffic": 100}, {"name": "canary", "traffic": 0}]),
        );
        assert_eq!(
            istio_differs(
                &s0,
                &vs(json!([r("main", Some(100)), r("canary", None)]), None)
            ),
            None
        );
        let promoted = sdep(
            ("All VirtualServices created", ""),
            json!([{"name": "main"}]),
        );
        assert_eq!(
            istio_differs(&promoted, &vs(json!([r("main", None)]), None)),
            None
        );
        assert!(istio_differs(
            &promoted,
            &vs(json!([r("main", Some(100)), r("canary", None)]), None)
        )
        .is_some());
        // A shadow predictor is the mirror, not a route.
        let shadowed = sdep(
            ("All VirtualServices created", ""),
            json!([{"name": "main", "traffic": 100}, {"name": "canary", "shadow": true}]),
        );
        assert_eq!(
            istio_differs(
                &shadowed,
                &vs(json!([r("main", Some(100))]), Some("canary"))
            ),
            None
        );
        assert!(istio_differs(&shadowed, &vs(json!([r("main", Some(100))]), None)).is_some());
        assert!(istio_differs(
            &s,
            &vs(
                json!([r("main", Some(80)), r("canary", Some(20))]),
                Some("canary")
            )
        )
        .is_some());
    }
}
