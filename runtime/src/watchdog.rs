//! Wall-clock deadlines without signals (ADR 0005).
//!
//! Every call registers its deadline and the address of its instance's fuel counter
//! (the metering middleware's `remaining_points` global). One background thread sleeps
//! until the earliest deadline; when it passes, it marks the call timed out and writes
//! zero into the counter. The guest traps at its next metering check — at the latest at
//! the next loop iteration or call, since every basic block is metered. The counter is
//! re-zeroed every millisecond until the call ends, because the guest's own
//! read-subtract-write of the counter may race with the first store.
//!
//! The registration guard removes the entry under the same lock the thread writes under,
//! so once the guard is dropped (before the instance is), nothing writes into the
//! instance any more.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Entry {
    deadline: Instant,
    /// Address of the instance's `i64` fuel global.
    points: usize,
    fired: bool,
}

/// Registered deadlines in a slab (slot index = registration id), so registering and
/// unregistering allocate nothing once the slab has grown to the peak concurrency.
#[derive(Default)]
struct State {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// When the thread will next wake up on its own, if it is waiting for a deadline.
    wake_at: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<&'static Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let shared: &'static Shared =
            Box::leak(Box::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new() }));
        std::thread::Builder::new()
            .name("wasmod-watchdog".into())
            .spawn(move || run(shared))
            .expect("the watchdog thread starts");
        shared
    })
}

/// How often a fired deadline re-zeroes the fuel counter.
const REFIRE: Duration = Duration::from_millis(1);

fn run(shared: &'static Shared) {
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for entry in state.slots.iter_mut().flatten() {
            let due = if entry.fired { now + REFIRE } else { entry.deadline };
            if entry.deadline <= now {
                entry.fired = true;
                // SAFETY: the entry is registered, so the instance (and its global) is
                // alive: the guard removes the entry under this lock before the instance
                // is dropped. The global is 8-byte aligned (wasmer aligns globals to 16).
                unsafe { AtomicI64::from_ptr(entry.points as *mut i64) }.store(0, Ordering::SeqCst);
            }
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        state.wake_at = next;
        state = match next {
            None => shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
            Some(at) => {
                let timeout = at.saturating_duration_since(Instant::now());
                shared.wake.wait_timeout(state, timeout).unwrap_or_else(|p| p.into_inner()).0
            }
        };
    }
}

/// A registered deadline. [`Watch::finish`] (or dropping it) unregisters, and must
/// happen before the instance whose fuel counter it points at is dropped.
pub(crate) struct Watch {
    slot: usize,
    done: bool,
}

impl Watch {
    /// Registers a deadline for the instance whose fuel global is at `points`.
    ///
    /// # Safety
    /// `points` must be the address of an `i64` global that stays valid until the
    /// returned guard is dropped.
    pub(crate) unsafe fn register(deadline: Instant, points: *mut i64) -> Watch {
        let shared = shared();
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = Some(Entry { deadline, points: points as usize, fired: false });
        let slot = match state.free.pop() {
            Some(i) => {
                state.slots[i] = entry;
                i
            }
            None => {
                state.slots.push(entry);
                state.slots.len() - 1
            }
        };
        if state.wake_at.is_none_or(|w| deadline < w) {
            state.wake_at = Some(deadline);
            shared.wake.notify_one();
        }
        Watch { slot, done: false }
    }

    /// Unregisters; returns whether the deadline passed while registered.
    pub(crate) fn finish(mut self) -> bool {
        self.done = true;
        unregister(self.slot)
    }
}

fn unregister(slot: usize) -> bool {
    let mut state = shared().state.lock().unwrap_or_else(|p| p.into_inner());
    let fired = state.slots[slot].take().is_some_and(|e| e.fired);
    state.free.push(slot);
    fired
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.done {
            unregister(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroes_the_counter_after_the_deadline_and_not_before() {
        let mut early = Box::new(1_000_i64);
        let mut late = Box::new(1_000_i64);
        // SAFETY: the boxes outlive the guards.
        let a = unsafe { Watch::register(Instant::now() + Duration::from_millis(20), &mut *early) };
        let b = unsafe { Watch::register(Instant::now() + Duration::from_secs(60), &mut *late) };
        let started = Instant::now();
        // SAFETY: reading a value the watchdog writes atomically.
        while unsafe { AtomicI64::from_ptr(&mut *early) }.load(Ordering::SeqCst) != 0 {
            assert!(started.elapsed() < Duration::from_secs(5), "the watchdog never fired");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(a.finish());
        assert!(!b.finish());
        assert_eq!(*late, 1_000);
    }
}
