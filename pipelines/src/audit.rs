//! `_strata.audit`: who read what and who changed what. Every data access (SQL, online
//! features, training sets, the dashboard API) and every administrative action (registry
//! changes, replay, backfill, retention, erasure) is one row.
//!
//! Serving records through an [`AuditLog`]: a bounded queue that a background task writes in
//! batches (one Delta commit per second at most), so a request never waits on storage. If
//! the queue is full the record is counted as dropped and logged, never blocking a query.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::array::{Date32Array, TimestampMicrosecondArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::protocol::SaveMode;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::{Error, Lake, Result, TableName};

pub fn audit_table() -> TableName {
    TableName::new("_strata", "audit")
}

/// One audited action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    /// The principal (SQL user, token's principal, or the OS user for commands).
    pub principal: String,
    pub role: String,
    /// `sql`, `online_features`, `features`, `training_set`, `dashboard`, `registry`,
    /// `replay`, `backfill`, `retention`, `erasure`.
    pub endpoint: String,
    /// `read` or `admin`.
    pub action: String,
    /// Tables or feature views touched, comma-separated.
    pub objects: String,
    pub rows: Option<i64>,
    /// Hex SHA-256 of the query text (SQL), never the text itself.
    pub query_hash: Option<String>,
    /// `ok`, `denied` or `error`.
    pub outcome: String,
    pub detail: String,
}

impl AuditEvent {
    pub fn new(principal: &str, role: &str, endpoint: &str, action: &str) -> Self {
        Self {
            at: Utc::now(),
            principal: principal.to_string(),
            role: role.to_string(),
            endpoint: endpoint.to_string(),
            action: action.to_string(),
            objects: String::new(),
            rows: None,
            query_hash: None,
            outcome: "ok".to_string(),
            detail: String::new(),
        }
    }

    pub fn objects<S: AsRef<str>>(mut self, objects: impl IntoIterator<Item = S>) -> Self {
        let mut list: Vec<String> = objects
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect();
        list.sort();
        list.dedup();
        self.objects = list.join(",");
        self
    }

    pub fn rows(mut self, rows: u64) -> Self {
        self.rows = Some(i64::try_from(rows).unwrap_or(i64::MAX));
        self
    }

    pub fn outcome(mut self, outcome: &str, detail: impl Into<String>) -> Self {
        self.outcome = outcome.to_string();
        self.detail = detail.into();
        self
    }

    pub fn query(mut self, text: &str) -> Self {
        self.query_hash = Some(sha256_hex(text));
        self
    }
}

/// Hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn audit_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("at", ts, false),
        Field::new("principal", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("objects", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, true),
        Field::new("query_hash", DataType::Utf8, true),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        // Partition column: retention drops whole days.
        Field::new("event_date", DataType::Date32, false),
    ]))
}

fn batch(events: &[AuditEvent]) -> Result<RecordBatch> {
    let s = |f: fn(&AuditEvent) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(events.iter().map(f)))
    };
    let days = events.iter().map(|e| {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        i32::try_from((e.at.date_naive() - epoch).num_days()).unwrap_or(i32::MAX)
    });
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                events.iter().map(|e| e.at.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        s(|e| &e.principal),
        s(|e| &e.role),
        s(|e| &e.endpoint),
        s(|e| &e.action),
        s(|e| &e.objects),
        Arc::new(Int64Array::from_iter(events.iter().map(|e| e.rows))),
        Arc::new(StringArray::from_iter(
            events.iter().map(|e| e.query_hash.as_deref()),
        )),
        s(|e| &e.outcome),
        s(|e| &e.detail),
        Arc::new(Date32Array::from_iter_values(days)),
    ];
    RecordBatch::try_new(audit_schema(), columns).map_err(|e| Error::InvalidLake {
        uri: audit_table().to_string(),
        reason: e.to_string(),
    })
}

/// Append events in one commit (commands record their own action this way).
pub async fn append(lake: &Lake, events: &[AuditEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let table = lake
        .ensure_table(&audit_table(), audit_schema(), &["event_date"])
        .await?;
    table
        .write(vec![batch(events)?])
        .with_save_mode(SaveMode::Append)
        .await
        .map_err(|e| Error::delta(audit_table(), e))?;
    Ok(())
}

enum Message {
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// The serving side's audit writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog")
    }
}

/// Records held before the oldest is written; past it records are dropped (and counted).
const QUEUE: usize = 10_000;

impl AuditLog {
    /// Start the writer: a commit every `every` while records arrive.
    pub fn start(lake: Lake, every: Duration) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(lake, rx, every));
        Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queue a record; never waits.
    pub fn record(&self, event: AuditEvent) {
        if self.tx.try_send(Message::Event(Box::new(event))).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            warn!(dropped = n, "audit: queue full, record dropped");
        }
    }

    /// Write everything queued so far.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(lake: Lake, mut rx: mpsc::Receiver<Message>, every: Duration) {
    let mut pending: Vec<AuditEvent> = Vec::new();
    let mut tick = tokio::time::interval(every);
    let mut open = true;
    while open || !pending.is_empty() {
        let waiter = tokio::select! {
            m = rx.recv(), if open => match m {
                Some(Message::Event(e)) => { pending.push(*e); continue; }
                Some(Message::Flush(done)) => Some(done),
                None => { open = false; None }
            },
            _ = tick.tick() => None,
        };
        if !pending.is_empty() {
            if let Err(e) = append(&lake, &pending).await {
                // Kept for the next tick: a short outage of the store delays records; a long
                // one drops the oldest past the queue's size.
                warn!(error = %e, records = pending.len(), "audit: cannot write _strata.audit; will retry");
                if pending.len() > QUEUE {
                    pending.drain(..pending.len() - QUEUE);
                }
                if !open {
                    return;
                }
            } else {
                pending.clear();
            }
        }
        if let Some(done) = waiter {
            let _ = done.send(());
        }
    }
}
