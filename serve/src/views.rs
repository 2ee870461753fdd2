//! Feature views and services as the pipeline project declares them (`features/<view>.toml`,
//! `feature_services` in `strata_project.toml`): resolving a request's feature references.

use crate::{Error, Result};

pub use strata_project::{FeatureService, FeatureView};

/// The `view:feature` references of a feature service.
pub fn service_features(
    services: &[FeatureService],
    views: &[FeatureView],
    name: &str,
) -> Result<Vec<String>> {
    let service = services.iter().find(|s| s.name == name).ok_or_else(|| {
        Error::BadRequest(format!(
            "unknown feature service '{name}' (services: {})",
            services
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut out = Vec::new();
    for r in &service.features {
        match r.strip_suffix(":*") {
            Some(v) => {
                let view = views.iter().find(|x| x.name == v).ok_or_else(|| {
                    Error::BadRequest(format!("feature service '{name}' names no view '{v}'"))
                })?;
                out.extend(view.features.iter().map(|f| format!("{v}:{f}")));
            }
            None => out.push(r.clone()),
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
                    views
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let i = view.features.iter().position(|x| x == f).ok_or_else(|| {
                Error::BadRequest(format!("feature view '{v}' has no feature '{f}'"))
            })?;
            Ok((view, i))
        })
        .collect()
}
