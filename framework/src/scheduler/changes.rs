//! Changes of the definitions in force, on the event loop: the API's
//! requests and the task files read again on SIGHUP. Each change is
//! computed by [`super::catalog`], the definitions it leaves are resolved
//! against the NB cache (an unknown network or a VIP conflict refuses it,
//! with nothing written), written durably to the state dir, handed to the
//! core and announced on the event stream; only then is it answered. No
//! network I/O: the NB is read from its cache and the state dir's files
//! are small.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use serde_json::json;
use tracing::{info, warn};

use super::catalog::{self, Change, Outcome, Refusal};
use super::core::Input;
use super::driver::Driver;
use crate::api::{ApiEvent, DefinitionAnswer, DefinitionRefused, DefinitionRequest};
use crate::state::StoredDefinition;
use crate::tasks::{load_paths, Services, TaskDefinition, TemplateId};
use ovn::report::Chain;

impl Driver {
    /// Answers one API request about definitions.
    pub(super) fn definition_request(
        &mut self,
        request: DefinitionRequest,
    ) -> (
        Result<DefinitionAnswer, DefinitionRefused>,
        Vec<super::core::Effect>,
    ) {
        let now = SystemTime::now();
        let stored = self.store.definitions();
        let (change, cancelled) = match request {
            DefinitionRequest::Apply { id, body } => {
                (catalog::apply(stored, &body, id.as_deref(), now), None)
            }
            DefinitionRequest::Scale { id, instances } => {
                (catalog::scale(stored, &id, instances), None)
            }
            DefinitionRequest::Delete { id } => (catalog::delete(stored, &id), None),
            DefinitionRequest::Cancel { id } => match catalog::cancel(stored, &id, now) {
                Ok((change, deployment)) => (Ok(change), Some(deployment)),
                Err(e) => (Err(e), None),
            },
        };
        let change = match change {
            Ok(change) => change,
            Err(refusal) => return (Err(refused(refusal)), Vec::new()),
        };
        match self.commit(vec![change.clone()]) {
            Ok(effects) => {
                let next = self.store.definitions();
                let live = next.get(&change.id).filter(|d| !d.deleted);
                let answer = DefinitionAnswer {
                    definition: change.id.to_string(),
                    result: if cancelled.is_some() {
                        "cancelled"
                    } else {
                        change.outcome.as_str()
                    },
                    version: live.map(|d| crate::tasks::version_of(&d.body)),
                    instances: live.map(|d| d.instances),
                    deployment: cancelled.or_else(|| {
                        matches!(change.outcome, Outcome::Created | Outcome::Updated)
                            .then(|| {
                                live.and_then(|d| d.deployment.as_ref())
                                    .map(|d| d.id.clone())
                            })
                            .flatten()
                    }),
                };
                (Ok(answer), effects)
            }
            Err(refusal) => (Err(refusal), Vec::new()),
        }
    }

    /// Reads the task files of `--tasks` again (SIGHUP) and applies them
    /// by the files-and-API rule; a bad file changes nothing.
    pub(super) fn reload(&mut self) -> Vec<super::core::Effect> {
        let paths = self.core.config().task_paths.clone();
        let files = match load_paths(&paths) {
            Ok((files, _)) => files,
            Err(e) => {
                warn!(error = %Chain(&e), "SIGHUP: the task files are refused; nothing changed");
                return Vec::new();
            }
        };
        let changes = catalog::apply_files(self.store.definitions(), &files, SystemTime::now());
        match self.commit(changes) {
            Ok(effects) => {
                info!("SIGHUP: task files applied");
                effects
            }
            Err(e) => {
                warn!(error = %e, "SIGHUP: the task files are refused; nothing changed");
                Vec::new()
            }
        }
    }

    /// Resolves, writes and hands over `changes`; refused as a whole.
    /// Only what the changes touch is parsed and cloned: a change costs
    /// little more with a thousand definitions in force than with one.
    fn commit(
        &mut self,
        changes: Vec<Change>,
    ) -> Result<Vec<super::core::Effect>, DefinitionRefused> {
        // What the changed definitions were, to announce and to put back.
        let before: BTreeMap<TemplateId, StoredDefinition> = changes
            .iter()
            .filter_map(|c| Some((c.id.clone(), self.store.definitions().get(&c.id)?.clone())))
            .collect();
        let (definitions, deployments) = {
            let next = catalog::overlay(self.store.definitions(), &changes);
            let known: BTreeMap<TemplateId, &TaskDefinition> = self
                .core
                .services()
                .members()
                .map(|(_, m)| (m.definition.template(), &m.definition))
                .collect();
            let definitions =
                catalog::in_force(next.values().copied(), |id| known.get(id).copied())
                    .map_err(DefinitionRefused::Invalid)?;
            (definitions, catalog::deployments(next.values().copied()))
        };
        let mut services = self
            .nb
            .read(|cache| Services::resolve(definitions, cache))
            .map_err(|e| {
                let line = e
                    .problems()
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| e.to_string());
                if line.contains("conflicts with") {
                    DefinitionRefused::Conflict(line)
                } else {
                    DefinitionRefused::Invalid(line)
                }
            })?;
        services.keep_unchanged(self.core.services());
        for change in &changes {
            let written = match &change.stored {
                Some(d) => self.store.put_definition(d.clone()),
                None if change.removes(before.get(&change.id)) => {
                    self.store.remove_definition(&change.id)
                }
                None => Ok(()),
            };
            if let Err(e) = written {
                // Put back what was written of this change set.
                for undo in &changes {
                    let _ = match before.get(&undo.id) {
                        Some(d) => self.store.put_definition(d.clone()),
                        None => self.store.remove_definition(&undo.id),
                    };
                }
                return Err(DefinitionRefused::Store(Chain(&e).to_string()));
            }
        }
        let reserve = self.nb.clone();
        let new_switches: Vec<String> = services
            .iter()
            .filter(|s| s.vip.is_some() && s.ovn_health_check())
            .flat_map(|s| s.members.iter().map(|m| m.definition.switch.clone()))
            .collect();
        tokio::spawn(async move {
            for switch in new_switches {
                if let Err(e) = ovn::ports::reserve_monitor_ip(&reserve, &switch).await {
                    warn!(switch, error = %Chain(&e), "no health-check source address: its VIPs go without OVN health checks");
                }
            }
        });
        let mut effects = Vec::new();
        for change in &changes {
            self.announce(
                change,
                before.get(&change.id),
                self.store.definitions().get(&change.id),
                &mut effects,
            );
        }
        effects.extend(self.core.handle(
            Input::Definitions {
                services,
                deployments,
            },
            Instant::now(),
        ));
        Ok(effects)
    }

    /// Logs a change and puts its events on the stream.
    fn announce(
        &self,
        change: &Change,
        before: Option<&StoredDefinition>,
        after: Option<&StoredDefinition>,
        effects: &mut Vec<super::core::Effect>,
    ) {
        let kind = match change.outcome {
            Outcome::Created => "definition_created",
            Outcome::Updated => "definition_updated",
            Outcome::Scaled => "definition_scaled",
            Outcome::Deleted => "definition_deleted",
            Outcome::Unchanged => return,
        };
        let after = after.filter(|d| !d.deleted);
        info!(
            definition = %change.id,
            change = change.outcome.as_str(),
            instances = after.map(|d| d.instances),
            "definition"
        );
        effects.push(super::core::Effect::Event(ApiEvent::new(
            kind,
            json!({
                "definition": change.id.as_str(),
                "instances": after.map(|d| d.instances),
                "version": after.map(|d| crate::tasks::version_of(&d.body)),
                "previous_instances": before.filter(|d| !d.deleted).map(|d| d.instances),
                "source": after.map(|d| d.source.as_str()),
            }),
        )));
        if let Some(d) = after.and_then(|d| d.deployment.as_ref()) {
            if matches!(change.outcome, Outcome::Created | Outcome::Updated)
                && before.and_then(|b| b.deployment.as_ref()) != Some(d)
            {
                effects.push(super::core::Effect::Event(ApiEvent::new(
                    "deployment_started",
                    json!({
                        "id": d.id,
                        "definition": change.id.as_str(),
                        "from": d.from,
                        "to": d.to,
                    }),
                )));
            }
        }
    }

    /// Forgets a finished deployment in the state dir.
    pub(super) fn deployment_done(&mut self, template: &TemplateId, id: &str) {
        let Some(d) = self.store.definitions().get(template) else {
            return;
        };
        if d.deployment.as_ref().is_none_or(|r| r.id != id) {
            return;
        }
        let mut d = d.clone();
        d.deployment = None;
        if let Err(e) = self.store.put_definition(d) {
            warn!(definition = %template, error = %Chain(&e), "cannot write the end of the deployment; it ends again at the next start");
        }
    }
}

fn refused(refusal: Refusal) -> DefinitionRefused {
    match refusal {
        Refusal::Invalid(m) => DefinitionRefused::Invalid(m),
        Refusal::Unknown(m) => DefinitionRefused::Unknown(format!("no definition {m}")),
        Refusal::Conflict(m) => DefinitionRefused::Conflict(m),
    }
}
