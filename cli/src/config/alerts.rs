//! `[alerts]`: where incidents are sent.

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use strata_orchestration::alerts::AlertSettings;

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
            let ok = url::Url::parse(hook)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                anyhow::bail!(
                    "invalid config: alerts.webhooks[{i}] '{hook}' is not an http:// or https:// URL"
                );
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
        }
    }
}
