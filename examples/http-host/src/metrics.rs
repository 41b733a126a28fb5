//! `/metrics`: the host's statistics in the Prometheus text exposition format (version
//! 0.0.4). Per function, labelled `module`, `version` and `function`: calls, successes,
//! failures by `kind`, failures in a row, quarantines, whether it is quarantined now, and
//! wall time and fuel at the 0.5 and 0.99 quantiles of the recent calls. Then the
//! server's own counters.
//!
//! The format is a few lines of text per sample, written here directly: the values come
//! from a snapshot (`Host::statistics`) taken at each scrape, not from metrics objects
//! that a registry would own.

use std::fmt::Write;

use wasmod::FunctionStats;

/// The server's own counts, beside the functions'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerCounts {
    /// Requests answered, whatever their status.
    pub requests: u64,
    /// Requests no route matched.
    pub unrouted: u64,
    /// Reloads that swapped in a new activation.
    pub reloads: u64,
    /// Reloads that failed and left the serving activation in place.
    pub failed_reloads: u64,
    /// Routes served now.
    pub routes: usize,
    /// Module calls running now.
    pub calls_in_flight: u64,
    /// The generation served (1 at start, one more at each successful reload).
    pub generation: u64,
}

/// The content type of the text this module writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition text of `stats` and `server`.
pub fn render(stats: &[FunctionStats], server: &ServerCounts) -> String {
    let mut out = String::new();
    let labels = |s: &FunctionStats| {
        format!(
            "module=\"{}\",version=\"{}\",function=\"{}\"",
            escape(s.module.as_str()),
            escape(&s.version.to_string()),
            escape(&s.function)
        )
    };
    family(&mut out, "wasmod_function_calls_total", "counter", "Calls of a module function.", stats, |s| {
        vec![(labels(s), s.calls.to_string())]
    });
    family(&mut out, "wasmod_function_succeeded_total", "counter", "Calls that returned a value.", stats, |s| {
        vec![(labels(s), s.succeeded.to_string())]
    });
    family(&mut out, "wasmod_function_errors_total", "counter", "Failed calls by kind.", stats, |s| {
        s.errors.iter().map(|(kind, n)| (format!("{},kind=\"{}\"", labels(s), escape(kind)), n.to_string())).collect()
    });
    let help = "Failures in a row since the function last returned.";
    family(&mut out, "wasmod_function_consecutive_failures", "gauge", help, stats, |s| {
        vec![(labels(s), s.consecutive_failures.to_string())]
    });
    family(&mut out, "wasmod_function_quarantines_total", "counter", "Quarantines started.", stats, |s| {
        vec![(labels(s), s.quarantines.to_string())]
    });
    family(&mut out, "wasmod_function_quarantined", "gauge", "1 while the function is quarantined.", stats, |s| {
        vec![(labels(s), u8::from(s.quarantined_for.is_some()).to_string())]
    });
    let help = "Wall time of the recent calls, in seconds.";
    family(&mut out, "wasmod_function_wall_seconds", "gauge", help, stats, |s| {
        vec![
            (format!("{},quantile=\"0.5\"", labels(s)), s.wall_p50.as_secs_f64().to_string()),
            (format!("{},quantile=\"0.99\"", labels(s)), s.wall_p99.as_secs_f64().to_string()),
        ]
    });
    family(&mut out, "wasmod_function_fuel", "gauge", "Fuel used by the recent calls.", stats, |s| {
        vec![
            (format!("{},quantile=\"0.5\"", labels(s)), s.fuel_p50.to_string()),
            (format!("{},quantile=\"0.99\"", labels(s)), s.fuel_p99.to_string()),
        ]
    });
    let server_samples = [
        ("wasmod_http_requests_total", "counter", "Requests answered.", server.requests.to_string()),
        ("wasmod_http_unrouted_total", "counter", "Requests no route matched.", server.unrouted.to_string()),
        (
            "wasmod_http_reloads_total",
            "counter",
            "Reloads that swapped in a new activation.",
            server.reloads.to_string(),
        ),
        ("wasmod_http_failed_reloads_total", "counter", "Reloads that failed.", server.failed_reloads.to_string()),
        ("wasmod_http_routes", "gauge", "Routes served.", server.routes.to_string()),
        ("wasmod_http_calls_in_flight", "gauge", "Module calls running.", server.calls_in_flight.to_string()),
        ("wasmod_http_generation", "gauge", "The generation served.", server.generation.to_string()),
    ];
    for (name, kind, help, value) in server_samples {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    out
}

/// One metric family: its `HELP` and `TYPE` lines, then a sample per label set.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    stats: &[FunctionStats],
    samples: impl Fn(&FunctionStats) -> Vec<(String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in stats.iter().flat_map(samples) {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A label value as the format writes it: `\`, `"` and line feeds escaped.
fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use wasmod::{ModuleName, Version};

    fn stats() -> FunctionStats {
        FunctionStats {
            module: ModuleName::new("acme/hello").unwrap(),
            version: Version::new(1, 2, 3),
            function: "handle".into(),
            calls: 7,
            succeeded: 4,
            errors: BTreeMap::from([("trap".to_string(), 3)]),
            consecutive_failures: 3,
            quarantines: 1,
            quarantined_for: Some(Duration::from_secs(9)),
            wall_p50: Duration::from_millis(2),
            wall_p99: Duration::from_millis(40),
            fuel_p50: 1000,
            fuel_p99: 5000,
        }
    }

    #[test]
    fn every_function_figure_is_a_labelled_sample() {
        let text = render(&[stats()], &ServerCounts::default());
        let l = r#"module="acme/hello",version="1.2.3",function="handle""#;
        for line in [
            format!("wasmod_function_calls_total{{{l}}} 7"),
            format!("wasmod_function_succeeded_total{{{l}}} 4"),
            format!("wasmod_function_errors_total{{{l},kind=\"trap\"}} 3"),
            format!("wasmod_function_consecutive_failures{{{l}}} 3"),
            format!("wasmod_function_quarantines_total{{{l}}} 1"),
            format!("wasmod_function_quarantined{{{l}}} 1"),
            format!("wasmod_function_wall_seconds{{{l},quantile=\"0.5\"}} 0.002"),
            format!("wasmod_function_wall_seconds{{{l},quantile=\"0.99\"}} 0.04"),
            format!("wasmod_function_fuel{{{l},quantile=\"0.99\"}} 5000"),
        ] {
            assert!(text.lines().any(|x| x == line), "missing `{line}` in\n{text}");
        }
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let text = render(&[stats(), stats()], &ServerCounts { requests: 2, ..ServerCounts::default() });
        for name in ["wasmod_function_calls_total", "wasmod_http_requests_total", "wasmod_http_routes"] {
            assert_eq!(text.matches(&format!("# TYPE {name} ")).count(), 1, "{name}");
            assert_eq!(text.matches(&format!("# HELP {name} ")).count(), 1, "{name}");
        }
        assert!(text.lines().any(|l| l == "wasmod_http_requests_total 2"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
