//! Tenant routing: which tenant an object key belongs to, by the tenants' `s3_prefix`
//! (docs/design.md: "A tenant is chosen by S3 key prefix").
//!
//! Plain string prefixes, as S3 itself uses them: `main` matches `main2/x.zip` too, so prefixes
//! should end in `/`. The longest matching prefix wins, so `east/` and `east/law/` can be two
//! tenants. A single tenant without a prefix takes every key (the one-tenant deployment); with
//! several tenants each needs a prefix, mirroring folder mode's one-folder-per-tenant rule.
//! A key no prefix matches routes to `None`; the caller makes that a
//! [`PoisonError::unknown_tenant`](super::PoisonError::unknown_tenant).

use super::error::RouterError;

/// Maps object keys to tenant names. Built once from the config.
#[derive(Debug, Clone)]
pub struct Router {
    /// `(prefix, tenant)`, longest prefix first; `""` for the lone tenant without a prefix.
    routes: Vec<(String, String)>,
}

impl Router {
    /// Builds the router from `(tenant name, s3_prefix)` pairs, refusing settings that would
    /// route a key to two tenants or to none by accident.
    pub fn new<N, P>(tenants: impl IntoIterator<Item = (N, Option<P>)>) -> Result<Self, RouterError>
    where
        N: Into<String>,
        P: Into<String>,
    {
        let tenants: Vec<(String, Option<String>)> = tenants
            .into_iter()
            .map(|(n, p)| (n.into(), p.map(Into::into)))
            .collect();
        let several = tenants.len() > 1;
        let mut routes: Vec<(String, String)> = Vec::with_capacity(tenants.len());
        for (name, prefix) in tenants {
            let prefix = match prefix {
                Some(p) => p,
                None if several => return Err(RouterError::MissingPrefix { tenant: name }),
                None => String::new(),
            };
            if let Some((_, first)) = routes.iter().find(|(p, _)| *p == prefix) {
                return Err(RouterError::DuplicatePrefix {
                    prefix,
                    first: first.clone(),
                    second: name,
                });
            }
            routes.push((prefix, name));
        }
        if routes.is_empty() {
            return Err(RouterError::NoTenants);
        }
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Router { routes })
    }

    /// The tenant whose prefix is the longest one the key starts with.
    pub fn route(&self, key: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map(|(_, name)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(t: &[(&str, Option<&str>)]) -> Result<Router, RouterError> {
        Router::new(t.iter().copied())
    }

    #[test]
    fn longest_matching_prefix_wins() {
        let r = router(&[("east", Some("east/")), ("law", Some("east/law/"))]).unwrap();
        assert_eq!(r.route("east/law/b1.zip"), Some("law"));
        assert_eq!(r.route("east/b1.zip"), Some("east"));
    }

    #[test]
    fn longest_wins_whatever_the_config_order() {
        let r = router(&[("law", Some("east/law/")), ("east", Some("east/"))]).unwrap();
        assert_eq!(r.route("east/law/b1.zip"), Some("law"));
    }

    #[test]
    fn single_tenant_without_prefix_takes_every_key() {
        let r = router(&[("main", None)]).unwrap();
        assert_eq!(r.route("anything/at/all.zip"), Some("main"));
        assert_eq!(r.route("x.zip"), Some("main"));
    }

    #[test]
    fn single_tenant_with_prefix_takes_only_its_keys() {
        let r = router(&[("main", Some("main/"))]).unwrap();
        assert_eq!(r.route("main/a.zip"), Some("main"));
        assert_eq!(r.route("other/a.zip"), None);
    }

    #[test]
    fn key_outside_every_prefix_routes_nowhere() {
        let r = router(&[("east", Some("east/")), ("west", Some("west/"))]).unwrap();
        assert_eq!(r.route("north/a.zip"), None);
        assert_eq!(r.route("eas"), None);
    }

    #[test]
    fn prefixes_are_plain_string_prefixes() {
        let r = router(&[("main", Some("main")), ("other", Some("other/"))]).unwrap();
        assert_eq!(r.route("main2/a.zip"), Some("main"));
    }

    #[test]
    fn identical_prefixes_are_refused() {
        let err = router(&[("a", Some("x/")), ("b", Some("x/"))]).unwrap_err();
        assert_eq!(
            err,
            RouterError::DuplicatePrefix {
                prefix: "x/".into(),
                first: "a".into(),
                second: "b".into()
            }
        );
        assert!(
            err.to_string()
                .contains("give each tenant a different prefix")
        );
    }

    #[test]
    fn tenant_without_prefix_among_several_is_refused() {
        let err = router(&[("a", Some("a/")), ("b", None)]).unwrap_err();
        assert_eq!(err, RouterError::MissingPrefix { tenant: "b".into() });
        assert!(err.to_string().contains("s3_prefix = \"b/\""));
    }

    #[test]
    fn no_tenants_is_refused() {
        assert_eq!(router(&[]).unwrap_err(), RouterError::NoTenants);
    }
}
