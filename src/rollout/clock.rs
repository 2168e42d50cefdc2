//! Time for the rollout loop, injected so a 40-minute rollout runs in milliseconds in tests and
//! `replay`/`simulate` run on virtual time.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock {
    /// Milliseconds since the unix epoch.
    fn now_ms(&self) -> i64;
    /// Sleep until `t` or until cancelled; returns false when cancelled.
    fn sleep_until(&self, t: i64, cancel: &Cancel) -> bool;
}

/// A cancellation flag shared with signal handlers, and the run's deadline (wall-clock ms), so
/// that the edges (a Kubernetes read in flight) can give up at either without knowing the loop.
#[derive(Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    /// 0 = no deadline yet.
    deadline: Arc<AtomicI64>,
    /// Wall-clock ms of the first cancel; 0 = not cancelled.
    at: Arc<AtomicI64>,
}

/// After a signal, everything (the rollback's reads and writes, the reports) must be done within
/// this: CI runners kill the process about 10 s after the first signal.
pub const SIGNAL_GRACE_MS: i64 = 7_000;
/// A write already in flight when the signal comes gets this long to answer before it is
/// abandoned for the rollback (its resourceVersion precondition refuses it if it lands late).
pub const IN_FLIGHT_WRITE_MS: i64 = 2_000;

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }
    pub fn cancel(&self) {
        let now = SystemClock.now_ms();
        // Only the first signal's time counts (atomics only: this runs in a signal handler thread).
        let _ = self
            .at
            .compare_exchange(0, now.max(1), Ordering::SeqCst, Ordering::SeqCst);
        self.flag.store(true, Ordering::SeqCst);
    }
    /// When the run was first cancelled (wall-clock ms).
    pub fn cancelled_at(&self) -> Option<i64> {
        Some(self.at.load(Ordering::SeqCst)).filter(|t| *t != 0)
    }
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
    /// Set by the loop once the rollout has started.
    pub fn set_deadline(&self, at_ms: i64) {
        self.deadline.store(at_ms, Ordering::SeqCst);
    }
    pub fn deadline(&self) -> Option<i64> {
        Some(self.deadline.load(Ordering::SeqCst)).filter(|d| *d != 0)
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

/// How an [`interruptible`] wait ended.
#[derive(Debug, PartialEq)]
pub enum Waited<T> {
    Done(T),
    /// The cancel flag was set first; the call is abandoned (its thread finishes on its own).
    Cancelled,
    /// `until` (clock time) passed first; the call is abandoned.
    TimedOut,
}

/// How often an [`interruptible`] wait looks at the cancel flag and the clock.
pub const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Runs a blocking call on a worker thread and waits for its answer, giving up within
/// [`WAIT_SLICE`] of a cancellation or of `until` (milliseconds on `clock`). A provider query can
/// block for its whole HTTP timeout; a signal must not wait that long before traffic goes back.
/// A call already past `until` (or already cancelled) is not started at all.
pub fn interruptible<T: Send + 'static>(
    clock: &dyn Clock,
    cancel: &Cancel,
    until: Option<i64>,
    call: impl FnOnce() -> T + Send + 'static,
) -> Waited<T> {
    let expired = |c: &dyn Clock| until.is_some_and(|u| c.now_ms() >= u);
    if cancel.is_cancelled() {
        return Waited::Cancelled;
    }
    if expired(clock) {
        return Waited::TimedOut;
    }
    on_worker(call, || {
        if cancel.is_cancelled() {
            Some(Waited::Cancelled)
        } else if expired(clock) {
            Some(Waited::TimedOut)
        } else {
            None
        }
    })
}

/// Runs `call` on a worker thread and waits for its answer in [`WAIT_SLICE`]s, asking `give_up`
/// after each slice whether to abandon it (the thread then finishes on its own).
fn on_worker<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
    give_up: impl Fn() -> Option<Waited<T>>,
) -> Waited<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("mlcanary-call".into())
        .spawn(move || {
            let _ = tx.send(call());
        });
    if let Err(e) = spawned {
        // No thread to be had: nothing was run, so say so as a timeout the caller reports.
        log::warn!("cannot start a worker thread: {e}");
        return Waited::TimedOut;
    }
    loop {
        match rx.recv_timeout(WAIT_SLICE) {
            Ok(v) => return Waited::Done(v),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Waited::TimedOut,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(w) = give_up() {
            return w;
        }
    }
}

/// Runs a call that must not be cut short without reason (a write, the rollback's read) on a
/// worker thread, and bounds it only once the run is cancelled: a call that started before the
/// signal gets [`IN_FLIGHT_WRITE_MS`] from the signal, one started after it ends with
/// [`SIGNAL_GRACE_MS`] from the signal. Without a signal it runs to its own end (its client
/// timeout and retries). Abandoned calls report [`Waited::Cancelled`].
pub fn bounded_after_signal<T: Send + 'static>(
    cancel: &Cancel,
    call: impl FnOnce() -> T + Send + 'static,
) -> Waited<T> {
    let limit = |c: &Cancel, started_after: bool| {
        c.cancelled_at().map(|at| match started_after {
            true => at + SIGNAL_GRACE_MS,
            false => at + IN_FLIGHT_WRITE_MS,
        })
    };
    let started_after = cancel.is_cancelled();
    let past = || limit(cancel, started_after).is_some_and(|l| SystemClock.now_ms() >= l);
    if past() {
        return Waited::Cancelled;
    }
    on_worker(call, || past().then_some(Waited::Cancelled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_write_in_flight_at_a_signal_is_bounded_and_one_after_gets_the_grace() {
        let cancel = Cancel::new();
        assert_eq!(cancel.cancelled_at(), None);
        let c2 = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c2.cancel();
        });
        let t = Instant::now();
        let r = bounded_after_signal(&cancel, || {
            std::thread::sleep(Duration::from_secs(30));
            1
        });
        assert_eq!(r, Waited::Cancelled);
        let took = t.elapsed().as_millis() as i64;
        assert!(
            (IN_FLIGHT_WRITE_MS..IN_FLIGHT_WRITE_MS + 1_500).contains(&took),
            "{took}"
        );
        // A second cancel keeps the first one's time.
        let at = cancel.cancelled_at().unwrap();
        cancel.cancel();
        assert_eq!(cancel.cancelled_at(), Some(at));
        // Started after the signal: answers within the grace are kept.
        let r = bounded_after_signal(&cancel, || {
            std::thread::sleep(Duration::from_millis(300));
            2
        });
        assert_eq!(r, Waited::Done(2));
        // Without a signal nothing is cut.
        let r = bounded_after_signal(&Cancel::new(), || {
            std::thread::sleep(Duration::from_millis(300));
            3
        });
        assert_eq!(r, Waited::Done(3));
    }

    #[test]
    fn a_quick_call_returns_its_answer() {
        let r = interruptible(&SystemClock, &Cancel::new(), None, || 7);
        assert_eq!(r, Waited::Done(7));
    }

    #[test]
    fn a_cancel_abandons_a_hung_call_within_a_slice() {
        let cancel = Cancel::new();
        let c2 = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            c2.cancel();
        });
        let t = Instant::now();
        let r = interruptible(&SystemClock, &cancel, None, || {
            std::thread::sleep(Duration::from_secs(20));
            1
        });
        assert_eq!(r, Waited::Cancelled);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn the_deadline_abandons_a_hung_call() {
        let until = SystemClock.now_ms() + 200;
        let r = interruptible(&SystemClock, &Cancel::new(), Some(until), || {
            std::thread::sleep(Duration::from_secs(20));
            1
        });
        assert_eq!(r, Waited::TimedOut);
        assert!(SystemClock.now_ms() - until < 5_000);
    }

    #[test]
    fn nothing_starts_once_cancelled_or_past_the_deadline() {
        let ran = Arc::new(AtomicBool::new(false));
        let cancel = Cancel::new();
        cancel.cancel();
        let r2 = ran.clone();
        let r = interruptible(&SystemClock, &cancel, None, move || {
            r2.store(true, Ordering::SeqCst)
        });
        assert_eq!(r, Waited::Cancelled);
        let r3 = ran.clone();
        let past = SystemClock.now_ms() - 1;
        let r = interruptible(&SystemClock, &Cancel::new(), Some(past), move || {
            r3.store(true, Ordering::SeqCst)
        });
        assert_eq!(r, Waited::TimedOut);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!ran.load(Ordering::SeqCst));
    }
}
