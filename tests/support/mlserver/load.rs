//! A load generator: sends inference requests for a realistic transaction mix at a fixed rate to
//! one URL (the router), bounded by a request count and a duration, from a few worker threads so a
//! slow answer does not lower the rate. Stops on [`Load::stop`] or drop.

use super::Txn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Merchant categories and their share of requests (train.py's WEIGHTS): `gaming`, the category
/// the `V2Unseen` model never saw, is 10%.
pub const MIX: [(&str, u32); 5] = [
    ("grocery", 35),
    ("fuel", 25),
    ("electronics", 20),
    ("travel", 10),
    ("gaming", 10),
];

/// Worker threads: at 20 req/s each has 200 ms per request before the rate drops.
const WORKERS: usize = 4;

/// Request `n` of the mix (deterministic): category by the shares above, amount log-uniform from 2
/// to ~490, hour uniform.
pub fn txn(n: u64) -> Txn {
    let r = splitmix(n);
    let mut pick = (r % 100) as u32;
    let category = MIX
        .iter()
        .find(|(_, share)| {
            let hit = pick < *share;
            pick = pick.saturating_sub(*share);
            hit
        })
        .map_or("grocery", |(c, _)| *c);
    let u = ((r >> 8) % 10_000) as f64 / 10_000.0;
    let amount = (2.0 * (u * 5.5).exp() * 100.0).round() / 100.0;
    Txn {
        category,
        amount,
        hour: ((r >> 24) % 24) as u32,
    }
}

fn splitmix(n: u64) -> u64 {
    let mut z = n
        .wrapping_mul(0x2545_f491_4f6c_dd1d)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the generator saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: usize,
    pub ok: usize,
    /// 5xx answers and transport errors.
    pub failed: usize,
}

/// A running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// `rps` requests per second to `url` (POST, JSON), at most `max_requests`, for at most
    /// `max_time`.
    pub fn start(url: String, rps: f64, max_requests: usize, max_time: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let period = Duration::from_secs_f64(1.0 / rps);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let workers = (0..WORKERS)
            .map(|_| {
                let (stop, tally, next, url, agent) = (
                    stop.clone(),
                    tally.clone(),
                    next.clone(),
                    url.clone(),
                    agent.clone(),
                );
                std::thread::spawn(move || loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let due = period * n as u32;
                    if n >= max_requests || due >= max_time {
                        return;
                    }
                    // Sleep until the request is due, in short steps so stop is seen at once.
                    while start.elapsed() < due {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep((due - start.elapsed()).min(Duration::from_millis(50)));
                    }
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let status = agent
                        .post(&url)
                        .send_json(txn(n as u64).body())
                        .map_or(0, |r| r.status().as_u16());
                    let mut t = tally.lock().unwrap();
                    t.sent += 1;
                    if status == 0 || status >= 500 {
                        t.failed += 1;
                    } else if status < 400 {
                        t.ok += 1;
                    }
                })
            })
            .collect();
        Load {
            stop,
            tally,
            workers,
        }
    }

    /// Counts so far.
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }

    /// Stops sending and waits for requests in flight; returns the final counts.
    pub fn stop(&mut self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        self.tally()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop();
    }
}
