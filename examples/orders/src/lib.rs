//! acme/orders: places orders. It never sees prices or the audit log directly: it calls
//! its two dependencies through the host, each in its own instance with its own grants.

use serde::{Deserialize, Serialize};
use wasmod_sdk::{Json, Result, config, function, kv, log, modules};

/// An order from a customer.
#[derive(Serialize, Deserialize)]
pub struct Order {
    sku: String,
    quantity: u32,
}

/// What acme/pricing answers.
#[derive(Serialize, Deserialize)]
pub struct Quote {
    sku: String,
    quantity: u32,
    unit_cents: u64,
    total_cents: u64,
    currency: String,
}

/// What the customer gets back.
#[derive(Serialize, Deserialize)]
pub struct Receipt {
    order: u64,
    quote: Quote,
    audit_entry: u64,
}

/// Places an order: price it, store it, audit it.
#[function]
pub fn place(Json(order): Json<Order>) -> Result<Json<Receipt>> {
    let quote: Quote = serde_json::from_slice(&modules::call("acme/pricing", "quote", &serde_json::to_vec(&order)?)?)?;
    let id = kv::get_value::<u64>("next_order")?.unwrap_or(1);
    kv::set_value("next_order", &(id + 1))?;
    let entry = serde_json::json!({
        "actor": "acme/orders",
        "action": "order.placed",
        "detail": format!("order {id}: {} x {} = {} {}", quote.quantity, quote.sku, quote.total_cents, quote.currency),
    });
    let audit_entry: u64 = serde_json::from_slice(&modules::call("acme/audit", "record", &serde_json::to_vec(&entry)?)?)?;
    let receipt = Receipt { order: id, quote, audit_entry };
    kv::set(format!("order/{id:010}"), serde_json::to_vec(&receipt)?)?;
    log::info!("placed order {id}");
    Ok(Json(receipt))
}

/// Every order placed so far.
#[function]
pub fn history() -> Result<Json<Vec<Receipt>>> {
    let mut out = Vec::new();
    for key in kv::list("order/")? {
        if let Some(bytes) = kv::get(&key)? {
            out.push(serde_json::from_slice(&bytes)?);
        }
    }
    Ok(Json(out))
}

/// Lifecycle hook: reads a dependency's config (allowed: acme/pricing is a dependency).
#[function]
pub fn init() -> Result<()> {
    let currency: String = config::get_from("acme/pricing", "currency")?.unwrap_or_default();
    log::info!("orders ready, prices in {currency}");
    Ok(())
}
