//! The dry run's provider: it says what request its inner provider would send and sends
//! nothing. The rollout loop runs unchanged over it; the judgement of every guardrail it serves
//! is "not evaluated" ([`Provider::unjudged`]), so the walk covers the whole plan.

use super::{Observation, Provider, ProviderError, Query};

/// Why a dry run's guardrails are not judged (the check's detail line).
pub const NOT_SENT: &str = "dry run: query rendered, not sent";

/// Wraps a provider: `describe` is the inner one's, `fetch` answers "no data" without a request.
pub struct Describing<P>(pub P);

impl<P: Provider> Provider for Describing<P> {
    fn fetch(&self, _: &Query) -> Result<Observation, ProviderError> {
        Ok(Observation::NoData)
    }
    fn describe(&self, q: &Query) -> String {
        self.0.describe(q)
    }
    fn unjudged(&self) -> Option<&'static str> {
        Some(NOT_SENT)
    }
}

impl<P: Provider + ?Sized> Provider for Box<P> {
    fn fetch(&self, q: &Query) -> Result<Observation, ProviderError> {
        (**self).fetch(q)
    }
    fn describe(&self, q: &Query) -> String {
        (**self).describe(q)
    }
    fn fatal(&self) -> Option<String> {
        (**self).fatal()
    }
    fn unjudged(&self) -> Option<&'static str> {
        (**self).unjudged()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A provider that counts its fetches (a dry run must never send one).
    struct Counting(Cell<u32>);
    impl Provider for Counting {
        fn fetch(&self, _: &Query) -> Result<Observation, ProviderError> {
            self.0.set(self.0.get() + 1);
            Ok(Observation::Scalar(1.0))
        }
        fn describe(&self, q: &Query) -> String {
            format!("GET /q?{}", q.text)
        }
    }

    #[test]
    fn describes_like_the_inner_provider_and_never_fetches() {
        let d = Describing(Counting(Cell::new(0)));
        let q = Query {
            text: "up".into(),
            shape: super::super::Shape::Scalar,
            start: 0,
            end: 10,
            aggregation: None,
            filter: None,
        };
        assert_eq!(d.fetch(&q), Ok(Observation::NoData));
        assert_eq!(d.0 .0.get(), 0);
        assert_eq!(d.describe(&q), "GET /q?up");
        assert_eq!(d.unjudged(), Some(NOT_SENT));
        assert_eq!(d.0.unjudged(), None);
    }
}
