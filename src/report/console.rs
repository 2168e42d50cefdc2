//! Progress as it happens: in GitHub Actions one collapsible `::group::` per stage, elsewhere plain
//! lines with the elapsed time. Every line is made single-line first, so a value can never start a
//! workflow command.

use super::github::{group, END_GROUP};
use super::redact::neutralise_line;
use crate::rollout::driver::Progress;
use std::io::Write;
use std::time::Instant;

pub struct Console<W: Write> {
    out: W,
    github: bool,
    in_group: bool,
    start: Instant,
}

impl<W: Write> Console<W> {
    pub fn new(out: W, github: bool) -> Self {
        Console {
            out,
            github,
            in_group: false,
            start: Instant::now(),
        }
    }
    pub fn finish(&mut self) {
        if self.in_group {
            let _ = writeln!(self.out, "{END_GROUP}");
            self.in_group = false;
        }
    }
}

impl<W: Write> Progress for Console<W> {
    fn phase(&mut self, label: &str) {
        if self.github {
            self.finish();
            let _ = writeln!(self.out, "{}", group(&super::redact::redact(label)));
            self.in_group = true;
        }
    }
    fn event(&mut self, line: &str) {
        let line = neutralise_line(line);
        if self.github {
            let _ = writeln!(self.out, "{line}");
        } else {
            let s = self.start.elapsed().as_secs();
            let _ = writeln!(self.out, "[{:>2}:{:02}] {line}", s / 60, s % 60);
        }
    }
}

impl<W: Write> Drop for Console<W> {
    fn drop(&mut self) {
        self.finish();
    }
}
