//! The logical switch port name of a task: the Mesos task id, sanitized so it
//! is safe as an OVS `iface-id`, a log field and a shell word, and still unique
//! (`ovn-nbctl lsp-add <switch> <name>`; NB indexes port names).
//!
//! Task ids made only of `[A-Za-z0-9._-]` (what Mesos frameworks generate, e.g.
//! `apachecoke.4f1c2a`) are used as they are. Any other id gets its other
//! characters replaced by `_` and an FNV-1a hash of the original id appended
//! (`web/1` -> `web_1-3c2f1d0a`), so two ids that sanitize alike stay apart.
//! Very long ids are cut and hashed the same way.

use std::fmt::Write as _;

/// Longest port name produced (bytes).
pub const MAX_NAME_LEN: usize = 128;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// 32-bit FNV-1a.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The port name for `task_id` (see the module doc). `None` for an empty id.
pub fn port_name(task_id: &str) -> Option<String> {
    if task_id.is_empty() {
        return None;
    }
    if task_id.len() <= MAX_NAME_LEN && task_id.chars().all(allowed) {
        return Some(task_id.to_owned());
    }
    let mut name: String = task_id
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    // Room for "-" and 8 hex digits; cut on a char boundary (all ASCII now).
    name.truncate(MAX_NAME_LEN - 9);
    let _ = write!(name, "-{:08x}", fnv1a(task_id));
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_task_ids_are_kept_as_they_are() {
        for id in ["apachecoke", "nginx.4f1c2a-9b", "web_1"] {
            assert_eq!(port_name(id).as_deref(), Some(id));
        }
    }

    #[test]
    fn other_characters_are_replaced_and_a_hash_keeps_names_unique() {
        let cases = [
            ("web/1", "web_1-"),
            ("a b:c", "a_b_c-"),
            ("tâche", "t_che-"),
        ];
        for (id, prefix) in cases {
            let name = port_name(id).unwrap();
            assert!(name.starts_with(prefix), "{id} -> {name}");
            assert_eq!(name.len(), prefix.len() + 8, "{name}");
            assert!(name.chars().all(allowed), "{name}");
        }
        assert_ne!(port_name("web/1"), port_name("web:1"));
        assert_ne!(port_name("web/1"), port_name("web_1"));
    }

    #[test]
    fn long_ids_are_cut_to_the_limit_and_stay_distinct() {
        let a = "x".repeat(300);
        let b = format!("{}y", "x".repeat(299));
        let (na, nb) = (port_name(&a).unwrap(), port_name(&b).unwrap());
        assert_eq!(na.len(), MAX_NAME_LEN);
        assert_ne!(na, nb);
    }

    #[test]
    fn an_empty_id_has_no_name() {
        assert_eq!(port_name(""), None);
    }

    #[test]
    fn the_hash_is_fnv1a() {
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
    }
}
