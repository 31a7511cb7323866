//! Alert rules, channels and settings (issue #17), admin only: channels hold secrets. Bodies
//! are strict (an unknown field is refused and named); values are checked by
//! [`crate::store::alerts`], whose refusals name the field. Secrets (a webhook's `secret`, a
//! Slack/Teams `url`, an SMTP `password`) are answered as [`MASK`]; a PUT that sends the
//! mask back keeps the stored secret. Every change tells the evaluator to read again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::auth::{Can, ADMIN};
use super::error::{ApiError, ApiResult};
use super::json::Body;
use super::ApiState;
use crate::alerts::{Channel, ChannelConfig, DeliveryError, Rule};
use crate::store::alerts::{self as store, AlertSettings};
use crate::store::audit::MASK;

// ---- rules ----

pub use crate::store::alerts::{ChannelDoc as ChannelBody, RuleDoc as RuleBody};

#[derive(Debug, Serialize)]
pub struct RuleList {
    pub rules: Vec<Rule>,
}

pub async fn list_rules(State(s): State<ApiState>, _: Can<ADMIN>) -> ApiResult<Json<RuleList>> {
    Ok(Json(RuleList {
        rules: store::rules(s.control.pool()).await?,
    }))
}

pub async fn get_rule(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Rule>> {
    Ok(Json(store::rule(s.control.pool(), id).await?))
}

pub async fn create_rule(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Body(b): Body<RuleBody>,
) -> ApiResult<(StatusCode, Json<Rule>)> {
    let rule = store::create_rule(s.control.pool(), &p.actor(), &b.to_def()).await?;
    s.alerts.reload();
    Ok((StatusCode::CREATED, Json(rule)))
}

pub async fn update_rule(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
    Body(b): Body<RuleBody>,
) -> ApiResult<Json<Rule>> {
    let rule = store::update_rule(s.control.pool(), &p.actor(), id, &b.to_def()).await?;
    s.alerts.reload();
    Ok(Json(rule))
}

pub async fn delete_rule(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    store::delete_rule(s.control.pool(), &p.actor(), id).await?;
    s.alerts.reload();
    Ok(StatusCode::NO_CONTENT)
}

// ---- channels ----

/// A channel as answered: its kind's fields, secrets as [`MASK`] (null when unset).
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
    pub lang: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Webhooks only: `MASK` when set, null when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
}

impl From<&Channel> for ChannelView {
    fn from(c: &Channel) -> Self {
        let mut v = ChannelView {
            id: c.id,
            name: c.name.clone(),
            kind: c.config.kind().as_str(),
            enabled: c.enabled,
            lang: c.lang.code(),
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
        match &c.config {
            ChannelConfig::Webhook { url, secret } => {
                v.url = Some(url.clone());
                v.secret = Some(secret.as_ref().map(|_| MASK));
            }
            ChannelConfig::Slack { .. } => v.url = Some(MASK.to_owned()),
            ChannelConfig::Email {
                host,
                port,
                security,
                username,
                password,
                from,
                to,
            } => {
                v.host = Some(host.clone());
                v.port = Some(*port);
                v.security = Some(security.as_str());
                v.username = Some(username.clone());
                v.password = Some(password.as_ref().map(|_| MASK));
                v.from = Some(from.clone());
                v.to = Some(to.clone());
            }
        }
        v
    }
}

#[derive(Debug, Serialize)]
pub struct ChannelList {
    pub channels: Vec<ChannelView>,
}

pub async fn list_channels(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
) -> ApiResult<Json<ChannelList>> {
    let channels = store::channels(s.control.pool()).await?;
    Ok(Json(ChannelList {
        channels: channels.iter().map(ChannelView::from).collect(),
    }))
}

pub async fn get_channel(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<Json<ChannelView>> {
    Ok(Json((&store::channel(s.control.pool(), id).await?).into()))
}

pub async fn create_channel(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Body(b): Body<ChannelBody>,
) -> ApiResult<(StatusCode, Json<ChannelView>)> {
    let (def, keep) = b.to_def()?;
    if let Some(f) = keep.first() {
        return Err(ApiError::invalid(*f, "enter the secret itself"));
    }
    let channel = store::create_channel(s.control.pool(), &p.actor(), &def).await?;
    s.alerts.reload();
    Ok((StatusCode::CREATED, Json((&channel).into())))
}

pub async fn update_channel(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
    Body(b): Body<ChannelBody>,
) -> ApiResult<Json<ChannelView>> {
    let (def, keep) = b.to_def()?;
    let channel = store::update_channel(s.control.pool(), &p.actor(), id, &def, &keep).await?;
    s.alerts.reload();
    Ok(Json((&channel).into()))
}

pub async fn delete_channel(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    store::delete_channel(s.control.pool(), &p.actor(), id).await?;
    s.alerts.reload();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct TestSent {
    pub ok: bool,
}

/// `POST /alerts/channels/{id}/test`: one test message at once; 502 `delivery_failed` with
/// the peer's or the network's words when it did not go through.
pub async fn test_channel(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<Json<TestSent>> {
    match s.alerts.send_test(id).await {
        Ok(()) => Ok(Json(TestSent { ok: true })),
        Err(DeliveryError::UnknownChannel(_)) => Err(ApiError::not_found("alert channel")),
        Err(DeliveryError::Failed(message)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "delivery_failed",
            message,
        )),
        Err(DeliveryError::Store(e)) => Err(e.into()),
    }
}

// ---- settings ----

/// `GET /alerts/settings`.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub repeat_minutes: u32,
    pub panel_url: Option<String>,
}

impl From<AlertSettings> for SettingsView {
    fn from(s: AlertSettings) -> Self {
        Self {
            repeat_minutes: s.repeat_minutes,
            panel_url: s.panel_url,
        }
    }
}

/// The body of `PATCH /alerts/settings`: an absent field stays; `panel_url: null` (or "")
/// removes the link.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub repeat_minutes: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub panel_url: Option<Option<String>>,
}

/// A field that is present, even as null (`Some(None)`), against one that is absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn get_settings(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(store::settings(s.control.pool()).await?.into()))
}

pub async fn update_settings(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Body(b): Body<SettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    let pool = s.control.pool();
    let mut new = store::settings(pool).await?;
    if let Some(m) = b.repeat_minutes {
        new.repeat_minutes = m;
    }
    if let Some(url) = b.panel_url {
        new.panel_url = url;
    }
    let saved = store::update_settings(pool, &p.actor(), &new).await?;
    s.alerts.reload();
    Ok(Json(saved.into()))
}
