//! Standard output for commands. A reader that closes the pipe early (`mlcanary demo | head -1`)
//! ends our output, not the process: like ripgrep, a broken pipe is a quiet end of output. Unlike
//! ripgrep the process keeps going, because `run` must still finish (or roll back) its rollout and
//! exit with its outcome; later writes are dropped.
//!
//! `println!` panics on a closed stdout (exit 101), so commands print through [`outln!`] /
//! [`out!`] instead.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Write `s` to stdout; a closed pipe (or any write error) silences stdout for the rest of the run.
pub fn write_stdout(s: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut o = std::io::stdout().lock();
    if o.write_all(s.as_bytes()).and_then(|_| o.flush()).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Whether stdout was closed by its reader.
pub fn stdout_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// A writer over [`write_stdout`] for code that takes `impl Write` (the console).
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stdout(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `print!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::report::out::write_stdout(&format!($($t)*)) };
}

/// `println!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::report::out::write_stdout("\n") };
    ($($t:tt)*) => { $crate::report::out::write_stdout(&(format!($($t)*) + "\n")) };
}
