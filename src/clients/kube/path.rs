//! Resource paths, built and taken apart. The client builds paths for callers and reads them back
//! to word errors ("cannot patch inferenceservices.serving.kserve.io in namespace ml-prod").

/// `/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}[/{sub}]`; an empty group means the
/// core API (`/api/{version}/...`), an empty namespace a cluster-scoped resource, an empty name
/// the collection.
pub fn resource_path(
    group: &str,
    version: &str,
    namespace: &str,
    plural: &str,
    name: &str,
    subresource: Option<&str>,
) -> String {
    let mut p = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    if !namespace.is_empty() {
        p.push_str("/namespaces/");
        p.push_str(namespace);
    }
    p.push('/');
    p.push_str(plural);
    if !name.is_empty() {
        p.push('/');
        p.push_str(name);
        if let Some(sub) = subresource {
            p.push('/');
            p.push_str(sub);
        }
    }
    p
}

/// What a request path addresses, for error messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathInfo {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl PathInfo {
    /// `plural.group` (just `plural` for the core API), as RBAC and kubectl write it.
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Parses a resource path (query string ignored); `None` for anything else (discovery, /version).
pub fn parse_path(path: &str) -> Option<PathInfo> {
    let path = path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(PathInfo {
        group,
        version,
        namespace,
        plural: plural.to_string(),
        name,
        subresource: sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_namespaced_custom_resource_paths() {
        assert_eq!(
            resource_path(
                "serving.kserve.io",
                "v1beta1",
                "ml",
                "inferenceservices",
                "fd",
                None
            ),
            "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd"
        );
        assert_eq!(
            resource_path(
                "argoproj.io",
                "v1alpha1",
                "ml",
                "rollouts",
                "r",
                Some("status")
            ),
            "/apis/argoproj.io/v1alpha1/namespaces/ml/rollouts/r/status"
        );
        assert_eq!(
            resource_path("", "v1", "", "namespaces", "ml", None),
            "/api/v1/namespaces/ml"
        );
    }

    #[test]
    fn parses_back_what_it_builds() {
        let p = resource_path(
            "argoproj.io",
            "v1alpha1",
            "ml",
            "rollouts",
            "r",
            Some("status"),
        );
        let info = parse_path(&format!("{p}?fieldManager=x")).unwrap();
        assert_eq!(info.resource(), "rollouts.argoproj.io");
        assert_eq!(info.namespace.as_deref(), Some("ml"));
        assert_eq!(info.name.as_deref(), Some("r"));
        assert_eq!(info.subresource.as_deref(), Some("status"));
        let core = parse_path("/api/v1/namespaces/ml").unwrap();
        assert_eq!(
            (core.resource(), core.name.as_deref()),
            ("namespaces".into(), Some("ml"))
        );
        assert!(parse_path("/version").is_none());
    }
}
