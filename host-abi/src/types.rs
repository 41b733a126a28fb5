//! Wasm value types and function signatures, as plain data.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A wasm value type that may appear in an ABI signature.
///
/// Only numeric types: references, vectors and anything else never cross the
/// wasmod boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
        })
    }
}

/// A function signature: parameter and result types.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    /// Parameter types, in order.
    pub params: Cow<'static, [ValType]>,
    /// Result types, in order.
    pub results: Cow<'static, [ValType]>,
}

impl Signature {
    /// A signature over static slices, usable in constants.
    pub const fn new(params: &'static [ValType], results: &'static [ValType]) -> Self {
        Signature { params: Cow::Borrowed(params), results: Cow::Borrowed(results) }
    }

    /// Whether the given parameter and result types are exactly this signature.
    pub fn matches(&self, params: &[ValType], results: &[ValType]) -> bool {
        *self.params == *params && *self.results == *results
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, &self.params)?;
        f.write_str(" -> ")?;
        write_list(f, &self.results)
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, types: &[ValType]) -> fmt::Result {
    f.write_str("[")?;
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{t}")?;
    }
    f.write_str("]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_match() {
        let sig = Signature::new(&[ValType::I32, ValType::I32], &[ValType::I64]);
        assert_eq!(sig.to_string(), "[i32, i32] -> [i64]");
        assert!(sig.matches(&[ValType::I32, ValType::I32], &[ValType::I64]));
        assert!(!sig.matches(&[ValType::I32], &[ValType::I64]));
    }
}
