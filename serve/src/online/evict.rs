//! Erasure's share of the online store: the entity's rows leave Redis at once, rather than at
//! the next refresh of each serving process (which also drops them, from the recomputed Gold).

use std::time::Duration;

use super::{key, redis_err};
use crate::views::FeatureView;
use crate::{Error, Result};

/// Remove `value`'s rows from every view keyed by `entity_key` in the Redis store under
/// `namespace`; the number of views that held it.
pub async fn evict_redis(
    url: &str,
    namespace: &str,
    views: &[FeatureView],
    entity_key: &str,
    value: &str,
) -> Result<usize> {
    let client = redis::Client::open(url).map_err(redis_err(url))?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| Error::Redis {
        url: url.to_string(),
        message: "no answer within 5 s".into(),
    })?
    .map_err(redis_err(url))?;
    let mut held = 0;
    for view in views.iter().filter(|v| v.entity == entity_key) {
        let removed: usize = redis::cmd("HDEL")
            .arg(key(namespace, &view.name))
            .arg(value)
            .query_async(&mut conn)
            .await
            .map_err(redis_err(url))?;
        held += removed;
    }
    Ok(held)
}
