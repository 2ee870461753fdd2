//! Alerts of `strata run`: each pass's failures, and now and then the tables past their
//! freshness SLA (see `strata_orchestration::alerts`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use strata_orchestration::PassReport;
use strata_orchestration::alerts::{self, AlertKind, Alerter};
use strata_pipelines::Lake;
use tracing::warn;

use crate::config::Config;

pub struct Alerts {
    alerter: Alerter,
    freshness_every: Option<Duration>,
    last_check: Option<Instant>,
    /// Records ingested after this are counted at the next quarantine check.
    quarantine_since: DateTime<Utc>,
}

impl Alerts {
    pub fn new(config: &Config) -> Self {
        Self {
            alerter: Alerter::new(config.alerts.settings()),
            freshness_every: Some(Duration::from_secs(config.alerts.freshness_check_s))
                .filter(|d| !d.is_zero()),
            last_check: None,
            quarantine_since: Utc::now(),
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
        let now = Utc::now();
        match quarantined_since(lake, self.quarantine_since).await {
            Ok((bad, all)) => {
                self.quarantine_since = now;
                let jump = alerts::from_quarantine(
                    bad,
                    all,
                    config.alerts.quarantine_fraction,
                    config.alerts.quarantine_min_records,
                );
                self.alerter
                    .observe(&[AlertKind::QuarantineJump], jump)
                    .await;
            }
            Err(e) => warn!(error = %e, "cannot count the quarantined records for alerts"),
        }
    }
}

/// (quarantined, all) records ingested after `since`. The date partition and the files'
/// `ingested_at` statistics limit the read to the newest files.
async fn quarantined_since(lake: &Lake, since: DateTime<Utc>) -> anyhow::Result<(u64, u64)> {
    use strata_pipelines::deltalake::arrow::array::{Array, AsArray};
    use strata_pipelines::deltalake::arrow::datatypes::Int64Type;
    let events = strata_bronze::events_table();
    let Some(table) = lake.open(&events).await? else {
        return Ok((0, 0));
    };
    // Only Bronze: a session over the whole lake would open every table on every check.
    let ctx = strata_pipelines::deltalake::datafusion::prelude::SessionContext::new();
    strata_pipelines::SessionBuilder::register(&ctx, &events, &table).await?;
    let sql = format!(
        "SELECT count(*) FILTER (WHERE NOT valid) AS bad, count(*) AS all_rows \
         FROM bronze.events WHERE ingest_date >= CAST('{}' AS DATE) \
         AND ingested_at > CAST('{}' AS TIMESTAMP)",
        since.date_naive(),
        since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let value = |i: usize| -> u64 {
        batches
            .first()
            .and_then(|b| b.column(i).as_primitive_opt::<Int64Type>())
            .filter(|a| !a.is_empty())
            .map_or(0, |a| u64::try_from(a.value(0)).unwrap_or(0))
    };
    Ok((value(0), value(1)))
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
