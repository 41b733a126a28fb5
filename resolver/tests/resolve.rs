//! Resolution: explained failures, backtracking, determinism, and property tests on
//! random graphs checked against brute force.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use wasmod_resolver::{Catalog, ModuleSpec, Plan, Request, Requirer, ResolveError};

fn spec(name: &str, version: &str, deps: &[(&str, &str)]) -> ModuleSpec {
    ModuleSpec::parse(name, version, deps).unwrap()
}

fn req(name: &str) -> Request {
    Request::parse(name, None).unwrap()
}

fn order(plan: &Plan) -> Vec<String> {
    plan.modules.iter().map(|m| m.to_string()).collect()
}

#[test]
fn dependencies_first_ties_by_name() {
    let catalog = Catalog::new([
        spec("t/app", "1.0.0", &[("t/zeta", "*"), ("t/alpha", "*")]),
        spec("t/zeta", "1.0.0", &[("t/base", "*")]),
        spec("t/alpha", "1.0.0", &[("t/base", "*")]),
        spec("t/base", "1.0.0", &[]),
    ])
    .unwrap();
    let plan = catalog.resolve(&[req("t/app")]).unwrap();
    assert_eq!(order(&plan), ["t/base@1.0.0", "t/alpha@1.0.0", "t/zeta@1.0.0", "t/app@1.0.0"]);
    assert!(plan.modules[3].requested && !plan.modules[0].requested);
}

#[test]
fn highest_satisfying_version_wins() {
    let catalog = Catalog::new([
        spec("t/a", "1.0.0", &[("t/b", ">=1.1, <2")]),
        spec("t/b", "1.0.0", &[]),
        spec("t/b", "1.1.0", &[]),
        spec("t/b", "1.9.3", &[]),
        spec("t/b", "2.0.0", &[]),
    ])
    .unwrap();
    let plan = catalog.resolve(&[req("t/a")]).unwrap();
    assert_eq!(plan.version_of("t/b").unwrap().to_string(), "1.9.3");
}

#[test]
fn request_version_requirement_applies() {
    let catalog = Catalog::new([spec("t/a", "1.0.0", &[]), spec("t/a", "2.0.0", &[])]).unwrap();
    let plan = catalog.resolve(&[Request::parse("t/a", Some("^1")).unwrap()]).unwrap();
    assert_eq!(order(&plan), ["t/a@1.0.0"]);
}

#[test]
fn installed_but_not_requested_is_never_in_the_plan() {
    let catalog =
        Catalog::new([spec("t/a", "1.0.0", &[]), spec("t/b", "1.0.0", &[]), spec("t/c", "1.0.0", &[("t/a", "*")])])
            .unwrap();
    assert_eq!(order(&catalog.resolve(&[req("t/b")]).unwrap()), ["t/b@1.0.0"]);
}

#[test]
fn conflict_that_needs_backtracking_resolves() {
    // Highest-first picks a@2, which needs c ^2; b needs c ^1, so a must fall back to 1.0.
    let catalog = Catalog::new([
        spec("t/a", "2.0.0", &[("t/c", "^2")]),
        spec("t/a", "1.0.0", &[("t/c", "^1")]),
        spec("t/b", "1.0.0", &[("t/c", "^1")]),
        spec("t/c", "1.0.0", &[]),
        spec("t/c", "2.0.0", &[]),
    ])
    .unwrap();
    let plan = catalog.resolve(&[req("t/a"), req("t/b")]).unwrap();
    assert_eq!(order(&plan), ["t/c@1.0.0", "t/a@1.0.0", "t/b@1.0.0"]);
}

#[test]
fn deeper_backtracking_through_a_transitive_choice() {
    // app needs x and y. x@2 -> m ^2 -> z ^2; y -> z ^1. Only x@1 -> m ^1 -> z ^1 works.
    let catalog = Catalog::new([
        spec("t/app", "1.0.0", &[("t/x", "*"), ("t/y", "*")]),
        spec("t/x", "2.0.0", &[("t/m", "^2")]),
        spec("t/x", "1.0.0", &[("t/m", "^1")]),
        spec("t/m", "2.0.0", &[("t/z", "^2")]),
        spec("t/m", "1.0.0", &[("t/z", "^1")]),
        spec("t/y", "1.0.0", &[("t/z", "^1")]),
        spec("t/z", "1.0.0", &[]),
        spec("t/z", "2.0.0", &[]),
    ])
    .unwrap();
    let plan = catalog.resolve(&[req("t/app")]).unwrap();
    assert_eq!(plan.version_of("t/x").unwrap().to_string(), "1.0.0");
    assert_eq!(plan.version_of("t/z").unwrap().to_string(), "1.0.0");
}

#[test]
fn conflict_without_solution_is_explained() {
    let catalog = Catalog::new([
        spec("t/a", "1.0.0", &[("t/c", "^1")]),
        spec("t/b", "1.0.0", &[("t/c", "^2")]),
        spec("t/c", "1.0.0", &[]),
        spec("t/c", "2.0.0", &[]),
    ])
    .unwrap();
    let err = catalog.resolve(&[req("t/a"), req("t/b")]).unwrap_err();
    let ResolveError::NoVersionSatisfies { name, requirements, available } = &err else {
        panic!("expected NoVersionSatisfies, got {err:?}")
    };
    assert_eq!(name.as_str(), "t/c");
    let reqs: Vec<String> = requirements.iter().map(|r| r.to_string()).collect();
    assert_eq!(reqs, ["t/a@1.0.0 requires ^1", "t/b@1.0.0 requires ^2"]);
    let available: Vec<String> = available.iter().map(|v| v.to_string()).collect();
    assert_eq!(available, ["1.0.0", "2.0.0"]);
    assert_eq!(
        err.to_string(),
        "no version of `t/c` satisfies every requirement: t/a@1.0.0 requires ^1; t/b@1.0.0 requires ^2; available: 1.0.0, 2.0.0"
    );
}

#[test]
fn request_requirement_no_version() {
    let catalog = Catalog::new([spec("t/a", "1.0.0", &[])]).unwrap();
    let err = catalog.resolve(&[Request::parse("t/a", Some("^3")).unwrap()]).unwrap_err();
    assert!(
        matches!(&err, ResolveError::NoVersionSatisfies { requirements, .. } if requirements[0].by == Requirer::Request),
        "{err:?}"
    );
}

#[test]
fn missing_dependency_names_who_needs_it() {
    let catalog = Catalog::new([spec("t/a", "1.0.0", &[("t/ghost", "^1")])]).unwrap();
    let err = catalog.resolve(&[req("t/a")]).unwrap_err();
    let ResolveError::MissingModule { name, required_by } = &err else { panic!("{err:?}") };
    assert_eq!(name.as_str(), "t/ghost");
    assert_eq!(required_by.len(), 1);
    assert_eq!(required_by[0].to_string(), "t/a@1.0.0 requires ^1");
    assert_eq!(err.to_string(), "module `t/ghost` is not installed; needed by t/a@1.0.0 requires ^1");
}

#[test]
fn missing_requested_module() {
    let err = Catalog::default().resolve(&[req("t/nope")]).unwrap_err();
    assert!(matches!(&err, ResolveError::MissingModule { required_by, .. } if required_by[0].by == Requirer::Request));
}

#[test]
fn cycle_reports_its_full_path() {
    let catalog = Catalog::new([
        spec("t/app", "1.0.0", &[("t/a", "*")]),
        spec("t/a", "1.0.0", &[("t/b", "*")]),
        spec("t/b", "1.0.0", &[("t/c", "*")]),
        spec("t/c", "1.0.0", &[("t/a", "*")]),
    ])
    .unwrap();
    let err = catalog.resolve(&[req("t/app")]).unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: t/a@1.0.0 → t/b@1.0.0 → t/c@1.0.0 → t/a@1.0.0");
}

#[test]
fn duplicate_definition() {
    let err = Catalog::new([spec("t/a", "1.0.0", &[]), spec("t/a", "1.0.0", &[])]).unwrap_err();
    assert!(matches!(&err, ResolveError::Duplicate { name, .. } if name.as_str() == "t/a"), "{err:?}");
}

#[test]
fn step_budget_is_reported_not_exceeded() {
    let catalog = Catalog::new([
        spec("t/a", "2.0.0", &[("t/c", "^2")]),
        spec("t/a", "1.0.0", &[("t/c", "^1")]),
        spec("t/b", "1.0.0", &[("t/c", "^1")]),
        spec("t/c", "1.0.0", &[]),
        spec("t/c", "2.0.0", &[]),
    ])
    .unwrap();
    let err = catalog.resolve_with_budget(&[req("t/a"), req("t/b")], 2).unwrap_err();
    assert!(matches!(err, ResolveError::TooComplex { steps: 2 }), "{err:?}");
}

#[test]
fn input_order_does_not_matter() {
    let specs = vec![
        spec("t/a", "2.0.0", &[("t/c", "^2")]),
        spec("t/a", "1.0.0", &[("t/c", "^1")]),
        spec("t/b", "1.0.0", &[("t/c", "^1"), ("t/d", "*")]),
        spec("t/c", "1.0.0", &[]),
        spec("t/c", "2.0.0", &[]),
        spec("t/d", "0.3.0", &[]),
    ];
    let expected = Catalog::new(specs.clone()).unwrap().resolve(&[req("t/a"), req("t/b")]).unwrap();
    let mut reversed = specs;
    reversed.reverse();
    let got = Catalog::new(reversed).unwrap().resolve(&[req("t/b"), req("t/a")]).unwrap();
    assert_eq!(got, expected);
}

// ---- properties -------------------------------------------------------------------

const REQS: &[&str] = &["*", "^1", "^2", "=1.0.0", ">=1.1", "<2"];
const VERSIONS: &[&str] = &["1.0.0", "1.1.0", "2.0.0"];

fn name(i: usize) -> String {
    format!("p/m{i}")
}

/// A random DAG catalog: module i depends only on modules j < i.
fn dag() -> impl Strategy<Value = (Vec<ModuleSpec>, Vec<usize>)> {
    (1usize..7)
        .prop_flat_map(|n| {
            let modules = prop::collection::vec(
                (
                    prop::sample::subsequence(VERSIONS.to_vec(), 1..=3),
                    prop::collection::vec((0usize..64, 0usize..REQS.len()), 0..3),
                ),
                n,
            );
            (modules, prop::collection::btree_set(0..n, 1..=n.min(3)))
        })
        .prop_map(|(modules, request)| {
            let mut specs = Vec::new();
            for (i, (versions, deps)) in modules.iter().enumerate() {
                for v in versions {
                    let mut dep_list: BTreeMap<String, &str> = BTreeMap::new();
                    if i > 0 {
                        for (d, r) in deps {
                            dep_list.insert(name(d % i), REQS[*r]);
                        }
                    }
                    let deps: Vec<(&str, &str)> = dep_list.iter().map(|(n, r)| (n.as_str(), *r)).collect();
                    specs.push(ModuleSpec::parse(&name(i), v, &deps).unwrap());
                }
            }
            (specs, request.into_iter().collect())
        })
}

/// Whether some assignment (each module absent or one of its versions) satisfies the
/// request and every dependency of every present module.
fn brute_force_solvable(specs: &[ModuleSpec], request: &[usize]) -> bool {
    let mut by_name: BTreeMap<String, Vec<&ModuleSpec>> = BTreeMap::new();
    for s in specs {
        by_name.entry(s.name.to_string()).or_default().push(s);
    }
    let names: Vec<String> = by_name.keys().cloned().collect();
    let options: Vec<usize> = names.iter().map(|n| by_name[n].len() + 1).collect();
    let total: usize = options.iter().product();
    'assignment: for mut code in 0..total {
        let mut chosen: BTreeMap<&str, &ModuleSpec> = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            let pick = code % options[i];
            code /= options[i];
            if pick > 0 {
                chosen.insert(n, by_name[n][pick - 1]);
            }
        }
        for r in request {
            if !chosen.contains_key(name(*r).as_str()) {
                continue 'assignment;
            }
        }
        for s in chosen.values() {
            for (d, req) in &s.dependencies {
                match chosen.get(d.as_str()) {
                    Some(ds) if req.matches(&ds.version) => {}
                    _ => continue 'assignment,
                }
            }
        }
        return true;
    }
    false
}

fn check_plan(plan: &Plan, request: &[Request]) -> Result<(), TestCaseError> {
    let chosen: BTreeMap<&str, &wasmod_resolver::PlannedModule> =
        plan.modules.iter().map(|m| (m.name.as_str(), m)).collect();
    prop_assert_eq!(chosen.len(), plan.modules.len(), "one version per name");
    Ok(())
        .and_then(|()| {
            // Closure: exactly the modules reachable from the request.
            let mut closure = BTreeSet::new();
            let mut todo: Vec<&str> = request.iter().map(|r| r.name.as_str()).collect();
            while let Some(n) = todo.pop() {
                if closure.insert(n) {
                    todo.extend(chosen[n].dependencies.iter().map(|d| d.as_str()));
                }
            }
            prop_assert_eq!(closure, chosen.keys().copied().collect::<BTreeSet<_>>());
            Ok(())
        })
        .and_then(|()| {
            // Topological, and among the ready modules always the smallest name.
            let mut placed = BTreeSet::new();
            for m in &plan.modules {
                let ready: Vec<&str> = plan
                    .modules
                    .iter()
                    .filter(|x| !placed.contains(x.name.as_str()))
                    .filter(|x| x.dependencies.iter().all(|d| placed.contains(d.as_str())))
                    .map(|x| x.name.as_str())
                    .collect();
                prop_assert_eq!(Some(m.name.as_str()), ready.iter().min().copied());
                placed.insert(m.name.as_str());
            }
            Ok(())
        })
}

fn check_requirements(plan: &Plan, catalog: &Catalog, request: &[Request]) -> Result<(), TestCaseError> {
    let chosen: BTreeMap<&str, &semver::Version> = plan.modules.iter().map(|m| (m.name.as_str(), &m.version)).collect();
    for r in request {
        if let Some(req) = &r.version {
            prop_assert!(req.matches(chosen[r.name.as_str()]));
        }
    }
    for m in &plan.modules {
        for (d, req) in catalog.dependencies(m.name.as_str(), &m.version).unwrap() {
            prop_assert!(req.matches(chosen[d.as_str()]), "{} needs {} {}", m, d, req);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn plans_are_valid_and_complete((specs, request) in dag()) {
        let catalog = Catalog::new(specs.clone()).unwrap();
        let request_list: Vec<Request> = request.iter().map(|i| req(&name(*i))).collect();
        match catalog.resolve(&request_list) {
            Ok(plan) => {
                check_plan(&plan, &request_list)?;
                check_requirements(&plan, &catalog, &request_list)?;
            }
            Err(ResolveError::NoVersionSatisfies { .. } | ResolveError::MissingModule { .. }) => {
                prop_assert!(!brute_force_solvable(&specs, &request), "a solution exists but none was found");
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn without_conflicts_every_choice_is_the_highest((specs, request) in dag()) {
        // Drop every requirement: then the highest version of everything is the answer.
        let loose: Vec<ModuleSpec> = specs
            .into_iter()
            .map(|mut s| { for r in s.dependencies.values_mut() { *r = semver::VersionReq::STAR; } s })
            .collect();
        let catalog = Catalog::new(loose).unwrap();
        let request_list: Vec<Request> = request.iter().map(|i| req(&name(*i))).collect();
        let plan = catalog.resolve(&request_list).unwrap();
        for m in &plan.modules {
            prop_assert_eq!(Some(&m.version), catalog.versions(m.name.as_str()).max());
        }
    }

    #[test]
    fn shuffled_input_gives_the_same_answer((specs, request) in dag(), seed in any::<u64>()) {
        let request_list: Vec<Request> = request.iter().map(|i| req(&name(*i))).collect();
        let expected = Catalog::new(specs.clone()).unwrap().resolve(&request_list);
        let mut shuffled = specs;
        let len = shuffled.len();
        for i in 0..len {
            shuffled.swap(i, (seed as usize).wrapping_mul(31).wrapping_add(i * 7) % len);
        }
        let mut reversed_request = request_list.clone();
        reversed_request.reverse();
        prop_assert_eq!(Catalog::new(shuffled).unwrap().resolve(&reversed_request), expected);
    }

    #[test]
    fn cycles_are_always_reported_with_a_real_path(
        n in 2usize..8,
        edges in prop::collection::btree_set((0usize..8, 0usize..8), 1..16),
        request in prop::collection::btree_set(0usize..8, 1..3),
    ) {
        let edges: BTreeSet<(usize, usize)> =
            edges.into_iter().map(|(a, b)| (a % n, b % n)).filter(|(a, b)| a != b).collect();
        let request: BTreeSet<usize> = request.into_iter().map(|r| r % n).collect();
        let specs: Vec<ModuleSpec> = (0..n)
            .map(|i| {
                let deps: Vec<String> = edges.iter().filter(|(a, _)| *a == i).map(|(_, b)| name(*b)).collect();
                let deps: Vec<(&str, &str)> = deps.iter().map(|d| (d.as_str(), "*")).collect();
                ModuleSpec::parse(&name(i), "1.0.0", &deps).unwrap()
            })
            .collect();
        // The closure of the request and whether it has a cycle, computed independently.
        let mut closure = BTreeSet::new();
        let mut todo: Vec<usize> = request.iter().copied().collect();
        while let Some(i) = todo.pop() {
            if closure.insert(i) {
                todo.extend(edges.iter().filter(|(a, _)| *a == i).map(|(_, b)| *b));
            }
        }
        let mut graph = petgraph::graph::DiGraph::<(), ()>::new();
        let nodes: Vec<_> = (0..n).map(|_| graph.add_node(())).collect();
        for (a, b) in &edges {
            if closure.contains(a) {
                graph.add_edge(nodes[*a], nodes[*b], ());
            }
        }
        let cyclic = petgraph::algo::is_cyclic_directed(&graph);

        let request_list: Vec<Request> = request.iter().map(|i| req(&name(*i))).collect();
        match Catalog::new(specs).unwrap().resolve(&request_list) {
            Ok(_) => prop_assert!(!cyclic, "a cycle went unreported"),
            Err(ResolveError::Cycle { path }) => {
                prop_assert!(cyclic);
                prop_assert!(path.len() >= 3);
                prop_assert_eq!(&path[0], path.last().unwrap());
                let index = |s: &wasmod_resolver::CycleStep| s.name.as_str()[3..].parse::<usize>().unwrap();
                for pair in path.windows(2) {
                    let (a, b) = (index(&pair[0]), index(&pair[1]));
                    prop_assert!(edges.contains(&(a, b)), "{} → {} is not an edge", pair[0], pair[1]);
                    prop_assert!(closure.contains(&a));
                }
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}
