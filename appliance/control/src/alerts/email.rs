//! Email deliveries over SMTP (lettre): plain, STARTTLS (required: a server that does not
//! offer it is an error, never a silent downgrade) or TLS from the first byte; AUTH when a
//! username is set. The message is plain text: its first line is the subject.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::SmtpSecurity;

/// The longest one SMTP command may take (lettre's own default is 60 s; a relay answers in
/// well under a second).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The whole conversation's bound: connection, TLS, AUTH and the message, each within
/// [`TIMEOUT`], say six of them.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Where and how to send.
#[derive(Debug)]
pub struct Smtp<'a> {
    pub host: &'a str,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<&'a str>,
    pub password: Option<&'a SecretString>,
    pub from: &'a str,
    pub to: &'a [String],
}

/// Sends `text` (its first line as the subject) to every recipient.
pub async fn send(smtp: &Smtp<'_>, text: &str) -> Result<(), String> {
    let subject = text.lines().next().unwrap_or_default();
    let mut builder = Message::builder()
        .from(mailbox(smtp.from)?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in smtp.to {
        builder = builder.to(mailbox(to)?);
    }
    let message = builder
        .body(text.to_owned())
        .map_err(|e| format!("building the email: {e}"))?;
    let tls = match smtp.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::StartTls => Tls::Required(tls_parameters(smtp.host)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(smtp.host)?),
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host)
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(TIMEOUT));
    if let Some(user) = smtp.username {
        let password = smtp.password.map(|p| p.expose_secret().to_owned());
        transport = transport.credentials(Credentials::new(
            user.to_owned(),
            password.unwrap_or_default(),
        ));
    }
    let transport = transport.build();
    match tokio::time::timeout(TOTAL_TIMEOUT, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "SMTP {}:{}: {}",
            smtp.host,
            smtp.port,
            describe(&e)
        )),
        Err(_) => Err(format!(
            "SMTP {}:{}: no answer within {} s",
            smtp.host,
            smtp.port,
            TOTAL_TIMEOUT.as_secs()
        )),
    }
}

fn mailbox(address: &str) -> Result<Mailbox, String> {
    address
        .parse()
        .map_err(|e| format!("bad email address {address:?}: {e}"))
}

fn tls_parameters(host: &str) -> Result<TlsParameters, String> {
    TlsParameters::new(host.to_owned()).map_err(|e| format!("TLS for {host}: {e}"))
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
