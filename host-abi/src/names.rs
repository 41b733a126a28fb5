//! Syntax of the names that cross the host/guest boundary.
//!
//! Every rule is a plain function returning the [`NameError`] it breaks, whose text is a
//! phrase to put after the name (`module name `Acme/x` namespace segment ...`), so that
//! callers (the manifest checker, the validator, the host) can wrap it in their own
//! typed error with the context they know about.

/// The longest module name accepted, in bytes.
pub const MAX_MODULE_NAME_LEN: usize = 128;
/// The longest function, group, subsystem or config key name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// The rule a name breaks. Its text is a phrase that follows the name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Longer than the kind of name allows.
    #[error("is longer than {limit} bytes")]
    TooLong {
        /// The limit, in bytes ([`MAX_MODULE_NAME_LEN`] or [`MAX_NAME_LEN`]).
        limit: usize,
    },
    /// Empty.
    #[error("is empty")]
    Empty,
    /// A module name without exactly one `/`.
    #[error("must have exactly two segments, `namespace/name`")]
    NotTwoSegments,
    /// A segment of a module name breaks a rule.
    #[error("{part} segment {rule}")]
    ModuleSegment {
        /// `namespace` or `name`.
        part: &'static str,
        /// The rule the segment breaks.
        rule: Box<NameError>,
    },
    /// A module name segment starts with something else than a lowercase letter or a digit.
    #[error("`{segment}` must start with a lowercase letter or a digit")]
    SegmentStart {
        /// The segment.
        segment: String,
    },
    /// A module name segment holds a character outside its alphabet.
    #[error("`{segment}` contains {bad:?}; only lowercase ASCII letters, digits, `-`, `_` and `.` are allowed")]
    SegmentCharacter {
        /// The segment.
        segment: String,
        /// The first character outside the alphabet.
        bad: char,
    },
    /// A function name starts with something else than an ASCII letter or `_`.
    #[error("must start with an ASCII letter or `_`")]
    FunctionStart,
    /// A function name holds a character outside `[A-Za-z0-9_]`.
    #[error("contains {bad:?}; only ASCII letters, digits and `_` are allowed")]
    FunctionCharacter {
        /// The first character outside the alphabet.
        bad: char,
    },
    /// A function name the ABI reserves for its own exports.
    #[error("is reserved by the wasmod ABI")]
    Reserved,
    /// A dotted name with an empty segment.
    #[error("has an empty segment (two dots in a row, or a leading or trailing dot)")]
    EmptySegment,
    /// A dotted name's segment starts with something else than a lowercase letter.
    #[error("segment `{segment}` must start with a lowercase ASCII letter")]
    DottedSegmentStart {
        /// The segment.
        segment: String,
    },
    /// A dotted name's segment holds a character outside `[a-z0-9_]`.
    #[error("segment `{segment}` contains {bad:?}; only lowercase ASCII letters, digits and `_` are allowed")]
    DottedSegmentCharacter {
        /// The segment.
        segment: String,
        /// The first character outside the alphabet.
        bad: char,
    },
    /// A config key starts with something else than a lowercase letter.
    #[error("must start with a lowercase ASCII letter")]
    KeyStart,
    /// A config key holds a character outside its alphabet.
    #[error("contains {bad:?}; only lowercase ASCII letters, digits, `_`, `-` and `.` are allowed")]
    KeyCharacter {
        /// The first character outside the alphabet.
        bad: char,
    },
}

/// Checks a module name: `namespace/name`, two segments of lowercase ASCII
/// letters, digits, `-`, `_` and `.`, each starting with a letter or a digit.
///
/// ```
/// use wasmod_host_abi::names::{NameError, check_module_name};
/// assert!(check_module_name("acme/orders").is_ok());
/// assert!(check_module_name("Acme/orders").is_err());
/// assert_eq!(check_module_name("orders"), Err(NameError::NotTwoSegments));
/// ```
///
/// # Errors
/// The [`NameError`] it breaks.
pub fn check_module_name(name: &str) -> Result<(), NameError> {
    if name.len() > MAX_MODULE_NAME_LEN {
        return Err(NameError::TooLong { limit: MAX_MODULE_NAME_LEN });
    }
    let mut parts = name.split('/');
    let (Some(namespace), Some(local), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NameError::NotTwoSegments);
    };
    for (part, segment) in [("namespace", namespace), ("name", local)] {
        check_segment(segment).map_err(|rule| NameError::ModuleSegment { part, rule: Box::new(rule) })?;
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), NameError> {
    let Some(first) = segment.chars().next() else {
        return Err(NameError::Empty);
    };
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(NameError::SegmentStart { segment: segment.to_owned() });
    }
    if let Some(bad) =
        segment.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(NameError::SegmentCharacter { segment: segment.to_owned(), bad });
    }
    Ok(())
}

/// Checks a function name: a Rust/C identifier (`[A-Za-z_][A-Za-z0-9_]*`), because
/// it is the name of the wasm export, and not one of the names the ABI reserves.
///
/// # Errors
/// The [`NameError`] it breaks.
pub fn check_function_name(name: &str) -> Result<(), NameError> {
    check_len(name)?;
    let mut chars = name.chars();
    let first = chars.next().ok_or(NameError::Empty)?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err(NameError::FunctionStart);
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(NameError::FunctionCharacter { bad });
    }
    if crate::abi::is_reserved_export(name) {
        return Err(NameError::Reserved);
    }
    Ok(())
}

/// Checks a dotted name, the syntax shared by host-function groups
/// (`log`, `acme.inventory`), subsystem functions (`orders.place`) and lifecycle
/// hooks (`init`): segments of `[a-z][a-z0-9_]*` separated by single dots.
///
/// # Errors
/// The [`NameError`] it breaks.
pub fn check_dotted_name(name: &str) -> Result<(), NameError> {
    check_len(name)?;
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    for segment in name.split('.') {
        let mut chars = segment.chars();
        match chars.next() {
            None => return Err(NameError::EmptySegment),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(NameError::DottedSegmentStart { segment: segment.to_owned() });
            }
            Some(_) => {}
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return Err(NameError::DottedSegmentCharacter { segment: segment.to_owned(), bad });
        }
    }
    Ok(())
}

/// Checks a config key: lowercase ASCII letters, digits, `_`, `-` and `.`,
/// starting with a letter.
///
/// # Errors
/// The [`NameError`] it breaks.
pub fn check_config_key(key: &str) -> Result<(), NameError> {
    check_len(key)?;
    let mut chars = key.chars();
    let first = chars.next().ok_or(NameError::Empty)?;
    if !first.is_ascii_lowercase() {
        return Err(NameError::KeyStart);
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))) {
        return Err(NameError::KeyCharacter { bad });
    }
    Ok(())
}

fn check_len(name: &str) -> Result<(), NameError> {
    if name.len() > MAX_NAME_LEN { Err(NameError::TooLong { limit: MAX_NAME_LEN }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        for ok in ["acme/orders", "a/b", "acme-corp/orders_v2", "0x/1.2"] {
            assert!(check_module_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "acme", "acme/", "/orders", "a/b/c", "Acme/x", "a/-x", "a/x y", "a/é"] {
            assert!(check_module_name(bad).is_err(), "{bad}");
        }
        assert!(check_module_name(&format!("a/{}", "x".repeat(200))).is_err());
    }

    #[test]
    fn function_names() {
        for ok in ["run", "_x", "placeOrder", "a1_b"] {
            assert!(check_function_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "memory", "wasmod_alloc"] {
            assert!(check_function_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dotted_names() {
        for ok in ["log", "acme.inventory", "orders.place", "init", "kv2"] {
            assert!(check_dotted_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".log", "log.", "a..b", "Log", "2kv", "a-b", "a.B"] {
            assert!(check_dotted_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_keys() {
        for ok in ["currency", "max-items", "db.url", "a1"] {
            assert!(check_config_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "Currency", "a b", "_a"] {
            assert!(check_config_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_rule_says_which_it_is() {
        let segment = NameError::SegmentStart { segment: "Acme".into() };
        assert_eq!(
            check_module_name("Acme/x"),
            Err(NameError::ModuleSegment { part: "namespace", rule: Box::new(segment) })
        );
        assert_eq!(
            check_module_name("a/x y").unwrap_err().to_string(),
            "name segment `x y` contains ' '; only lowercase ASCII letters, digits, `-`, `_` and `.` are allowed"
        );
        assert_eq!(
            check_module_name("a/"),
            Err(NameError::ModuleSegment { part: "name", rule: Box::new(NameError::Empty) })
        );
        assert_eq!(check_function_name("memory"), Err(NameError::Reserved));
        assert_eq!(check_function_name("a-b"), Err(NameError::FunctionCharacter { bad: '-' }));
        assert_eq!(check_dotted_name("a..b"), Err(NameError::EmptySegment));
        assert_eq!(check_dotted_name(&"a".repeat(65)), Err(NameError::TooLong { limit: MAX_NAME_LEN }));
        assert_eq!(check_config_key("Currency"), Err(NameError::KeyStart));
        assert_eq!(
            check_config_key("a b").unwrap_err().to_string(),
            "contains ' '; only lowercase ASCII letters, digits, `_`, `-` and `.` are allowed"
        );
    }
}
