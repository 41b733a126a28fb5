//! The package's function files, each checked by [`wasm::check_file`]: on the calling
//! thread, or on scoped threads once the package holds [`PARALLEL_MIN_BYTES`] of wasm,
//! with the same findings in the same order either way.

use crate::HostPolicy;
use wasmod_manifest::Package;

use crate::diagnostic::{Diagnostic, Report};
use crate::wasm;

/// Checks every function's file, on threads once the package holds
/// [`PARALLEL_MIN_BYTES`] of wasm; the findings come in file order either way.
pub(crate) fn check_function_files(package: &Package, policy: &HostPolicy, report: &mut Report) {
    let files = function_files(package, policy);
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let threads =
        if total < PARALLEL_MIN_BYTES { 1 } else { std::thread::available_parallelism().map_or(1, usize::from) };
    for diagnostics in check_files(&files, threads) {
        report.diagnostics.extend(diagnostics);
    }
}

/// Below this many bytes of wasm a package's files are checked on the calling thread:
/// starting threads would cost more than it saves.
const PARALLEL_MIN_BYTES: usize = 64 << 10;

/// Each function of the package with its file's bytes (a missing file checks as empty,
/// which is refused as invalid wasm).
fn function_files<'a>(package: &'a Package, policy: &'a HostPolicy) -> Vec<(wasm::FunctionContext<'a>, &'a [u8])> {
    package
        .manifest
        .functions
        .iter()
        .map(|(name, function)| {
            let subsystem = policy.subsystem(&function.implements);
            let bytes = package.files.get(&function.file).map(Vec::as_slice).unwrap_or_default();
            (wasm::FunctionContext { name, function, subsystem, policy }, bytes)
        })
        .collect()
}

/// Checks every function file on up to `threads` threads, the findings of each file in
/// its own list, in file order. Files are independent and most of the work is
/// wasmparser's per-operator validation, which this divides; the result does not depend
/// on the thread count.
fn check_files(files: &[(wasm::FunctionContext<'_>, &[u8])], threads: usize) -> Vec<Vec<Diagnostic>> {
    let check = |(cx, bytes): &(wasm::FunctionContext<'_>, &[u8])| {
        let mut report = Report::default();
        wasm::check_file(cx, bytes, &mut report);
        report.diagnostics
    };
    let threads = threads.min(files.len());
    if threads < 2 {
        return files.iter().map(check).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, Vec<Diagnostic>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break done };
                        done.push((i, check(file)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    /// An ABI v1 file for function `name` carrying `padding` bytes of data, plus `imports`.
    fn function_file(name: &str, imports: &str, padding: usize) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module {imports}
                (memory (export "memory") 1)
                (data (i32.const 0) "{}")
                (func (export "__wasmod_abi_v1"))
                (func (export "wasmod_alloc") (param i32) (result i32) i32.const 0)
                (func (export "{name}") (param i32 i32) (result i64) i64.const 0))"#,
            "x".repeat(padding)
        ))
        .expect("valid WAT")
    }

    #[test]
    fn parallel_checks_find_what_sequential_checks_find_in_file_order() {
        let names = ["a", "b", "c", "d", "e"];
        let manifest = format!(
            r#"(name: "t/par", version: "1.0.0", functions: {{ {} }})"#,
            names.map(|n| format!(r#""{n}": (implements: "t.run", file: "{n}.wasm")"#)).join(", ")
        );
        let files = [
            function_file("a", "", 30_000),
            b"\0asm garbage".to_vec(),
            function_file("c", r#"(import "wasmod:kv@1" "get" (func (param i32 i32) (result i64)))"#, 30_000),
            function_file("d", "", 30_000),
            Vec::new(),
        ];
        let files = names.iter().zip(files).map(|(n, b)| (format!("{n}.wasm"), b)).collect();
        let package = Package::new(&manifest, files).expect("a valid manifest");
        let policy = HostPolicy::development();
        let contexts = function_files(&package, &policy);
        assert!(
            contexts.iter().map(|(_, b)| b.len()).sum::<usize>() >= PARALLEL_MIN_BYTES,
            "a package that gets threads"
        );

        let parallel = check_files(&contexts, 3);
        assert_eq!(parallel, check_files(&contexts, 1));
        let codes = |i: usize| parallel[i].iter().map(|d| d.code).collect::<Vec<_>>();
        assert!(codes(0).is_empty() && codes(3).is_empty(), "{parallel:?}");
        assert!(codes(1).contains(&Code::InvalidWasm), "{:?}", codes(1));
        assert!(codes(2).contains(&Code::ImportUndeclaredGroup), "{:?}", codes(2));
        assert!(!codes(4).is_empty(), "an empty file is refused");
        assert!(parallel[2].iter().all(|d| d.function.as_deref() == Some("c")));
    }
}
