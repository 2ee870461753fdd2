//! `strata.toml`: typed, unknown keys rejected. Precedence: file < `STRATA_*` env < flags.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use strata_ingest::{IngestConfig, KafkaConfig, SimulateConfig};
use strata_orchestration::maintain::MaintainSettings;

/// The whole configuration of a Strata deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub lake: LakeConfig,
    pub kafka: KafkaConfig,
    pub ingest: IngestConfig,
    pub simulate: SimulateConfig,
    pub run: RunConfig,
    pub maintenance: MaintenanceConfig,
    pub quality: QualityConfig,
    pub serve: ServeConfig,
    pub log: LogConfig,
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
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            interval_s: 3600,
            target_file_mb: 128,
            min_small_files: 8,
            checkpoint_every: 50,
            vacuum_retention_hours: 168,
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
        Ok(())
    }

    pub fn settings(&self) -> MaintainSettings {
        MaintainSettings {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata.example.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.kafka.topics, ["agent-events", "gameplay-events"]);
        config.kafka.validate().unwrap();
        config.ingest.validate().unwrap();
        config.simulate.validate().unwrap();
        config.run.validate().unwrap();
        config.maintenance.validate().unwrap();
        // It says "these are the defaults": it must be.
        assert_eq!(config, Config::default());
    }

    #[test]
    fn s3_settings_are_checked_and_become_storage_options() {
        let c = Config::parse(
            "[lake]\nuri = \"s3://b/p\"\n[lake.s3]\nendpoint = \"http://127.0.0.1:9000\"\n",
            "t",
        )
        .unwrap();
        let e = c.lake.validate().unwrap_err().to_string();
        assert!(e.contains("lake.s3.allow_http"), "{e}");
        let c = Config::parse(
            "[lake.s3]\nendpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\nallow_http = true\n",
            "t",
        )
        .unwrap();
        c.lake.validate().unwrap();
        let o = c.lake.storage_options();
        assert_eq!(o["aws_endpoint"], "http://127.0.0.1:9000");
        assert_eq!(o["aws_region"], "eu-west-1");
        assert_eq!(o["aws_allow_http"], "true");
        let e = Config::parse("[lake.s3]\nendpoint = \"not a url\"\n", "t")
            .unwrap()
            .lake
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("lake.s3.endpoint"), "{e}");
        assert!(Config::parse("[lake.s3]\nbucket = \"x\"\n", "t").is_err());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Config::parse("[kafka]\nbrokerz = \"x:1\"\n", "test.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("brokerz"), "{err}");
        let err = Config::parse("[ingest.batch]\nmax_recs = 5\n", "test.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_recs"), "{err}");
    }

    #[test]
    fn bad_expectations_are_refused_naming_the_key() {
        let c = Config::parse(
            "[[quality.expectations]]\ntable = \"silver\"\nname = \"x\"\naction = \"warn\"\ncheck = { kind = \"not_null\", column = \"a\" }\n",
            "t",
        )
        .unwrap();
        let e = c.quality.expectations().unwrap_err().to_string();
        assert!(e.contains("quality.expectations[0].table"), "{e}");
        let e = Config::parse(
            "[[quality.expectations]]\ntable = \"silver.a\"\nname = \"x\"\naction = \"warn\"\ncheck = { kind = \"not_nul\", column = \"a\" }\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not_nul"), "{e}");
    }

    fn doc_section_cells(doc: &str, heading_prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut inside = false;
        for line in doc.lines() {
            if line.starts_with("## ") {
                inside = line.starts_with(heading_prefix);
                continue;
            }
            if inside && line.starts_with("| `") {
                let cell = line.split('|').nth(1).unwrap_or("");
                for part in cell.split('`').skip(1).step_by(2) {
                    out.push(part.split('{').next().unwrap_or(part).to_string());
                }
            }
        }
        out
    }

    fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&key, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    /// docs/operations.md lists every config key and every metric, and nothing else.
    #[test]
    fn operations_doc_matches_the_config_keys_and_metrics() {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md"),
        )
        .unwrap();
        let documented = doc_section_cells(&doc, "## Configuration");
        let mut keys = Vec::new();
        leaves(
            "",
            &serde_json::to_value(Config::default()).unwrap(),
            &mut keys,
        );
        let covers = |d: &str, k: &str| {
            d == k
                || d.strip_suffix(".*")
                    .is_some_and(|p| k.starts_with(&format!("{p}.")))
        };
        for k in &keys {
            assert!(
                documented.iter().any(|d| covers(d, k)),
                "config key {k} is not in docs/operations.md"
            );
        }
        for d in &documented {
            assert!(
                keys.iter().any(|k| covers(d, k)),
                "docs/operations.md lists {d}, which is not a config key"
            );
        }

        let documented: std::collections::BTreeSet<String> =
            doc_section_cells(&doc, "## Metrics").into_iter().collect();
        let rendered = exercised_metrics();
        let exported: std::collections::BTreeSet<String> = rendered
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        assert_eq!(
            documented, exported,
            "metrics in docs/operations.md vs /metrics"
        );

        // The Grafana dashboard and the alert rules name only exported metrics, and the
        // dashboard shows every one.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        for (file, covers_all) in [
            ("grafana/strata.json", true),
            ("prometheus/strata-alerts.yml", false),
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let used = metric_names(&text);
            for m in &used {
                assert!(
                    exported.contains(m),
                    "deploy/{file} uses {m}, which Strata does not export"
                );
            }
            if covers_all {
                let missing: Vec<_> = exported.difference(&used).collect();
                assert!(
                    missing.is_empty(),
                    "deploy/{file} does not show {missing:?}"
                );
            }
        }
    }

    /// `strata_*` metric names in a text, with `_sum`/`_count`/`_bucket` folded into their
    /// histogram.
    fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("strata_"))
            .map(|w| {
                w.strip_suffix("_sum")
                    .or_else(|| w.strip_suffix("_count"))
                    .or_else(|| w.strip_suffix("_bucket"))
                    .unwrap_or(w)
                    .to_string()
            })
            .collect()
    }

    /// Every metric family, each with at least one sample (labelled families appear in the
    /// exposition only once they have a label set).
    fn exercised_metrics() -> String {
        use strata_orchestration::runs::{RunRecord, RunStatus};
        let ingest = strata_ingest::Metrics::default();
        ingest.set_lag("t", 0, 1);
        let run = strata_orchestration::RunMetrics::default();
        run.pass();
        run.retry("silver.missions");
        run.set_freshness("silver.missions", 0.0);
        run.maintenance("silver.missions", "compact");
        run.untyped("silver.missions", &[("duration_s".into(), 1)]);
        let now = chrono::Utc::now();
        run.record(
            &RunRecord {
                run_id: "r".into(),
                job: "silver.missions".into(),
                started_at: now,
                ended_at: now,
                status: RunStatus::Succeeded,
                attempts: 1,
                input_versions: Vec::new(),
                output_version: Some(1),
                rows_in: 1,
                rows_out: 1,
                error: None,
            },
            "silver.missions",
        );
        let serve = strata_serve::metrics::ServeMetrics::default();
        serve.request("online", 200, 10);
        [
            ingest.render(),
            run.render(),
            serve.render(&[("player_features", Some(3))]),
        ]
        .join("")
    }

    /// Every `STRATA_*` variable the binary reads is in docs/operations.md.
    #[test]
    fn every_environment_variable_is_documented() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let doc = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
        let mut sources = vec![root.join("cli/src")];
        let mut read = Vec::new();
        while let Some(dir) = sources.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    sources.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for part in text.split("\"STRATA_").skip(1) {
                        let name: String = part
                            .chars()
                            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                            .collect();
                        if part[name.len()..].starts_with('"') && !name.is_empty() {
                            read.push(format!("STRATA_{name}"));
                        }
                    }
                }
            }
        }
        assert!(read.len() > 10, "{read:?}");
        for v in read {
            assert!(
                doc.contains(&format!("`{v}`")),
                "{v} is not in docs/operations.md"
            );
        }
    }

    /// Secrets can live in files (mounted secrets) instead of strata.toml.
    #[test]
    fn tokens_and_password_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        let password = dir.path().join("pg-password");
        std::fs::write(&tokens, "from-file-1\n\n  from-file-2  \n").unwrap();
        std::fs::write(&password, "s3cret pass\n").unwrap();
        let c = Config::parse(
            &format!(
                "[serve]\ntokens = [\"inline\"]\ntokens_file = \"{}\"\npg_password_file = \"{}\"\n",
                tokens.display(),
                password.display()
            ),
            "t",
        )
        .unwrap();
        let got = c.serve.resolved_tokens().unwrap();
        for t in ["inline", "from-file-1", "from-file-2"] {
            assert!(got.iter().any(|g| g == t), "{got:?}");
        }
        if std::env::var_os("STRATA_SERVE_PG_PASSWORD").is_none() {
            assert_eq!(
                c.serve.resolved_pg_password().unwrap().as_deref(),
                Some("s3cret pass")
            );
        }
        let missing =
            Config::parse("[serve]\ntokens_file = \"/nonexistent/tokens\"\n", "t").unwrap();
        let e = format!("{:#}", missing.serve.resolved_tokens().unwrap_err());
        assert!(e.contains("serve.tokens_file"), "{e}");
    }

    #[test]
    fn empty_config_is_the_defaults() {
        assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
    }
}
