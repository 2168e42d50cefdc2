//! The resource types the test API server knows, and the discovery documents kubectl reads
//! (legacy, non-aggregated discovery: plain `application/json` answers make kubectl fall back to it).

use serde_json::{json, Value};

/// A served custom resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub short: &'static [&'static str],
}

pub const RESOURCES: &[Resource] = &[
    Resource {
        group: "serving.kserve.io",
        version: "v1beta1",
        plural: "inferenceservices",
        singular: "inferenceservice",
        kind: "InferenceService",
        short: &["isvc"],
    },
    Resource {
        group: "machinelearning.seldon.io",
        version: "v1",
        plural: "seldondeployments",
        singular: "seldondeployment",
        kind: "SeldonDeployment",
        short: &["sdep"],
    },
    Resource {
        group: "mlops.seldon.io",
        version: "v1alpha1",
        plural: "experiments",
        singular: "experiment",
        kind: "Experiment",
        short: &[],
    },
    Resource {
        group: "mlops.seldon.io",
        version: "v1alpha1",
        plural: "models",
        singular: "model",
        kind: "Model",
        short: &["mlm"],
    },
    Resource {
        group: "argoproj.io",
        version: "v1alpha1",
        plural: "rollouts",
        singular: "rollout",
        kind: "Rollout",
        short: &["ro"],
    },
    Resource {
        group: "argoproj.io",
        version: "v1alpha1",
        plural: "analysistemplates",
        singular: "analysistemplate",
        kind: "AnalysisTemplate",
        short: &[],
    },
    // What the Seldon Core v1 operator writes to route traffic between predictors.
    Resource {
        group: "networking.istio.io",
        version: "v1alpha3",
        plural: "virtualservices",
        singular: "virtualservice",
        kind: "VirtualService",
        short: &["vs"],
    },
    Resource {
        group: "getambassador.io",
        version: "v2",
        plural: "mappings",
        singular: "mapping",
        kind: "Mapping",
        short: &[],
    },
    Resource {
        group: "argoproj.io",
        version: "v1alpha1",
        plural: "analysisruns",
        singular: "analysisrun",
        kind: "AnalysisRun",
        short: &[],
    },
];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

const VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];

fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// Answers a discovery path, or `None` if `path` is not one.
pub fn discovery(path: &str, host: &str) -> Option<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["version"] => Some(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "test",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
            "compiler": "gc", "platform": "linux/amd64"
        })),
        ["api"] => Some(json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]
        })),
        ["api", "v1"] => Some(json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [{"name": "namespaces", "singularName": "namespace", "namespaced": false,
                           "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]}]
        })),
        ["apis"] => Some(json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": groups().iter().map(|(g, v)| json!({
                "name": g,
                "versions": [{"groupVersion": format!("{g}/{v}"), "version": v}],
                "preferredVersion": {"groupVersion": format!("{g}/{v}"), "version": v}
            })).collect::<Vec<_>>()
        })),
        ["apis", g, v] if groups().contains(&(*g, *v)) => Some(json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{g}/{v}"),
            "resources": RESOURCES.iter().filter(|r| r.group == *g && r.version == *v).flat_map(|r| [
                json!({"name": r.plural, "singularName": r.singular, "namespaced": true, "kind": r.kind,
                       "verbs": VERBS, "shortNames": r.short, "categories": ["all"]}),
                json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": true,
                       "kind": r.kind, "verbs": ["get", "patch", "update"]}),
            ]).collect::<Vec<_>>()
        })),
        // Every namespace exists (kubectl checks after a 404 to word its message).
        ["api", "v1", "namespaces", ns] => Some(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "status": {"phase": "Active"}
        })),
        ["openapi", "v3"] => Some(json!({
            "paths": groups().iter().map(|(g, v)| (
                format!("apis/{g}/{v}"),
                json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash=0123456789abcdef")})
            )).collect::<serde_json::Map<_, _>>()
        })),
        ["openapi", "v3", "apis", g, v] if groups().contains(&(*g, *v)) => Some(openapi_gv(g, v)),
        _ => None,
    }
}

/// The OpenAPI v3 document of one group-version, reduced to what kubectl reads: each PATCH
/// operation's `x-kubernetes-group-version-kind` and its `fieldValidation` query parameter (that
/// is how kubectl learns it may leave validation to the server).
fn openapi_gv(g: &str, v: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES.iter().filter(|r| r.group == g && r.version == v) {
        let op = json!({
            "operationId": format!("patchNamespaced{}", r.kind),
            "x-kubernetes-group-version-kind": {"group": g, "version": v, "kind": r.kind},
            "x-kubernetes-action": "patch",
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
            ],
            "responses": {"200": {"description": "OK"}}
        });
        paths.insert(
            format!(
                "/apis/{g}/{v}/namespaces/{{namespace}}/{}/{{name}}",
                r.plural
            ),
            json!({"patch": op}),
        );
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"}, "paths": paths})
}
