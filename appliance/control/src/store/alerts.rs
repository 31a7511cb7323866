//! SQL of the alerts' configuration: rules, channels and the alert settings (migration
//! 0028). The deliveries' queue is `store::alert_deliveries`.
//!
//! Values are checked here (so that a refusal names the field, as the API calls it) before
//! the table's CHECKs see them. Every change writes its audit row (`alert_rule.create`,
//! `alert_channel.update`, `alert_settings.update` …) in the same transaction; a channel's
//! secrets (webhook secret, Slack URL, SMTP password) appear there as [`audit::MASK`].

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

use super::audit::{self, Actor, Target};
use super::StoreError;
use crate::alerts::{Channel, ChannelConfig, ChannelKind, Condition, Rule, SmtpSecurity};
use crate::panel::i18n::Lang;

/// Longest rule, channel and flow name, in characters (the CHECKs of migration 0028; flows
/// have the same limit, migration 0006).
pub const MAX_NAME_CHARS: usize = 100;
/// Longest `for_secs`: a day (the CHECK of migration 0028).
pub const MAX_FOR_SECS: u32 = 86_400;
/// Longest URL kept (the CHECK of migration 0028): far above any real webhook address.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest secret, SMTP user name and password (the CHECKs of migration 0028).
pub const MAX_SECRET_CHARS: usize = 200;
/// Most recipients of one email channel (the CHECK of migration 0028): beyond that, a list.
pub const MAX_RECIPIENTS: usize = 50;
/// `repeat_minutes` bounds: at least a minute, at most a day (the CHECK of migration 0028).
pub const REPEAT_MINUTES: std::ops::RangeInclusive<u32> = 1..=1440;

/// Settings of the alerts as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// A flapping flow sends at most one message per this many minutes (default 15).
    pub repeat_minutes: u32,
    /// The panel's address as users reach it (`https://relay.example.com`), for the link in
    /// each message; `None`: messages carry no link.
    pub panel_url: Option<String>,
}

/// A rule as written: [`Rule`] without its id.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: String,
    pub condition: Condition,
    pub input: Option<String>,
    pub output: Option<String>,
    pub threshold: Option<f64>,
    pub for_secs: u32,
    pub enabled: bool,
}

/// A channel as written: [`Channel`] without its id.
#[derive(Debug, Clone)]
pub struct ChannelDef {
    pub name: String,
    pub enabled: bool,
    pub lang: Lang,
    pub config: ChannelConfig,
}

fn field(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Field {
        field,
        reason: reason.into(),
    }
}

/// A name as stored: trimmed, 1 to 100 characters, no control characters.
fn name_of(f: &'static str, raw: &str) -> Result<String, StoreError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(field(f, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(field(
            f,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(field(f, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// The range of `threshold` by condition, with its unit: kbit/s, % or days.
pub fn threshold_range(condition: Condition) -> Option<(f64, f64, &'static str)> {
    match condition {
        Condition::LowBitrate => Some((1.0, 1_000_000.0, "kbit/s")),
        Condition::SrtLoss => Some((0.1, 100.0, "%")),
        Condition::DiskLow => Some((1.0, 99.0, "%")),
        Condition::CertExpiry => Some((1.0, 365.0, "days")),
        Condition::InputDown | Condition::OutputFailing => None,
    }
}

/// A rule as stored, or the first field that is wrong.
pub fn check_rule(def: &RuleDef) -> Result<RuleDef, StoreError> {
    let name = name_of("name", &def.name)?;
    let flow = |f, v: &Option<String>| v.as_deref().map(|v| name_of(f, v)).transpose();
    let input = flow("input", &def.input)?;
    let output = flow("output", &def.output)?;
    let c = def.condition;
    if matches!(c, Condition::DiskLow | Condition::CertExpiry) {
        if input.is_some() {
            return Err(field("input", "this condition is not about a flow"));
        }
    } else if output.is_some() {
        if !matches!(c, Condition::OutputFailing | Condition::SrtLoss) {
            return Err(field("output", "this condition is about inputs only"));
        }
        if input.is_none() {
            return Err(field("output", "name the output's input too"));
        }
    }
    if matches!(c, Condition::DiskLow | Condition::CertExpiry) && output.is_some() {
        return Err(field("output", "this condition is not about a flow"));
    }
    let threshold = match (threshold_range(c), def.threshold) {
        (None, None) => None,
        (None, Some(_)) => return Err(field("threshold", "this condition takes no threshold")),
        (Some((lo, hi, unit)), None) => {
            return Err(field("threshold", format!("required: {lo} to {hi} {unit}")))
        }
        (Some((lo, hi, unit)), Some(t)) => {
            if !(lo..=hi).contains(&t) {
                return Err(field("threshold", format!("must be {lo} to {hi} {unit}")));
            }
            Some(t)
        }
    };
    if def.for_secs > MAX_FOR_SECS {
        return Err(field("for_secs", format!("must be 0 to {MAX_FOR_SECS}")));
    }
    Ok(RuleDef {
        name,
        condition: c,
        input,
        output,
        threshold,
        for_secs: def.for_secs,
        enabled: def.enabled,
    })
}

/// An `http(s)://host…` URL with a host and no user information (a password in a URL ends
/// up in logs); `https` only when `secure`.
pub fn check_url(f: &'static str, raw: &str, secure: bool) -> Result<String, StoreError> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(field(
            f,
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| field(f, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if !secure => {}
        _ if secure => return Err(field(f, "must start with https://")),
        _ => return Err(field(f, "must start with http:// or https://")),
    }
    // The text as written, not only as parsed: `http:///x` parses (the host taken from the
    // path), and the text is what is stored and what the CHECK sees.
    let authority = raw.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    if url.host_str().is_none_or(str::is_empty) || authority.is_empty() {
        return Err(field(f, "must name a host"));
    }
    if !raw.starts_with(url.scheme()) {
        return Err(field(f, "the scheme must be written in lower case"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(field(f, "must not carry a user name or password"));
    }
    if raw.chars().any(char::is_whitespace) {
        return Err(field(f, "must not contain spaces"));
    }
    Ok(raw.to_owned())
}

/// An email address as the CHECK wants it: `local@domain`, no spaces, no `<>,`.
pub fn check_address(f: &'static str, raw: &str) -> Result<String, StoreError> {
    let a = raw.trim();
    let ok = a.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !a
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>,".contains(c))
    });
    if ok {
        Ok(a.to_owned())
    } else {
        Err(field(f, format!("{a:?} is not an email address")))
    }
}

fn secret_of(f: &'static str, s: &SecretString) -> Result<SecretString, StoreError> {
    let v = s.expose_secret();
    if v.is_empty() {
        return Err(field(f, "must not be empty"));
    }
    if v.chars().count() > MAX_SECRET_CHARS {
        return Err(field(
            f,
            format!("must be at most {MAX_SECRET_CHARS} characters"),
        ));
    }
    Ok(s.clone())
}

/// A channel as stored, or the first field that is wrong.
pub fn check_channel(def: &ChannelDef) -> Result<ChannelDef, StoreError> {
    let name = name_of("name", &def.name)?;
    let config = match &def.config {
        ChannelConfig::Webhook { url, secret } => ChannelConfig::Webhook {
            url: check_url("url", url, false)?,
            secret: secret
                .as_ref()
                .map(|s| secret_of("secret", s))
                .transpose()?,
        },
        ChannelConfig::Slack { url } => ChannelConfig::Slack {
            url: SecretString::from(check_url("url", url.expose_secret(), true)?),
        },
        ChannelConfig::Email {
            host,
            port,
            security,
            username,
            password,
            from,
            to,
        } => {
            let host = host.trim();
            let host_ok = !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c));
            if !host_ok {
                return Err(field("host", format!("{host:?} is not a host name")));
            }
            if *port == 0 {
                return Err(field("port", "must be 1 to 65535"));
            }
            let username = username
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| {
                    if u.chars().count() > MAX_SECRET_CHARS {
                        Err(field("username", "too long"))
                    } else {
                        Ok(u.to_owned())
                    }
                })
                .transpose()?;
            let password = password
                .as_ref()
                .map(|p| secret_of("password", p))
                .transpose()?;
            if password.is_some() && username.is_none() {
                return Err(field("username", "required with a password"));
            }
            if to.is_empty() {
                return Err(field("to", "name at least one recipient"));
            }
            if to.len() > MAX_RECIPIENTS {
                return Err(field("to", format!("at most {MAX_RECIPIENTS} recipients")));
            }
            ChannelConfig::Email {
                host: host.to_owned(),
                port: *port,
                security: *security,
                username,
                password,
                from: check_address("from", from)?,
                to: to
                    .iter()
                    .map(|a| check_address("to", a))
                    .collect::<Result<_, _>>()?,
            }
        }
    };
    Ok(ChannelDef {
        name,
        enabled: def.enabled,
        lang: def.lang,
        config,
    })
}

/// The settings as stored, or the first field that is wrong.
pub fn check_settings(s: &AlertSettings) -> Result<AlertSettings, StoreError> {
    if !REPEAT_MINUTES.contains(&s.repeat_minutes) {
        return Err(field("repeat_minutes", "must be 1 to 1440 minutes"));
    }
    Ok(AlertSettings {
        repeat_minutes: s.repeat_minutes,
        panel_url: s
            .panel_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| check_url("panel_url", u, false))
            .transpose()?,
    })
}

// ---- documents: the API's bodies and the configuration export's entries ----

/// A rule as the API takes it (`POST /alerts/rules`, `PUT /alerts/rules/{id}`) and as the
/// configuration export writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    pub name: String,
    pub condition: Condition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub for_secs: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl RuleDoc {
    /// The rule to write (checked by [`check_rule`] when written); an empty name of a flow
    /// is none.
    pub fn to_def(&self) -> RuleDef {
        let blank = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        RuleDef {
            name: self.name.clone(),
            condition: self.condition,
            input: blank(&self.input),
            output: blank(&self.output),
            threshold: self.threshold,
            for_secs: self.for_secs,
            enabled: self.enabled,
        }
    }

    pub fn of(r: &Rule) -> Self {
        RuleDoc {
            name: r.name.clone(),
            condition: r.condition,
            input: r.input.clone(),
            output: r.output.clone(),
            threshold: r.threshold,
            for_secs: r.for_secs,
            enabled: r.enabled,
        }
    }
}

/// A channel as the API takes it (`POST /alerts/channels`, `PUT /alerts/channels/{id}`):
/// the fields of its `kind` only (webhook: url, secret; slack: url; email: host, port,
/// security, username, password, from, to). The configuration export writes the same, with
/// the secrets in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDoc {
    pub name: String,
    pub kind: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
}

/// Common SMTP ports by protection: the port when none is given.
fn default_port(security: SmtpSecurity) -> u16 {
    match security {
        SmtpSecurity::None => 25,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Tls => 465,
    }
}

impl ChannelDoc {
    /// The channel to write (checked by [`check_channel`] when written), and which secrets
    /// were sent as [`audit::MASK`] (to keep the stored ones).
    pub fn to_def(&self) -> Result<(ChannelDef, Vec<&'static str>), StoreError> {
        let lang = match self.lang.as_deref() {
            None => Lang::Es,
            Some(code) => Lang::from_code(code)
                .ok_or_else(|| field("lang", format!("{code:?} is not es or en")))?,
        };
        let blank = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let mut keep = Vec::new();
        // A secret left empty is none; the mask keeps the stored one.
        let mut secret = |f: &'static str, v: &Option<String>| -> Option<SecretString> {
            let v = v.clone().filter(|s| !s.is_empty())?;
            if v == audit::MASK {
                keep.push(f);
            }
            Some(SecretString::from(v))
        };
        let unused = |f: &'static str, set: bool, kind: &str| {
            if set {
                Err(field(f, format!("{f} is not a setting of {kind} channels")))
            } else {
                Ok(())
            }
        };
        let required = |f: &'static str, v: Option<String>| {
            v.ok_or_else(|| field(f, format!("{f} is required")))
        };
        let email_set = [
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("security", self.security.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
        ];
        let config = match self.kind.as_str() {
            "webhook" | "slack" => {
                for (f, set) in email_set {
                    unused(f, set, &self.kind)?;
                }
                let url = required("url", blank(&self.url))?;
                if self.kind == "webhook" {
                    ChannelConfig::Webhook {
                        url,
                        secret: secret("secret", &self.secret),
                    }
                } else {
                    unused("secret", self.secret.is_some(), "slack")?;
                    if url == audit::MASK {
                        keep.push("url");
                    }
                    ChannelConfig::Slack {
                        url: SecretString::from(url),
                    }
                }
            }
            "email" => {
                unused("url", self.url.is_some(), "email")?;
                unused("secret", self.secret.is_some(), "email")?;
                let security = match self.security.as_deref() {
                    None => SmtpSecurity::StartTls,
                    Some(v) => SmtpSecurity::parse(v).ok_or_else(|| {
                        field("security", format!("{v:?} is not none, starttls or tls"))
                    })?,
                };
                ChannelConfig::Email {
                    host: required("host", blank(&self.host))?,
                    port: self.port.unwrap_or(default_port(security)),
                    security,
                    username: blank(&self.username),
                    password: secret("password", &self.password),
                    from: required("from", blank(&self.from))?,
                    to: self.to.clone().unwrap_or_default(),
                }
            }
            other => {
                return Err(field(
                    "kind",
                    format!("{other:?} is not webhook, slack or email"),
                ))
            }
        };
        let def = ChannelDef {
            name: self.name.clone(),
            enabled: self.enabled,
            lang,
            config,
        };
        Ok((def, keep))
    }

    /// A stored channel with its secrets in clear: for the configuration export only.
    pub fn revealed(c: &Channel) -> Self {
        let mut d = ChannelDoc {
            name: c.name.clone(),
            kind: c.config.kind().as_str().to_owned(),
            enabled: c.enabled,
            lang: Some(c.lang.code().to_owned()),
            ..ChannelDoc::default()
        };
        match &c.config {
            ChannelConfig::Webhook { url, secret } => {
                d.url = Some(url.clone());
                d.secret = secret.as_ref().map(|s| s.expose_secret().to_owned());
            }
            ChannelConfig::Slack { url } => d.url = Some(url.expose_secret().to_owned()),
            ChannelConfig::Email {
                host,
                port,
                security,
                username,
                password,
                from,
                to,
            } => {
                d.host = Some(host.clone());
                d.port = Some(*port);
                d.security = Some(security.as_str().to_owned());
                d.username = username.clone();
                d.password = password.as_ref().map(|s| s.expose_secret().to_owned());
                d.from = Some(from.clone());
                d.to = Some(to.clone());
            }
        }
        d
    }
}

// ---- rules ----

struct RuleRow {
    id: i64,
    name: String,
    condition: String,
    input: Option<String>,
    output: Option<String>,
    threshold: Option<f64>,
    for_secs: i32,
    enabled: bool,
}

impl RuleRow {
    fn rule(self) -> Result<Rule, StoreError> {
        let condition = Condition::parse(&self.condition).ok_or_else(|| StoreError::Check {
            constraint: format!("alert_rules {}: condition {:?}", self.id, self.condition),
        })?;
        Ok(Rule {
            id: self.id,
            name: self.name,
            condition,
            input: self.input,
            output: self.output,
            threshold: self.threshold,
            for_secs: u32::try_from(self.for_secs).unwrap_or_default(),
            enabled: self.enabled,
        })
    }
}

fn rule_audit(r: &RuleDef) -> Value {
    json!({
        "name": r.name, "condition": r.condition.as_str(), "input": r.input,
        "output": r.output, "threshold": r.threshold, "for_secs": r.for_secs,
        "enabled": r.enabled,
    })
}

fn def_of(r: &Rule) -> RuleDef {
    RuleDef {
        name: r.name.clone(),
        condition: r.condition,
        input: r.input.clone(),
        output: r.output.clone(),
        threshold: r.threshold,
        for_secs: r.for_secs,
        enabled: r.enabled,
    }
}

/// Every rule, enabled or not, by id.
pub async fn rules(pool: &PgPool) -> Result<Vec<Rule>, StoreError> {
    let mut conn = pool.acquire().await?;
    rules_on(&mut conn).await
}

/// [`rules`] on a connection (the export's snapshot).
pub(crate) async fn rules_on(conn: &mut PgConnection) -> Result<Vec<Rule>, StoreError> {
    sqlx::query_as!(
        RuleRow,
        "SELECT id, name, condition, input, output, threshold, for_secs, enabled
         FROM alert_rules ORDER BY id"
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(RuleRow::rule)
    .collect()
}

/// One rule.
pub async fn rule(pool: &PgPool, id: i64) -> Result<Rule, StoreError> {
    let mut conn = pool.acquire().await?;
    rule_on(&mut conn, id, false).await
}

async fn rule_on(conn: &mut PgConnection, id: i64, lock: bool) -> Result<Rule, StoreError> {
    let row = if lock {
        sqlx::query_as!(
            RuleRow,
            "SELECT id, name, condition, input, output, threshold, for_secs, enabled
             FROM alert_rules WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            RuleRow,
            "SELECT id, name, condition, input, output, threshold, for_secs, enabled
             FROM alert_rules WHERE id = $1",
            id
        )
        .fetch_optional(conn)
        .await?
    };
    row.ok_or(StoreError::NotFound {
        what: "alert rule",
        id,
    })?
    .rule()
}

/// Adds a rule (checked by [`check_rule`]).
pub async fn create_rule(pool: &PgPool, actor: &Actor, def: &RuleDef) -> Result<Rule, StoreError> {
    let def = check_rule(def)?;
    let mut tx = pool.begin().await?;
    let id = insert_rule(&mut tx, &def).await?;
    let target = Target::row("alert_rule", id, &def.name);
    audit::record(
        &mut tx,
        actor,
        "alert_rule.create",
        target,
        None,
        Some(rule_audit(&def)),
    )
    .await?;
    let rule = rule_on(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(rule)
}

/// Writes an already checked rule ([`check_rule`]); no audit row. Returns its id.
pub(crate) async fn insert_rule(conn: &mut PgConnection, def: &RuleDef) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        "INSERT INTO alert_rules (name, condition, input, output, threshold, for_secs, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        def.name,
        def.condition.as_str(),
        def.input,
        def.output,
        def.threshold,
        i32::try_from(def.for_secs).unwrap_or(i32::MAX),
        def.enabled
    )
    .fetch_one(conn)
    .await?)
}

/// Replaces a rule's settings.
pub async fn update_rule(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    def: &RuleDef,
) -> Result<Rule, StoreError> {
    let def = check_rule(def)?;
    let mut tx = pool.begin().await?;
    let before = rule_on(&mut tx, id, true).await?;
    sqlx::query!(
        "UPDATE alert_rules SET name = $2, condition = $3, input = $4, output = $5,
                threshold = $6, for_secs = $7, enabled = $8
         WHERE id = $1",
        id,
        def.name,
        def.condition.as_str(),
        def.input,
        def.output,
        def.threshold,
        i32::try_from(def.for_secs).unwrap_or(i32::MAX),
        def.enabled
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "alert_rule.update",
        Target::row("alert_rule", id, &def.name),
        Some(rule_audit(&def_of(&before))),
        Some(rule_audit(&def)),
    )
    .await?;
    let rule = rule_on(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(rule)
}

/// Removes a rule.
pub async fn delete_rule(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let before = rule_on(&mut tx, id, true).await?;
    sqlx::query!("DELETE FROM alert_rules WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "alert_rule.delete",
        Target::row("alert_rule", id, &before.name),
        Some(rule_audit(&def_of(&before))),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---- channels ----

struct ChannelRow {
    id: i64,
    name: String,
    kind: String,
    enabled: bool,
    lang: String,
    url: Option<String>,
    secret: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<i32>,
    smtp_security: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    mail_from: Option<String>,
    mail_to: Option<Vec<String>>,
}

impl ChannelRow {
    fn channel(self) -> Result<Channel, StoreError> {
        let id = self.id;
        let bad = |what: &str| StoreError::Check {
            constraint: format!("alert_channels {id}: {what}"),
        };
        let config = match ChannelKind::parse(&self.kind).ok_or_else(|| bad("kind"))? {
            ChannelKind::Webhook => ChannelConfig::Webhook {
                url: self.url.ok_or_else(|| bad("url"))?,
                secret: self.secret.map(SecretString::from),
            },
            ChannelKind::Slack => ChannelConfig::Slack {
                url: SecretString::from(self.url.ok_or_else(|| bad("url"))?),
            },
            ChannelKind::Email => ChannelConfig::Email {
                host: self.smtp_host.ok_or_else(|| bad("smtp_host"))?,
                port: self
                    .smtp_port
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| bad("smtp_port"))?,
                security: self
                    .smtp_security
                    .as_deref()
                    .and_then(SmtpSecurity::parse)
                    .ok_or_else(|| bad("smtp_security"))?,
                username: self.smtp_username,
                password: self.smtp_password.map(SecretString::from),
                from: self.mail_from.ok_or_else(|| bad("mail_from"))?,
                to: self.mail_to.ok_or_else(|| bad("mail_to"))?,
            },
        };
        Ok(Channel {
            id,
            name: self.name,
            enabled: self.enabled,
            lang: Lang::from_code(&self.lang).ok_or_else(|| bad("lang"))?,
            config,
        })
    }
}

/// A channel as its audit rows show it: secrets as [`audit::MASK`] (or null when unset).
pub fn channel_audit(name: &str, enabled: bool, lang: Lang, config: &ChannelConfig) -> Value {
    let mut v = json!({
        "name": name, "kind": config.kind().as_str(), "enabled": enabled, "lang": lang.code(),
    });
    let extra = match config {
        ChannelConfig::Webhook { url, secret } => {
            json!({ "url": url, "secret": audit::mask(secret.as_ref().map(|s| s.expose_secret())) })
        }
        ChannelConfig::Slack { url } => json!({ "url": audit::mask(Some(url.expose_secret())) }),
        ChannelConfig::Email {
            host,
            port,
            security,
            username,
            password,
            from,
            to,
        } => json!({
            "host": host, "port": port, "security": security.as_str(), "username": username,
            "password": audit::mask(password.as_ref().map(|s| s.expose_secret())), "from": from, "to": to,
        }),
    };
    if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
        v.extend(extra);
    }
    v
}

/// The columns of a config, secrets exposed for the INSERT/UPDATE only.
struct Cols<'a> {
    url: Option<&'a str>,
    secret: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<i32>,
    security: Option<&'static str>,
    username: Option<&'a str>,
    password: Option<&'a str>,
    from: Option<&'a str>,
    to: Option<Vec<String>>,
}

fn cols(config: &ChannelConfig) -> Cols<'_> {
    let none = Cols {
        url: None,
        secret: None,
        host: None,
        port: None,
        security: None,
        username: None,
        password: None,
        from: None,
        to: None,
    };
    match config {
        ChannelConfig::Webhook { url, secret } => Cols {
            url: Some(url),
            secret: secret.as_ref().map(|s| s.expose_secret()),
            ..none
        },
        ChannelConfig::Slack { url } => Cols {
            url: Some(url.expose_secret()),
            ..none
        },
        ChannelConfig::Email {
            host,
            port,
            security,
            username,
            password,
            from,
            to,
        } => Cols {
            host: Some(host),
            port: Some(i32::from(*port)),
            security: Some(security.as_str()),
            username: username.as_deref(),
            password: password.as_ref().map(|s| s.expose_secret()),
            from: Some(from),
            to: Some(to.clone()),
            ..none
        },
    }
}

/// Every channel with its secrets, by id.
pub async fn channels(pool: &PgPool) -> Result<Vec<Channel>, StoreError> {
    let mut conn = pool.acquire().await?;
    channels_on(&mut conn).await
}

/// [`channels`] on a connection (the export's snapshot).
pub(crate) async fn channels_on(conn: &mut PgConnection) -> Result<Vec<Channel>, StoreError> {
    sqlx::query_as!(
        ChannelRow,
        "SELECT id, name, kind, enabled, lang, url, secret, smtp_host, smtp_port, smtp_security,
                smtp_username, smtp_password, mail_from, mail_to
         FROM alert_channels ORDER BY id"
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ChannelRow::channel)
    .collect()
}

/// One channel with its secrets.
pub async fn channel(pool: &PgPool, id: i64) -> Result<Channel, StoreError> {
    let mut conn = pool.acquire().await?;
    channel_on(&mut conn, id).await
}

async fn channel_on(conn: &mut PgConnection, id: i64) -> Result<Channel, StoreError> {
    sqlx::query_as!(
        ChannelRow,
        "SELECT id, name, kind, enabled, lang, url, secret, smtp_host, smtp_port, smtp_security,
                smtp_username, smtp_password, mail_from, mail_to
         FROM alert_channels WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound {
        what: "alert channel",
        id,
    })?
    .channel()
}

/// Adds a channel (checked by [`check_channel`]).
pub async fn create_channel(
    pool: &PgPool,
    actor: &Actor,
    def: &ChannelDef,
) -> Result<Channel, StoreError> {
    let def = check_channel(def)?;
    let mut tx = pool.begin().await?;
    let id = insert_channel(&mut tx, &def).await?;
    let after = channel_audit(&def.name, def.enabled, def.lang, &def.config);
    audit::record(
        &mut tx,
        actor,
        "alert_channel.create",
        Target::row("alert_channel", id, &def.name),
        None,
        Some(after),
    )
    .await?;
    let channel = channel_on(&mut tx, id).await?;
    tx.commit().await?;
    Ok(channel)
}

/// Writes an already checked channel ([`check_channel`]); no audit row. Returns its id.
pub(crate) async fn insert_channel(
    conn: &mut PgConnection,
    def: &ChannelDef,
) -> Result<i64, StoreError> {
    let c = cols(&def.config);
    Ok(sqlx::query_scalar!(
        "INSERT INTO alert_channels (name, kind, enabled, lang, url, secret, smtp_host, smtp_port,
                                     smtp_security, smtp_username, smtp_password, mail_from,
                                     mail_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        def.name,
        def.config.kind().as_str(),
        def.enabled,
        def.lang.code(),
        c.url,
        c.secret,
        c.host,
        c.port,
        c.security,
        c.username,
        c.password,
        c.from,
        c.to.as_deref(),
    )
    .fetch_one(conn)
    .await?)
}

/// Replaces a channel's settings; each `keep` secret of the same kind's channel is taken
/// from the stored row inside the transaction (a mask sent back keeps the secret).
pub async fn update_channel(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    def: &ChannelDef,
    keep: &[&'static str],
) -> Result<Channel, StoreError> {
    let mut tx = pool.begin().await?;
    let before = channel_on(&mut tx, id).await?;
    let mut def = def.clone();
    for f in keep {
        keep_secret(f, &before.config, &mut def.config)?;
    }
    let def = check_channel(&def)?;
    let c = cols(&def.config);
    sqlx::query!(
        "UPDATE alert_channels SET name = $2, kind = $3, enabled = $4, lang = $5, url = $6,
                secret = $7, smtp_host = $8, smtp_port = $9, smtp_security = $10,
                smtp_username = $11, smtp_password = $12, mail_from = $13, mail_to = $14
         WHERE id = $1",
        id,
        def.name,
        def.config.kind().as_str(),
        def.enabled,
        def.lang.code(),
        c.url,
        c.secret,
        c.host,
        c.port,
        c.security,
        c.username,
        c.password,
        c.from,
        c.to.as_deref(),
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "alert_channel.update",
        Target::row("alert_channel", id, &def.name),
        Some(channel_audit(
            &before.name,
            before.enabled,
            before.lang,
            &before.config,
        )),
        Some(channel_audit(&def.name, def.enabled, def.lang, &def.config)),
    )
    .await?;
    let channel = channel_on(&mut tx, id).await?;
    tx.commit().await?;
    Ok(channel)
}

/// Copies the stored secret `f` into `new`; a mask sent for a secret that was never set (or
/// for a channel of another kind) is refused: there is nothing to keep.
fn keep_secret(
    f: &'static str,
    old: &ChannelConfig,
    new: &mut ChannelConfig,
) -> Result<(), StoreError> {
    let nothing = || field(f, "no secret is stored to keep; enter it again");
    match (f, old, new) {
        (
            "secret",
            ChannelConfig::Webhook { secret: old, .. },
            ChannelConfig::Webhook { secret, .. },
        ) => {
            *secret = Some(old.clone().ok_or_else(nothing)?);
        }
        ("url", ChannelConfig::Slack { url: old }, ChannelConfig::Slack { url }) => {
            *url = old.clone();
        }
        (
            "password",
            ChannelConfig::Email { password: old, .. },
            ChannelConfig::Email { password, .. },
        ) => {
            *password = Some(old.clone().ok_or_else(nothing)?);
        }
        _ => return Err(nothing()),
    }
    Ok(())
}

/// Removes a channel (and, by the foreign key of migration 0029, its deliveries).
pub async fn delete_channel(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let before = channel_on(&mut tx, id).await?;
    sqlx::query!("DELETE FROM alert_channels WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "alert_channel.delete",
        Target::row("alert_channel", id, &before.name),
        Some(channel_audit(
            &before.name,
            before.enabled,
            before.lang,
            &before.config,
        )),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---- settings ----

const SETTINGS: Target<'static> = Target {
    kind: "alert_settings",
    id: None,
    name: None,
};

fn settings_audit(s: &AlertSettings) -> Value {
    json!({ "repeat_minutes": s.repeat_minutes, "panel_url": s.panel_url })
}

/// The alert settings.
pub async fn settings(pool: &PgPool) -> Result<AlertSettings, StoreError> {
    let mut conn = pool.acquire().await?;
    settings_on(&mut conn).await
}

async fn settings_on(conn: &mut PgConnection) -> Result<AlertSettings, StoreError> {
    let row = sqlx::query!("SELECT repeat_minutes, panel_url FROM alert_settings FOR UPDATE")
        .fetch_one(conn)
        .await?;
    Ok(AlertSettings {
        repeat_minutes: u32::try_from(row.repeat_minutes).unwrap_or(15),
        panel_url: row.panel_url,
    })
}

/// Replaces the alert settings (checked by [`check_settings`]); an unchanged value writes
/// no audit row.
pub async fn update_settings(
    pool: &PgPool,
    actor: &Actor,
    new: &AlertSettings,
) -> Result<AlertSettings, StoreError> {
    let new = check_settings(new)?;
    let mut tx = pool.begin().await?;
    let before = settings_on(&mut tx).await?;
    if before == new {
        return Ok(before);
    }
    sqlx::query!(
        "UPDATE alert_settings SET repeat_minutes = $1, panel_url = $2",
        i32::try_from(new.repeat_minutes).unwrap_or(15),
        new.panel_url
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "alert_settings.update",
        SETTINGS,
        Some(settings_audit(&before)),
        Some(settings_audit(&new)),
    )
    .await?;
    tx.commit().await?;
    Ok(new)
}

/// The settings without locking the row (the export's read-only snapshot).
pub(crate) async fn settings_snapshot(
    conn: &mut PgConnection,
) -> Result<AlertSettings, StoreError> {
    let row = sqlx::query!("SELECT repeat_minutes, panel_url FROM alert_settings")
        .fetch_one(conn)
        .await?;
    Ok(AlertSettings {
        repeat_minutes: u32::try_from(row.repeat_minutes).unwrap_or(15),
        panel_url: row.panel_url,
    })
}

/// Replaces every rule, channel (and so its deliveries) and the settings with already
/// checked values: an import. No audit row (the import writes its own).
pub(crate) async fn replace_all(
    conn: &mut PgConnection,
    settings: &AlertSettings,
    rules: &[RuleDef],
    channels: &[ChannelDef],
) -> Result<(), StoreError> {
    sqlx::query!("DELETE FROM alert_rules")
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM alert_channels")
        .execute(&mut *conn)
        .await?;
    for r in rules {
        insert_rule(conn, r).await?;
    }
    for c in channels {
        insert_channel(conn, c).await?;
    }
    sqlx::query!(
        "UPDATE alert_settings SET repeat_minutes = $1, panel_url = $2",
        i32::try_from(settings.repeat_minutes).unwrap_or(15),
        settings.panel_url
    )
    .execute(conn)
    .await?;
    Ok(())
}
