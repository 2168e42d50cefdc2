//! PSI and sequential guardrails: the bridge from observations to `stats`.
//! (Filled in with the statistics module.)

use super::judge::Judgement;
use crate::config::{Guardrail, NoData};
use crate::metrics::Observation;

pub struct SeqState;

impl SeqState {
    pub fn for_guardrail(g: &Guardrail) -> Option<SeqState> {
        g.sequential.as_ref().map(|_| SeqState)
    }
}

pub fn psi(_g: &Guardrail, _nd: NoData, _c: &Observation, _b: &Observation, j: &mut Judgement) {
    j.detail = "PSI judging is not in this build yet".into();
}

pub fn sequential(
    _s: &mut SeqState,
    _nd: NoData,
    _stage: usize,
    _w: f64,
    _o: &[&Observation],
    j: &mut Judgement,
) {
    j.detail = "sequential judging is not in this build yet".into();
}
