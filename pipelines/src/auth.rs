//! Bearer tokens, shared by every HTTP surface (features, training sets, registry changes,
//! the dashboard API): one rule, compared in constant time.

use std::sync::Arc;

/// Who a request acts as: the principal a token belongs to and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: String,
    /// The role may use operator surfaces (dashboard API, registry changes).
    pub admin: bool,
}

impl Principal {
    /// Anyone, on a surface with no token configured (or a token given without a role).
    pub fn operator(name: &str) -> Self {
        Self {
            name: name.to_string(),
            role: "operator".to_string(),
            admin: true,
        }
    }
}

/// The accepted tokens, each with its principal; none configured means the surface is open.
#[derive(Clone, Default)]
pub struct BearerTokens(Arc<Vec<(Vec<u8>, Principal)>>);

impl std::fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BearerTokens({} configured)", self.0.len())
    }
}

impl BearerTokens {
    /// Tokens with full access (the operator role).
    pub fn new(tokens: impl IntoIterator<Item = String>) -> Self {
        Self::with_principals(
            tokens
                .into_iter()
                .map(|t| (t, Principal::operator("token"))),
        )
    }

    pub fn with_principals(tokens: impl IntoIterator<Item = (String, Principal)>) -> Self {
        Self(Arc::new(
            tokens
                .into_iter()
                .map(|(t, p)| (t.into_bytes(), p))
                .collect(),
        ))
    }

    /// No token configured: every request is let in.
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an `Authorization` header value lets the request in.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        self.principal(authorization).is_some()
    }

    /// The principal an `Authorization` header value names; `None`: not let in. An open
    /// surface lets everyone in as the operator.
    pub fn principal(&self, authorization: Option<&str>) -> Option<Principal> {
        if self.is_open() {
            return Some(Principal::operator("anonymous"));
        }
        let given = authorization.and_then(|h| h.strip_prefix("Bearer "))?;
        // Every configured token is compared, so the time taken says nothing about which
        // one (or how much of one) matched.
        self.0
            .iter()
            .fold(None, |found, (t, p)| {
                let ok = constant_time_eq(t, given.as_bytes());
                found.or(ok.then_some(p))
            })
            .cloned()
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
        let analyst = Principal {
            name: "ana".into(),
            role: "analyst".into(),
            admin: false,
        };
        let t = BearerTokens::with_principals([("a-token".to_string(), analyst.clone())]);
        assert_eq!(t.principal(Some("Bearer a-token")), Some(analyst));
        assert_eq!(t.principal(Some("Bearer b-token")), None);
        assert!(
            BearerTokens::default()
                .principal(None)
                .is_some_and(|p| p.admin)
        );
    }
}
