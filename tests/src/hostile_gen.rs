//! Structured generation of hostile modules for the `host_survives` fuzz target: table
//! growth, allocators and panic readers that call imports, loop, trap or grow memory,
//! host calls in loops, huge allocations, deep recursion and chains of module calls,
//! under small limits. `arbitrary` picks a [`Scenario`]; [`Scenario::packages`] writes
//! it as WAT packages.

use arbitrary::{Arbitrary, Unstructured};

/// Most modules in one chain of `modules.call`s.
pub const MAX_CHAIN: usize = 3;

/// A statement of the entry point (or of a callback); none leaves anything on the stack.
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// `log.write` of `len` bytes at 0 (possibly past memory).
    Log { len: u32 },
    /// `kv.set` of a key of `key` bytes at 0 and a value of `value` bytes at 0.
    KvSet { key: u16, value: u32 },
    /// `kv.get` of a key of `key` bytes (the answer goes through the allocator).
    KvGet { key: u16 },
    /// `kv.list` of every key (the answer goes through the allocator).
    KvList,
    /// `clock.monotonic_nanos`.
    Clock,
    /// `random.fill` of `len` bytes at 128.
    Random { len: u32 },
    /// `modules.call` of the next module of the chain (denied for the last one).
    CallNext,
    /// `memory.grow` by `delta` pages.
    MemoryGrow { delta: u32 },
    /// `table.grow` of the module's table (if it has one).
    TableGrow { delta: u32 },
    /// `memory.fill` of `len` bytes at `at`.
    Fill { at: u32, len: u32 },
    /// A store of a byte.
    Store { at: u32, value: u8 },
    /// Recursion `depth` deep.
    Recurse { depth: u32 },
    /// `unreachable`.
    Trap,
    /// `times` iterations of a simple statement (`u32::MAX`: for ever, in effect).
    Loop { times: u32, body: Simple },
}

/// What a loop repeats (no nested loops).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Simple {
    /// `log.write` of 16 bytes.
    Log,
    /// `kv.set` of a 4-byte key (the counter) and a value of `value` bytes.
    KvSet { value: u32 },
    /// `kv.list` (through the allocator).
    KvList,
    /// `memory.grow` by one page.
    MemoryGrow,
    /// `table.grow` by `delta`.
    TableGrow { delta: u32 },
    /// `modules.call` of the next module.
    CallNext,
    /// A `nop`: the loop only counts down, burning fuel and time.
    Spin,
}

/// The module's `wasmod_alloc`.
#[derive(Debug, Clone, Arbitrary)]
pub enum Alloc {
    /// Bumps a heap pointer that starts at 4096 by the length asked for; never frees.
    Bump,
    /// Always the same address (perhaps outside memory).
    Fixed(u32),
    /// Does `op` first, then bumps.
    Calls(Op),
    /// Grows memory by the length asked for, then bumps.
    Grows,
    /// Traps (`unreachable`) on every call.
    Traps,
    /// Loops for ever: only the fuel or the deadline stops it.
    Spins,
}

/// The module's `__wasmod_panic_message`, if any.
#[derive(Debug, Clone, Arbitrary)]
pub enum PanicReader {
    /// Not exported: the runtime has no panic message to read.
    None,
    /// Returns a region (perhaps bogus).
    Region { ptr: u32, len: u32 },
    /// Does `op`, then returns an empty region.
    Calls(Op),
    /// Fills a megabyte of memory for ever.
    Fills,
}

/// One generated module: a function `run` and its callbacks.
#[derive(Debug, Clone, Arbitrary)]
pub struct Module {
    /// Initial memory pages (taken modulo 5).
    pub pages: u8,
    /// A table: initial size, and a maximum (`None`: none declared).
    pub table: Option<(u8, Option<u32>)>,
    /// How its `wasmod_alloc` behaves.
    pub alloc: Alloc,
    /// Its `__wasmod_panic_message` export, if any.
    pub panic: PanicReader,
    /// The entry's statements (at most 8 are used).
    pub body: Vec<Op>,
    /// What the entry returns: a region, flagged as an error or not.
    pub result: (u32, u32, bool),
}

/// A chain of modules (the first calls the second, and so on) and the call's limits.
#[derive(Debug, Clone, Arbitrary)]
pub struct Scenario {
    /// The modules; at least one, at most [`MAX_CHAIN`] are used.
    pub chain: (Module, Vec<Module>),
    /// The call's input.
    pub input: Vec<u8>,
    /// Fuel, memory pages, timeout in ms, table elements, depth (each brought in range).
    pub limits: (u32, u8, u8, u32, u8),
}

impl Scenario {
    /// A scenario from fuzz bytes.
    pub fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Scenario> {
        Scenario::arbitrary(u)
    }

    /// The modules of the chain, first to last.
    pub fn modules(&self) -> Vec<&Module> {
        std::iter::once(&self.chain.0).chain(self.chain.1.iter()).take(MAX_CHAIN).collect()
    }

    /// The call's limits: fuel 1,000 to about 4 million, 1 to 64 pages, 5 to 260 ms,
    /// 1 to 100,000 table elements, depth 0 to 7.
    pub fn limits(&self) -> wasmod_runtime::CallLimits {
        let (fuel, pages, ms, table, depth) = self.limits;
        wasmod_runtime::CallLimits {
            fuel: 1_000 + u64::from(fuel % 4_000_000),
            memory_pages: 1 + u32::from(pages % 64),
            timeout: std::time::Duration::from_millis(5 + u64::from(ms)),
            table_elements: 1 + table % 100_000,
            max_depth: u32::from(depth % 8),
            ..wasmod_runtime::CallLimits::default()
        }
    }

    /// The packages of the chain, first to last: module `fuzz/c<i>` at `version`, each
    /// depending on the next.
    pub fn packages(&self, version: &str) -> Vec<Vec<u8>> {
        let modules = self.modules();
        (0..modules.len())
            .map(|i| {
                let next = (i + 1 < modules.len()).then(|| format!("fuzz/c{}", i + 1));
                let dependency = next.as_ref().map(|n| format!(r#"dependencies: {{ "{n}": "={version}" }},"#));
                let manifest = format!(
                    r#"(name: "fuzz/c{i}", version: "{version}", {} functions: {{ "run": (implements: "fuzz.run", groups: ["log", "kv", "clock", "random", "modules"]) }})"#,
                    dependency.unwrap_or_default()
                );
                let wat = modules[i].wat(next.as_deref().unwrap_or("fuzz/none"));
                let wasm = wat::parse_str(&wat).unwrap_or_else(|e| panic!("generated WAT does not parse: {e}\n{wat}"));
                crate::package_from_files(&manifest, &[("run.wasm", wasm)])
            })
            .collect()
    }
}

fn op(statement: &Op, has_table: bool) -> String {
    match statement {
        Op::Log { len } => format!("(call $log (i32.const 2) (i32.const 0) (i32.const {}))", len % 70_000),
        Op::KvSet { key, value } => format!(
            "(drop (call $kv_set (i32.const 0) (i32.const {}) (i32.const 0) (i32.const {})))",
            key % 1100,
            value % (1 << 21)
        ),
        Op::KvGet { key } => format!("(drop (call $kv_get (i32.const 0) (i32.const {})))", key % 1100),
        Op::KvList => "(drop (call $kv_list (i32.const 0) (i32.const 0)))".into(),
        Op::Clock => "(drop (call $clock))".into(),
        Op::Random { len } => format!("(drop (call $random (i32.const 128) (i32.const {})))", len % (1 << 21)),
        Op::CallNext => {
            "(drop (call $call (i32.const 0) (global.get $next_len) (i32.const 64) (i32.const 3) (i32.const 0) (i32.const 0)))"
                .into()
        }
        Op::MemoryGrow { delta } => format!("(drop (memory.grow (i32.const {delta})))"),
        Op::TableGrow { delta } if has_table => format!("(drop (table.grow $t (ref.null func) (i32.const {delta})))"),
        Op::TableGrow { .. } => "(nop)".into(),
        Op::Fill { at, len } => format!("(memory.fill (i32.const {at}) (i32.const 7) (i32.const {}))", len % (1 << 22)),
        Op::Store { at, value } => format!("(i32.store8 (i32.const {at}) (i32.const {value}))"),
        Op::Recurse { depth } => format!("(drop (call $rec (i32.const {depth})))"),
        Op::Trap => "(unreachable)".into(),
        Op::Loop { times, body } => {
            let body = match body {
                Simple::Log => "(call $log (i32.const 2) (i32.const 0) (i32.const 16))".to_string(),
                Simple::KvSet { value } => format!(
                    "(i32.store (i32.const 0) (local.get $i)) (drop (call $kv_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const {})))",
                    value % (1 << 21)
                ),
                Simple::KvList => "(drop (call $kv_list (i32.const 0) (i32.const 0)))".into(),
                Simple::MemoryGrow => "(drop (memory.grow (i32.const 1)))".into(),
                Simple::TableGrow { delta } if has_table => {
                    format!("(drop (table.grow $t (ref.null func) (i32.const {delta})))")
                }
                Simple::TableGrow { .. } | Simple::Spin => "(nop)".into(),
                Simple::CallNext => op(&Op::CallNext, has_table),
            };
            format!(
                "(local.set $i (i32.const {times})) (block $done (loop $l (br_if $done (i32.eqz (local.get $i))) {body} (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br $l)))"
            )
        }
    }
}

impl Module {
    /// The module as WAT; `next` is the name of the module its `modules.call`s go to.
    pub fn wat(&self, next: &str) -> String {
        let has_table = self.table.is_some();
        let table = match self.table {
            Some((initial, Some(max))) => format!("(table $t {initial} {} funcref)", max.max(u32::from(initial))),
            Some((initial, None)) => format!("(table $t {initial} funcref)"),
            None => String::new(),
        };
        let alloc = match &self.alloc {
            Alloc::Bump => BUMP.to_string(),
            Alloc::Fixed(at) => format!("(i32.const {at})"),
            Alloc::Calls(o) => format!("{} {BUMP}", op(o, has_table)),
            Alloc::Grows => format!(
                "(drop (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16)) (i32.const 1)))) {BUMP}"
            ),
            Alloc::Traps => "(unreachable)".into(),
            Alloc::Spins => "(loop $l (br $l)) (i32.const 0)".into(),
        };
        let panic = match &self.panic {
            PanicReader::None => String::new(),
            PanicReader::Region { ptr, len } => {
                format!(
                    r#"(func (export "__wasmod_panic_message") (result i64) (i64.const {}))"#,
                    pack(*ptr, *len, false)
                )
            }
            PanicReader::Calls(o) => format!(
                r#"(func (export "__wasmod_panic_message") (result i64) (local $i i32) {} (i64.const 0))"#,
                op(o, has_table)
            ),
            PanicReader::Fills => r#"(func (export "__wasmod_panic_message") (result i64)
                (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x100000)) (br $l)) (i64.const 0))"#
                .into(),
        };
        let body: Vec<String> = self.body.iter().take(8).map(|o| op(o, has_table)).collect();
        let (ptr, len, is_err) = self.result;
        format!(
            r#"(module
  (import "wasmod:log@1" "write" (func $log (param i32 i32 i32)))
  (import "wasmod:kv@1" "get" (func $kv_get (param i32 i32) (result i64)))
  (import "wasmod:kv@1" "set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "wasmod:kv@1" "list" (func $kv_list (param i32 i32) (result i64)))
  (import "wasmod:clock@1" "monotonic_nanos" (func $clock (result i64)))
  (import "wasmod:random@1" "fill" (func $random (param i32 i32) (result i32)))
  (import "wasmod:modules@1" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i64)))
  (memory (export "memory") {pages})
  {table}
  (data (i32.const 0) "{next}")
  (data (i32.const 64) "run")
  (global $heap (mut i32) (i32.const 4096))
  (global $next_len i32 (i32.const {next_len}))
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param $len i32) (result i32) (local $i i32) {alloc})
  {panic}
  (func $rec (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
      (else (i32.add (call $rec (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
  (func (export "run") (param i32 i32) (result i64) (local $i i32)
    {body}
    (i64.const {result})))"#,
            pages = 1 + self.pages % 5,
            next_len = next.len(),
            body = body.join("\n    "),
            result = pack(ptr % (1 << 20), len % (1 << 16), is_err),
        )
    }
}

const BUMP: &str = "(global.get $heap) (global.set $heap (i32.add (global.get $heap) (local.get $len)))";

/// An entry result word: a region, with the error bit.
fn pack(ptr: u32, len: u32, is_err: bool) -> i64 {
    let word = (u64::from(len.min(i32::MAX as u32)) << 32 | u64::from(ptr)) as i64;
    if is_err { word | i64::MIN } else { word }
}
