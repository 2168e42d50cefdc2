//! The bridge to the driver: a [`Progress`] that passes lines through to another one (the console)
//! and turns the driver's milestones into notifications.

use super::{Milestone, Notifier};
use crate::core::progress_events::{CheckStatus, Progress};
use crate::render::Renderer;

pub struct Notifying<'a> {
    pub inner: &'a mut dyn Progress,
    pub notifier: &'a mut Notifier,
    pub renderer: &'a Renderer,
}

impl Progress for Notifying<'_> {
    fn phase(&mut self, label: &str) {
        self.inner.phase(label);
    }
    fn event(&mut self, line: &str) {
        self.inner.event(line);
    }
    fn checked(&mut self, c: &CheckStatus) {
        self.inner.checked(c);
    }
    fn journal(&mut self, e: &crate::core::machine::Event) {
        self.inner.journal(e);
    }
    fn waiting(&mut self, what: &str) {
        self.inner.waiting(what);
    }
    fn milestone(&mut self, m: &Milestone) {
        self.inner.milestone(m);
        self.notifier.notify(m, self.renderer);
    }
}
