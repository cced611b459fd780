//! Alpaca's answers turned into values or typed errors: a 2xx body parsed, an error status
//! and body classified (JSON `{code, message}`, a gateway's HTML page, an empty body), keys
//! refused told apart from business refusals, the free plan's SIP refusal explained.

use super::wire::ApiError;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;

/// Alpaca's free plan refuses SIP data from the last 15 minutes: 403 "subscription does not
/// permit querying recent SIP data" today, 422 "end is too late for subscription" or "...
/// from the past 15 minutes" in older wordings. Say what to change instead.
pub(super) fn explain_subscription_refusal(e: Error) -> Error {
    match &e {
        Error::Api {
            status: 403 | 422,
            message,
            ..
        } => {
            let m = message.to_ascii_lowercase();
            let refused = m.contains("subscription")
                && (m.contains("sip") || m.contains("15 minutes") || m.contains("too late"));
            if refused {
                return Error::Refused(format!(
                    "Alpaca refused recent SIP data (\"{message}\"): your market-data plan does not include \
                     the last 15 minutes of SIP. Use feed = \"iex\" (or --feed iex), or keep sip with \
                     subscription = \"free\" in [alpaca] so that requests stop 15 minutes ago"
                ));
            }
            e
        }
        _ => e,
    }
}

pub(super) fn parse<T: DeserializeOwned>(endpoint: &str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::BadResponse {
        endpoint: endpoint.to_string(),
        detail: format!("{e} (body starts: {})", snippet(body)),
    })
}

/// Turn an error status and body into an [`Error`]: JSON `{code, message}` when Alpaca sent
/// it, else the start of whatever came back (gateways send HTML).
pub(crate) fn api_error(endpoint: &str, status: u16, body: &str) -> Error {
    let (code, message) = match serde_json::from_str::<ApiError>(body) {
        Ok(ApiError {
            code,
            message: Some(m),
        }) => (code, m),
        _ if body.trim_start().starts_with('<') => {
            (None, format!("an HTML error page ({})", html_title(body)))
        }
        _ if body.trim().is_empty() => (None, "empty body".to_string()),
        _ => (None, snippet(body)),
    };
    let forbidden = status == 403
        && code.is_none()
        && message
            .trim_end_matches('.')
            .eq_ignore_ascii_case("forbidden");
    if status == 401 || forbidden {
        return Error::Auth {
            endpoint: endpoint.to_string(),
            status,
            message,
        };
    }
    Error::Api {
        endpoint: endpoint.to_string(),
        status,
        code,
        message,
    }
}

fn html_title(body: &str) -> String {
    let lower = body.to_ascii_lowercase();
    match (lower.find("<title>"), lower.find("</title>")) {
        (Some(a), Some(b)) if b > a + 7 => body[a + 7..b].trim().to_string(),
        _ => "no title".to_string(),
    }
}

fn snippet(body: &str) -> String {
    let flat: String = body
        .chars()
        .take(160)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().count() > 160 {
        format!("{flat}…")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_classified() {
        let e = api_error("GET /v2/account", 403, r#"{"message":"forbidden."}"#);
        assert!(matches!(e, Error::Auth { status: 403, .. }), "{e:?}");
        let e = api_error(
            "GET /v2/account",
            401,
            r#"{"code":40110000,"message":"request is not authorized"}"#,
        );
        assert!(matches!(e, Error::Auth { status: 401, .. }));
        let e = api_error(
            "POST /v2/orders",
            403,
            r#"{"code":40310000,"message":"insufficient buying power","buying_power":"1"}"#,
        );
        assert!(matches!(
            e,
            Error::Api {
                status: 403,
                code: Some(40310000),
                ..
            }
        ));
        let e = api_error(
            "GET /v2/clock",
            502,
            "<html><head><title>502 Bad Gateway</title></head></html>",
        );
        assert_eq!(
            e.to_string(),
            "Alpaca answered 502 on GET /v2/clock: an HTML error page (502 Bad Gateway)"
        );
        let e = api_error(
            "GET /v2/orders:by_client_order_id",
            404,
            r#"{"code":40410000,"message":"order not found"}"#,
        );
        assert!(e.is_not_found());
        let e = api_error(
            "GET /v2/nope",
            404,
            r#"{"code":40410000,"message":"endpoint not found"}"#,
        );
        assert!(!e.is_not_found());
    }
}
