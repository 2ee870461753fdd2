//! Serving telemetry (the `prometheus` crate).

use strata_pipelines::telemetry::{self, HistogramVec, IntCounter, IntCounterVec, Registry};

#[derive(Debug)]
pub struct ServeMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency_us: HistogramVec,
    entities: IntCounter,
    training_rows: IntCounter,
    /// Rendered from the online store at scrape time (what each view serves now).
    online_version: telemetry::IntGaugeVec,
}

impl Default for ServeMetrics {
    fn default() -> Self {
        let r = Registry::new();
        Self {
            requests: telemetry::counter_vec(
                &r,
                "strata_serve_requests_total",
                "HTTP requests by route and status.",
                &["route", "status"],
            ),
            latency_us: telemetry::histogram_vec(
                &r,
                "strata_serve_request_duration_microseconds",
                "Request durations.",
                &["route"],
                vec![
                    250.0, 500.0, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 1e6, 5e6, 3e7,
                ],
            ),
            entities: telemetry::counter(
                &r,
                "strata_serve_entities_total",
                "Entities looked up online.",
            ),
            training_rows: telemetry::counter(
                &r,
                "strata_serve_training_rows_total",
                "Entity rows joined into training sets.",
            ),
            online_version: telemetry::gauge_vec(
                &r,
                "strata_serve_online_version",
                "Delta version each feature view serves.",
                &["view"],
            ),
            registry: r,
        }
    }
}

impl ServeMetrics {
    pub fn request(&self, route: &'static str, status: u16, micros: u64) {
        self.requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
        self.latency_us
            .with_label_values(&[route])
            .observe(micros as f64);
    }

    pub fn entities(&self, n: u64) {
        self.entities.inc_by(n);
    }

    pub fn training_rows(&self, n: u64) {
        self.training_rows.inc_by(n);
    }

    pub fn render(&self, versions: &[(String, Option<u64>)]) -> String {
        for (view, v) in versions {
            if let Some(v) = v {
                self.online_version
                    .with_label_values(&[view])
                    .set(i64::try_from(*v).unwrap_or(i64::MAX));
            }
        }
        telemetry::render(&self.registry)
    }
}
