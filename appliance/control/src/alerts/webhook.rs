//! Webhook deliveries: a POST of the message's JSON body, signed when the channel has a
//! secret (`X-Relevo-Signature: sha256=<hex HMAC-SHA256 of the body>`, with the send time in
//! `X-Relevo-Timestamp`, Unix seconds), or `{"text": …}` for Slack/Teams incoming webhooks.
//! Redirects are not followed (a moved hook is an error to fix, and a redirect could carry
//! the message elsewhere); the request gives up after [`TIMEOUT`].

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The longest a webhook may take to answer: receivers answer at once (Slack's own limit
/// for its hooks is 3 s); longer is a dead receiver.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Relevo-Signature";
/// The send time header (Unix seconds), so a receiver can refuse old replays.
pub const TIMESTAMP_HEADER: &str = "X-Relevo-Timestamp";

/// The HTTP client of every webhook (one connection pool).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("relevo/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// `sha256=<hex>` of the body with the secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    format!(
        "sha256={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

/// POSTs `body` (JSON) to `url`; any answer but 2xx is an error. The error text never
/// holds the URL (a Slack URL is a secret).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    secret: Option<&SecretString>,
) -> Result<(), String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, now.to_string());
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, signature(secret.expose_secret(), &body));
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| describe(e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered HTTP {status}"))
    }
}

/// A reqwest error with its causes (reqwest's own text is only the outermost).
fn describe(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 §4.3, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
