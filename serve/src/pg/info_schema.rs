//! `information_schema` as Postgres clients read it: DataFusion's own tables, with the
//! `columns` table speaking Postgres (type names such as `bigint` and `date` rather than
//! Arrow's `Int64` and `Date32`, positions counted from 1). Registered as a schema of the
//! shared catalog; DataFusion's built-in copy is switched off so this one answers.

use std::sync::Arc;

use async_trait::async_trait;
use deltalake::arrow::array::{ArrayRef, AsArray, StringArray, UInt64Array};
use deltalake::arrow::datatypes::{DataType, SchemaRef, UInt64Type};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::information_schema::InformationSchemaProvider;
use deltalake::datafusion::catalog::{CatalogProviderList, SchemaProvider, Session, TableProvider};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::Result;
use deltalake::datafusion::logical_expr::{Expr, TableType};
use deltalake::datafusion::physical_plan::{ExecutionPlan, collect};

/// The `information_schema` schema.
#[derive(Debug)]
pub(super) struct PgInformationSchema {
    inner: InformationSchemaProvider,
}

impl PgInformationSchema {
    pub(super) fn new(catalogs: Arc<dyn CatalogProviderList>) -> Self {
        Self {
            inner: InformationSchemaProvider::new(catalogs),
        }
    }
}

#[async_trait]
impl SchemaProvider for PgInformationSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let table = self.inner.table(name).await?;
        Ok(match table {
            Some(t) if name.eq_ignore_ascii_case("columns") => {
                Some(Arc::new(PgColumns { inner: t }))
            }
            other => other,
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// `information_schema.columns` with Postgres type names and 1-based positions.
#[derive(Debug)]
struct PgColumns {
    inner: Arc<dyn TableProvider>,
}

#[async_trait]
impl TableProvider for PgColumns {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The listing is small (one row per column of the lake): read it whole, translate.
        let plan = self.inner.scan(state, None, &[], None).await?;
        let batches = collect(plan, state.task_ctx()).await?;
        let batches = batches
            .iter()
            .map(postgres_columns)
            .collect::<Result<Vec<_>>>()?;
        MemTable::try_new(self.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

fn postgres_columns(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    if let Ok(i) = schema.index_of("ordinal_position") {
        let pos = columns[i].as_primitive::<UInt64Type>();
        let shifted: UInt64Array = pos.iter().map(|p| p.map(|p| p + 1)).collect();
        columns[i] = Arc::new(shifted);
    }
    if let Ok(i) = schema.index_of("data_type") {
        let names = columns[i].as_string::<i32>();
        let mapped: StringArray = names
            .iter()
            .map(|n| {
                n.map(|n| {
                    n.parse::<DataType>()
                        .map_or_else(|_| n.to_string(), |t| pg_type_name(&t).to_string())
                })
            })
            .collect();
        columns[i] = Arc::new(mapped);
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The Postgres name of the type an Arrow column is served as.
pub(super) fn pg_type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int64 | DataType::UInt32 => "bigint",
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric",
        DataType::Float16 | DataType::Float32 => "real",
        DataType::Float64 => "double precision",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "bytea",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(_, None) => "timestamp without time zone",
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone",
        DataType::Time32(_) | DataType::Time64(_) => "time without time zone",
        DataType::Interval(_) | DataType::Duration(_) => "interval",
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::ListView(_) => "ARRAY",
        DataType::Dictionary(_, v) => pg_type_name(v),
        _ => "json",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_type_names_become_postgres_ones() {
        for (arrow, pg) in [
            ("Utf8View", "text"),
            ("Int64", "bigint"),
            ("Date32", "date"),
            ("Float64", "double precision"),
        ] {
            assert_eq!(pg_type_name(&arrow.parse::<DataType>().unwrap()), pg);
        }
        let ts = DataType::Timestamp(
            deltalake::arrow::datatypes::TimeUnit::Microsecond,
            Some("UTC".into()),
        );
        assert_eq!(
            pg_type_name(&ts.to_string().parse().unwrap()),
            "timestamp with time zone"
        );
    }
}
