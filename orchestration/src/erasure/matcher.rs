//! Which rows are about the entity being erased: a text or binary column that holds the value
//! as a whole token (a key column equal to it, the raw event bytes, a rejected row's JSON, a
//! quality sample), or the id of an event already erased from Bronze (a Silver row refined
//! from it).
//!
//! The value lives inside the function, not in its arguments, so the predicate a Delta
//! commit records (`erased_entity(player_id, value)`) never carries it into the log.

use std::collections::BTreeSet;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::error::Result as DfResult;
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use deltalake::datafusion::prelude::{Expr, ident};

/// Matches one entity's value (and the erased events' ids) in any of its arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ErasedEntity {
    value: Vec<u8>,
    event_ids: BTreeSet<String>,
    signature: Signature,
}

impl ErasedEntity {
    pub fn new(value: &str, event_ids: BTreeSet<String>) -> Self {
        Self {
            value: value.as_bytes().to_vec(),
            event_ids,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// `erased_entity(columns...)` as a predicate.
    pub fn predicate(self: &Arc<Self>, columns: &[String]) -> Expr {
        let udf = ScalarUDF::new_from_shared_impl(self.clone());
        udf.call(columns.iter().map(ident).collect())
    }

    fn matches(&self, bytes: &[u8]) -> bool {
        mentions(bytes, &self.value)
            || std::str::from_utf8(bytes).is_ok_and(|s| self.event_ids.contains(s))
    }

    /// Per row: does this column match?
    fn column(&self, array: &ArrayRef, rows: usize) -> DfResult<Vec<bool>> {
        let test = |v: Option<&[u8]>| v.is_some_and(|b| self.matches(b));
        Ok(match array.data_type() {
            DataType::Binary => array.as_binary::<i32>().iter().map(test).collect(),
            DataType::LargeBinary => array.as_binary::<i64>().iter().map(test).collect(),
            DataType::BinaryView => array.as_binary_view().iter().map(test).collect(),
            DataType::Null => vec![false; rows],
            _ => {
                let text = cast(array, &DataType::Utf8)?;
                text.as_string::<i32>()
                    .iter()
                    .map(|v| test(v.map(str::as_bytes)))
                    .collect()
            }
        })
    }
}

impl ScalarUDFImpl for ErasedEntity {
    fn name(&self) -> &str {
        "erased_entity"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let mut hit = vec![false; rows];
        for array in ColumnarValue::values_to_arrays(&args.args)? {
            for (h, m) in hit.iter_mut().zip(self.column(&array, rows)?) {
                *h |= m;
            }
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(hit))))
    }
}

/// `needle` occurs in `hay` as a whole token: not inside a longer id (`player-1` is not in
/// `player-12`), whatever surrounds it otherwise (JSON quotes, separators, the whole value).
pub fn mentions(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    if n == 0 || hay.len() < n {
        return false;
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let first = needle[0];
    (0..=hay.len() - n).any(|i| {
        hay[i] == first
            && &hay[i..i + n] == needle
            && (i == 0 || !word(hay[i - 1]))
            && hay.get(i + n).is_none_or(|b| !word(*b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{BinaryArray, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use deltalake::datafusion::datasource::MemTable;
    use deltalake::datafusion::prelude::SessionContext;

    #[test]
    fn a_value_matches_only_as_a_whole_token() {
        let x = b"player-000042";
        assert!(mentions(b"player-000042", x));
        assert!(mentions(br#"{"player_id":"player-000042","n":1}"#, x));
        assert!(mentions(b"a player-000042.", x));
        assert!(!mentions(b"player-0000421", x));
        assert!(!mentions(b"xplayer-000042", x));
        assert!(!mentions(b"player-00004", x));
        assert!(!mentions(b"", x));
    }

    #[tokio::test]
    async fn the_predicate_finds_rows_by_value_or_erased_event_and_hides_the_value() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("player_id", DataType::Utf8, true),
            Field::new("event_id", DataType::Utf8, true),
            Field::new("value", DataType::Binary, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("player-000042"),
                    Some("player-000007"),
                    None,
                    Some("player-000007"),
                ])),
                Arc::new(StringArray::from(vec!["e1", "e2", "e3", "e4"])),
                Arc::new(BinaryArray::from(vec![
                    Some(&b"{}"[..]),
                    Some(&b"{}"[..]),
                    Some(&b"\xff{\"p\":\"player-000042\"}"[..]),
                    None,
                ])),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        let udf = Arc::new(ErasedEntity::new(
            "player-000042",
            BTreeSet::from(["e4".to_string()]),
        ));
        let predicate = udf.predicate(&["player_id".into(), "event_id".into(), "value".into()]);
        assert!(!predicate.to_string().contains("player-000042"));
        let df = ctx.table("t").await.unwrap().filter(predicate).unwrap();
        let ids: Vec<String> = df
            .collect()
            .await
            .unwrap()
            .iter()
            .flat_map(|b| {
                let c = b.column(1).as_string::<i32>();
                (0..b.num_rows())
                    .map(|i| c.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids, ["e1", "e3", "e4"]);
    }
}
