//! The one PATCH request builder: the live client sends exactly this, and the dry-run recorder
//! lists exactly this, so `run --dry-run` shows the live requests.

/// PATCH flavours that work on custom resources (strategic merge does not).
#[derive(Debug, Clone, PartialEq)]
pub enum PatchKind {
    /// RFC 6902 operations.
    Json,
    /// RFC 7396 merge patch; `null` removes a field.
    Merge,
    /// Server-side apply (JSON body) as our field manager.
    Apply { force: bool },
}

impl PatchKind {
    pub fn content_type(&self) -> &'static str {
        match self {
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Apply { .. } => "application/apply-patch+yaml",
        }
    }
}

/// `path` with the query string of a PATCH: every patch names our field manager (so `kubectl`
/// and `managedFields` show who changed what), apply may force ownership, and a server-side dry
/// run validates strictly (`dryRun=All&fieldValidation=Strict`) and stores nothing.
pub fn patch_path(path: &str, kind: &PatchKind, dry_run: bool, field_manager: &str) -> String {
    let mut query = vec![format!("fieldManager={field_manager}")];
    if let PatchKind::Apply { force: true } = kind {
        query.push("force=true".into());
    }
    if dry_run {
        query.push("dryRun=All".into());
        query.push("fieldValidation=Strict".into());
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_and_content_types() {
        let apply = PatchKind::Apply { force: true };
        assert_eq!(
            patch_path("/x", &apply, true, "mlcanary"),
            "/x?fieldManager=mlcanary&force=true&dryRun=All&fieldValidation=Strict"
        );
        assert_eq!(apply.content_type(), "application/apply-patch+yaml");
        assert_eq!(
            patch_path("/x", &PatchKind::Json, false, "m"),
            "/x?fieldManager=m"
        );
        assert_eq!(
            PatchKind::Json.content_type(),
            "application/json-patch+json"
        );
        assert_eq!(
            patch_path("/x?a=b", &PatchKind::Merge, false, "m"),
            "/x?a=b&fieldManager=m"
        );
        assert_eq!(
            PatchKind::Merge.content_type(),
            "application/merge-patch+json"
        );
    }
}
