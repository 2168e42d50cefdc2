//! The process logger: `env_logger` filtered by `MLCANARY_LOG` (default `warn`), every record
//! passed through [`super::redact::neutralise_line`] (a Status message or a Prometheus warning is
//! server text), and the HTTP and TLS libraries capped at `info` whatever the directive says:
//! their debug and trace output holds request heads, Authorization included. A directive naming
//! a submodule (`ureq_proto::util=trace`) is more specific than any cap `env_logger` can be given,
//! so the cap is a wrapper in front of it, not a filter inside it.

use crate::clients::http::WIRE_LOG_TARGETS;
use log::{LevelFilter, Log, Metadata, Record};

/// The most the wire libraries may log.
pub const WIRE_CAP: LevelFilter = LevelFilter::Info;

/// Whether `target` belongs to a wire library (the crate itself or any module of it).
pub fn is_wire(target: &str) -> bool {
    WIRE_LOG_TARGETS.iter().any(|w| {
        target == *w
            || target
                .strip_prefix(w)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

struct Capped(env_logger::Logger);

impl Log for Capped {
    fn enabled(&self, m: &Metadata) -> bool {
        (!is_wire(m.target()) || m.level() <= WIRE_CAP) && self.0.enabled(m)
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            self.0.log(r);
        }
    }
    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the logger (once per process; later calls do nothing).
pub fn init() {
    use std::io::Write;
    let mut b =
        env_logger::Builder::from_env(env_logger::Env::new().filter_or("MLCANARY_LOG", "warn"));
    b.format(|buf, r| {
        writeln!(
            buf,
            "[{} {} {}] {}",
            buf.timestamp_seconds(),
            r.level(),
            super::redact::neutralise_line(r.target()),
            super::redact::neutralise_line(&r.args().to_string())
        )
    });
    let logger = b.build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(Capped(logger))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_targets_and_their_modules_are_capped() {
        assert!(is_wire("ureq"));
        assert!(is_wire("ureq_proto::util"));
        assert!(is_wire("rustls::client::hs"));
        assert!(!is_wire("ureqx"));
        assert!(!is_wire("mlcanary::clients::kube"));
    }
}
