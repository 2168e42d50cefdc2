//! The Knative-style test exporter that rollout end-to-end tests will drive, checked through a
//! real Prometheus and the provider: a good and a bad canary must be told apart by the same
//! PromQL a user would write.

use crate::support::prom;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mlcanary::metrics::prometheus::{PrometheusOptions, PrometheusProvider};
use mlcanary::metrics::{Observation, Provider, Query, Shape};
use prom::exporter::KNATIVE_LATENCY_BUCKETS_MS;
use prom::{Exporter, PromServer};

fn query(text: &str, shape: Shape) -> Query {
    Query {
        text: text.to_string(),
        shape,
        start: prom::now() - 60,
        end: prom::now(),
        aggregation: None,
        filter: None,
    }
}

fn error_ratio(revision: &str) -> String {
    format!(
        r#"sum(rate(revision_app_request_count{{revision_name="{revision}",response_code_class="5xx"}}[10s]))
            / sum(rate(revision_app_request_count{{revision_name="{revision}"}}[10s]))"#
    )
}

#[test]
fn error_rate_is_exact_over_many_small_batches() {
    let exporter = Exporter::start();
    for _ in 0..7 {
        exporter.serve_revision("model-00003", 10, 0.3, 12.0);
    }
    let text = exporter.render();
    assert!(
        text.contains(
            r#"revision_name="model-00003",response_code="500",response_code_class="5xx"} 21"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"revision_name="model-00003",response_code="200",response_code_class="2xx"} 49"#
        ),
        "{text}"
    );
    // 12 ms falls in the 20 ms bucket, not the 10 ms one.
    assert!(
        text.contains(r#"response_code_class="2xx",le="10"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"response_code_class="2xx",le="20"} 49"#),
        "{text}"
    );
    assert!(
        text.contains(r#"response_code_class="2xx",le="+Inf"} 49"#),
        "{text}"
    );
}

#[test]
fn good_and_bad_canaries_are_told_apart_through_real_prometheus() {
    let exporter = Arc::new(Exporter::start());
    let _good = exporter.drive_revision("model-00001", 100, 0.0, 40.0);
    let _bad = exporter.drive_revision("model-00002", 100, 0.2, 240.0);
    let Some(server) = PromServer::start(&[exporter.addr()]) else {
        return;
    };
    // rate() needs two scrapes inside its window.
    server.wait_for(&error_ratio("model-00002"), Duration::from_secs(30));
    server.wait_for(&error_ratio("model-00001"), Duration::from_secs(30));

    let p = PrometheusProvider::new(PrometheusOptions {
        address: server.url(),
        headers: BTreeMap::new(),
        bearer_token_env: None,
        timeout: Duration::from_secs(10),
    });
    assert_eq!(
        p.fetch(&query(&error_ratio("model-00001"), Shape::Scalar))
            .unwrap(),
        Observation::Scalar(0.0)
    );
    let Observation::Scalar(bad) = p
        .fetch(&query(&error_ratio("model-00002"), Shape::Scalar))
        .unwrap()
    else {
        panic!("expected a scalar")
    };
    assert!((bad - 0.2).abs() < 0.03, "bad canary error ratio {bad}");

    let p99 = r#"histogram_quantile(0.99, sum by (le) (rate(revision_app_request_latencies_bucket{revision_name="model-00002"}[10s])))"#;
    let Observation::Scalar(latency) = p.fetch(&query(p99, Shape::Scalar)).unwrap() else {
        panic!("expected a scalar")
    };
    assert!(
        (200.0..=250.0).contains(&latency),
        "p99 {latency} ms should be in the 200-250 bucket"
    );

    let buckets =
        r#"sum by (le) (revision_app_request_latencies_bucket{revision_name="model-00001"})"#;
    let Observation::Histogram(got) = p.fetch(&query(buckets, Shape::Histogram)).unwrap() else {
        panic!("expected a histogram")
    };
    assert_eq!(got.len(), KNATIVE_LATENCY_BUCKETS_MS.len() + 1);
    assert_eq!(got.last().unwrap().le, f64::INFINITY);
    assert!(got
        .windows(2)
        .all(|w| w[0].le < w[1].le && w[0].count <= w[1].count));
    // 40 ms requests: nothing below the 40 ms bound, everything from it on.
    let at = |le: f64| got.iter().find(|b| b.le == le).unwrap().count;
    assert_eq!(at(20.0), 0.0);
    assert!(at(40.0) > 0.0 && at(40.0) == at(f64::INFINITY));
}
