//! Where alert messages go: a webhook (JSON, optionally signed), a Slack/Teams-compatible
//! incoming webhook, or email over SMTP.

use secrecy::SecretString;
use serde::Serialize;

use crate::panel::i18n::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// POST of the alert as JSON; `X-Relevo-Signature: sha256=<hex HMAC of the body>` when a
    /// secret is set.
    Webhook,
    /// POST of `{"text": "…"}` (Slack and Microsoft Teams incoming webhooks accept it).
    Slack,
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Webhook, Self::Slack, Self::Email]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on the appliance's own network).
    None,
    /// Plain connection upgraded with STARTTLS (port 587), required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::None => "none",
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::StartTls, Self::Tls]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A channel's settings; secrets are held as [`SecretString`] and never serialised.
#[derive(Debug, Clone)]
pub enum ChannelConfig {
    Webhook {
        url: String,
        secret: Option<SecretString>,
    },
    Slack {
        /// The incoming webhook's URL carries its own token: a secret too.
        url: SecretString,
    },
    Email {
        host: String,
        port: u16,
        security: SmtpSecurity,
        username: Option<String>,
        password: Option<SecretString>,
        from: String,
        to: Vec<String>,
    },
}

impl ChannelConfig {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelConfig::Webhook { .. } => ChannelKind::Webhook,
            ChannelConfig::Slack { .. } => ChannelKind::Slack,
            ChannelConfig::Email { .. } => ChannelKind::Email,
        }
    }
}

/// One configured channel.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    /// The language of its messages.
    pub lang: Lang,
    pub config: ChannelConfig,
}
