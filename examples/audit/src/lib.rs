//! acme/audit: an append-only log of business events, kept in the module's own `kv`
//! namespace. Other modules call `record`; operators read `recent`.

use serde::{Deserialize, Serialize};
use wasmod_sdk::{Json, Result, clock, config, function, kv, log};

/// What a caller records.
#[derive(Deserialize)]
pub struct Entry {
    actor: String,
    action: String,
    detail: String,
}

/// What is stored.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    seq: u64,
    at_unix_ms: i64,
    actor: String,
    action: String,
    detail: String,
}

/// Appends an entry; returns its sequence number.
#[function]
pub fn record(Json(entry): Json<Entry>) -> Result<Json<u64>> {
    let seq = kv::get_value::<u64>("seq")?.unwrap_or(0) + 1;
    let stored = Stored {
        seq,
        at_unix_ms: clock::now_unix_nanos() / 1_000_000,
        actor: entry.actor,
        action: entry.action,
        detail: entry.detail,
    };
    kv::set(format!("entry/{seq:010}"), serde_json::to_vec(&stored)?)?;
    kv::set_value("seq", &seq)?;
    log::info!("audit #{seq}: {} {}", stored.actor, stored.action);
    Ok(Json(seq))
}

/// The last ten entries, oldest first.
#[function]
pub fn recent() -> Result<Json<Vec<Stored>>> {
    let keys = kv::list("entry/")?;
    let mut out = Vec::new();
    for key in keys.iter().rev().take(10).rev() {
        if let Some(bytes) = kv::get(key)? {
            out.push(serde_json::from_slice(&bytes)?);
        }
    }
    Ok(Json(out))
}

/// Lifecycle hook: reports the retention it runs with.
#[function]
pub fn init() -> Result<()> {
    let days: i64 = config::get("retention_days")?.unwrap_or(30);
    log::info!("audit log ready, retention {days} days");
    Ok(())
}
