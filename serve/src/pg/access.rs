//! What one SQL connection sees, by the role of its user: the shared catalog filtered to the
//! tables the role may read (hidden ones are absent from `information_schema` and
//! `pg_catalog` too, so `\dt` does not list them), denied columns left out and PII columns
//! masked by a view over the table. Time-travel names (`layer.table@vN`) obey the same grants.
//!
//! The role is bound when the connection's first statement arrives (after authentication);
//! until then the connection sees nothing.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables,
};
use datafusion_postgres::pgwire::error::PgWireError;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::catalog::Session;
use deltalake::datafusion::catalog::view::ViewTable;
use deltalake::datafusion::catalog::{
    CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider,
};
use deltalake::datafusion::common::{ScalarValue, TableReference};
use deltalake::datafusion::datasource::provider_as_source;
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::functions::crypto::expr_fn::sha256;
use deltalake::datafusion::functions::encoding::expr_fn::encode;
use deltalake::datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType, cast, col, lit,
};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use std::result::Result as StdResult;
use strata_pipelines::{AuditEvent, TableName};
use strata_project::{Mask, OPERATOR, PiiColumns, Project, Role};

use super::guard::pg_error;

/// The schemas every role sees: they describe only what the role may read.
const META: [&str; 2] = ["pg_catalog", "information_schema"];

/// A connection's role, set once.
pub(super) type RoleCell = Arc<OnceLock<Arc<Role>>>;

/// What a role is allowed, with the PII the project declares.
#[derive(Debug, Clone)]
pub(super) struct Grants {
    role: RoleCell,
    /// The connection's user, once bound.
    user: Arc<OnceLock<String>>,
    project: Arc<Project>,
}

impl Grants {
    pub(super) fn new(role: RoleCell, project: Arc<Project>) -> Self {
        Self {
            role,
            user: Arc::default(),
            project,
        }
    }

    /// An audit record of this connection's user and role.
    pub(super) fn event(&self, user: Option<&String>, action: &str) -> AuditEvent {
        let user = user.or(self.user.get()).map_or("anonymous", String::as_str);
        let role = self.role().map_or("", |r| r.name.as_str());
        AuditEvent::new(user, role, "sql", action)
    }

    /// Give the connection its user's role, once. With no users configured every connection
    /// is the operator (an open endpoint, as without authentication).
    pub(super) fn bind(
        &self,
        user: Option<&String>,
        principals: &super::Principals,
    ) -> StdResult<(), PgWireError> {
        if self.role.get().is_some() {
            return Ok(());
        }
        let role = if principals.users.is_empty() {
            OPERATOR
        } else {
            let user = user.map_or("", String::as_str);
            principals
                .users
                .iter()
                .find(|u| u.name == user)
                .map(|u| u.role.as_str())
                .ok_or_else(|| pg_error("28000", format!("user \"{user}\" has no role")))?
        };
        let role = self.project.role(role).ok_or_else(|| {
            pg_error(
                "28000",
                format!("role {role} is not declared in the project's access.toml"),
            )
        })?;
        let _ = self.role.set(Arc::new(role.clone()));
        if let Some(u) = user {
            let _ = self.user.set(u.clone());
        }
        Ok(())
    }

    pub(super) fn role(&self) -> Option<&Arc<Role>> {
        self.role.get()
    }

    pub(super) fn can_read(&self, layer: &str, table: &str) -> bool {
        self.role()
            .is_some_and(|r| r.can_read(&TableName::new(layer, table)))
    }

    /// Denied and masked columns of a readable table; `None` when it is shown as stored.
    fn restrictions(&self, layer: &str, table: &str) -> Option<(Vec<String>, PiiColumns)> {
        let role = self.role()?;
        let name = TableName::new(layer, table);
        let denied = role.denied_columns(&name);
        let pii = if role.clear_pii {
            PiiColumns::new()
        } else {
            self.project.pii(&name)
        };
        (!denied.is_empty() || !pii.is_empty()).then_some((denied, pii))
    }

    /// Whether `column` of some table is denied to the role (for the error a query gets).
    pub(super) fn denied_table_of(&self, column: &str) -> Option<String> {
        let role = self.role()?;
        role.deny_columns.iter().find_map(|c| {
            let (table, name) = c.rsplit_once('.')?;
            (name == column).then(|| table.to_string())
        })
    }
}

/// The base catalog list seen through a role, with `pg_catalog` and `information_schema`
/// describing only what the role sees.
#[derive(Debug)]
pub(super) struct RoleCatalogList {
    inner: Arc<dyn CatalogProviderList>,
    grants: Grants,
    meta: Option<Arc<Meta>>,
}

#[derive(Debug)]
struct Meta {
    pg_catalog: Arc<dyn SchemaProvider>,
    information_schema: Arc<dyn SchemaProvider>,
}

impl RoleCatalogList {
    /// The list a connection plans against. `static_tables` is pg_catalog's fixed content,
    /// loaded once per server.
    pub(super) fn for_connection(
        inner: Arc<dyn CatalogProviderList>,
        grants: Grants,
        static_tables: Arc<PgCatalogStaticTables>,
    ) -> Result<Arc<Self>> {
        // The metadata schemas list the data tables through the same filter (but not
        // themselves through it: no reference cycle).
        let data: Arc<dyn CatalogProviderList> = Arc::new(Self {
            inner: inner.clone(),
            grants: grants.clone(),
            meta: None,
        });
        let pg_catalog = PgCatalogSchemaProvider::try_new(
            data.clone(),
            static_tables,
            Arc::new(AuthManager::default()),
        )?;
        let meta = Meta {
            pg_catalog: Arc::new(pg_catalog),
            information_schema: Arc::new(super::info_schema::PgInformationSchema::new(data)),
        };
        Ok(Arc::new(Self {
            inner,
            grants,
            meta: Some(Arc::new(meta)),
        }))
    }
}

impl CatalogProviderList for RoleCatalogList {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.inner.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let inner = self.inner.catalog(name)?;
        Some(Arc::new(RoleCatalog {
            inner,
            grants: self.grants.clone(),
            meta: self.meta.clone(),
        }))
    }
}

#[derive(Debug)]
struct RoleCatalog {
    inner: Arc<dyn CatalogProvider>,
    grants: Grants,
    meta: Option<Arc<Meta>>,
}

impl CatalogProvider for RoleCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.inner
            .schema_names()
            .into_iter()
            .filter(|s| {
                META.contains(&s.as_str())
                    || self.schema(s).is_some_and(|p| !p.table_names().is_empty())
            })
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match (name, &self.meta) {
            ("pg_catalog", Some(m)) => return Some(m.pg_catalog.clone()),
            ("information_schema", Some(m)) => return Some(m.information_schema.clone()),
            _ => {}
        }
        let inner = self.inner.schema(name)?;
        if META.contains(&name) {
            return Some(inner);
        }
        Some(Arc::new(RoleSchema {
            layer: name.to_string(),
            inner,
            grants: self.grants.clone(),
        }))
    }

    fn register_schema(
        &self,
        _name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(DataFusionError::Plan(
            "schemas cannot be created on this endpoint".into(),
        ))
    }
}

#[derive(Debug)]
struct RoleSchema {
    layer: String,
    inner: Arc<dyn SchemaProvider>,
    grants: Grants,
}

#[async_trait]
impl SchemaProvider for RoleSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner
            .table_names()
            .into_iter()
            .filter(|t| self.grants.can_read(&self.layer, t))
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !self.grants.can_read(&self.layer, name) {
            return Ok(None);
        }
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        match self.grants.restrictions(&self.layer, name) {
            None => Ok(Some(table)),
            Some((denied, pii)) => {
                let reference = TableReference::partial(self.layer.clone(), name.to_string());
                masked(reference, table, &denied, &pii).map(Some)
            }
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.grants.can_read(&self.layer, name) && self.inner.table_exist(name)
    }
}

/// The table as a view: denied columns left out, PII columns masked. Filters a query puts
/// on a masked column apply to the masked value, so they reveal nothing either.
fn masked(
    reference: TableReference,
    table: Arc<dyn TableProvider>,
    denied: &[String],
    pii: &PiiColumns,
) -> Result<Arc<dyn TableProvider>> {
    let schema = table.schema();
    let mut exprs = Vec::new();
    for field in schema.fields() {
        let name = field.name();
        if denied.iter().any(|d| d == name) {
            continue;
        }
        let column = col(deltalake::datafusion::common::Column::new(
            Some(reference.clone()),
            name,
        ));
        let expr = match pii.get(name) {
            None => column,
            Some(Mask::Hash) => encode(sha256(cast(column, DataType::Utf8)), lit("hex")),
            Some(Mask::Redact) if field.data_type() == &DataType::Utf8 => lit("[redacted]"),
            Some(Mask::Redact) => Expr::Literal(ScalarValue::try_from(field.data_type())?, None),
        };
        exprs.push(expr.alias(name));
    }
    let plan = LogicalPlanBuilder::scan(reference, provider_as_source(table), None)?
        .project(exprs)?
        .build()?;
    Ok(Arc::new(MaskedTable(ViewTable::new(plan, None))))
}

/// The masking view, listed as the table it stands for (`\dt` lists tables, not views).
#[derive(Debug)]
struct MaskedTable(ViewTable);

#[async_trait]
impl TableProvider for MaskedTable {
    fn schema(&self) -> deltalake::arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&self) -> Option<std::borrow::Cow<'_, LogicalPlan>> {
        self.0.get_logical_plan()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.0.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.0.scan(state, projection, filters, limit).await
    }
}

impl Grants {
    /// The refusal for a query that failed to plan because of the role: a table that exists
    /// but is not granted, or a denied column. `None`: the error stands as it is.
    pub(super) fn denial(&self, base: &dyn CatalogProviderList, message: &str) -> Option<String> {
        let role = self.role()?;
        if let Some(rest) = message.split_once("table '").map(|(_, r)| r)
            && let Some((name, _)) = rest.split_once("' not found")
        {
            let parts: Vec<&str> = name.rsplitn(3, '.').collect();
            let (table, layer) = (*parts.first()?, *parts.get(1)?);
            let exists = base
                .catalog("datafusion")
                .and_then(|c| c.schema(layer))
                .is_some_and(|s| s.table_exist(table));
            return (exists && !self.can_read(layer, table)).then(|| {
                format!(
                    "permission denied for table {layer}.{table}: role {} does not grant it",
                    role.name
                )
            });
        }
        let (_, rest) = message.split_once("No field named ")?;
        let token = rest.split_whitespace().next()?.trim_end_matches('.');
        let column = token.rsplit('.').next()?.trim_matches('"');
        let table = self.denied_table_of(column)?;
        Some(format!(
            "permission denied for column {column} of table {table}: role {} does not grant it",
            role.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use deltalake::arrow::record_batch::RecordBatch;
    use deltalake::arrow::util::pretty::pretty_format_batches;
    use deltalake::datafusion::datasource::MemTable;
    use deltalake::datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn masked_tables_hash_redact_and_leave_out_columns() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("player_id", DataType::Utf8, true),
            Field::new("comment", DataType::Utf8, true),
            Field::new("age", DataType::Int64, true),
            Field::new("secret", DataType::Utf8, true),
            Field::new("score", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["p1"])),
                Arc::new(StringArray::from(vec!["hello"])),
                Arc::new(Int64Array::from(vec![9137])),
                Arc::new(StringArray::from(vec!["s"])),
                Arc::new(Int64Array::from(vec![7])),
            ],
        )
        .unwrap();
        let table = Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap());
        let pii = PiiColumns::from([
            ("player_id".to_string(), Mask::Hash),
            ("comment".to_string(), Mask::Redact),
            ("age".to_string(), Mask::Redact),
        ]);
        let view = masked(
            TableReference::partial("silver", "t"),
            table,
            &["secret".to_string()],
            &pii,
        )
        .unwrap();
        assert_eq!(view.table_type(), TableType::Base);
        let ctx = SessionContext::new();
        ctx.register_table("t", view).unwrap();
        let out = ctx
            .sql("SELECT * FROM t WHERE score = 7")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = pretty_format_batches(&out).unwrap().to_string();
        // sha256("p1") in hex (Python's hashlib); the redacted string and the null number;
        // no `secret`.
        assert!(
            text.contains("f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"),
            "{text}"
        );
        assert!(text.contains("[redacted]") && !text.contains("hello") && !text.contains("9137"));
        assert!(!text.contains("secret") && text.contains("score"), "{text}");
    }
}
