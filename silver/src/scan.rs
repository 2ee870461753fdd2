//! One pass over an event's JSON that picks out the declared columns' values by path and skips
//! everything else without building it: no map or string is allocated for the fields a table
//! does not declare, which is most of an event.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A value found at a declared path (JSON null counts as absent).
#[derive(Debug, Clone, PartialEq)]
pub enum Found<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// An object or array: never a column's type, kept for the sample.
    Other(Value),
}

impl Found<'_> {
    /// The value as JSON text (for samples of untyped values).
    pub fn to_json(&self) -> String {
        match self {
            Found::Str(s) => Value::from(s.as_ref()).to_string(),
            Found::Int(i) => i.to_string(),
            Found::UInt(u) => u.to_string(),
            Found::Float(f) => Value::from(*f).to_string(),
            Found::Bool(b) => b.to_string(),
            Found::Other(v) => v.to_string(),
        }
    }
}

/// The declared paths as a tree: each key leads to a column slot, deeper keys, or both.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    slot: Option<usize>,
    children: Vec<(String, Paths)>,
}

impl Paths {
    /// Paths in column order; slot `i` receives the value at `paths[i]`.
    pub fn new<'p>(paths: impl IntoIterator<Item = &'p [String]>) -> Self {
        let mut root = Paths::default();
        for (slot, path) in paths.into_iter().enumerate() {
            let mut node = &mut root;
            for key in path {
                let at = match node.children.iter().position(|(k, _)| k == key) {
                    Some(at) => at,
                    None => {
                        node.children.push((key.clone(), Paths::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].1;
            }
            node.slot = Some(slot);
        }
        root
    }

    fn child(&self, key: &str) -> Option<&Paths> {
        self.children
            .iter()
            .find_map(|(k, p)| (k == key).then_some(p))
    }

    /// Fill `slots` from an already built value (a path that is both a column and a prefix of
    /// another, which the single pass cannot split).
    fn fill_from(&self, v: &Value, slots: &mut [Option<Found<'_>>]) {
        if let Some(s) = self.slot {
            slots[s] = found(v.clone());
        }
        if let Value::Object(map) = v {
            for (k, child) in &self.children {
                if let Some(v) = map.get(k) {
                    child.fill_from(v, slots);
                }
            }
        }
    }
}

fn found(v: Value) -> Option<Found<'static>> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Found::Bool(b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Found::Int(i),
            (_, Some(u), _) => Found::UInt(u),
            (_, _, Some(f)) => Found::Float(f),
            _ => return None,
        },
        Value::String(s) => Found::Str(Cow::Owned(s)),
        other => Found::Other(other),
    })
}

/// Scan one JSON document into `slots` (one per declared path, cleared first). A document
/// that is not valid JSON leaves every slot empty.
pub fn scan<'a>(json: &'a [u8], paths: &Paths, slots: &mut Vec<Option<Found<'a>>>) {
    for s in slots.iter_mut() {
        *s = None;
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let ok = Node { paths, slots }.deserialize(&mut de).is_ok() && de.end().is_ok();
    if !ok {
        for s in slots.iter_mut() {
            *s = None;
        }
    }
}

/// Visits the value under one node of the tree.
struct Node<'p, 's, 'a> {
    paths: &'p Paths,
    slots: &'s mut Vec<Option<Found<'a>>>,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match (self.paths.slot, self.paths.children.is_empty()) {
            // A leaf: keep the value as it is.
            (Some(slot), true) => {
                self.slots[slot] = d.deserialize_any(Leaf)?;
                Ok(())
            }
            // Both a column and a prefix: build this (rare) value and split it.
            (Some(_), false) => {
                let v: Value = serde::Deserialize::deserialize(d)?;
                self.paths.fill_from(&v, self.slots);
                Ok(())
            }
            (None, _) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.paths.child(&key.0) {
                Some(paths) => map.next_value_seed(Node {
                    paths,
                    slots: &mut *self.slots,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    // Anything but an object holds none of the paths below it.
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed from the input unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A declared path's value.
struct Leaf;

impl<'de> Visitor<'de> for Leaf {
    type Value = Option<Found<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Found::Str(Cow::Borrowed(s))))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(Found::Str(Cow::Owned(s.to_owned()))))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
        Ok(Some(Found::Int(i)))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Self::Value, E> {
        Ok(Some(match i64::try_from(u) {
            Ok(i) => Found::Int(i),
            Err(_) => Found::UInt(u),
        }))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        Ok(Some(Found::Float(f)))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Some(Found::Bool(b)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(Found::Other(v)))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Some(Found::Other(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> (Paths, usize) {
        let owned: Vec<Vec<String>> = list
            .iter()
            .map(|p| p.split('.').map(str::to_string).collect())
            .collect();
        (Paths::new(owned.iter().map(Vec::as_slice)), list.len())
    }

    fn run<'a>(json: &'a str, list: &[&str]) -> Vec<Option<Found<'a>>> {
        let (p, n) = paths(list);
        let mut slots = vec![None; n];
        scan(json.as_bytes(), &p, &mut slots);
        slots
    }

    #[test]
    fn picks_declared_paths_and_agrees_with_a_full_parse() {
        let doc = r#"{"a":1,"payload":{"x":"s\"q","skip":{"deep":[1,2,{"x":3}]},"n":-2,
                      "big":18446744073709551615,"f":1.5,"b":true,"nul":null,"obj":{"k":1}},
                      "payload2":[1],"a":2}"#;
        let list = [
            "a",
            "payload.x",
            "payload.n",
            "payload.big",
            "payload.f",
            "payload.b",
            "payload.nul",
            "payload.obj",
            "payload.missing",
            "payload2.x",
        ];
        let got = run(doc, &list);
        let full: Value = serde_json::from_str(doc).expect("json");
        for (i, p) in list.iter().enumerate() {
            let want = p
                .split('.')
                .try_fold(&full, |v, k| v.get(k))
                .cloned()
                .and_then(found);
            assert_eq!(got[i], want, "{p}");
        }
        assert_eq!(got[0], Some(Found::Int(2)), "the last duplicate key wins");
        assert_eq!(got[3], Some(Found::UInt(u64::MAX)));
    }

    #[test]
    fn a_column_that_is_also_a_prefix_and_broken_documents() {
        let got = run(r#"{"p":{"q":5}}"#, &["p", "p.q"]);
        assert!(matches!(got[0], Some(Found::Other(_))));
        assert_eq!(got[1], Some(Found::Int(5)));
        assert_eq!(run(r#"{"a":1} trailing"#, &["a"]), vec![None]);
        assert_eq!(run(r#"{"a":1,"b":"#, &["a"]), vec![None]);
        assert_eq!(run(r#"[{"a":1}]"#, &["a"]), vec![None]);
    }
}
