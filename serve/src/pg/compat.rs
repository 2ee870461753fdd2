//! What Postgres clients and BI tools expect beyond plain SQL: functions they call on
//! connect (`version()` in Postgres form, `to_regtype`, `pg_get_serial_sequence`), savepoints
//! inside read-only transactions, `LIKE ... ESCAPE`, and the client's `search_path`.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, Int32Array, StringArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::error::Result as DfResult;
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, ObjectName, ObjectNamePart, SelectItem, SetExpr, Statement,
    TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut, visit_expressions_mut,
};
use deltalake::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// The server version clients parse (`PostgreSQL MAJOR.MINOR ...`), then what it really is.
pub(super) const SERVER_VERSION: &str = "16.6";

fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} on x86_64-pc-linux-gnu (Strata {}, Apache DataFusion {})",
        env!("CARGO_PKG_VERSION"),
        deltalake::datafusion::DATAFUSION_VERSION
    )
}

/// Postgres type names this endpoint produces, with their oids (for `to_regtype`).
const TYPES: [(&str, i32); 14] = [
    ("boolean", 16),
    ("bytea", 17),
    ("bigint", 20),
    ("smallint", 21),
    ("integer", 23),
    ("text", 25),
    ("real", 700),
    ("double precision", 701),
    ("character varying", 1043),
    ("date", 1082),
    ("timestamp without time zone", 1114),
    ("timestamp with time zone", 1184),
    ("numeric", 1700),
    ("json", 114),
];

fn regtype(name: &str) -> Option<i32> {
    let n = name.trim().trim_matches('"').to_ascii_lowercase();
    let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
    let alias = match n {
        "int8" => "bigint",
        "int4" | "int" => "integer",
        "int2" => "smallint",
        "bool" => "boolean",
        "float8" => "double precision",
        "float4" => "real",
        "varchar" => "character varying",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        other => other,
    };
    TYPES.iter().find(|(t, _)| *t == alias).map(|(_, oid)| *oid)
}

/// `json_build_object(k1, v1, ...)` as JSON text (SQLAlchemy's column inspection calls it).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = arrays
            .iter()
            .map(|a| deltalake::arrow::compute::cast(a, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        let texts: Vec<&StringArray> = texts
            .iter()
            .filter_map(|a| a.as_any().downcast_ref::<StringArray>())
            .collect();
        let out: StringArray = (0..args.number_rows)
            .map(|row| {
                let mut object = serde_json::Map::new();
                for (pair, kinds) in texts.chunks(2).zip(arrays.chunks(2)) {
                    let (Some(k), Some(v)) = (pair.first(), pair.get(1)) else {
                        continue;
                    };
                    let key = if k.is_null(row) {
                        String::new()
                    } else {
                        k.value(row).to_string()
                    };
                    let value = if v.is_null(row) {
                        serde_json::Value::Null
                    } else if kinds[1].data_type().is_numeric()
                        || kinds[1].data_type() == &DataType::Boolean
                    {
                        serde_json::from_str(v.value(row)).unwrap_or_else(|_| v.value(row).into())
                    } else {
                        v.value(row).into()
                    };
                    object.insert(key, value);
                }
                Some(serde_json::Value::Object(object).to_string())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `pg_int_array(x)`: a Postgres vector column (`int2vector`, served as text such as
/// `"1 2"`) or an array, as a list of integers; `pg_subscripts(list)`: its 1-based positions.
/// Catalog queries' `unnest(indkey)` and `generate_subscripts(indkey, 1)` are rewritten to
/// these, since DataFusion unnests only lists.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntArray {
    name: &'static str,
    signature: Signature,
}

fn int_list_type() -> DataType {
    DataType::List(Arc::new(
        deltalake::arrow::datatypes::Field::new_list_field(DataType::Int64, true),
    ))
}

impl ScalarUDFImpl for IntArray {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(int_list_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        use deltalake::arrow::array::{Int64Builder, ListArray, ListBuilder};
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = &arrays[0];
        let lists: Vec<Option<Vec<i64>>> =
            if let DataType::List(_) | DataType::LargeList(_) = input.data_type() {
                let cast = deltalake::arrow::compute::cast(input, &int_list_type())?;
                let l = cast.as_any().downcast_ref::<ListArray>().map(|l| {
                    (0..l.len())
                        .map(|i| {
                            (!l.is_null(i)).then(|| {
                                let v = l.value(i);
                                v.as_any()
                                    .downcast_ref::<deltalake::arrow::array::Int64Array>()
                                    .map(|a| a.iter().flatten().collect())
                                    .unwrap_or_default()
                            })
                        })
                        .collect()
                });
                l.unwrap_or_default()
            } else {
                let text = deltalake::arrow::compute::cast(input, &DataType::Utf8)?;
                let text = text
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .unwrap_or_else(|| StringArray::new_null(input.len()));
                text.iter()
                    .map(|t| {
                        t.map(|t| {
                            t.split([' ', ',', '{', '}'])
                                .filter_map(|x| x.parse().ok())
                                .collect()
                        })
                    })
                    .collect()
            };
        let mut b = ListBuilder::new(Int64Builder::new());
        for l in lists {
            match l {
                Some(v) if self.name == "pg_subscripts" => {
                    b.append_value((1..=v.len() as i64).map(Some));
                }
                Some(v) => b.append_value(v.into_iter().map(Some)),
                None => b.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// A catalog function whose answer is always NULL here.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NullText {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for NullText {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))
    }
}

/// Register the functions on the base session (every connection inherits them).
pub(super) fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
    for name in ["pg_int_array", "pg_subscripts"] {
        ctx.register_udf(ScalarUDF::from(IntArray {
            name,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
    let version = version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(to_regtype),
    ));
    ctx.register_udf(create_udf(
        "pg_like_escape",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(like_escape),
    ));
    // Strata has one collation and no custom types: everything is visible.
    for name in [
        "pg_collation_is_visible",
        "pg_type_is_visible",
        "pg_function_is_visible",
    ] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
        ));
    }
    // Strata has no indexes, triggers, rules or stored functions, and no comments yet.
    for name in [
        "pg_get_indexdef",
        "pg_get_triggerdef",
        "pg_get_ruledef",
        "pg_get_functiondef",
        "obj_description",
        "col_description",
        "shobj_description",
    ] {
        ctx.register_udf(ScalarUDF::from(NullText {
            name,
            signature: Signature::variadic_any(Volatility::Stable),
        }));
    }
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(current_setting),
    ));
    // Strata's tables have no sequences.
    ctx.register_udf(create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    ));
}

fn to_regtype(args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    match &args[0] {
        ColumnarValue::Scalar(s) => {
            let name = match s {
                ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                    v.clone()
                }
                _ => None,
            };
            Ok(ColumnarValue::Scalar(ScalarValue::Int32(
                name.as_deref().and_then(regtype),
            )))
        }
        ColumnarValue::Array(a) => {
            let a = deltalake::arrow::compute::cast(a, &DataType::Utf8)?;
            let names = a
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|s| {
                    s.iter()
                        .map(|n| n.and_then(regtype))
                        .collect::<Int32Array>()
                })
                .unwrap_or_else(|| Int32Array::new_null(a.len()));
            Ok(ColumnarValue::Array(Arc::new(names) as ArrayRef))
        }
    }
}

fn like_escape(args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let pattern = deltalake::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
    let escape = deltalake::arrow::compute::cast(&arrays[1], &DataType::Utf8)?;
    let (Some(p), Some(e)) = (
        pattern.as_any().downcast_ref::<StringArray>(),
        escape.as_any().downcast_ref::<StringArray>(),
    ) else {
        return Ok(ColumnarValue::Array(Arc::new(StringArray::new_null(
            pattern.len(),
        ))));
    };
    let out: StringArray = p
        .iter()
        .zip(e.iter())
        .map(|(p, e)| match (p, e.and_then(|e| e.chars().next())) {
            (Some(p), Some(e)) => Some(reescape(p, e)),
            (p, _) => p.map(str::to_string),
        })
        .collect();
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    if scalar {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
    }
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// `SET search_path TO a, b` (names or strings): the value to keep, as Postgres shows it.
pub(super) fn search_path_value(statement: &Statement) -> Option<String> {
    use deltalake::datafusion::sql::sqlparser::ast::Set;
    let Statement::Set(Set::SingleAssignment {
        variable, values, ..
    }) = statement
    else {
        return None;
    };
    if !variable.to_string().eq_ignore_ascii_case("search_path") {
        return None;
    }
    let names: Vec<String> = values
        .iter()
        .map(|v| match v {
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(s),
                ..
            }) => s.clone(),
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect();
    Some(names.join(", "))
}

/// Server settings clients ask for with `current_setting(name)`.
fn setting(name: &str) -> Option<String> {
    let v = match name.to_ascii_lowercase().as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => "160006",
        "server_encoding" | "client_encoding" => "UTF8",
        "standard_conforming_strings" => "on",
        "datestyle" => "ISO, MDY",
        "timezone" => "UTC",
        "search_path" => "\"$user\", public",
        "max_identifier_length" => "63",
        "default_transaction_read_only" | "transaction_read_only" => "on",
        "integer_datetimes" => "on",
        _ => return None,
    };
    Some(v.to_string())
}

fn current_setting(args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    let names = ColumnarValue::values_to_arrays(args)?;
    let names = deltalake::arrow::compute::cast(&names[0], &DataType::Utf8)?;
    let values: StringArray = names
        .as_any()
        .downcast_ref::<StringArray>()
        .map(|n| n.iter().map(|n| n.and_then(setting)).collect())
        .unwrap_or_else(|| StringArray::new_null(names.len()));
    if matches!(args[0], ColumnarValue::Scalar(_)) {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &values, 0,
        )?));
    }
    Ok(ColumnarValue::Array(Arc::new(values)))
}

/// The command tag for savepoint statements: accepted, since a read-only transaction has
/// nothing to roll back.
pub(super) fn savepoint_tag(statement: &Statement) -> Option<&'static str> {
    match statement {
        Statement::Savepoint { .. } => Some("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Some("RELEASE"),
        Statement::Rollback {
            savepoint: Some(_), ..
        } => Some("ROLLBACK"),
        _ => None,
    }
}

/// Rewrite what DataFusion would misread in one parsed statement (after datafusion-postgres's
/// own rewrites, which recognise some clients' catalog queries by their text): unqualified
/// names along the search_path, LIKE ... ESCAPE, and in catalog queries the constructs BI
/// tools use that DataFusion cannot plan.
pub(super) fn rewrite(statement: &mut Statement, search_path: Option<&str>, ctx: &SessionContext) {
    let text = statement.to_string();
    let schemas = search_schemas(search_path, ctx);
    let mut v = Rewriter {
        schemas: &schemas,
        ctx,
        changed: false,
        aggregate_subqueries: text.contains("pg_catalog") || text.contains("information_schema"),
    };
    let _ = statement.visit(&mut v);
}

/// The schemas of the client's search_path that exist here, in order.
fn search_schemas(search_path: Option<&str>, ctx: &SessionContext) -> Vec<String> {
    let Some(path) = search_path else {
        return Vec::new();
    };
    let catalog = ctx.catalog("datafusion");
    path.split(',')
        .map(|s| s.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|s| catalog.as_ref().is_some_and(|c| c.schema(s).is_some()))
        .collect()
}

struct Rewriter<'a> {
    schemas: &'a [String],
    ctx: &'a SessionContext,
    /// Whether anything was rewritten.
    changed: bool,
    /// Wrap scalar subqueries' single column in `max()`: catalog queries of BI tools use
    /// correlated scalar subqueries that return at most one row, which DataFusion plans only
    /// when aggregated. Only for queries over `pg_catalog`, where that holds.
    aggregate_subqueries: bool,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_query(
        &mut self,
        query: &mut deltalake::datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<()> {
        use deltalake::datafusion::sql::sqlparser::ast::{OrderByKind, visit_expressions};
        // DataFusion cannot sort by a subquery. In catalog listings such a term only puts the
        // search path's schemas first: drop it, keep the other terms.
        if self.aggregate_subqueries
            && let Some(order) = &mut query.order_by
            && let OrderByKind::Expressions(items) = &mut order.kind
        {
            let before = items.len();
            items.retain(|item| {
                visit_expressions(&item.expr, |e| match e {
                    Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => {
                        ControlFlow::Break(())
                    }
                    _ => ControlFlow::Continue(()),
                })
                .is_continue()
            });
            let after = items.len();
            if after == 0 {
                query.order_by = None;
            }
            self.changed |= after != before;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if self.aggregate_subqueries
            && let Some(rewritten) = rewrite_table_function(factor)
        {
            *factor = rewritten;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
        if name.0.len() != 1 {
            return ControlFlow::Continue(());
        }
        let Some(table) = name.0[0].as_ident().map(|i| i.value.clone()) else {
            return ControlFlow::Continue(());
        };
        let Some(catalog) = self.ctx.catalog("datafusion") else {
            return ControlFlow::Continue(());
        };
        let found = self
            .schemas
            .iter()
            .find(|s| catalog.schema(s).is_some_and(|p| p.table_exist(&table)));
        if let Some(schema) = found {
            name.0
                .insert(0, ObjectNamePart::Identifier(Ident::new(schema.clone())));
            self.changed = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // DataFusion cannot run subqueries inside CASE. In catalog queries they look up what
        // Strata has none of (column defaults, identity columns, non-default collations):
        // NULL is their exact answer here.
        if self.aggregate_subqueries
            && let Expr::Case {
                conditions,
                else_result,
                ..
            } = expr
        {
            let mut replaced = false;
            let mut nulls = |e: &mut Expr| {
                let _ = visit_expressions_mut(e, |inner| {
                    match inner {
                        Expr::Subquery(_) => {
                            *inner = Expr::value(Value::Null);
                            replaced = true;
                        }
                        // Grafana's "is the schema on the search path": no, so names come
                        // schema-qualified, which always resolves.
                        Expr::InSubquery { negated, .. } => {
                            *inner = Expr::value(Value::Boolean(*negated));
                            replaced = true;
                        }
                        _ => {}
                    }
                    ControlFlow::<()>::Continue(())
                });
            };
            for when in conditions.iter_mut() {
                nulls(&mut when.condition);
                nulls(&mut when.result);
            }
            if let Some(e) = else_result {
                nulls(e);
            }
            // Untouched queries keep their text: datafusion-postgres recognises some
            // clients' catalog queries by it.
            self.changed |= replaced;
        }
        if self.aggregate_subqueries
            && let Expr::Subquery(query) = expr
            && let SetExpr::Select(select) = query.body.as_mut()
            && select.projection.len() == 1
            && matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
        {
            let item = match &mut select.projection[0] {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
                _ => None,
            };
            if let Some(e) = item
                && !e.to_string().to_ascii_lowercase().starts_with("max(")
                && let Ok(wrapped) = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&format!("max({e})"))
                    .and_then(|mut p| p.parse_expr())
            {
                *e = wrapped;
                self.changed = true;
            }
        }
        // `user` is Postgres' CURRENT_USER; DataFusion reads it as a column name.
        let bare_user = match &*expr {
            Expr::Identifier(i) => i.quote_style.is_none() && i.value.eq_ignore_ascii_case("user"),
            Expr::Function(f) => {
                matches!(
                    f.args,
                    deltalake::datafusion::sql::sqlparser::ast::FunctionArguments::None
                ) && matches!(
                    f.name.to_string().to_ascii_lowercase().as_str(),
                    "user" | "current_user"
                )
            }
            _ => false,
        };
        if self.aggregate_subqueries
            && bare_user
            && let Ok(call) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql("session_user()")
                .and_then(|mut p| p.parse_expr())
        {
            *expr = call;
            self.changed = true;
            return ControlFlow::Continue(());
        }
        // Catalog columns Strata's pg_catalog does not have, and what they hold here.
        if self.aggregate_subqueries
            && let Expr::CompoundIdentifier(parts) = expr
            && parts.len() >= 2
            && MISSING_CATALOG_COLUMNS.contains(&(
                parts[parts.len() - 2].value.as_str(),
                parts[parts.len() - 1].value.as_str(),
            ))
        {
            *expr = Expr::value(Value::Null);
            self.changed = true;
            return ControlFlow::Continue(());
        }
        if self.aggregate_subqueries
            && let Expr::Function(f) = expr
            && let Some(rewritten) = rewrite_set_function(f)
        {
            *expr = rewritten;
            self.changed = true;
            return ControlFlow::Continue(());
        }
        // DataFusion's LIKE escapes with `\` only: translate the pattern (a literal or any
        // expression, e.g. a bound parameter) with `pg_like_escape(pattern, 'e')`.
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = expr
            && let Some(ValueWithSpan {
                value: Value::SingleQuotedString(esc),
                ..
            }) = escape_char.clone()
            && esc != "\\"
            && let Ok(call) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&format!(
                    "pg_like_escape({pattern}, '{}')",
                    esc.replace('\'', "''")
                ))
                .and_then(|mut p| p.parse_expr())
        {
            **pattern = call;
            *escape_char = None;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// Set-returning calls in FROM as Postgres reads them: `string_to_array(...) s` (a scalar
/// function used as a one-row table) becomes `(SELECT string_to_array(...) AS s) s`, and
/// `generate_series(...) AS i` names its column `i` (Grafana's table listing uses both).
fn rewrite_table_function(factor: &TableFactor) -> Option<TableFactor> {
    let TableFactor::Table {
        name,
        args: Some(args),
        alias: Some(alias),
        ..
    } = factor
    else {
        return None;
    };
    let function = name.to_string().to_ascii_lowercase();
    let call = format!(
        "{name}({})",
        args.args
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let a = &alias.name.value;
    let text = match function.as_str() {
        "generate_series" if alias.columns.is_empty() => {
            format!("SELECT * FROM {call} AS {a}({a})")
        }
        "string_to_array" | "regexp_split_to_array" => {
            format!("SELECT * FROM (SELECT {call} AS {a}) AS {a}")
        }
        _ => return None,
    };
    let query = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_query())
        .ok()?;
    let SetExpr::Select(select) = *query.body else {
        return None;
    };
    select.from.into_iter().next().map(|t| t.relation)
}

/// `(table, column)` pairs BI tools read that are NULL for every Strata table.
const MISSING_CATALOG_COLUMNS: [(&str, &str); 3] = [
    ("pg_class", "reloptions"),
    ("pg_class", "relpartbound"),
    ("pg_attribute", "attoptions"),
];

/// `unnest(v)` -> `unnest(pg_int_array(v))`; `generate_subscripts(v, 1)` ->
/// `unnest(pg_subscripts(pg_int_array(v)))` (two unnests in one select zip, as in Postgres).
fn rewrite_set_function(f: &deltalake::datafusion::sql::sqlparser::ast::Function) -> Option<Expr> {
    use deltalake::datafusion::sql::sqlparser::ast::{
        FunctionArg, FunctionArgExpr, FunctionArguments,
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let first = match list.args.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e.to_string(),
        _ => return None,
    };
    if first.starts_with("pg_int_array(") || first.starts_with("pg_subscripts(") {
        return None;
    }
    let text = match name.as_str() {
        "unnest" | "pg_catalog.unnest" if list.args.len() == 1 => {
            format!("unnest(pg_int_array({first}))")
        }
        "generate_subscripts" | "pg_catalog.generate_subscripts" => {
            format!("unnest(pg_subscripts(pg_int_array({first})))")
        }
        _ => return None,
    };
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// A LIKE pattern with escape character `e` as one with DataFusion's default `\`.
fn reescape(pattern: &str, e: char) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == e {
            if let Some(n) = chars.next() {
                out.push('\\');
                out.push(n);
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escape_is_rewritten_to_backslash() {
        assert_eq!(reescape("a/_b%", '/'), "a\\_b%");
        assert_eq!(reescape("a\\b", '/'), "a\\\\b");
        let ctx = SessionContext::new();
        let mut statements = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT 1 WHERE 'a_b' LIKE 'a/_b' ESCAPE '/'",
        )
        .unwrap();
        rewrite(&mut statements[0], None, &ctx);
        let sql = statements[0].to_string();
        assert!(
            sql.contains("LIKE pg_like_escape('a/_b', '/')") && !sql.contains("ESCAPE"),
            "{sql}"
        );
    }

    #[test]
    fn type_names_resolve_like_postgres() {
        assert_eq!(regtype("int8"), Some(20));
        assert_eq!(regtype("pg_catalog.text"), Some(25));
        assert_eq!(regtype("hstore"), None);
    }
}
