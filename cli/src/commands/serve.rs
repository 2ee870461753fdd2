use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use strata_serve::OnlineStore;
use strata_serve::http::{AppState, HttpSettings, router};
use strata_serve::metrics::ServeMetrics;
use strata_serve::pg::PgSettings;
use strata_serve::training::TrainingSets;
use tracing::info;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Feature service address (port 0: any free port).
    #[arg(long, env = "STRATA_SERVE_HTTP")]
    http: Option<String>,
    /// SQL endpoint (Postgres protocol) address.
    #[arg(long, env = "STRATA_SERVE_PG")]
    pg: Option<String>,
    /// Keep the online store in Redis (redis://host:port) instead of memory.
    #[arg(long, env = "STRATA_SERVE_REDIS")]
    redis: Option<String>,
}

fn split_addr(addr: &str, key: &str) -> Result<(String, u16)> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        bail!("invalid {key} '{addr}': expected host:port");
    };
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid {key} '{addr}': the port is not a number"))?;
    Ok((host.to_string(), port))
}

/// Addresses of running services.
#[derive(Debug)]
pub struct Running {
    pub http: std::net::SocketAddr,
    pub pg: Option<(String, u16)>,
    /// Flushed before the process exits, so no access goes unrecorded.
    pub audit: strata_pipelines::AuditLog,
}

/// Start the feature service and the SQL endpoint in the background.
pub async fn start(
    lake: strata_pipelines::Lake,
    project: Arc<strata_project::Project>,
    s: &crate::config::ServeConfig,
) -> Result<Running> {
    // Principals are checked before anything starts: a bad role or secret is refused.
    let tokens = s.http_tokens(&project)?;
    let sql_users = s.sql_users(&project)?;
    let views = project.views.clone();
    let audit = strata_pipelines::AuditLog::start(lake.clone(), super::AUDIT_FLUSH);
    let store = match &s.redis_url {
        Some(url) => {
            let ns = &s.redis_namespace;
            if ns.is_empty()
                || !ns
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                bail!(
                    "invalid config: serve.redis_namespace '{ns}' must be non-empty letters, digits, '_', '-' or '.'"
                );
            }
            OnlineStore::redis(lake.clone(), views, url, ns).await?
        }
        None => OnlineStore::memory(lake.clone(), views).await?,
    };
    store.spawn_refresher(Duration::from_millis(s.refresh_ms.max(50)));
    let state = Arc::new(AppState {
        lake: lake.clone(),
        project: project.clone(),
        store: store.clone(),
        training: Arc::new(TrainingSets::new(lake.clone())),
        settings: HttpSettings {
            tokens,
            max_body_bytes: s.max_body_bytes,
            max_entities: s.max_entities,
            max_training_rows: s.max_training_rows,
        },
        metrics: Arc::new(ServeMetrics::default()),
        audit: Some(audit.clone()),
    });
    let listener = tokio::net::TcpListener::bind(&s.http_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on serve.http_addr {}: {e}", s.http_addr))?;
    let http = listener.local_addr()?;
    let mut pg = None;
    if !s.pg_addr.is_empty() {
        let (host, mut port) = split_addr(&s.pg_addr, "serve.pg_addr")?;
        if port == 0 {
            port = std::net::TcpListener::bind((host.as_str(), 0))?
                .local_addr()?
                .port();
        }
        let principals = strata_serve::pg::Principals {
            project: project.clone(),
            users: sql_users,
        };
        let tls = match (&s.pg_tls_cert, &s.pg_tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => bail!("invalid config: serve.pg_tls_cert and serve.pg_tls_key go together"),
        };
        strata_serve::pg::serve(
            lake.clone(),
            PgSettings {
                host: host.clone(),
                port,
                principals,
                tls,
                limits: strata_serve::pg::SqlLimits {
                    statement_timeout: Duration::from_millis(s.sql_statement_timeout_ms.max(1)),
                    memory_bytes: s.sql_memory_mb.max(16) << 20,
                    max_concurrent: s.sql_max_concurrent_queries.max(1),
                    max_connections: s.sql_max_connections.max(1),
                },
                refresh: Duration::from_millis(s.refresh_ms.clamp(100, 1000)),
                audit: Some(audit.clone()),
            },
        )
        .await?;
        pg = Some((host, port));
    }
    info!(%http, backend = store.backend_name(), "feature service");
    tokio::spawn(strata_pipelines::http::serve(
        listener,
        router(state),
        s.http_limits(),
    ));
    Ok(Running { http, pg, audit })
}

/// The feature service and the SQL endpoint, until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs, mut config: Config) -> Result<()> {
    if let Some(a) = args.http {
        config.serve.http_addr = a;
    }
    if let Some(a) = args.pg {
        config.serve.pg_addr = a;
    }
    if let Some(r) = args.redis {
        config.serve.redis_url = Some(r);
    }
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    let running = start(lake, super::project(&config)?, &config.serve).await?;
    if let Some((host, port)) = &running.pg {
        println!("sql: psql -h {host} -p {port} -c \"SELECT * FROM gold.player_features LIMIT 5\"");
    }
    let http = running.http;
    println!("features: http://{http} (OpenAPI: http://{http}/openapi.json)");
    super::shutdown_signal().await;
    running.audit.flush().await;
    Ok(())
}
