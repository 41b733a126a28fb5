//! Every rejection rule of the manifest, and the serialise → parse round trip.

use proptest::prelude::*;
use wasmod_manifest::{ConfigType, ConfigValue, Manifest, ManifestError, ProblemKind};

const VALID: &str = r#"(
    name: "acme/orders",
    version: "1.2.3",
    description: "Orders.",
    dependencies: { "acme/audit": "^1.0" },
    config: {
        "currency": (type: String, default: "EUR", doc: "ISO code"),
        "rate": (type: Float, default: 2),
        "token": (type: String, required: true),
    },
    functions: {
        "place_order": (file: "fns/place.wasm", implements: "orders.place", groups: ["log", "kv"]),
        "init": (implements: "init", groups: ["config"]),
    },
)"#;

/// Parses `source`, expecting exactly one semantic problem, and returns it.
fn only_problem(source: &str) -> (ProblemKind, String, Option<(usize, usize)>) {
    match Manifest::from_ron(source) {
        Err(ManifestError::Invalid(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:#?}");
            let p = &problems[0];
            (p.kind.clone(), p.field.clone(), p.at.map(|l| (l.line, l.column)))
        }
        other => panic!("expected one semantic problem, got {other:?}"),
    }
}

fn syntax_error(source: &str) -> (usize, usize, String) {
    match Manifest::from_ron(source) {
        Err(ManifestError::Syntax { at, message }) => (at.line, at.column, message),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn valid_manifest_parses_with_defaults_filled() {
    let m = Manifest::from_ron(VALID).unwrap();
    assert_eq!(m.id(), "acme/orders@1.2.3");
    assert_eq!(m.functions["init"].file, "init.wasm");
    assert_eq!(m.functions["place_order"].groups, ["kv", "log"]);
    // An integer default for a Float key is stored as a float.
    assert_eq!(m.config["rate"].default, Some(ConfigValue::Float(2.0)));
    assert_eq!(m.config["token"].ty, ConfigType::String);
    assert!(m.config["token"].required);
    assert_eq!(m.init_function().map(|(n, _)| n), Some("init"));
}

#[test]
fn minimal_manifest() {
    let m = Manifest::from_ron(r#"(name: "a/b", version: "0.1.0")"#).unwrap();
    assert!(m.functions.is_empty() && m.dependencies.is_empty() && m.config.is_empty());
}

#[test]
fn unknown_field_is_a_syntax_error_naming_the_field() {
    let (line, _, msg) = syntax_error("(\n  name: \"a/b\",\n  version: \"1.0.0\",\n  colour: \"red\",\n)");
    assert_eq!(line, 4);
    assert!(msg.contains("colour"), "{msg}");
}

#[test]
fn unknown_function_field_is_a_syntax_error() {
    let (_, _, msg) =
        syntax_error(r#"(name: "a/b", version: "1.0.0", functions: { "f": (implements: "x", group: ["log"]) })"#);
    assert!(msg.contains("group"), "{msg}");
}

#[test]
fn missing_field_is_a_syntax_error_naming_the_field() {
    let (_, _, msg) = syntax_error(r#"(name: "a/b")"#);
    assert!(msg.contains("version"), "{msg}");
}

#[test]
fn bad_syntax_points_at_line_and_column() {
    let (line, column, _) = syntax_error("(\n  name: \"a/b\",\n  version: 1.0.0,\n)");
    assert_eq!((line, column > 1), (3, true));
}

#[test]
fn duplicate_map_key_is_refused() {
    let (_, _, msg) = syntax_error(r#"(name: "a/b", version: "1.0.0", dependencies: { "x/y": "1", "x/y": "2" })"#);
    assert!(msg.contains("x/y") && msg.contains("twice"), "{msg}");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep =
        format!("(name: \"a/b\", version: \"1.0.0\", description: {}{})", "[".repeat(10_000), "]".repeat(10_000));
    let (_, _, msg) = syntax_error(&deep);
    assert!(msg.to_lowercase().contains("recursion") || msg.contains("Expected"), "{msg}");
}

#[test]
fn invalid_module_name() {
    let (kind, field, at) = only_problem(r#"(name: "Acme/Orders", version: "1.0.0")"#);
    assert!(matches!(kind, ProblemKind::InvalidModuleName { ref value, .. } if value == "Acme/Orders"));
    assert_eq!(field, "name");
    assert_eq!(at, Some((1, 2)));
}

#[test]
fn invalid_version() {
    let (kind, field, _) = only_problem(r#"(name: "a/b", version: "1.0")"#);
    assert!(matches!(kind, ProblemKind::InvalidVersion { .. }), "{kind:?}");
    assert_eq!(field, "version");
}

#[test]
fn invalid_version_requirement() {
    let (kind, field, at) =
        only_problem("(name: \"a/b\", version: \"1.0.0\",\n dependencies: { \"c/d\": \"not-a-req\" })");
    assert!(matches!(kind, ProblemKind::InvalidVersionReq { ref module, .. } if module == "c/d"), "{kind:?}");
    assert_eq!(field, "dependencies.c/d");
    assert_eq!(at.map(|a| a.0), Some(2));
}

#[test]
fn invalid_dependency_name() {
    let (kind, _, _) = only_problem(r#"(name: "a/b", version: "1.0.0", dependencies: { "nope": "1" })"#);
    assert!(matches!(kind, ProblemKind::InvalidDependencyName { .. }), "{kind:?}");
}

#[test]
fn self_dependency() {
    let (kind, _, _) = only_problem(r#"(name: "a/b", version: "1.0.0", dependencies: { "a/b": "1" })"#);
    assert!(matches!(kind, ProblemKind::SelfDependency { .. }), "{kind:?}");
}

fn with_function(body: &str) -> String {
    format!(r#"(name: "a/b", version: "1.0.0", functions: {{ {body} }})"#)
}

#[test]
fn invalid_function_name() {
    let (kind, _, _) = only_problem(&with_function(r#""place-order": (implements: "orders.place")"#));
    assert!(matches!(kind, ProblemKind::InvalidFunctionName { .. }), "{kind:?}");
    let (kind, _, _) = only_problem(&with_function(r#""wasmod_alloc": (implements: "orders.place")"#));
    assert!(
        matches!(kind, ProblemKind::InvalidFunctionName { ref reason, .. } if *reason == wasmod_manifest::NameError::Reserved)
    );
}

#[test]
fn invalid_group_name() {
    let (kind, field, _) = only_problem(&with_function(r#""f": (implements: "x", groups: ["Log"])"#));
    assert!(matches!(kind, ProblemKind::InvalidGroupName { ref group, .. } if group == "Log"), "{kind:?}");
    assert_eq!(field, "functions.f.groups");
}

#[test]
fn duplicate_group() {
    let (kind, _, _) = only_problem(&with_function(r#""f": (implements: "x", groups: ["log", "log"])"#));
    assert!(matches!(kind, ProblemKind::DuplicateGroup { .. }), "{kind:?}");
}

#[test]
fn invalid_subsystem_name() {
    let (kind, _, _) = only_problem(&with_function(r#""f": (implements: "Orders/Place")"#));
    assert!(matches!(kind, ProblemKind::InvalidSubsystemName { .. }), "{kind:?}");
}

#[test]
fn file_paths_must_be_relative_and_normalised() {
    for bad in ["/abs.wasm", "../up.wasm", "a/./b.wasm", "a\\\\b.wasm", "a//b.wasm", "f.txt"] {
        let (kind, field, at) = only_problem(&with_function(&format!(r#""f": (file: "{bad}", implements: "x")"#)));
        assert!(matches!(kind, ProblemKind::InvalidFilePath { .. }), "{bad}: {kind:?}");
        assert_eq!(field, "functions.f.file");
        assert!(at.is_some());
    }
}

#[test]
fn duplicate_file() {
    let (kind, _, _) = only_problem(&with_function(
        r#""f": (file: "x.wasm", implements: "a"), "g": (file: "x.wasm", implements: "a")"#,
    ));
    assert!(matches!(kind, ProblemKind::DuplicateFile { ref first, ref second, .. } if first == "f" && second == "g"));
}

#[test]
fn duplicate_init_hook() {
    let (kind, _, _) = only_problem(&with_function(r#""f": (implements: "init"), "g": (implements: "init")"#));
    assert!(matches!(kind, ProblemKind::DuplicateInitHook { .. }), "{kind:?}");
}

fn with_config(body: &str) -> String {
    format!(r#"(name: "a/b", version: "1.0.0", config: {{ {body} }})"#)
}

#[test]
fn invalid_config_key() {
    let (kind, _, _) = only_problem(&with_config(r#""Bad Key": (type: Int)"#));
    assert!(matches!(kind, ProblemKind::InvalidConfigKey { .. }), "{kind:?}");
}

#[test]
fn config_default_must_match_type() {
    for (ty, default) in [("Int", "\"ten\""), ("Bool", "1"), ("String", "true"), ("Int", "1.5")] {
        let (kind, field, _) = only_problem(&with_config(&format!(r#""k": (type: {ty}, default: {default})"#)));
        assert!(matches!(kind, ProblemKind::DefaultTypeMismatch { .. }), "{ty} {default}: {kind:?}");
        assert_eq!(field, "config.k.default");
    }
}

#[test]
fn required_with_default() {
    let (kind, _, _) = only_problem(&with_config(r#""k": (type: Int, default: 1, required: true)"#));
    assert!(matches!(kind, ProblemKind::RequiredWithDefault { .. }), "{kind:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let src = r#"(
        name: "Bad",
        version: "x",
        dependencies: { "Bad": "?" },
        config: { "K": (type: Int, default: "s") },
        functions: { "1f": (file: "/x.wasm", implements: "A", groups: ["B"]) },
    )"#;
    let err = Manifest::from_ron(src).unwrap_err();
    let kinds: Vec<_> = err.problems().iter().map(|p| std::mem::discriminant(&p.kind)).collect();
    assert!(kinds.len() >= 10, "{err}");
    // The rendering names each field and gives a hint.
    let text = err.to_string();
    assert!(text.contains("`functions.1f.file`") && text.contains("hint:"), "{text}");
}

// ---- round trip -------------------------------------------------------------------

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,8}"
}

fn module_name() -> impl Strategy<Value = String> {
    (segment(), segment()).prop_map(|(a, b)| format!("{a}/{b}"))
}

fn dotted() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z][a-z0-9_]{0,6}", 1..3).prop_map(|v| v.join("."))
}

fn version() -> impl Strategy<Value = String> {
    (0u64..50, 0u64..50, 0u64..50, prop::option::of("[a-z]{1,4}\\.(0|[1-9][0-9]?)")).prop_map(
        |(a, b, c, pre)| match pre {
            Some(p) => format!("{a}.{b}.{c}-{p}"),
            None => format!("{a}.{b}.{c}"),
        },
    )
}

fn requirement() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..9, 0u64..9).prop_map(|(a, b)| format!("^{a}.{b}")),
        (0u64..9, 0u64..9, 0u64..9).prop_map(|(a, b, c)| format!("~{a}.{b}.{c}")),
        (0u64..9, 1u64..9).prop_map(|(a, b)| format!(">={a}, <{}", a + b)),
        Just("*".to_string()),
        (0u64..9).prop_map(|a| format!("={a}.0.0")),
    ]
}

fn config_value(ty: ConfigType) -> BoxedStrategy<ConfigValue> {
    match ty {
        ConfigType::Bool => any::<bool>().prop_map(ConfigValue::Bool).boxed(),
        ConfigType::Int => any::<i64>().prop_map(ConfigValue::Int).boxed(),
        ConfigType::Float => {
            prop::num::f64::NORMAL.prop_union(prop::num::f64::ZERO).prop_map(ConfigValue::Float).boxed()
        }
        ConfigType::String => "\\PC{0,12}".prop_map(ConfigValue::String).boxed(),
    }
}

fn config_key() -> impl Strategy<Value = String> {
    (prop_oneof![Just(ConfigType::Bool), Just(ConfigType::Int), Just(ConfigType::Float), Just(ConfigType::String)])
        .prop_flat_map(|ty| {
            (Just(ty), prop::option::of(config_value(ty)), any::<bool>(), prop::option::of("[ -~]{0,20}"))
        })
        .prop_map(|(ty, default, required, doc)| {
            let mut fields = vec![format!("type: {ty}")];
            if let Some(d) = &default {
                fields.push(format!("default: {}", ron::to_string(d).unwrap()));
            } else if required {
                fields.push("required: true".into());
            }
            if let Some(doc) = doc {
                fields.push(format!("doc: {}", ron::to_string(&doc).unwrap()));
            }
            format!("({})", fields.join(", "))
        })
}

prop_compose! {
    fn manifest_source()(
        name in module_name(),
        version in version(),
        description in prop::option::of("\\PC{0,40}"),
        deps in prop::collection::btree_map(module_name(), requirement(), 0..4),
        config in prop::collection::btree_map("[a-z][a-z0-9_.-]{0,10}", config_key(), 0..4),
        functions in prop::collection::btree_map(
            "[a-zA-Z][a-zA-Z0-9_]{0,10}",
            (dotted(), prop::collection::btree_set(dotted(), 0..4), any::<bool>()),
            0..5,
        ),
    ) -> String {
        let mut s = format!("(name: {:?}, version: {:?},", name, version);
        if let Some(d) = description {
            s += &format!(" description: {},", ron::to_string(&d).unwrap());
        }
        let deps: Vec<String> = deps.iter().filter(|(d, _)| **d != name).map(|(d, r)| format!("{d:?}: {r:?}")).collect();
        s += &format!(" dependencies: {{{}}},", deps.join(", "));
        let keys: Vec<String> = config.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
        s += &format!(" config: {{{}}},", keys.join(", "));
        let mut fns = Vec::new();
        for (i, (fname, (implements, groups, explicit_file))) in functions.iter().enumerate() {
            // Reserved export names are not valid function names.
            let fname = if fname.starts_with("wasmod_") || fname == "memory" { format!("f{i}") } else { fname.clone() };
            let implements = if i == 0 { "init".to_string() } else { implements.clone() };
            let file = if *explicit_file { format!("file: \"fns/{fname}.wasm\", ") } else { String::new() };
            let groups: Vec<String> = groups.iter().map(|g| format!("{g:?}")).collect();
            fns.push(format!("{fname:?}: ({file}implements: {implements:?}, groups: [{}])", groups.join(", ")));
        }
        s += &format!(" functions: {{{}}})", fns.join(", "));
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_valid_manifest_survives_serialise_then_parse(source in manifest_source()) {
        let parsed = Manifest::from_ron(&source).map_err(|e| TestCaseError::fail(format!("{e}\n{source}")))?;
        let text = parsed.to_ron();
        let again = Manifest::from_ron(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&again, &parsed);
        // And the written form is a fixed point.
        prop_assert_eq!(again.to_ron(), text);
    }
}

#[test]
fn written_form_is_readable() {
    let text = Manifest::from_ron(VALID).unwrap().to_ron();
    assert!(text.contains("name: \"acme/orders\""), "{text}");
    assert!(text.contains("description: \"Orders.\""), "{text}");
    assert!(!text.contains("Some("), "{text}");
    assert!(text.contains("type: String"), "{text}");
}
