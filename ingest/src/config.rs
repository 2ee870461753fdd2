use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where events come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// Topics to consume; several topics land in the one Bronze table.
    pub topics: Vec<String>,
    /// Consumer group id; also the prefix of the Delta appIds holding offsets.
    pub group: String,
    /// Extra librdkafka properties for every client (e.g. `"session.timeout.ms" = "10000"`,
    /// `"security.protocol" = "SASL_SSL"`, `"ssl.ca.location" = "/etc/kafka/ca.pem"`).
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets, read from an environment variable or a
    /// file: `"sasl.password" = { file = "/run/secrets/kafka" }` or `{ env = "KAFKA_PASSWORD" }`.
    pub secrets: BTreeMap<String, crate::client::SecretSource>,
    /// Confluent-compatible schema registry for values in Confluent wire format (magic byte
    /// + schema id), e.g. `http://127.0.0.1:8081` or Strata's own (`strata registry`).
    pub schema_registry_url: Option<String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topics: vec!["agent-events".into(), "gameplay-events".into()],
            group: "strata-ingest".into(),
            properties: BTreeMap::new(),
            secrets: BTreeMap::new(),
            schema_registry_url: None,
        }
    }
}

impl KafkaConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, message: &str| {
            Err(Error::Config {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.brokers.trim().is_empty() {
            return bad("kafka.brokers", "must not be empty");
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            return bad("kafka.topics", "needs at least one non-empty topic name");
        }
        if self.group.trim().is_empty() || self.group.contains(char::is_whitespace) {
            return bad("kafka.group", "must be a non-empty id without spaces");
        }
        if let Some(k) = self
            .secrets
            .keys()
            .find(|k| self.properties.contains_key(*k))
        {
            return bad(
                &format!("kafka.properties.\"{k}\""),
                "is also in kafka.secrets; keep a secret only there",
            );
        }
        // Secrets are read now, so a missing file or variable stops the start, by name.
        self.client_config()?;
        if let Some(u) = &self.schema_registry_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return bad(
                "kafka.schema_registry_url",
                "must be an http:// or https:// URL",
            );
        }
        Ok(())
    }
}

/// When a batch is committed to Bronze: whichever limit is reached first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Records per Delta commit.
    pub max_records: usize,
    /// Bytes (keys + values + headers) per Delta commit.
    pub max_bytes: usize,
    /// Longest a record waits in memory before its batch is committed, in milliseconds.
    pub max_wait_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_records: 50_000,
            max_bytes: 8 * 1024 * 1024,
            max_wait_ms: 1_000,
        }
    }
}

/// How ingest batches, validates and reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub batch: BatchConfig,
    /// Values larger than this are kept as invalid (`oversize`) rows.
    pub max_value_bytes: usize,
    /// Address of the `/metrics` and `/healthz` endpoint; port 0 picks a free port.
    pub metrics_addr: String,
    /// Events whose occurred_at is more than this many days before ingest time are invalid
    /// (`implausible_time`).
    pub event_time_past_days: u64,
    /// Events whose occurred_at is more than this many days after ingest time are invalid.
    pub event_time_future_days: u64,
    /// A group that never wrote partitions Bronze already holds (a renamed group): refuse,
    /// or start from `bronze` (after what it holds), `beginning` or `latest`.
    pub start_from: crate::start::StartFrom,
    /// `--until-caught-up` gives up (exit code 1, saying what it could not read or write)
    /// after this many seconds without being caught up.
    pub caught_up_timeout_s: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            batch: BatchConfig::default(),
            max_value_bytes: 1024 * 1024,
            metrics_addr: "127.0.0.1:0".into(),
            caught_up_timeout_s: 600,
            event_time_past_days: 7300,
            event_time_future_days: 7,
            start_from: crate::start::StartFrom::Refuse,
        }
    }
}

impl IngestConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, message: &str| {
            Err(Error::Config {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.batch.max_records == 0 {
            return bad("ingest.batch.max_records", "must be at least 1");
        }
        if self.batch.max_bytes < 1024 {
            return bad("ingest.batch.max_bytes", "must be at least 1024");
        }
        if self.batch.max_wait_ms == 0 {
            return bad("ingest.batch.max_wait_ms", "must be at least 1");
        }
        if self.max_value_bytes == 0 {
            return bad("ingest.max_value_bytes", "must be at least 1");
        }
        Ok(())
    }
}

/// The event simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulateConfig {
    /// Events to produce; unset runs until stopped.
    pub count: Option<u64>,
    /// Events per second; unset produces as fast as the broker takes them.
    pub rate: Option<f64>,
    pub players: u32,
    pub agents: u32,
    pub tenants: u32,
    pub seed: u64,
    /// Fraction of events re-sent with the same event_id.
    pub duplicate_fraction: f64,
    /// Fraction of events whose occurred_at is hours in the past.
    pub late_fraction: f64,
    /// Fraction of records that are invalid (bad JSON, bad UTF-8, unknown type, missing
    /// event_id, schema violations, tombstones, and oversize when `oversize_bytes` is set).
    pub malformed_fraction: f64,
    /// Size of oversize records; unset means none are produced.
    pub oversize_bytes: Option<usize>,
    /// Partitions of topics the simulator creates when they are missing.
    pub partitions: i32,
    /// Start the event clock this many days before now (back-filled history).
    pub backdate_days: f64,
}

impl Default for SimulateConfig {
    fn default() -> Self {
        Self {
            count: None,
            rate: None,
            players: 1_000,
            agents: 50,
            tenants: 5,
            seed: 42,
            duplicate_fraction: 0.0,
            late_fraction: 0.0,
            malformed_fraction: 0.0,
            oversize_bytes: None,
            partitions: 4,
            backdate_days: 0.0,
        }
    }
}

impl SimulateConfig {
    pub fn validate(&self) -> Result<()> {
        let frac = |key: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::Config {
                    key: key.into(),
                    message: format!("{v} is not a fraction between 0 and 1"),
                })
            }
        };
        frac("simulate.duplicate_fraction", self.duplicate_fraction)?;
        frac("simulate.late_fraction", self.late_fraction)?;
        frac("simulate.malformed_fraction", self.malformed_fraction)?;
        if self.players == 0 || self.agents == 0 || self.tenants == 0 {
            return Err(Error::Config {
                key: "simulate.players/agents/tenants".into(),
                message: "must be at least 1".into(),
            });
        }
        if self.rate.is_some_and(|r| r <= 0.0 || !r.is_finite()) {
            return Err(Error::Config {
                key: "simulate.rate".into(),
                message: "must be a positive number of events per second".into(),
            });
        }
        if !(0.0..=3650.0).contains(&self.backdate_days) {
            return Err(Error::Config {
                key: "simulate.backdate_days".into(),
                message: format!("{} is not between 0 and 3650 days", self.backdate_days),
            });
        }
        if self.partitions < 1 {
            return Err(Error::Config {
                key: "simulate.partitions".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}
