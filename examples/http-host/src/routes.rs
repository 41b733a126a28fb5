//! The route table: which active module serves which path. Every module implementing
//! `http.handle` lists its paths in its config key `routes` (a default in its manifest,
//! which the application's config can override), separated by spaces. A path is served
//! exactly, or, ending in `/*`, with everything below it (`/hello/*` serves `/hello/ann`
//! but not `/hello`). An exact path wins over a prefix, and a longer prefix over a
//! shorter one. Two modules may not claim the same path.

use std::collections::BTreeMap;

use wasmod::{Activation, ConfigValue, Implementation};

/// The extension point whose implementations serve HTTP requests.
pub const SUBSYSTEM: &str = "http.handle";

/// The config key holding a handler's routes.
pub const ROUTES_KEY: &str = "routes";

/// Why a route table could not be built; the activation it was built from is not served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// A handler has no `routes` string in its config.
    #[error("{implementation} implements {SUBSYSTEM} but has no `{ROUTES_KEY}` string in its config")]
    NoRoutes {
        /// The handler.
        implementation: String,
    },
    /// A path that is not a route.
    #[error("{implementation} claims `{pattern}`, which is not a route: {reason}")]
    BadPattern {
        /// The handler.
        implementation: String,
        /// The path as written.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two handlers claim the same path.
    #[error("`{pattern}` is claimed by both {first} and {second}")]
    Conflict {
        /// The path.
        pattern: String,
        /// The handler that claimed it first, in plan order.
        first: String,
        /// The other.
        second: String,
    },
    /// A handler lists one path twice.
    #[error("{implementation} lists `{pattern}` twice")]
    ListedTwice {
        /// The handler.
        implementation: String,
        /// The path.
        pattern: String,
    },
    /// One module has two functions implementing the extension point, and its routes
    /// cannot say which one serves them.
    #[error("{module} has two functions implementing {SUBSYSTEM}: {first} and {second}")]
    TwoHandlers {
        /// The module.
        module: String,
        /// One function.
        first: String,
        /// The other.
        second: String,
    },
}

/// A route that matched a request's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The route as written (`/hello`, `/hello/*`).
    pub route: String,
    /// What of the path the prefix leaves, from its `/` on (`/ann` for `/hello/ann`
    /// under `/hello/*`); empty for an exact route.
    pub path_info: String,
    /// The handler.
    pub handler: &'a Implementation,
}

/// Paths to handlers.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    exact: BTreeMap<String, Implementation>,
    /// Prefixes with their trailing `/`, longest first.
    prefixes: Vec<(String, Implementation)>,
}

impl RouteTable {
    /// The table of an activation's `http.handle` implementations.
    ///
    /// # Errors
    /// Every [`RouteError`]: the first problem found, in plan order.
    pub fn of(activation: &Activation) -> Result<RouteTable, RouteError> {
        let handlers = activation.implementations(SUBSYSTEM);
        let mut entries = Vec::with_capacity(handlers.len());
        for (i, handler) in handlers.iter().enumerate() {
            if let Some(other) = handlers[..i].iter().find(|h| h.module == handler.module) {
                return Err(RouteError::TwoHandlers {
                    module: handler.module.to_string(),
                    first: other.function.clone(),
                    second: handler.function.clone(),
                });
            }
            let routes = match activation.config(handler.module.as_str(), ROUTES_KEY) {
                Some((ConfigValue::String(routes), _)) => routes,
                _ => return Err(RouteError::NoRoutes { implementation: handler.to_string() }),
            };
            entries.push((handler.clone(), routes));
        }
        RouteTable::build(entries)
    }

    /// The table of handlers and their `routes` strings, in order of precedence for
    /// conflicts (the first is named first).
    ///
    /// # Errors
    /// [`RouteError::BadPattern`], [`RouteError::ListedTwice`], [`RouteError::Conflict`].
    pub fn build(entries: impl IntoIterator<Item = (Implementation, String)>) -> Result<RouteTable, RouteError> {
        let mut table = RouteTable::default();
        for (handler, routes) in entries {
            for pattern in routes.split_whitespace() {
                let bad = |reason| RouteError::BadPattern {
                    implementation: handler.to_string(),
                    pattern: pattern.to_owned(),
                    reason,
                };
                check_pattern(pattern).map_err(bad)?;
                let claimed = match pattern.strip_suffix('*') {
                    Some(prefix) => table.prefixes.iter().find(|(p, _)| p == prefix).map(|(_, h)| h),
                    None => table.exact.get(pattern),
                };
                if let Some(first) = claimed {
                    if first == &handler {
                        return Err(RouteError::ListedTwice {
                            implementation: handler.to_string(),
                            pattern: pattern.to_owned(),
                        });
                    }
                    return Err(RouteError::Conflict {
                        pattern: pattern.to_owned(),
                        first: first.to_string(),
                        second: handler.to_string(),
                    });
                }
                match pattern.strip_suffix('*') {
                    Some(prefix) => table.prefixes.push((prefix.to_owned(), handler.clone())),
                    None => {
                        table.exact.insert(pattern.to_owned(), handler.clone());
                    }
                }
            }
        }
        table.prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(table)
    }

    /// The route serving `path`, if any.
    pub fn lookup(&self, path: &str) -> Option<Matched<'_>> {
        if let Some((route, handler)) = self.exact.get_key_value(path) {
            return Some(Matched { route: route.clone(), path_info: String::new(), handler });
        }
        self.prefixes.iter().find(|(prefix, _)| path.starts_with(prefix.as_str())).map(|(prefix, handler)| Matched {
            route: format!("{prefix}*"),
            path_info: path[prefix.len() - 1..].to_owned(),
            handler,
        })
    }

    /// Every route as written (`/hello`, `/hello/*`) with its handler, exact paths first.
    pub fn routes(&self) -> Vec<(String, &Implementation)> {
        let exact = self.exact.iter().map(|(p, h)| (p.clone(), h));
        exact.chain(self.prefixes.iter().map(|(p, h)| (format!("{p}*"), h))).collect()
    }

    /// Every route with its handler as text (`acme/hello@1.0.0 (handle)`), as the admin
    /// endpoint and a reload's report show them.
    pub fn described(&self) -> Vec<(String, String)> {
        self.routes().into_iter().map(|(route, handler)| (route, handler.to_string())).collect()
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefixes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a path as written is a route: it starts with `/`, holds no query, fragment
/// or control character, and a `*` only as the last character after a `/`.
fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    if !pattern.starts_with('/') {
        return Err("a route starts with `/`");
    }
    if pattern.chars().any(|c| c.is_control() || c == '?' || c == '#') {
        return Err("a route holds no query, fragment or control character");
    }
    if !pattern.is_ascii() || pattern.contains('%') {
        return Err("a route is ASCII without percent-escapes (request paths are matched as they arrive, escaped)");
    }
    match pattern.find('*') {
        Some(at) if at + 1 != pattern.len() || !pattern[..at].ends_with('/') => {
            Err("`*` may only end a route, after a `/`")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmod::{ModuleName, Version};

    fn handler(module: &str) -> Implementation {
        Implementation {
            module: ModuleName::new(module).unwrap(),
            version: Version::new(1, 0, 0),
            function: "handle".into(),
        }
    }

    #[test]
    fn exact_beats_prefix_and_longer_prefix_beats_shorter() {
        let table = RouteTable::build([
            (handler("a/root"), "/*".to_string()),
            (handler("a/hello"), "/hello /hello/*".to_string()),
            (handler("a/deep"), "/hello/deep/*".to_string()),
        ])
        .unwrap();
        let served_by = |path| table.lookup(path).map(|m| m.handler.module.to_string());
        assert_eq!(served_by("/hello").as_deref(), Some("a/hello"));
        assert_eq!(served_by("/hello/ann").as_deref(), Some("a/hello"));
        assert_eq!(served_by("/hello/deep/x").as_deref(), Some("a/deep"));
        assert_eq!(served_by("/other").as_deref(), Some("a/root"));
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn a_prefix_does_not_serve_its_own_directory() {
        let table = RouteTable::build([(handler("a/hello"), "/hello/*".to_string())]).unwrap();
        assert!(table.lookup("/hello").is_none());
        assert!(table.lookup("/hello/").is_some());
    }

    #[test]
    fn a_match_says_which_route_and_what_the_prefix_leaves() {
        let table = RouteTable::build([(handler("a/hello"), "/hello /hello/*".to_string())]).unwrap();
        let exact = table.lookup("/hello").unwrap();
        assert_eq!((exact.route.as_str(), exact.path_info.as_str()), ("/hello", ""));
        let below = table.lookup("/hello/ann/x").unwrap();
        assert_eq!((below.route.as_str(), below.path_info.as_str()), ("/hello/*", "/ann/x"));
    }

    #[test]
    fn a_path_listed_twice_by_one_handler_is_refused_as_such() {
        let e = RouteTable::build([(handler("a/one"), "/x /x".to_string())]).unwrap_err();
        assert_eq!(e, RouteError::ListedTwice { implementation: "a/one@1.0.0 (handle)".into(), pattern: "/x".into() });
    }

    #[test]
    fn two_modules_claiming_one_path_are_refused_naming_both() {
        let e = RouteTable::build([(handler("a/one"), "/x".to_string()), (handler("a/two"), "/y /x".to_string())])
            .unwrap_err();
        assert_eq!(
            e,
            RouteError::Conflict {
                pattern: "/x".into(),
                first: "a/one@1.0.0 (handle)".into(),
                second: "a/two@1.0.0 (handle)".into()
            }
        );
    }

    #[test]
    fn the_same_prefix_twice_is_a_conflict() {
        let e = RouteTable::build([(handler("a/one"), "/x/*".to_string()), (handler("a/two"), "/x/*".to_string())])
            .unwrap_err();
        assert!(matches!(e, RouteError::Conflict { ref pattern, .. } if pattern == "/x/*"), "{e}");
    }

    #[test]
    fn patterns_that_are_not_routes_are_refused_with_the_rule() {
        for (pattern, rule) in [
            ("hello", "a route starts with `/`"),
            ("/a?b", "a route holds no query, fragment or control character"),
            ("/a*", "`*` may only end a route, after a `/`"),
            ("/*/x", "`*` may only end a route, after a `/`"),
            ("/café", "a route is ASCII without percent-escapes (request paths are matched as they arrive, escaped)"),
        ] {
            let e = RouteTable::build([(handler("a/one"), pattern.to_string())]).unwrap_err();
            assert_eq!(
                e,
                RouteError::BadPattern {
                    implementation: "a/one@1.0.0 (handle)".into(),
                    pattern: pattern.into(),
                    reason: rule
                }
            );
        }
    }
}
