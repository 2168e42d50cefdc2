//! Time for the rollout loop, injected so a 40-minute rollout runs in milliseconds in tests and
//! `replay`/`simulate` run on virtual time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock {
    /// Milliseconds since the unix epoch.
    fn now_ms(&self) -> i64;
    /// Sleep until `t` or until cancelled; returns false when cancelled.
    fn sleep_until(&self, t: i64, cancel: &Cancel) -> bool;
}

/// A cancellation flag shared with signal handlers.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wall-clock time; sleeps in short slices so a cancellation is seen within 100 ms.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
    fn sleep_until(&self, t: i64, cancel: &Cancel) -> bool {
        loop {
            if cancel.is_cancelled() {
                return false;
            }
            let now = self.now_ms();
            if now >= t {
                return true;
            }
            std::thread::sleep(Duration::from_millis(((t - now) as u64).min(100)));
        }
    }
}

/// Virtual time: sleeping jumps the clock.
pub struct VirtualClock(std::cell::Cell<i64>);

impl VirtualClock {
    pub fn new(start_ms: i64) -> VirtualClock {
        VirtualClock(std::cell::Cell::new(start_ms))
    }
}

impl Clock for VirtualClock {
    fn now_ms(&self) -> i64 {
        self.0.get()
    }
    fn sleep_until(&self, t: i64, cancel: &Cancel) -> bool {
        if cancel.is_cancelled() {
            return false;
        }
        if t > self.0.get() {
            self.0.set(t);
        }
        true
    }
}
