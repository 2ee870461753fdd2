//! The first copy of each event. Producer retries and re-sent events repeat an `event_id`;
//! the copy at the lowest Kafka position (topic, partition, offset) wins. One hash pass over
//! the decoded rows: a `row_number()` window sorted them by id and cut every event into its
//! own partition, which cost more than decoding them.

use std::collections::HashMap;

use deltalake::arrow::array::{
    Array, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::error::ArrowError;
use strata_pipelines::typed_column;

/// A row's Kafka position, compared as (topic, partition, offset).
type Position<'a> = (&'a str, i32, i64);

/// The rows of `batches` that are the first copy of their `event_id`, in their input order.
/// Rows without an id count as one event, as `PARTITION BY` groups NULLs.
pub fn first_copies(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, ArrowError> {
    let columns: Vec<Columns> = batches.iter().map(Columns::of).collect::<Result<_, _>>()?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    let mut best: HashMap<Option<&str>, (usize, usize, Position)> = HashMap::with_capacity(rows);
    for (b, c) in columns.iter().enumerate() {
        for r in 0..c.ids.len() {
            let id = c.ids.is_valid(r).then(|| c.ids.value(r));
            let at = c.position(r);
            best.entry(id)
                .and_modify(|seen| {
                    if at < seen.2 {
                        *seen = (b, r, at);
                    }
                })
                .or_insert((b, r, at));
        }
    }
    let mut keep: Vec<Vec<bool>> = batches.iter().map(|b| vec![false; b.num_rows()]).collect();
    for (b, r, _) in best.values() {
        keep[*b][*r] = true;
    }
    batches
        .iter()
        .zip(keep)
        .map(|(batch, keep)| {
            if keep.iter().all(|k| *k) {
                Ok(batch.clone())
            } else {
                filter_record_batch(batch, &BooleanArray::from(keep))
            }
        })
        .collect()
}

/// The id and position columns of one batch.
struct Columns<'a> {
    ids: &'a StringArray,
    topics: &'a StringArray,
    partitions: &'a Int32Array,
    offsets: &'a Int64Array,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self, ArrowError> {
        Ok(Self {
            ids: typed_column(batch, "event_id")?,
            topics: typed_column(batch, "bronze_topic")?,
            partitions: typed_column(batch, "bronze_partition")?,
            offsets: typed_column(batch, "bronze_offset")?,
        })
    }

    fn position(&self, r: usize) -> Position<'a> {
        (
            self.topics.value(r),
            self.partitions.value(r),
            self.offsets.value(r),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(rows: &[(Option<&str>, &str, i32, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, true),
            Field::new("bronze_topic", DataType::Utf8, false),
            Field::new("bronze_partition", DataType::Int32, false),
            Field::new("bronze_offset", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            ],
        )
        .unwrap()
    }

    fn kept(batches: &[RecordBatch]) -> Vec<(Option<String>, String, i32, i64)> {
        let mut out = Vec::new();
        for b in first_copies(batches).unwrap() {
            let c = Columns::of(&b).unwrap();
            for r in 0..b.num_rows() {
                let id = c.ids.is_valid(r).then(|| c.ids.value(r).to_string());
                let (t, p, o) = c.position(r);
                out.push((id, t.to_string(), p, o));
            }
        }
        out
    }

    #[test]
    fn the_copy_at_the_lowest_kafka_position_wins_across_batches() {
        let first = batch(&[
            (Some("a"), "t2", 0, 1),
            (Some("b"), "t1", 1, 9),
            (None, "t1", 0, 5),
        ]);
        let second = batch(&[
            (Some("a"), "t1", 3, 0),
            (Some("b"), "t1", 1, 8),
            (Some("c"), "t1", 0, 7),
            (None, "t1", 0, 4),
        ]);
        let want = vec![
            (Some("a".to_string()), "t1".to_string(), 3, 0),
            (Some("b".to_string()), "t1".to_string(), 1, 8),
            (Some("c".to_string()), "t1".to_string(), 0, 7),
            (None, "t1".to_string(), 0, 4),
        ];
        assert_eq!(kept(&[first, second]), want);
    }

    #[test]
    fn unique_events_pass_untouched() {
        let only = batch(&[(Some("a"), "t", 0, 1), (Some("b"), "t", 0, 2)]);
        assert_eq!(kept(std::slice::from_ref(&only)).len(), 2);
    }
}
