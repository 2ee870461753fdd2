//! Broker checks and topic management.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::client::Reporting;
use crate::{Error, KafkaConfig, Result};

/// How long to wait for a broker before calling it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Metadata look-ups that time out without a connection error are tried this many times.
const METADATA_ATTEMPTS: u32 = 3;

/// A consumer for metadata and watermark look-ups.
fn lookup_client(kafka: &KafkaConfig) -> Result<BaseConsumer<Reporting>> {
    kafka
        .client_config()?
        .set("allow.auto.create.topics", "false")
        .create_with_context(Reporting::default())
        .map_err(Error::Client)
}

/// `Unreachable`, with what librdkafka said about the connection. Its logs and errors wait in
/// the client's queue (rdkafka routes them there); polling hands them to the context.
fn unreachable(
    consumer: &BaseConsumer<Reporting>,
    brokers: &str,
    source: rdkafka::error::KafkaError,
) -> Error {
    for _ in 0..20 {
        if consumer.poll(Duration::from_millis(10)).is_none()
            && consumer.context().last_error().is_some()
        {
            break;
        }
    }
    consumer.context().unreachable(brokers, source)
}

/// Topic name -> partition count, as the broker reports it. Fails clearly when no broker
/// answers, with the TLS or SASL error when that is why.
pub fn topic_partitions(
    kafka: &KafkaConfig,
    topics: &[String],
) -> Result<Vec<(String, Option<usize>)>> {
    let consumer = lookup_client(kafka)?;
    let mut attempt = 0;
    let metadata = loop {
        attempt += 1;
        match tokio::task::block_in_place(|| consumer.fetch_metadata(None, CONNECT_TIMEOUT)) {
            Ok(m) => break m,
            Err(source) => {
                let e = unreachable(&consumer, &kafka.brokers, source);
                // A slow broker (a busy machine) gets more time; a refused handshake or
                // login does not.
                let slow = matches!(&e, Error::Unreachable { source, reason, .. }
                    if reason.is_empty()
                        && source.rdkafka_error_code() == Some(RDKafkaErrorCode::OperationTimedOut));
                if !slow || attempt >= METADATA_ATTEMPTS {
                    return Err(e);
                }
                tracing::warn!(attempt, brokers = %kafka.brokers, "no metadata from the brokers yet; asking again");
            }
        }
    };
    Ok(topics
        .iter()
        .map(|t| {
            let found = metadata
                .topics()
                .iter()
                .find(|m| m.name() == t && m.error().is_none())
                .map(|m| m.partitions().len());
            (t.clone(), found)
        })
        .collect())
}

/// Every partition of the topics (partitions numbered from 0, as Kafka does).
pub fn partitions_of(
    kafka: &KafkaConfig,
    topics: &[String],
) -> Result<Vec<strata_bronze::PartitionKey>> {
    Ok(topic_partitions(kafka, topics)?
        .into_iter()
        .flat_map(|(topic, n)| {
            (0..n.unwrap_or(0)).map(move |p| {
                strata_bronze::PartitionKey::new(&topic, i32::try_from(p).unwrap_or(i32::MAX))
            })
        })
        .collect())
}

/// Fail unless every topic exists.
pub fn require_topics(kafka: &KafkaConfig, topics: &[String]) -> Result<()> {
    for (topic, parts) in topic_partitions(kafka, topics)? {
        if parts.is_none() {
            return Err(Error::MissingTopic {
                topic,
                brokers: kafka.brokers.clone(),
            });
        }
    }
    Ok(())
}

/// Create the topics that are missing, with `partitions` partitions each.
pub async fn ensure_topics(kafka: &KafkaConfig, topics: &[String], partitions: i32) -> Result<()> {
    let missing: Vec<String> = topic_partitions(kafka, topics)?
        .into_iter()
        .filter(|(_, p)| p.is_none())
        .map(|(t, _)| t)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<Reporting> = kafka
        .client_config()?
        .create_with_context(Reporting::default())
        .map_err(Error::Client)?;
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
    let results = admin
        .create_topics(new.iter(), &opts)
        .await
        .map_err(|e| Error::CreateTopic {
            topic: missing.join(","),
            message: e.to_string(),
        })?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::CreateTopic {
                    topic,
                    message: code.to_string(),
                });
            }
        }
    }
    // Metadata propagates asynchronously; wait until every topic is visible.
    for _ in 0..50 {
        if topic_partitions(kafka, topics)?
            .iter()
            .all(|(_, p)| p.is_some())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::CreateTopic {
        topic: missing.join(","),
        message: "created but not visible in metadata after 5 s".into(),
    })
}

/// One partition's position: the broker's end offset against what Bronze holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Next offset the broker will assign.
    pub end_offset: i64,
    /// Last offset stored in `bronze.events` for this consumer group.
    pub stored_offset: Option<i64>,
    /// Records in the partition not yet in Bronze.
    pub lag: i64,
}

/// Lag of every partition of `topics` for `group`, from the broker's watermarks and the
/// offsets stored in `bronze.events`.
pub async fn partition_lag(
    lake: &strata_pipelines::Lake,
    kafka: &KafkaConfig,
    topics: &[String],
    group: &str,
) -> Result<Vec<PartitionLag>> {
    use strata_bronze::{PartitionKey, events_table, offset_app_id};
    let parts = topic_partitions(kafka, topics)?;
    let consumer = lookup_client(kafka)?;
    let bronze = lake.open(&events_table()).await?;
    let mut out = Vec::new();
    for (topic, n) in parts {
        for partition in 0..i32::try_from(n.unwrap_or(0)).unwrap_or(0) {
            let (low, high) = tokio::task::block_in_place(|| {
                consumer.fetch_watermarks(&topic, partition, CONNECT_TIMEOUT)
            })
            .map_err(|source| unreachable(&consumer, &kafka.brokers, source))?;
            let stored = match &bronze {
                Some(t) => {
                    let key = PartitionKey::new(topic.clone(), partition);
                    strata_pipelines::txn_version(t, &events_table(), &offset_app_id(group, &key))
                        .await?
                        .and_then(|v| i64::try_from(v).ok())
                }
                None => None,
            };
            let next = stored.map_or(low, |s| s + 1).max(low);
            out.push(PartitionLag {
                topic: topic.clone(),
                partition,
                end_offset: high,
                stored_offset: stored,
                lag: (high - next).max(0),
            });
        }
    }
    Ok(out)
}
