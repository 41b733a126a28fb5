//! acme/pricing: quotes orders from a fixed price list, VAT included.

use serde::{Deserialize, Serialize};
use wasmod_sdk::{Json, Result, bail, config, function, log};

/// An order line.
#[derive(Deserialize)]
pub struct Order {
    sku: String,
    quantity: u32,
}

/// A price.
#[derive(Serialize)]
pub struct Quote {
    sku: String,
    quantity: u32,
    unit_cents: u64,
    total_cents: u64,
    currency: String,
}

fn unit_price(sku: &str) -> Option<u64> {
    match sku {
        "tea" => Some(450),
        "coffee" => Some(380),
        "cake" => Some(520),
        _ => None,
    }
}

/// Prices an order.
#[function]
pub fn quote(Json(order): Json<Order>) -> Result<Json<Quote>> {
    let Some(unit) = unit_price(&order.sku) else {
        bail!("unknown sku `{}` (we sell tea, coffee and cake)", order.sku);
    };
    if order.quantity == 0 {
        bail!("quantity must be at least 1");
    }
    let factor: f64 = config::get("vat_factor")?.unwrap_or(1.0);
    let currency: String = config::get("currency")?.unwrap_or_else(|| "EUR".into());
    let net = unit * u64::from(order.quantity);
    Ok(Json(Quote {
        sku: order.sku,
        quantity: order.quantity,
        unit_cents: unit,
        total_cents: (net as f64 * factor).round() as u64,
        currency,
    }))
}

/// Lifecycle hook: checks the VAT rate and derives `vat_factor` from it.
#[function]
pub fn init() -> Result<()> {
    let vat: f64 = config::get("vat_percent")?.unwrap_or(20.0);
    if !(0.0..=100.0).contains(&vat) {
        bail!("vat_percent must be between 0 and 100, got {vat}");
    }
    config::set("vat_factor", 1.0 + vat / 100.0)?;
    log::info!("pricing ready: VAT {vat}%");
    Ok(())
}
