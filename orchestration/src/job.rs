//! What the orchestrator runs: anything with a declared [`JobSpec`] that can run one increment
//! and recompute given days. Silver and Gold jobs are the platform's; tests add their own.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use strata_project::Project;

use deltalake::DeltaTableError;
use deltalake::datafusion::error::DataFusionError;
use deltalake::kernel::transaction::CommitProperties;
use futures::future::BoxFuture;
use strata_gold::GoldJob;
use strata_pipelines::{JobSpec, Lake, TableName};
use strata_quality::Expectation;
use strata_silver::SilverJob;

use crate::error::{ErrorDomain, JobFailure};

/// What one run of a job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOutput {
    /// `(input table, version read)`.
    pub input_versions: Vec<(String, u64)>,
    pub output_version: Option<u64>,
    pub rows_in: u64,
    pub rows_out: u64,
    /// `(column, values)` present in the input but not representable in the output column.
    pub untyped: Vec<(String, u64)>,
}

/// A unit of refinement the orchestrator schedules.
pub trait Job: Send + Sync + fmt::Debug {
    fn spec(&self) -> JobSpec;

    /// Consume whatever the inputs gained since the job's checkpoint.
    fn run<'a>(&'a self, lake: &'a Lake) -> BoxFuture<'a, Result<JobOutput, JobFailure>>;

    /// Replace the given days (`YYYY-MM-DD`) of the output from the inputs, in one commit
    /// carrying `props`.
    fn recompute<'a>(
        &'a self,
        lake: &'a Lake,
        days: &'a BTreeSet<String>,
        props: CommitProperties,
    ) -> BoxFuture<'a, Result<JobOutput, JobFailure>>;

    /// A change on day D changes the output's days D ..= D + lookahead (rolling windows).
    fn lookahead_days(&self) -> u32 {
        0
    }
}

/// Every job of a project: Silver from Bronze, Gold from Silver, each with its table's
/// declared expectations.
pub fn platform_jobs(project: &Project) -> Vec<Arc<dyn Job>> {
    platform_jobs_with(project, &[])
}

/// A project's jobs with extra expectations, `(table, expectation)` (from configuration).
pub fn platform_jobs_with(
    project: &Project,
    extra: &[(TableName, Expectation)],
) -> Vec<Arc<dyn Job>> {
    let more = |t: &TableName| {
        extra
            .iter()
            .filter(|(x, _)| x == t)
            .map(|(_, e)| e.clone())
            .collect::<Vec<_>>()
    };
    let mut jobs: Vec<Arc<dyn Job>> = Vec::new();
    for t in &project.silver {
        let name = t.table_name();
        jobs.push(Arc::new(
            SilverJob::new(t.clone()).with_expectations(more(&name)),
        ));
    }
    for m in &project.gold {
        let name = m.table_name();
        jobs.push(Arc::new(
            GoldJob::new(m.clone()).with_expectations(more(&name)),
        ));
    }
    jobs
}

fn untyped(u: &strata_silver::Untyped) -> Vec<(String, u64)> {
    u.0.iter()
        .filter(|c| c.untyped > 0)
        .map(|c| (c.column.to_string(), c.untyped))
        .collect()
}

fn n(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl Job for SilverJob {
    fn spec(&self) -> JobSpec {
        SilverJob::spec(self)
    }

    fn run<'a>(&'a self, lake: &'a Lake) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        Box::pin(async move {
            let r = SilverJob::run(self, lake)
                .await
                .map_err(|e| classify_silver(&e))?;
            Ok(JobOutput {
                input_versions: r
                    .input_version
                    .map(|v| vec![("bronze.events".to_string(), v)])
                    .unwrap_or_default(),
                output_version: r.output_version,
                rows_in: n(r.rows_in),
                rows_out: n(r.rows_out),
                untyped: untyped(&r.untyped),
            })
        })
    }

    fn recompute<'a>(
        &'a self,
        lake: &'a Lake,
        days: &'a BTreeSet<String>,
        props: CommitProperties,
    ) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        Box::pin(async move {
            let r = SilverJob::recompute(self, lake, days, props)
                .await
                .map_err(|e| classify_silver(&e))?;
            Ok(JobOutput {
                input_versions: Vec::new(),
                output_version: r.output_version,
                rows_in: n(r.rows_in),
                rows_out: n(r.rows_out),
                untyped: untyped(&r.untyped),
            })
        })
    }
}

impl Job for GoldJob {
    fn spec(&self) -> JobSpec {
        GoldJob::spec(self)
    }

    fn run<'a>(&'a self, lake: &'a Lake) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        Box::pin(async move {
            let r = GoldJob::run(self, lake)
                .await
                .map_err(|e| classify_gold(&e))?;
            Ok(JobOutput {
                input_versions: r.inputs,
                output_version: r.output_version,
                rows_in: n(r.days.len()),
                rows_out: n(r.rows_out),
                untyped: Vec::new(),
            })
        })
    }

    fn recompute<'a>(
        &'a self,
        lake: &'a Lake,
        days: &'a BTreeSet<String>,
        props: CommitProperties,
    ) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        Box::pin(async move {
            let (rows, version) = GoldJob::recompute(self, lake, days, props)
                .await
                .map_err(|e| classify_gold(&e))?;
            Ok(JobOutput {
                input_versions: Vec::new(),
                output_version: version,
                rows_in: n(days.len()),
                rows_out: n(rows),
                untyped: Vec::new(),
            })
        })
    }

    fn lookahead_days(&self) -> u32 {
        GoldJob::lookahead_days(self)
    }
}

/// Delta errors: storage and commit races may pass; bad data and missing tables need a person.
pub fn classify_delta(e: &DeltaTableError) -> (ErrorDomain, bool) {
    use DeltaTableError as D;
    match e {
        D::ObjectStore { .. } | D::Io { .. } => (ErrorDomain::External, true),
        D::Transaction { .. } | D::VersionAlreadyExists(_) | D::VersionMismatch(..) => {
            (ErrorDomain::External, true)
        }
        D::InvalidData { .. }
        | D::SchemaMismatch { .. }
        | D::NotATable(_)
        | D::InvalidTableLocation(_)
        | D::MissingFeature { .. }
        | D::PartitionError { .. } => (ErrorDomain::User, false),
        _ => (ErrorDomain::Internal, false),
    }
}

fn classify_query(e: &DataFusionError) -> (ErrorDomain, bool) {
    match e {
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => {
            (ErrorDomain::External, true)
        }
        // Each job runs in a pool of its own: a retry would fail the same way.
        DataFusionError::ResourcesExhausted(_) => (ErrorDomain::User, false),
        DataFusionError::External(inner) => match inner.downcast_ref::<DeltaTableError>() {
            Some(d) => classify_delta(d),
            None => (ErrorDomain::Internal, false),
        },
        DataFusionError::Context(_, inner) => classify_query(inner),
        _ => (ErrorDomain::Internal, false),
    }
}

fn classify_lake(e: &strata_pipelines::Error) -> (ErrorDomain, bool) {
    use strata_pipelines::Error as P;
    match e {
        P::Delta { source, .. } => classify_delta(source),
        P::Query(q) => classify_query(q),
        P::CreateLake { .. } | P::RemoveLayer { .. } | P::ReadFile { .. } => {
            (ErrorDomain::External, true)
        }
        P::InvalidLake { .. }
        | P::MissingLake { .. }
        | P::InvalidTableName(_)
        | P::NoSuchTable { .. }
        | P::MissingCommit { .. }
        | P::VersionPurged { .. } => (ErrorDomain::User, false),
        P::BadCommit { .. } | P::Column { .. } => (ErrorDomain::Internal, false),
    }
}

fn classify_quality(e: &strata_quality::Error) -> (ErrorDomain, bool) {
    use strata_quality::Error as Q;
    match e {
        Q::Lake(l) => classify_lake(l),
        Q::Query(q) => classify_query(q),
        Q::Delta { source, .. } => classify_delta(source),
        Q::Expectation { .. } | Q::SchemaCompile { .. } => (ErrorDomain::User, false),
        Q::Arrow(_) | Q::Schemas(_) => (ErrorDomain::Internal, false),
    }
}

/// What an operator does about a query that ran out of its memory pool.
fn memory_hint(e: &DataFusionError) -> &'static str {
    match e {
        DataFusionError::ResourcesExhausted(_) => {
            " (the job's memory is bounded by run.memory_limit_mb: raise it, or 0 for no bound)"
        }
        DataFusionError::Context(_, inner) => memory_hint(inner),
        _ => "",
    }
}

pub fn classify_silver(e: &strata_silver::Error) -> JobFailure {
    use strata_silver::Error as S;
    let (domain, retryable) = match e {
        S::Lake(l) => classify_lake(l),
        S::Delta { source, .. } => classify_delta(source),
        S::Query { source, .. } => classify_query(source),
        S::Arrow { .. } => (ErrorDomain::Internal, false),
        S::Concurrent { .. } => (ErrorDomain::External, true),
        S::Expectations { .. } => (ErrorDomain::User, false),
        S::Quality { source, .. } => classify_quality(source),
    };
    let hint = match e {
        S::Query { source, .. } => memory_hint(source),
        _ => "",
    };
    let mut failure = JobFailure::new(domain, retryable, format!("{e}{hint}"));
    if let S::Expectations { failure: f, .. } = e {
        failure.expectations = crate::error::FailedExpectation::all(f);
    }
    failure
}

pub fn classify_gold(e: &strata_gold::Error) -> JobFailure {
    use strata_gold::Error as G;
    let (domain, retryable) = match e {
        G::Lake(l) => classify_lake(l),
        G::Delta { source, .. } => classify_delta(source),
        G::Query { source, .. } => classify_query(source),
        G::Arrow { .. } => (ErrorDomain::Internal, false),
        G::Concurrent { .. } => (ErrorDomain::External, true),
        G::Expectations { .. } => (ErrorDomain::User, false),
        G::Quality { source, .. } => classify_quality(source),
    };
    let hint = match e {
        G::Query { source, .. } => memory_hint(source),
        _ => "",
    };
    let mut failure = JobFailure::new(domain, retryable, format!("{e}{hint}"));
    if let G::Expectations { failure: f, .. } = e {
        failure.expectations = crate::error::FailedExpectation::all(f);
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_out_of_its_memory_pool_fails_at_once_naming_the_limit() {
        let e = strata_silver::Error::Query {
            job: "silver.missions".into(),
            source: Box::new(DataFusionError::ResourcesExhausted(
                "Failed to allocate additional 880.3 KB for ExternalSorter[1]".into(),
            )),
        };
        let f = classify_silver(&e);
        assert_eq!((f.domain, f.retryable), (ErrorDomain::User, false));
        assert!(f.message.contains("run.memory_limit_mb"), "{}", f.message);
    }
}
