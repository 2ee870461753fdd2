//! What a SQL connection may do and how much it may take: reads only (checked on the plan,
//! including what EXPLAIN wraps), a statement timeout, a memory cap per connection and a cap
//! on concurrent queries. Errors carry the SQLSTATEs Postgres clients understand.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::sql::sqlparser::ast::Statement;
use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Limits for the SQL endpoint (`serve.sql_*`).
#[derive(Debug, Clone)]
pub struct SqlLimits {
    /// Longest a statement may run (a client's `SET statement_timeout` may only lower it).
    pub statement_timeout: Duration,
    /// Memory one connection's query may hold; sorts and joins spill to disk past it where
    /// they can, and fail with SQLSTATE 53200 where they cannot.
    pub memory_bytes: usize,
    /// Queries running at once over all connections; more wait up to their timeout.
    pub max_concurrent: usize,
    /// Connections at once; more are refused.
    pub max_connections: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            statement_timeout: Duration::from_secs(60),
            memory_bytes: 512 << 20,
            max_concurrent: 4,
            max_connections: 64,
        }
    }
}

pub(super) fn pg_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

pub(super) fn read_only_error(what: &str) -> PgWireError {
    pg_error(
        "25006", // read_only_sql_transaction
        format!(
            "{what} is not allowed: this endpoint is read-only (tables change only through Strata's jobs)"
        ),
    )
}

/// The first keyword of statements that change something; refused even when they do not
/// parse (e.g. DataFusion's `CREATE EXTERNAL TABLE`), so a refusal never looks like a typo.
pub(super) fn writing_verb(sql: &str) -> Option<String> {
    const VERBS: [&str; 17] = [
        "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "COPY", "CREATE", "DROP", "ALTER",
        "TRUNCATE", "GRANT", "REVOKE", "VACUUM", "REINDEX", "CLUSTER", "COMMENT", "CALL",
    ];
    // What EXPLAIN wraps counts too: `EXPLAIN ANALYZE COPY ...` runs the COPY.
    let mut rest = sql.trim_start();
    loop {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_uppercase();
        if matches!(word.as_str(), "EXPLAIN" | "ANALYZE" | "ANALYSE" | "VERBOSE") {
            rest = rest[word.len()..].trim_start();
            if let Some(options) = rest.strip_prefix('(') {
                rest = options.split_once(')').map_or("", |(_, r)| r).trim_start();
            }
            continue;
        }
        return VERBS.contains(&word.as_str()).then_some(word);
    }
}

/// Statements the session answers without planning a query.
pub(super) fn is_session_statement(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
    )
}

/// Refuse any plan that writes or changes state: DDL, DML, COPY and statements, also when
/// nested (EXPLAIN ANALYZE INSERT ...).
pub(super) fn check_read_only(plan: &LogicalPlan) -> Result<(), PgWireError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| {
            let what = e.strip_backtrace();
            let what = what
                .split(" not supported")
                .next()
                .unwrap_or("this statement")
                .trim_start_matches("Error during planning: ")
                .to_string();
            read_only_error(&what)
        })
}

/// Shared by every connection: the concurrency cap and the limits.
#[derive(Debug)]
pub(super) struct Guard {
    pub limits: SqlLimits,
    running: Arc<Semaphore>,
}

impl Guard {
    pub(super) fn new(limits: SqlLimits) -> Self {
        let running = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
        Self { limits, running }
    }

    /// A runtime of its own per connection: its memory pool is that connection's cap.
    pub(super) fn runtime(&self) -> Result<Arc<RuntimeEnv>, DataFusionError> {
        // Spilling is bounded too: a runaway sort fails instead of filling the disk.
        let disk = DiskManagerBuilder::default()
            .with_mode(DiskManagerMode::OsTmpDirectory)
            .with_max_temp_directory_size(self.limits.memory_bytes as u64 * 8);
        RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.limits.memory_bytes)))
            .with_disk_manager_builder(disk)
            .build_arc()
    }

    /// The deadline of a statement starting now: the server's timeout, or the client's if
    /// it asked for less.
    pub(super) fn deadline(&self, client_timeout: Option<Duration>) -> Instant {
        let t = match client_timeout {
            Some(c) if c < self.limits.statement_timeout => c,
            _ => self.limits.statement_timeout,
        };
        Instant::now() + t
    }

    /// Wait for a query slot, at most until the deadline.
    pub(super) async fn admit(
        &self,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, PgWireError> {
        match tokio::time::timeout_at(deadline, self.running.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(pg_error("57P01", "the SQL endpoint is shutting down")),
            Err(_) => Err(pg_error(
                "53000", // insufficient_resources
                format!(
                    "canceling statement: {} queries were running for the whole statement timeout \
                     (serve.sql_max_concurrent_queries)",
                    self.limits.max_concurrent
                ),
            )),
        }
    }
}

pub(super) fn timeout_error() -> PgWireError {
    pg_error(
        "57014", // query_canceled
        "canceling statement due to statement timeout (serve.sql_statement_timeout_ms or SET statement_timeout)",
    )
}

/// A DataFusion error as the Postgres error a client expects.
pub(super) fn query_error(e: DataFusionError) -> PgWireError {
    let message = e.strip_backtrace();
    let root = e.find_root();
    let code = match root {
        DataFusionError::ResourcesExhausted(_) => "53200", // out_of_memory
        DataFusionError::SQL(..) => "42601",               // syntax_error
        DataFusionError::Plan(m) if m.contains("not found") => "42P01", // undefined_table
        DataFusionError::SchemaError(..) => "42703",       // undefined_column
        DataFusionError::Plan(_) => "42000",
        DataFusionError::NotImplemented(_) => "0A000", // feature_not_supported
        _ => "XX000",
    };
    let message = if code == "53200" {
        format!("{message} (the per-connection memory cap is serve.sql_memory_mb)")
    } else {
        message
    };
    pg_error(code, message)
}

/// A query's batches until its deadline; the query slot is held until the stream ends or
/// is dropped (which cancels the query).
pub(super) struct Guarded {
    inner: SendableRecordBatchStream,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
    expired: bool,
}

impl Guarded {
    pub(super) fn new(
        inner: SendableRecordBatchStream,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            _permit: permit,
            expired: false,
        }
    }
}

/// Why a guarded stream stopped.
#[derive(Debug)]
pub(super) enum Stop {
    Timeout,
    Query(DataFusionError),
}

impl Stream for Guarded {
    type Item = Result<RecordBatch, Stop>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(Stop::Timeout)));
        }
        self.inner
            .as_mut()
            .poll_next(cx)
            .map(|r| r.map(|b| b.map_err(Stop::Query)))
    }
}

impl Stop {
    pub(super) fn into_pg(self) -> PgWireError {
        match self {
            Stop::Timeout => timeout_error(),
            Stop::Query(e) => query_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_verbs_are_recognised_before_parsing() {
        assert_eq!(
            writing_verb("  create external table x").as_deref(),
            Some("CREATE")
        );
        assert_eq!(
            writing_verb("copy (select 1) to '/tmp/x'").as_deref(),
            Some("COPY")
        );
        assert_eq!(writing_verb("select 1"), None);
        assert_eq!(writing_verb("explain select 1"), None);
        assert_eq!(
            writing_verb("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x'").as_deref(),
            Some("COPY")
        );
        assert_eq!(
            writing_verb("explain (format json) insert into t values (1)").as_deref(),
            Some("INSERT")
        );
    }
}
