use anyhow::Result;
use clap::Args;
use tracing::info;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Address of the Confluent-compatible REST API (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8081", env = "STRATA_REGISTRY_ADDR")]
    http: String,
}

/// Serve the schema registry (backed by the lake) until SIGINT/SIGTERM.
pub async fn run(args: RegistryArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.ensure_root()?;
    let registry =
        strata_registry::Registry::open(lake.clone(), super::project(&config)?.schema_catalog())
            .await?;
    let audit = strata_pipelines::AuditLog::start(lake, super::AUDIT_FLUSH);
    registry.ensure_declared().await?;
    let listener = tokio::net::TcpListener::bind(&args.http)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.http))?;
    let addr = listener.local_addr()?;
    info!(%addr, "schema registry on http://{addr}");
    println!("schema registry on http://{addr}");
    let tokens = config
        .serve
        .http_tokens(super::project(&config)?.as_ref())?;
    let server = strata_pipelines::http::serve(
        listener,
        strata_registry::http::router(registry, tokens, Some(audit.clone())),
        config.serve.http_limits(),
    );
    tokio::select! {
        () = server => {}
        () = super::shutdown_signal() => {}
    }
    audit.flush().await;
    Ok(())
}
