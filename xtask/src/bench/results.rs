//! What the benchmark runs leave behind, read back: criterion's estimates under
//! `target/criterion/` (one [`Measured`] per benchmark id), the JSON reports of the peer
//! and scaling benchmarks, and the [`Figures`] that the targets are judged on, derived
//! from them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

/// One criterion result.
pub(super) struct Measured {
    pub(super) median_ns: f64,
    pub(super) low_ns: f64,
    pub(super) high_ns: f64,
    pub(super) mad_ns: f64,
    pub(super) bytes: Option<f64>,
}

/// Reads every criterion result under `dir`, by full benchmark id: each `new/` directory
/// that holds an `estimates.json` (next to its `benchmark.json`) is one result.
pub(super) fn read_results(dir: &Path) -> Result<BTreeMap<String, Measured>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") && path.join("estimates.json").is_file() {
                    let estimates: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(path.join("estimates.json"))?)?;
                    let benchmark: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(path.join("benchmark.json"))?)?;
                    let id = benchmark["full_id"].as_str().context("full_id")?.to_string();
                    let m = &estimates["median"];
                    out.insert(
                        id,
                        Measured {
                            median_ns: m["point_estimate"].as_f64().context("median")?,
                            low_ns: m["confidence_interval"]["lower_bound"].as_f64().context("ci")?,
                            high_ns: m["confidence_interval"]["upper_bound"].as_f64().context("ci")?,
                            mad_ns: estimates["median_abs_dev"]["point_estimate"].as_f64().context("mad")?,
                            bytes: benchmark["throughput"]["Bytes"].as_f64(),
                        },
                    );
                } else {
                    todo.push(path);
                }
            }
        }
    }
    Ok(out)
}

/// Reads the JSON report a non-criterion benchmark wrote (`peer.json`, `scaling.json`).
pub(super) fn read_json(path: &Path) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)?)
}

/// The numbers the targets table shows, in nanoseconds unless named a ratio.
pub(super) struct Figures {
    // Criterion's warm, fresh and live (floor) call of 1 KiB.
    pub(super) warm: f64,
    pub(super) fresh: f64,
    pub(super) live: f64,
    // The peer's warm, wasmtime, fresh and live rows.
    pub(super) peer_warm: f64,
    pub(super) peer_wasmtime: f64,
    pub(super) peer_fresh: f64,
    pub(super) peer_live: f64,
    // The peer's ratios: warm vs wasmtime, warm vs the floor, fresh vs wasmtime, and
    // wasmtime's 2 threads vs 1.
    pub(super) vs_wasmtime: f64,
    pub(super) vs_floor: f64,
    pub(super) fresh_vs_wasmtime: f64,
    pub(super) wasmtime_threads: f64,
    // One host call: `clock.monotonic_nanos`, and `kv.get` on a hit.
    pub(super) clock: f64,
    pub(super) kv: f64,
    // Validation throughput over the fixture packages, in MB/s.
    pub(super) mbps: f64,
    // Compile time over cached load time, per function.
    pub(super) ratio: f64,
    // The resolver on catalogs of 10,000, 1,000 and 100 modules.
    pub(super) r10k: f64,
    pub(super) r1k: f64,
    pub(super) r100: f64,
    // The scaling bench: 2 threads vs 1, 2 processes vs 1, and threads over processes.
    pub(super) speedup: f64,
    pub(super) processes: f64,
    pub(super) efficiency: f64,
    // Activation of 50 modules with init hooks.
    pub(super) activation: f64,
    // The machine's reference loop.
    pub(super) reference: f64,
}

impl Figures {
    /// Derives the figures from the criterion results, the peer's report and the scaling
    /// bench's report (read from `scaling_path`); fails naming the first one missing.
    pub(super) fn collect(
        results: &BTreeMap<String, Measured>,
        peer: &serde_json::Value,
        scaling_path: &Path,
    ) -> Result<Self> {
        let get = |id: &str| results.get(id).with_context(|| format!("no result for {id}"));
        let peer_of = |field: &str| peer[field].as_f64().with_context(|| format!("{field} in peer.json"));
        let warm = get("call/warm_instance_1KiB")?.median_ns;
        let fresh = get("call/fresh_instance_1KiB")?.median_ns;
        let live = get("call/live_instance_1KiB")?.median_ns;
        let (peer_warm, peer_wasmtime, peer_fresh, peer_live) = (
            peer_of("wasmod_warm_ns")?,
            peer_of("wasmtime_pooling_ns")?,
            peer_of("wasmod_fresh_ns")?,
            peer_of("wasmod_live_ns")?,
        );
        let (vs_wasmtime, vs_floor, fresh_vs_wasmtime) =
            (peer_of("warm_vs_wasmtime")?, peer_of("warm_vs_floor")?, peer_of("fresh_vs_wasmtime")?);
        let wasmtime_threads = peer_of("wasmtime_2_threads_vs_1")?;
        let clock = (get("host_call/clock_x1000")?.median_ns - get("host_call/no_host_call_x1000")?.median_ns) / 1000.0;
        let kv = (get("host_call/kv_get_hit_x1000")?.median_ns - get("host_call/loop_x1000")?.median_ns) / 1000.0;
        let validate = get("validate/all_fixture_packages")?;
        let mbps = validate.bytes.unwrap_or(0.0) / validate.median_ns * 1e9 / 1e6;
        let ratio = get("artifact/compile_everything")?.median_ns / get("artifact/load_cached_everything")?.median_ns;
        let r10k = get("resolve/10000")?.median_ns;
        let r1k = get("resolve/1000")?.median_ns;
        let r100 = get("resolve/100")?.median_ns;
        let scaling = read_json(scaling_path)?;
        let ratio_of = |field: &str| scaling[field].as_f64().with_context(|| format!("{field} in scaling.json"));
        let (speedup, processes, efficiency) =
            (ratio_of("threads_ratio")?, ratio_of("processes_ratio")?, ratio_of("efficiency")?);
        let activation = get("activation/50_modules_with_init")?.median_ns;
        let reference = get("machine/reference_loop")?.median_ns;
        Ok(Figures {
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
        })
    }
}
