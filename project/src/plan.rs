//! Planning the Gold models without data: each model's SQL over empty tables of the declared
//! schemas, in dependency order, which checks names, types and functions and gives every
//! model's output schema.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use strata_pipelines::TableName;

use crate::Project;

/// Plan every Gold model over empty tables of the Silver schemas, in dependency order; the
/// output schemas of every table the project produces. Planning checks names, types and
/// functions without data.
pub(crate) fn plan_models(
    project: &Project,
    at: &mut impl FnMut(&str, &str, String),
) -> BTreeMap<TableName, SchemaRef> {
    let mut schemas: BTreeMap<TableName, SchemaRef> = project
        .silver
        .iter()
        .map(|t| (t.table_name(), t.schema()))
        .collect();
    // DataFusion's planner is async; a private runtime keeps loading callable from anywhere.
    let planned = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(rt.block_on(plan_all(project, schemas.clone())))
        })
        .join()
    });
    match planned {
        Ok(Ok(results)) => {
            for (m, r) in project.gold.iter().zip(results) {
                match r {
                    // An input is missing or failed to plan: reported already.
                    Err(e) if e.is_empty() => {}
                    Ok(schema) => {
                        if !matches!(
                            schema
                                .field_with_name("event_date")
                                .map(|f| f.data_type().clone()),
                            Ok(DataType::Date32)
                        ) {
                            at(&m.file, "", "the model's output needs an event_date column of type DATE (its partition and the day it is recomputed by)".into());
                        }
                        schemas.insert(m.table_name(), schema);
                    }
                    Err(e) => at(&m.file, "", format!("SQL does not plan: {e}")),
                }
            }
        }
        Ok(Err(e)) => at(
            "strata_project.toml",
            "",
            format!("cannot plan models: {e}"),
        ),
        Err(_) => at(
            "strata_project.toml",
            "",
            "planning the models panicked".into(),
        ),
    }
    schemas
}

async fn plan_all(
    project: &Project,
    mut known: BTreeMap<TableName, SchemaRef>,
) -> Vec<Result<SchemaRef, String>> {
    let mut out = Vec::new();
    for m in &project.gold {
        let ctx = SessionContext::new();
        // An empty error: an input is missing (reported on its own).
        let mut failed: Option<String> = None;
        for input in &m.inputs {
            match known.get(input) {
                Some(schema) => {
                    if let Err(e) = register_empty(&ctx, input, schema.clone()) {
                        failed = Some(format!("registering {input}: {e}"));
                    }
                }
                None => failed = failed.or(Some(String::new())),
            }
        }
        if let Some(e) = failed {
            out.push(Err(e));
            continue;
        }
        let r = match ctx.sql(&m.sql).await {
            Ok(df) => Ok(Arc::new(df.schema().as_arrow().clone())),
            Err(e) => Err(e.to_string()),
        };
        if let Ok(s) = &r {
            known.insert(m.table_name(), s.clone());
        }
        out.push(r);
    }
    out
}

fn register_empty(ctx: &SessionContext, name: &TableName, schema: SchemaRef) -> Result<(), String> {
    use deltalake::datafusion::catalog::MemorySchemaProvider;
    let catalog = ctx.catalog("datafusion").ok_or("no default catalog")?;
    if catalog.schema(&name.layer).is_none() {
        catalog
            .register_schema(&name.layer, Arc::new(MemorySchemaProvider::new()))
            .map_err(|e| e.to_string())?;
    }
    let table = MemTable::try_new(schema, vec![vec![]]).map_err(|e| e.to_string())?;
    ctx.register_table(
        deltalake::datafusion::common::TableReference::partial(
            name.layer.as_str(),
            name.table.as_str(),
        ),
        Arc::new(table),
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}
