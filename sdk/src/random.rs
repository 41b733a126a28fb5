//! `random@1`: cryptographically secure random bytes from the host.

use crate::__private::status_error;
use crate::{Result, sys};

/// Fills all of `buf` with cryptographically secure random bytes from the host. The host
/// bounds one fill (wasmod's host: 1 MiB); a larger `buf` is an error for the status
/// `LIMIT`.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    // SAFETY: the pointer and length describe a live, writable slice in guest memory.
    match unsafe { sys::random::fill(buf.as_mut_ptr() as usize as i32, buf.len() as i32) } {
        0 => Ok(()),
        s => Err(status_error("random", "fill", i64::from(s))),
    }
}

/// A cryptographically secure random `u64`: 8 bytes from [`fill`].
pub fn u64() -> Result<u64> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
