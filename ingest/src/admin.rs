//! Broker checks and topic management.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, Result};

/// How long to wait for a broker before calling it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Topic name -> partition count, as the broker reports it. Fails clearly when no broker
/// answers.
pub fn topic_partitions(brokers: &str, topics: &[String]) -> Result<Vec<(String, Option<usize>)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false")
        .create()
        .map_err(Error::Client)?;
    let metadata = tokio::task::block_in_place(|| consumer.fetch_metadata(None, CONNECT_TIMEOUT))
        .map_err(|source| Error::Unreachable {
        brokers: brokers.to_string(),
        source,
    })?;
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

/// Fail unless every topic exists.
pub fn require_topics(brokers: &str, topics: &[String]) -> Result<()> {
    for (topic, parts) in topic_partitions(brokers, topics)? {
        if parts.is_none() {
            return Err(Error::MissingTopic {
                topic,
                brokers: brokers.to_string(),
            });
        }
    }
    Ok(())
}

/// Create the topics that are missing, with `partitions` partitions each.
pub async fn ensure_topics(brokers: &str, topics: &[String], partitions: i32) -> Result<()> {
    let missing: Vec<String> = topic_partitions(brokers, topics)?
        .into_iter()
        .filter(|(_, p)| p.is_none())
        .map(|(t, _)| t)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
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
        if topic_partitions(brokers, topics)?
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
