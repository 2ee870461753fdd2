//! Alerts of `strata run`: each pass's failures, and now and then the tables past their
//! freshness SLA (see `strata_orchestration::alerts`).

use std::time::{Duration, Instant};

use strata_orchestration::PassReport;
use strata_orchestration::alerts::{self, AlertKind, Alerter};
use strata_pipelines::Lake;
use tracing::warn;

use crate::config::Config;

pub struct Alerts {
    alerter: Alerter,
    freshness_every: Option<Duration>,
    last_check: Option<Instant>,
}

impl Alerts {
    pub fn new(config: &Config) -> Self {
        Self {
            alerter: Alerter::new(config.alerts.settings()),
            freshness_every: Some(Duration::from_secs(config.alerts.freshness_check_s))
                .filter(|d| !d.is_zero()),
            last_check: None,
        }
    }

    /// Alert on `report`'s failures and, when due, on stale tables.
    pub async fn after_pass(&mut self, lake: &Lake, config: &Config, report: &PassReport) {
        let failures = alerts::from_pass(report);
        self.alerter
            .observe(
                &[AlertKind::ExpectationFailed, AlertKind::JobFailed],
                failures,
            )
            .await;
        let Some(every) = self.freshness_every else {
            return;
        };
        if self.last_check.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last_check = Some(Instant::now());
        match freshness(lake, config).await {
            Ok(stale) => {
                self.alerter.observe(&[AlertKind::StaleTable], stale).await;
            }
            Err(e) => warn!(error = %e, "cannot check the tables' freshness for alerts"),
        }
    }
}

async fn freshness(lake: &Lake, config: &Config) -> anyhow::Result<Vec<alerts::Alert>> {
    let tables = strata_orchestration::status::status(
        lake,
        &super::jobs(config)?,
        &config.run.sla_s,
        config.run.default_sla_s,
    )
    .await?;
    Ok(alerts::from_status(&tables))
}
