//! Feature view and feature service declarations.

use std::time::Duration;

use strata_pipelines::TableName;

/// Features of one entity, read from one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureView {
    pub name: String,
    pub file: String,
    pub source: TableName,
    /// The entity key column (also the key of `entities` in Feast requests).
    pub entity: String,
    /// When each row's values became known (no value is used before it).
    pub timestamp: String,
    pub features: Vec<String>,
    /// A value older than this is neither served nor joined.
    pub ttl: Duration,
}

impl FeatureView {
    /// The table the view reads.
    pub fn table_name(&self) -> TableName {
        self.source.clone()
    }
}

/// A named group of features, requested as one (`feature_service` in Feast requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureService {
    pub name: String,
    /// `view:feature` references; `view:*` takes every feature of the view.
    pub features: Vec<String>,
}

/// `30s`, `15m`, `2h`, `2d` or `1w` -> a duration.
pub fn parse_ttl(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    if n == 0 {
        return None;
    }
    Some(Duration::from_secs(n.checked_mul(secs)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_as_written() {
        assert_eq!(parse_ttl("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_ttl("90m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_ttl("1w"), Some(Duration::from_secs(604_800)));
        for bad in ["", "d", "2", "0d", "2 days", "-1d", "1.5h"] {
            assert_eq!(parse_ttl(bad), None, "{bad}");
        }
    }
}
