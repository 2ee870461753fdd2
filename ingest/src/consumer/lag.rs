//! Where the member stands against the broker: per-partition lag for metrics, and whether
//! Bronze holds every partition up to its high watermark (the `--until-caught-up` exit).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use rdkafka::consumer::{Consumer, StreamConsumer};
use strata_bronze::{BronzeWriter, PartitionKey};
use tracing::warn;

use super::{IngestContext, Ingestor};
use crate::{Result, admin};

impl Ingestor {
    /// Whether Bronze holds every partition of the subscribed topics up to its high
    /// watermark (written by any member of the group); `Err` says what is missing or could not
    /// be read.
    pub(super) async fn topics_caught_up(
        &self,
        consumer: &StreamConsumer<IngestContext>,
        writer: &mut BronzeWriter,
    ) -> std::result::Result<(), String> {
        let mut keys = Vec::new();
        for topic in &self.kafka.topics {
            let metadata = tokio::task::block_in_place(|| {
                consumer.fetch_metadata(Some(topic), admin::CONNECT_TIMEOUT)
            })
            .map_err(|e| format!("cannot read the partitions of topic '{topic}': {e}"))?;
            for t in metadata.topics() {
                keys.extend(t.partitions().iter().map(|p| PartitionKey {
                    topic: topic.clone(),
                    partition: p.id(),
                }));
            }
        }
        let stored = writer
            .stored_offsets(keys.iter().cloned())
            .await
            .map_err(|e| format!("cannot read stored offsets from bronze.events: {e}"))?;
        for key in &keys {
            let (next, high) = next_and_high(consumer, key, &stored)
                .map_err(|e| format!("cannot read the high watermark of {key}: {e}"))?;
            if next < high {
                return Err(format!(
                    "{key}: bronze.events holds offsets below {next}, the broker has up to {}",
                    high - 1
                ));
            }
        }
        Ok(())
    }

    /// Refresh per-partition lag. `Some(true)` when every assigned partition is fully in
    /// Bronze, `None` when nothing is assigned.
    pub(super) async fn update_lag(
        &self,
        consumer: &StreamConsumer<IngestContext>,
        writer: &mut BronzeWriter,
    ) -> Result<Option<bool>> {
        let ctx = consumer.context();
        let assignment = ctx.assignment.lock().map(|a| a.clone()).unwrap_or_default();
        if !ctx.assigned_once.load(Ordering::SeqCst) {
            return Ok(Some(false));
        }
        if assignment.is_empty() {
            return Ok(None);
        }
        let stored = writer.stored_offsets(assignment.iter().cloned()).await?;
        let mut caught_up = true;
        for key in &assignment {
            let (next, high) = match next_and_high(consumer, key, &stored) {
                Ok(w) => w,
                Err(e) => {
                    warn!(partition = %key, error = %e, "cannot read watermarks");
                    caught_up = false;
                    continue;
                }
            };
            let lag = (high - next).max(0);
            self.metrics.set_lag(&key.topic, key.partition, lag);
            if lag > 0 {
                caught_up = false;
            }
        }
        Ok(Some(caught_up))
    }
}

/// The next offset Bronze needs for `key` (after what it stores, never below the broker's
/// low watermark) and the broker's high watermark.
fn next_and_high(
    consumer: &StreamConsumer<IngestContext>,
    key: &PartitionKey,
    stored: &BTreeMap<PartitionKey, Option<i64>>,
) -> rdkafka::error::KafkaResult<(i64, i64)> {
    let (low, high) = tokio::task::block_in_place(|| {
        consumer.fetch_watermarks(&key.topic, key.partition, admin::CONNECT_TIMEOUT)
    })?;
    let next = stored
        .get(key)
        .copied()
        .flatten()
        .map_or(low, |s| s + 1)
        .max(low);
    Ok((next, high))
}
