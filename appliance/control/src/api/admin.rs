//! What only an admin does — users, API tokens, branding, configuration export and import —
//! plus the audit log (every role reads it) and the public branding of the login page.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::auth::{Can, ADMIN, READ};
use super::error::{ApiError, ApiResult};
use super::json::Body;
use super::ApiState;
use crate::domain::{Email, Password, Role};
use crate::store::{api_tokens, audit, export, settings, users};

#[derive(Debug, Serialize)]
pub struct UserList {
    pub users: Vec<users::User>,
}

pub async fn list_users(State(s): State<ApiState>, _: Can<ADMIN>) -> ApiResult<Json<UserList>> {
    Ok(Json(UserList {
        users: users::list(s.control.pool()).await?,
    }))
}

pub async fn get_user(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<Json<users::User>> {
    Ok(Json(users::get(s.control.pool(), id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub password: SecretString,
    pub role: Role,
}

fn password(field: &str, p: SecretString) -> ApiResult<Password> {
    Password::new(p).map_err(|e| ApiError::invalid(field, e.to_string()))
}

pub async fn create_user(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Body(b): Body<NewUser>,
) -> ApiResult<(StatusCode, Json<users::User>)> {
    let email = Email::new(&b.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    let pw = password("password", b.password)?;
    let user = users::create(s.control.pool(), &p.actor(), &email, &pw, b.role).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub totp_required: Option<bool>,
}

pub async fn update_user(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
    Body(b): Body<UserPatchBody>,
) -> ApiResult<Json<users::User>> {
    let patch = users::UserPatch {
        role: b.role,
        disabled: b.disabled,
        totp_required: b.totp_required,
    };
    let user = users::update(s.control.pool(), &p.actor(), id, patch).await?;
    Ok(Json(user))
}

pub async fn delete_user(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    users::delete(s.control.pool(), &p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: SecretString,
}

pub async fn set_user_password(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
    Body(b): Body<SetPassword>,
) -> ApiResult<StatusCode> {
    let pw = password("password", b.password)?;
    users::set_password(s.control.pool(), &p.actor(), id, &pw).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn reset_user_totp(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    users::totp_disable(s.control.pool(), &p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct TokenList {
    pub tokens: Vec<api_tokens::ApiToken>,
}

pub async fn list_tokens(State(s): State<ApiState>, _: Can<ADMIN>) -> ApiResult<Json<TokenList>> {
    Ok(Json(TokenList {
        tokens: api_tokens::list(s.control.pool()).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: api_tokens::ApiToken,
    /// Shown once; only its hash is kept.
    pub token: String,
}

pub async fn create_token(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Body(b): Body<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "name",
            "a token name must be 1–100 characters",
        ));
    }
    let (info, secret) = api_tokens::create(s.control.pool(), &p.actor(), name, b.role).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            info,
            token: secret.expose_secret().to_owned(),
        }),
    ))
}

pub async fn revoke_token(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    api_tokens::revoke(s.control.pool(), &p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/settings`: the branding and the admin's switches.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SettingsView {
    #[serde(flatten)]
    pub brand: settings::Branding,
    /// Whether flows created through the API may reach loopback, private and link-local
    /// addresses (default false; flows of the configuration file always may).
    pub allow_private_destinations: bool,
}

async fn settings_view(s: &ApiState) -> ApiResult<SettingsView> {
    let pool = s.control.pool();
    Ok(SettingsView {
        brand: settings::get(pool).await?,
        allow_private_destinations: settings::private_destinations_allowed(pool).await?,
    })
}

pub async fn get_settings(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(settings_view(&s).await?))
}

/// The login page's branding: what any visitor of the panel sees anyway.
pub async fn branding(State(s): State<ApiState>) -> ApiResult<Json<settings::Branding>> {
    Ok(Json(settings::get(s.control.pool()).await?))
}

pub async fn branding_logo(State(s): State<ApiState>) -> ApiResult<Response> {
    match settings::logo(s.control.pool()).await? {
        Some((bytes, mime)) => Ok((
            [
                (header::CONTENT_TYPE, mime),
                // An SVG logo must not run script in our origin when opened directly.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; sandbox".to_owned(),
                ),
                (header::CACHE_CONTROL, "no-cache".to_owned()),
            ],
            bytes,
        )
            .into_response()),
        None => Err(ApiError::not_found("logo")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub primary_color: Option<String>,
    #[serde(default)]
    pub allow_private_destinations: Option<bool>,
}

pub async fn update_settings(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Body(b): Body<SettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    let patch = settings::BrandingPatch {
        product_name: b.product_name,
        primary_color: b.primary_color,
    };
    settings::update(s.control.pool(), &p.actor(), patch).await?;
    if let Some(allowed) = b.allow_private_destinations {
        let guard = s.control.write_lock().await;
        if settings::set_private_destinations(s.control.pool(), &p.actor(), allowed).await? {
            // Running flows take the new policy now (a forbidden destination stops at its
            // next connection attempt).
            if let Err(e) = s.control.apply_locked(&guard).await {
                tracing::error!("the engine did not take the new destination policy: {e}");
            }
        }
    }
    Ok(Json(settings_view(&s).await?))
}

pub async fn set_logo(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    settings::set_logo(s.control.pool(), &p.actor(), &body, &mime).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn clear_logo(State(s): State<ApiState>, Can(p): Can<ADMIN>) -> ApiResult<StatusCode> {
    settings::clear_logo(s.control.pool(), &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_kind: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

pub async fn audit_log(
    State(s): State<ApiState>,
    _: Can<READ>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<audit::AuditPage>> {
    let Query(q) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let filter = audit::AuditFilter {
        actor: q.actor,
        action: q.action,
        target_kind: q.target_kind,
        since: q.since,
        until: q.until,
        before_id: q.before_id,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(audit::query(s.control.pool(), &filter).await?))
}

pub async fn export_config(State(s): State<ApiState>, _: Can<ADMIN>) -> ApiResult<Response> {
    let doc = export::export(s.control.pool()).await?;
    let name = format!(
        "attachment; filename=\"relevo-config-{}.json\"",
        OffsetDateTime::now_utc().date()
    );
    Ok(([(header::CONTENT_DISPOSITION, name)], Json(doc)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    #[serde(default)]
    pub mode: Option<String>,
}

pub async fn import_config(
    State(s): State<ApiState>,
    Can(p): Can<ADMIN>,
    Query(q): Query<ImportQuery>,
    Body(doc): Body<export::ConfigExport>,
) -> ApiResult<StatusCode> {
    let mode = match q.mode.as_deref() {
        None | Some("empty") => export::ImportMode::Empty,
        Some("replace") => export::ImportMode::Replace,
        Some(other) => {
            return Err(ApiError::invalid(
                "mode",
                format!("{other:?} is not a mode: use empty or replace"),
            ))
        }
    };
    let guard = s.control.write_lock().await;
    s.control.check_import(&doc).await?;
    export::import(s.control.pool(), &p.actor(), &doc, mode).await?;
    if doc.alerts.is_some() {
        s.alerts.reload();
    }
    if let Err(e) = s.control.apply_locked(&guard).await {
        tracing::error!("the engine did not take the imported flows: {e}");
    }
    Ok(StatusCode::NO_CONTENT)
}
