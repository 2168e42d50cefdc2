//! The rollout: the loop (`driver`) that drives the pure machine against a platform and providers
//! on an injected clock, the template context, and the assembly from a config (`build`).

pub mod azure;
pub mod build;
pub mod clock;
pub mod compare;
pub mod context;
pub mod driver;
pub mod kube_live;
pub mod live;
pub mod recorder;
pub mod replay;
pub mod simulate;
