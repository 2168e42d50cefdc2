//! The detection benchmark of judge.md: the tutorial rule, a Kayenta-style Mann-Whitney judge, a
//! naive peeking z-test and mlcanary's sequential judge (fixed schedule and advanceEarly) on the
//! same simulated streams. Writes the markdown table of docs/benchmark.md.
//!
//!   cargo run --release --example detection_benchmark -- --runs 1000 --out docs/benchmark.md
//!
//! Options: --runs N (1000), --out FILE (stdout), --qps 20,200, --weight 0.1, --threads 2,
//! --seed 1, --alpha 0.02, --tolerance 1.1, --latency-tolerance 1.1, --prior 30,
//! --prove-within 1.5, --stage-minutes 40, --scenarios aa,errors-2x,..., --sweep-runs N (runs/5; 0 = no
//! advanceEarly tolerance sweep), --grid-runs N (runs/2; 0 = no power grid), --grid-alpha 0.01,
//! --grid-only (the power grid alone), --grid-filter TEXT (grid cells whose "row canary" contains it), --mix W:C:K,... (the rate test's effect-size mixture in the
//! grid, for tuning: weight, centre x tolerance, strength).

mod grid;
mod judges;
mod mannwhitney;
mod table;

use judges::{Decision, Judge, Kayenta, Peeking, SeqConfig, Sequential, Tutorial};
use mlcanary::core::sim::rng::splitmix64;
use mlcanary::core::sim::{scenario, Scenario, StageStream, SCENARIOS};

/// `prove_within` values of the advanceEarly sweep (both rate guardrails).
pub const SWEEP_PROVE_WITHIN: [f64; 4] = [1.1, 1.25, 1.5, 2.0];

pub const JUDGES: [&str; 5] = [
    "tutorial rule (5 min)",
    "Kayenta-style MW 98% (10 min)",
    "peeking z-test (10 s, 10 min)",
    "mlcanary sequential (fixed pause)",
    "mlcanary sequential + advanceEarly",
];

/// What one judge did on one run.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub decision: Decision,
    pub minutes: f64,
    pub canary_requests: f64,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub runs: usize,
    pub out: Option<String>,
    pub qps: Vec<f64>,
    pub weight: f64,
    pub threads: usize,
    pub seed: u64,
    pub seq: SeqConfig,
    pub scenarios: Vec<String>,
    pub sweep_runs: Option<usize>,
    pub grid_runs: Option<usize>,
    pub grid_alpha: f64,
    pub grid_only: bool,
    pub grid_filter: Option<String>,
    pub mix: Option<Vec<mlcanary::core::stats::rate::Component>>,
    pub command: String,
}

fn parse() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Options {
        runs: 1000,
        out: None,
        qps: vec![20.0, 200.0],
        weight: 0.1,
        threads: 2,
        seed: 1,
        seq: SeqConfig {
            alpha: 0.02,
            tolerance: 1.1,
            latency_tolerance: 1.1,
            prior_strength: 30.0,
            pause_s: 2400.0,
            prove_within: 1.5,
        },
        scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        sweep_runs: None,
        grid_runs: None,
        grid_alpha: 0.01,
        grid_only: false,
        grid_filter: None,
        mix: None,
        command: format!(
            "cargo run --release --example detection_benchmark -- {}",
            args.join(" ")
        ),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--grid-only" {
            o.grid_only = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--runs" => o.runs = num(v)? as usize,
            "--out" => o.out = Some(v.clone()),
            "--qps" => o.qps = v.split(',').map(num).collect::<Result<_, _>>()?,
            "--weight" => o.weight = num(v)?,
            "--threads" => o.threads = (num(v)? as usize).max(1),
            "--seed" => o.seed = num(v)? as u64,
            "--alpha" => o.seq.alpha = num(v)?,
            "--tolerance" => o.seq.tolerance = num(v)?,
            "--latency-tolerance" => o.seq.latency_tolerance = num(v)?,
            "--prior" => o.seq.prior_strength = num(v)?,
            "--prove-within" => o.seq.prove_within = num(v)?,
            "--stage-minutes" => o.seq.pause_s = num(v)? * 60.0,
            "--scenarios" => o.scenarios = v.split(',').map(str::to_string).collect(),
            "--sweep-runs" => o.sweep_runs = Some(num(v)? as usize),
            "--grid-runs" => o.grid_runs = Some(num(v)? as usize),
            "--grid-alpha" => o.grid_alpha = num(v)?,
            "--grid-filter" => o.grid_filter = Some(v.clone()),
            "--mix" => {
                let mut m = Vec::new();
                for part in v.split(',') {
                    let f: Vec<f64> = part.split(':').map(num).collect::<Result<_, _>>()?;
                    let [weight, centre, k] = f[..] else {
                        return Err(format!("--mix {part}: want weight:centre:k"));
                    };
                    m.push(mlcanary::core::stats::rate::Component { weight, centre, k });
                }
                o.mix = Some(m);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

/// One seeded run: every judge sees the same stream until all have decided.
fn run_once(sc: &Scenario, qps: f64, o: &Options, seed: u64) -> [Outcome; 5] {
    let mut stream = StageStream::new(sc, qps, o.weight, seed);
    let mut judges: Vec<Box<dyn Judge>> = vec![
        Box::new(Tutorial),
        Box::new(Kayenta::default()),
        Box::new(Peeking),
        Box::new(Sequential::new(o.seq, o.weight, false)),
        Box::new(Sequential::new(o.seq, o.weight, true)),
    ];
    let mut done: [Option<Outcome>; 5] = [None; 5];
    let mut prev = None;
    let limit = o.seq.pause_s.max(600.0) + 60.0;
    loop {
        let now = stream.next_scrape();
        for (j, judge) in judges.iter_mut().enumerate() {
            if done[j].is_none() {
                if let Some(d) = judge.step(&now, prev.as_ref()) {
                    done[j] = Some(Outcome {
                        decision: d,
                        minutes: now.t / 60.0,
                        canary_requests: now.canary.requests,
                    });
                }
            }
        }
        if done.iter().all(Option::is_some) || now.t >= limit {
            break;
        }
        prev = Some(now);
    }
    done.map(|d| {
        d.unwrap_or(Outcome {
            decision: Decision::Rollback,
            minutes: limit / 60.0,
            canary_requests: f64::NAN,
        })
    })
}

fn run_cell(sc: &Scenario, qps: f64, si: usize, o: &Options) -> Vec<[Outcome; 5]> {
    par_runs(o.runs, o.threads, |r| {
        let mut st = o.seed ^ ((si as u64) << 48) ^ ((qps as u64) << 32) ^ r as u64;
        run_once(sc, qps, o, splitmix64(&mut st))
    })
}

/// `f(0..runs)` on `threads` threads (run r on thread r % threads), results in run order.
pub fn par_runs<T: Send>(runs: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let f = &f;
    let mut all: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..runs)
                        .step_by(threads)
                        .map(|r| (r, f(r)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    all.sort_by_key(|x| x.0);
    all.into_iter().map(|x| x.1).collect()
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("detection_benchmark: {e}");
            std::process::exit(2);
        }
    };
    let grid_runs = o.grid_runs.unwrap_or(o.runs / 2);
    let mut grid_md = String::new();
    if grid_runs > 0 {
        let go = grid::GridOptions {
            runs: grid_runs,
            weight: o.weight,
            alpha: o.grid_alpha,
            tolerance: o.seq.tolerance,
            prior_strength: o.seq.prior_strength,
            threads: o.threads,
            seed: o.seed,
        };
        let mut cells = grid::cells(&go, &o.qps);
        if let Some(f) = &o.grid_filter {
            cells.retain(|c| format!("{} {}", c.row, c.effect).contains(f.as_str()));
        }
        let res = grid::run(&go, &cells, o.mix.as_deref());
        grid::render(&mut grid_md, &go, &cells, &res);
        let (ratio, aa) = grid::worst(&cells, &res);
        eprintln!(
            "grid: worst mlcanary/oracle {ratio:.2}x, worst A/A {:.2}%",
            aa * 100.0
        );
    }
    if o.grid_only {
        print!("{grid_md}");
        return;
    }
    let mut cells = Vec::new();
    for &qps in &o.qps {
        for name in &o.scenarios {
            let Some(sc) = scenario(name) else {
                eprintln!("detection_benchmark: unknown scenario {name}");
                std::process::exit(2);
            };
            let si = SCENARIOS.iter().position(|s| s == name).unwrap_or(0);
            eprintln!("{qps} QPS, {name}: {} runs", o.runs);
            cells.push((qps, sc.clone(), run_cell(&sc, qps, si, &o)));
        }
    }
    let sweep_runs = o.sweep_runs.unwrap_or(o.runs / 5);
    let mut sweep = Vec::new();
    if sweep_runs > 0 {
        for tol in SWEEP_PROVE_WITHIN {
            for &qps in &o.qps {
                let mut so = o.clone();
                so.runs = sweep_runs;
                so.seq.prove_within = tol;
                let mut pair = Vec::new();
                for (si, name) in ["aa", "errors-2x"].iter().enumerate() {
                    eprintln!("sweep: prove within {tol}, {qps} QPS, {name}: {sweep_runs} runs");
                    let sc = scenario(name).expect("known scenario");
                    pair.push(run_cell(&sc, qps, si + 100, &so));
                }
                sweep.push((tol, qps, pair));
            }
        }
    }
    let md = table::render(&o, &cells, sweep_runs, &sweep) + &grid_md;
    match &o.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &md) {
                eprintln!("detection_benchmark: cannot write {path}: {e}");
                std::process::exit(1);
            }
            eprintln!("wrote {path}");
        }
        None => print!("{md}"),
    }
}
