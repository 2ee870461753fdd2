//! `strata.toml`: typed, unknown keys rejected. Precedence: file < `STRATA_*` env < flags.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use strata_ingest::{IngestConfig, KafkaConfig, SimulateConfig};

/// The whole configuration of a Strata deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub lake: LakeConfig,
    pub kafka: KafkaConfig,
    pub ingest: IngestConfig,
    pub simulate: SimulateConfig,
    pub log: LogConfig,
}

/// Where the tables live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Local directory or object-store URI (`s3://bucket/prefix`).
    pub uri: String,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            uri: "./lake".into(),
        }
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
    fn empty_config_is_the_defaults() {
        assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
    }
}
