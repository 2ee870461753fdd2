//! Erasure's share of the online store: the entity's rows leave Redis at once, rather than at
//! the next refresh of each serving process (which also drops them, from the recomputed Gold).

use super::{connect, key, redis_err};
use crate::Result;
use crate::views::FeatureView;

/// Remove `value`'s rows from every view keyed by `entity_key` in the Redis store under
/// `namespace`; the number of views that held it.
pub async fn evict_redis(
    url: &str,
    namespace: &str,
    views: &[FeatureView],
    entity_key: &str,
    value: &str,
) -> Result<usize> {
    let mut conn = connect(url).await?;
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
