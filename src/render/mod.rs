//! Manifest and query templates (minijinja), embedded in the binary and overridable by name.
//!
//! Why templates at all: users run KServe, Seldon, Argo and Azure ML with their own conventions (service
//! accounts, resources, traffic routing); a template they can copy and override beats a growing list of
//! config keys. Why this is safe: `.yaml`/`.json` templates autoescape as JSON, so every `{{ value }}`
//! becomes one JSON scalar (valid YAML) and a value cannot add keys or documents; undefined values are
//! errors (strict), never empty strings; and every rendered document is parsed back and checked before
//! anyone applies it.

mod argo;
mod builtin;
mod error;
mod filters;
mod manifest;
mod overrides;

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use builtin::AZURE_API_VERSION;
pub use error::RenderError;
pub use filters::format_duration;
pub use manifest::{to_log_stream, to_yaml_stream, Manifest};

/// The template environment: built-in templates, overrides, filters.
pub struct Renderer {
    env: Environment<'static>,
    /// Template name -> where it came from (override file path, or `templates/<name>` when built in).
    origins: BTreeMap<String, String>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("origins", &self.origins)
            .finish()
    }
}

/// Instructions one render may execute (the built-in templates need a few thousand).
pub const TEMPLATE_FUEL: u64 = 1_000_000;

impl Renderer {
    /// Built-in templates plus overrides from `override_dir` (files whose names match a built-in name
    /// replace it; unknown names are an error naming the file; a syntax error names file and line).
    /// Every override must resolve inside the folder.
    pub fn new(override_dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Bounded work for any template: a nested `range(10000)` loop in a query must end in
        // an error, not hang validate, render or a dry run.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_auto_escape_callback(|name| {
            if builtin::NAMES.contains(&name) {
                AutoEscape::Json
            } else {
                AutoEscape::None
            }
        });
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| RenderError::Context(e.to_string()))?;
        env.set_syntax(syntax);
        filters::register(&mut env);

        let mut origins = BTreeMap::new();
        for (name, source) in builtin::TEMPLATES {
            let origin = format!("templates/{name}");
            env.add_template(name, source)
                .map_err(|e| RenderError::syntax(&origin, &e))?;
            origins.insert(name.to_string(), origin);
        }
        if let Some(dir) = override_dir {
            for o in overrides::read(dir, builtin::NAMES)? {
                let origin = o.path.display().to_string();
                env.add_template_owned(o.name.clone(), o.source)
                    .map_err(|e| RenderError::syntax(&origin, &e))?;
                origins.insert(o.name, origin);
            }
        }
        Ok(Renderer { env, origins })
    }

    /// All objects for the platform in `ctx.target.platform` (and `ctx.target.mode` for argo-rollouts),
    /// for the stage in `ctx.stage`. Order = apply order.
    pub fn manifests(&self, ctx: &serde_json::Value) -> Result<Vec<Manifest>, RenderError> {
        let target = ctx
            .get("target")
            .ok_or_else(|| RenderError::Context("no `target`".into()))?;
        let platform = target
            .get("platform")
            .and_then(|p| p.as_str())
            .ok_or_else(|| RenderError::Context("no `target.platform`".into()))?;
        let plan = builtin::plan(platform)
            .ok_or_else(|| RenderError::Context(format!("unknown platform {platform:?}")))?;
        if builtin::When::ArgoWatch.holds(target) && argo_judgeable(ctx) == 0 {
            return Err(RenderError::Context(
                "argo-rollouts mode watch: no guardrail Argo can judge (needs a Prometheus threshold or \
                 baseline guardrail); use mode drive"
                    .into(),
            ));
        }
        let value = minijinja::Value::from(minijinja::value::Serde(ctx));
        let mut out = Vec::new();
        for step in plan.iter().filter(|s| s.when.holds(target)) {
            let origin = &self.origins[step.template];
            let tmpl = self
                .env
                .get_template(step.template)
                .map_err(|e| RenderError::template(origin, &e))?;
            let text = tmpl
                .render(&value)
                .map_err(|e| RenderError::template(origin, &e))?;
            out.extend(manifest::parse(
                step.template,
                origin,
                &text,
                step.shape,
                target,
            )?);
        }
        Ok(out)
    }

    /// A one-off template (a query, URL, notification body): no autoescape, strict undefined.
    /// `what` names it in errors (e.g. `guardrail error-rate query`).
    pub fn render_str(
        &self,
        what: &str,
        source: &str,
        ctx: &serde_json::Value,
    ) -> Result<String, RenderError> {
        let tmpl = self
            .env
            .template_from_named_str(what, source)
            .map_err(|e| RenderError::syntax(what, &e))?;
        tmpl.render(minijinja::Value::from(minijinja::value::Serde(ctx)))
            .map_err(|e| RenderError::template(what, &e))
    }

    /// Names of the built-in templates (for docs and override validation).
    pub fn builtin_names() -> &'static [&'static str] {
        builtin::NAMES
    }
}

/// How many guardrails an Argo AnalysisTemplate can express.
fn argo_judgeable(ctx: &serde_json::Value) -> usize {
    let list = ctx.get("guardrails").and_then(|g| g.as_array());
    list.map_or(0, |l| l.iter().filter(|g| argo::supported(g)).count())
}

/// Names of the guardrails an Argo AnalysisTemplate cannot express (PSI, sequential, non-Prometheus):
/// in watch mode Argo never judges them, so `plan` should warn.
pub fn argo_unsupported(ctx: &serde_json::Value) -> Vec<String> {
    match ctx.get("guardrails").and_then(|g| g.as_array()) {
        Some(list) => argo::unsupported_names(list),
        None => Vec::new(),
    }
}
