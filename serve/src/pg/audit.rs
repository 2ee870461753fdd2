//! The audit record of a SQL query: the lake tables its plan reads and the rows it sent,
//! written to `_strata.audit` when its answer ends.

use deltalake::datafusion::logical_expr::LogicalPlan;
use strata_pipelines::{AuditLog, LAYERS};

use super::access::Grants;

/// The record of a query reading lake tables, to be completed with the rows sent; catalog
/// queries (pg_catalog, information_schema) are not data access and get none.
pub(super) fn for_query(
    log: Option<&AuditLog>,
    grants: &Grants,
    user: Option<&String>,
    plan: &LogicalPlan,
    sql: &str,
) -> Option<AuditOnDrop> {
    let log = log?.clone();
    let tables = lake_tables(plan);
    if tables.is_empty() {
        return None;
    }
    let event = grants.event(user, "read").objects(tables).query(sql);
    Some(AuditOnDrop {
        log,
        event: Some(event),
        rows: 0,
    })
}

/// Writes a query's audit record when its answer is dropped (sent, failed or cancelled).
pub(super) struct AuditOnDrop {
    log: strata_pipelines::AuditLog,
    event: Option<strata_pipelines::AuditEvent>,
    pub(super) rows: u64,
}

impl Drop for AuditOnDrop {
    fn drop(&mut self) {
        if let Some(e) = self.event.take() {
            self.log.record(e.rows(self.rows));
        }
    }
}

/// The lake tables a plan reads (`layer.table`, time-travel names included), subqueries too.
fn lake_tables(plan: &LogicalPlan) -> Vec<String> {
    use deltalake::datafusion::common::tree_node::TreeNodeRecursion;
    let mut out = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan
                .table_name
                .schema()
                .is_some_and(|s| LAYERS.contains(&s))
        {
            out.push(format!(
                "{}.{}",
                scan.table_name.schema().unwrap_or_default(),
                scan.table_name.table()
            ));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}
