//! One's own account (`/account`): the password, and two-step verification (TOTP) — begin
//! (with the current password), confirm with a code, the recovery codes shown once, turn
//! off (with the password). Each form calls the API's
//! own `/api/v1/me*` handler, so the checks and the audit rows are the API's.
//!
//! The QR code is shown by the page that answers `POST /account/totp/begin` (it is not
//! stored anywhere the page could read it back from); a wrong code re-draws it from the
//! secret the form carries, which is only for display: the code is checked against the
//! pending secret in the database.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::form_errors::FormErrors;
use super::sign_in::with_session;
use super::web::{done, render_status, Page, PanelResult, Session};
use crate::api::auth::Me;
use crate::api::error::ApiError;
use crate::api::json::Body;
use crate::api::session::{self as api, CodeBody, PasswordBody, PasswordChange, RecoveryCodes};
use crate::api::ApiState;
use crate::auth::totp;
use crate::store::panel_sessions;
use crate::store::users::User;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: Page,
    user: User,
    /// 2FA must be turned on before anything else (the admin requires it).
    must_enrol: bool,
    /// An enrolment in progress: the QR code and the secret to type in by hand.
    enrolment: Option<Enrolment>,
    /// Just confirmed: the recovery codes, shown this once.
    recovery_codes: Vec<String>,
    errors: FormErrors,
}

struct Enrolment {
    secret: String,
    /// Our own SVG (`auth::totp::qr_svg`), rendered unescaped.
    qr_svg: String,
}

impl AccountPage {
    async fn new(s: &ApiState, session: &Session, enrol_asked: bool) -> PanelResult<Self> {
        let user = session.user.clone();
        Ok(AccountPage {
            page: Page::new(s, session, "account").await?,
            must_enrol: !user.totp_enrolled && (enrol_asked || user.totp_required),
            user,
            enrolment: None,
            recovery_codes: Vec::new(),
            errors: FormErrors::default(),
        })
    }

    /// Shows `e` on `form` (whose inputs are `fields`).
    fn failed(mut self, form: &'static str, fields: &[&str], e: &ApiError) -> Response {
        let text = explain(&self.page, e);
        self.errors = FormErrors::new(form, 0, fields, e, text);
        render_status(e.status, &self)
    }
}

/// The API's error in words, with the wording this page needs where the shared one does not
/// fit (`password` here is a wrong password, not a too short one).
fn explain(page: &Page, e: &ApiError) -> String {
    match (e.code, e.field.as_deref()) {
        ("invalid_value", Some("password")) => page.t("account.wrong_password").to_owned(),
        ("invalid_value", Some("confirm_password")) => page.t("account.mismatch").to_owned(),
        _ => page.error_text(e),
    }
}

/// The signed-in user as the API's "me" routes take them.
fn me(session: &Session) -> Me {
    Me {
        id: session.user.id,
        principal: session.principal.clone(),
    }
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    enrol: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

/// `GET /account`.
pub async fn page(
    State(s): State<ApiState>,
    session: Session,
    Query(q): Query<AccountQuery>,
) -> PanelResult<Response> {
    let mut view = AccountPage::new(&s, &session, q.enrol.as_deref() == Some("1")).await?;
    view.page = view.page.with_notice(q.ok.as_deref());
    Ok(render_status(StatusCode::OK, &view))
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
    confirm_password: SecretString,
}

const PASSWORD_FIELDS: &[&str] = &["current_password", "new_password", "confirm_password"];

/// `POST /account/password`. A new password ends every session of the account (the API's
/// rule), this one included, so a fresh session is started for this browser.
pub async fn change_password(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<PasswordForm>,
) -> PanelResult<Response> {
    let view = AccountPage::new(&s, &session, false).await?;
    if f.new_password.expose_secret() != f.confirm_password.expose_secret() {
        let e = ApiError::invalid("confirm_password", "the new passwords differ");
        return Ok(view.failed("password", PASSWORD_FIELDS, &e));
    }
    let body = PasswordChange {
        current_password: f.current_password,
        new_password: f.new_password,
    };
    match api::change_password(State(s.clone()), me(&session), Body(body)).await {
        Ok(_) => {
            let pool = s.control.pool();
            let token =
                panel_sessions::create(pool, session.user.id, false, s.config.panel).await?;
            Ok(with_session(
                "/account?ok=password",
                &token,
                &session.visitor,
            ))
        }
        Err(e) => Ok(view.failed("password", PASSWORD_FIELDS, &e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct BeginForm {
    password: SecretString,
}

/// `POST /account/totp/begin`, with the password: a new pending secret, shown at once as a
/// QR code.
pub async fn totp_begin(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<BeginForm>,
) -> PanelResult<Response> {
    let mut view = AccountPage::new(&s, &session, false).await?;
    let body = PasswordBody {
        password: f.password,
    };
    match api::totp_begin(State(s.clone()), me(&session), Body(body)).await {
        Ok(Json(en)) => {
            view.enrolment = Some(Enrolment {
                secret: en.secret,
                qr_svg: en.qr_svg,
            });
            Ok(render_status(StatusCode::OK, &view))
        }
        Err(e) => Ok(view.failed("totp", &["password"], &e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    code: String,
    /// The secret the page showed, to show it again after a wrong code.
    #[serde(default)]
    secret: String,
}

/// `POST /account/totp/confirm`: on the right code, 2FA is on and the recovery codes are
/// shown, once.
pub async fn totp_confirm(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<ConfirmForm>,
) -> PanelResult<Response> {
    let mut view = AccountPage::new(&s, &session, false).await?;
    let body = CodeBody { code: f.code };
    match api::totp_confirm(State(s.clone()), me(&session), Body(body)).await {
        Ok(Json(RecoveryCodes { recovery_codes })) => {
            view.user.totp_enrolled = true;
            view.must_enrol = false;
            view.recovery_codes = recovery_codes;
            view.page = view.page.with_notice(Some("totp_on"));
            Ok(render_status(StatusCode::OK, &view))
        }
        Err(e) => {
            // Without a pending secret there is nothing to draw again: begin anew.
            if e.code != "totp_not_started" {
                view.enrolment = redraw(&view.page, &session.user, &f.secret);
            }
            Ok(view.failed("confirm", &["code"], &e))
        }
    }
}

/// The QR code of the enrolment `secret` (as the page showed it), if it is one.
fn redraw(page: &Page, user: &User, secret: &str) -> Option<Enrolment> {
    let parsed = totp::Secret::from_base32(secret).ok()?;
    let uri = totp::otpauth_uri(&parsed, &page.brand.product_name, &user.email);
    Some(Enrolment {
        secret: parsed.to_base32(),
        qr_svg: totp::qr_svg(&uri),
    })
}

#[derive(Debug, Deserialize)]
pub struct DisableForm {
    password: SecretString,
}

/// `POST /account/totp/disable`, with the password (refused when the admin requires 2FA).
pub async fn totp_disable(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<DisableForm>,
) -> PanelResult<Response> {
    let body = PasswordBody {
        password: f.password,
    };
    match api::totp_disable(State(s.clone()), me(&session), Body(body)).await {
        Ok(_) => Ok(done("/account", "totp_off")),
        Err(e) => {
            let view = AccountPage::new(&s, &session, false).await?;
            Ok(view.failed("disable", &["password"], &e))
        }
    }
}
