//! What a job declares (inputs, output) and where its progress lives.
//!
//! A job's checkpoint is not a side file: it is a Delta `txn` action in the job's own output
//! commit, one per input, holding the input version consumed. Data and checkpoint therefore
//! land atomically, and a crash at any point leaves a state from which the next run redoes
//! exactly the same increment. Lineage is derived from these declarations, never hand-written.

use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use serde_json::json;

use crate::{Error, Result, TableName};

/// A job's declared inputs and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    pub name: String,
    pub inputs: Vec<TableName>,
    pub output: TableName,
    /// Tables the job reads whole but does not consume incrementally (those its expectations
    /// check references against): it runs after their jobs, and their changes alone do not
    /// make it run.
    pub after: Vec<TableName>,
}

/// Builds a [`JobSpec`]: `JobSpec::builder("gold.x").input(a).input(b).output(c).build()`.
#[derive(Debug, Clone, Default)]
pub struct JobSpecBuilder {
    name: String,
    inputs: Vec<TableName>,
    output: Option<TableName>,
    after: Vec<TableName>,
}

impl JobSpecBuilder {
    pub fn input(mut self, table: TableName) -> Self {
        self.inputs.push(table);
        self
    }

    pub fn output(mut self, table: TableName) -> Self {
        self.output = Some(table);
        self
    }

    /// Run after the job that writes `table`, without consuming it.
    pub fn after(mut self, table: TableName) -> Self {
        self.after.push(table);
        self
    }

    /// The output defaults to the table named like the job.
    pub fn build(self) -> Result<JobSpec> {
        let output = match self.output {
            Some(o) => o,
            None => self.name.parse()?,
        };
        Ok(JobSpec {
            name: self.name,
            inputs: self.inputs,
            output,
            after: self.after,
        })
    }
}

impl JobSpec {
    pub fn builder(name: impl Into<String>) -> JobSpecBuilder {
        JobSpecBuilder {
            name: name.into(),
            ..JobSpecBuilder::default()
        }
    }

    /// The appId of the checkpoint for `input`: `job:<name>` for a single-input job,
    /// `job:<name>@<input>` otherwise.
    pub fn app_id(&self, input: &TableName) -> String {
        if self.inputs.len() == 1 {
            format!("job:{}", self.name)
        } else {
            format!("job:{}@{}", self.name, input)
        }
    }

    /// The input version this job last consumed, as recorded in its output table.
    pub async fn checkpoint(&self, output: &DeltaTable, input: &TableName) -> Result<Option<u64>> {
        txn_version(output, &self.output, &self.app_id(input)).await
    }

    /// The appIds of a read from the start's progress: the version read and the files done.
    fn progress_app_ids(&self, input: &TableName) -> [String; 2] {
        let id = self.app_id(input);
        [format!("{id}#version"), format!("{id}#files")]
    }

    /// How far a read of `input` from the start got before it was cut short, if it was.
    pub async fn snapshot_progress(
        &self,
        output: &DeltaTable,
        input: &TableName,
    ) -> Result<Option<crate::SnapshotProgress>> {
        let [v, f] = self.progress_app_ids(input);
        let version = txn_version(output, &self.output, &v).await?;
        let files = txn_version(output, &self.output, &f).await?;
        Ok(version
            .zip(files)
            .map(|(version, files)| crate::SnapshotProgress { version, files }))
    }

    /// The `txn` actions recording `progress` through `input`.
    pub fn progress_transactions(
        &self,
        input: &TableName,
        progress: crate::SnapshotProgress,
    ) -> Vec<Transaction> {
        let [v, f] = self.progress_app_ids(input);
        let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        vec![
            Transaction::new(v, n(progress.version)),
            Transaction::new(f, n(progress.files)),
        ]
    }

    /// Commit properties that forget this job's checkpoints of `inputs`: a job rebuilding its
    /// table from scratch commits the emptied table with them, then consumes its inputs
    /// from the start like a first run. (A `txn` version of -1 reads back as none.)
    pub fn reset_properties(&self, inputs: &[TableName]) -> CommitProperties {
        CommitProperties::default()
            .with_application_transactions(
                inputs
                    .iter()
                    .flat_map(|input| {
                        let [v, f] = self.progress_app_ids(input);
                        [self.app_id(input), v, f]
                    })
                    .map(|id| Transaction::new(id, -1))
                    .collect::<Vec<_>>(),
            )
            .with_metadata([(
                "strata.job".to_string(),
                json!({"job": self.name, "reset": inputs.iter().map(ToString::to_string).collect::<Vec<_>>()}),
            )])
    }

    /// Commit properties carrying the new checkpoints (and who wrote the commit).
    pub fn commit_properties(&self, consumed: &[(TableName, u64)]) -> CommitProperties {
        let txns: Vec<Transaction> = consumed
            .iter()
            .map(|(input, v)| {
                Transaction::new(self.app_id(input), i64::try_from(*v).unwrap_or(i64::MAX))
            })
            .collect();
        let inputs: serde_json::Map<String, serde_json::Value> = consumed
            .iter()
            .map(|(t, v)| (t.to_string(), json!(v)))
            .collect();
        CommitProperties::default()
            .with_application_transactions(txns)
            .with_metadata([(
                "strata.job".to_string(),
                json!({"job": self.name, "inputs": inputs}),
            )])
    }
}

/// What a job's output was built from (a Silver table's declaration, a Gold model's file),
/// hashed and kept in the output table as a Delta `txn` action, so the job notices a change
/// and rebuilds. The version is the first 60 bits of the hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub app_id: String,
    pub version: i64,
}

impl Declaration {
    /// `kind` names what is hashed (`table`, `model`), `job` the job, `hex` the SHA-256.
    pub fn new(kind: &str, job: &str, hex: &str) -> Self {
        Self {
            app_id: format!("{kind}:{job}"),
            version: i64::from_str_radix(hex.get(..15).unwrap_or("0"), 16).unwrap_or(0),
        }
    }

    /// The hash recorded in `table` (named `name`), if any.
    pub async fn stored(&self, table: &DeltaTable, name: &TableName) -> Result<Option<i64>> {
        let v = txn_version(table, name, &self.app_id).await?;
        Ok(v.and_then(|v| i64::try_from(v).ok()))
    }

    /// `spec`'s checkpoints of `inputs` forgotten, and this hash.
    pub fn reset_properties(&self, spec: &JobSpec, inputs: &[TableName]) -> CommitProperties {
        spec.reset_properties(inputs)
            .with_application_transaction(Transaction::new(self.app_id.clone(), self.version))
    }

    /// `spec`'s checkpoints for `consumed`, and this hash.
    pub fn commit_properties(
        &self,
        spec: &JobSpec,
        consumed: &[(TableName, u64)],
    ) -> CommitProperties {
        spec.commit_properties(consumed)
            .with_application_transaction(Transaction::new(self.app_id.clone(), self.version))
    }
}

/// The version of the `txn` action `app_id` in `table` (a job's checkpoint, a backfill's
/// progress), if any.
pub async fn txn_version(
    table: &DeltaTable,
    name: &TableName,
    app_id: &str,
) -> Result<Option<u64>> {
    let snapshot = table.snapshot().map_err(|e| Error::delta(name, e))?;
    let v = snapshot
        .transaction_version(table.log_store().as_ref(), app_id.to_string())
        .await
        .map_err(|e| Error::delta(name, e))?;
    Ok(v.and_then(|v| u64::try_from(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_name_the_input_only_when_there_are_several() {
        let bronze: TableName = "bronze.events".parse().unwrap();
        let one = JobSpec::builder("silver.missions")
            .input(bronze.clone())
            .build()
            .unwrap();
        assert_eq!(one.output.to_string(), "silver.missions");
        assert_eq!(one.app_id(&bronze), "job:silver.missions");
        let a: TableName = "silver.a".parse().unwrap();
        let two = JobSpec::builder("gold.x")
            .input(a.clone())
            .input("silver.b".parse().unwrap())
            .build()
            .unwrap();
        assert_eq!(two.app_id(&a), "job:gold.x@silver.a");
    }
}
