//! The prediction comparison (docs/compare.md), pure: answers of the stable and the canary version
//! to the same requests in, the values guardrails judge out (`disagreement`, score differences,
//! latency ratios, error rates, score histograms for PSI), plus the sequential test that stops
//! the phase early and the few most different requests for the report. Sending lives in
//! `rollout::compare` over `clients::inference`.

pub mod address;
pub mod extract;
pub mod requests;

use crate::config::compare::{Compare, PredictionKind};
use crate::core::observation::{Bucket, Observation};
use crate::core::stats::rate::ln_bf_one_sided;
use extract::Pred;
use serde::Serialize;

/// Prior strength of the disagreement test's Beta mixture (the rate tests' default).
const PRIOR_STRENGTH: f64 = 30.0;
/// Characters of a request body kept in the report.
pub const INPUT_CHARS: usize = 160;
/// Most different requests kept in the report.
pub const TOP: usize = 5;

/// What one version answered to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Ok {
        preds: Vec<Pred>,
        latency_ms: f64,
    },
    /// Sent, but the answer was an HTTP error or could not be read.
    Bad {
        status: Option<u16>,
        message: String,
    },
    /// Could not be sent at all (connection refused, DNS, TLS, timeout).
    Unreachable {
        message: String,
    },
}

/// One request and both answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub line: usize,
    pub input: String,
    pub stable: Answer,
    pub canary: Answer,
}

/// Per-prediction comparison of one pair: (predictions compared, disagreeing, largest |diff|).
fn compare_pair(p: &Pair, kind: PredictionKind, within: f64) -> Option<(usize, usize, Vec<f64>)> {
    let (Answer::Ok { preds: s, .. }, Answer::Ok { preds: c, .. }) = (&p.stable, &p.canary) else {
        return None;
    };
    let n = s.len().max(c.len());
    let mut disagree = 0;
    let mut diffs = Vec::new();
    for i in 0..n {
        match (s.get(i), c.get(i)) {
            (Some(Pred::Score(a)), Some(Pred::Score(b))) => {
                let d = (a - b).abs();
                diffs.push(d);
                if d > within {
                    disagree += 1;
                }
            }
            (Some(a), Some(b)) if a == b => {}
            _ => disagree += 1,
        }
    }
    let _ = kind;
    Some((n, disagree, diffs))
}

/// The running comparison: pairs arrive in any order; values are read at the end (or whenever).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub pairs: Vec<Pair>,
    pub compared: usize,
    pub disagreements: usize,
}

/// The stopping rule of `stopEarly`: has the disagreement rate been shown above `tolerance`?
/// The one-sided Beta-binomial mixture of the rate test (`stats::rate`), with the disagreements as
/// "events of the arm" and agreements as the rest: an always-valid test of p <= tolerance.
pub fn disagreement_proven(disagree: usize, compared: usize, tolerance: f64, alpha: f64) -> bool {
    if compared == 0 || disagree as f64 <= tolerance * compared as f64 {
        return false;
    }
    let agree = (compared - disagree) as f64;
    ln_bf_one_sided(disagree as f64, agree, tolerance, PRIOR_STRENGTH) >= (1.0 / alpha).ln()
}

impl Tally {
    /// Add one pair; answers whether the sequential test now stops the phase.
    pub fn add(&mut self, pair: Pair, k: &Compare) -> bool {
        if let Some((n, d, _)) = compare_pair(&pair, k.prediction.kind, within(k)) {
            self.compared += n;
            self.disagreements += d;
        }
        self.pairs.push(pair);
        k.stop_early.as_ref().is_some_and(|s| {
            disagreement_proven(self.disagreements, self.compared, s.tolerance.0, s.alpha.0)
        })
    }
}

/// Answers that must all fail to connect before a version counts as unreachable.
pub const UNREACHABLE_AFTER: usize = 5;

impl Tally {
    /// One version answered none of the first [`UNREACHABLE_AFTER`] requests (not even an
    /// error): sending more cannot help, the phase fails.
    pub fn hopeless(&self) -> bool {
        let unreachable = |a: &Answer| matches!(a, Answer::Unreachable { .. });
        self.pairs.len() >= UNREACHABLE_AFTER
            && (self.pairs.iter().all(|p| unreachable(&p.stable))
                || self.pairs.iter().all(|p| unreachable(&p.canary)))
    }
}

fn within(k: &Compare) -> f64 {
    match k.prediction.kind {
        PredictionKind::Label => 0.0,
        PredictionKind::Score => k.prediction.agree_within.unwrap_or(1e-6),
    }
}

/// An example of a failed answer for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorExample {
    pub side: String,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub message: String,
}

/// One of the most different requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Different {
    pub line: usize,
    pub input: String,
    pub stable: String,
    pub canary: String,
    /// Largest absolute score difference (scores), or the share of predictions that differ (labels).
    pub difference: f64,
}

/// The comparison's result: values for the guardrails and what the report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub requests: usize,
    pub compared: usize,
    pub disagreements: usize,
    pub disagreement: Option<f64>,
    pub score_diff_mean: Option<f64>,
    pub score_diff_p99: Option<f64>,
    pub score_diff_max: Option<f64>,
    pub latency_p50_ms: [Option<f64>; 2],
    pub latency_p99_ms: [Option<f64>; 2],
    pub latency_p50_ratio: Option<f64>,
    pub latency_p99_ratio: Option<f64>,
    pub stable_errors: usize,
    pub canary_errors: usize,
    pub stable_error_rate: Option<f64>,
    pub canary_error_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// A version no request could reach: the phase fails with this reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    pub most_different: Vec<Different>,
    pub error_examples: Vec<ErrorExample>,
    #[serde(skip)]
    pub histograms: Option<(Vec<Bucket>, Vec<Bucket>)>,
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn ratio(c: Option<f64>, s: Option<f64>) -> Option<f64> {
    match (c, s) {
        (Some(c), Some(s)) if s > 0.0 => Some(c / s),
        _ => None,
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n).collect();
    t.push('…');
    t
}

/// A request body as the report shows it, cut at [`INPUT_CHARS`]: a v2 body as its inputs'
/// `name=data` (the tensor metadata says little), anything else as compact JSON.
pub fn input_text(body: &serde_json::Value) -> String {
    let v2: Option<Vec<String>> = body
        .get("inputs")
        .and_then(serde_json::Value::as_array)
        .and_then(|inputs| {
            inputs
                .iter()
                .map(|i| Some(format!("{}={}", i.get("name")?.as_str()?, i.get("data")?)))
                .collect()
        });
    let text = match v2 {
        Some(parts) if !parts.is_empty() => parts.join(" "),
        _ => body.to_string(),
    };
    truncate(&text, INPUT_CHARS)
}

fn preds_text(a: &Answer) -> String {
    match a {
        Answer::Ok { preds, .. } => {
            let shown: Vec<String> = preds.iter().take(4).map(Pred::text).collect();
            let more = if preds.len() > 4 { ", …" } else { "" };
            format!("[{}{more}]", shown.join(", "))
        }
        Answer::Bad { message, .. } | Answer::Unreachable { message } => {
            format!("error: {}", truncate(message, 80))
        }
    }
}

/// Score histograms of both versions over 10 bins at the stable scores' deciles (cumulative, as
/// a metrics provider answers them, so the judge's PSI and its sample-size correction apply).
fn histograms(stable: &[f64], canary: &[f64]) -> Option<(Vec<Bucket>, Vec<Bucket>)> {
    if stable.is_empty() || canary.is_empty() {
        return None;
    }
    let mut sorted = stable.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..10)
        .filter_map(|i| quantile(&sorted, i as f64 / 10.0))
        .collect();
    edges.dedup();
    edges.push(f64::INFINITY);
    let cum = |xs: &[f64]| -> Vec<Bucket> {
        edges
            .iter()
            .map(|&le| Bucket {
                le,
                count: xs.iter().filter(|&&x| x <= le).count() as f64,
            })
            .collect()
    };
    Some((cum(canary), cum(stable)))
}

/// What one version's answers add up to.
#[derive(Default)]
struct SideTally {
    latencies: Vec<f64>,
    errors: usize,
    unreachable: usize,
    scores: Vec<f64>,
}

impl SideTally {
    /// One answer of `side` (request file line `line`); an error adds an example while the
    /// side has fewer than two (enough to see what went wrong).
    fn add(&mut self, side: &str, line: usize, a: &Answer, examples: &mut Vec<ErrorExample>) {
        let (status, message) = match a {
            Answer::Ok { preds, latency_ms } => {
                self.latencies.push(*latency_ms);
                self.scores.extend(preds.iter().filter_map(|p| match p {
                    Pred::Score(s) => Some(*s),
                    Pred::Label(_) => None,
                }));
                return;
            }
            Answer::Bad { status, message } => (*status, message),
            Answer::Unreachable { message } => {
                self.unreachable += 1;
                (None, message)
            }
        };
        self.errors += 1;
        if examples.iter().filter(|e| e.side == side).count() < 2 {
            examples.push(ErrorExample {
                side: side.into(),
                line,
                status,
                message: truncate(message, 200),
            });
        }
    }
}

/// The pair's score differences into `diffs`; the pair itself when its predictions differ.
fn different_pair(
    p: &Pair,
    kind: PredictionKind,
    within: f64,
    diffs: &mut Vec<f64>,
) -> Option<Different> {
    let (m, d, ds) = compare_pair(p, kind, within)?;
    let biggest = ds.iter().copied().fold(0.0, f64::max);
    diffs.extend(ds);
    (d > 0).then(|| Different {
        line: p.line,
        input: p.input.clone(),
        stable: preds_text(&p.stable),
        canary: preds_text(&p.canary),
        difference: match kind {
            PredictionKind::Score => biggest,
            PredictionKind::Label => d as f64 / m.max(1) as f64,
        },
    })
}

impl Tally {
    /// The values and the report's examples.
    pub fn outcome(&self, k: &Compare, stopped_early: Option<String>) -> Outcome {
        let within = within(k);
        let n = self.pairs.len();
        let mut diffs = Vec::new();
        let mut sides = [SideTally::default(), SideTally::default()];
        let mut examples: Vec<ErrorExample> = Vec::new();
        let mut different = Vec::new();
        for p in &self.pairs {
            sides[0].add("stable", p.line, &p.stable, &mut examples);
            sides[1].add("canary", p.line, &p.canary, &mut examples);
            different.extend(different_pair(p, k.prediction.kind, within, &mut diffs));
        }
        different.sort_by(|a, b| {
            b.difference
                .total_cmp(&a.difference)
                .then(a.line.cmp(&b.line))
        });
        different.truncate(TOP);
        diffs.sort_by(f64::total_cmp);
        for s in &mut sides {
            s.latencies.sort_by(f64::total_cmp);
        }
        let [stable, canary] = &sides;
        let p50 = [
            quantile(&stable.latencies, 0.5),
            quantile(&canary.latencies, 0.5),
        ];
        let p99 = [
            quantile(&stable.latencies, 0.99),
            quantile(&canary.latencies, 0.99),
        ];
        let rate = |e: usize| (n > 0).then(|| e as f64 / n as f64);
        let unreachable = [("stable", stable), ("canary", canary)]
            .into_iter()
            .find(|(_, s)| n > 0 && s.unreachable == n)
            .map(|(side, _)| {
                let why = examples
                    .iter()
                    .find(|e| e.side == side)
                    .map_or(String::new(), |e| e.message.clone());
                format!("the {side} version cannot be reached: {why}")
            });
        let score = k.prediction.kind == PredictionKind::Score;
        Outcome {
            requests: n,
            compared: self.compared,
            disagreements: self.disagreements,
            disagreement: (self.compared > 0)
                .then(|| self.disagreements as f64 / self.compared as f64),
            score_diff_mean: (score && !diffs.is_empty())
                .then(|| diffs.iter().sum::<f64>() / diffs.len() as f64),
            score_diff_p99: if score { quantile(&diffs, 0.99) } else { None },
            score_diff_max: if score { diffs.last().copied() } else { None },
            latency_p50_ms: p50,
            latency_p99_ms: p99,
            latency_p50_ratio: ratio(p50[1], p50[0]),
            latency_p99_ratio: ratio(p99[1], p99[0]),
            stable_errors: stable.errors,
            canary_errors: canary.errors,
            stable_error_rate: rate(stable.errors),
            canary_error_rate: rate(canary.errors),
            stopped_early,
            unreachable,
            most_different: different,
            error_examples: examples,
            histograms: if score {
                histograms(&stable.scores, &canary.scores)
            } else {
                None
            },
        }
    }
}

/// A version that cannot be reached fails every comparison guardrail at once, as a critical
/// failure with the reason (retrying the phase cannot bring it back).
pub fn fail_judgement(j: &mut crate::core::judge::Judgement, reason: String) {
    j.verdict = crate::core::verdict::Verdict::Fail;
    j.zone = crate::core::guardrail::Zone::Rollback;
    j.critical = true;
    j.dry_run = false;
    j.detail = reason;
}

impl Outcome {
    /// The answer to a `provider: compare` query: a value name or a histogram (`canary`, `stable`).
    pub fn value(&self, name: &str) -> Result<Observation, String> {
        let v = |o: Option<f64>| Ok(o.map_or(Observation::NoData, Observation::Scalar));
        match name.trim() {
            "disagreement" => v(self.disagreement),
            "agreement" => v(self.disagreement.map(|d| 1.0 - d)),
            "scoreDiffMean" => v(self.score_diff_mean),
            "scoreDiffP99" => v(self.score_diff_p99),
            "scoreDiffMax" => v(self.score_diff_max),
            "latencyP50Ratio" => v(self.latency_p50_ratio),
            "latencyP99Ratio" => v(self.latency_p99_ratio),
            "stableErrorRate" => v(self.stable_error_rate),
            "canaryErrorRate" => v(self.canary_error_rate),
            "requests" => v(Some(self.requests as f64)),
            "canary" | "stable" => Ok(match &self.histograms {
                None => Observation::NoData,
                Some((c, s)) => Observation::Histogram(if name.trim() == "canary" {
                    c.clone()
                } else {
                    s.clone()
                }),
            }),
            other => Err(format!("{other:?} is not a comparison value")),
        }
    }
}

#[cfg(test)]
mod tests;
