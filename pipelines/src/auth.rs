//! Bearer tokens, shared by every HTTP surface (features, training sets, registry changes,
//! the dashboard API): one rule, compared in constant time.

use std::sync::Arc;

/// The accepted tokens; none configured means the surface is open.
#[derive(Clone, Default)]
pub struct BearerTokens(Arc<Vec<Vec<u8>>>);

impl std::fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BearerTokens({} configured)", self.0.len())
    }
}

impl BearerTokens {
    pub fn new(tokens: impl IntoIterator<Item = String>) -> Self {
        Self(Arc::new(
            tokens.into_iter().map(String::into_bytes).collect(),
        ))
    }

    /// No token configured: every request is let in.
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an `Authorization` header value lets the request in.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(given) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        // Every configured token is compared, so the time taken says nothing about which
        // one (or how much of one) matched.
        self.0
            .iter()
            .fold(false, |ok, t| ok | constant_time_eq(t, given.as_bytes()))
    }
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_exactly() {
        let open = BearerTokens::default();
        assert!(open.accepts(None));
        let t = BearerTokens::new(["s3cret-token".to_string(), "other".to_string()]);
        assert!(t.accepts(Some("Bearer s3cret-token")));
        assert!(t.accepts(Some("Bearer other")));
        assert!(!t.accepts(Some("Bearer s3cret-toke")));
        assert!(!t.accepts(Some("Bearer s3cret-token2")));
        assert!(!t.accepts(Some("s3cret-token")));
        assert!(!t.accepts(None));
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
