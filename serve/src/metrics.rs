//! Serving telemetry, Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency_us_sum: BTreeMap<&'static str, u64>,
    latency_count: BTreeMap<&'static str, u64>,
    entities: u64,
    training_rows: u64,
}

#[derive(Debug, Default)]
pub struct ServeMetrics {
    state: Mutex<State>,
}

impl ServeMetrics {
    pub fn request(&self, route: &'static str, status: u16, micros: u64) {
        if let Ok(mut s) = self.state.lock() {
            *s.requests.entry((route, status)).or_default() += 1;
            *s.latency_us_sum.entry(route).or_default() += micros;
            *s.latency_count.entry(route).or_default() += 1;
        }
    }

    pub fn entities(&self, n: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.entities += n;
        }
    }

    pub fn training_rows(&self, n: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.training_rows += n;
        }
    }

    pub fn render(&self, versions: &[(&'static str, Option<u64>)]) -> String {
        let mut out = String::new();
        let Ok(s) = self.state.lock() else {
            return out;
        };
        let _ = writeln!(
            out,
            "# HELP strata_serve_requests_total HTTP requests by route and status.\n# TYPE strata_serve_requests_total counter"
        );
        for ((route, status), v) in &s.requests {
            let _ = writeln!(
                out,
                "strata_serve_requests_total{{route=\"{route}\",status=\"{status}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP strata_serve_request_duration_microseconds Request durations.\n# TYPE strata_serve_request_duration_microseconds summary"
        );
        for (route, v) in &s.latency_us_sum {
            let c = s.latency_count.get(route).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "strata_serve_request_duration_microseconds_sum{{route=\"{route}\"}} {v}"
            );
            let _ = writeln!(
                out,
                "strata_serve_request_duration_microseconds_count{{route=\"{route}\"}} {c}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP strata_serve_entities_total Entities looked up online.\n# TYPE strata_serve_entities_total counter\nstrata_serve_entities_total {}",
            s.entities
        );
        let _ = writeln!(
            out,
            "# HELP strata_serve_training_rows_total Entity rows joined into training sets.\n# TYPE strata_serve_training_rows_total counter\nstrata_serve_training_rows_total {}",
            s.training_rows
        );
        let _ = writeln!(
            out,
            "# HELP strata_serve_online_version Delta version each feature view serves.\n# TYPE strata_serve_online_version gauge"
        );
        for (view, v) in versions {
            if let Some(v) = v {
                let _ = writeln!(out, "strata_serve_online_version{{view=\"{view}\"}} {v}");
            }
        }
        out
    }
}
