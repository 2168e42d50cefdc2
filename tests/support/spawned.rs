//! A `mlcanary` process a test started with its stdout and stderr in files of `dir`: send it a
//! signal, wait for it with a bound, read what it wrote. Shared by the signal tests.
//!
//! Mounted in a test binary's `support` module (tests/kube/main.rs); a test file uses
//! `crate::support::spawned`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub struct Spawned {
    pub child: Child,
    pub dir: PathBuf,
}

impl Spawned {
    /// Starts `cmd` (its stdin closed) with stdout and stderr going to `dir/stdout`, `dir/stderr`.
    pub fn start(mut cmd: Command, dir: &Path) -> Spawned {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Spawned {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Sends `kill -SIG`; returns the wall-clock time and the instant just before.
    pub fn signal(&self, sig: &str) -> (SystemTime, Instant) {
        let sent = (SystemTime::now(), Instant::now());
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig} failed");
        sent
    }

    /// Waits for the exit (panicking with the output after `within`); the exit code.
    pub fn wait(&mut self, within: Duration) -> i32 {
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > within {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("mlcanary did not exit within {within:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        status.code().expect("exited, not killed")
    }

    /// A file in the run's directory ("" when absent).
    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// Both streams, for assertion messages.
    pub fn log(&self) -> String {
        format!(
            "{}\n--- stderr ---\n{}",
            self.read("stdout"),
            self.read("stderr")
        )
    }
}
