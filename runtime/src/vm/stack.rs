//! How much of the host thread's own stack is left.
//!
//! wasm code runs on stacks of wasmer's (one per entry into wasm, of the configured wasm
//! stack size), but host functions run on the host thread's stack, and so does every
//! call a host function starts: `modules.call`, an embedder's group calling the runtime
//! again, a callback into the guest. Each level of such nesting takes host stack, and a
//! thread that runs out of it is aborted by the OS guard page ("has overflowed its
//! stack"): no error, no unwinding, the whole process gone.
//!
//! So before a call starts, the runtime asks how much stack the thread has left and
//! refuses to start with less than [`MIN_HOST_STACK`]. The bounds of the thread's stack
//! are read once per thread (`pthread_getattr_np`); a check is then a comparison of two
//! addresses.

use std::cell::Cell;

/// The least host-thread stack a call may start with, in bytes: a call started on a
/// thread with less left fails with `ErrorKind::HostStackLimit`. One level of nesting
/// (the runtime's call path, wasmer's instantiation and trampolines, a host function)
/// takes well under a quarter of this (asserted by a test of the hostile corpus); the
/// rest is headroom for what an embedder's host functions put on the stack. Threads
/// that run calls need at least this much stack, plus that of their callers.
pub const MIN_HOST_STACK: usize = 256 << 10;

thread_local! {
    /// The lowest usable address of this thread's stack (above its guard), once known;
    /// `Some(0)` when it cannot be known.
    static STACK_LOW: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The lowest usable address of the calling thread's stack, or 0 if unknown.
fn stack_low() -> usize {
    STACK_LOW
        .try_with(|low| match low.get() {
            Some(l) => l,
            None => {
                let l = query_stack_low().unwrap_or(0);
                low.set(Some(l));
                l
            }
        })
        .unwrap_or(0)
}

#[cfg(target_os = "linux")]
fn query_stack_low() -> Option<usize> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is read, and
    // destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let mut guard: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0
            && libc::pthread_attr_getguardsize(&attr, &mut guard) == 0;
        libc::pthread_attr_destroy(&mut attr);
        // Whether the range includes the guard differs between glibc versions; counting
        // it out again errs on the safe side (by one guard at most).
        ok.then(|| addr as usize + guard)
    }
}

#[cfg(not(target_os = "linux"))]
fn query_stack_low() -> Option<usize> {
    None
}

/// Bytes of host stack left below the caller's frame; `None` when the thread's stack
/// bounds are unknown.
#[inline(never)]
pub(crate) fn remaining() -> Option<usize> {
    let low = stack_low();
    if low == 0 {
        return None;
    }
    let marker = 0u8;
    let here = std::ptr::addr_of!(marker) as usize;
    Some(here.saturating_sub(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_knows_how_much_stack_it_has_left() {
        let size = 4 << 20;
        std::thread::Builder::new()
            .stack_size(size)
            .spawn(move || {
                let top = remaining().expect("linux threads know their stack");
                assert!(top > size / 2 && top <= size, "{top} of {size}");
                // Deeper frames see less.
                #[inline(never)]
                fn deeper(n: u32) -> usize {
                    let pad = std::hint::black_box([0u8; 4096]);
                    let left = if n == 0 { remaining().unwrap() } else { deeper(n - 1) };
                    std::hint::black_box(&pad);
                    left
                }
                assert!(deeper(16) + 16 * 4096 <= top, "16 frames of 4 KiB used no stack");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
