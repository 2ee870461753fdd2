//! Lineage from SQL: the tables a model reads, from its table references (parsed with
//! DataFusion's SQL parser, CTE names excluded).

use deltalake::datafusion::sql::parser::DFParser;
use deltalake::datafusion::sql::resolve::resolve_table_references;
use strata_pipelines::TableName;

/// The `layer.table` references of one SQL statement, sorted; unqualified names and anything
/// else that is not `layer.table` are returned as errors naming them.
pub fn table_references(sql: &str) -> Result<Vec<TableName>, String> {
    let mut statements = DFParser::parse_sql(sql).map_err(|e| e.to_string())?;
    if statements.len() != 1 {
        return Err(format!(
            "a model is one SELECT statement; found {}",
            statements.len()
        ));
    }
    let statement = statements.pop_front().ok_or("no statement")?;
    let (relations, _ctes) =
        resolve_table_references(&statement, true).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in relations {
        match (r.schema(), r.catalog()) {
            (Some(layer), None) => out.push(TableName::new(layer, r.table())),
            _ => {
                return Err(format!(
                    "table '{r}' must be named as layer.table (e.g. silver.{})",
                    r.table()
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_exclude_ctes_and_repeat_once() {
        let sql = "WITH a AS (SELECT * FROM silver.x) SELECT * FROM a JOIN gold.y ON true \
                   JOIN silver.x z ON true";
        let refs = table_references(sql).unwrap();
        assert_eq!(
            refs,
            vec![TableName::new("gold", "y"), TableName::new("silver", "x")]
        );
        assert!(
            table_references("SELECT * FROM t")
                .unwrap_err()
                .contains("layer.table")
        );
        assert!(table_references("SELEC 1").is_err());
    }
}
