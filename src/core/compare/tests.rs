use super::*;
use crate::config::compare::Compare;

fn cfg(extra: &str) -> Compare {
    serde_json::from_value::<Compare>(
        serde_json::from_str(&format!(
            r#"{{"requests": "r.jsonl", "protocol": "v2" {extra}}}"#
        ))
        .unwrap(),
    )
    .unwrap()
}

fn ok(preds: Vec<Pred>, ms: f64) -> Answer {
    Answer::Ok {
        preds,
        latency_ms: ms,
    }
}
fn l(s: &str) -> Pred {
    Pred::Label(s.into())
}
fn pair(line: usize, stable: Answer, canary: Answer) -> Pair {
    Pair {
        line,
        input: format!("{{\"line\":{line}}}"),
        stable,
        canary,
    }
}

#[test]
fn label_values_latency_and_errors() {
    let k = cfg("");
    let mut t = Tally::default();
    for i in 0..10 {
        let canary = if i < 2 { l("0") } else { l("1") };
        t.add(
            pair(
                i + 1,
                ok(vec![l("1")], 10.0 + i as f64),
                ok(vec![canary], 20.0 + 2.0 * i as f64),
            ),
            &k,
        );
    }
    t.add(
        pair(
            11,
            ok(vec![l("1")], 10.0),
            Answer::Bad {
                status: Some(500),
                message: "boom".into(),
            },
        ),
        &k,
    );
    let o = t.outcome(&k, None);
    assert_eq!((o.requests, o.compared, o.disagreements), (11, 10, 2));
    assert_eq!(o.disagreement, Some(0.2));
    assert_eq!(o.value("agreement").unwrap(), Observation::Scalar(0.8));
    assert_eq!(o.score_diff_mean, None, "labels have no score difference");
    // stable latencies 10,10..19 (11 values) p50 = 14; canary 20..38 (10 values) p50 = 28.
    assert_eq!(o.latency_p50_ms, [Some(14.0), Some(28.0)]);
    assert_eq!(o.latency_p50_ratio, Some(2.0));
    assert_eq!(
        (o.stable_error_rate, o.canary_error_rate),
        (Some(0.0), Some(1.0 / 11.0))
    );
    assert_eq!(o.error_examples.len(), 1);
    assert_eq!(o.error_examples[0].status, Some(500));
    assert_eq!(
        o.most_different.iter().map(|d| d.line).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(o.most_different[0].canary, "[0]");
    assert!(o.unreachable.is_none());
    assert_eq!(o.value("requests").unwrap(), Observation::Scalar(11.0));
    assert!(o.value("nope").is_err());
}

#[test]
fn score_differences_and_histograms_feed_the_judges_psi() {
    let k = cfg(r#", "prediction": {"kind": "score"}"#);
    let mut t = Tally::default();
    for i in 0..100 {
        let s = i as f64 / 100.0;
        let c = if i >= 90 { s - 0.5 } else { s };
        t.add(
            pair(
                i + 1,
                ok(vec![Pred::Score(s)], 5.0),
                ok(vec![Pred::Score(c)], 5.0),
            ),
            &k,
        );
    }
    let o = t.outcome(&k, None);
    assert_eq!(o.disagreements, 10);
    assert!((o.score_diff_max.unwrap() - 0.5).abs() < 1e-9);
    assert!((o.score_diff_mean.unwrap() - 0.05).abs() < 1e-9);
    assert!((o.score_diff_p99.unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(o.most_different.len(), TOP);
    let (Observation::Histogram(c), Observation::Histogram(s)) =
        (o.value("canary").unwrap(), o.value("stable").unwrap())
    else {
        panic!("histograms")
    };
    assert_eq!(c.last().unwrap().count, 100.0);
    assert_eq!(s.last().unwrap().count, 100.0);
    let p = crate::core::stats::psi::psi(&c, &s).unwrap();
    assert!(p.raw > 0.2, "a shifted top decile is a clear PSI: {p:?}");
    // Identical scores: PSI 0.
    let mut same = Tally::default();
    for i in 0..100 {
        let s = i as f64 / 100.0;
        same.add(
            pair(
                i,
                ok(vec![Pred::Score(s)], 5.0),
                ok(vec![Pred::Score(s)], 5.0),
            ),
            &k,
        );
    }
    let o = same.outcome(&k, None);
    let (Observation::Histogram(c), Observation::Histogram(s)) =
        (o.value("canary").unwrap(), o.value("stable").unwrap())
    else {
        panic!()
    };
    assert_eq!(crate::core::stats::psi::psi(&c, &s).unwrap().raw, 0.0);
    assert_eq!(o.disagreement, Some(0.0));
}

#[test]
fn sequential_stop_table() {
    // (disagreements, compared, tolerance) -> proven above tolerance at alpha 0.05
    let cases = [
        (0, 1000, 0.02, false),
        (20, 1000, 0.02, false), // exactly at tolerance
        (30, 1000, 0.02, false), // 3% of 1000: not yet clear
        (80, 1000, 0.02, true),  // 8% of 1000: clear
        (8, 100, 0.02, true),    // 8% of 100 already
        (3, 20, 0.02, false),    // too few to tell
        (1, 1, 0.02, false),
    ];
    for (d, n, tol, want) in cases {
        assert_eq!(
            disagreement_proven(d, n, tol, 0.05),
            want,
            "{d}/{n} vs {tol}"
        );
    }
}

#[test]
fn stop_early_stops_a_clear_difference_and_not_an_identical_model() {
    let k = cfg(r#", "stopEarly": {"tolerance": "2%"}"#);
    let mut t = Tally::default();
    let mut stopped_at = None;
    for i in 0..1000 {
        let c = if i % 10 == 0 { l("0") } else { l("1") }; // 10% disagree
        if t.add(pair(i, ok(vec![l("1")], 1.0), ok(vec![c], 1.0)), &k) {
            stopped_at = Some(i + 1);
            break;
        }
    }
    let at = stopped_at.expect("10% vs a 2% tolerance stops early");
    assert!(at < 200, "stopped after {at} requests");
    let mut same = Tally::default();
    for i in 0..1000 {
        assert!(!same.add(pair(i, ok(vec![l("1")], 1.0), ok(vec![l("1")], 1.0)), &k));
    }
}

#[test]
fn a_side_nothing_reached_is_unreachable() {
    let k = cfg("");
    let mut t = Tally::default();
    for i in 0..3 {
        t.add(
            pair(
                i,
                ok(vec![l("1")], 1.0),
                Answer::Unreachable {
                    message: "connection refused".into(),
                },
            ),
            &k,
        );
    }
    let o = t.outcome(&k, None);
    assert_eq!(
        o.unreachable.as_deref(),
        Some("the canary version cannot be reached: connection refused")
    );
    assert_eq!(o.canary_error_rate, Some(1.0));
    assert_eq!(o.disagreement, None);
}

#[test]
fn v2_inputs_read_as_names_and_data() {
    let body = serde_json::json!({"parameters": {"content_type": "pd"}, "inputs": [
        {"name": "category", "datatype": "BYTES", "shape": [1], "data": ["travel"]},
        {"name": "amount", "datatype": "FP64", "shape": [1], "data": [12.5]}]});
    assert_eq!(input_text(&body), "category=[\"travel\"] amount=[12.5]");
    assert_eq!(
        input_text(&serde_json::json!({"instances": [[1, 2]]})),
        "{\"instances\":[[1,2]]}"
    );
}

#[test]
fn inputs_are_truncated() {
    let long = serde_json::json!({"inputs": [{"data": vec![1.0; 500]}]});
    let t = input_text(&long);
    assert_eq!(t.chars().count(), INPUT_CHARS + 1);
    assert!(t.ends_with('…'));
}
