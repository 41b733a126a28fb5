//! The search: depth-first over modules in name order, versions highest first, with a
//! forward check on every dependency and chronological backtracking. Modules are
//! catalog indices (rank in name order) and versions are positions in the module's
//! ascending version list, so the state is a handful of dense vectors.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
use semver::VersionReq;
use wasmod_manifest::ModuleName;

use crate::error::{CycleStep, Requirement, Requirer, ResolveError};
use crate::{Catalog, DepTarget, Plan, PlannedModule, Request};

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
    build_plan(&search, request)
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

fn build_plan(search: &Search<'_>, request: &[Request]) -> Result<Plan, ResolveError> {
    let catalog = search.catalog;
    // The chosen modules, in index (= name) order, and their dense positions.
    let chosen: Vec<(usize, usize)> =
        search.selected.iter().enumerate().filter_map(|(m, v)| v.map(|v| (m, v))).collect();
    let mut position = vec![usize::MAX; catalog.names.len()];
    for (p, (m, _)) in chosen.iter().enumerate() {
        position[*m] = p;
    }
    let deps_of = |p: usize| {
        let (m, v) = chosen[p];
        catalog.versions[m][v].resolved.iter().map(|(t, _)| match t {
            DepTarget::Known(d) => position[*d],
            DepTarget::Missing(_) => unreachable!("a plan has no missing dependency"),
        })
    };

    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(chosen.len(), chosen.len());
    for _ in 0..chosen.len() {
        graph.add_node(());
    }
    for p in 0..chosen.len() {
        for d in deps_of(p) {
            graph.add_edge(NodeIndex::new(p), NodeIndex::new(d), ());
        }
    }
    let step = |p: usize| {
        let (m, v) = chosen[p];
        CycleStep { name: catalog.names[m].clone(), version: catalog.versions[m][v].version.clone() }
    };
    if let Some(path) = find_cycle(&graph) {
        return Err(ResolveError::Cycle { path: path.into_iter().map(step).collect() });
    }

    // Kahn's algorithm on "depends on" edges: a module is ready once all its
    // dependencies are placed; among ready modules the smallest name goes first.
    let mut remaining: Vec<usize> = (0..chosen.len()).map(|p| deps_of(p).count()).collect();
    // Dependents in compressed rows: `dependents[start[d]..start[d + 1]]`.
    let mut start = vec![0usize; chosen.len() + 1];
    for p in 0..chosen.len() {
        for d in deps_of(p) {
            start[d + 1] += 1;
        }
    }
    for i in 0..chosen.len() {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut dependents = vec![0usize; start[chosen.len()]];
    for p in 0..chosen.len() {
        for d in deps_of(p) {
            dependents[fill[d]] = p;
            fill[d] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        remaining.iter().enumerate().filter(|(_, r)| **r == 0).map(|(p, _)| Reverse(p)).collect();
    let requested: BTreeSet<&str> = request.iter().map(|r| r.name.as_str()).collect();
    let mut modules = Vec::with_capacity(chosen.len());
    while let Some(Reverse(p)) = ready.pop() {
        let (m, v) = chosen[p];
        let entry = &catalog.versions[m][v];
        let name: &ModuleName = &catalog.names[m];
        modules.push(PlannedModule {
            name: name.clone(),
            version: entry.version.clone(),
            dependencies: entry.dependencies.keys().cloned().collect(),
            requested: requested.contains(name.as_str()),
        });
        for &d in &dependents[start[p]..start[p + 1]] {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    debug_assert_eq!(modules.len(), chosen.len(), "acyclic graphs order completely");
    Ok(Plan { modules })
}

/// A cycle through the smallest-named module that lies on one, as node indices with the
/// first repeated at the end: the shortest such cycle, preferring smaller names.
fn find_cycle(graph: &DiGraph<(), ()>) -> Option<Vec<usize>> {
    let sccs = petgraph::algo::tarjan_scc(graph);
    let start = sccs
        .iter()
        .filter(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
        .filter_map(|scc| scc.iter().map(|n| n.index()).min())
        .min()?;
    // Breadth-first from `start` back to itself, visiting neighbours in name order.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut next: Vec<usize> = graph.neighbors(NodeIndex::new(node)).map(|n| n.index()).collect();
        next.sort_unstable();
        for n in next {
            if n == start {
                let mut chain = Vec::new();
                let mut cur = node;
                while cur != start {
                    chain.push(cur);
                    cur = parent[&cur];
                }
                chain.reverse();
                let mut path = vec![start];
                path.extend(chain);
                path.push(start);
                return Some(path);
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(n) {
                e.insert(node);
                queue.push_back(n);
            }
        }
    }
    None
}
