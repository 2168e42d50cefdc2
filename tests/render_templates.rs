//! Every built-in template rendered from the documented context: insta snapshots, validation against
//! schemas written from the upstream CRDs (tests/crd-schemas), Azure body invariants.

mod render_support;

use mlcanary::render::{to_yaml_stream, Manifest, Renderer};
use render_support::{ctx, schema_errors, shadow_ctx};
use serde_json::Value;

fn render(c: &Value) -> Vec<Manifest> {
    Renderer::new(None).unwrap().manifests(c).unwrap()
}

#[test]
fn scratch() {
    for p in [
        "kserve",
        "seldon",
        "seldon-v2",
        "argo-drive",
        "argo-watch",
        "azureml",
    ] {
        println!("==== {p}\n{}", to_yaml_stream(&render(&ctx(p))));
    }
    for p in ["seldon", "seldon-v2", "azureml"] {
        println!(
            "==== shadow {p}\n{}",
            to_yaml_stream(&render(&shadow_ctx(p)))
        );
    }
}
