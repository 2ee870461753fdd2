//! The hostile-input suite's records: dozens of kinds, valid-but-odd and broken, each with
//! the judgement Bronze must give it.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::MAX_VALUE_BYTES;

/// One kind of record: its value (None: a tombstone) and the error_kind Bronze must give it
/// (None: valid).
pub struct Kind {
    pub name: &'static str,
    pub expect: Option<&'static str>,
    pub make: fn(usize) -> Option<Vec<u8>>,
}

fn at(hours_ago: i64) -> String {
    (Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn id(kind: &str, i: usize) -> String {
    let k: String = kind.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("h-{}-{i:05}", &k[..k.len().min(40)])
}

/// A valid event of `event_type` with the given payload; `"@X@"` strings are replaced by raw
/// JSON text afterwards (for number spellings serde_json would normalise).
fn event(event_type: &str, eid: &str, payload: Value, raw: &[(&str, &str)]) -> Vec<u8> {
    let mut doc = json!({"event_id": eid, "event_type": event_type, "schema_version": 1,
        "occurred_at": at(2), "source": "hostile", "tenant_id": "org-h",
        "player_id": format!("p-{}", eid.len() % 7), "agent_id": format!("a-{}", eid.len() % 5),
        "session_id": format!("s-{eid}"), "payload": payload});
    if event_type.starts_with("agent.") {
        doc.as_object_mut().unwrap().remove("session_id");
    }
    let mut text = doc.to_string();
    for (k, v) in raw {
        text = text.replace(&format!("\"@{k}@\""), v);
    }
    text.into_bytes()
}

fn mission(eid: &str, duration: &str, reward: &str) -> Vec<u8> {
    event(
        "mission.completed",
        eid,
        json!({"mission_id": format!("m-{eid}"), "mission_type": "escort",
               "duration_s": "@D@", "reward_credits": "@R@"}),
        &[("D", duration), ("R", reward)],
    )
}

fn economy(eid: &str, amount: &str, direction: &str) -> Vec<u8> {
    event(
        "economy.transaction",
        eid,
        json!({"transaction_id": format!("t-{eid}"), "currency": "GEMS", "amount": "@A@",
               "direction": direction}),
        &[("A", amount)],
    )
}

fn invocation(eid: &str, tokens: &str, cost: &str) -> Vec<u8> {
    event(
        "agent.invocation.completed",
        eid,
        json!({"invocation_id": format!("i-{eid}"), "model": "m", "status": "ok",
               "latency_ms": 5, "tokens_in": "@T@", "tokens_out": 1, "cost_usd": "@C@",
               "tool_calls": 0}),
        &[("T", tokens), ("C", cost)],
    )
}

/// A mission with `field` of the envelope set to raw JSON text.
fn mission_with(eid: &str, field: &str, raw: &str) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&mission(eid, "60", "10")).unwrap();
    doc[field] = json!("@F@");
    doc.to_string().replace("\"@F@\"", raw).into_bytes()
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

macro_rules! kind {
    ($name:literal, $expect:expr, $make:expr) => {
        Kind {
            name: $name,
            expect: $expect,
            make: $make,
        }
    };
}

const VALID: Option<&str> = None;

pub fn kinds() -> Vec<Kind> {
    vec![
        // Valid, and odd.
        kind!("plain", VALID, |i| Some(mission(
            &id("plain", i),
            "60",
            "10"
        ))),
        kind!("minus_zero", VALID, |i| Some(mission(
            &id("mz", i),
            "-0",
            "10"
        ))),
        kind!("minus_zero_float", VALID, |i| Some(mission(
            &id("mzf", i),
            "-0.0",
            "-0.0"
        ))),
        kind!("integral_float", VALID, |i| Some(mission(
            &id("if", i),
            "60.0",
            "1e2"
        ))),
        kind!("max_values", VALID, |i| Some(mission(
            &id("max", i),
            "1000000000",
            "1000000000000"
        ))),
        kind!("economy_max", VALID, |i| Some(economy(
            &id("emax", i),
            "1000000000000",
            "earn"
        ))),
        kind!("economy_zero", VALID, |i| Some(economy(
            &id("ez", i),
            "-0",
            "spend"
        ))),
        kind!("economy_float", VALID, |i| Some(economy(
            &id("ef", i),
            "7.0",
            "spend"
        ))),
        kind!("agent_max", VALID, |i| Some(invocation(
            &id("amax", i),
            "1000000000",
            "1000000"
        ))),
        kind!("agent_tiny_cost", VALID, |i| Some(invocation(
            &id("atiny", i),
            "0",
            "5e-324"
        ))),
        kind!("unicode", VALID, |i| {
            let eid = id("uni", i);
            let mut doc: Value = serde_json::from_slice(&mission(&eid, "1", "1")).unwrap();
            doc["player_id"] = json!("p-\u{1F680}-\u{5D0}\u{5D1}-e\u{301}");
            doc["payload"]["mission_type"] = json!("\u{0}nul\u{7f}");
            Some(doc.to_string().into_bytes())
        }),
        kind!("escaped_unicode", VALID, |i| {
            let text = String::from_utf8(mission(&id("esc", i), "2", "3")).unwrap();
            Some(text.replace("escort", "\\u00e9sc\\u00f6rt").into_bytes())
        }),
        kind!("whitespace", VALID, |i| {
            let doc: Value = serde_json::from_slice(&mission(&id("ws", i), "4", "5")).unwrap();
            let text = serde_json::to_string_pretty(&doc).unwrap();
            Some(format!("\r\n\t {}\r\n", text.replace('\n', "\r\n\t")).into_bytes())
        }),
        kind!("far_past", VALID, |i| {
            let when = (Utc::now() - chrono::Duration::days(365 * 19)).to_rfc3339();
            Some(mission_with(
                &id("past", i),
                "occurred_at",
                &format!("\"{when}\""),
            ))
        }),
        kind!("near_future", VALID, |i| {
            let when = (Utc::now() + chrono::Duration::days(6)).to_rfc3339();
            Some(mission_with(
                &id("fut", i),
                "occurred_at",
                &format!("\"{when}\""),
            ))
        }),
        kind!("offset_and_nanos", VALID, |i| {
            let when = (Utc::now() - chrono::Duration::days(1))
                .format("%Y-%m-%dT%H:%M:%S.123456789+14:00")
                .to_string();
            Some(economy(&id("tz", i), "3", "earn")).map(|v| {
                let mut d: Value = serde_json::from_slice(&v).unwrap();
                d["occurred_at"] = json!(when);
                d.to_string().into_bytes()
            })
        }),
        kind!("resent", VALID, |i| Some(economy(
            &id("ef", i),
            "7.0",
            "spend"
        ))),
        kind!("untyped_v2", VALID, |i| {
            let text = String::from_utf8(mission(&id("v2", i), "1.5", "10")).unwrap();
            Some(
                text.replace("\"schema_version\":1", "\"schema_version\":2")
                    .into_bytes(),
            )
        }),
        // Broken in every way a producer can break a record.
        kind!("tombstone", Some("tombstone"), |_| None),
        kind!("empty", Some("malformed_json"), |_| Some(Vec::new())),
        kind!("blank", Some("malformed_json"), |_| Some(
            b" \r\n\t ".to_vec()
        )),
        kind!("bom", Some("malformed_json"), |i| {
            Some(
                [
                    b"\xef\xbb\xbf".as_slice(),
                    &mission(&id("bom", i), "1", "1"),
                ]
                .concat(),
            )
        }),
        kind!("not_utf8", Some("invalid_utf8"), |i| {
            let mut v = mission(&id("nu", i), "1", "1");
            v[20] = 0xff;
            Some(v)
        }),
        kind!("utf16", Some("malformed_json"), |i| {
            let text = String::from_utf8(mission(&id("u16", i), "1", "1")).unwrap();
            Some(text.encode_utf16().flat_map(u16::to_le_bytes).collect())
        }),
        kind!("truncated", Some("malformed_json"), |i| {
            let v = mission(&id("trunc", i), "1", "1");
            Some(v[..v.len() / 2].to_vec())
        }),
        kind!("trailing", Some("malformed_json"), |i| {
            Some([mission(&id("trail", i), "1", "1"), b" {}".to_vec()].concat())
        }),
        kind!("lone_surrogate", Some("malformed_json"), |i| {
            Some(mission_with(&id("sur", i), "source", "\"\\ud800\""))
        }),
        kind!("number_overflow", Some("malformed_json"), |i| {
            Some(mission(&id("nof", i), "1e400", "1"))
        }),
        kind!("deep", Some("too_deep"), |_| Some(nested(500).into_bytes())),
        kind!("deep_payload", Some("too_deep"), |i| {
            Some(mission_with(&id("dp", i), "extra", &nested(130)))
        }),
        kind!("duplicate_keys", Some("duplicate_key"), |i| {
            let text = String::from_utf8(mission(&id("dup", i), "1", "1")).unwrap();
            Some(
                text.replacen('{', "{\"event_id\":\"other-id-1\",", 1)
                    .into_bytes(),
            )
        }),
        kind!("oversize", Some("oversize"), |i| {
            let pad = "x".repeat(MAX_VALUE_BYTES);
            Some(mission_with(&id("big", i), "source", &format!("\"{pad}\"")))
        }),
        kind!("array", Some("not_an_object"), |_| Some(
            b"[1,2,3]".to_vec()
        )),
        kind!("string", Some("not_an_object"), |_| Some(
            b"\"mission\"".to_vec()
        )),
        kind!("null", Some("not_an_object"), |_| Some(b"null".to_vec())),
        kind!("number", Some("not_an_object"), |_| Some(b"-0".to_vec())),
        kind!("no_event_id", Some("missing_event_id"), |_| {
            Some(mission_with("x", "event_id", "null"))
        }),
        kind!("empty_event_id", Some("missing_event_id"), |_| {
            Some(mission_with("x", "event_id", "\"\""))
        }),
        kind!("numeric_event_id", Some("missing_event_id"), |_| {
            Some(mission_with("x", "event_id", "12345678"))
        }),
        kind!("no_event_type", Some("missing_event_type"), |i| {
            Some(mission_with(&id("net", i), "event_type", "null"))
        }),
        kind!("huge_event_type", Some("unknown_event_type"), |i| {
            let t = "y".repeat(20_000);
            Some(mission_with(
                &id("het", i),
                "event_type",
                &format!("\"{t}\""),
            ))
        }),
        kind!("version_zero", Some("unknown_schema_version"), |i| {
            Some(mission_with(&id("v0", i), "schema_version", "0"))
        }),
        kind!("version_text", Some("unknown_schema_version"), |i| {
            Some(mission_with(&id("vt", i), "schema_version", "\"1\""))
        }),
        kind!("version_99", Some("unknown_schema_version"), |i| {
            Some(mission_with(&id("v99", i), "schema_version", "99"))
        }),
        kind!("bad_time", Some("bad_timestamp"), |i| {
            Some(mission_with(&id("bt", i), "occurred_at", "\"yesterday\""))
        }),
        kind!("year_9999", Some("implausible_time"), |i| {
            Some(mission_with(
                &id("y9", i),
                "occurred_at",
                "\"9999-12-31T23:59:59Z\"",
            ))
        }),
        kind!("year_0001", Some("implausible_time"), |i| {
            Some(mission_with(
                &id("y1", i),
                "occurred_at",
                "\"0001-01-01T00:00:00Z\"",
            ))
        }),
        kind!("year_2300", Some("implausible_time"), |i| {
            Some(mission_with(
                &id("y23", i),
                "occurred_at",
                "\"2300-06-01T00:00:00Z\"",
            ))
        }),
        kind!("huge_integer", Some("schema_violation"), |i| {
            Some(mission(&id("hi", i), "18446744073709551616", "1"))
        }),
        kind!("past_i64", Some("schema_violation"), |i| {
            Some(mission(&id("pi", i), "9223372036854775808", "1"))
        }),
        kind!("past_cap", Some("schema_violation"), |i| {
            Some(economy(&id("pc", i), "1000000000001", "earn"))
        }),
        kind!("negative", Some("schema_violation"), |i| Some(mission(
            &id("neg", i),
            "-5",
            "1"
        ))),
        kind!("text_number", Some("schema_violation"), |i| {
            Some(mission(&id("tn", i), "\"60\"", "1"))
        }),
        kind!("fraction", Some("schema_violation"), |i| Some(mission(
            &id("fr", i),
            "1.5",
            "1"
        ))),
        kind!("extra_field", Some("schema_violation"), |i| {
            Some(mission_with(&id("xf", i), "colour", "\"red\""))
        }),
        kind!("confluent_unknown_id", Some("schema_registry"), |i| {
            Some(
                [
                    b"\0\0\0\x01\x2c".as_slice(),
                    &mission(&id("cf", i), "1", "1"),
                ]
                .concat(),
            )
        }),
    ]
}
