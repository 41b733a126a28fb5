//! The error a module function returns to its caller.

use std::fmt;

/// An error returned by a module function (or by a host call it made). It crosses the
/// boundary as a UTF-8 message.
///
/// Any `std::error::Error` converts into it, so `?` works on most results; for a plain
/// message use [`Error::msg`] or the [`bail!`](crate::bail) macro.
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Error {
        Error { message: message.to_string() }
    }

    /// The message the caller receives, with every [`context`](Self::context) prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with context: `"{context}: {message}"`.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error { message: format!("{context}: {}", self.message) }
    }

    pub(crate) fn into_message(self) -> String {
        self.message
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error::msg(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?})", self.message)
    }
}

/// The result type of module functions and host calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with an [`Error`] built from a format string.
///
/// ```
/// fn check(qty: u32) -> wasmod_sdk::Result<()> {
///     if qty == 0 {
///         wasmod_sdk::bail!("quantity must be positive, got {qty}");
///     }
///     Ok(())
/// }
/// assert_eq!(check(0).unwrap_err().message(), "quantity must be positive, got 0");
/// ```
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($($arg)*)))
    };
}
