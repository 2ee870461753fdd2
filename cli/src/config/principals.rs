//! `[serve.principals.<name>]`: the people and services that use the SQL endpoint and the
//! HTTP API, each with a role of the project (`access.toml`) and its credentials. A secret
//! is given inline, in a file (a mounted secret) or in an environment variable.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use strata_pipelines::{BearerTokens, Principal};
use strata_project::Project;
use strata_serve::pg::SqlUser;

/// One principal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    /// A role declared in the project's access.toml (`operator` always exists).
    pub role: String,
    /// SQL password (the principal's name is its SQL user): one of the three.
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    /// HTTP bearer token: one of the three.
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub token_env: Option<String>,
}

pub type Principals = BTreeMap<String, PrincipalConfig>;

/// The secret from one of its three sources; naming the key on any problem.
fn secret(
    key: &str,
    inline: &Option<String>,
    file: &Option<String>,
    env: &Option<String>,
) -> Result<Option<String>> {
    match (inline, file, env) {
        (Some(s), None, None) => Ok(Some(s.clone())),
        (None, Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {key}_file {path}"))?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
        }
        (None, None, Some(var)) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(v)),
            _ => bail!("invalid config: {key}_env names {var}, which is not set"),
        },
        (None, None, None) => Ok(None),
        _ => bail!("invalid config: give only one of {key}, {key}_file and {key}_env"),
    }
}

/// Every principal's role, checked against the project's roles.
fn role_of<'p>(
    project: &'p Project,
    name: &str,
    p: &PrincipalConfig,
) -> Result<&'p strata_project::Role> {
    project.role(&p.role).with_context(|| {
        let roles: Vec<&str> = project.roles.iter().map(|r| r.name.as_str()).collect();
        format!(
            "invalid config: serve.principals.{name}.role '{}' is not a role of the project (roles: {})",
            p.role,
            roles.join(", ")
        )
    })
}

/// SQL users: the principals with a password.
pub fn sql_users(principals: &Principals, project: &Project) -> Result<Vec<SqlUser>> {
    let mut out = Vec::new();
    for (name, p) in principals {
        let role = role_of(project, name, p)?;
        let key = format!("serve.principals.{name}.password");
        if let Some(password) = secret(&key, &p.password, &p.password_file, &p.password_env)? {
            out.push(SqlUser {
                name: name.clone(),
                password,
                role: role.name.clone(),
            });
        }
    }
    Ok(out)
}

/// HTTP tokens: the principals with a token, after `legacy` tokens (full access).
pub fn bearer_tokens(
    principals: &Principals,
    project: &Project,
    legacy: Vec<String>,
) -> Result<BearerTokens> {
    let mut out: Vec<(String, Principal)> = legacy
        .into_iter()
        .map(|t| (t, Principal::operator("serve.tokens")))
        .collect();
    for (name, p) in principals {
        let role = role_of(project, name, p)?;
        let key = format!("serve.principals.{name}.token");
        if let Some(token) = secret(&key, &p.token, &p.token_file, &p.token_env)? {
            out.push((
                token,
                Principal {
                    name: name.clone(),
                    role: role.name.clone(),
                    admin: role.admin,
                },
            ));
        }
    }
    Ok(BearerTokens::with_principals(out))
}
