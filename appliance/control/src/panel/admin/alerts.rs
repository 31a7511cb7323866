//! `/alerts`: the admin's alert rules, channels (with a test message), alert settings and
//! the recent deliveries, failed ones marked. Every form goes through the API's own handler
//! ([`crate::api::alerts`]): the same checks, audit rows and reload of the evaluator. A
//! secret is never put back in a page: its input is empty with a hint that one is set, and
//! an empty input on an edit keeps it (the API's mask is sent).

use super::*;
use crate::alerts::Condition;
use crate::api::alerts::{
    self as alerts_api, ChannelBody, ChannelView, RuleBody, SettingsPatch as AlertSettingsPatch,
};
use crate::store::alert_deliveries::{self, Delivery};
use crate::store::alerts::threshold_range;
use crate::store::audit::MASK;

/// Deliveries shown: the last screenful; older ones are in the API (`/alerts/deliveries`).
const DELIVERIES_SHOWN: u32 = 20;

/// A rule as the table and its edit form show it.
struct RuleRow {
    id: i64,
    name: String,
    condition: &'static str,
    input: String,
    output: String,
    threshold: String,
    unit: &'static str,
    for_secs: u32,
    enabled: bool,
}

/// What a channel form holds (empty for the create forms, refilled after an error).
#[derive(Default)]
struct ChannelForm {
    id: i64,
    kind: &'static str,
    name: String,
    enabled: bool,
    lang: &'static str,
    url: String,
    has_secret: bool,
    host: String,
    port: String,
    security: &'static str,
    username: String,
    has_password: bool,
    from: String,
    to: String,
}

impl ChannelForm {
    fn blank(kind: &'static str) -> Self {
        ChannelForm {
            kind,
            enabled: true,
            lang: "es",
            security: "starttls",
            ..ChannelForm::default()
        }
    }

    fn of(c: &ChannelView) -> Self {
        let slack = c.kind == "slack";
        ChannelForm {
            id: c.id,
            kind: c.kind,
            name: c.name.clone(),
            enabled: c.enabled,
            lang: c.lang,
            // A Slack URL is the secret: never shown again.
            url: if slack {
                String::new()
            } else {
                c.url.clone().unwrap_or_default()
            },
            has_secret: slack || matches!(c.secret, Some(Some(_))),
            host: c.host.clone().unwrap_or_default(),
            port: c.port.map(|p| p.to_string()).unwrap_or_default(),
            security: c.security.unwrap_or("starttls"),
            username: c.username.clone().flatten().unwrap_or_default(),
            has_password: matches!(c.password, Some(Some(_))),
            from: c.from.clone().unwrap_or_default(),
            to: c.to.clone().unwrap_or_default().join(", "),
        }
    }

    /// Where a channel's messages go, for the table (a Slack URL is a secret).
    fn target(c: &ChannelView) -> String {
        match c.kind {
            "email" => c.to.clone().unwrap_or_default().join(", "),
            "slack" => MASK.to_owned(),
            _ => c.url.clone().unwrap_or_default(),
        }
    }
}

/// A delivery as the table shows it.
struct DeliveryRow {
    at: String,
    channel: String,
    kind: String,
    rule: String,
    state: String,
    attempts: i32,
    error: String,
}

impl From<Delivery> for DeliveryRow {
    fn from(d: Delivery) -> Self {
        DeliveryRow {
            at: when(d.created_at),
            channel: d.channel_name,
            rule: d.payload["rule"].as_str().unwrap_or_default().to_owned(),
            kind: d.kind,
            state: d.state,
            attempts: d.attempts,
            error: d.last_error.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    page: Page,
    rules: Vec<RuleRow>,
    conditions: &'static [Condition],
    channels: Vec<(ChannelForm, String)>,
    repeat_minutes: String,
    panel_url: String,
    deliveries: Vec<DeliveryRow>,
    /// The create forms' contents (refilled after an error).
    new_rule: RuleRow,
    new_channels: Vec<ChannelForm>,
    /// The result of a test message: (channel id, sent, text).
    tested: Option<(i64, bool, String)>,
    securities: &'static [&'static str],
    errors: FormErrors,
    /// The form (and row) an error belongs to, to open its details.
    failed_at: Option<(&'static str, i64)>,
}

fn row_of(r: &crate::alerts::Rule) -> RuleRow {
    RuleRow {
        id: r.id,
        name: r.name.clone(),
        condition: r.condition.as_str(),
        input: r.input.clone().unwrap_or_default(),
        output: r.output.clone().unwrap_or_default(),
        threshold: r.threshold.map(|t| t.to_string()).unwrap_or_default(),
        unit: threshold_range(r.condition).map_or("", |(_, _, u)| u),
        for_secs: r.for_secs,
        enabled: r.enabled,
    }
}

fn blank_rule() -> RuleRow {
    RuleRow {
        id: 0,
        name: String::new(),
        condition: Condition::InputDown.as_str(),
        input: String::new(),
        output: String::new(),
        threshold: String::new(),
        unit: "",
        for_secs: 30,
        enabled: true,
    }
}

impl AlertsPage {
    async fn new(s: &ApiState, session: &Session) -> PanelResult<Self> {
        let can = admin(session)?;
        let Json(rules) = alerts_api::list_rules(State(s.clone()), can.clone()).await?;
        let Json(channels) = alerts_api::list_channels(State(s.clone()), can.clone()).await?;
        let Json(settings) = alerts_api::get_settings(State(s.clone()), can).await?;
        let deliveries = alert_deliveries::list(s.control.pool(), DELIVERIES_SHOWN, None)
            .await
            .map_err(ApiError::from)?;
        Ok(AlertsPage {
            page: Page::new(s, session, "alerts").await?,
            rules: rules.rules.iter().map(row_of).collect(),
            conditions: &Condition::ALL,
            channels: channels
                .channels
                .iter()
                .map(|c| (ChannelForm::of(c), ChannelForm::target(c)))
                .collect(),
            repeat_minutes: settings.repeat_minutes.to_string(),
            panel_url: settings.panel_url.unwrap_or_default(),
            deliveries: deliveries
                .deliveries
                .into_iter()
                .map(DeliveryRow::from)
                .collect(),
            new_rule: blank_rule(),
            new_channels: ["webhook", "slack", "email"]
                .into_iter()
                .map(ChannelForm::blank)
                .collect(),
            tested: None,
            securities: &["starttls", "tls", "none"],
            errors: FormErrors::default(),
            failed_at: None,
        })
    }

    /// A condition in words.
    fn cond<'a>(&'a self, c: &str) -> &'a str {
        self.page.tk("alerts.cond", c)
    }

    /// A delivery's state in words.
    fn state<'a>(&'a self, s: &str) -> &'a str {
        self.page.tk("alerts.state", s)
    }

    /// A delivery's kind in words.
    fn dkind<'a>(&'a self, k: &str) -> &'a str {
        self.page.tk("alerts.dkind", k)
    }

    /// Whether the last error belongs to `form` of row `id`.
    fn failed_here(&self, form: &str, id: impl std::borrow::Borrow<i64>) -> bool {
        let id = *id.borrow();
        self.failed_at.is_some_and(|(f, i)| f == form && i == id)
    }

    /// The create form of a channel kind, as its errors name it.
    fn new_form(&self, kind: &str) -> &'static str {
        match kind {
            "slack" => "new_slack",
            "email" => "new_email",
            _ => "new_webhook",
        }
    }

    fn same(&self, a: &str, b: &str) -> bool {
        a == b
    }

    fn failed(mut self, form: &'static str, id: i64, fields: &[&str], e: &ApiError) -> Response {
        let text = explain_alert(&self.page, e);
        self.errors = FormErrors::new(form, id, fields, e, text);
        self.failed_at = Some((form, id));
        render_status(e.status, &self)
    }
}

/// The API's error in this page's words: the field's own explanation when there is one.
fn explain_alert(page: &Page, e: &ApiError) -> String {
    let leaf = e
        .field
        .as_deref()
        .map(|f| f.rsplit('.').next().unwrap_or(f));
    match leaf.and_then(|f| page.words.find(&format!("alerts.err.{f}"))) {
        Some(text) if matches!(e.code, "invalid_value" | "invalid_body") => text.to_owned(),
        _ => explain(page, e),
    }
}

/// `GET /alerts`.
pub async fn alerts_page(
    State(s): State<ApiState>,
    session: Session,
    Query(q): Query<Notice>,
) -> PanelResult<Response> {
    let mut view = AlertsPage::new(&s, &session).await?;
    view.page = view.page.with_notice(q.ok.as_deref());
    Ok(render_status(StatusCode::OK, &view))
}

// ---- rules ----

#[derive(Debug, Deserialize)]
pub struct RuleForm {
    name: String,
    condition: String,
    #[serde(default)]
    input: String,
    #[serde(default)]
    output: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    for_secs: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    enabled: Option<String>,
}

const RULE_FIELDS: &[&str] = &[
    "name",
    "condition",
    "input",
    "output",
    "threshold",
    "for_secs",
];

impl RuleForm {
    /// The API's body; a number that does not read is refused naming its field.
    fn body(&self) -> Result<RuleBody, ApiError> {
        let condition = Condition::parse(&self.condition).ok_or_else(|| {
            ApiError::invalid(
                "condition",
                format!("{:?} is not a condition", self.condition),
            )
        })?;
        let t = self.threshold.trim().replace(',', ".");
        let threshold =
            if t.is_empty() {
                None
            } else {
                Some(t.parse::<f64>().map_err(|_| {
                    ApiError::invalid("threshold", format!("{t:?} is not a number"))
                })?)
            };
        let for_secs = self.for_secs.trim().parse::<u32>().map_err(|_| {
            ApiError::invalid(
                "for_secs",
                format!("{:?} is not a number of seconds", self.for_secs),
            )
        })?;
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(RuleBody {
            name: self.name.clone(),
            condition,
            input: opt(&self.input),
            output: opt(&self.output),
            threshold,
            for_secs,
            enabled: self.enabled.is_some(),
        })
    }

    /// The form as typed, to show it again after an error.
    fn refill(&self, id: i64) -> RuleRow {
        let cut = |s: &str| s.chars().take(100).collect::<String>();
        RuleRow {
            id,
            name: cut(&self.name),
            condition: Condition::parse(&self.condition)
                .unwrap_or(Condition::InputDown)
                .as_str(),
            input: cut(&self.input),
            output: cut(&self.output),
            threshold: cut(&self.threshold),
            unit: "",
            for_secs: self.for_secs.trim().parse().unwrap_or(0),
            enabled: self.enabled.is_some(),
        }
    }
}

/// `POST /alerts/rules`.
pub async fn create_rule(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<RuleForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = match f.body() {
        Ok(b) => alerts_api::create_rule(State(s.clone()), can, Body(b))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done("/alerts", "created")),
        Err(e) => {
            let mut view = AlertsPage::new(&s, &session).await?;
            view.new_rule = f.refill(0);
            Ok(view.failed("rule", 0, RULE_FIELDS, &e))
        }
    }
}

/// `POST /alerts/rules/{id}`.
pub async fn update_rule(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<RuleForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = match f.body() {
        Ok(b) => alerts_api::update_rule(State(s.clone()), can, Path(id), Body(b))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done("/alerts", "saved")),
        Err(e) => {
            let mut view = AlertsPage::new(&s, &session).await?;
            if let Some(r) = view.rules.iter_mut().find(|r| r.id == id) {
                *r = f.refill(id);
            }
            Ok(view.failed("rule", id, RULE_FIELDS, &e))
        }
    }
}

/// `POST /alerts/rules/{id}/delete`.
pub async fn delete_rule(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    match alerts_api::delete_rule(State(s.clone()), can, Path(id)).await {
        Ok(_) => Ok(done("/alerts", "deleted")),
        Err(e) => {
            let view = AlertsPage::new(&s, &session).await?;
            Ok(view.failed("rule", id, &[], &e))
        }
    }
}

// ---- channels ----

#[derive(Debug, Deserialize)]
pub struct ChannelFormData {
    name: String,
    kind: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    from: String,
    /// Addresses separated by commas, semicolons, spaces or lines.
    #[serde(default)]
    to: String,
}

const CHANNEL_FIELDS: &[&str] = &[
    "name", "kind", "lang", "url", "secret", "host", "port", "security", "username", "password",
    "from", "to",
];

impl ChannelFormData {
    /// The API's body. On an edit (`editing`), an empty secret keeps the stored one (the
    /// API's mask); on a create, it is none.
    fn body(&self, editing: bool) -> Result<ChannelBody, ApiError> {
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let secret = |s: &str| match (s.is_empty(), editing) {
            (false, _) => Some(s.to_owned()),
            (true, true) => Some(MASK.to_owned()),
            (true, false) => None,
        };
        let mut b = ChannelBody {
            name: self.name.clone(),
            kind: self.kind.clone(),
            enabled: self.enabled.is_some(),
            lang: opt(&self.lang),
            ..ChannelBody::default()
        };
        match self.kind.as_str() {
            "webhook" => {
                b.url = opt(&self.url);
                b.secret = if editing && self.secret.is_empty() {
                    // Kept only if one is stored: the store refuses a mask with nothing
                    // behind it, so ask which it is.
                    None
                } else {
                    secret(&self.secret)
                };
            }
            "slack" => b.url = secret(self.url.trim()),
            "email" => {
                b.host = opt(&self.host);
                b.port =
                    match opt(&self.port) {
                        None => None,
                        Some(p) => Some(p.parse().map_err(|_| {
                            ApiError::invalid("port", format!("{p:?} is not a port"))
                        })?),
                    };
                b.security = opt(&self.security);
                b.username = opt(&self.username);
                b.password = if editing && self.password.is_empty() {
                    None
                } else {
                    secret(&self.password)
                };
                b.from = opt(&self.from);
                b.to = Some(
                    self.to
                        .split([',', ';', ' ', '\n', '\r', '\t'])
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            _ => {}
        }
        Ok(b)
    }

    fn refill(&self, id: i64, kind: &'static str) -> ChannelForm {
        let cut = |s: &str| s.chars().take(200).collect::<String>();
        ChannelForm {
            id,
            kind,
            name: cut(&self.name),
            enabled: self.enabled.is_some(),
            lang: if self.lang == "en" { "en" } else { "es" },
            url: if kind == "slack" {
                String::new()
            } else {
                cut(&self.url)
            },
            has_secret: false,
            host: cut(&self.host),
            port: cut(&self.port),
            security: SmtpSecurity::parse(&self.security).map_or("starttls", |s| s.as_str()),
            username: cut(&self.username),
            has_password: false,
            from: cut(&self.from),
            to: cut(&self.to),
        }
    }
}

use crate::alerts::SmtpSecurity;

fn kind_of(k: &str) -> &'static str {
    match k {
        "slack" => "slack",
        "email" => "email",
        _ => "webhook",
    }
}

/// `POST /alerts/channels`.
pub async fn create_channel(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<ChannelFormData>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = match f.body(false) {
        Ok(b) => alerts_api::create_channel(State(s.clone()), can, Body(b))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done("/alerts", "created")),
        Err(e) => {
            let kind = kind_of(&f.kind);
            let mut view = AlertsPage::new(&s, &session).await?;
            if let Some(form) = view.new_channels.iter_mut().find(|c| c.kind == kind) {
                *form = f.refill(0, kind);
            }
            let form = match kind {
                "slack" => "new_slack",
                "email" => "new_email",
                _ => "new_webhook",
            };
            Ok(view.failed(form, 0, CHANNEL_FIELDS, &e))
        }
    }
}

/// `POST /alerts/channels/{id}`: an empty secret keeps the stored one.
pub async fn update_channel(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<ChannelFormData>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = match f.body(true) {
        Ok(mut b) => {
            // An empty secret input keeps the stored secret, if there is one.
            if let Ok(Json(old)) =
                alerts_api::get_channel(State(s.clone()), can.clone(), Path(id)).await
            {
                if old.kind == b.kind {
                    if b.kind == "webhook"
                        && f.secret.is_empty()
                        && matches!(old.secret, Some(Some(_)))
                    {
                        b.secret = Some(MASK.to_owned());
                    }
                    if b.kind == "email"
                        && f.password.is_empty()
                        && matches!(old.password, Some(Some(_)))
                    {
                        b.password = Some(MASK.to_owned());
                    }
                }
            }
            alerts_api::update_channel(State(s.clone()), can, Path(id), Body(b))
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done("/alerts", "saved")),
        Err(e) => {
            let mut view = AlertsPage::new(&s, &session).await?;
            if let Some((form, _)) = view.channels.iter_mut().find(|(c, _)| c.id == id) {
                let (had_secret, had_password) = (form.has_secret, form.has_password);
                *form = f.refill(id, form.kind);
                form.has_secret = had_secret;
                form.has_password = had_password;
            }
            Ok(view.failed("channel", id, CHANNEL_FIELDS, &e))
        }
    }
}

/// `POST /alerts/channels/{id}/delete`.
pub async fn delete_channel(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    match alerts_api::delete_channel(State(s.clone()), can, Path(id)).await {
        Ok(_) => Ok(done("/alerts", "deleted")),
        Err(e) => {
            let view = AlertsPage::new(&s, &session).await?;
            Ok(view.failed("channel", id, &[], &e))
        }
    }
}

/// `POST /alerts/channels/{id}/test`: the page again, with the outcome beside the channel.
pub async fn test_channel(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = alerts_api::test_channel(State(s.clone()), can, Path(id)).await;
    let mut view = AlertsPage::new(&s, &session).await?;
    let status = match result {
        Ok(_) => {
            view.tested = Some((id, true, view.page.t("alerts.test_ok").to_owned()));
            StatusCode::OK
        }
        Err(e) if e.code == "delivery_failed" => {
            let text = format!("{} {}", view.page.t("alerts.test_failed"), e.message);
            view.tested = Some((id, false, text));
            StatusCode::OK
        }
        Err(e) => return Ok(view.failed("channel", id, &[], &e)),
    };
    // Deliveries may now list the test; read them again.
    Ok(render_status(status, &view))
}

// ---- settings ----

#[derive(Debug, Deserialize)]
pub struct AlertSettingsForm {
    repeat_minutes: String,
    #[serde(default)]
    panel_url: String,
}

/// `POST /alerts/settings`.
pub async fn update_alert_settings(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<AlertSettingsForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = match f.repeat_minutes.trim().parse::<u32>() {
        Ok(m) => {
            let url = f.panel_url.trim();
            let body = AlertSettingsPatch {
                repeat_minutes: Some(m),
                panel_url: Some(Some(url.to_owned()).filter(|u| !u.is_empty())),
            };
            alerts_api::update_settings(State(s.clone()), can, Body(body))
                .await
                .map(|_| ())
        }
        Err(_) => Err(ApiError::invalid(
            "repeat_minutes",
            format!("{:?} is not a number of minutes", f.repeat_minutes),
        )),
    };
    match result {
        Ok(()) => Ok(done("/alerts", "saved")),
        Err(e) => {
            let mut view = AlertsPage::new(&s, &session).await?;
            view.repeat_minutes = f.repeat_minutes.chars().take(10).collect();
            view.panel_url = f.panel_url.chars().take(2048).collect();
            Ok(view.failed("settings", 0, &["repeat_minutes", "panel_url"], &e))
        }
    }
}
