//! `clock@1`: the time.

use std::time::{Duration, SystemTime};

use crate::sys;

/// Nanoseconds since the Unix epoch, from the host's wall clock.
pub fn now_unix_nanos() -> i64 {
    // SAFETY: no arguments.
    unsafe { sys::clock::now_unix_nanos() }
}

/// The host's wall clock as a `SystemTime`.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(now_unix_nanos().max(0) as u64)
}

/// Nanoseconds on a monotonic clock with an unspecified origin: use differences.
pub fn monotonic_nanos() -> i64 {
    // SAFETY: no arguments.
    unsafe { sys::clock::monotonic_nanos() }
}
