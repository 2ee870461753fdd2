//! Where a consumer group starts on a lake that other groups already wrote. Offsets in Bronze
//! are kept per group, so a renamed group would otherwise read every topic from the start
//! again and double Bronze. The operator says what they want (`ingest.start_from`).

use std::collections::BTreeMap;

use rdkafka::Offset;
use serde::{Deserialize, Serialize};
use strata_bronze::{BronzeWriter, PartitionKey};
use strata_pipelines::{Lake, SessionBuilder};

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

/// Highest offset Bronze holds per partition of `topic`, from any group.
async fn held_offsets(lake: &Lake, topic: &str) -> Result<BTreeMap<i32, i64>> {
    let name = strata_bronze::events_table();
    let Some(table) = lake.open(&name).await? else {
        return Ok(BTreeMap::new());
    };
    let ctx = strata_pipelines::deltalake::datafusion::prelude::SessionContext::new();
    SessionBuilder::register(&ctx, &name, &table).await?;
    let sql = format!(
        "SELECT \"partition\", max(\"offset\") AS last FROM bronze.events WHERE topic = '{}' GROUP BY 1",
        topic.replace('\'', "''")
    );
    let query =
        |e: strata_pipelines::deltalake::datafusion::error::DataFusionError| Error::Config {
            key: "ingest.start_from".into(),
            message: format!("cannot read the offsets bronze.events holds for {topic}: {e}"),
        };
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(query)?
        .collect()
        .await
        .map_err(query)?;
    let mut out = BTreeMap::new();
    for b in &batches {
        use strata_pipelines::deltalake::arrow::array::AsArray;
        use strata_pipelines::deltalake::arrow::datatypes::{Int32Type, Int64Type};
        let (p, o) = (
            b.column(0).as_primitive::<Int32Type>(),
            b.column(1).as_primitive::<Int64Type>(),
        );
        for i in 0..b.num_rows() {
            out.insert(p.value(i), o.value(i));
        }
    }
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
    let mut foreign = Vec::new();
    let mut topics: Vec<&str> = partitions.iter().map(|k| k.topic.as_str()).collect();
    topics.dedup();
    for topic in topics {
        let held = held_offsets(lake, topic).await?;
        for key in partitions.iter().filter(|k| k.topic == topic) {
            if let (Some(None), Some(last)) = (stored.get(key), held.get(&key.partition)) {
                foreign.push((key.clone(), *last));
            }
        }
    }
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
