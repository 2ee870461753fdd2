//! `[alerts]`: where incidents are sent.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use strata_orchestration::alerts::{AlertKind, AlertSettings, TableAlerts};

/// Alerts of `strata run` (and `run --once`, `replay`): failed expectations, jobs failing
/// past their retries, tables past their freshness SLA. Always logged; also POSTed as JSON
/// to every webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Webhook URLs (http or https). `STRATA_ALERTS_WEBHOOKS` (comma-separated) replaces
    /// them: webhook URLs often carry a token.
    pub webhooks: Vec<String>,
    /// An incident that lasts alerts again after this long, in seconds.
    pub repeat_after_s: u64,
    /// Alerts sent per minute at most, over all incidents.
    pub max_per_minute: usize,
    /// How often `strata run` looks for tables past their freshness SLA and for a jump in
    /// quarantined records, in seconds; 0: never.
    pub freshness_check_s: u64,
    /// Alert when more than this share of the records ingested since the last check was
    /// quarantined (1.0: never).
    pub quarantine_fraction: f64,
    /// ... and at least this many records were ingested since then.
    pub quarantine_min_records: u64,
    /// Per table (`*`, `<layer>.*` or `<layer>.<table>`; the most specific wins).
    pub tables: BTreeMap<String, TableAlertsConfig>,
}

/// `[alerts.tables."<pattern>"]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableAlertsConfig {
    /// Kinds not sent for these tables: expectation_failed, job_failed, stale_table,
    /// quarantine_jump (still logged).
    pub mute: Vec<AlertKind>,
    /// Webhooks that also get these tables' alerts (the owning team's).
    pub webhooks: Vec<String>,
    /// An environment variable holding more of them, comma-separated (they carry tokens).
    pub webhooks_env: Option<String>,
    /// How soon a lasting incident alerts again, in seconds (default: `repeat_after_s`).
    pub repeat_after_s: Option<u64>,
}

impl TableAlertsConfig {
    fn resolved_webhooks(&self) -> Vec<String> {
        let from_env = self
            .webhooks_env
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .unwrap_or_default();
        self.webhooks
            .iter()
            .cloned()
            .chain(
                from_env
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
            )
            .collect()
    }
}

/// Refuse a webhook that is not an http(s) URL, naming its key.
fn check_webhook(key: &str, hook: &str) -> Result<()> {
    let ok = url::Url::parse(hook)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        anyhow::bail!("invalid config: {key} '{hook}' is not an http:// or https:// URL");
    }
    Ok(())
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            repeat_after_s: 3600,
            max_per_minute: 20,
            freshness_check_s: 60,
            quarantine_fraction: 0.05,
            quarantine_min_records: 100,
            tables: BTreeMap::new(),
        }
    }
}

impl AlertsConfig {
    /// The webhooks in effect: the environment's, else the file's.
    fn resolved_webhooks(&self) -> Vec<String> {
        match std::env::var("STRATA_ALERTS_WEBHOOKS") {
            Ok(list) => list
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
            Err(_) => self.webhooks.clone(),
        }
    }

    /// Refuse a webhook that is not an http(s) URL, naming it, and a share outside 0..=1.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.quarantine_fraction) {
            anyhow::bail!(
                "invalid config: alerts.quarantine_fraction {} must be between 0 and 1",
                self.quarantine_fraction
            );
        }
        for (i, hook) in self.resolved_webhooks().iter().enumerate() {
            check_webhook(&format!("alerts.webhooks[{i}]"), hook)?;
        }
        for (pattern, t) in &self.tables {
            let ok = pattern == "*"
                || pattern
                    .split_once('.')
                    .is_some_and(|(l, t)| !l.is_empty() && !t.is_empty() && !t.contains('.'));
            if !ok {
                anyhow::bail!(
                    "invalid config: alerts.tables.\"{pattern}\": keys are *, <layer>.* or <layer>.<table>"
                );
            }
            for (i, hook) in t.resolved_webhooks().iter().enumerate() {
                check_webhook(&format!("alerts.tables.\"{pattern}\".webhooks[{i}]"), hook)?;
            }
        }
        if self.max_per_minute == 0 {
            anyhow::bail!("invalid config: alerts.max_per_minute must be at least 1");
        }
        Ok(())
    }

    pub fn settings(&self) -> AlertSettings {
        AlertSettings {
            webhooks: self.resolved_webhooks(),
            repeat_after: Duration::from_secs(self.repeat_after_s),
            max_per_minute: self.max_per_minute,
            tables: self
                .tables
                .iter()
                .map(|(pattern, t)| {
                    let settings = TableAlerts {
                        mute: t.mute.clone(),
                        webhooks: t.resolved_webhooks(),
                        repeat_after: t.repeat_after_s.map(Duration::from_secs),
                    };
                    (pattern.clone(), settings)
                })
                .collect(),
        }
    }
}
