//! Syntax of the names that cross the host/guest boundary.
//!
//! Every rule is a plain function returning `Err(reason)` so that callers (the
//! manifest checker, the validator, the host) can wrap the reason in their own
//! typed error with the context they know about.

/// The longest module name accepted, in bytes.
pub const MAX_MODULE_NAME_LEN: usize = 128;
/// The longest function, group, subsystem or config key name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a module name: `namespace/name`, two segments of lowercase ASCII
/// letters, digits, `-`, `_` and `.`, each starting with a letter or a digit.
///
/// ```
/// use wasmod_host_abi::names::check_module_name;
/// assert!(check_module_name("acme/orders").is_ok());
/// assert!(check_module_name("Acme/orders").is_err());
/// assert!(check_module_name("orders").is_err());
/// ```
pub fn check_module_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_MODULE_NAME_LEN {
        return Err(format!("is longer than {MAX_MODULE_NAME_LEN} bytes"));
    }
    let mut parts = name.split('/');
    let (Some(namespace), Some(local), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("must have exactly two segments, `namespace/name`".into());
    };
    for (what, segment) in [("namespace", namespace), ("name", local)] {
        check_segment(segment).map_err(|reason| format!("{what} segment {reason}"))?;
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), String> {
    let Some(first) = segment.chars().next() else {
        return Err("is empty".into());
    };
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(format!("`{segment}` must start with a lowercase letter or a digit"));
    }
    if let Some(bad) =
        segment.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{segment}` contains {bad:?}; only lowercase ASCII letters, digits, `-`, `_` and `.` are allowed"
        ));
    }
    Ok(())
}

/// Checks a function name: a Rust/C identifier (`[A-Za-z_][A-Za-z0-9_]*`), because
/// it is the name of the wasm export, and not one of the names the ABI reserves.
pub fn check_function_name(name: &str) -> Result<(), String> {
    check_len(name)?;
    let mut chars = name.chars();
    let first = chars.next().ok_or("is empty")?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err("must start with an ASCII letter or `_`".into());
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!("contains {bad:?}; only ASCII letters, digits and `_` are allowed"));
    }
    if crate::abi::is_reserved_export(name) {
        return Err("is reserved by the wasmod ABI".into());
    }
    Ok(())
}

/// Checks a dotted name, the syntax shared by host-function groups
/// (`log`, `acme.inventory`), subsystem functions (`orders.place`) and lifecycle
/// hooks (`init`): segments of `[a-z][a-z0-9_]*` separated by single dots.
pub fn check_dotted_name(name: &str) -> Result<(), String> {
    check_len(name)?;
    if name.is_empty() {
        return Err("is empty".into());
    }
    for segment in name.split('.') {
        let mut chars = segment.chars();
        match chars.next() {
            None => return Err("has an empty segment (two dots in a row, or a leading or trailing dot)".into()),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(format!("segment `{segment}` must start with a lowercase ASCII letter"));
            }
            Some(_) => {}
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return Err(format!(
                "segment `{segment}` contains {bad:?}; only lowercase ASCII letters, digits and `_` are allowed"
            ));
        }
    }
    Ok(())
}

/// Checks a config key: lowercase ASCII letters, digits, `_`, `-` and `.`,
/// starting with a letter.
pub fn check_config_key(key: &str) -> Result<(), String> {
    check_len(key)?;
    let mut chars = key.chars();
    let first = chars.next().ok_or("is empty")?;
    if !first.is_ascii_lowercase() {
        return Err("must start with a lowercase ASCII letter".into());
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("contains {bad:?}; only lowercase ASCII letters, digits, `_`, `-` and `.` are allowed"));
    }
    Ok(())
}

fn check_len(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_LEN { Err(format!("is longer than {MAX_NAME_LEN} bytes")) } else { Ok(()) }
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
}
