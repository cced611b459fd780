//! Alpaca's Trading API v2 and Market Data API v2, over blocking HTTPS.
//!
//! Wire types stop here: [`wire`] mirrors Alpaca's JSON, [`client`] turns HTTP outcomes into
//! [`crate::error::Error`] values with the endpoint, status and Alpaca's message.

pub mod client;
pub mod wire;

pub use client::{Alpaca, BarsQuery, OrderRequest};
