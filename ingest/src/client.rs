//! Every Kafka client Strata makes (the group consumer, topic checks and creation, lag
//! look-ups, the simulator's and benchmarks' producers) is built here, from `kafka.brokers`,
//! `kafka.properties` and `kafka.secrets`: TLS and SASL settings reach all of them, and a
//! failed handshake or login is reported with librdkafka's own reason.

use std::sync::Mutex;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

use crate::config::KafkaConfig;
use crate::{Error, Result};

impl KafkaConfig {
    /// librdkafka settings for any client of these brokers: the bootstrap servers, every
    /// `kafka.properties` entry and every secret read from its environment variable or file.
    pub fn client_config(&self) -> Result<ClientConfig> {
        let mut c = ClientConfig::new();
        // rdkafka derives the level from the `log` crate, which Strata does not configure
        // (it logs with tracing): without this, librdkafka's reasons are never emitted.
        c.set_log_level(RDKafkaLogLevel::Warning);
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        for (k, source) in &self.secrets {
            c.set(k, source.read(&format!("kafka.secrets.\"{k}\""))?);
        }
        Ok(c)
    }
}

/// A client context that keeps the last error librdkafka reported about the connection
/// (an SSL handshake failure, a SASL authentication failure), so that a timeout can say why.
#[derive(Debug, Default)]
pub struct Reporting {
    last: Mutex<Option<String>>,
}

impl Reporting {
    /// The last connection error librdkafka reported, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `Unreachable`, with the reason librdkafka gave when it has one.
    pub fn unreachable(&self, brokers: &str, source: KafkaError) -> Error {
        Error::Unreachable {
            brokers: brokers.into(),
            source: Box::new(source),
            reason: self
                .last_error()
                .map(|r| format!("; the broker connection failed: {r}"))
                .unwrap_or_default()
                .into(),
        }
    }
}

impl Reporting {
    fn keep(&self, reason: &str) {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason.to_string());
    }
}

impl ClientContext for Reporting {
    // librdkafka logs a failed handshake or login from its own threads at once; errors reach
    // `error` only when the client is polled, which a metadata look-up does not do.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_to_tracing(level, fac, message);
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            self.keep(message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
        // "1/1 brokers are down" follows every failed connection: keep the reason before it.
        if error.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown)
            || self.last_error().is_none()
        {
            self.keep(reason);
        }
    }
}

/// librdkafka's log lines as structured `tracing` events.
pub fn log_to_tracing(level: RDKafkaLogLevel, fac: &str, message: &str) {
    use RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => {
            tracing::error!(target: "librdkafka", fac, message);
        }
        L::Warning => tracing::warn!(target: "librdkafka", fac, message),
        L::Notice | L::Info => tracing::info!(target: "librdkafka", fac, message),
        L::Debug => tracing::debug!(target: "librdkafka", fac, message),
    }
}

impl ConsumerContext for Reporting {}

/// Where a secret property's value comes from: an environment variable or a file (a mounted
/// Kubernetes secret). Never the configuration file itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SecretSource {
    Env(String),
    File(std::path::PathBuf),
}

impl SecretSource {
    /// The secret's value (a file's trailing newline removed); `key` names the setting in
    /// errors.
    pub fn read(&self, key: &str) -> Result<String> {
        let bad = |message: String| Error::Config {
            key: key.to_string(),
            message,
        };
        match self {
            SecretSource::Env(name) => std::env::var(name)
                .map_err(|_| bad(format!("environment variable {name} is not set"))),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_and_secrets_reach_the_client_config() {
        let file = std::env::temp_dir().join(format!("strata-secret-{}", std::process::id()));
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut k = KafkaConfig::default();
        k.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        k.secrets
            .insert("sasl.password".into(), SecretSource::File(file.clone()));
        let c = k.client_config().unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(c.get("sasl.password"), Some("s3cret"));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:9092"));

        k.secrets.insert(
            "sasl.password".into(),
            SecretSource::Env("STRATA_TEST_SURELY_UNSET_VARIABLE".into()),
        );
        let e = k.client_config().unwrap_err().to_string();
        assert!(e.contains("kafka.secrets.\"sasl.password\""), "{e}");
        assert!(e.contains("STRATA_TEST_SURELY_UNSET_VARIABLE"), "{e}");
    }
}
