//! azure-monitor and log-analytics providers against the local fakes, with real tokens from the
//! fake Entra endpoint (each API checks the token was issued for its own audience).

use crate::support::azure;

use azure::wire::{arm, credential, log_analytics_client, secret_env};
use azure::{FakeAzure, WORKSPACE_ID};
use mlcanary::clients::azure::{ArmClient, PollPolicy};
use mlcanary::clients::http::{agent, AgentOptions};
use mlcanary::metrics::azure_monitor::AzureMonitor;
use mlcanary::metrics::log_analytics::LogAnalytics;
use mlcanary::metrics::{Bucket, Observation, Provider, ProviderError, Query, Shape};
use serde_json::json;

fn query(text: &str, shape: Shape, aggregation: Option<&str>, filter: Option<&str>) -> Query {
    Query {
        text: text.into(),
        shape,
        start: 1_700_000_000,
        end: 1_700_000_600,
        aggregation: aggregation.map(str::to_string),
        filter: filter.map(str::to_string),
    }
}

fn monitor(fake: &FakeAzure) -> AzureMonitor {
    fake.seed_endpoint("fraud", "blue");
    {
        let mut w = fake.world();
        w.metric_points.insert(
            ("RequestLatency_P99".into(), "green".into()),
            vec![Some(180.0), Some(210.5), None],
        );
        w.metric_points.insert(
            ("RequestLatency_P99".into(), "blue".into()),
            vec![Some(90.0), Some(95.0), None],
        );
    }
    let cred = credential(fake, &secret_env());
    AzureMonitor::new(arm(fake, cred), &fake.endpoint_path("fraud"))
}

#[test]
fn azure_monitor_returns_the_last_complete_minute_of_the_canary() {
    let fake = FakeAzure::start();
    let m = monitor(&fake);
    let q = query(
        "RequestLatency_P99",
        Shape::Scalar,
        None,
        Some("deployment eq 'green'"),
    );
    assert_eq!(m.fetch(&q).unwrap(), Observation::Scalar(210.5));
    let q = query(
        "RequestLatency_P99",
        Shape::Scalar,
        Some("Maximum"),
        Some("deployment eq 'blue'"),
    );
    assert_eq!(m.fetch(&q).unwrap(), Observation::Scalar(95.0));
    let d = m.describe(&q);
    assert!(
        d.starts_with("GET http://")
            && d.contains("metricnames=RequestLatency_P99")
            && d.contains("aggregation=Maximum"),
        "{d}"
    );
}

#[test]
fn azure_monitor_without_data_and_with_an_unknown_metric() {
    let fake = FakeAzure::start();
    let m = monitor(&fake);
    let q = query(
        "RequestLatency_P99",
        Shape::Scalar,
        None,
        Some("deployment eq 'red'"),
    );
    assert_eq!(m.fetch(&q).unwrap(), Observation::NoData);
    let q = query("NoSuchMetric", Shape::Scalar, None, None);
    match m.fetch(&q) {
        Err(ProviderError::Http {
            status: 400,
            message,
            ..
        }) => {
            assert!(
                message.contains("Failed to find metric configuration"),
                "{message}"
            )
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }
    assert!(matches!(
        m.fetch(&query("RequestLatency_P99", Shape::Histogram, None, None)),
        Err(ProviderError::Config(_))
    ));
}

#[test]
fn log_analytics_scalar_histogram_and_query_errors() {
    let fake = FakeAzure::start();
    let cred = credential(&fake, &secret_env());
    let la = LogAnalytics::new(log_analytics_client(&fake, cred.clone()), WORKSPACE_ID);
    fake.world().la_answer = json!({"tables": [{"name": "PrimaryResult",
        "columns": [{"name": "DeploymentName", "type": "string"}, {"name": "p99", "type": "real"}],
        "rows": [["green", 182.25]]}]});
    let kql = "AmlOnlineEndpointTrafficLog | where DeploymentName == 'green' | summarize percentile(TotalDurationMs, 99)";
    assert_eq!(
        la.fetch(&query(kql, Shape::Scalar, None, None)).unwrap(),
        Observation::Scalar(182.25)
    );
    assert_eq!(fake.world().la_queries, vec![kql.to_string()]);

    fake.world().la_answer = json!({"tables": [{"name": "PrimaryResult",
        "columns": [{"name": "le", "type": "real"}, {"name": "count", "type": "long"}],
        "rows": [[100.0, 7], [50.0, 3], ["+Inf", 9]]}]});
    assert_eq!(
        la.fetch(&query("hist", Shape::Histogram, None, None))
            .unwrap(),
        Observation::Histogram(vec![
            Bucket {
                le: 50.0,
                count: 3.0
            },
            Bucket {
                le: 100.0,
                count: 7.0
            },
            Bucket {
                le: f64::INFINITY,
                count: 9.0
            },
        ])
    );
    match la.fetch(&query("syntax error |", Shape::Scalar, None, None)) {
        Err(ProviderError::Http {
            status: 400,
            message,
            ..
        }) => assert!(message.contains("BadArgumentError"), "{message}"),
        other => panic!("expected HTTP 400, got {other:?}"),
    }
    // An ARM-audience token is refused by Log Analytics: the provider must ask for its own scope.
    let arm_scoped = ArmClient::new(
        agent(&AgentOptions::default()),
        &format!("{}/la", fake.arm),
        &format!("{}/.default", fake.arm),
        cred,
        PollPolicy::fast(),
    );
    let wrong = LogAnalytics::new(arm_scoped, WORKSPACE_ID);
    match wrong.fetch(&query(kql, Shape::Scalar, None, None)) {
        Err(ProviderError::Http {
            status: 401,
            message,
            ..
        }) => assert!(message.contains("wrong audience"), "{message}"),
        other => panic!("expected HTTP 401, got {other:?}"),
    }
}
