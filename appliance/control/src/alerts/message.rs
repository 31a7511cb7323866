//! The words of an alert message, in the channel's language (Spanish by default, English):
//! the appliance's name, the rule, the flow, what happened with its value and threshold,
//! the time (UTC, RFC 3339) and a link to the flow's history page when the panel's address
//! is set. [`AlertMessage::payload`] is the webhook's JSON body; its `text` is what Slack,
//! Teams and email show (its first line is the email's subject).

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Condition;
use crate::panel::i18n::Lang;

/// What a message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageEvent {
    Started,
    Resolved,
    /// The "send test" button.
    Test,
}

impl MessageEvent {
    /// The webhook's `event` field (and the flow event's kind).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageEvent::Started => "alert.started",
            MessageEvent::Resolved => "alert.resolved",
            MessageEvent::Test => "test",
        }
    }
}

/// One message, before it is put in a channel's language.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertMessage {
    pub event: MessageEvent,
    /// The rule's name (empty for a test).
    pub rule: String,
    pub condition: Option<Condition>,
    /// `None` for the appliance as a whole (disk, certificate) and tests.
    pub input: Option<String>,
    pub output: Option<String>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub at: OffsetDateTime,
    /// The product name of the branding.
    pub appliance: String,
    /// The panel's address (`AlertSettings::panel_url`).
    pub panel_url: Option<String>,
    /// A start told at the end of the repeat window for an alert that went on.
    pub still: bool,
}

impl AlertMessage {
    /// The flow's history page, when the panel's address is known and there is a flow.
    pub fn url(&self) -> Option<String> {
        let base = self.panel_url.as_deref()?.trim_end_matches('/');
        let input = self.input.as_deref()?;
        Some(format!("{base}/history/{}", path_segment(input)))
    }

    /// The message's text: a title line, what happened, the time, the link.
    pub fn text(&self, lang: Lang) -> String {
        let at = self.at.format(&Rfc3339).unwrap_or_default();
        let mut lines = vec![self.title(lang), self.what(lang)];
        lines.push(match lang {
            Lang::Es => format!("Hora: {at}"),
            Lang::En => format!("Time: {at}"),
        });
        lines.extend(self.url());
        lines.join("\n")
    }

    /// The webhook's JSON body (no secret in it).
    pub fn payload(&self, lang: Lang) -> serde_json::Value {
        json!({
            "event": self.event.as_str(),
            "rule": self.rule,
            "condition": self.condition.map(Condition::as_str),
            "input": self.input,
            "output": self.output,
            "value": self.value,
            "threshold": self.threshold,
            "at": self.at.format(&Rfc3339).unwrap_or_default(),
            "appliance": self.appliance,
            "text": self.text(lang),
            "url": self.url(),
        })
    }

    fn title(&self, lang: Lang) -> String {
        let name = &self.appliance;
        let rule = &self.rule;
        match (self.event, lang, self.still) {
            (MessageEvent::Started, Lang::Es, false) => format!("{name}: ALERTA — {rule}"),
            (MessageEvent::Started, Lang::Es, true) => {
                format!("{name}: ALERTA (continúa) — {rule}")
            }
            (MessageEvent::Started, Lang::En, false) => format!("{name}: ALERT — {rule}"),
            (MessageEvent::Started, Lang::En, true) => format!("{name}: ALERT (still) — {rule}"),
            (MessageEvent::Resolved, Lang::Es, _) => format!("{name}: RESUELTA — {rule}"),
            (MessageEvent::Resolved, Lang::En, _) => format!("{name}: RESOLVED — {rule}"),
            (MessageEvent::Test, Lang::Es, _) => format!("{name}: mensaje de prueba"),
            (MessageEvent::Test, Lang::En, _) => format!("{name}: test message"),
        }
    }

    fn what(&self, lang: Lang) -> String {
        let Some(condition) = self.condition else {
            return match lang {
                Lang::Es => "Este canal de alertas funciona.".to_owned(),
                Lang::En => "This alert channel works.".to_owned(),
            };
        };
        let input = self.input.as_deref().unwrap_or_default();
        let v = number(self.value, lang);
        let t = number(self.threshold, lang);
        let started = self.event != MessageEvent::Resolved;
        match lang {
            Lang::Es => {
                let flow = match &self.output {
                    Some(o) => format!("la salida «{o}» de la entrada «{input}»"),
                    None => format!("la entrada «{input}»"),
                };
                match (condition, started) {
                    (Condition::InputDown, true) => format!("La entrada «{input}» no está en directo."),
                    (Condition::InputDown, false) => {
                        format!("La entrada «{input}» vuelve a estar en directo.")
                    }
                    (Condition::OutputFailing, true) => {
                        format!("Falla o está atascada {flow}.")
                    }
                    (Condition::OutputFailing, false) => format!("Vuelve a funcionar {flow}."),
                    (Condition::LowBitrate, true) => format!(
                        "La tasa de bits de la entrada «{input}» es de {v} kbit/s, por debajo de {t} kbit/s."
                    ),
                    (Condition::LowBitrate, false) => format!(
                        "La tasa de bits de la entrada «{input}» vuelve a superar {t} kbit/s."
                    ),
                    (Condition::SrtLoss, true) => {
                        format!("La pérdida de paquetes SRT de {flow} es del {v} %, por encima del {t} %.")
                    }
                    (Condition::SrtLoss, false) => {
                        format!("La pérdida de paquetes SRT de {flow} vuelve a estar por debajo del {t} %.")
                    }
                    (Condition::DiskLow, true) => format!(
                        "El disco de las grabaciones tiene un {v} % libre, por debajo del {t} %."
                    ),
                    (Condition::DiskLow, false) => {
                        format!("El disco de las grabaciones vuelve a tener más del {t} % libre.")
                    }
                    (Condition::CertExpiry, true) => format!(
                        "Un certificado caduca en {v} días (aviso por debajo de {t} días)."
                    ),
                    (Condition::CertExpiry, false) => {
                        format!("Los certificados caducan en más de {t} días.")
                    }
                }
            }
            Lang::En => {
                let flow = match &self.output {
                    Some(o) => format!("output “{o}” of input “{input}”"),
                    None => format!("input “{input}”"),
                };
                match (condition, started) {
                    (Condition::InputDown, true) => format!("Input “{input}” is not live."),
                    (Condition::InputDown, false) => format!("Input “{input}” is live again."),
                    (Condition::OutputFailing, true) => {
                        format!("The {flow} is failing or stalled.")
                    }
                    (Condition::OutputFailing, false) => format!("The {flow} works again."),
                    (Condition::LowBitrate, true) => {
                        format!("The bit rate of input “{input}” is {v} kbit/s, below {t} kbit/s.")
                    }
                    (Condition::LowBitrate, false) => {
                        format!("The bit rate of input “{input}” is above {t} kbit/s again.")
                    }
                    (Condition::SrtLoss, true) => {
                        format!("SRT packet loss of the {flow} is {v} %, above {t} %.")
                    }
                    (Condition::SrtLoss, false) => {
                        format!("SRT packet loss of the {flow} is below {t} % again.")
                    }
                    (Condition::DiskLow, true) => {
                        format!("The recordings disk has {v} % free, below {t} %.")
                    }
                    (Condition::DiskLow, false) => {
                        format!("The recordings disk has more than {t} % free again.")
                    }
                    (Condition::CertExpiry, true) => {
                        format!("A certificate expires in {v} days (warning below {t} days).")
                    }
                    (Condition::CertExpiry, false) => {
                        format!("The certificates expire in more than {t} days.")
                    }
                }
            }
        }
    }
}

/// A figure with at most one decimal, with the language's decimal mark; "?" when unknown.
fn number(value: Option<f64>, lang: Lang) -> String {
    let Some(v) = value else {
        return "?".to_owned();
    };
    let s = format!("{v:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s).to_owned();
    match lang {
        Lang::Es => s.replace('.', ","),
        Lang::En => s,
    }
}

/// An input name as one URL path segment (names may hold spaces and accents).
fn path_segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event: MessageEvent) -> AlertMessage {
        AlertMessage {
            event,
            rule: "Estudio caído".to_owned(),
            condition: Some(Condition::LowBitrate),
            input: Some("estudio a".to_owned()),
            output: None,
            value: Some(812.46),
            threshold: Some(1500.0),
            at: OffsetDateTime::from_unix_timestamp(1_796_000_000).expect("time"),
            appliance: "Relevo Norte".to_owned(),
            panel_url: Some("https://relay.example.com/".to_owned()),
            still: false,
        }
    }

    #[test]
    fn spanish_text_names_the_appliance_flow_figures_time_and_link() {
        let text = message(MessageEvent::Started).text(Lang::Es);
        assert_eq!(
            text,
            "Relevo Norte: ALERTA — Estudio caído\n\
             La tasa de bits de la entrada «estudio a» es de 812,5 kbit/s, por debajo de 1500 kbit/s.\n\
             Hora: 2026-11-30T00:53:20Z\n\
             https://relay.example.com/history/estudio%20a"
        );
        let resolved = message(MessageEvent::Resolved).text(Lang::Es);
        assert!(resolved.starts_with("Relevo Norte: RESUELTA — Estudio caído\n"));
        assert!(resolved.contains("vuelve a superar 1500 kbit/s"));
    }

    #[test]
    fn english_text() {
        let text = message(MessageEvent::Started).text(Lang::En);
        assert_eq!(
            text,
            "Relevo Norte: ALERT — Estudio caído\n\
             The bit rate of input “estudio a” is 812.5 kbit/s, below 1500 kbit/s.\n\
             Time: 2026-11-30T00:53:20Z\n\
             https://relay.example.com/history/estudio%20a"
        );
        let mut still = message(MessageEvent::Started);
        still.still = true;
        assert!(still
            .text(Lang::En)
            .starts_with("Relevo Norte: ALERT (still) — "));
        let test = message(MessageEvent::Test).text(Lang::En);
        assert!(test.starts_with("Relevo Norte: test message\n"), "{test}");
    }

    #[test]
    fn every_condition_has_words_in_both_languages() {
        for condition in Condition::ALL {
            for event in [MessageEvent::Started, MessageEvent::Resolved] {
                for lang in Lang::ALL {
                    let mut m = message(event);
                    m.condition = Some(condition);
                    m.output = Some("yt".to_owned());
                    let what = m.what(lang);
                    assert!(
                        what.ends_with('.'),
                        "{condition:?} {event:?} {lang:?}: {what}"
                    );
                }
            }
        }
    }

    #[test]
    fn payload_is_the_webhook_body_without_link_when_no_panel_url() {
        let mut m = message(MessageEvent::Resolved);
        m.panel_url = None;
        let p = m.payload(Lang::En);
        assert_eq!(p["event"], "alert.resolved");
        assert_eq!(p["condition"], "low_bitrate");
        assert_eq!(p["input"], "estudio a");
        assert_eq!(p["output"], serde_json::Value::Null);
        assert_eq!(p["threshold"], 1500.0);
        assert_eq!(p["appliance"], "Relevo Norte");
        assert_eq!(p["at"], "2026-11-30T00:53:20Z");
        assert_eq!(p["url"], serde_json::Value::Null);
        assert!(!p["text"].as_str().expect("text").contains("http"));
    }
}
