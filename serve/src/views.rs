//! Feature views, declared in one place: which Gold table, which entity, which features, and
//! how old a value may be before it is no longer served (TTL).

use std::time::Duration;

use strata_pipelines::TableName;

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureView {
    pub name: &'static str,
    pub table: &'static str,
    /// The entity key column (also the key of `entities` in Feast requests).
    pub entity: &'static str,
    /// When each row's values became known (no value is used before it).
    pub timestamp: &'static str,
    pub features: &'static [&'static str],
    pub ttl: Duration,
}

impl FeatureView {
    pub fn table_name(&self) -> TableName {
        TableName::new(
            self.table.split_once('.').map_or("gold", |(l, _)| l),
            self.table.split_once('.').map_or(self.table, |(_, t)| t),
        )
    }
}

const DAY: Duration = Duration::from_secs(86_400);

/// Every feature view.
pub fn feature_views() -> Vec<FeatureView> {
    vec![
        FeatureView {
            name: "player_features",
            table: "gold.player_features",
            entity: "player_id",
            timestamp: "feature_ts",
            features: &[
                "sessions_7d",
                "sessions_28d",
                "playtime_s_7d",
                "playtime_s_28d",
                "missions_completed_7d",
                "missions_completed_28d",
                "missions_failed_7d",
                "missions_failed_28d",
                "credits_earned_7d",
                "credits_earned_28d",
                "credits_spent_7d",
                "credits_spent_28d",
                "agent_interactions_7d",
                "agent_interactions_28d",
                "active_days_7d",
                "active_days_28d",
            ],
            ttl: 2 * DAY,
        },
        FeatureView {
            name: "agent_features",
            table: "gold.agent_features",
            entity: "agent_id",
            timestamp: "feature_ts",
            features: &[
                "invocations_7d",
                "invocations_28d",
                "success_rate_7d",
                "success_rate_28d",
                "cost_usd_7d",
                "cost_usd_28d",
                "avg_rating_7d",
                "avg_rating_28d",
                "max_daily_latency_p95_ms_7d",
            ],
            ttl: 2 * DAY,
        },
    ]
}

/// A named group of features, requested as one (`feature_service` in Feast requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureService {
    pub name: &'static str,
    /// `view:feature` references; `view:*` takes every feature of the view.
    pub features: &'static [&'static str],
}

/// Every feature service.
pub fn feature_services() -> Vec<FeatureService> {
    vec![
        FeatureService {
            name: "player_activity",
            features: &["player_features:*"],
        },
        FeatureService {
            name: "agent_quality",
            features: &[
                "agent_features:success_rate_7d",
                "agent_features:success_rate_28d",
                "agent_features:avg_rating_7d",
                "agent_features:avg_rating_28d",
                "agent_features:max_daily_latency_p95_ms_7d",
            ],
        },
    ]
}

/// The `view:feature` references of a feature service.
pub fn service_features(name: &str) -> Result<Vec<String>> {
    let services = feature_services();
    let service = services.iter().find(|s| s.name == name).ok_or_else(|| {
        Error::BadRequest(format!(
            "unknown feature service '{name}' (services: {})",
            services
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let views = feature_views();
    let mut out = Vec::new();
    for r in service.features {
        match r.strip_suffix(":*") {
            Some(v) => {
                let view = views.iter().find(|x| x.name == v).ok_or_else(|| {
                    Error::BadRequest(format!("feature service '{name}' names no view '{v}'"))
                })?;
                out.extend(view.features.iter().map(|f| format!("{v}:{f}")));
            }
            None => out.push((*r).to_string()),
        }
    }
    Ok(out)
}

/// `view:feature` references, resolved to (view, feature index), in request order.
pub fn resolve<'a>(
    views: &'a [FeatureView],
    refs: &[String],
) -> Result<Vec<(&'a FeatureView, usize)>> {
    if refs.is_empty() {
        return Err(Error::BadRequest("no features requested".into()));
    }
    refs.iter()
        .map(|r| {
            let (v, f) = r.split_once(':').ok_or_else(|| {
                Error::BadRequest(format!(
                    "feature '{r}' is not view:feature (e.g. player_features:sessions_7d)"
                ))
            })?;
            let view = views.iter().find(|x| x.name == v).ok_or_else(|| {
                Error::BadRequest(format!(
                    "unknown feature view '{v}' (views: {})",
                    views.iter().map(|x| x.name).collect::<Vec<_>>().join(", ")
                ))
            })?;
            let i = view.features.iter().position(|x| *x == f).ok_or_else(|| {
                Error::BadRequest(format!("feature view '{v}' has no feature '{f}'"))
            })?;
            Ok((view, i))
        })
        .collect()
}
