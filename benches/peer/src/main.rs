//! wasmod against wasmtime's pooling allocator, the same packed `echo` file, one process.
//!
//! Rows, each a call of `echo` with 1 KiB in and 1 KiB out:
//! - `wasmod_warm`: wasmod's default, fresh-instance semantics from a warm instance;
//! - `wasmod_fresh`: wasmod with warm instances off (a new instance per call);
//! - `wasmod_live`: an instance kept alive and never reset (the floor);
//! - `wasmtime_pooling`: a new wasmtime store and instance per call from the pooling
//!   allocator, fuel on, the imports linked once (`InstancePre`) and the exports resolved
//!   once (`Module::get_export_index`), input through `wasmod_alloc` as wasmod does;
//! - the 2-thread rates of `wasmod_warm` and `wasmtime_pooling`.
//!
//! The machines drift by 2–4× within minutes, so the rows are measured in short windows,
//! in rounds whose order rotates, and each ratio is taken within a round; the report
//! gives medians over the rounds. `--quick` runs fewer, shorter rounds. The JSON report
//! goes to the path in `WASMOD_PEER_OUT` when it is set.

#![allow(clippy::print_stdout, reason = "the benchmark reports on stdout")]

#[path = "../../../runtime/benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{median, rate};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store};

/// wasmtime set up as a user who wants fresh instances fast would: pooling allocator,
/// fuel, imports linked once, exports looked up once.
struct Wasmtime {
    engine: Engine,
    pre: wasmtime::InstancePre<()>,
    memory: wasmtime::ModuleExport,
    alloc: wasmtime::ModuleExport,
    echo: wasmtime::ModuleExport,
}

impl Wasmtime {
    fn new(wasm: &[u8]) -> Wasmtime {
        let mut pooling = PoolingAllocationConfig::default();
        pooling.total_memories(32).total_tables(32).total_core_instances(32).max_memory_size(16 << 20);
        let mut config = Config::new();
        config.consume_fuel(true).allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config).expect("an engine");
        let module = Module::new(&engine, wasm).expect("compiles");
        let mut linker = Linker::<()>::new(&engine);
        linker.func_wrap("wasmod:log@1", "write", |_: i32, _: i32, _: i32| {}).expect("links");
        let pre = linker.instantiate_pre(&module).expect("pre-instantiates");
        let export = |name: &str| module.get_export_index(name).expect("exported");
        Wasmtime { memory: export("memory"), alloc: export("wasmod_alloc"), echo: export("echo"), pre, engine }
    }

    fn call(&self, input: &[u8]) -> Vec<u8> {
        let mut store = Store::new(&self.engine, ());
        store.set_fuel(1_000_000_000).expect("fuel is on");
        let instance = self.pre.instantiate(&mut store).expect("instantiates");
        let memory =
            instance.get_module_export(&mut store, &self.memory).and_then(|e| e.into_memory()).expect("memory");
        let alloc = instance
            .get_module_export(&mut store, &self.alloc)
            .and_then(|e| e.into_func())
            .expect("alloc")
            .typed::<i32, i32>(&store)
            .expect("typed");
        let echo = instance
            .get_module_export(&mut store, &self.echo)
            .and_then(|e| e.into_func())
            .expect("echo")
            .typed::<(i32, i32), i64>(&store)
            .expect("typed");
        let ptr = alloc.call(&mut store, input.len() as i32).expect("allocates");
        memory.write(&mut store, ptr as usize, input).expect("fits");
        let word = echo.call(&mut store, (ptr, input.len() as i32)).expect("echoes");
        let (at, len) = (word as u32 as usize, (word >> 32) as u32 as usize);
        memory.data(&store)[at..at + len].to_vec()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, window) = if quick { (7, Duration::from_millis(150)) } else { (25, Duration::from_millis(300)) };
    let input = vec![0x5a_u8; 1024];

    let (warm_rt, warm_fns) = common::setup(true);
    let (fresh_rt, fresh_fns) = common::setup(false);
    let wasm = common::echo_file();
    let wasmtime = Wasmtime::new(&wasm);
    // A live instance is not `Send`: each measuring thread makes its own (once per
    // window, a few microseconds in a window of hundreds of milliseconds).
    thread_local! {
        static LIVE: std::cell::RefCell<Option<wasmod_runtime::LiveInstance>> = const { std::cell::RefCell::new(None) };
    }

    let warm = || {
        black_box(warm_rt.call(&warm_fns["echo"], black_box(&input)).expect("echo works"));
    };
    let fresh = || {
        black_box(fresh_rt.call(&fresh_fns["echo"], black_box(&input)).expect("echo works"));
    };
    let floor = || {
        LIVE.with(|live| {
            let mut live = live.borrow_mut();
            let live = live.get_or_insert_with(|| warm_rt.live_instance(&warm_fns["echo"]).expect("instantiates"));
            black_box(live.call(black_box(&input)).expect("echo works"));
        });
    };
    let peer = || {
        black_box(wasmtime.call(black_box(&input)));
    };
    assert_eq!(wasmtime.call(&input), input, "wasmtime echoes");
    assert_eq!(warm_rt.call(&warm_fns["echo"], &input).expect("echo works").output, input, "wasmod echoes");

    type Row<'a> = (&'static str, usize, &'a (dyn Fn() + Sync));
    let rows: [Row<'_>; 6] = [
        ("wasmod_warm", 1, &warm),
        ("wasmod_fresh", 1, &fresh),
        ("wasmod_live", 1, &floor),
        ("wasmtime_pooling", 1, &peer),
        ("wasmod_warm_2_threads", 2, &warm),
        ("wasmtime_pooling_2_threads", 2, &peer),
    ];
    // Warm every path first.
    for (_, threads, op) in &rows {
        rate(*threads, window, *op);
    }
    let mut ns = vec![Vec::new(); rows.len()];
    let mut per_round = Vec::new();
    for round in 0..rounds {
        let mut r = vec![0.0; rows.len()];
        for k in 0..rows.len() {
            let i = (round + k) % rows.len();
            let (_, threads, op) = rows[i];
            r[i] = rate(threads, window, op);
        }
        for (i, rate) in r.iter().enumerate() {
            ns[i].push(1e9 / rate);
        }
        per_round.push(r);
    }
    // Rate of row b over rate of row a: time per call of a over that of b, or for the
    // 2-thread rows, the speed-up.
    let ratio = |a: usize, b: usize| median(per_round.iter().map(|r| r[b] / r[a]).collect());
    let medians: Vec<f64> = ns.iter().map(|v| median(v.clone())).collect();
    let report = [
        ("warm_vs_wasmtime", ratio(0, 3)),
        ("warm_vs_floor", ratio(0, 2)),
        ("fresh_vs_wasmtime", ratio(1, 3)),
        ("warm_2_threads_vs_1", ratio(0, 4)),
        ("wasmtime_2_threads_vs_1", ratio(3, 5)),
    ];
    println!("peer benchmark, {rounds} rounds of {} ms windows (medians)", window.as_millis());
    for ((name, threads, _), m) in rows.iter().zip(&medians) {
        println!("  {name:<28} {m:>9.0} ns/call ({threads} thread{})", if *threads == 1 { "" } else { "s" });
    }
    for (name, r) in &report {
        println!("  {name:<28} {r:>9.3}");
    }
    if let Some(path) = std::env::var_os("WASMOD_PEER_OUT") {
        let mut json = format!("{{\"rounds\":{rounds},\"window_ms\":{},\"wasmtime\":\"48.0.0\"", window.as_millis());
        for ((name, _, _), m) in rows.iter().zip(&medians) {
            json.push_str(&format!(",\"{name}_ns\":{m:.1}"));
        }
        for (name, r) in &report {
            json.push_str(&format!(",\"{name}\":{r:.4}"));
        }
        json.push('}');
        std::fs::write(&path, json).expect("writes the report");
    }
}
