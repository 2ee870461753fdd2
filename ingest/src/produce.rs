//! Publish records from a file: one document per line, as a producing service would send it.
//! For loading a project's own events (tests, backfills from an export) without writing a
//! producer.

use std::io::BufRead;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use crate::simulate::DeliveryCounter;
use crate::{Error, KafkaConfig, Result};

/// Produce every non-empty line of `lines` to `topic`, keyed by the top-level string field
/// `key_field` when a line is a JSON object holding it (else unkeyed). Lines are sent as they
/// are: a malformed line is the broker's and ingest's business, as from any producer.
/// Returns the number produced once the broker acknowledged all of them.
pub fn produce_lines(
    kafka: &KafkaConfig,
    topic: &str,
    key_field: Option<&str>,
    lines: impl BufRead,
    progress: &dyn Fn(u64),
) -> Result<u64> {
    let failed = |message: String| Error::Produce {
        topic: topic.to_string(),
        message,
    };
    let producer: ThreadedProducer<DeliveryCounter> = kafka
        .client_config()?
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("message.max.bytes", "10000000")
        .create_with_context(DeliveryCounter::default())
        .map_err(Error::Client)?;
    let mut produced = 0u64;
    for line in lines.lines() {
        let line = line.map_err(|e| failed(format!("cannot read the input: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let key = key_field.and_then(|k| {
            serde_json::from_str::<serde_json::Value>(&line)
                .ok()?
                .get(k)?
                .as_str()
                .map(str::to_string)
        });
        let mut record: BaseRecord<'_, str, str, ()> = BaseRecord::to(topic).payload(&line);
        if let Some(k) = &key {
            record = record.key(k.as_str());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(failed(e.to_string())),
            }
        }
        produced += 1;
        if produced.is_multiple_of(1000) {
            progress(produced);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| failed(format!("flush: {e}")))?;
    progress(produced);
    let context = producer.context();
    let undelivered = context.failed.load(Ordering::Relaxed);
    if undelivered > 0 {
        return Err(Error::Undelivered {
            failed: undelivered,
            total: produced,
            first_error: context.first_error_text(),
        });
    }
    Ok(produced)
}
