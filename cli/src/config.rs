//! `strata.toml`: typed, unknown keys rejected. Precedence: file < `STRATA_*` env < flags.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use strata_ingest::{IngestConfig, KafkaConfig, SimulateConfig};
use strata_orchestration::maintain::MaintainSettings;
use strata_pipelines::BearerTokens;
use strata_serve::pg::SqlUser;

/// The whole configuration of a Strata deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub project: ProjectConfig,
    pub lake: LakeConfig,
    pub kafka: KafkaConfig,
    pub ingest: IngestConfig,
    pub simulate: SimulateConfig,
    pub run: RunConfig,
    pub maintenance: MaintenanceConfig,
    pub quality: QualityConfig,
    pub serve: ServeConfig,
    pub log: LogConfig,
    pub alerts: AlertsConfig,
}

/// The pipeline project: the folder declaring events, tables, models and feature views.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectConfig {
    /// Project folder (`--project`, `STRATA_PROJECT`); unset: the built-in project.
    pub dir: Option<String>,
}

/// `strata serve`: the feature service and the SQL endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Feature service address (`--http`).
    pub http_addr: String,
    /// SQL endpoint address (`--pg`); empty turns it off.
    pub pg_addr: String,
    /// SQL endpoint credentials (cleartext password auth); unset: no authentication.
    pub pg_user: Option<String>,
    pub pg_password: Option<String>,
    /// SQL endpoint TLS: certificate chain and PKCS#8 key, PEM files; unset: no TLS.
    pub pg_tls_cert: Option<String>,
    pub pg_tls_key: Option<String>,
    /// Read the SQL endpoint password from this file (a mounted secret) instead;
    /// `STRATA_SERVE_PG_PASSWORD` overrides both.
    pub pg_password_file: Option<String>,
    /// Longest a SQL statement may run (ms); a client's `SET statement_timeout` may lower it.
    pub sql_statement_timeout_ms: u64,
    /// Memory one SQL connection's query may hold (MiB); sorts and joins spill past it, or
    /// fail with SQLSTATE 53200.
    pub sql_memory_mb: usize,
    /// SQL queries running at once; more wait, up to their statement timeout.
    pub sql_max_concurrent_queries: usize,
    /// SQL connections at once; more are refused.
    pub sql_max_connections: usize,
    /// Bearer tokens accepted by every HTTP surface (features, training sets, registry
    /// changes, dashboard API); empty: no authentication.
    pub tokens: Vec<String>,
    /// More tokens, one per line, from this file (a mounted secret); `STRATA_SERVE_TOKENS`
    /// (comma-separated) adds more.
    pub tokens_file: Option<String>,
    /// People and services with their role and credentials (SQL password, HTTP token).
    pub principals: principals::Principals,
    /// A request's headers must arrive within this (ms); slow clients are cut off.
    pub http_header_timeout_ms: u64,
    /// An HTTP connection with no traffic for this long is closed (ms).
    pub http_idle_timeout_ms: u64,
    /// A request, body and answer included, must finish within this (ms; 408 after).
    pub http_request_timeout_ms: u64,
    /// HTTP connections at once; past them (and a small reserve for health and metrics) a
    /// connection gets a 503 and is closed.
    pub http_max_connections: usize,
    /// Online store in Redis (`redis://host:port`) instead of memory (`--redis`).
    pub redis_url: Option<String>,
    /// Prefix of the online store's Redis keys; deployments sharing a Redis need different ones.
    pub redis_namespace: String,
    /// How often the online store checks the Gold tables for a new version (ms).
    pub refresh_ms: u64,
    pub max_body_bytes: usize,
    /// Entities per online request.
    pub max_entities: usize,
    /// Entity rows per training-set request.
    pub max_training_rows: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8080".into(),
            pg_addr: "127.0.0.1:5433".into(),
            pg_user: None,
            pg_password: None,
            pg_tls_cert: None,
            pg_tls_key: None,
            pg_password_file: None,
            sql_statement_timeout_ms: 60_000,
            sql_memory_mb: 512,
            sql_max_concurrent_queries: 4,
            sql_max_connections: 64,
            tokens: Vec::new(),
            tokens_file: None,
            principals: principals::Principals::new(),
            http_header_timeout_ms: 10_000,
            http_idle_timeout_ms: 60_000,
            http_request_timeout_ms: 300_000,
            http_max_connections: 1024,
            redis_url: None,
            redis_namespace: "strata".into(),
            refresh_ms: 1000,
            max_body_bytes: 256 * 1024 * 1024,
            max_entities: 1000,
            max_training_rows: 5_000_000,
        }
    }
}

impl ServeConfig {
    /// The limits of every HTTP server Strata runs (feature service, `strata run`'s metrics
    /// and dashboard, `strata ingest`'s metrics, the registry).
    pub fn http_limits(&self) -> strata_pipelines::http::HttpServerLimits {
        use std::time::Duration;
        strata_pipelines::http::HttpServerLimits {
            header_timeout: Duration::from_millis(self.http_header_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms.max(1)),
            request_timeout: Duration::from_millis(self.http_request_timeout_ms.max(1)),
            max_connections: self.http_max_connections.max(1),
            ..Default::default()
        }
    }

    /// Bearer tokens from the file, `tokens_file` and `STRATA_SERVE_TOKENS`.
    pub fn resolved_tokens(&self) -> Result<Vec<String>> {
        let mut tokens = self.tokens.clone();
        if let Some(path) = &self.tokens_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read serve.tokens_file {path}"))?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            );
        }
        if let Ok(env) = std::env::var("STRATA_SERVE_TOKENS") {
            tokens.extend(
                env.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from),
            );
        }
        Ok(tokens)
    }

    /// Every HTTP token with its principal: `tokens` (full access) and the principals'.
    pub fn http_tokens(&self, project: &strata_project::Project) -> Result<BearerTokens> {
        principals::bearer_tokens(&self.principals, project, self.resolved_tokens()?)
    }

    /// Every SQL user with its role: `pg_user` (full access) and the principals'.
    pub fn sql_users(&self, project: &strata_project::Project) -> Result<Vec<SqlUser>> {
        let mut users = match (&self.pg_user, self.resolved_pg_password()?) {
            (Some(u), Some(p)) => vec![SqlUser {
                name: u.clone(),
                password: p,
                role: strata_project::OPERATOR.to_string(),
            }],
            (None, None) => Vec::new(),
            _ => anyhow::bail!("invalid config: serve.pg_user and serve.pg_password go together"),
        };
        for u in principals::sql_users(&self.principals, project)? {
            if users.iter().any(|x| x.name == u.name) {
                anyhow::bail!(
                    "invalid config: serve.principals.{} is also serve.pg_user",
                    u.name
                );
            }
            users.push(u);
        }
        Ok(users)
    }

    /// The SQL endpoint password: `STRATA_SERVE_PG_PASSWORD`, else `pg_password_file`, else
    /// `pg_password`.
    pub fn resolved_pg_password(&self) -> Result<Option<String>> {
        if let Ok(p) = std::env::var("STRATA_SERVE_PG_PASSWORD") {
            return Ok(Some(p));
        }
        if let Some(path) = &self.pg_password_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read serve.pg_password_file {path}"))?;
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()));
        }
        Ok(self.pg_password.clone())
    }
}

/// Expectations added to the tables' declared ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    pub expectations: Vec<ConfiguredExpectation>,
}

/// `[[quality.expectations]]`: `table`, `name`, `check = { kind = ..., ... }`, `action`,
/// optional `max_failure_fraction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredExpectation {
    pub table: String,
    pub name: String,
    pub check: strata_quality::Check,
    pub action: strata_quality::Action,
    #[serde(default)]
    pub max_failure_fraction: Option<f64>,
}

impl QualityConfig {
    /// The expectations by table, refusing bad ones with the key named.
    pub fn expectations(
        &self,
    ) -> Result<Vec<(strata_pipelines::TableName, strata_quality::Expectation)>> {
        self.expectations
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let table = c.table.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "invalid config: quality.expectations[{i}].table '{}' is not layer.table",
                        c.table
                    )
                })?;
                let e = strata_quality::Expectation {
                    name: c.name.clone(),
                    check: c.check.clone(),
                    action: c.action,
                    max_failure_fraction: c.max_failure_fraction,
                };
                e.validate().map_err(|err| {
                    anyhow::anyhow!("invalid config: quality.expectations[{i}]: {err}")
                })?;
                Ok((table, e))
            })
            .collect()
    }
}

/// `strata run`: the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Pause between scheduler passes, in milliseconds.
    pub interval_ms: u64,
    /// A job runs at most this often, however often its inputs change, in milliseconds.
    pub min_interval_ms: u64,
    /// Attempts per job run for retryable failures, the first included.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// After a job exhausts its retries, wait this long before trying it again (seconds).
    pub failed_cooldown_s: u64,
    /// /metrics and /healthz of `strata run`; port 0 picks a free port (logged at start).
    pub metrics_addr: String,
    /// Freshness SLA of a job's output in seconds (`strata status`), unless listed in `sla_s`.
    pub default_sla_s: u64,
    /// Per-table freshness SLA in seconds, e.g. `{ "gold.agent_daily" = 120 }`.
    pub sla_s: BTreeMap<String, u64>,
    /// Memory a refinement query (one Silver or Gold job run, `run`, `replay`, backfills)
    /// may hold before its sorts, aggregations and joins spill to disk, in MiB; 0: unbounded.
    /// Bounded by default: unbounded, one Gold sort over a catch-up's largest day set the
    /// whole process's peak.
    pub memory_limit_mb: usize,
    /// Input rows a job refines per commit: the table's own events for a Silver job, input
    /// rows of the days recomputed for a Gold job. A replay or a catch-up after an outage then holds one
    /// chunk at a time and resumes after the last one committed; 0: a whole increment at once.
    pub chunk_rows: u64,
    /// Jobs a pass runs at once (each holds one chunk); 0: one per core.
    pub max_parallel_jobs: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            interval_ms: 500,
            min_interval_ms: 0,
            max_attempts: 4,
            initial_backoff_ms: 200,
            max_backoff_ms: 10_000,
            failed_cooldown_s: 60,
            metrics_addr: "127.0.0.1:0".into(),
            default_sla_s: 300,
            sla_s: BTreeMap::new(),
            memory_limit_mb: 512,
            chunk_rows: 250_000,
            max_parallel_jobs: 0,
        }
    }
}

/// Table maintenance, scheduled by `strata run` and on demand with `strata maintain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// How often `strata run` maintains every table, in seconds; 0 turns it off.
    pub interval_s: u64,
    /// Compaction's target file size in MiB.
    pub target_file_mb: u64,
    /// Compact a table once it has this many files below the target size.
    pub min_small_files: usize,
    /// Write a Delta checkpoint every this many commits.
    pub checkpoint_every: u64,
    /// Vacuum removes unreferenced files older than this (hours); below 168 needs --force.
    pub vacuum_retention_hours: u64,
    /// Days each table keeps: `"bronze.*" = 400`, `"_strata.audit" = 90`, `"*" = 730`; the
    /// most specific key wins. Unset: tables keep everything.
    pub retention_days: BTreeMap<String, u32>,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            interval_s: 3600,
            target_file_mb: 128,
            min_small_files: 8,
            checkpoint_every: 50,
            vacuum_retention_hours: 168,
            retention_days: BTreeMap::new(),
        }
    }
}

impl RunConfig {
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            anyhow::bail!("invalid config: run.max_attempts must be at least 1");
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            anyhow::bail!(
                "invalid config: run.initial_backoff_ms must not exceed run.max_backoff_ms"
            );
        }
        for table in self.sla_s.keys() {
            if table.parse::<strata_pipelines::TableName>().is_err() {
                anyhow::bail!(
                    "invalid config: run.sla_s key '{table}' is not a table name (layer.table)"
                );
            }
        }
        Ok(())
    }

    pub fn settings(&self) -> strata_orchestration::RunSettings {
        strata_orchestration::RunSettings {
            retry: strata_orchestration::RetryPolicy {
                max_attempts: self.max_attempts,
                initial_backoff: Duration::from_millis(self.initial_backoff_ms),
                max_backoff: Duration::from_millis(self.max_backoff_ms),
            },
            min_interval: Duration::from_millis(self.min_interval_ms),
            failed_cooldown: Duration::from_secs(self.failed_cooldown_s),
            record_runs: true,
            max_parallel_jobs: match self.max_parallel_jobs {
                0 => strata_orchestration::default_parallel_jobs(),
                n => n,
            },
        }
    }
}

impl MaintenanceConfig {
    pub fn validate(&self) -> Result<()> {
        if self.target_file_mb == 0 {
            anyhow::bail!("invalid config: maintenance.target_file_mb must be at least 1");
        }
        if self.checkpoint_every == 0 {
            anyhow::bail!("invalid config: maintenance.checkpoint_every must be at least 1");
        }
        self.retention()?;
        Ok(())
    }

    fn retention(&self) -> Result<strata_orchestration::retention::Retention> {
        strata_orchestration::retention::Retention::new(
            self.retention_days.iter().map(|(k, v)| (k.clone(), *v)),
        )
        .map_err(|e| anyhow::anyhow!("invalid config: {e}"))
    }

    pub fn settings(&self) -> MaintainSettings {
        MaintainSettings {
            retention: self.retention().unwrap_or_default(),
            target_file_bytes: self.target_file_mb * 1024 * 1024,
            min_small_files: self.min_small_files,
            checkpoint_every: self.checkpoint_every,
            vacuum_retention: Duration::from_secs(self.vacuum_retention_hours * 3600),
            ..MaintainSettings::default()
        }
    }
}

/// Where the tables live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Local directory or object-store URI (`s3://bucket/prefix`).
    pub uri: String,
    /// S3 and S3-compatible stores. Credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, profiles, instance
    /// roles), never from this file.
    pub s3: S3Config,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            uri: "./lake".into(),
            s3: S3Config::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint of an S3-compatible store (MinIO, Ceph, R2, ...); unset: AWS.
    pub endpoint: Option<String>,
    /// Region; unset: `AWS_REGION` or the SDK's default.
    pub region: Option<String>,
    /// Allow `http://` endpoints (tests, private networks).
    pub allow_http: bool,
}

impl LakeConfig {
    pub fn validate(&self) -> Result<()> {
        if let Some(e) = &self.s3.endpoint {
            let url = url::Url::parse(e)
                .map_err(|err| anyhow::anyhow!("invalid config: lake.s3.endpoint '{e}': {err}"))?;
            if url.scheme() == "http" && !self.s3.allow_http {
                anyhow::bail!(
                    "invalid config: lake.s3.endpoint '{e}' is plain http; set lake.s3.allow_http = true to allow it"
                );
            }
        }
        Ok(())
    }

    /// delta-rs storage options for the lake; empty for a local one.
    pub fn storage_options(&self) -> std::collections::HashMap<String, String> {
        let mut out = std::collections::HashMap::new();
        if let Some(e) = &self.s3.endpoint {
            out.insert("aws_endpoint".into(), e.clone());
        }
        if let Some(r) = &self.s3.region {
            out.insert("aws_region".into(), r.clone());
        }
        if self.s3.allow_http {
            out.insert("aws_allow_http".into(), "true".into());
        }
        out
    }
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `strata_ingest=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Config {
    /// Parse a config text; errors name the offending key and line.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("invalid config {origin}: {e}"))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }
}

mod alerts;
pub mod principals;
pub use alerts::AlertsConfig;

#[cfg(test)]
mod tests;
