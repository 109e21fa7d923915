//! The connection to the master's scheduler API: [`subscribe`] opens the
//! event stream (following the redirect of a non-leading master) and the
//! [`Subscription`] reads it, detecting a dead stream by missing
//! heartbeats.

mod subscribe;
mod subscription;

pub use subscribe::{subscribe, MAX_REDIRECTS};
pub use subscription::Subscription;
