//! The `type: http` provider (GET a URL, JSON pointer to a number) against real HTTP APIs: the
//! Prometheus HTTP API itself (a real JSON service that quotes its numbers as strings) and a
//! recorder for what Prometheus cannot show (headers, tokens, error statuses).

use crate::support::prom;

use std::collections::BTreeMap;
use std::time::Duration;

use mlcanary::metrics::http_json::{HttpJsonOptions, HttpJsonProvider};
use mlcanary::metrics::{Observation, Provider, ProviderError, Query, Shape};
use prom::{PromServer, Recorder};

fn provider(value_path: &str) -> HttpJsonProvider {
    HttpJsonProvider::new(HttpJsonOptions {
        value_path: value_path.to_string(),
        headers: BTreeMap::new(),
        bearer_token_env: None,
        timeout: Duration::from_secs(10),
    })
}

fn url_query(url: &str) -> Query {
    Query {
        text: url.to_string(),
        shape: Shape::Scalar,
        start: 0,
        end: 0,
        aggregation: None,
        filter: None,
    }
}

#[test]
fn numeric_string_from_a_real_json_api_is_a_scalar_and_missing_is_no_data() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let p = provider("/data/result/0/value/1");
    // Prometheus answers {"data":{"result":[{"value":[ts,"0.25"]}]}}: a quoted number.
    let url = format!("{}/api/v1/query?query=vector(0.25)", server.url());
    assert_eq!(
        p.fetch(&url_query(&url)).unwrap(),
        Observation::Scalar(0.25)
    );
    // An empty result has no element 0: the pointer finds nothing -> NoData.
    let url = format!("{}/api/v1/query?query=absent_metric_h4", server.url());
    assert_eq!(p.fetch(&url_query(&url)).unwrap(), Observation::NoData);
}

#[test]
fn error_status_of_a_real_api_is_an_http_error_with_its_body() {
    let Some(server) = PromServer::start(&[]) else {
        return;
    };
    let url = format!("{}/api/v1/query?query=sum(", server.url());
    let err = provider("/data/result/0/value/1")
        .fetch(&url_query(&url))
        .unwrap_err();
    let ProviderError::Http {
        url: shown,
        status,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 400);
    assert_eq!(shown, &format!("{}/api/v1/query", server.url()));
    assert!(message.contains("bad_data"), "{message}");
}

#[test]
fn headers_and_bearer_token_are_sent_and_never_shown() {
    let recorder = Recorder::canned_json(200, r#"{"data":{"value":0.0125}}"#);
    std::env::set_var("MLCANARY_TEST_HTTP_TOKEN_H4", "t0p-s3cret");
    let p = HttpJsonProvider::new(HttpJsonOptions {
        value_path: "/data/value".into(),
        headers: BTreeMap::from([("X-Team".to_string(), "ml".to_string())]),
        bearer_token_env: Some("MLCANARY_TEST_HTTP_TOKEN_H4".into()),
        timeout: Duration::from_secs(5),
    });
    let query = url_query(&format!(
        "{}/v1/model-00002/error-rate?window=5m",
        recorder.url()
    ));
    assert_eq!(p.fetch(&query).unwrap(), Observation::Scalar(0.0125));

    let seen = recorder.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].url, "/v1/model-00002/error-rate?window=5m");
    assert_eq!(seen[0].header("Authorization"), Some("Bearer t0p-s3cret"));
    assert_eq!(seen[0].header("X-Team"), Some("ml"));
    assert_eq!(seen[0].header("Accept"), Some("application/json"));

    let described = p.describe(&query);
    assert!(!described.contains("t0p-s3cret"), "{described}");
    assert!(
        described.contains("/v1/model-00002/error-rate?window=5m -> /data/value"),
        "{described}"
    );
}

#[test]
fn null_value_is_no_data_and_non_json_is_a_shape_error() {
    let null = Recorder::canned_json(200, r#"{"data":{"value":null}}"#);
    assert_eq!(
        provider("/data/value")
            .fetch(&url_query(&null.url()))
            .unwrap(),
        Observation::NoData
    );
    let html = Recorder::start(prom::recorder::Answer::Canned {
        status: 200,
        content_type: "text/html".into(),
        body: "<html>login</html>".into(),
    });
    let err = provider("/data/value")
        .fetch(&url_query(&html.url()))
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Shape(m) if m.contains("did not answer JSON")),
        "{err:?}"
    );
}

#[test]
fn bad_value_path_and_histogram_shape_are_config_errors() {
    let recorder = Recorder::canned_json(200, r#"{"value":1}"#);
    let err = provider("data.value")
        .fetch(&url_query(&recorder.url()))
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Config(m) if m.contains("JSON pointer")),
        "{err:?}"
    );
    let histogram = Query {
        shape: Shape::Histogram,
        ..url_query(&recorder.url())
    };
    let err = provider("/value").fetch(&histogram).unwrap_err();
    assert!(matches!(err, ProviderError::Config(_)), "{err:?}");
    assert!(
        recorder.requests().is_empty(),
        "config errors must not send requests"
    );
}

#[test]
fn unreachable_and_hung_services_are_transport_errors() {
    let hole = prom::BlackHole::start();
    let p = HttpJsonProvider::new(HttpJsonOptions {
        value_path: "/v".into(),
        headers: BTreeMap::new(),
        bearer_token_env: None,
        timeout: Duration::from_millis(300),
    });
    let err = p
        .fetch(&url_query(&format!("{}/x?key=abc", hole.url())))
        .unwrap_err();
    let ProviderError::Transport { url, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        url,
        &format!("{}/x", hole.url()),
        "query strings stay out of errors"
    );
    assert!(message.contains("timed out"), "{message}");

    let closed = prom::free_port();
    let err = p
        .fetch(&url_query(&format!("http://{closed}/x")))
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
}

#[test]
fn invalid_header_from_config_is_a_config_error_that_sends_nothing() {
    let recorder = Recorder::canned_json(200, r#"{"v":1}"#);
    let p = HttpJsonProvider::new(HttpJsonOptions {
        value_path: "/v".into(),
        headers: BTreeMap::from([("X-Key".to_string(), "line1\nline2".to_string())]),
        bearer_token_env: None,
        timeout: Duration::from_secs(5),
    });
    let err = p.fetch(&url_query(&recorder.url())).unwrap_err();
    let ProviderError::Config(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("headers"), "{message}");
    assert!(
        !message.contains("line1"),
        "header values are never shown: {message}"
    );
    assert!(recorder.requests().is_empty());
}
