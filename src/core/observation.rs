//! What a metric query answers, as raw values: the vocabulary the judge reads and every provider
//! (`metrics/`) returns. It lives in core so the decisions never depend on the edges that fetch.

/// One cumulative histogram bucket, as Prometheus exposes it (`le` upper bound, cumulative count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub le: f64,
    pub count: f64,
}

impl Bucket {
    /// Cumulative buckets from per-bin counts, bin `i` ending at `le = (i + 1) * width`: the
    /// histograms the statistics' table tests are written in.
    pub fn cumulative(counts: &[f64], width: f64) -> Vec<Bucket> {
        let mut acc = 0.0;
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                acc += c;
                Bucket {
                    le: (i + 1) as f64 * width,
                    count: acc,
                }
            })
            .collect()
    }
}

/// What a query answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The query ran and returned nothing usable: empty vector, `NaN`, no rows.
    NoData,
    /// One number. May be infinite (`+Inf` from Prometheus is passed through; core decides).
    Scalar(f64),
    /// Cumulative buckets sorted by `le` (for PSI and distribution tests).
    Histogram(Vec<Bucket>),
}

/// The shape the caller expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Scalar,
    Histogram,
}
