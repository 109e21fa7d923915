//! Offer validation for ACCEPT (`validation::offer::validate`): offer ids
//! unique, outstanding, offered to this framework, all on one agent; with
//! Mesos' messages.

use std::collections::HashSet;

/// Checks the offer ids of an ACCEPT; `lookup` gives an outstanding
/// offer's `(framework id, agent id)`.
pub(crate) fn check_offers<'a>(
    framework_id: &str,
    offer_ids: &[String],
    lookup: impl Fn(&str) -> Option<(&'a str, &'a str)>,
) -> Result<(), String> {
    if offer_ids.is_empty() {
        return Err("No offers specified".into());
    }
    let mut seen = HashSet::new();
    for id in offer_ids {
        if !seen.insert(id) {
            return Err(format!("Duplicate offer {id} in offer list"));
        }
    }
    let mut found = Vec::with_capacity(offer_ids.len());
    for id in offer_ids {
        match lookup(id) {
            Some(owner) => found.push((id, owner)),
            None => return Err(format!("Offer {id} is no longer valid")),
        }
    }
    for (id, (owner, _)) in &found {
        if *owner != framework_id {
            return Err(format!(
                "Offer {id} has invalid framework {owner} while framework {framework_id} is expected"
            ));
        }
    }
    let first_agent = found[0].1 .1;
    for (id, (_, agent)) in &found {
        if *agent != first_agent {
            return Err(format!(
                "Aggregated offers must belong to one single agent. Offer {id} uses agent {agent} and agent {first_agent}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn offers() -> HashMap<&'static str, (&'static str, &'static str)> {
        HashMap::from([
            ("o1", ("f", "a1")),
            ("o2", ("f", "a1")),
            ("o3", ("f", "a2")),
            ("o4", ("g", "a1")),
        ])
    }

    fn check(ids: &[&str]) -> Result<(), String> {
        let offers = offers();
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        check_offers("f", &ids, |id| offers.get(id).copied())
    }

    #[test]
    fn offers_of_one_agent_are_valid() {
        assert_eq!(check(&["o1", "o2"]), Ok(()));
    }

    #[test]
    fn invalid_offer_lists_get_mesos_messages() {
        assert_eq!(check(&[]), Err("No offers specified".into()));
        assert_eq!(
            check(&["o1", "o1"]),
            Err("Duplicate offer o1 in offer list".into())
        );
        assert_eq!(check(&["o9"]), Err("Offer o9 is no longer valid".into()));
        assert_eq!(
            check(&["o4"]),
            Err("Offer o4 has invalid framework g while framework f is expected".into())
        );
        assert_eq!(
            check(&["o1", "o3"]),
            Err("Aggregated offers must belong to one single agent. Offer o3 uses agent a2 and agent a1".into())
        );
    }
}
