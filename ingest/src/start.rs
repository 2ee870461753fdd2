//! Where a consumer group starts on a lake that other groups already wrote. Offsets in Bronze
//! are kept per group, so a renamed group would otherwise read every topic from the start
//! again and double Bronze. The operator says what they want (`ingest.start_from`).

use std::collections::{BTreeMap, BTreeSet};

use rdkafka::Offset;
use serde::{Deserialize, Serialize};
use strata_bronze::{BronzeWriter, PartitionKey};
use strata_pipelines::Lake;
use strata_pipelines::deltalake::arrow::array::AsArray;
use strata_pipelines::deltalake::arrow::compute::cast;
use strata_pipelines::deltalake::arrow::datatypes::{DataType, Int32Type, Int64Type};
use strata_pipelines::deltalake::arrow::error::ArrowError;
use strata_schemas::bronze::col;

use crate::{Error, Result};

/// What a group does with partitions Bronze holds but the group never wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// Refuse to start, naming the partitions (the safe default).
    #[default]
    Refuse,
    /// After the highest offset Bronze holds for the partition, whichever group wrote it.
    Bronze,
    /// From the first offset the broker still has (Bronze gets those records again).
    Beginning,
    /// From the end: only records produced from now on.
    Latest,
}

impl std::str::FromStr for StartFrom {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "refuse" => Ok(Self::Refuse),
            "bronze" => Ok(Self::Bronze),
            "beginning" => Ok(Self::Beginning),
            "latest" => Ok(Self::Latest),
            other => Err(format!(
                "'{other}' is not one of refuse, bronze, beginning, latest"
            )),
        }
    }
}

/// Highest offset Bronze holds per partition of `topics`, from any group, in one pass. Read
/// straight from the Parquet files, three columns at a time per file: this runs only when a
/// group meets partitions it never wrote, and a query engine here would stay paged into ingest.
async fn held_offsets(lake: &Lake, topics: &BTreeSet<&str>) -> Result<BTreeMap<PartitionKey, i64>> {
    let Some(table) = lake.open(&strata_bronze::events_table()).await? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    let columns = [col::TOPIC, col::PARTITION, col::OFFSET];
    let unreadable = |e: ArrowError| Error::Config {
        key: "ingest.start_from".into(),
        message: format!("cannot read the offsets bronze.events holds: {e}"),
    };
    strata_pipelines::files::for_each_batch(&table, Some(&columns), |b| {
        // As the schema says, whatever a file stores (a rewrite may store string views).
        let column = |name: &str, to: DataType| {
            let c = b.column_by_name(name).ok_or_else(|| {
                unreadable(ArrowError::SchemaError(format!("a file has no {name}")))
            })?;
            cast(c, &to).map_err(unreadable)
        };
        let (topic, partition, offset) = (
            column(col::TOPIC, DataType::Utf8)?,
            column(col::PARTITION, DataType::Int32)?,
            column(col::OFFSET, DataType::Int64)?,
        );
        let (topic, partition, offset) = (
            topic.as_string::<i32>(),
            partition.as_primitive::<Int32Type>(),
            offset.as_primitive::<Int64Type>(),
        );
        for i in (0..b.num_rows()).filter(|&i| topics.contains(topic.value(i))) {
            let key = PartitionKey::new(topic.value(i), partition.value(i));
            let last = out.entry(key).or_insert(i64::MIN);
            *last = (*last).max(offset.value(i));
        }
        Ok::<_, Error>(())
    })
    .await?;
    Ok(out)
}

/// Start positions for the partitions Bronze holds but this group never wrote; empty when
/// there are none (a new lake, new topics, or a group that already wrote them).
pub async fn new_group_positions(
    lake: &Lake,
    writer: &mut BronzeWriter,
    group: &str,
    partitions: &[PartitionKey],
    policy: StartFrom,
) -> Result<BTreeMap<PartitionKey, Offset>> {
    let stored = writer.stored_offsets(partitions.iter().cloned()).await?;
    // Only topics with a partition this group never wrote: a restart reads nothing.
    let never_written: Vec<&PartitionKey> = partitions
        .iter()
        .filter(|k| matches!(stored.get(*k), Some(None)))
        .collect();
    let topics: BTreeSet<&str> = never_written.iter().map(|k| k.topic.as_str()).collect();
    let held = match topics.is_empty() {
        true => BTreeMap::new(),
        false => held_offsets(lake, &topics).await?,
    };
    let foreign: Vec<(PartitionKey, i64)> = never_written
        .into_iter()
        .filter_map(|k| held.get(k).map(|last| (k.clone(), *last)))
        .collect();
    if foreign.is_empty() {
        return Ok(BTreeMap::new());
    }
    let listed: Vec<String> = foreign
        .iter()
        .map(|(k, last)| format!("{k} (up to offset {last})"))
        .collect();
    Ok(match policy {
        StartFrom::Refuse => {
            return Err(Error::NewGroup {
                group: group.to_string(),
                partitions: listed.join(", "),
            });
        }
        StartFrom::Bronze => foreign
            .into_iter()
            .map(|(k, last)| (k, Offset::Offset(last + 1)))
            .collect(),
        StartFrom::Beginning => BTreeMap::new(),
        StartFrom::Latest => foreign.into_iter().map(|(k, _)| (k, Offset::End)).collect(),
    })
}
