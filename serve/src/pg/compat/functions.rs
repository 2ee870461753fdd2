//! The functions Postgres clients call that DataFusion lacks or names differently.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, Int32Array, StringArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::error::Result as DfResult;
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use deltalake::datafusion::prelude::SessionContext;

use super::rewrite::reescape;

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
pub(in crate::pg) fn register_functions(ctx: &SessionContext) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_resolve_like_postgres() {
        assert_eq!(regtype("int8"), Some(20));
        assert_eq!(regtype("pg_catalog.text"), Some(25));
        assert_eq!(regtype("hstore"), None);
    }
}
