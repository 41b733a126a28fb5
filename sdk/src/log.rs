//! `log@1`: write to the host's log. The host tags each line with the calling module
//! and function.
//!
//! ```no_run
//! wasmod_sdk::log::info!("placed order {} for {} items", 42, 3);
//! wasmod_sdk::log::write(wasmod_sdk::log::Level::Warn, "low stock");
//! ```

use wasmod_host_abi::groups::log_level;

use crate::__private::raw;
use crate::sys;

/// The level of a log line, lowest first (`Trace < Error`); the host writes the line at
/// the matching level of its own log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging information.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure.
    Error,
}

impl Level {
    fn code(self) -> i32 {
        match self {
            Level::Trace => log_level::TRACE,
            Level::Debug => log_level::DEBUG,
            Level::Info => log_level::INFO,
            Level::Warn => log_level::WARN,
            Level::Error => log_level::ERROR,
        }
    }
}

/// Writes `message` to the host's log at `level`, as one line tagged with the calling
/// module and function. It never fails: the host may cut a long line short, or drop
/// lines once the call's log budget is spent.
pub fn write(level: Level, message: &str) {
    let (ptr, len) = raw(message.as_bytes());
    // SAFETY: `ptr, len` describe a live byte slice in guest memory.
    unsafe { sys::log::write(level.code(), ptr, len) }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wasmod_log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::write($crate::log::Level::$level, &::std::format!($($arg)*))
    };
}

/// Logs at trace level, with `format!` syntax.
#[macro_export]
macro_rules! __wasmod_trace { ($($arg:tt)*) => { $crate::__wasmod_log!(Trace, $($arg)*) }; }
/// Logs at debug level, with `format!` syntax.
#[macro_export]
macro_rules! __wasmod_debug { ($($arg:tt)*) => { $crate::__wasmod_log!(Debug, $($arg)*) }; }
/// Logs at info level, with `format!` syntax.
#[macro_export]
macro_rules! __wasmod_info { ($($arg:tt)*) => { $crate::__wasmod_log!(Info, $($arg)*) }; }
/// Logs at warn level, with `format!` syntax.
#[macro_export]
macro_rules! __wasmod_warn { ($($arg:tt)*) => { $crate::__wasmod_log!(Warn, $($arg)*) }; }
/// Logs at error level, with `format!` syntax.
#[macro_export]
macro_rules! __wasmod_error { ($($arg:tt)*) => { $crate::__wasmod_log!(Error, $($arg)*) }; }

#[doc(inline)]
pub use __wasmod_debug as debug;
#[doc(inline)]
pub use __wasmod_error as error;
#[doc(inline)]
pub use __wasmod_info as info;
#[doc(inline)]
pub use __wasmod_trace as trace;
#[doc(inline)]
pub use __wasmod_warn as warn;
