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
//! Registrations live in per-thread tables, so calls on different threads never touch
//! the same lock or cache line: a call locks only its own thread's table, which nobody
//! else locks except the watchdog while it scans. The registration guard removes the
//! entry under the lock the watchdog writes under, so once the guard is dropped (before
//! the instance is), nothing writes into the instance any more.
//!
//! The watchdog publishes when it will next wake in [`WAKE_AT`] (`SCANNING` while it
//! scans). A call whose deadline is earlier than that, or that registers during a scan,
//! unparks it, so no deadline is missed: either the scan saw the new entry, or the
//! registering call saw `SCANNING` or the published time and woke the thread if needed.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

struct Entry {
    deadline: Instant,
    /// Address of the instance's `i64` fuel global.
    points: usize,
    fired: bool,
}

/// One thread's registered deadlines in a slab (slot index = registration id), so
/// registering and unregistering allocate nothing once the slab has grown to the peak
/// nesting depth of calls on that thread.
#[derive(Default)]
struct Table {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
}

#[derive(Default)]
struct ThreadTable(Mutex<Table>);

impl ThreadTable {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Shared {
    /// Every live thread's table, plus one for threads whose thread-locals are gone.
    tables: Mutex<Vec<Arc<ThreadTable>>>,
    fallback: Arc<ThreadTable>,
    thread: Thread,
    /// Where instants are counted from for [`WAKE_AT`].
    epoch: Instant,
}

/// When the watchdog next wakes on its own, in nanoseconds since `epoch`; [`IDLE`] when
/// it waits for a registration, [`SCANNING`] while it scans.
static WAKE_AT: AtomicU64 = AtomicU64::new(IDLE);
const IDLE: u64 = u64::MAX;
const SCANNING: u64 = 0;

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let thread = std::thread::Builder::new()
            .name("wasmod-watchdog".into())
            .spawn(|| run(shared()))
            .expect("the watchdog thread starts")
            .thread()
            .clone();
        let fallback = Arc::new(ThreadTable::default());
        Shared { tables: Mutex::new(vec![fallback.clone()]), fallback, thread, epoch: Instant::now() }
    })
}

impl Shared {
    fn tables(&self) -> MutexGuard<'_, Vec<Arc<ThreadTable>>> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `at` as a [`WAKE_AT`] value: never `SCANNING`, never `IDLE`.
    fn nanos(&self, at: Instant) -> u64 {
        let n = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(n).unwrap_or(IDLE - 1).clamp(1, IDLE - 1)
    }
}

/// This thread's table, registered with the watchdog while the thread lives.
struct Local(Arc<ThreadTable>);

impl Drop for Local {
    fn drop(&mut self) {
        shared().tables().retain(|t| !Arc::ptr_eq(t, &self.0));
    }
}

thread_local! {
    static LOCAL: Local = {
        let table = Arc::new(ThreadTable::default());
        shared().tables().push(table.clone());
        Local(table)
    };
}

/// How often a fired deadline re-zeroes the fuel counter.
const REFIRE: Duration = Duration::from_millis(1);

fn run(shared: &'static Shared) {
    loop {
        WAKE_AT.store(SCANNING, Ordering::SeqCst);
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for table in shared.tables().iter() {
            for entry in table.lock().slots.iter_mut().flatten() {
                let due = if entry.fired { now + REFIRE } else { entry.deadline };
                if entry.deadline <= now {
                    entry.fired = true;
                    // SAFETY: the entry is registered, so the instance (and its global) is
                    // alive: the guard removes the entry under this table's lock before
                    // the instance is dropped. The global is 8-byte aligned (wasmer aligns
                    // globals to 16).
                    unsafe { AtomicI64::from_ptr(entry.points as *mut i64) }.store(0, Ordering::SeqCst);
                }
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        match next {
            None => {
                WAKE_AT.store(IDLE, Ordering::SeqCst);
                std::thread::park();
            }
            Some(at) => {
                WAKE_AT.store(shared.nanos(at), Ordering::SeqCst);
                std::thread::park_timeout(at.saturating_duration_since(Instant::now()));
            }
        }
    }
}

/// A registered deadline. [`Watch::finish`] (or dropping it) unregisters, and must
/// happen before the instance whose fuel counter it points at is dropped.
pub(crate) struct Watch {
    table: Arc<ThreadTable>,
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
        let table = LOCAL.try_with(|l| l.0.clone()).unwrap_or_else(|_| shared.fallback.clone());
        let slot = {
            let mut t = table.lock();
            let entry = Some(Entry { deadline, points: points as usize, fired: false });
            match t.free.pop() {
                Some(i) => {
                    t.slots[i] = entry;
                    i
                }
                None => {
                    t.slots.push(entry);
                    t.slots.len() - 1
                }
            }
        };
        let wake_at = WAKE_AT.load(Ordering::SeqCst);
        if wake_at == SCANNING || shared.nanos(deadline) < wake_at {
            shared.thread.unpark();
        }
        Watch { table, slot, done: false }
    }

    /// Unregisters; returns whether the deadline passed while registered.
    pub(crate) fn finish(mut self) -> bool {
        self.done = true;
        self.unregister()
    }

    fn unregister(&self) -> bool {
        let mut t = self.table.lock();
        let fired = t.slots[self.slot].take().is_some_and(|e| e.fired);
        t.free.push(self.slot);
        fired
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.done {
            self.unregister();
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
        // SAFETY: as above.
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

    #[test]
    fn fires_for_calls_on_many_threads_and_forgets_threads_that_exit() {
        let started = Instant::now();
        let ours: Vec<Arc<ThreadTable>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4u64)
                .map(|i| {
                    s.spawn(move || {
                        let mut points = Box::new(1_000_i64);
                        let mut never = Box::new(1_000_i64);
                        // SAFETY: the boxes outlive the guards.
                        let far = unsafe { Watch::register(Instant::now() + Duration::from_secs(60), &mut *never) };
                        // SAFETY: as above.
                        let near = unsafe {
                            Watch::register(Instant::now() + Duration::from_millis(10 + 5 * i), &mut *points)
                        };
                        // SAFETY: reading a value the watchdog writes atomically.
                        while unsafe { AtomicI64::from_ptr(&mut *points) }.load(Ordering::SeqCst) != 0 {
                            assert!(
                                started.elapsed() < Duration::from_secs(5),
                                "the watchdog never fired on thread {i}"
                            );
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        assert!(near.finish());
                        assert!(!far.finish());
                        assert_eq!(*never, 1_000);
                        let table = LOCAL.with(|l| l.0.clone());
                        assert!(
                            shared().tables().iter().any(|t| Arc::ptr_eq(t, &table)),
                            "a live thread's table is scanned"
                        );
                        table
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().expect("the thread passed")).collect()
        });
        // Joined: every thread-local of those threads has been destroyed.
        let tables = shared().tables();
        assert!(ours.iter().all(|o| !tables.iter().any(|t| Arc::ptr_eq(t, o))), "tables of ended threads were kept");
    }
}
