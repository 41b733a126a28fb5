//! From a finished search to a [`Plan`]: the chosen versions as a dependency graph,
//! refused if it has a cycle (the cycle's path is the error), ordered dependencies first
//! with ties broken by name.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
use wasmod_manifest::ModuleName;

use crate::error::{CycleStep, ResolveError};
use crate::{Catalog, DepTarget, Plan, PlannedModule, Request};

/// The plan of a finished search: the chosen versions (`selected`, per module index),
/// ordered dependencies first, ties by name; a cycle among them is refused.
pub(crate) fn build(catalog: &Catalog, selected: &[Option<usize>], request: &[Request]) -> Result<Plan, ResolveError> {
    // The chosen modules, in index (= name) order, and their dense positions.
    let chosen: Vec<(usize, usize)> = selected.iter().enumerate().filter_map(|(m, v)| v.map(|v| (m, v))).collect();
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
