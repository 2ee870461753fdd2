//! One SQL connection: its own DataFusion session (settings made with `SET` stay in it) over
//! the shared tables, every statement checked read-only on its plan and run under the limits.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, df, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::portal::{Format, Portal, PortalExecutionState};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::api::stmt::{QueryParser, StoredStatement};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::response::TransactionStatus;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::parser::Statement as DfStatementKind;
use deltalake::datafusion::sql::sqlparser::ast::Statement;
use futures::{Sink, StreamExt, stream};

use super::access::{Grants, RoleCatalogList};
use super::compat;
use super::guard::{self, Guard, Guarded, pg_error, query_error, read_only_error};
use super::tables::Tables;

type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// What every connection shares.
pub(super) struct Shared {
    pub base: Arc<SessionContext>,
    pub tables: Arc<Tables>,
    pub guard: Guard,
    pub principals: super::Principals,
    /// pg_catalog's fixed tables, loaded once.
    pub pg_static:
        Arc<datafusion_postgres::datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables>,
    pub audit: Option<strata_pipelines::AuditLog>,
}

/// One connection's query handling.
pub(super) struct Connection {
    ctx: Arc<SessionContext>,
    hooks: Vec<Arc<dyn QueryHook>>,
    sql: PostgresCompatibilityParser,
    parser: Arc<StrataParser>,
    shared: Arc<Shared>,
}

impl Connection {
    pub(super) fn new(
        shared: Arc<Shared>,
    ) -> Result<Self, deltalake::datafusion::error::DataFusionError> {
        // The base's tables seen through the user's role, the base's functions; its own
        // settings and its own memory pool.
        let grants = Grants::new(Arc::default(), shared.principals.project.clone());
        let catalogs = RoleCatalogList::for_connection(
            shared.base.state().catalog_list().clone(),
            grants.clone(),
            shared.pg_static.clone(),
        )?;
        let state = SessionStateBuilder::new_from_existing(shared.base.state())
            .with_catalog_list(catalogs)
            .with_runtime_env(shared.guard.runtime()?)
            .build();
        let ctx = Arc::new(SessionContext::new_with_state(state));
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let inner = DfSessionService::new_with_hooks(ctx.clone(), hooks.clone());
        let parser = Arc::new(StrataParser {
            inner: inner.query_parser(),
            shared: shared.clone(),
            ctx: ctx.clone(),
            sql: PostgresCompatibilityParser::new(),
            hooks: hooks.clone(),
            grants,
        });
        Ok(Self {
            ctx,
            hooks,
            sql: PostgresCompatibilityParser::new(),
            parser,
            shared,
        })
    }

    /// SAVEPOINT and friends are accepted (nothing here can be rolled back); the hooks answer
    /// the other session statements. `None`: a query to plan.
    async fn session_statement(
        &self,
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Some(tag) = compat::savepoint_tag(statement) {
            return Some(Ok(Response::Execution(Tag::new(tag))));
        }
        if let Some(r) = self.show_datafusion_setting(statement).await {
            return Some(r);
        }
        if let Some(path) = compat::search_path_value(statement) {
            client
                .metadata_mut()
                .insert("search_path".to_string(), path.clone());
            let status = ParameterStatus::new("search_path".to_string(), path);
            return Some(
                client
                    .send_message(PgWireBackendMessage::ParameterStatus(status))
                    .await
                    .map(|()| Response::Execution(Tag::new("SET"))),
            );
        }
        if let Statement::Declare { stmts } = statement {
            for d in stmts {
                if let Some(q) = &d.for_query
                    && let Err(e) = self.parser.plan(&Statement::Query(q.clone())).await
                {
                    return Some(Err(e));
                }
            }
        }
        if !guard::is_session_statement(statement) {
            if client.transaction_status() == TransactionStatus::Error {
                return Some(Err(pg_error(
                    "25P01",
                    "current transaction is aborted, commands ignored until end of transaction block",
                )));
            }
            return None;
        }
        for hook in &self.hooks {
            if let Some(r) = hook.handle_simple_query(statement, &self.ctx, client).await {
                return Some(r);
            }
        }
        None
    }

    /// `SHOW datafusion.*`: this connection's value of a DataFusion setting.
    async fn show_datafusion_setting(
        &self,
        statement: &Statement,
    ) -> Option<PgWireResult<Response>> {
        let Statement::ShowVariable { variable } = statement else {
            return None;
        };
        let name = variable
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join(".")
            .to_ascii_lowercase();
        if !name.starts_with("datafusion.") {
            return None;
        }
        let entries = self.ctx.state().config_options().entries();
        let Some(entry) = entries.iter().find(|e| e.key == name) else {
            return Some(Err(pg_error(
                "42704",
                format!("unrecognized configuration parameter \"{name}\""),
            )));
        };
        let value = entry.value.clone().unwrap_or_default();
        let result = async {
            let batch = deltalake::arrow::record_batch::RecordBatch::try_from_iter([(
                name.as_str(),
                Arc::new(deltalake::arrow::array::StringArray::from(vec![value]))
                    as deltalake::arrow::array::ArrayRef,
            )])?;
            let frame = self.ctx.read_batch(batch)?;
            Ok::<_, deltalake::datafusion::error::DataFusionError>(frame)
        };
        Some(match result.await {
            Ok(frame) => df::encode_dataframe(frame, &Format::UnifiedText, None)
                .await
                .map(Response::Query),
            Err(e) => Err(query_error(e)),
        })
    }

    /// Run a checked plan under the deadline, the concurrency cap and the memory cap. The
    /// first batch is computed before the answer starts, so a timeout or a memory error
    /// arrives as a clean error rather than after the column list.
    async fn execute<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        plan: LogicalPlan,
        format: &Format,
        sql: &str,
    ) -> PgWireResult<Response> {
        let audit = super::audit::for_query(
            self.shared.audit.as_ref(),
            &self.parser.grants,
            client.metadata().get("user"),
            &plan,
            sql,
        );
        let deadline = self
            .shared
            .guard
            .deadline(datafusion_postgres_client_timeout(client));
        let permit = self.shared.guard.admit(deadline).await?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let frame = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(query_error)?;
        let fields = Arc::new(arrow_schema_to_pg_fields(
            frame.schema().as_arrow(),
            format,
            Some(options),
        )?);
        let batches = tokio::time::timeout_at(deadline, frame.execute_stream())
            .await
            .map_err(|_| guard::timeout_error())?
            .map_err(query_error)?;
        let mut guarded = Guarded::new(batches, deadline, permit);
        let first = guarded.next().await;
        if let Some(Err(stop)) = first {
            return Err(stop.into_pg());
        }
        let encode_fields = fields.clone();
        let mut audit = audit;
        let rows = stream::iter(first)
            .chain(guarded)
            .map(move |batch| {
                if let (Ok(b), Some(a)) = (&batch, audit.as_mut()) {
                    a.rows += b.num_rows() as u64;
                }
                let rows: Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> = match batch {
                    Ok(b) => encode_recordbatch(encode_fields.clone(), b),
                    Err(stop) => Box::new(std::iter::once(Err(stop.into_pg()))),
                };
                stream::iter(rows)
            })
            .flatten();
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    /// The columns of an open cursor (for `FETCH` in the extended protocol, where clients
    /// describe before they execute).
    async fn cursor_fields<C>(
        &self,
        client: &C,
        statement: &Statement,
    ) -> Option<Arc<Vec<FieldInfo>>>
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore<Statement = DfStatement>,
    {
        let Statement::Fetch { name, .. } = statement else {
            return None;
        };
        let entry = client.portal_store().get_portal(&name.value)?;
        let state = entry.value()?.state();
        let state = state.lock().await;
        match &*state {
            PortalExecutionState::Suspended(r) => Some(r.row_schema()),
            _ => Some(Arc::new(vec![])),
        }
    }
}

fn datafusion_postgres_client_timeout<C: ClientInfo + ?Sized>(
    client: &C,
) -> Option<std::time::Duration> {
    client
        .metadata()
        .get("statement_timeout_ms")
        .and_then(|s| s.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

/// Parses with DataFusion's Postgres dialect after Strata's own steps: writes refused before
/// anything else, time travel (`layer.table@vN`), the client's search_path, compatibility
/// rewrites; then every plan is checked read-only.
pub(super) struct StrataParser {
    inner: Arc<Parser>,
    shared: Arc<Shared>,
    ctx: Arc<SessionContext>,
    sql: PostgresCompatibilityParser,
    hooks: Vec<Arc<dyn QueryHook>>,
    grants: Grants,
}

impl StrataParser {
    /// Text steps shared by both protocols: the SQL DataFusion will parse. The connection's
    /// role is bound on its first statement (the user is known once authenticated).
    async fn prepare<C: ClientInfo + ?Sized>(&self, client: &C, sql: &str) -> PgWireResult<String> {
        self.grants
            .bind(client.metadata().get("user"), &self.shared.principals)?;
        if let Some(verb) = guard::writing_verb(sql) {
            return Err(read_only_error(&verb));
        }
        let (sql, refs) = strata_pipelines::time_travel::rewrite(sql);
        for r in &refs {
            if !self.grants.can_read(&r.table.layer, &r.table.table) {
                let message = format!(
                    "permission denied for table {}: its versions are not granted either",
                    r.table
                );
                if let Some(log) = &self.shared.audit {
                    let event = self.grants.event(None, "read").query(&sql);
                    log.record(event.outcome("denied", message.clone()));
                }
                return Err(pg_error("42501", message));
            }
        }
        if !refs.is_empty() {
            self.shared
                .tables
                .register_versions(&refs)
                .await
                .map_err(|e| pg_error("42P01", e.to_string()))?;
        }
        Ok(sql)
    }

    /// Plan a query statement and check that it only reads.
    async fn plan(&self, statement: &Statement) -> PgWireResult<LogicalPlan> {
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DfStatementKind::Statement(Box::new(statement.clone())))
            .await
            .map_err(|e| {
                let base = self.shared.base.state().catalog_list().clone();
                match self.grants.denial(base.as_ref(), &e.strip_backtrace()) {
                    Some(m) => {
                        if let Some(log) = &self.shared.audit {
                            let event = self
                                .grants
                                .event(None, "read")
                                .query(&statement.to_string());
                            log.record(event.outcome("denied", m.clone()));
                        }
                        pg_error("42501", m)
                    }
                    None => query_error(e),
                }
            })?;
        guard::check_read_only(&plan)?;
        Ok(plan)
    }
}

#[async_trait]
impl QueryParser for StrataParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let sql = self.prepare(client, sql).await?;
        let mut statements = self
            .sql
            .parse(&sql)
            .map_err(|e| pg_error("42601", e.to_string()))?;
        if statements.is_empty() {
            return Ok(None);
        }
        let mut statement = statements.remove(0);
        if let Statement::Declare { stmts } = &statement {
            for d in stmts {
                if let Some(q) = &d.for_query {
                    self.plan(&Statement::Query(q.clone())).await?;
                }
            }
        }
        if guard::is_session_statement(&statement) || compat::savepoint_tag(&statement).is_some() {
            // Answered at execution by the session hooks; no query plan of its own.
            for hook in &self.hooks {
                if let Some(plan) = hook
                    .handle_extended_parse_query(&statement, &self.ctx, client)
                    .await
                {
                    return Ok(Some((statement.to_string(), Some((statement, plan?)))));
                }
            }
            let empty =
                LogicalPlan::EmptyRelation(deltalake::datafusion::logical_expr::EmptyRelation {
                    produce_one_row: false,
                    schema: Arc::new(deltalake::datafusion::common::DFSchema::empty()),
                });
            return Ok(Some((statement.to_string(), Some((statement, empty)))));
        }
        let path = client.metadata().get("search_path").cloned();
        compat::rewrite(&mut statement, path.as_deref(), &self.ctx);
        let plan = self.plan(&statement).await?;
        Ok(Some((statement.to_string(), Some((statement, plan)))))
    }

    fn get_parameter_types(&self, stmt: &DfStatement) -> PgWireResult<Vec<Type>> {
        parameter_wire_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &DfStatement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.inner.get_result_schema(stmt, format)
    }
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = self.parser.prepare(client, query).await?;
        let statements = self
            .sql
            .parse(&sql)
            .map_err(|e| pg_error("42601", e.to_string()))?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut results = Vec::with_capacity(statements.len());
        for mut statement in statements {
            if let Some(r) = self.session_statement(&statement, client).await {
                results.push(r?);
                continue;
            }
            // A SET search_path earlier in this same query applies from here on.
            let path = client.metadata().get("search_path").cloned();
            compat::rewrite(&mut statement, path.as_deref(), &self.ctx);
            let plan = self.parser.plan(&statement).await?;
            let text = statement.to_string();
            results.push(
                self.execute(client, plan, &Format::UnifiedText, &text)
                    .await?,
            );
        }
        Ok(results)
    }
}

/// Parameter types by position (`$1` first), as DataFusion inferred them. A parameter the
/// plan no longer uses (a rewrite dropped it) keeps its place with no type, so later ones
/// stay aligned with what the client binds.
fn inferred_parameters(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let numbered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(id, t)| Some((id.trim_start_matches('$').parse::<usize>().ok()?, t)))
        .filter(|(i, _)| *i >= 1)
        .collect();
    let len = numbered.iter().map(|(i, _)| *i).max().unwrap_or(0);
    let mut out = vec![None; len];
    for (i, t) in numbered {
        out[i - 1] = t;
    }
    Ok(out)
}

/// The wire types of a statement's parameters, aligned like [`inferred_parameters`].
fn parameter_wire_types(stmt: &DfStatement) -> PgWireResult<Vec<Type>> {
    let Some((_, plan)) = &stmt.1 else {
        return Ok(Vec::new());
    };
    inferred_parameters(plan)?
        .iter()
        .map(|t| t.as_ref().map_or(Ok(Type::UNKNOWN), into_pg_type))
        .collect()
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = DfStatement;
    type QueryParser = StrataParser;

    fn query_parser(&self) -> Arc<StrataParser> {
        self.parser.clone()
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<DfStatement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &target.statement;
        let server = self.parser.get_parameter_types(stmt)?;
        let params = (0..target.parameter_types.len().max(server.len()))
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| server.get(i).cloned())
                    .unwrap_or(Type::UNKNOWN)
            })
            .collect();
        let fields = match &stmt.1 {
            Some((s, _)) => self.cursor_fields(client, s).await,
            None => None,
        };
        let fields = match fields {
            Some(f) => f.as_ref().clone(),
            None => self.parser.get_result_schema(stmt, None)?,
        };
        Ok(DescribeStatementResponse::new(params, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        target: &Portal<DfStatement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &target.statement.statement;
        // A cursor opened by DECLARE is a portal of that name already running its query
        // (psycopg's named cursors describe it before fetching): its columns are its answer's.
        if let PortalExecutionState::Suspended(r) = &*target.state().lock().await {
            return Ok(DescribePortalResponse::new(r.row_schema().as_ref().clone()));
        }
        if let Some((s, _)) = &stmt.1
            && let Some(fields) = self.cursor_fields(client, s).await
        {
            return Ok(DescribePortalResponse::new(fields.as_ref().clone()));
        }
        let fields = self
            .parser
            .get_result_schema(stmt, Some(&target.result_column_format))?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<DfStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (_, Some((statement, plan))) = &portal.statement.statement else {
            return Ok(Response::EmptyQuery);
        };
        if let Some(r) = self.session_statement(statement, client).await {
            return r;
        }
        let wire = self
            .parser
            .get_parameter_types(&portal.statement.statement)?;
        let wire: Vec<Option<&Type>> = wire.iter().map(Some).collect();
        let inferred = inferred_parameters(plan)?;
        let inferred: Vec<Option<&DataType>> = inferred.iter().map(Option::as_ref).collect();
        let params = df::deserialize_parameters_with_server_types(portal, &inferred, &wire)?;
        let plan = plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(query_error)?;
        self.execute(
            client,
            plan,
            &portal.result_column_format,
            &portal.statement.statement.0,
        )
        .await
    }
}
