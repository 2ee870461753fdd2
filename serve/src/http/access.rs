//! What a request's principal may read, and the audit record of what it read or was refused.

use strata_pipelines::{AuditEvent, Principal};

use super::AppState;
use crate::{Error, Result};

impl AppState {
    /// Record an access (or a refusal) of `principal` in the audit log.
    pub(super) fn audit<S: AsRef<str>>(
        &self,
        principal: &Principal,
        endpoint: &str,
        objects: impl IntoIterator<Item = S>,
        rows: u64,
    ) {
        if let Some(log) = &self.audit {
            log.record(
                AuditEvent::new(&principal.name, &principal.role, endpoint, "read")
                    .objects(objects)
                    .rows(rows),
            );
        }
    }

    pub(super) fn audit_denied(&self, principal: &Principal, endpoint: &str, message: &str) {
        if let Some(log) = &self.audit {
            log.record(
                AuditEvent::new(&principal.name, &principal.role, endpoint, "read")
                    .outcome("denied", message),
            );
        }
    }
}

/// The role of the request's principal (set by the guard; the operator when the API is open).
pub(super) fn role<'s>(s: &'s AppState, principal: &Principal) -> Result<&'s strata_project::Role> {
    s.project.role(&principal.role).ok_or_else(|| {
        Error::Forbidden(format!(
            "role {} of {} is not declared in the project",
            principal.role, principal.name
        ))
    })
}

/// Refuse (and audit) a request reading a feature view the principal's role does not grant.
pub(super) fn check_views<'a>(
    s: &AppState,
    principal: &Principal,
    endpoint: &str,
    views: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let role = role(s, principal)?;
    for view in views {
        if !role.can_read_view(view) {
            let message = format!(
                "permission denied for feature view {view}: role {} of {} does not grant it",
                role.name, principal.name
            );
            s.audit_denied(principal, endpoint, &message);
            return Err(Error::Forbidden(message));
        }
    }
    Ok(())
}
