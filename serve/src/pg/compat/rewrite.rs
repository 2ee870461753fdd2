//! Statement rewrites: the client's search_path, `LIKE ... ESCAPE`, and in catalog queries
//! the constructs BI tools use that DataFusion cannot plan.

use std::ops::ControlFlow;

use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, ObjectName, ObjectNamePart, SelectItem, SetExpr, Statement,
    TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut, visit_expressions_mut,
};
use deltalake::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;

/// `SET search_path TO a, b` (names or strings): the value to keep, as Postgres shows it.
pub(in crate::pg) fn search_path_value(statement: &Statement) -> Option<String> {
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

/// The command tag for savepoint statements: accepted, since a read-only transaction has
/// nothing to roll back.
pub(in crate::pg) fn savepoint_tag(statement: &Statement) -> Option<&'static str> {
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
pub(in crate::pg) fn rewrite(
    statement: &mut Statement,
    search_path: Option<&str>,
    ctx: &SessionContext,
) {
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
pub(super) fn reescape(pattern: &str, e: char) -> String {
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
}
