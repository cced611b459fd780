//! The operations sections: `[monitoring]`, `[alerts]`, `[report]` and `[logs]`.

use super::alert_channels::{self, EmailAlerts, RawEmail, RawTelegram, TelegramAlerts};
use super::WebhookUrl;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// How the bot reports on itself while it runs unattended.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsConfig {
    /// Prometheus text file rewritten after every tick (node_exporter textfile collector).
    pub prom_file: Option<PathBuf>,
    /// A gap between two ticks longer than this during market hours counts as missed ticks.
    pub missed_tick_minutes: u32,
    /// Slack-compatible incoming webhook (`{"text": ...}`); Discord's `/slack` endpoints and
    /// ntfy-style receivers take the same JSON. Its path is a secret: `Debug` hides it.
    pub webhook_url: Option<WebhookUrl>,
    /// An identical alert is not sent again within this many minutes.
    pub alert_repeat_minutes: u32,
    /// `[alerts.email]`: SMTP with STARTTLS; the password is `SMTP_PASSWORD`.
    pub email: Option<EmailAlerts>,
    /// `[alerts.telegram]`: the Bot API's sendMessage; the token is `TELEGRAM_BOT_TOKEN`.
    pub telegram: Option<TelegramAlerts>,
    /// Refresh `logs/dashboard.html` after each tick.
    pub dashboard: bool,
    /// Rotate `prometheus-bot.log` when it grows past this many bytes...
    pub log_max_bytes: u64,
    /// ...keeping this many old files (`.1` newest).
    pub log_keep: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMonitoring {
    pub prom_file: String,
    pub missed_tick_minutes: u32,
}

impl Default for RawMonitoring {
    fn default() -> Self {
        RawMonitoring {
            prom_file: "logs/prometheus-bot.prom".into(),
            missed_tick_minutes: 3,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAlerts {
    pub webhook_url: toml::Spanned<String>,
    pub repeat_minutes: u32,
    pub email: Option<toml::Spanned<RawEmail>>,
    pub telegram: Option<toml::Spanned<RawTelegram>>,
}

impl Default for RawAlerts {
    fn default() -> Self {
        RawAlerts {
            webhook_url: toml::Spanned::new(0..0, String::new()),
            repeat_minutes: 60,
            email: None,
            telegram: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawReport {
    pub dashboard: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLogs {
    pub max_size_mb: f64,
    pub keep: u32,
}

impl Default for RawLogs {
    fn default() -> Self {
        RawLogs {
            max_size_mb: 5.0,
            keep: 5,
        }
    }
}

/// A setting that does not validate: the span of its table, the key, the message.
pub(super) type Refusal = (std::ops::Range<usize>, String, String);

/// `[alerts.email]` and `[alerts.telegram]`, validated.
pub(super) fn channels(
    alerts: &mut RawAlerts,
    dir: &Path,
) -> Result<(Option<EmailAlerts>, Option<TelegramAlerts>), Refusal> {
    let email = match alerts.email.take() {
        None => None,
        Some(raw) => {
            let span = raw.span();
            Some(
                alert_channels::email(raw.into_inner(), dir)
                    .map_err(|(k, m)| (span, format!("alerts.email.{k}"), m))?,
            )
        }
    };
    let telegram = match alerts.telegram.take() {
        None => None,
        Some(raw) => {
            let span = raw.span();
            Some(
                alert_channels::telegram(raw.into_inner())
                    .map_err(|(k, m)| (span, format!("alerts.telegram.{k}"), m))?,
            )
        }
    };
    Ok((email, telegram))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn resolve(
    monitoring: RawMonitoring,
    alerts: RawAlerts,
    webhook_url: Option<WebhookUrl>,
    (email, telegram): (Option<EmailAlerts>, Option<TelegramAlerts>),
    report: RawReport,
    logs: RawLogs,
    dir: &Path,
) -> OpsConfig {
    OpsConfig {
        prom_file: (!monitoring.prom_file.is_empty()).then(|| dir.join(&monitoring.prom_file)),
        missed_tick_minutes: monitoring.missed_tick_minutes.max(1),
        webhook_url,
        alert_repeat_minutes: alerts.repeat_minutes,
        email,
        telegram,
        dashboard: report.dashboard,
        log_max_bytes: (logs.max_size_mb.clamp(0.1, 1024.0) * 1024.0 * 1024.0) as u64,
        log_keep: logs.keep.min(100),
    }
}
