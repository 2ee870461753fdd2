//! Alerts: an incident (an expectation that stopped a job, a job that failed past its retries,
//! a table past its freshness SLA) is logged and posted as JSON to every configured webhook.
//!
//! An incident alerts once when it starts, again only every `repeat_after` while it lasts, and
//! once more after it has cleared and started again; at most `max_per_minute` alerts go out a
//! minute, the rest are logged and counted as dropped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::warn;

use crate::runner::PassReport;
use crate::runs::RunStatus;
use crate::status::TableStatus;

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An expectation with `action = "fail"` stopped a job.
    ExpectationFailed,
    /// A job failed after its retries (or at once, for failures retrying cannot fix).
    JobFailed,
    /// A table's newest data is older than its freshness SLA.
    StaleTable,
    /// The share of records quarantined at ingest since the last check is past its limit.
    QuarantineJump,
}

/// One alert, as posted to webhooks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub table: String,
    /// The expectation (for `expectation_failed`).
    pub rule: Option<String>,
    pub message: String,
    /// The figures: rows failed and checked, attempts, or age and SLA in seconds.
    pub counts: Value,
    pub at: DateTime<Utc>,
}

impl Alert {
    /// The incident this alert is about.
    fn incident(&self) -> (AlertKind, String, Option<String>) {
        (self.kind, self.table.clone(), self.rule.clone())
    }
}

/// Where alerts go and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// Webhook URLs (http or https) each alert is POSTed to as JSON.
    pub webhooks: Vec<String>,
    /// An incident that lasts alerts again after this long.
    pub repeat_after: Duration,
    /// Alerts sent per minute at most, over all incidents.
    pub max_per_minute: usize,
    /// Per table: `*`, `<layer>.*` or `<layer>.<table>`; the most specific entry wins.
    pub tables: Vec<(String, TableAlerts)>,
}

/// One table's alerts, besides the defaults above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableAlerts {
    /// Kinds not sent for the table (still logged).
    pub mute: Vec<AlertKind>,
    /// Webhooks that also get the table's alerts (its owning team's).
    pub webhooks: Vec<String>,
    /// How soon a lasting incident of the table alerts again.
    pub repeat_after: Option<Duration>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            repeat_after: Duration::from_secs(3600),
            max_per_minute: 20,
            tables: Vec::new(),
        }
    }
}

impl AlertSettings {
    /// The settings of `table`'s most specific entry, if any covers it.
    pub fn for_table(&self, table: &str) -> Option<&TableAlerts> {
        let layer = table.split_once('.').map(|(l, _)| format!("{l}.*"));
        [Some(table), layer.as_deref(), Some("*")]
            .into_iter()
            .flatten()
            .find_map(|p| self.tables.iter().find(|(k, _)| k == p).map(|(_, t)| t))
    }
}

/// The incidents of one pass: its failed runs.
pub fn from_pass(report: &PassReport) -> Vec<Alert> {
    let mut out = Vec::new();
    for run in report.runs.iter().filter(|r| r.status == RunStatus::Failed) {
        let Some(failure) = &run.error else { continue };
        let table = run.job.clone();
        if failure.expectations.is_empty() {
            out.push(Alert {
                kind: AlertKind::JobFailed,
                table,
                rule: None,
                message: failure.to_string(),
                counts: json!({"attempts": run.attempts}),
                at: run.ended_at,
            });
        }
        for e in &failure.expectations {
            out.push(Alert {
                kind: AlertKind::ExpectationFailed,
                table: e.table.clone(),
                rule: Some(e.rule.clone()),
                message: failure.to_string(),
                counts: json!({"rows_failed": e.rows_failed, "rows_checked": e.rows_checked}),
                at: run.ended_at,
            });
        }
    }
    out
}

/// The incident of a quarantine check: `quarantined` of the `ingested` records since the last
/// check failed validation, more than `max_fraction` of them (with at least `min_records`
/// ingested, so a handful of records cannot raise it).
pub fn from_quarantine(
    quarantined: u64,
    ingested: u64,
    max_fraction: f64,
    min_records: u64,
) -> Vec<Alert> {
    let fraction = quarantined as f64 / ingested.max(1) as f64;
    if ingested < min_records.max(1) || fraction <= max_fraction {
        return Vec::new();
    }
    vec![Alert {
        kind: AlertKind::QuarantineJump,
        table: "bronze.events".to_string(),
        rule: Some(format!("quarantined share above {max_fraction}")),
        message: format!(
            "{quarantined} of {ingested} records ingested since the last check were quarantined ({:.1}%, limit {:.1}%): see bronze.quarantine",
            fraction * 100.0,
            max_fraction * 100.0
        ),
        counts: json!({"quarantined": quarantined, "ingested": ingested}),
        at: Utc::now(),
    }]
}

/// The incidents of a freshness check: tables past their SLA.
pub fn from_status(tables: &[TableStatus]) -> Vec<Alert> {
    tables
        .iter()
        .filter(|t| t.within_sla == Some(false))
        .map(|t| Alert {
            kind: AlertKind::StaleTable,
            table: t.table.clone(),
            rule: None,
            message: format!(
                "{} is {:.0} s behind its inputs, past its freshness SLA of {} s",
                t.table,
                t.behind_s.unwrap_or_default(),
                t.sla_s.unwrap_or_default()
            ),
            counts: json!({"behind_s": t.behind_s, "sla_s": t.sla_s}),
            at: Utc::now(),
        })
        .collect()
}

/// Sends alerts, deduplicated per incident and rate-limited.
#[derive(Debug)]
pub struct Alerter {
    settings: AlertSettings,
    client: reqwest::Client,
    /// Open incidents of each source, with when they last alerted.
    open: BTreeMap<(AlertKind, String, Option<String>), Instant>,
    sent: VecDeque<Instant>,
    dropped: u64,
}

impl Alerter {
    pub fn new(settings: AlertSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            settings,
            client,
            open: BTreeMap::new(),
            sent: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Alerts dropped by the rate limit so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Take the current incidents of the sources in `checked` (the kinds this observation
    /// covers): new ones alert, lasting ones alert again after `repeat_after`, and those of
    /// `checked` not seen any more are closed. Returns the alerts sent.
    pub async fn observe(&mut self, checked: &[AlertKind], alerts: Vec<Alert>) -> Vec<Alert> {
        let now: BTreeSet<_> = alerts.iter().map(Alert::incident).collect();
        self.open
            .retain(|k, _| !checked.contains(&k.0) || now.contains(k));
        let mut out = Vec::new();
        for alert in alerts {
            let table = self.settings.for_table(&alert.table);
            if table.is_some_and(|t| t.mute.contains(&alert.kind)) {
                tracing::info!(kind = ?alert.kind, table = %alert.table, message = %alert.message,
                               "alert muted for this table");
                continue;
            }
            let repeat = table
                .and_then(|t| t.repeat_after)
                .unwrap_or(self.settings.repeat_after);
            let key = alert.incident();
            let due = self
                .open
                .get(&key)
                .is_none_or(|last| last.elapsed() >= repeat);
            if due && self.admit() {
                self.open.insert(key, Instant::now());
                self.send(&alert).await;
                out.push(alert);
            } else if due {
                self.dropped += 1;
                warn!(kind = ?alert.kind, table = %alert.table, "alert dropped by the rate limit");
            }
        }
        out
    }

    /// Whether the per-minute budget has room for one more.
    fn admit(&mut self) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.sent.pop_front();
        }
        let room = self.sent.len() < self.settings.max_per_minute;
        if room {
            self.sent.push_back(Instant::now());
        }
        room
    }

    async fn send(&self, alert: &Alert) {
        warn!(kind = ?alert.kind, table = %alert.table, rule = ?alert.rule,
              counts = %alert.counts, message = %alert.message, "alert");
        let body = match serde_json::to_vec(alert) {
            Ok(b) => b,
            Err(e) => return warn!(error = %e, "alert not serializable"),
        };
        let extra = self
            .settings
            .for_table(&alert.table)
            .map(|t| t.webhooks.as_slice())
            .unwrap_or_default();
        for url in self.settings.webhooks.iter().chain(extra) {
            let posted = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            if let Err(e) = posted {
                warn!(webhook = %url, error = %e, "alert webhook failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stale(table: &str) -> Alert {
        Alert {
            kind: AlertKind::StaleTable,
            table: table.into(),
            rule: None,
            message: String::new(),
            counts: Value::Null,
            at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn an_incident_alerts_once_until_it_clears_and_the_rate_is_capped() {
        let mut a = Alerter::new(AlertSettings {
            max_per_minute: 3,
            ..AlertSettings::default()
        });
        let kinds = [AlertKind::StaleTable];
        assert_eq!(a.observe(&kinds, vec![stale("gold.a")]).await.len(), 1);
        assert_eq!(a.observe(&kinds, vec![stale("gold.a")]).await.len(), 0);
        // Another source's observation leaves the incident open.
        assert_eq!(a.observe(&[AlertKind::JobFailed], vec![]).await.len(), 0);
        assert_eq!(a.observe(&kinds, vec![stale("gold.a")]).await.len(), 0);
        // Cleared, then back: a new incident.
        assert_eq!(a.observe(&kinds, vec![]).await.len(), 0);
        assert_eq!(a.observe(&kinds, vec![stale("gold.a")]).await.len(), 1);
        // Three a minute: the fourth and fifth are dropped.
        let many = vec![stale("gold.b"), stale("gold.c"), stale("gold.d")];
        let sent = a
            .observe(&kinds, [vec![stale("gold.a")], many].concat())
            .await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(a.dropped(), 2);
    }

    #[tokio::test]
    async fn a_table_can_mute_a_kind_and_repeat_sooner() {
        let quiet = TableAlerts {
            mute: vec![AlertKind::StaleTable],
            ..TableAlerts::default()
        };
        let eager = TableAlerts {
            repeat_after: Some(Duration::ZERO),
            webhooks: vec!["http://127.0.0.1:9/gold".into()],
            ..TableAlerts::default()
        };
        let settings = AlertSettings {
            tables: vec![("silver.*".into(), quiet), ("gold.a".into(), eager.clone())],
            ..AlertSettings::default()
        };
        assert_eq!(settings.for_table("gold.a"), Some(&eager));
        assert_eq!(settings.for_table("gold.b"), None);
        let mut a = Alerter::new(settings);
        let kinds = [AlertKind::StaleTable];
        assert!(a.observe(&kinds, vec![stale("silver.x")]).await.is_empty());
        assert_eq!(a.observe(&kinds, vec![stale("gold.a")]).await.len(), 1);
        // No wait between repeats for gold.a; the default hour for gold.b.
        assert_eq!(a.observe(&kinds, vec![stale("gold.a")]).await.len(), 1);
        assert_eq!(a.observe(&kinds, vec![stale("gold.b")]).await.len(), 1);
        assert_eq!(a.observe(&kinds, vec![stale("gold.b")]).await.len(), 0);
    }
}
