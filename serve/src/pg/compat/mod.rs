//! What Postgres clients and BI tools expect beyond plain SQL: functions they call on
//! connect (`version()` in Postgres form, `to_regtype`, `pg_get_serial_sequence`), savepoints
//! inside read-only transactions, `LIKE ... ESCAPE`, and the client's `search_path`.

mod functions;
mod rewrite;

pub(super) use functions::register_functions;
pub(super) use rewrite::{rewrite, savepoint_tag, search_path_value};
