//! The process-wide table of switch IPAM indexes, one async lock per logical
//! switch (by uuid). Holding a switch's lock serializes allocation on that
//! switch among all clients of this process; the `_version` guard in each
//! transaction covers other processes. Indexes of switches no longer used are
//! dropped when the table grows, and rebuilt from the cache if needed again.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use uuid::Uuid;

use super::index::SwitchIndex;

/// A switch's index slot: `None` until first built.
pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<SwitchIndex>>>;

/// Above this many slots, idle ones are dropped.
const PRUNE_ABOVE: usize = 256;

static SLOTS: LazyLock<Mutex<HashMap<Uuid, Slot>>> = LazyLock::new(Default::default);

/// The slot of switch `uuid`.
pub(crate) fn slot(uuid: Uuid) -> Slot {
    let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    if slots.len() > PRUNE_ABOVE {
        slots.retain(|_, s| Arc::strong_count(s) > 1);
    }
    slots.entry(uuid).or_default().clone()
}

/// The slots of several switches, locked in uuid order (so two batches that
/// share switches cannot deadlock).
pub(crate) async fn lock_all(
    switches: &[Uuid],
) -> Vec<(Uuid, tokio::sync::OwnedMutexGuard<Option<SwitchIndex>>)> {
    let mut sorted = switches.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut guards = Vec::with_capacity(sorted.len());
    for u in sorted {
        guards.push((u, slot(u).lock_owned().await));
    }
    guards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_switch_has_one_slot_and_locks_come_in_uuid_order() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(Arc::ptr_eq(&slot(a), &slot(a)));
        assert!(!Arc::ptr_eq(&slot(a), &slot(b)));
        let guards = lock_all(&[b, a, b]).await;
        let order: Vec<Uuid> = guards.iter().map(|(u, _)| *u).collect();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(order, want);
        assert!(slot(a).try_lock().is_err(), "a is held");
        drop(guards);
        assert!(slot(a).try_lock().is_ok());
    }
}
