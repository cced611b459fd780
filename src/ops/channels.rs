//! The alert channels of the config, ready to deliver: the webhook, email and Telegram, each
//! with its secret read from the environment or `.env` (never from the config file).
//!
//! A channel that cannot be set up (its secret missing, a `ca_file` unreadable) is left out
//! with a warning naming what to fix: alerts never fail a tick.

use super::alerts::{Deliver, Webhook};
use super::email::Email;
use super::telegram::Telegram;
use crate::config::OpsConfig;
use crate::credentials::{self, SMTP_PASSWORD_VAR, TELEGRAM_TOKEN_VAR};
use std::path::Path;

/// Every configured channel that could be set up, in a fixed order: webhook, email, Telegram.
pub fn configured(ops: &OpsConfig, env_file: &Path) -> Vec<Box<dyn Deliver>> {
    let mut out: Vec<Box<dyn Deliver>> = Vec::new();
    if let Some(url) = &ops.webhook_url {
        out.push(Box::new(Webhook::new(url)));
    }
    let secret = |name: &str| match credentials::find_secret(env_file, name) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cannot read {name}: {e}");
            None
        }
    };
    if let Some(email) = &ops.email {
        let password = email
            .username
            .as_ref()
            .and_then(|_| secret(SMTP_PASSWORD_VAR));
        match Email::new(email, password) {
            Ok(e) => out.push(Box::new(e)),
            Err(why) => log::warn!("email alerts are off: {why}"),
        }
    }
    if let Some(telegram) = &ops.telegram {
        match secret(TELEGRAM_TOKEN_VAR) {
            Some(token) => out.push(Box::new(Telegram::new(telegram, &token))),
            None => log::warn!(
                "Telegram alerts are off: {TELEGRAM_TOKEN_VAR} is not set in the environment or {}",
                env_file.display()
            ),
        }
    }
    out
}
