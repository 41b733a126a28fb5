//! The gate `kv` writers pass one at a time, in the order they came, giving up at their
//! deadline: a guest never waits for the database's write lock past its call's deadline,
//! and a guest writing in a loop cannot starve the writers behind it.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::kv::KvError;

/// One writer at a time, in the order they came (a ticket lock, so a guest writing in a
/// loop cannot starve the writers waiting behind it), and a writer that cannot get in
/// before its deadline gives up.
#[derive(Debug, Default)]
pub(crate) struct WriteGate {
    tickets: Mutex<Tickets>,
    turn: Condvar,
}

#[derive(Debug, Default)]
struct Tickets {
    /// The next ticket to hand out.
    next: u64,
    /// The ticket whose turn it is.
    serving: u64,
    /// Tickets whose writers gave up before their turn: skipped when it comes.
    abandoned: BTreeSet<u64>,
}

impl Tickets {
    /// Passes the turn on, past the tickets nobody waits with any more.
    fn advance(&mut self) {
        self.serving += 1;
        while self.abandoned.remove(&self.serving) {
            self.serving += 1;
        }
    }
}

/// A writer's turn at the gate; the next writer's comes when it is dropped.
pub(crate) struct GateGuard<'a>(&'a WriteGate);

impl WriteGate {
    pub(crate) fn enter(&self, deadline: Instant) -> Result<GateGuard<'_>, KvError> {
        let started = Instant::now();
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        let mine = tickets.next;
        tickets.next += 1;
        while tickets.serving != mine {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tickets.abandoned.insert(mine);
                return Err(KvError::Busy { waited: started.elapsed() });
            }
            tickets = self.turn.wait_timeout(tickets, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        Ok(GateGuard(self))
    }

    /// How many tickets were handed out (for tests that wait for writers to queue).
    #[cfg(test)]
    pub(crate) fn tickets_issued(&self) -> u64 {
        self.tickets.lock().unwrap_or_else(|p| p.into_inner()).next
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0.tickets.lock().unwrap_or_else(|p| p.into_inner()).advance();
        self.0.turn.notify_all();
    }
}
