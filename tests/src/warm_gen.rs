//! A generator of guests that change every kind of state a warm instance must reset, for
//! the `warm_reset` fuzz target: memory (stores, `memory.grow`, `memory.fill`,
//! `memory.copy`, `memory.init` from a passive segment), globals of every numeric type,
//! traps mid-way. Each step is guarded by one byte of the call's input, so the calls of
//! one module take different paths; loads fold what they find into the result, so state
//! left by an earlier call shows in the output.

use arbitrary::{Arbitrary, Result, Unstructured};

/// Globals of these types are declared (mutable, with generated initial values).
const GLOBAL_TYPES: [&str; 5] = ["i32", "i64", "f32", "f64", "v128"];

/// One step of the guest.
#[derive(Debug, Clone, Arbitrary)]
enum Step {
    Store { addr: u32, value: u64, width: u8 },
    Load { addr: u32 },
    SetGlobal { global: u8, value: u64 },
    ReadGlobal { global: u8 },
    Grow { pages: u8 },
    Size,
    Fill { addr: u32, value: u8, len: u16 },
    Copy { to: u32, from: u32, len: u16 },
    Init { addr: u32, len: u8 },
    Trap,
    Spin { iterations: u16 },
}

/// A generated module: WAT text with an entry `run`, and how many input bytes it reads.
#[derive(Debug)]
pub struct Generated {
    /// The module's WAT text, for `wat::parse_str`.
    pub wat: String,
    /// The steps (one input byte each guards them).
    pub steps: usize,
}

/// Addresses inside the initial memory, a few past it (which trap unless a step grew
/// the memory first).
fn addr(a: u32, pages: u32) -> u32 {
    if a.is_multiple_of(16) { pages * 65536 + a % 65536 } else { a % (pages * 65536 - 8) }
}

/// Generates a module from `u`.
pub fn module(u: &mut Unstructured<'_>) -> Result<Generated> {
    let pages = u.int_in_range(1..=3u32)?;
    let max = pages + u.int_in_range(0..=4u32)?;
    let mut wat = String::from("(module\n");
    wat.push_str(&format!("  (memory (export \"memory\") {pages} {max})\n"));
    for _ in 0..u.int_in_range(0..=3)? {
        let at = u.int_in_range(0..=pages * 65536 - 16)?;
        let bytes: [u8; 12] = u.arbitrary()?;
        let text: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        wat.push_str(&format!("  (data (i32.const {at}) \"{text}\")\n"));
    }
    wat.push_str("  (data $passive \"passive-segment-bytes\")\n");
    for (i, ty) in GLOBAL_TYPES.iter().enumerate() {
        let v: u64 = u.arbitrary()?;
        let init = match *ty {
            "i32" => format!("(i32.const {})", v as i32),
            "i64" => format!("(i64.const {})", v as i64),
            "f32" => format!("(f32.const {})", (v % 1000) as f32 / 8.0),
            "f64" => format!("(f64.const {})", (v % 100_000) as f64 / 16.0),
            _ => format!("(v128.const i64x2 {} {})", v as i64, !v as i64),
        };
        wat.push_str(&format!("  (global $g{i} (mut {ty}) {init})\n"));
    }
    wat.push_str(
        "  (func (export \"__wasmod_abi_v1\"))\n\
         (func (export \"wasmod_alloc\") (param i32) (result i32) i32.const 16)\n\
         (func (export \"run\") (param $p i32) (param $l i32) (result i64)\n\
         (local $acc i64) (local $i i32)\n",
    );
    let steps: Vec<Step> = (0..u.int_in_range(1..=24)?).map(|_| u.arbitrary()).collect::<Result<_>>()?;
    for (k, step) in steps.iter().enumerate() {
        let body = match step {
            Step::Store { addr: a, value, width } => {
                let a = addr(*a, pages);
                match width % 4 {
                    0 => format!("(i32.store8 (i32.const {a}) (i32.const {}))", *value as u8),
                    1 => format!("(i32.store16 (i32.const {a}) (i32.const {}))", *value as u16),
                    2 => format!("(i32.store (i32.const {a}) (i32.const {}))", *value as i32),
                    _ => format!("(i64.store (i32.const {a}) (i64.const {}))", *value as i64),
                }
            }
            Step::Load { addr: a } => format!(
                "(local.set $acc (i64.add (i64.rotl (local.get $acc) (i64.const 7)) (i64.load (i32.const {}))))",
                addr(*a, pages)
            ),
            Step::SetGlobal { global, value } => {
                let g = *global as usize % GLOBAL_TYPES.len();
                let v = match GLOBAL_TYPES[g] {
                    "i32" => format!("(i32.const {})", *value as i32),
                    "i64" => format!("(i64.const {})", *value as i64),
                    "f32" => format!("(f32.const {})", (*value % 997) as f32),
                    "f64" => format!("(f64.const {})", (*value % 99_991) as f64),
                    _ => format!("(v128.const i64x2 {} 0)", *value as i64),
                };
                format!("(global.set $g{g} {v})")
            }
            Step::ReadGlobal { global } => {
                let g = *global as usize % GLOBAL_TYPES.len();
                let as_i64 = match GLOBAL_TYPES[g] {
                    "i32" => format!("(i64.extend_i32_u (global.get $g{g}))"),
                    "i64" => format!("(global.get $g{g})"),
                    "f32" => format!("(i64.extend_i32_u (i32.reinterpret_f32 (global.get $g{g})))"),
                    "f64" => format!("(i64.reinterpret_f64 (global.get $g{g}))"),
                    _ => format!("(i64x2.extract_lane 0 (global.get $g{g}))"),
                };
                format!("(local.set $acc (i64.xor (i64.mul (local.get $acc) (i64.const 31)) {as_i64}))")
            }
            Step::Grow { pages } => format!(
                "(local.set $acc (i64.add (local.get $acc) (i64.extend_i32_s (memory.grow (i32.const {})))))",
                pages % 3
            ),
            Step::Size => "(local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (memory.size))))".into(),
            Step::Fill { addr: a, value, len } => {
                format!("(memory.fill (i32.const {}) (i32.const {value}) (i32.const {}))", addr(*a, pages), len % 5000)
            }
            Step::Copy { to, from, len } => format!(
                "(memory.copy (i32.const {}) (i32.const {}) (i32.const {}))",
                addr(*to, pages),
                addr(*from, pages),
                len % 5000
            ),
            Step::Init { addr: a, len } => {
                format!("(memory.init $passive (i32.const {}) (i32.const 0) (i32.const {}))", addr(*a, pages), len % 22)
            }
            Step::Trap => "unreachable".into(),
            Step::Spin { iterations } => format!(
                "(local.set $i (i32.const 0)) (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) \
                 (i32.const 1))) (i32.const {iterations}))))"
            ),
        };
        // Step k runs when input byte k is odd (and the input is long enough).
        wat.push_str(&format!(
            "    (if (i32.and (i32.gt_u (local.get $l) (i32.const {k})) (i32.and (i32.load8_u offset={k} \
             (local.get $p)) (i32.const 1))) (then {body}))\n"
        ));
    }
    // The result: the folded loads, at a fixed place, 8 bytes.
    wat.push_str("    (i64.store (i32.const 8) (local.get $acc))\n    (i64.const 0x8_0000_0008)))\n");
    Ok(Generated { wat, steps: steps.len() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_modules_are_valid_wat() {
        for seed in 0..50u8 {
            let data: Vec<u8> = (0..600u32).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect();
            let g = super::module(&mut arbitrary::Unstructured::new(&data)).unwrap();
            wat::parse_str(&g.wat).unwrap_or_else(|e| panic!("{e}\n{}", g.wat));
        }
    }
}
