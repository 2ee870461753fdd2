//! Schema evolution rules for JSON Schema: can a reader holding one version read data written
//! with another?
//!
//! BACKWARD: the new schema reads data written with the old one (consumers upgrade first).
//! FORWARD: the old schema reads data written with the new one (producers upgrade first).
//! FULL: both. The `_TRANSITIVE` levels check against every earlier version, not just the
//! latest. A reader reads a writer's data when every value the writer allows, the reader
//! allows: types may widen (integer -> number) but not narrow, enums may grow, bounds may
//! loosen, new properties must be optional, and a closed object (`additionalProperties:
//! false`) must keep every property the writer can send.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// A registry compatibility level, spelled as Confluent spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Compatibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    pub fn transitive(self) -> bool {
        matches!(
            self,
            Compatibility::BackwardTransitive
                | Compatibility::ForwardTransitive
                | Compatibility::FullTransitive
        )
    }

    /// Why `new` cannot follow `old` at this level; empty when it can.
    pub fn check(self, old: &Value, new: &Value) -> Vec<String> {
        let (backward, forward) = match self {
            Compatibility::None => (false, false),
            Compatibility::Backward | Compatibility::BackwardTransitive => (true, false),
            Compatibility::Forward | Compatibility::ForwardTransitive => (false, true),
            Compatibility::Full | Compatibility::FullTransitive => (true, true),
        };
        let mut out = Vec::new();
        if backward {
            for m in can_read(new, old, "") {
                out.push(format!(
                    "BACKWARD: the new schema cannot read old data: {m}"
                ));
            }
        }
        if forward {
            for m in can_read(old, new, "") {
                out.push(format!("FORWARD: the old schema cannot read new data: {m}"));
            }
        }
        out
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compatibility {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NONE" => Compatibility::None,
            "BACKWARD" => Compatibility::Backward,
            "BACKWARD_TRANSITIVE" => Compatibility::BackwardTransitive,
            "FORWARD" => Compatibility::Forward,
            "FORWARD_TRANSITIVE" => Compatibility::ForwardTransitive,
            "FULL" => Compatibility::Full,
            "FULL_TRANSITIVE" => Compatibility::FullTransitive,
            other => {
                return Err(format!(
                    "unknown compatibility level '{other}' (NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE)"
                ));
            }
        })
    }
}

/// The JSON types a schema allows; `None` when unconstrained.
fn types(s: &Value) -> Option<Vec<String>> {
    if let Some(c) = s.get("const") {
        return Some(vec![json_type(c).to_string()]);
    }
    match s.get("type") {
        Some(Value::String(t)) => Some(vec![t.clone()]),
        Some(Value::Array(ts)) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => s.get("enum").and_then(Value::as_array).map(|vs| {
            let mut t: Vec<String> = vs.iter().map(|v| json_type(v).to_string()).collect();
            t.sort();
            t.dedup();
            t
        }),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn allows_type(reader: &[String], t: &str) -> bool {
    reader
        .iter()
        .any(|r| r == t || (r == "number" && t == "integer"))
}

fn closed(s: &Value) -> bool {
    s.get("additionalProperties") == Some(&Value::Bool(false))
}

fn num(s: &Value, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "/".into()
    } else {
        path.to_string()
    }
}

/// Everything `writer` allows, `reader` allows? Returns the reasons it does not.
fn can_read(reader: &Value, writer: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    if reader == writer || reader == &Value::Bool(true) {
        return out;
    }
    match (types(reader), types(writer)) {
        (Some(r), Some(w)) => {
            for t in &w {
                if !allows_type(&r, t) {
                    out.push(format!(
                        "{}: type {} is no longer allowed (reader allows {})",
                        at(path),
                        t,
                        r.join(", ")
                    ));
                }
            }
        }
        (Some(r), None) => out.push(format!(
            "{}: the writer allows any type, the reader only {}",
            at(path),
            r.join(", ")
        )),
        _ => {}
    }
    if let (Some(rc), Some(wc)) = (reader.get("const"), writer.get("const"))
        && rc != wc
    {
        out.push(format!("{}: const changed from {wc} to {rc}", at(path)));
    }
    if let Some(re) = reader.get("enum").and_then(Value::as_array) {
        let written: Vec<&Value> = match (writer.get("enum"), writer.get("const")) {
            (Some(Value::Array(we)), _) => we.iter().collect(),
            (_, Some(c)) => vec![c],
            _ => Vec::new(),
        };
        for v in written {
            if !re.contains(v) {
                out.push(format!("{}: enum value {v} was removed", at(path)));
            }
        }
    }
    for (k, tighter) in [
        ("minimum", true),
        ("exclusiveMinimum", true),
        ("minLength", true),
        ("minItems", true),
        ("maximum", false),
        ("exclusiveMaximum", false),
        ("maxLength", false),
        ("maxItems", false),
    ] {
        if let Some(r) = num(reader, k) {
            let narrower = match num(writer, k) {
                Some(w) => {
                    if tighter {
                        r > w
                    } else {
                        r < w
                    }
                }
                None => true,
            };
            if narrower {
                out.push(format!(
                    "{}: {k} narrowed to {r} (was {})",
                    at(path),
                    num(writer, k).map_or("unset".to_string(), |w| w.to_string())
                ));
            }
        }
    }
    if let Some(rp) = reader.get("pattern")
        && writer.get("pattern") != Some(rp)
    {
        out.push(format!("{}: pattern changed to {rp}", at(path)));
    }
    // Objects.
    let empty = serde_json::Map::new();
    let rprops = reader
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let wprops = writer
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required = |s: &Value| -> Vec<String> {
        s.get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (rreq, wreq) = (required(reader), required(writer));
    for k in &rreq {
        if !wreq.contains(k) {
            out.push(format!(
                "{path}/{k}: required by the reader but optional or absent for the writer"
            ));
        }
    }
    for (k, ws) in wprops {
        match rprops.get(k) {
            Some(rs) => out.extend(can_read(rs, ws, &format!("{path}/{k}"))),
            None if closed(reader) => out.push(format!(
                "{path}/{k}: removed while the reader allows no additional properties"
            )),
            None => {}
        }
    }
    if closed(reader) && !closed(writer) && reader.get("properties").is_some() {
        out.push(format!(
            "{}: the reader closed the object (additionalProperties: false)",
            at(path)
        ));
    }
    if let (Some(ri), Some(wi)) = (reader.get("items"), writer.get("items")) {
        out.extend(can_read(ri, wi, &format!("{path}/items")));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v1() -> Value {
        json!({"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"},
            "n": {"type": "integer", "minimum": 0},
            "kind": {"enum": ["a", "b"]}}})
    }

    #[test]
    fn adding_an_optional_property_is_fully_compatible() {
        let mut v2 = v1();
        v2["properties"]["extra"] = json!({"type": "integer"});
        assert!(Compatibility::Full.check(&v1(), &v2).is_empty());
    }

    #[test]
    fn a_new_required_property_breaks_backward_only() {
        let mut v2 = v1();
        v2["properties"]["extra"] = json!({"type": "integer"});
        v2["required"] = json!(["id", "extra"]);
        let b = Compatibility::Backward.check(&v1(), &v2);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].contains("/extra: required by the reader"), "{b:?}");
        assert!(Compatibility::Forward.check(&v1(), &v2).is_empty());
        assert_eq!(Compatibility::Full.check(&v1(), &v2).len(), 1);
    }

    #[test]
    fn narrowing_breaks_backward_and_widening_breaks_forward() {
        let mut narrower = v1();
        narrower["properties"]["n"]["minimum"] = json!(10);
        narrower["properties"]["kind"] = json!({"enum": ["a"]});
        let b = Compatibility::Backward.check(&v1(), &narrower);
        assert!(
            b.iter().any(|m| m.contains("/n: minimum narrowed to 10")),
            "{b:?}"
        );
        assert!(
            b.iter()
                .any(|m| m.contains("/kind: enum value \"b\" was removed")),
            "{b:?}"
        );
        let mut wider = v1();
        wider["properties"]["n"] = json!({"type": "number"});
        assert!(Compatibility::Backward.check(&v1(), &wider).is_empty());
        let f = Compatibility::Forward.check(&v1(), &wider);
        assert!(
            f.iter()
                .any(|m| m.contains("/n: type number is no longer allowed")),
            "{f:?}"
        );
        assert!(
            Compatibility::None
                .check(&v1(), &json!({"type": "string"}))
                .is_empty()
        );
        assert_eq!(
            "full_transitive".parse::<Compatibility>().unwrap(),
            Compatibility::FullTransitive
        );
    }
}
