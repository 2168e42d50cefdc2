//! Azure ML asset references in a deployment body (`properties.model`, `properties.environmentId`)
//! expanded to ARM ids before the PUT, as the Azure ML SDK (`azure-ai-ml`) does and as the REST
//! samples write them:
//! - `azureml:NAME:VERSION` -> `{workspace}/models/NAME/versions/VERSION` (environments alike);
//! - `azureml:NAME@latest` -> the most recently *created* version, found through ARM the way the
//!   SDK's `_get_latest` does: `GET …/models/NAME/versions?$orderBy=CreatedAtDesc&$top=1`;
//! - full ids (`/subscriptions/…`, also written `azureml:/subscriptions/…`) and `azureml://…`
//!   references (registries, datastores) pass through unchanged.

/// Which asset collection a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Model,
    Environment,
}

impl AssetKind {
    /// The ARM collection under a workspace.
    pub fn collection(self) -> &'static str {
        match self {
            AssetKind::Model => "models",
            AssetKind::Environment => "environments",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            AssetKind::Model => "model",
            AssetKind::Environment => "environment",
        }
    }
}

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetRef {
    /// What to send as is.
    Id(String),
    /// `azureml:NAME@latest`: the newest version, to be looked up.
    Latest { kind: AssetKind, name: String },
}

/// Parse `value` (a model or environment reference) against the workspace's ARM id.
pub fn parse(kind: AssetKind, value: &str, workspace_path: &str) -> Result<AssetRef, String> {
    let v = value.trim();
    let noun = kind.noun();
    if v.is_empty() {
        return Err(format!("the {noun} reference is empty"));
    }
    if v.starts_with("azureml://") || v.starts_with("/subscriptions/") {
        return Ok(AssetRef::Id(v.to_string()));
    }
    let Some(rest) = v.strip_prefix("azureml:") else {
        return Err(format!(
            "`{v}` is not an Azure ML {noun} reference: write azureml:NAME:VERSION, azureml:NAME@latest, an ARM id (/subscriptions/…) or azureml://registries/…"
        ));
    };
    if rest.starts_with("/subscriptions/") {
        return Ok(AssetRef::Id(rest.to_string()));
    }
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if let Some((name, label)) = rest.split_once('@') {
        if !valid_name(name) {
            return Err(format!("`{v}`: `{name}` is not a valid {noun} name"));
        }
        if label != "latest" {
            return Err(format!(
                "`{v}`: the only label Azure ML resolves is @latest (got @{label})"
            ));
        }
        return Ok(AssetRef::Latest {
            kind,
            name: name.to_string(),
        });
    }
    match rest.split_once(':') {
        Some((name, version)) if valid_name(name) && valid_name(version) => Ok(AssetRef::Id(
            version_path(workspace_path, kind, name, version),
        )),
        Some(_) => Err(format!(
            "`{v}` is not azureml:NAME:VERSION (letters, digits, '-', '_', '.')"
        )),
        None => Err(format!(
            "`{v}` names no version: write azureml:{rest}:VERSION or azureml:{rest}@latest"
        )),
    }
}

/// `{workspace}/{models|environments}/NAME/versions/VERSION`.
pub fn version_path(workspace_path: &str, kind: AssetKind, name: &str, version: &str) -> String {
    format!(
        "{workspace_path}/{}/{name}/versions/{version}",
        kind.collection()
    )
}

/// The request that lists the newest version first (`$top=1`), relative to the ARM base and
/// without the api-version.
pub fn latest_query(workspace_path: &str, kind: AssetKind, name: &str) -> String {
    format!(
        "{workspace_path}/{}/{name}/versions?$orderBy=CreatedAtDesc&$top=1",
        kind.collection()
    )
}

/// The ARM id of the first version in a list answer (`{"value": [{"id", "name"}, …]}`).
pub fn first_version_id(
    list: &serde_json::Value,
    workspace_path: &str,
    kind: AssetKind,
    name: &str,
) -> Option<String> {
    let first = list.get("value")?.as_array()?.first()?;
    if let Some(id) = first.get("id").and_then(serde_json::Value::as_str) {
        return Some(id.to_string());
    }
    let version = first.get("name")?.as_str()?;
    Some(version_path(workspace_path, kind, name, version))
}

/// The (JSON pointer, kind) of each reference in a deployment body.
pub const REFERENCES: [(&str, AssetKind); 2] = [
    ("/properties/model", AssetKind::Model),
    ("/properties/environmentId", AssetKind::Environment),
];

#[cfg(test)]
mod tests {
    use super::*;
    const WS: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws";

    #[test]
    fn references_expand_or_pass_through() {
        let cases: &[(AssetKind, &str, Result<AssetRef, &str>)] = &[
            (
                AssetKind::Model,
                "azureml:fraud:2",
                Ok(AssetRef::Id(format!("{WS}/models/fraud/versions/2"))),
            ),
            (
                AssetKind::Environment,
                " azureml:sk-env:3 ",
                Ok(AssetRef::Id(format!("{WS}/environments/sk-env/versions/3"))),
            ),
            (
                AssetKind::Model,
                "azureml:fraud@latest",
                Ok(AssetRef::Latest {
                    kind: AssetKind::Model,
                    name: "fraud".into(),
                }),
            ),
            (
                AssetKind::Model,
                "azureml://registries/azureml/models/phi/versions/1",
                Ok(AssetRef::Id(
                    "azureml://registries/azureml/models/phi/versions/1".into(),
                )),
            ),
            (
                AssetKind::Model,
                "/subscriptions/x/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/models/m/versions/1",
                Ok(AssetRef::Id("/subscriptions/x/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/models/m/versions/1".into())),
            ),
            (
                AssetKind::Environment,
                "azureml:/subscriptions/x/environments/e/versions/1",
                Ok(AssetRef::Id("/subscriptions/x/environments/e/versions/1".into())),
            ),
            (AssetKind::Model, "azureml:fraud", Err("names no version")),
            (AssetKind::Model, "azureml:fraud@stable", Err("only label")),
            (AssetKind::Model, "", Err("empty")),
            (AssetKind::Environment, "sk-env:3", Err("not an Azure ML environment")),
            (AssetKind::Model, "azureml:fr aud:1", Err("not azureml:NAME:VERSION")),
        ];
        for (kind, value, want) in cases {
            let got = parse(*kind, value, WS);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "{value}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{value}: {g}"),
                _ => panic!("{value}: {got:?}"),
            }
        }
    }

    #[test]
    fn latest_is_the_first_of_the_newest_first_list() {
        assert_eq!(
            latest_query(WS, AssetKind::Model, "fraud"),
            format!("{WS}/models/fraud/versions?$orderBy=CreatedAtDesc&$top=1")
        );
        let list = serde_json::json!({"value": [{"id": format!("{WS}/models/fraud/versions/7"), "name": "7"}]});
        assert_eq!(
            first_version_id(&list, WS, AssetKind::Model, "fraud"),
            Some(format!("{WS}/models/fraud/versions/7"))
        );
        let by_name = serde_json::json!({"value": [{"name": "7"}]});
        assert_eq!(
            first_version_id(&by_name, WS, AssetKind::Model, "fraud"),
            Some(format!("{WS}/models/fraud/versions/7"))
        );
        assert_eq!(
            first_version_id(&serde_json::json!({"value": []}), WS, AssetKind::Model, "x"),
            None
        );
    }
}
