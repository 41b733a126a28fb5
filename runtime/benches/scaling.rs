//! How fresh-instance call throughput scales from 1 thread to 2, measured so that this
//! machine's noise cancels out as far as it can.
//!
//! The criterion rows `throughput/1_threads` and `throughput/2_threads` run one after the
//! other, seconds apart. On a shared VM whose vCPUs change speed by up to 2× from one
//! second to the next, their ratio says as much about the host as about the runtime.
//! So this benchmark runs short windows in rounds, and compares within each round:
//!
//! - 1 thread in this process;
//! - 2 threads in this process;
//! - 2 worker processes (this binary again, with `--worker`), 1 thread each, the same
//!   runtime and guest, running at the same time.
//!
//! Two processes share no address space, no allocator and no reference counts: their
//! ratio is what this machine gives this code when nothing is shared, the ceiling for
//! the 2-thread ratio. The order of the three windows rotates every round; the report
//! gives the median over the rounds of each ratio, and `efficiency`, the 2-thread ratio
//! over the 2-process one.
//!
//! Run by `cargo xtask bench` (which reads the JSON written to the path in
//! `WASMOD_SCALING_OUT`), or alone with `cargo bench -p wasmod-runtime --bench scaling`.
//! `--quick` runs fewer, shorter rounds.

#![allow(clippy::print_stdout, reason = "the benchmark reports on stdout, and workers answer there")]

mod common;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{median, rate};

/// A worker process: answers each line holding a window in milliseconds with the
/// 1-thread call rate over that window.
fn worker(call: &(dyn Fn() + Sync)) {
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let ms: u64 = line.expect("reads a request").trim().parse().expect("a window in ms");
        println!("{}", rate(1, Duration::from_millis(ms), call));
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    fn spawn() -> Worker {
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new(exe)
            .arg("--worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts a worker process");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut w = Worker { child, stdin, stdout };
        assert_eq!(w.answer(), "ready");
        w
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the worker answers");
        line.trim().to_string()
    }
}

/// Both workers over the same window, at the same time: the summed rate.
fn processes(workers: &mut [Worker; 2], window: Duration) -> f64 {
    for w in workers.iter_mut() {
        writeln!(w.stdin, "{}", window.as_millis()).expect("asks the worker");
    }
    workers.iter_mut().map(|w| w.answer().parse::<f64>().expect("a rate")).sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (runtime, functions) = common::setup(true);
    let echo = &functions["echo"];
    let input = vec![0x5a_u8; 1024];
    let call = || {
        black_box(runtime.call(echo, black_box(&input)).expect("echo works"));
    };
    if args.iter().any(|a| a == "--worker") {
        return worker(&call);
    }
    let benchmarking = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    // Without `--bench` (`cargo test --benches`) this only proves that it runs.
    let (rounds, window) = match (benchmarking, quick) {
        (false, _) => (3, Duration::from_millis(10)),
        (true, true) => (9, Duration::from_millis(100)),
        (true, false) => (30, Duration::from_millis(250)),
    };

    let mut workers = [Worker::spawn(), Worker::spawn()];
    // Warm every path (artifact pages, per-thread caches) before measuring.
    rate(2, window, &call);
    processes(&mut workers, window);

    let (mut threads, mut procs, mut one_ns) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut r = [0.0f64; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            r[which] = match which {
                0 => rate(1, window, &call),
                1 => rate(2, window, &call),
                _ => processes(&mut workers, window),
            };
        }
        one_ns.push(1e9 / r[0]);
        threads.push(r[1] / r[0]);
        procs.push(r[2] / r[0]);
    }
    for mut w in workers {
        drop(w.stdin);
        let _ = w.child.wait();
    }

    let (t, p) = (median(threads.clone()), median(procs.clone()));
    let efficiency = t / p;
    let one = median(one_ns);
    println!(
        "scaling over {rounds} rounds of {} ms windows (medians): 1 thread {one:.0} ns/call; \
         2 threads {t:.2}× one; 2 processes {p:.2}× one; threads reach {:.0}% of processes",
        window.as_millis(),
        efficiency * 100.0
    );
    if let Some(path) = std::env::var_os("WASMOD_SCALING_OUT") {
        let report = format!(
            "{{\"rounds\":{rounds},\"window_ms\":{},\"one_thread_ns_per_call\":{one:.1},\"threads_ratio\":{t:.4},\
             \"processes_ratio\":{p:.4},\"efficiency\":{efficiency:.4},\"threads_ratios\":{threads:?},\
             \"processes_ratios\":{procs:?}}}",
            window.as_millis(),
        );
        std::fs::write(&path, report).expect("writes the scaling report");
    }
}
