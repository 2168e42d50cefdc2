//! The requests file: one request body per line (JSONL), checked as a whole before anything is
//! sent, and the seeded sample. Pure: the caller reads the file.

use crate::config::compare::Protocol;
use crate::core::sim::rng::Rng;
use serde_json::Value;

/// One request: its 1-based line in the file and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub line: usize,
    pub body: Value,
}

/// Every non-blank line as a request, or the first bad line: (line, message).
pub fn parse(text: &str, proto: Protocol) -> Result<Vec<Request>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let s = raw.trim();
        if s.is_empty() {
            continue;
        }
        let body: Value =
            serde_json::from_str(s).map_err(|e| (line, format!("not a JSON request body: {e}")))?;
        shape(&body, proto).map_err(|m| (line, m))?;
        out.push(Request { line, body });
    }
    if out.is_empty() {
        return Err((1, "the requests file has no requests".into()));
    }
    Ok(out)
}

/// What each protocol's request must look like.
fn shape(body: &Value, proto: Protocol) -> Result<(), String> {
    let has = |k: &str| body.get(k).is_some();
    match proto {
        Protocol::V2 => match body.get("inputs") {
            Some(Value::Array(a)) if !a.is_empty() => Ok(()),
            _ => {
                Err("a v2 (Open Inference Protocol) request needs a non-empty `inputs` list".into())
            }
        },
        Protocol::V1 if has("instances") || has("inputs") => Ok(()),
        Protocol::V1 => Err("a v1 request needs `instances` (or `inputs`)".into()),
        Protocol::Seldon if has("data") || has("jsonData") || has("strData") => Ok(()),
        Protocol::Seldon => {
            Err("a Seldon request needs `data` (ndarray or tensor), `jsonData` or `strData`".into())
        }
        Protocol::Azureml if body.is_object() || body.is_array() => Ok(()),
        Protocol::Azureml => {
            Err("an Azure ML scoring request must be a JSON object or list".into())
        }
    }
}

/// `n` requests chosen without replacement by `seed` (file order kept), or all of them.
pub fn sample(mut all: Vec<Request>, n: Option<u32>, seed: u64) -> Vec<Request> {
    let Some(n) = n.map(|n| n as usize).filter(|n| *n < all.len()) else {
        return all;
    };
    // Partial Fisher-Yates over indexes, then back to file order.
    let mut rng = Rng::new(seed);
    let mut idx: Vec<usize> = (0..all.len()).collect();
    for i in 0..n {
        let j = i + (rng.next_u64() % (idx.len() - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut keep: Vec<usize> = idx[..n].to_vec();
    keep.sort_unstable();
    let mut taken: Vec<Option<Request>> = all.drain(..).map(Some).collect();
    keep.into_iter().filter_map(|i| taken[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_named() {
        type Case = (&'static str, Protocol, Result<usize, (usize, &'static str)>);
        let cases: [Case; 6] = [
            (
                "{\"inputs\":[{\"name\":\"x\"}]}\n\n{\"inputs\":[1]}\n",
                Protocol::V2,
                Ok(2),
            ),
            (
                "{\"inputs\":[1]}\n{\"inputs\": [1\n",
                Protocol::V2,
                Err((2, "not a JSON request body")),
            ),
            (
                "{\"inputs\":[1]}\n{\"instances\":[1]}\n",
                Protocol::V2,
                Err((2, "a v2 (Open Inference Protocol) request needs")),
            ),
            ("{\"data\":{\"ndarray\":[[1]]}}\n", Protocol::Seldon, Ok(1)),
            (
                "\"text\"\n",
                Protocol::Azureml,
                Err((1, "an Azure ML scoring request")),
            ),
            (
                "\n  \n",
                Protocol::V1,
                Err((1, "the requests file has no requests")),
            ),
        ];
        for (text, proto, want) in cases {
            match (parse(text, proto), want) {
                (Ok(r), Ok(n)) => assert_eq!(r.len(), n, "{text}"),
                (Err((l, m)), Err((wl, wm))) => {
                    assert_eq!(l, wl, "{text}");
                    assert!(m.starts_with(wm), "{m}");
                }
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn sample_is_seeded_without_replacement_in_file_order() {
        let all: Vec<Request> = (1..=100)
            .map(|line| Request {
                line,
                body: Value::Null,
            })
            .collect();
        let a: Vec<usize> = sample(all.clone(), Some(10), 7)
            .iter()
            .map(|r| r.line)
            .collect();
        let b: Vec<usize> = sample(all.clone(), Some(10), 7)
            .iter()
            .map(|r| r.line)
            .collect();
        let c: Vec<usize> = sample(all.clone(), Some(10), 8)
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 10);
        assert!(
            a.windows(2).all(|w| w[0] < w[1]),
            "file order, no repeats: {a:?}"
        );
        assert_eq!(sample(all.clone(), Some(500), 7).len(), 100);
        assert_eq!(sample(all, None, 7).len(), 100);
    }
}
