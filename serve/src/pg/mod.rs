//! SQL over the Postgres wire protocol: every lake table as `layer.table`, read-only,
//! served through datafusion-postgres's protocol handling and `pg_catalog`.
//!
//! ```text
//!  lake --(tables.rs: refresh on new Delta versions)--> shared catalog
//!  connection --(session.rs: own settings, own memory pool)--> guard.rs (read-only plan,
//!    timeout, concurrency cap) --> DataFusion --> rows; compat.rs: what clients expect
//! ```

mod access;
mod audit;
mod compat;
mod guard;
mod info_schema;
mod session;
mod tables;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogStaticTables, setup_pg_catalog,
};
use datafusion_postgres::pgwire::api::PgWireServerHandlers;
use datafusion_postgres::pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::tokio::{TlsAcceptor, process_socket, tokio_rustls};
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use strata_pipelines::Lake;
use tokio::sync::Semaphore;
use tracing::{info, warn};

pub use guard::SqlLimits;

use crate::{Error, Result};
use session::{Connection, Shared};
use tables::Tables;

/// Where and how to serve SQL.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub host: String,
    pub port: u16,
    /// Who may connect (cleartext password auth: turn TLS on for untrusted networks) and the
    /// role each has.
    pub principals: Principals,
    /// Certificate chain and PKCS#8 key (PEM files): clients may then negotiate TLS
    /// (`sslmode=require`).
    pub tls: Option<(String, String)>,
    pub limits: SqlLimits,
    /// How often new tables and versions are looked for.
    pub refresh: Duration,
    /// Where every query reading lake tables is recorded (`_strata.audit`).
    pub audit: Option<strata_pipelines::AuditLog>,
}

/// Check the PEM files up front and build the acceptor: a bad file is an error at start,
/// never a silent fallback to plaintext.
fn tls_acceptor(cert: &str, key: &str) -> Result<TlsAcceptor> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let read = |path: &str, what: &str| {
        std::fs::read(path).map_err(|e| Error::Tls(format!("cannot read the {what} {path}: {e}")))
    };
    let certs = CertificateDer::pem_slice_iter(&read(cert, "certificate")?)
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Error::Tls(format!(
                "{cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ))
        })?;
    let pem = PrivatePkcs8KeyDer::from_pem_slice(&read(key, "key")?).map_err(|_| {
        Error::Tls(format!(
            "{key} holds no PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); convert one with \
             `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
        ))
    })?;
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, PrivateKeyDer::Pkcs8(pem))
        .map_err(|e| Error::Tls(format!("{cert} and {key} do not make a TLS identity: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// One SQL user.
#[derive(Clone)]
pub struct SqlUser {
    pub name: String,
    pub password: String,
    /// A role of the project (`access.toml`).
    pub role: String,
}

impl std::fmt::Debug for SqlUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlUser({} as {})", self.name, self.role)
    }
}

/// The SQL users and the project whose roles they hold. No users: no authentication, and
/// every connection is the operator.
#[derive(Debug, Clone)]
pub struct Principals {
    pub project: Arc<strata_project::Project>,
    pub users: Vec<SqlUser>,
}

#[derive(Debug)]
struct UserPasswords(Vec<SqlUser>);

#[async_trait]
impl AuthSource for UserPasswords {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if let Some(u) = self
            .0
            .iter()
            .find(|u| login.user() == Some(u.name.as_str()))
        {
            Ok(Password::new(None, u.password.as_bytes().to_vec()))
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

#[derive(Debug)]
struct Open;

#[async_trait]
impl NoopStartupHandler for Open {}

/// The handlers of one connection.
struct Handlers<S> {
    connection: Arc<Connection>,
    startup: Arc<S>,
}

impl<S: StartupHandler + 'static> PgWireServerHandlers for Handlers<S> {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.connection.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.connection.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The base session every connection starts from: tables, views, `pg_catalog` and the
/// compatibility functions.
async fn base_session(lake: &Lake) -> Result<(Arc<SessionContext>, Arc<Tables>)> {
    // DataFusion's own information_schema is off: the catalog's Postgres-speaking one answers.
    let base = Arc::new(SessionContext::new_with_config(
        SessionConfig::new().with_information_schema(false),
    ));
    let catalogs = base.state().catalog_list().clone();
    if let Some(catalog) = base.catalog("datafusion") {
        catalog
            .register_schema(
                "information_schema",
                Arc::new(info_schema::PgInformationSchema::new(catalogs)),
            )
            .map_err(|e| Error::Query(e.to_string()))?;
    }
    let tables = Arc::new(Tables::new(lake.clone(), base.clone()));
    tables.refresh().await?;
    setup_pg_catalog(&base, "datafusion", Arc::new(AuthManager::default()))
        .map_err(|e| Error::Query(e.to_string()))?;
    compat::register_functions(&base);
    Ok((base, tables))
}

/// Serve until the process ends. Binding and TLS errors are returned; the accept loop runs
/// in the background.
pub async fn serve(lake: Lake, settings: PgSettings) -> Result<()> {
    let (base, tables) = base_session(&lake).await?;
    tables.spawn_refresher(settings.refresh);
    let tls = match &settings.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| Error::Listen {
            addr: addr.clone(),
            source,
        })?;
    let users = settings.principals.users.clone();
    info!(%addr, users = users.len(), tls = tls.is_some(), "SQL endpoint (Postgres protocol)");
    let max_connections = settings.limits.max_connections.max(1);
    let shared = Arc::new(Shared {
        base,
        tables,
        guard: guard::Guard::new(settings.limits.clone()),
        principals: settings.principals.clone(),
        audit: settings.audit.clone(),
        pg_static: Arc::new(
            PgCatalogStaticTables::try_new().map_err(|e| Error::Query(e.to_string()))?,
        ),
    });
    tokio::spawn(accept_loop(listener, tls, shared, users, max_connections));
    Ok(())
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    users: Vec<SqlUser>,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "SQL endpoint: accept failed");
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!(%peer, max_connections, "SQL endpoint: connection refused, serve.sql_max_connections reached");
            drop(socket);
            continue;
        };
        let (shared, tls, users) = (shared.clone(), tls.clone(), users.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let connection = match Connection::new(shared) {
                Ok(c) => Arc::new(c),
                Err(e) => {
                    warn!(%peer, error = %e, "SQL endpoint: cannot set up a session");
                    return;
                }
            };
            let result = if users.is_empty() {
                let handlers = Arc::new(Handlers {
                    connection,
                    startup: Arc::new(Open),
                });
                process_socket(socket, tls, handlers).await
            } else {
                let startup = CleartextPasswordAuthStartupHandler::new(
                    UserPasswords(users),
                    DefaultServerParameterProvider::default(),
                );
                let handlers = Arc::new(Handlers {
                    connection,
                    startup: Arc::new(startup),
                });
                process_socket(socket, tls, handlers).await
            };
            if let Err(e) = result {
                warn!(%peer, error = %e, "SQL endpoint: connection ended with an error");
            }
        });
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
        let e = tls_acceptor(c, k).err().unwrap().to_string();
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
        let e = tls_acceptor(c, k).err().unwrap().to_string();
        assert!(
            e.contains("PKCS#8") && e.contains("serve.pg_tls_key"),
            "{e}"
        );
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        // Well-formed PEM around a key that is not one is refused too, naming both files.
        let e = tls_acceptor(c, k).err().unwrap().to_string();
        assert!(
            e.contains("do not make a TLS identity") && e.contains(k),
            "{e}"
        );
    }
}
