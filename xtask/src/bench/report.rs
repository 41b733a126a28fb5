//! The markdown of `BENCHMARKS.md`: when and where it was measured (the machine
//! description), the targets table (each target with its measurement and whether it is
//! met), every criterion result, and how to read them.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use super::BENCHES;
use super::results::{Figures, Measured};

/// A row of the targets table: what is measured, its target, the measurement, and whether
/// the target is met.
type Row = (&'static str, String, String, &'static str);

/// The whole report but the notes kept by hand; `started` is when the runs began.
pub(super) fn markdown(quick: bool, started: Instant, results: &BTreeMap<String, Measured>, f: &Figures) -> String {
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(&format!(
        "Measured with `cargo xtask bench{}` on {} at commit `{}` ({:.0} s for the whole run).\n\n",
        if quick { " --quick" } else { "" },
        shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        shell("git", &["rev-parse", "--short", "HEAD"]),
        started.elapsed().as_secs_f64(),
    ));
    md.push_str("## Machine\n\n");
    md.push_str(&machine());
    md.push_str("\n\n## Targets\n\n| what | target | measured (median) | met |\n|---|---|---|---|\n");
    for (what, target, measured, met) in target_rows(f) {
        md.push_str(&format!("| {what} | {target} | {measured} | {met} |\n"));
    }
    md.push_str("\n## All results\n\nMedian with its 95% confidence interval and the median absolute deviation (spread) of the samples.\n\n| benchmark | median | 95% CI | MAD |\n|---|---|---|---|\n");
    for (id, m) in results {
        md.push_str(&format!(
            "| `{id}` | {} | {} – {} | {} |\n",
            human(m.median_ns),
            human(m.low_ns),
            human(m.high_ns),
            human(m.mad_ns)
        ));
    }
    md.push_str(&how_to_read());
    md
}

/// The targets table, one row per target, judged on `f`.
fn target_rows(f: &Figures) -> Vec<Row> {
    let &Figures {
        warm,
        fresh,
        live,
        peer_warm,
        peer_wasmtime,
        peer_fresh,
        peer_live,
        vs_wasmtime,
        vs_floor,
        fresh_vs_wasmtime,
        wasmtime_threads,
        clock,
        kv,
        mbps,
        ratio,
        r10k,
        r1k,
        r100,
        speedup,
        processes,
        efficiency,
        activation,
        reference,
    } = f;
    let yes = |ok: bool| if ok { "yes" } else { "**no**" };
    vec![
        (
            "a call with fresh-instance semantics (warm instance, reset), trivial function, 1 KiB in and out, vs \
             wasmtime 48 pooling allocator + fuel, same process, alternating rounds (`benches/peer`)",
            "≤ 0.3× wasmtime".to_string(),
            format!("{} vs {} → {vs_wasmtime:.2}×", human(peer_warm), human(peer_wasmtime)),
            yes(vs_wasmtime <= 0.3),
        ),
        (
            "the same call vs wasmod's floor (an instance kept alive, never reset), same rounds",
            "≤ 6×".into(),
            format!("{} vs {} → {vs_floor:.1}×", human(peer_warm), human(peer_live)),
            yes(vs_floor <= 6.0),
        ),
        (
            "the fresh path (a new instance per call, as for files that are not resettable), same rounds",
            "reported (vs wasmtime)".into(),
            format!("{} → {fresh_vs_wasmtime:.2}× wasmtime", human(peer_fresh)),
            "–",
        ),
        (
            "criterion: warm call / fresh call / floor (`call/*_instance_1KiB`)",
            "fresh ≤ 5 µs".to_string(),
            format!("{} / {} / {}", human(warm), human(fresh), human(live)),
            yes(fresh <= 5_000.0),
        ),
        ("one host call from a guest: `clock.monotonic_nanos`", "≤ 50 ns".into(), human(clock), yes(clock <= 50.0)),
        ("one host call from a guest: `kv.get` on a hit", "reported".into(), human(kv), "–"),
        (
            "validation throughput over the fixture packages",
            "≥ 100 MB/s".into(),
            format!("{mbps:.0} MB/s"),
            yes(mbps >= 100.0),
        ),
        (
            "compile vs load from the artifact cache, per function",
            "cached load ≥ 50× faster".into(),
            format!("{ratio:.0}×"),
            yes(ratio >= 50.0),
        ),
        ("resolver, 10,000-module catalog", "≤ 20 ms".into(), human(r10k), yes(r10k <= 20e6)),
        (
            "resolver growth 100 → 1,000 → 10,000",
            "near linear (10× per step)".into(),
            format!("{:.1}× then {:.1}×", r1k / r100, r10k / r1k),
            "see notes",
        ),
        (
            "throughput with warm instances, 2 threads vs 1 (median of alternating rounds, `scaling`)",
            "≥ 1.8×".into(),
            format!("{speedup:.2}×"),
            yes(speedup >= 1.8),
        ),
        (
            "wasmtime 48 pooling + fuel, 2 threads vs 1 (`benches/peer`)",
            "reported".into(),
            format!("{wasmtime_threads:.2}×"),
            "–",
        ),
        (
            "the same with 2 processes: what this machine gives when nothing is shared",
            "reported".into(),
            format!("{processes:.2}× (threads reach {:.0}% of it)", efficiency * 100.0),
            "–",
        ),
        ("activation of 50 modules with init hooks", "reported".into(), human(activation), "–"),
        (
            "machine speed: a fixed integer loop, run just before the per-call row (lower is faster)",
            "reported".into(),
            human(reference),
            "–",
        ),
    ]
}

/// The closing section: where the benchmarks live and how each kind of row is measured.
fn how_to_read() -> String {
    format!(
        "\n## How to read these\n\n\
- Every benchmark lives in a crate's `benches/` (`{}`).\n\
- Host-call costs are derived: a guest loop making 1,000 calls minus the same loop without them, over 1,000.\n\
- `throughput/N_threads` is the wall time of a batch of calls split across N threads, per call; the rows are measured seconds apart, so their ratio carries this VM's drift. The 2-vs-1 target is judged on `runtime/benches/scaling.rs` instead: 1 thread, 2 threads and 2 processes in alternating windows, the ratio taken within each round (ADR 0007).\n\
- The peer rows come from `benches/peer` (a workspace of its own, so that CI never builds wasmtime): wasmod with warm instances, wasmod with a fresh instance per call, wasmod's live instance and wasmtime 48.0.0's pooling allocator with fuel (imports linked once, exports resolved once, input through `wasmod_alloc`), all on the same packed file in one process, in short windows whose order rotates every round; each ratio is the median of the ratios within rounds.\n\
- `machine/reference_loop` is 10,000 dependent integer operations with no memory traffic: it moves only with the CPU time this VM gets. Compare runs through it: when it is slower, so is every other row.\n\
- The notes on misses and their causes are kept below by hand.\n",
        BENCHES.iter().map(|(p, b)| format!("{p}/{b}")).collect::<Vec<_>>().join(", ")
    )
}

/// Describes the machine: CPU model and cores available, memory, kernel and compiler.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:").and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!(
        "- CPU: {model}, {cores} cores available\n- memory: {:.1} GiB\n- kernel: {}\n- compiler: {}",
        mem_kb as f64 / (1024.0 * 1024.0),
        shell("uname", &["-sr"]),
        shell("rustc", &["--version"]),
    )
}

/// A duration in nanoseconds, in the unit that suits it.
fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The trimmed standard output of a command, or nothing if it cannot run.
fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
