//! The shortest real embedder: an extension point, an embedder group and a typed call.
//! A module from WAT implements `pricing.quote` by asking the host's `acme.rates` group.
//! Run it with `cargo run -p wasmod --example embed`.

#![allow(clippy::print_stdout, reason = "an example program: what it prints is the point")]

use wasmod::{AppConfig, GroupBuilder, Host, Request, SubsystemDef};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The host: one extension point with at most one implementation, and one group of
    // its own whose function takes the guest's bytes and gives bytes back.
    let rates = GroupBuilder::new("acme.rates", 1, "Prices per unit.")
        .bytes("rate", "The price of a SKU (JSON string) in cents (JSON number).", |_cx, sku| {
            Ok(if sku == br#""tea""# { b"250".to_vec() } else { b"0".to_vec() })
        })
        .build();
    let store = tempfile::tempdir()?;
    let host = Host::builder()
        .store(store.path())
        .artifact_key([7; 32])
        .extension_point("pricing.quote", SubsystemDef::new(&["acme.rates"], "SKU in, cents out.").one())
        .custom_group(rates)
        .open()?;

    // A module: `quote` passes its input to `acme.rates.rate` and returns the answer.
    let wasm = wat::parse_str(
        r#"(module
            (import "wasmod:acme.rates@1" "rate" (func $rate (param i32 i32) (result i64)))
            (memory (export "memory") 1)
            (func (export "__wasmod_abi_v1"))
            (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "quote") (param i32 i32) (result i64) (call $rate (local.get 0) (local.get 1))))"#,
    )?;
    let manifest = r#"(name: "acme/pricing", version: "1.0.0",
        functions: { "quote": (implements: "pricing.quote", groups: ["acme.rates"]) })"#;
    let package = wasmod_pack::pack_files(manifest, &[("quote.wasm".to_string(), wasm)].into())?;

    // Install (validated against the policy, compiled), activate, call.
    host.install(&package)?;
    let active = host.activate(&["acme/pricing".parse::<Request>()?], &AppConfig::new())?;
    let pricing = &active.implementations("pricing.quote")[0];
    let cents: u32 = active.call_json(pricing.module.as_str(), &pricing.function, "tea")?;
    println!("{pricing} quotes tea at {cents} cents");
    assert_eq!(cents, 250);
    Ok(())
}
