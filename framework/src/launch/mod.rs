//! Launching tasks on offers, without I/O (data flow step 3 of
//! `docs/architecture.md`): what an offer has free for the framework's role
//! ([`OfferSlot`]), which offer each wanted instance goes to ([`place`]), and
//! the `TaskInfo` that a Mesos `LAUNCH` operation carries ([`task_info`]),
//! shaped by the attachment contract [`ovn::attachment`], which the
//! executor reads too.
//!
//! A task runs under the ovn-mesos executor, one executor per task, so each
//! launch takes two sets of resources from its offer: the task's own (from
//! its definition) and the executor's ([`ExecutorSettings::cpus`] and
//! [`ExecutorSettings::mem`]), which Mesos accounts to the
//! `ExecutorInfo.resources`. [`Need`] holds both; [`LaunchResources`] is what
//! was taken for them, every `Resource` as offered (role, reservations,
//! allocation info), which Mesos' offer validation requires.
//!
//! The scheduler's loop, per `OFFERS` event:
//!
//! 1. [`OfferSlot::new`] for every offer;
//! 2. [`place`] the missing instances ([`Want`]s) on the slots;
//! 3. per [`Placement`]: [`new_task_id`], create the task's logical switch
//!    port (`ovn::ports::create_task_ports_batch`), then [`task_info`];
//! 4. `ACCEPT` each used offer with one `LAUNCH` of its tasks, decline the
//!    rest.

pub mod constraints;
mod executor;
#[cfg(test)]
pub(crate) mod fixtures;
mod offer;
mod pieces;
mod place;
mod taskinfo;

pub use executor::{parse_dns_domain, ExecutorSettings, DEFAULT_DNS_DOMAIN};
pub use offer::{LaunchResources, Need, OfferSlot, DEFAULT_CHASSIS_ATTRIBUTE};
#[cfg(test)]
pub use place::NoFilter;
pub use place::{place, Filter, Load, Want};
pub use taskinfo::{new_task_id, task_info};
