//! The Prometheus provider against a REAL Prometheus server (Debian's `prometheus`, installed by
//! scripts/test-deps.sh). Each test starts its own server on a free port; scraped data comes from a
//! tiny exporter the test drives, history from `promtool` backfill.

use crate::support::prom;

use std::collections::BTreeMap;
use std::time::Duration;

use mlcanary::metrics::prometheus::{PrometheusOptions, PrometheusProvider, POST_ABOVE_BYTES};
use mlcanary::metrics::{Bucket, Observation, Provider, ProviderError, Query, Shape};
use prom::{Exporter, PromServer, Recorder};

const SCRAPE_WAIT: Duration = Duration::from_secs(30);

fn provider(address: &str) -> PrometheusProvider {
    PrometheusProvider::new(PrometheusOptions {
        address: address.to_string(),
        headers: BTreeMap::new(),
        bearer_token_env: None,
        timeout: Duration::from_secs(10),
    })
}

fn scalar_query(text: &str) -> Query {
    Query {
        text: text.to_string(),
        shape: Shape::Scalar,
        start: prom::now() - 60,
        end: prom::now(),
        aggregation: None,
        filter: None,
    }
}

fn histogram_query(text: &str) -> Query {
    Query {
        shape: Shape::Histogram,
        ..scalar_query(text)
    }
}

#[test]
fn counter_ratio_of_a_scraped_knative_exporter_is_one_scalar() {
    let exporter = Exporter::start();
    exporter.serve_revision("model-00002", 400, 0.05, 30.0);
    exporter.serve_revision("model-00001", 400, 0.0, 30.0);
    let Some(server) = PromServer::start(&[exporter.addr()]) else {
        return;
    };
    server.wait_for(
        r#"revision_app_request_count{response_code_class="5xx"}"#,
        SCRAPE_WAIT,
    );

    let ratio = r#"
        sum(revision_app_request_count{revision_name="model-00002", response_code_class="5xx"})
          / sum(revision_app_request_count{revision_name="model-00002"})"#;
    let got = provider(&server.url()).fetch(&scalar_query(ratio)).unwrap();
    assert_eq!(got, Observation::Scalar(0.05));

    // The stable revision served no errors: its 5xx series exists at 0, the ratio is exactly 0.
    let stable = ratio.replace("model-00002", "model-00001");
    let got = provider(&server.url())
        .fetch(&scalar_query(&stable))
        .unwrap();
    assert_eq!(got, Observation::Scalar(0.0));
}

/// OpenMetrics history for `promtool` backfill: 30 minutes, one sample every 15 s, a canary with
/// 10 good and 0.2 failed requests per second. Returns (text, time of the last sample).
fn knative_history() -> (String, i64) {
    let end = prom::now() / 60 * 60 - 120;
    let start = end - 30 * 60;
    let mut text = String::from("# TYPE revision_app_request_count unknown\n");
    for (class, per_step) in [("2xx", 150.0), ("5xx", 3.0)] {
        let mut t = start;
        let mut value = 0.0;
        while t <= end {
            text.push_str(&format!(
                "revision_app_request_count{{revision_name=\"model-00002\",response_code_class=\"{class}\"}} {value} {t}\n"
            ));
            value += per_step;
            t += 15;
        }
    }
    text.push_str("# EOF\n");
    (text, end)
}

#[test]
fn rate_ratio_over_backfilled_history_is_evaluated_at_query_end() {
    let (history, end) = knative_history();
    let Some(server) = PromServer::start_with_backfill(&[], Some(&history)) else {
        return;
    };
    let query = Query {
        end,
        start: end - 300,
        ..scalar_query(
            r#"sum(rate(revision_app_request_count{revision_name="model-00002",response_code_class="5xx"}[5m]))
                / sum(rate(revision_app_request_count{revision_name="model-00002"}[5m]))"#,
        )
    };
    let Observation::Scalar(ratio) = provider(&server.url()).fetch(&query).unwrap() else {
        panic!("expected a scalar")
    };
    let expected = 0.2 / 10.2;
    assert!(
        (ratio - expected).abs() < 1e-9,
        "ratio {ratio}, expected {expected}"
    );

    // Long before the history there is nothing: empty vector -> NoData.
    let before = Query {
        end: end - 7200,
        ..query
    };
    assert_eq!(
        provider(&server.url()).fetch(&before).unwrap(),
        Observation::NoData
    );
}

#[test]
fn empty_vector_is_no_data() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let got = provider(&server.url())
        .fetch(&scalar_query("sum(rate(metric_nobody_exports_total[5m]))"))
        .unwrap();
    assert_eq!(got, Observation::NoData);
    let got = provider(&server.url())
        .fetch(&histogram_query(
            "sum by (le) (metric_nobody_exports_bucket)",
        ))
        .unwrap();
    assert_eq!(got, Observation::NoData);
}

#[test]
fn nan_from_zero_over_zero_is_no_data_for_vectors_and_scalars() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let p = provider(&server.url());
    // resultType vector, value "NaN" (no traffic: 0 errors / 0 requests).
    assert_eq!(
        p.fetch(&scalar_query("vector(0) / vector(0)")).unwrap(),
        Observation::NoData
    );
    // resultType scalar, value "NaN".
    assert_eq!(
        p.fetch(&scalar_query("0 / 0")).unwrap(),
        Observation::NoData
    );
}

#[test]
fn plus_inf_is_passed_through_as_an_infinite_scalar() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let p = provider(&server.url());
    assert_eq!(
        p.fetch(&scalar_query("vector(1) / vector(0)")).unwrap(),
        Observation::Scalar(f64::INFINITY)
    );
    assert_eq!(
        p.fetch(&scalar_query("1 / 0")).unwrap(),
        Observation::Scalar(f64::INFINITY)
    );
}

#[test]
fn prometheus_scalar_result_type_is_a_scalar() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let got = provider(&server.url())
        .fetch(&scalar_query("scalar(vector(0.25)) * 2"))
        .unwrap();
    assert_eq!(got, Observation::Scalar(0.5));
}

#[test]
fn several_series_are_an_error_that_says_aggregate_it() {
    let exporter = Exporter::start();
    exporter.serve_revision("model-00002", 100, 0.1, 30.0);
    let Some(server) = PromServer::start(&[exporter.addr()]) else {
        return;
    };
    server.wait_for("revision_app_request_count", SCRAPE_WAIT);

    let err = provider(&server.url())
        .fetch(&scalar_query(
            r#"revision_app_request_count{revision_name="model-00002"}"#,
        ))
        .unwrap_err();
    let ProviderError::Shape(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("2 series"), "{message}");
    assert!(message.contains("aggregate it"), "{message}");
    assert!(
        message.contains(r#"response_code_class="5xx""#),
        "{message}"
    );
}

#[test]
fn histogram_is_grouped_by_le_into_sorted_cumulative_buckets() {
    let exporter = Exporter::start();
    let bounds = [0.1, 0.5, 2.5, 10.0];
    let labels = [("revision_name", "model-00002")];
    exporter.histogram_observe("prediction_score", &labels, &bounds, 0.05, 3);
    exporter.histogram_observe("prediction_score", &labels, &bounds, 1.0, 5);
    exporter.histogram_observe("prediction_score", &labels, &bounds, 50.0, 2);
    // A second pod's series: `sum by (le)` must add them up.
    exporter.histogram_observe(
        "prediction_score",
        &[("revision_name", "model-00002"), ("pod", "b")],
        &bounds,
        0.3,
        4,
    );
    let Some(server) = PromServer::start(&[exporter.addr()]) else {
        return;
    };
    server.wait_for_value(r#"sum(prediction_score_count)"#, 14.0, SCRAPE_WAIT);

    let got = provider(&server.url())
        .fetch(&histogram_query(
            r#"sum by (le) (prediction_score_bucket{revision_name="model-00002"})"#,
        ))
        .unwrap();
    let expected = vec![
        Bucket {
            le: 0.1,
            count: 3.0,
        },
        Bucket {
            le: 0.5,
            count: 7.0,
        },
        Bucket {
            le: 2.5,
            count: 12.0,
        },
        Bucket {
            le: 10.0,
            count: 12.0,
        },
        Bucket {
            le: f64::INFINITY,
            count: 14.0,
        },
    ];
    assert_eq!(got, Observation::Histogram(expected));

    // Without `sum by (le)` two series share each `le`: the provider asks to aggregate.
    let err = provider(&server.url())
        .fetch(&histogram_query(
            r#"prediction_score_bucket{revision_name="model-00002"}"#,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("sum by (le)"), "{err}");

    // A histogram guardrail over series without `le` is a shape error naming the problem.
    let err = provider(&server.url())
        .fetch(&histogram_query("sum(prediction_score_count)"))
        .unwrap_err();
    assert!(err.to_string().contains("`le` label"), "{err}");
}

#[test]
fn bad_query_surfaces_prometheus_error_text() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let err = provider(&server.url())
        .fetch(&scalar_query("sum(rate(x[5m])"))
        .unwrap_err();
    let ProviderError::Query(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.starts_with("bad_data: "), "{message}");
    assert!(message.contains("parse error"), "{message}");
}

#[test]
fn execution_error_422_surfaces_prometheus_error_text() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    // Two series on the right match the same left series: many-to-one must be explicit (HTTP 422).
    let query = r#"vector(1) + on() (label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", ""))"#;
    let err = provider(&server.url())
        .fetch(&scalar_query(query))
        .unwrap_err();
    let ProviderError::Query(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.starts_with("execution: "), "{message}");
    assert!(
        message.contains("many-to-many") || message.contains("match"),
        "{message}"
    );
}

#[test]
fn range_vector_answer_is_a_shape_error() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let err = provider(&server.url())
        .fetch(&scalar_query("vector(1)[1m:10s]"))
        .unwrap_err();
    assert!(err.to_string().contains("range vector"), "{err}");
}

#[test]
fn long_queries_are_posted_short_ones_use_get() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let recorder = Recorder::forwarding_to(&server.url());
    let p = provider(&recorder.url());

    assert_eq!(
        p.fetch(&scalar_query("vector(3)")).unwrap(),
        Observation::Scalar(3.0)
    );

    // > 8 KiB of PromQL (a long comment, as generated queries with many label values get).
    let long = format!("# {}\nvector(4)", "x".repeat(9 * 1024));
    assert!(long.len() > POST_ABOVE_BYTES);
    assert_eq!(
        p.fetch(&scalar_query(&long)).unwrap(),
        Observation::Scalar(4.0)
    );

    let seen = recorder.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert!(
        seen[0]
            .url
            .starts_with("/api/v1/query?query=vector(3)&time="),
        "{}",
        seen[0].url
    );
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].url, "/api/v1/query");
    assert_eq!(
        seen[1].header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        seen[1].body.starts_with("query=%23+xxxx"),
        "{}",
        &seen[1].body[..40]
    );
    assert!(seen[1].body.contains("&time="));
}

#[test]
fn headers_and_bearer_token_reach_the_server_and_the_token_is_never_shown() {
    let recorder = Recorder::canned_json(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.125"]}]}}"#,
    );
    std::env::set_var("MLCANARY_TEST_PROM_TOKEN_H4", "s3cr3t-t0ken");
    let p = PrometheusProvider::new(PrometheusOptions {
        address: format!("{}/prefix/", recorder.url()),
        headers: BTreeMap::from([("X-Scope-OrgID".to_string(), "ml".to_string())]),
        bearer_token_env: Some("MLCANARY_TEST_PROM_TOKEN_H4".to_string()),
        timeout: Duration::from_secs(5),
    });
    let query = scalar_query("sum(up)");
    assert_eq!(p.fetch(&query).unwrap(), Observation::Scalar(0.125));

    let seen = recorder.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].url.starts_with("/prefix/api/v1/query?"),
        "{}",
        seen[0].url
    );
    assert_eq!(seen[0].header("Authorization"), Some("Bearer s3cr3t-t0ken"));
    assert_eq!(seen[0].header("X-Scope-OrgID"), Some("ml"));

    let described = p.describe(&query);
    assert!(!described.contains("s3cr3t"), "{described}");
    assert!(
        described.contains("$MLCANARY_TEST_PROM_TOKEN_H4"),
        "{described}"
    );
}

#[test]
fn unauthorized_answer_is_an_http_error_without_the_token() {
    let recorder = Recorder::start(prom::recorder::Answer::Canned {
        status: 401,
        content_type: "text/plain".into(),
        body: "Unauthorized\n".into(),
    });
    std::env::set_var("MLCANARY_TEST_PROM_TOKEN_401", "s3cr3t-t0ken");
    let p = PrometheusProvider::new(PrometheusOptions {
        address: recorder.url(),
        headers: BTreeMap::new(),
        bearer_token_env: Some("MLCANARY_TEST_PROM_TOKEN_401".to_string()),
        timeout: Duration::from_secs(5),
    });
    let err = p.fetch(&scalar_query("up")).unwrap_err();
    assert!(
        matches!(&err, ProviderError::Http { status: 401, message, .. } if message == "Unauthorized"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("s3cr3t"));
}

#[test]
fn a_server_that_never_answers_times_out_as_a_transport_error() {
    let hole = prom::BlackHole::start();
    let p = PrometheusProvider::new(PrometheusOptions {
        address: hole.url(),
        headers: BTreeMap::new(),
        bearer_token_env: None,
        timeout: Duration::from_millis(300),
    });
    let err = p.fetch(&scalar_query("up")).unwrap_err();
    let ProviderError::Transport { url, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(url, &format!("{}/api/v1/query", hole.url()));
    assert!(message.contains("timed out"), "{message}");
}

#[test]
fn killed_prometheus_is_a_transport_error() {
    let Some(mut server) = PromServer::start(&[]) else {
        return;
    };
    let p = provider(&server.url());
    assert_eq!(
        p.fetch(&scalar_query("vector(1)")).unwrap(),
        Observation::Scalar(1.0)
    );
    server.kill();
    let err = p.fetch(&scalar_query("vector(1)")).unwrap_err();
    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
}
