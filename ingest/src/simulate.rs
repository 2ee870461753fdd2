//! `strata simulate`: a realistic producer of agent and gameplay events.
//!
//! Players open sessions, run missions, trade, ask agents for help and rate them; agents answer
//! with model invocations. Optional fractions of duplicates (same event_id sent again), late
//! events (event time hours in the past) and malformed records of every kind Bronze must keep.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Error, Result, SimulateConfig};

/// What kind of record the generator emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Emitted {
    Valid,
    Duplicate,
    Late,
    Malformed,
}

/// One generated record.
#[derive(Debug, Clone)]
pub struct SimRecord {
    pub agent_topic: bool,
    pub key: String,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    pub emitted: Emitted,
    pub event_type: Option<&'static str>,
}

impl SimRecord {
    /// Whether Bronze will mark it valid.
    pub fn expected_valid(&self) -> bool {
        self.emitted != Emitted::Malformed
    }
}

struct Session {
    id: String,
    mission: Option<(String, String)>,
}

struct Player {
    id: String,
    tenant: String,
    session: Option<Session>,
}

/// Deterministic event generator (same seed, same events).
pub struct Generator {
    rng: StdRng,
    config: SimulateConfig,
    players: Vec<Player>,
    agents: Vec<String>,
    pending_invocations: VecDeque<(usize, String, String, String)>,
    /// Recently completed invocations (id, agent): what feedback is given on.
    completed_invocations: VecDeque<(String, String)>,
    recent: VecDeque<(bool, String, Vec<u8>, &'static str)>,
    clock_us: i64,
    step_us: i64,
    seq: u64,
    malformed_seq: u64,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator").field("seq", &self.seq).finish()
    }
}

const MODELS: [&str; 4] = ["gpt-5-mini", "claude-haiku", "llama-4-70b", "mistral-large"];
const MISSIONS: [&str; 5] = ["escort", "salvage", "recon", "defense", "heist"];
const CURRENCIES: [&str; 3] = ["CREDITS", "GEMS", "SCRAP"];
const PLATFORMS: [&str; 4] = ["pc", "console", "mobile", "web"];
const REGIONS: [&str; 3] = ["eu-1", "us-east-1", "ap-2"];

impl Generator {
    /// `start` is the event time of the first event; time advances by `1/rate` per event.
    pub fn new(config: SimulateConfig, start: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let players = (0..config.players)
            .map(|i| Player {
                id: format!("player-{i:06}"),
                tenant: format!("org-{}", rng.random_range(0..config.tenants)),
                session: None,
            })
            .collect();
        let agents = (0..config.agents)
            .map(|i| format!("agent-{i:04}"))
            .collect();
        let step_us = config
            .rate
            .map_or(1_000, |r| (1_000_000.0 / r).max(1.0) as i64);
        Self {
            rng,
            config,
            players,
            agents,
            pending_invocations: VecDeque::new(),
            completed_invocations: VecDeque::new(),
            recent: VecDeque::new(),
            clock_us: start.timestamp_micros(),
            step_us,
            seq: 0,
            malformed_seq: 0,
        }
    }

    fn event_id(&mut self) -> String {
        self.seq += 1;
        // Time-ordered and unique per seed: 16 hex digits of time, then sequence and randomness.
        let r: u32 = self.rng.random();
        format!(
            "{:013x}-{:08x}-{:08x}-{:06x}",
            self.clock_us,
            self.seq,
            r,
            self.config.seed & 0xff_ffff
        )
    }

    fn time(&self, us: i64) -> String {
        Utc.timestamp_micros(us)
            .single()
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    fn envelope(&mut self, t: &'static str, source: &str, tenant: &str, payload: Value) -> Value {
        let occurred = self.clock_us;
        json!({
            "event_id": self.event_id(),
            "event_type": t,
            "schema_version": 1,
            "occurred_at": self.time(occurred),
            "source": source,
            "tenant_id": tenant,
            "payload": payload,
        })
    }

    /// A valid gameplay or agent event following each player's session.
    fn valid_event(&mut self) -> (bool, String, Value, &'static str) {
        // Answer a pending agent invocation first, sometimes.
        if !self.pending_invocations.is_empty()
            && self.rng.random_bool(0.5)
            && let Some((p, agent, inv, model)) = self.pending_invocations.pop_front()
        {
            return self.invocation_completed(p, agent, inv, model);
        }
        let p = self.rng.random_range(0..self.players.len());
        let tenant = self.players[p].tenant.clone();
        let player_id = self.players[p].id.clone();
        let region = REGIONS[p % REGIONS.len()];
        let source = format!("game-server/{region}");
        let Some(session_id) = self.players[p].session.as_ref().map(|s| s.id.clone()) else {
            let id = format!("sess-{}", self.event_id());
            self.players[p].session = Some(Session {
                id: id.clone(),
                mission: None,
            });
            let payload = json!({
                "platform": PLATFORMS[self.rng.random_range(0..PLATFORMS.len())],
                "region": region,
                "client_version": "1.42.0",
            });
            let mut e = self.envelope("player.session.started", &source, &tenant, payload);
            e["player_id"] = json!(player_id);
            e["session_id"] = json!(id);
            return (false, player_id, e, "player.session.started");
        };
        let roll: f64 = self.rng.random();
        let (t, payload, agent): (&'static str, Value, Option<String>) = if roll < 0.06 {
            self.players[p].session = None;
            let reason = ["quit", "timeout", "disconnect"][self.rng.random_range(0..3)];
            let payload = json!({
                "duration_s": self.rng.random_range(60..7200),
                "reason": reason,
            });
            ("player.session.ended", payload, None)
        } else if roll < 0.30 {
            let mission = self.players[p]
                .session
                .as_ref()
                .and_then(|s| s.mission.clone());
            match mission {
                None => {
                    let m = (
                        format!("mission-{}", self.rng.random_range(0..500)),
                        MISSIONS[self.rng.random_range(0..MISSIONS.len())].to_string(),
                    );
                    if let Some(s) = self.players[p].session.as_mut() {
                        s.mission = Some(m.clone());
                    }
                    let payload = json!({"mission_id": m.0, "mission_type": m.1, "difficulty": self.rng.random_range(1..=10)});
                    ("mission.started", payload, None)
                }
                Some((mission_id, mission_type)) => {
                    if let Some(s) = self.players[p].session.as_mut() {
                        s.mission = None;
                    }
                    let duration = self.rng.random_range(30..1800);
                    if self.rng.random_bool(0.7) {
                        let payload = json!({"mission_id": mission_id, "mission_type": mission_type,
                            "duration_s": duration, "reward_credits": self.rng.random_range(10..500)});
                        ("mission.completed", payload, None)
                    } else {
                        let payload = json!({"mission_id": mission_id, "mission_type": mission_type,
                            "duration_s": duration, "reward_credits": 0, "failure_reason": "squad_wiped"});
                        ("mission.failed", payload, None)
                    }
                }
            }
        } else if roll < 0.55 {
            let earn = self.rng.random_bool(0.55);
            let payload = json!({
                "transaction_id": format!("tx-{}", self.seq),
                "currency": CURRENCIES[self.rng.random_range(0..CURRENCIES.len())],
                "amount": self.rng.random_range(1..1000),
                "direction": if earn { "earn" } else { "spend" },
                "item_id": if earn { Value::Null } else { json!(format!("item-{}", self.rng.random_range(0..200))) },
            });
            ("economy.transaction", payload, None)
        } else if roll < 0.90 {
            self.start_invocation(p)
        } else if !self.completed_invocations.is_empty() {
            // Feedback on an invocation that completed, keyed by its agent (so it lands in
            // the same partition, after the completion).
            let i = self.rng.random_range(0..self.completed_invocations.len());
            let (inv, agent) = self.completed_invocations[i].clone();
            let payload = json!({"invocation_id": inv, "rating": self.rng.random_range(1..=5)});
            ("agent.feedback.given", payload, Some(agent))
        } else {
            self.start_invocation(p)
        };
        let source = if agent.is_some() {
            "agent-runtime/eu-1".to_string()
        } else {
            source
        };
        let mut e = self.envelope(t, &source, &tenant, payload);
        e["player_id"] = json!(player_id);
        if t != "agent.feedback.given" {
            e["session_id"] = json!(session_id);
        }
        let key = match agent {
            Some(a) => {
                e["agent_id"] = json!(a);
                a
            }
            None => player_id,
        };
        (t.starts_with("agent."), key, e, t)
    }

    /// An agent invocation starts; it completes some events later.
    fn start_invocation(&mut self, p: usize) -> (&'static str, Value, Option<String>) {
        let agent = self.agents[self.rng.random_range(0..self.agents.len())].clone();
        let inv = format!("inv-{}", self.seq);
        let model = MODELS[self.rng.random_range(0..MODELS.len())].to_string();
        self.pending_invocations
            .push_back((p, agent.clone(), inv.clone(), model.clone()));
        let payload = json!({"invocation_id": inv, "model": model, "prompt_tokens": self.rng.random_range(20..4000)});
        ("agent.invocation.started", payload, Some(agent))
    }

    fn invocation_completed(
        &mut self,
        p: usize,
        agent: String,
        inv: String,
        model: String,
    ) -> (bool, String, Value, &'static str) {
        let tenant = self.players[p].tenant.clone();
        let player_id = self.players[p].id.clone();
        if self.completed_invocations.len() >= 4096 {
            self.completed_invocations.pop_front();
        }
        self.completed_invocations
            .push_back((inv.clone(), agent.clone()));
        let ok = self.rng.random_bool(0.93);
        let tokens_in = self.rng.random_range(50..4000);
        let tokens_out = self.rng.random_range(10..2000);
        let payload = json!({
            "invocation_id": inv,
            "model": model,
            "status": if ok { "ok" } else { "error" },
            "latency_ms": self.rng.random_range(80..6000),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": ((tokens_in + tokens_out) as f64) * 0.000_002,
            "tool_calls": self.rng.random_range(0..6),
            "error_code": if ok { Value::Null } else { json!("rate_limited") },
        });
        let t = "agent.invocation.completed";
        let mut e = self.envelope(t, "agent-runtime/eu-1", &tenant, payload);
        e["agent_id"] = json!(agent);
        e["player_id"] = json!(player_id);
        if let Some(s) = &self.players[p].session {
            e["session_id"] = json!(s.id);
        }
        (true, agent, e, t)
    }

    fn malformed(&mut self) -> SimRecord {
        self.malformed_seq += 1;
        let kinds = if self.config.oversize_bytes.is_some() {
            7
        } else {
            6
        };
        let (agent_topic, key, _, t) = self.valid_event();
        let (_, _, mut doc, _) = self.valid_event();
        let value = match self.malformed_seq % kinds {
            0 => Some(b"{\"event_id\": \"broken".to_vec()),
            1 => Some(vec![0xff, 0xfe, b'{', 0xc3]),
            2 => {
                doc["event_type"] = json!("agent.invocation.teleported");
                Some(doc.to_string().into_bytes())
            }
            3 => {
                if let Some(o) = doc.as_object_mut() {
                    o.remove("event_id");
                }
                Some(doc.to_string().into_bytes())
            }
            4 => {
                doc["payload"] = json!({"unexpected": true});
                Some(doc.to_string().into_bytes())
            }
            5 => None,
            _ => {
                let n = self.config.oversize_bytes.unwrap_or(0);
                let mut v = doc.to_string().into_bytes();
                v.resize(n.max(v.len()), b' ');
                Some(v)
            }
        };
        SimRecord {
            agent_topic,
            key,
            value,
            emitted: Emitted::Malformed,
            event_type: Some(t),
        }
    }

    /// The next record.
    pub fn next_record(&mut self) -> SimRecord {
        self.clock_us += self.step_us;
        let roll: f64 = self.rng.random();
        let c = &self.config;
        if roll < c.malformed_fraction {
            return self.malformed();
        }
        if roll < c.malformed_fraction + c.duplicate_fraction && !self.recent.is_empty() {
            let i = self.rng.random_range(0..self.recent.len());
            let (agent_topic, key, value, t) = self.recent[i].clone();
            return SimRecord {
                agent_topic,
                key,
                value: Some(value),
                emitted: Emitted::Duplicate,
                event_type: Some(t),
            };
        }
        let late = roll < c.malformed_fraction + c.duplicate_fraction + c.late_fraction;
        let (agent_topic, key, mut doc, t) = self.valid_event();
        if late {
            let hours_back = self.rng.random_range(2..72) as i64;
            doc["occurred_at"] = json!(self.time(self.clock_us - hours_back * 3_600_000_000));
        }
        let value = doc.to_string().into_bytes();
        if self.recent.len() >= 256 {
            self.recent.pop_front();
        }
        self.recent
            .push_back((agent_topic, key.clone(), value.clone(), t));
        SimRecord {
            agent_topic,
            key,
            value: Some(value),
            emitted: if late { Emitted::Late } else { Emitted::Valid },
            event_type: Some(t),
        }
    }
}

/// What the simulator produced; printed as JSON so tests can check ingest against it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimSummary {
    pub produced: u64,
    pub expected_valid: u64,
    pub expected_invalid: u64,
    pub duplicates: u64,
    pub late: u64,
    pub elapsed_s: f64,
    pub events_per_s: f64,
}

#[derive(Default)]
pub(crate) struct DeliveryCounter {
    pub(crate) failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl DeliveryCounter {
    /// The first delivery error seen, as text.
    pub(crate) fn first_error_text(&self) -> String {
        self.first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default()
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut f) = self.first_error.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Where the simulator sends events.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The brokers and client settings (TLS, SASL) to produce with.
    pub kafka: crate::KafkaConfig,
    pub agent_topic: String,
    pub gameplay_topic: String,
    /// Frame JSON values in Confluent wire format with the latest schema of `<topic>-value`
    /// in this registry (schema_registry_converter's encoder, as any Confluent producer).
    pub registry_url: Option<String>,
}

/// Produce events until `count` (or until `stop` is set). Blocking: run it on a blocking
/// thread. `progress` is called with the number produced so far.
pub fn produce(
    dest: &Destination,
    config: &SimulateConfig,
    stop: &std::sync::atomic::AtomicBool,
    progress: &dyn Fn(u64),
) -> Result<SimSummary> {
    config.validate()?;
    let producer: ThreadedProducer<DeliveryCounter> = dest
        .kafka
        .client_config()?
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("message.max.bytes", "10000000")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(DeliveryCounter::default())
        .map_err(Error::Client)?;
    let start =
        Utc::now() - chrono::Duration::milliseconds((config.backdate_days * 86_400_000.0) as i64);
    let mut generator = Generator::new(config.clone(), start);
    let mut summary = SimSummary::default();
    let started = Instant::now();
    let count = config.count.unwrap_or(u64::MAX);
    let encoder = dest.registry_url.as_ref().map(|url| {
        schema_registry_converter::async_impl::json::JsonEncoder::new(
            schema_registry_converter::async_impl::schema_registry::SrSettings::new(url.clone()),
        )
    });
    // The encoder is async; produce runs on a blocking thread of the caller's runtime.
    let runtime = match &encoder {
        Some(_) => Some(
            tokio::runtime::Handle::try_current().map_err(|e| Error::Produce {
                topic: dest.agent_topic.clone(),
                message: format!("Confluent framing needs a tokio runtime: {e}"),
            })?,
        ),
        None => None,
    };
    while summary.produced < count && !stop.load(Ordering::Relaxed) {
        let record = generator.next_record();
        let topic = if record.agent_topic {
            &dest.agent_topic
        } else {
            &dest.gameplay_topic
        };
        // Framing needs a JSON value; malformed records go out as they are.
        let framed: Option<Vec<u8>> = match (&encoder, &runtime, record.value.as_deref()) {
            (Some(enc), Some(runtime), Some(v)) => {
                match serde_json::from_slice::<serde_json::Value>(v) {
                    Ok(doc) => {
                        let strategy = schema_registry_converter::schema_registry_common::SubjectNameStrategy::TopicNameStrategy(topic.clone(), false);
                        Some(runtime.block_on(enc.encode(&doc, strategy)).map_err(|e| {
                            Error::Produce {
                                topic: topic.clone(),
                                message: format!(
                                    "Confluent framing with subject {topic}-value failed: {e}"
                                ),
                            }
                        })?)
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        let mut base: BaseRecord<'_, str, [u8], ()> =
            BaseRecord::to(topic).key(record.key.as_str());
        if let Some(v) = framed.as_deref().or(record.value.as_deref()) {
            base = base.payload(v);
        }
        loop {
            match producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), b)) => {
                    base = b;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    return Err(Error::Produce {
                        topic: topic.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        summary.produced += 1;
        match record.emitted {
            Emitted::Malformed => summary.expected_invalid += 1,
            Emitted::Duplicate => {
                summary.duplicates += 1;
                summary.expected_valid += 1;
            }
            Emitted::Late => {
                summary.late += 1;
                summary.expected_valid += 1;
            }
            Emitted::Valid => summary.expected_valid += 1,
        }
        if summary.produced % 1000 == 0 {
            progress(summary.produced);
        }
        if let Some(rate) = config.rate {
            let due = Duration::from_secs_f64(summary.produced as f64 / rate);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| Error::Produce {
            topic: format!("{},{}", dest.agent_topic, dest.gameplay_topic),
            message: format!("flush: {e}"),
        })?;
    progress(summary.produced);
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(Error::Undelivered {
            failed,
            total: summary.produced,
            first_error: context.first_error_text(),
        });
    }
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.events_per_s = summary.produced as f64 / summary.elapsed_s.max(1e-9);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_quality::{Inspector, SchemaValidator};

    #[test]
    fn generated_events_are_valid_or_malformed_as_labelled() {
        let config = SimulateConfig {
            malformed_fraction: 0.1,
            duplicate_fraction: 0.05,
            late_fraction: 0.05,
            oversize_bytes: Some(5000),
            ..SimulateConfig::default()
        };
        let catalog = strata_project::builtin().unwrap().schema_catalog();
        let inspector = Inspector::new(SchemaValidator::new(&catalog).unwrap(), 4096);
        let mut g = Generator::new(config, Utc::now());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50_000 {
            let r = g.next_record();
            let i = inspector.inspect(r.value.as_deref());
            assert_eq!(
                i.is_valid(),
                r.expected_valid(),
                "{:?} {:?}",
                r.emitted,
                i.invalid
            );
            if let Some(k) = i.invalid.map(|i| i.kind) {
                seen.insert(k);
            }
        }
        // Every malformed kind the simulator produces shows up.
        assert_eq!(seen.len(), 7, "{seen:?}");
    }

    #[test]
    fn same_seed_same_events() {
        let start = Utc::now();
        let mut a = Generator::new(SimulateConfig::default(), start);
        let mut b = Generator::new(SimulateConfig::default(), start);
        for _ in 0..100 {
            assert_eq!(a.next_record().value, b.next_record().value);
        }
    }
}
