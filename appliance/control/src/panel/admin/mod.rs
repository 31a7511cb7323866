//! The admin's pages — users (`/users`), API tokens (`/tokens`), branding (`/settings`),
//! alerts (`/alerts`) —
//! and the audit log (`/audit`, every role reads it). Each form calls the API's own handler
//! with the signed-in user as its principal: the same checks, the same audit rows, and the
//! API's error shown next to the field it names ([`FormErrors`]). One file per page:
//! `users`, `tokens`, `audit`, `settings`, `alerts`; this one holds what they share.
//!
//! A Técnico or a Visor gets 403 on the admin pages, as from the API.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::{Form, Json};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, UtcOffset};

use super::form_errors::FormErrors;
use super::sign_in::with_session;
use super::web::{done, render_status, Notice, Page, PanelResult, Session};
use crate::api::admin::{
    self as api, AuditQuery, CreatedToken, NewToken, NewUser, SetPassword, SettingsPatch,
    UserPatchBody,
};
use crate::api::auth::{Can, Permission, ADMIN, READ};
use crate::api::error::ApiError;
use crate::api::json::Body;
use crate::api::ApiState;
use crate::domain::Role;
use crate::store::api_tokens::ApiToken;
use crate::store::audit::AuditEntry;
use crate::store::panel_sessions;
use crate::store::settings::MAX_LOGO_BYTES;
use crate::store::users::User;

mod alerts;
mod audit;
mod settings;
mod tokens;
mod users;

pub use alerts::{
    alerts_page, create_channel as create_alert_channel, create_rule as create_alert_rule,
    delete_channel as delete_alert_channel, delete_rule as delete_alert_rule,
    test_channel as test_alert_channel, update_alert_settings,
    update_channel as update_alert_channel, update_rule as update_alert_rule,
};
pub use audit::audit_page;
pub use settings::{clear_logo, settings_page, update_destinations, update_settings, upload_logo};
pub use tokens::{create_token, revoke_token, tokens_page};
pub use users::{
    create_user, delete_user, reset_user_totp, set_user_password, update_user, users_page,
};

/// The API's error in words, with these pages' own wording for the fields the shared
/// catalogue does not explain.
fn explain(page: &Page, e: &ApiError) -> String {
    match (e.code, e.field.as_deref()) {
        ("invalid_value", Some("role")) => page.t("users.bad_role").to_owned(),
        ("invalid_value", Some("product_name")) => page.t("settings.bad_name").to_owned(),
        ("invalid_value", Some("primary_color")) => page.t("settings.bad_color").to_owned(),
        ("invalid_value", Some("mime")) => page.t("settings.bad_type").to_owned(),
        ("invalid_value", Some("logo")) => page.t("settings.bad_logo").to_owned(),
        ("no_file", _) => page.t("settings.no_file").to_owned(),
        ("too_large", _) => page.t("settings.too_large").to_owned(),
        ("invalid_value", Some("since")) => page.t("audit.bad_date").to_owned(),
        _ => page.error_text(e),
    }
}

/// The signed-in user as an admin, or 403.
fn admin(session: &Session) -> Result<Can<ADMIN>, ApiError> {
    let p = session.principal.clone();
    p.require(Permission::Admin)?;
    Ok(Can(p))
}

/// Roles in the order the selects list them.
const ROLES: &[Role] = &[Role::Admin, Role::Tecnico, Role::Visor];

fn parse_role(s: &str) -> Result<Role, ApiError> {
    s.parse()
        .map_err(|_| ApiError::invalid("role", format!("{s:?} is not a role")))
}

/// A moment as the tables show it: UTC, `2026-11-25 14:03:12`.
fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{} {:02}:{:02}:{:02}",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A form's text, trimmed; empty is none.
fn given(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
