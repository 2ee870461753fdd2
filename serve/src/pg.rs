//! SQL over the Postgres wire protocol: every lake table as `layer.table`, read-only, served
//! by datafusion-postgres (with its `pg_catalog`, so psql and BI tools work). Tables are
//! re-registered when their Delta version moves.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::{ClientInfo, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::{DfSessionService, ServerOptions, auth::AuthManager};
use deltalake::datafusion::common::ParamValues;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::datafusion::sql::sqlparser::ast::Statement;
use strata_pipelines::{Lake, SessionBuilder, TableName, TableVersions};
use tracing::{info, warn};

use crate::{Error, Result};

/// Where and how to serve SQL.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub host: String,
    pub port: u16,
    /// Require this user and password (cleartext auth: turn TLS on for untrusted networks).
    /// `None`: no authentication.
    pub credentials: Option<(String, String)>,
    /// Certificate chain and PKCS#8 key (PEM files): clients may then negotiate TLS
    /// (`sslmode=require`).
    pub tls: Option<(String, String)>,
}

/// Check the PEM files up front: the Postgres server would otherwise log a warning and
/// listen without encryption.
fn check_tls(cert: &str, key: &str) -> Result<()> {
    let read = |path: &str, what: &str| {
        std::fs::read_to_string(path)
            .map_err(|e| Error::Tls(format!("cannot read the {what} {path}: {e}")))
    };
    if !read(cert, "certificate")?.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Tls(format!(
            "{cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    if !read(key, "key")?.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(Error::Tls(format!(
            "{key} holds no PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); convert one with \
             `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
        )));
    }
    Ok(())
}

/// Refuses everything but reads: the lake changes only through Strata's jobs.
#[derive(Debug)]
struct ReadOnly;

fn allowed(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::Set(_)
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
    )
}

fn refusal(statement: &Statement) -> PgWireError {
    let text = statement.to_string();
    let verb = text
        .split_whitespace()
        .next()
        .unwrap_or("this")
        .to_uppercase();
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        "25006".to_string(), // read_only_sql_transaction
        format!(
            "{verb} is not allowed: this endpoint is read-only (tables change only through Strata's jobs)"
        ),
    )))
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        (!allowed(statement)).then(|| Err(refusal(statement)))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        (!allowed(statement)).then(|| Err(refusal(statement)))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        (!allowed(statement)).then(|| Err(refusal(statement)))
    }
}

#[derive(Debug)]
struct FixedPassword {
    user: String,
    password: String,
}

#[async_trait]
impl AuthSource for FixedPassword {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if login.user() == Some(self.user.as_str()) {
            Ok(Password::new(None, self.password.as_bytes().to_vec()))
        } else {
            Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28P01".to_string(),
                format!(
                    "password authentication failed for user \"{}\"",
                    login.user().unwrap_or("")
                ),
            ))))
        }
    }
}

struct Open;

#[async_trait]
impl NoopStartupHandler for Open {}

struct Handlers<S> {
    session: Arc<DfSessionService>,
    startup: Arc<S>,
}

impl<S: StartupHandler + 'static> PgWireServerHandlers for Handlers<S> {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// Register every lake table (again, when its version moved).
async fn register_tables(
    lake: &Lake,
    ctx: &SessionContext,
    versions: &mut TableVersions,
    seen: &mut HashMap<TableName, u64>,
) -> Result<()> {
    for name in lake.discover().await? {
        // A log listing per table; a table is opened only when its version moved.
        let Some(latest) = versions.latest(&name).await? else {
            continue;
        };
        if seen.get(&name) == Some(&latest) {
            continue;
        }
        let Some(table) = lake.open(&name).await? else {
            continue;
        };
        SessionBuilder::register(ctx, &name, &table).await?;
        seen.insert(name, table.version().unwrap_or(latest));
    }
    Ok(())
}

/// Serve until the process ends. Binding errors are returned; the accept loop runs in the
/// background.
pub async fn serve(lake: Lake, settings: PgSettings) -> Result<()> {
    let ctx = Arc::new(SessionContext::new_with_config(
        SessionConfig::new().with_information_schema(true),
    ));
    let mut seen = HashMap::new();
    let mut versions = TableVersions::new(lake.clone());
    register_tables(&lake, &ctx, &mut versions, &mut seen).await?;
    setup_pg_catalog(&ctx, "datafusion", Arc::new(AuthManager::default()))
        .map_err(|e| Error::Query(e.to_string()))?;
    {
        let (lake, ctx) = (lake.clone(), ctx.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Err(e) = register_tables(&lake, &ctx, &mut versions, &mut seen).await {
                    warn!(error = %e, "SQL endpoint: refreshing tables failed");
                }
            }
        });
    }
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(ReadOnly),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let session = Arc::new(DfSessionService::new_with_hooks(ctx, hooks));
    // Bind first so a taken port is an error at start, not a log line later.
    let addr = format!("{}:{}", settings.host, settings.port);
    drop(
        tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| Error::Listen {
                addr: addr.clone(),
                source,
            })?,
    );
    let mut options = ServerOptions::new()
        .with_host(settings.host.clone())
        .with_port(settings.port);
    if let Some((cert, key)) = &settings.tls {
        check_tls(cert, key)?;
        options = options
            .with_tls_cert_path(Some(cert.clone()))
            .with_tls_key_path(Some(key.clone()));
    }
    info!(%addr, auth = settings.credentials.is_some(), tls = settings.tls.is_some(),
          "SQL endpoint (Postgres protocol)");
    match settings.credentials {
        Some((user, password)) => {
            let startup = CleartextPasswordAuthStartupHandler::new(
                FixedPassword { user, password },
                DefaultServerParameterProvider::default(),
            );
            let handlers = Arc::new(Handlers {
                session,
                startup: Arc::new(startup),
            });
            tokio::spawn(async move {
                if let Err(e) = datafusion_postgres::serve_with_handlers(handlers, &options).await {
                    warn!(error = %e, "SQL endpoint stopped");
                }
            });
        }
        None => {
            let handlers = Arc::new(Handlers {
                session,
                startup: Arc::new(Open),
            });
            tokio::spawn(async move {
                if let Err(e) = datafusion_postgres::serve_with_handlers(handlers, &options).await {
                    warn!(error = %e, "SQL endpoint stopped");
                }
            });
        }
    }
    Ok(())
}

impl Debug for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Open")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_are_checked_before_listening() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let e = check_tls(c, k).unwrap_err().to_string();
        assert!(
            e.contains("cannot read the certificate") && e.contains(c),
            "{e}"
        );
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &key,
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = check_tls(c, k).unwrap_err().to_string();
        assert!(
            e.contains("PKCS#8") && e.contains("serve.pg_tls_key"),
            "{e}"
        );
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        check_tls(c, k).unwrap();
    }
}
