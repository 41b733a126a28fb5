//! The search: depth-first over modules in name order, versions highest first, with a
//! forward check on every dependency and chronological backtracking. Modules are
//! catalog indices (rank in name order) and versions are positions in the module's
//! ascending version list, so the state is a handful of dense vectors.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use semver::VersionReq;

use crate::error::{Requirement, Requirer, ResolveError};
use crate::{Catalog, DepTarget, Plan, Request};

/// Enough for any real module graph; a request that needs more is reported as
/// [`ResolveError::TooComplex`] instead of hanging.
pub(crate) const DEFAULT_STEP_BUDGET: u64 = 1_000_000;

/// A requirement while searching: who (module and version index, or the request) and what.
#[derive(Clone, Copy)]
struct Constraint<'a> {
    by: Option<(usize, usize)>,
    req: &'a VersionReq,
}

const NONE: u32 = u32::MAX;

/// Every requirement currently made, per module, as linked lists threaded through one
/// arena. Requirements are added and withdrawn in strict stack order (backtracking
/// undoes decisions last-first), so the arena is itself a stack and nothing is ever
/// allocated per module.
struct Constraints<'a> {
    head: Vec<u32>,
    arena: Vec<(Constraint<'a>, u32, usize)>,
}

impl<'a> Constraints<'a> {
    fn new(n: usize) -> Self {
        Constraints { head: vec![NONE; n], arena: Vec::new() }
    }

    fn push(&mut self, module: usize, c: Constraint<'a>) {
        let index = u32::try_from(self.arena.len()).expect("fewer than 4 billion requirements");
        self.arena.push((c, self.head[module], module));
        self.head[module] = index;
    }

    /// Withdraws the most recent requirement (which is on `module`).
    fn pop(&mut self, module: usize) {
        let (_, next, on) = self.arena.pop().expect("pops match pushes");
        debug_assert_eq!(on, module, "requirements are withdrawn in stack order");
        self.head[module] = next;
    }

    fn on(&self, module: usize) -> impl Iterator<Item = &Constraint<'a>> {
        let mut at = self.head[module];
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let (c, next, _) = &self.arena[at as usize];
            at = *next;
            Some(c)
        })
    }
}

/// One decision on the stack: a module, how many of its versions (from the highest
/// down) remain to be tried, and the dependencies the current choice opened.
struct Frame {
    module: usize,
    untried: usize,
    /// Where this frame's part of [`Search::opened`] starts.
    opened: usize,
}

/// The modules required but not yet decided, smallest index first: a min-heap with lazy
/// deletion (a flag per module says whether it is really open), which beats a B-tree set
/// on the hot path of large catalogs.
struct OpenSet {
    heap: BinaryHeap<Reverse<usize>>,
    is_open: Vec<bool>,
}

impl OpenSet {
    fn new(n: usize) -> Self {
        OpenSet { heap: BinaryHeap::new(), is_open: vec![false; n] }
    }

    /// Adds a module; returns whether it was not open before.
    fn insert(&mut self, m: usize) -> bool {
        if self.is_open[m] {
            return false;
        }
        self.is_open[m] = true;
        self.heap.push(Reverse(m));
        true
    }

    fn remove(&mut self, m: usize) {
        self.is_open[m] = false;
    }

    fn pop_first(&mut self) -> Option<usize> {
        while let Some(Reverse(m)) = self.heap.pop() {
            if std::mem::take(&mut self.is_open[m]) {
                return Some(m);
            }
        }
        None
    }
}

struct Search<'a> {
    catalog: &'a Catalog,
    /// Per module: the chosen version index.
    selected: Vec<Option<usize>>,
    /// Per module: every requirement currently made on it.
    constraints: Constraints<'a>,
    /// Modules opened by each frame's current choice; a frame owns `opened[frame.opened..]`
    /// up to the next frame's start.
    opened: Vec<usize>,
    /// Modules required but not yet decided.
    open: OpenSet,
    first_failure: Option<ResolveError>,
    steps: u64,
    budget: u64,
}

static ANY: VersionReq = VersionReq::STAR;

pub(crate) fn resolve(catalog: &Catalog, request: &[Request], budget: u64) -> Result<Plan, ResolveError> {
    let n = catalog.names.len();
    let mut search = Search {
        catalog,
        selected: vec![None; n],
        constraints: Constraints::new(n),
        opened: Vec::new(),
        open: OpenSet::new(n),
        first_failure: None,
        steps: 0,
        budget,
    };
    let mut missing: Vec<&Request> = Vec::new();
    for r in request {
        match catalog.index_of(r.name.as_str()) {
            Some(i) => {
                search.constraints.push(i, Constraint { by: None, req: r.version.as_ref().unwrap_or(&ANY) });
                search.open.insert(i);
            }
            None => missing.push(r),
        }
    }
    // A requested module that does not exist can never be satisfied: say so at once.
    if let Some(first) = missing.iter().min_by(|a, b| a.name.cmp(&b.name)) {
        let required_by = missing
            .iter()
            .filter(|r| r.name == first.name)
            .map(|r| Requirement { by: Requirer::Request, req: r.version.clone().unwrap_or(VersionReq::STAR) })
            .collect();
        return Err(ResolveError::MissingModule { name: first.name.clone(), required_by });
    }
    search.run()?;
    crate::plan::build(search.catalog, &search.selected, request)
}

impl<'a> Search<'a> {
    fn requirement(&self, c: &Constraint<'_>) -> Requirement {
        Requirement {
            by: match c.by {
                None => Requirer::Request,
                Some((m, v)) => {
                    Requirer::Module(self.catalog.names[m].clone(), self.catalog.versions[m][v].version.clone())
                }
            },
            req: c.req.clone(),
        }
    }

    fn unsatisfiable(&self, module: usize, extra: Option<Constraint<'_>>) -> ResolveError {
        let mut requirements: Vec<Requirement> =
            self.constraints.on(module).chain(extra.as_ref()).map(|c| self.requirement(c)).collect();
        requirements.sort_by(|a, b| a.by.cmp(&b.by));
        ResolveError::NoVersionSatisfies {
            name: self.catalog.names[module].clone(),
            requirements,
            available: self.catalog.versions[module].iter().map(|e| e.version.clone()).collect(),
        }
    }

    fn note_failure(&mut self, failure: ResolveError) {
        if self.first_failure.is_none() {
            self.first_failure = Some(failure);
        }
    }

    fn satisfies_all(&self, module: usize, version: usize, extra: Option<&VersionReq>) -> bool {
        let v = &self.catalog.versions[module][version].version;
        self.constraints.on(module).all(|c| c.req.matches(v)) && extra.is_none_or(|r| r.matches(v))
    }

    fn run(&mut self) -> Result<(), ResolveError> {
        let mut stack: Vec<Frame> = Vec::new();
        while let Some(module) = self.open.pop_first() {
            let count = self.catalog.versions[module].len();
            if !(0..count).any(|v| self.satisfies_all(module, v, None)) {
                let failure = self.unsatisfiable(module, None);
                self.note_failure(failure);
                self.open.insert(module);
                self.backtrack(&mut stack)?;
                continue;
            }
            let mut frame = Frame { module, untried: count, opened: self.opened.len() };
            if self.advance(&mut frame)? {
                stack.push(frame);
            } else {
                self.open.insert(module);
                self.backtrack(&mut stack)?;
            }
        }
        Ok(())
    }

    /// Undoes the top decision and tries its next candidate, popping exhausted frames.
    /// Fails with the first recorded failure when the stack runs out.
    fn backtrack(&mut self, stack: &mut Vec<Frame>) -> Result<(), ResolveError> {
        while let Some(top) = stack.last_mut() {
            self.undo(top);
            if self.advance(top)? {
                return Ok(());
            }
            let frame = stack.pop().expect("present");
            self.open.insert(frame.module);
        }
        Err(self.first_failure.take().expect("a search fails only after recording why"))
    }

    fn undo(&mut self, frame: &mut Frame) {
        let Some(version) = self.selected[frame.module].take() else { return };
        for (target, _) in self.catalog.versions[frame.module][version].resolved.iter().rev() {
            if let DepTarget::Known(d) = target {
                self.constraints.pop(*d);
            }
        }
        for opened in self.opened.drain(frame.opened..) {
            self.open.remove(opened);
        }
    }

    /// Selects the frame's next candidate: the highest untried version that satisfies
    /// every requirement on the module and whose dependencies can still be satisfied.
    /// Returns whether one was selected. (Backtracking has undone every decision made
    /// after this frame's, so the requirements on the module are those it was opened with.)
    fn advance(&mut self, frame: &mut Frame) -> Result<bool, ResolveError> {
        let catalog = self.catalog;
        'candidates: while frame.untried > 0 {
            frame.untried -= 1;
            let version = frame.untried;
            if !self.satisfies_all(frame.module, version, None) {
                continue;
            }
            self.steps += 1;
            if self.steps > self.budget {
                return Err(ResolveError::TooComplex { steps: self.steps - 1 });
            }
            let deps = &catalog.versions[frame.module][version].resolved;
            for (target, req) in deps {
                let constraint = Constraint { by: Some((frame.module, version)), req };
                let failure = match *target {
                    DepTarget::Missing(ref name) => Some(ResolveError::MissingModule {
                        name: name.clone(),
                        required_by: vec![self.requirement(&constraint)],
                    }),
                    DepTarget::Known(d) => match self.selected[d] {
                        Some(chosen) if !req.matches(&catalog.versions[d][chosen].version) => {
                            Some(self.unsatisfiable(d, Some(constraint)))
                        }
                        Some(_) => None,
                        None if !(0..catalog.versions[d].len()).any(|v| self.satisfies_all(d, v, Some(req))) => {
                            Some(self.unsatisfiable(d, Some(constraint)))
                        }
                        None => None,
                    },
                };
                if let Some(failure) = failure {
                    self.note_failure(failure);
                    continue 'candidates;
                }
            }
            self.selected[frame.module] = Some(version);
            for (target, req) in deps {
                let DepTarget::Known(d) = *target else { unreachable!("missing targets were refused above") };
                self.constraints.push(d, Constraint { by: Some((frame.module, version)), req });
                if self.selected[d].is_none() && self.open.insert(d) {
                    self.opened.push(d);
                }
            }
            return Ok(true);
        }
        Ok(false)
    }
}
