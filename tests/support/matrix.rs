//! The fault-matrix runner both matrices share: cases on two workers (the machine has two cores),
//! one line per case, the tally of outcomes, the "N cases run, N consistent" line CI output shows,
//! and the assertion that every case ended consistent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// (case name, consistent or why not, outcome label, exit code).
pub type CaseResult = (String, Result<(), String>, String, i32);

pub fn run<C: Send + 'static>(title: &str, cases: Vec<C>, one: fn(&C) -> CaseResult) {
    let total = cases.len();
    let results: Arc<Mutex<Vec<CaseResult>>> = Default::default();
    let queue = Arc::new(Mutex::new(cases));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (q, out) = (queue.clone(), results.clone());
            std::thread::spawn(move || loop {
                let Some(case) = q.lock().unwrap().pop() else {
                    break;
                };
                let r = one(&case);
                out.lock().unwrap().push(r);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut results = results.lock().unwrap().clone();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (name, verdict, outcome, code) in &results {
        *tally.entry(outcome.clone()).or_default() += 1;
        let v = match verdict {
            Ok(()) => "consistent".to_string(),
            Err(e) => format!("INCONSISTENT: {e}"),
        };
        println!("{name:<40} -> {outcome:<26} exit {code:<3} {v}");
    }
    let ok = results.iter().filter(|r| r.1.is_ok()).count();
    println!("outcomes: {tally:?}");
    println!("{title}: {} cases run, {ok} consistent", results.len());
    assert_eq!(results.len(), total);
    assert_eq!(ok, results.len(), "inconsistent cases above");
}

/// `once` / `always` for a case's fault count.
pub fn times_word(always: bool) -> &'static str {
    if always {
        "always"
    } else {
        "once"
    }
}

/// An outcome as the tally counts it: its result word, and for a failure whether it rolled back.
pub fn label(o: &mlcanary::core::machine::Outcome) -> String {
    match o {
        mlcanary::core::machine::Outcome::Failed { rolled_back, .. } => {
            format!("failed(rolled_back={rolled_back})")
        }
        o => o.result().to_string(),
    }
}
