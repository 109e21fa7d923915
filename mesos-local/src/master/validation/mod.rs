//! Validation of scheduler calls and framework infos, in the order and
//! with the messages of Mesos' `src/master/validation.cpp`; tasks and
//! offers in the submodules. Pure functions over the facts they need, so
//! they are unit-tested where they are.

mod offer;
mod task;

use std::collections::HashSet;

use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::v1::{framework_info::capability, FrameworkInfo};

pub(crate) use offer::check_offers;
pub(crate) use task::{validate_task, validate_task_group, TaskContext};

use crate::api::check_uuid;

/// `validation::scheduler::call::validate`.
pub(crate) fn validate_call(call: &Call) -> Result<(), String> {
    let Some(kind) = call.r#type.map(|_| call.r#type()) else {
        return Err("Expecting 'type' to be present".into());
    };
    if kind == call::Type::Subscribe {
        let Some(subscribe) = &call.subscribe else {
            return Err("Expecting 'subscribe' to be present".into());
        };
        let info_id = subscribe
            .framework_info
            .id
            .as_ref()
            .map(|i| i.value.as_str());
        let call_id = call.framework_id.as_ref().map(|i| i.value.as_str());
        if info_id.unwrap_or_default() != call_id.unwrap_or_default() {
            return Err("'framework_id' differs from 'subscribe.framework_info.id'".into());
        }
        return Ok(());
    }
    if call.framework_id.is_none() {
        return Err("Expecting 'framework_id' to be present".into());
    }
    let present = |field: &str, is_set: bool| {
        if is_set {
            Ok(())
        } else {
            Err(format!("Expecting '{field}' to be present"))
        }
    };
    match kind {
        call::Type::Accept => present("accept", call.accept.is_some()),
        call::Type::Decline => present("decline", call.decline.is_some()),
        call::Type::AcceptInverseOffers => present(
            "accept_inverse_offers",
            call.accept_inverse_offers.is_some(),
        ),
        call::Type::DeclineInverseOffers => present(
            "decline_inverse_offers",
            call.decline_inverse_offers.is_some(),
        ),
        call::Type::Kill => present("kill", call.kill.is_some()),
        call::Type::Shutdown => present("shutdown", call.shutdown.is_some()),
        call::Type::Acknowledge => {
            present("acknowledge", call.acknowledge.is_some())?;
            call.acknowledge
                .as_ref()
                .map_or(Ok(()), |ack| check_uuid(&ack.uuid))
        }
        call::Type::AcknowledgeOperationStatus => present(
            "acknowledge_operation_status",
            call.acknowledge_operation_status.is_some(),
        ),
        call::Type::Reconcile => present("reconcile", call.reconcile.is_some()),
        call::Type::ReconcileOperations => {
            present("reconcile_operations", call.reconcile_operations.is_some())
        }
        call::Type::Message => present("message", call.message.is_some()),
        call::Type::Request => present("request", call.request.is_some()),
        call::Type::UpdateFramework => present("update_framework", call.update_framework.is_some()),
        call::Type::Subscribe
        | call::Type::Teardown
        | call::Type::Revive
        | call::Type::Suppress
        | call::Type::Unknown => Ok(()),
    }
}

/// `roles::validate`: a role name (`*` or a `/`-separated path).
pub(crate) fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err("Empty role name is invalid".into());
    }
    if role.starts_with('/') || role.ends_with('/') || role.contains("//") {
        return Err(format!("Role '{role}' has an empty path segment"));
    }
    for component in role.split('/') {
        if matches!(component, "." | ".." | "*") {
            return Err(format!(
                "Role '{role}' cannot include '{component}' as a path segment"
            ));
        }
        if component.starts_with('-') {
            return Err(format!(
                "Role component '{component}' is invalid: it starts with '-'"
            ));
        }
        if component
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!("Role '{role}' contains invalid characters"));
        }
    }
    Ok(())
}

/// `validation::framework::validate` plus the failover timeout check.
pub(crate) fn validate_framework_info(info: &FrameworkInfo) -> Result<(), String> {
    let multi_role = info
        .capabilities
        .iter()
        .any(|c| c.r#type() == capability::Type::MultiRole);
    if multi_role {
        if info.role.is_some() {
            return Err(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
        let unique: HashSet<&String> = info.roles.iter().collect();
        if unique.len() != info.roles.len() {
            return Err("'FrameworkInfo.roles' contains duplicate items".into());
        }
        for role in &info.roles {
            validate_role(role)
                .map_err(|e| format!("'FrameworkInfo.roles' contains invalid role: {e}"))?;
        }
    } else {
        if !info.roles.is_empty() {
            return Err(
                "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                    .into(),
            );
        }
        validate_role(info.role())
            .map_err(|e| format!("'FrameworkInfo.role' is not a valid role: {e}"))?;
    }
    let timeout = info.failover_timeout();
    if !timeout.is_finite() || timeout < 0.0 {
        return Err(format!(
            "The framework failover_timeout ({timeout}) is invalid"
        ));
    }
    Ok(())
}

/// `common::validation::validateID`.
pub(crate) fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    if id.len() > 255 {
        return Err("ID must not be greater than 255 characters".into());
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_level_checks_match_mesos() {
        let mut call = Call {
            r#type: Some(call::Type::Acknowledge as i32),
            framework_id: Some("f".into()),
            acknowledge: Some(call::Acknowledge {
                agent_id: "a".into(),
                task_id: "t".into(),
                uuid: b"short".to_vec(),
            }),
            ..Default::default()
        };
        assert_eq!(validate_call(&call), Err("Not a valid UUID".into()));
        call.framework_id = None;
        assert_eq!(
            validate_call(&call),
            Err("Expecting 'framework_id' to be present".into())
        );
        let kill = Call {
            r#type: Some(call::Type::Kill as i32),
            framework_id: Some("f".into()),
            ..Default::default()
        };
        assert_eq!(
            validate_call(&kill),
            Err("Expecting 'kill' to be present".into())
        );
        assert_eq!(
            validate_call(&Call::default()),
            Err("Expecting 'type' to be present".into())
        );
    }

    #[test]
    fn roles_and_failover_timeouts_are_checked() {
        assert!(validate_role("*").is_ok());
        assert!(validate_role("web/prod").is_ok());
        assert!(validate_role("").is_err());
        assert!(validate_role("/web").is_err());
        assert!(validate_role("a b").is_err());
        let mut info = FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            failover_timeout: Some(-1.0),
            ..Default::default()
        };
        assert!(validate_framework_info(&info)
            .expect_err("negative")
            .contains("failover_timeout"));
        info.failover_timeout = Some(10.0);
        info.roles = vec!["web".into()];
        assert!(validate_framework_info(&info)
            .expect_err("roles")
            .contains("not MULTI_ROLE"));
    }
}
