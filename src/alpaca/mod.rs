//! Alpaca's Trading API v2 and Market Data API v2, over blocking HTTPS.
//!
//! Wire types stop here: [`wire`] mirrors Alpaca's JSON; `requests` is what is sent; [`client`]
//! makes the requests (timeouts, retries, the tick's deadline); `answers` turns what comes
//! back into values or [`crate::error::Error`]s with the endpoint, status and Alpaca's message.

mod answers;
pub mod client;
mod requests;
pub mod wire;

#[cfg(test)]
pub(crate) use answers::api_error;
pub use client::Alpaca;
mod port;
