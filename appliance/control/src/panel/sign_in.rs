//! Signing in (password, then the 2FA code when the account has one), signing out, and the
//! first admin's page (`/setup#token=…`, the link `relevo serve` logs on a fresh install).
//! The checks are the API's own ([`first_factor`], [`second_factor`], [`first_admin`]): the
//! same limits, the same audit rows.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use secrecy::SecretString;
use serde::Deserialize;

use super::web::{render_status, set_cookie, Page, PanelResult, Visitor};
use crate::api::auth::{cookie, SESSION_COOKIE};
use crate::api::json::Body;
use crate::api::session::{
    first_admin, first_factor, second_factor, signed_in, ClientAddr, FirstFactor, SetupBody,
};
use crate::api::ApiState;
use crate::store::panel_sessions;
use crate::store::users::User;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    error: Option<String>,
    email: String,
    next: String,
}

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    page: Page,
    error: Option<String>,
    next: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: Page,
    error: Option<String>,
    email: String,
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    ok: Option<String>,
}

/// Only a path of ours: never another site (see [`super::local_path`]).
fn safe_next(next: Option<&str>) -> String {
    super::local_path::local_or_root(next)
}

pub async fn login_page(
    State(s): State<ApiState>,
    v: Visitor,
    Query(q): Query<NextQuery>,
) -> PanelResult<Response> {
    if crate::store::users::count_users(s.control.pool()).await? == 0 {
        return Ok(Redirect::to("/setup").into_response());
    }
    let page = Page::public(&s, &v, "login")
        .await?
        .with_notice(q.ok.as_deref());
    Ok(render_status(
        StatusCode::OK,
        &LoginPage {
            page,
            error: None,
            email: String::new(),
            next: safe_next(q.next.as_deref()),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
    #[serde(default)]
    next: Option<String>,
}

/// Sets the session cookie and goes on.
pub(super) fn with_session(to: &str, token: &SecretString, v: &Visitor) -> Response {
    use secrecy::ExposeSecret;
    let mut res = Redirect::to(to).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, token.expose_secret(), None, false, v.https),
    );
    res
}

pub async fn login(
    State(s): State<ApiState>,
    v: Visitor,
    Form(f): Form<LoginForm>,
) -> PanelResult<Response> {
    let next = safe_next(f.next.as_deref());
    let pool = s.control.pool();
    let life = s.config.panel;
    match first_factor(&s, v.addr, &f.email, &f.password).await {
        Ok(FirstFactor::Done(user)) => {
            signed_in(&s, v.addr, &user).await?;
            let token = panel_sessions::create(pool, user.id, false, life).await?;
            Ok(with_session(&next, &token, &v))
        }
        Ok(FirstFactor::TotpOwed(user)) => {
            let token = panel_sessions::create(pool, user.id, true, life).await?;
            let to = format!(
                "/login/code?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            Ok(with_session(&to, &token, &v))
        }
        Err(e) => {
            let page = Page::public(&s, &v, "login").await?;
            let error = Some(page.error_text(&e));
            let status = e.status;
            Ok(render_status(
                status,
                &LoginPage {
                    page,
                    error,
                    email: f.email.chars().take(254).collect(),
                    next,
                },
            ))
        }
    }
}

/// The pending sign-in of this browser (password given, code owed).
async fn pending(
    s: &ApiState,
    headers: &axum::http::HeaderMap,
) -> PanelResult<Option<(String, User)>> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(
        panel_sessions::lookup(s.control.pool(), token, s.config.panel)
            .await?
            .filter(|p| p.totp_pending)
            .map(|p| (token.to_owned(), p.user)),
    )
}

pub async fn code_page(
    State(s): State<ApiState>,
    v: Visitor,
    headers: axum::http::HeaderMap,
    Query(q): Query<NextQuery>,
) -> PanelResult<Response> {
    if pending(&s, &headers).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    let page = Page::public(&s, &v, "login").await?;
    Ok(render_status(
        StatusCode::OK,
        &CodePage {
            page,
            error: None,
            next: safe_next(q.next.as_deref()),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    code: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn code(
    State(s): State<ApiState>,
    v: Visitor,
    headers: axum::http::HeaderMap,
    Form(f): Form<CodeForm>,
) -> PanelResult<Response> {
    let next = safe_next(f.next.as_deref());
    let Some((pending_token, user)) = pending(&s, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let pool = s.control.pool();
    match second_factor(&s, v.addr, &user, &f.code).await {
        Ok(()) => {
            signed_in(&s, v.addr, &user).await?;
            // A new token for the full session: the pending one is never promoted.
            panel_sessions::delete(pool, &pending_token).await?;
            let token = panel_sessions::create(pool, user.id, false, s.config.panel).await?;
            Ok(with_session(&next, &token, &v))
        }
        Err(e) => {
            let page = Page::public(&s, &v, "login").await?;
            let error = Some(page.error_text(&e));
            Ok(render_status(e.status, &CodePage { page, error, next }))
        }
    }
}

/// `POST /logout`: ends the session (or a pending sign-in) and forgets the cookie.
pub async fn logout(
    State(s): State<ApiState>,
    v: Visitor,
    headers: axum::http::HeaderMap,
) -> PanelResult<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        panel_sessions::delete(s.control.pool(), token).await?;
    }
    let mut res = Redirect::to("/login?ok=signed_out").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", Some(0), false, v.https),
    );
    Ok(res)
}

pub async fn setup_page(State(s): State<ApiState>, v: Visitor) -> PanelResult<Response> {
    if crate::store::users::count_users(s.control.pool()).await? > 0 {
        return Ok(Redirect::to("/login").into_response());
    }
    let page = Page::public(&s, &v, "setup").await?;
    Ok(render_status(
        StatusCode::OK,
        &SetupPage {
            page,
            error: None,
            email: String::new(),
            token: String::new(),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    token: SecretString,
    email: String,
    password: SecretString,
}

/// `POST /setup`: creates the first admin with the one-time token, then signs them in.
pub async fn setup(
    State(s): State<ApiState>,
    v: Visitor,
    Form(f): Form<SetupForm>,
) -> PanelResult<Response> {
    use secrecy::ExposeSecret;
    let token_text = f.token.expose_secret().to_owned();
    let body = SetupBody {
        token: f.token,
        email: f.email.clone(),
        password: f.password.clone(),
    };
    let result = first_admin(State(s.clone()), ClientAddr(v.addr), Body(body)).await;
    match result {
        Ok((_, axum::Json(user))) => {
            signed_in(&s, v.addr, &user).await?;
            let token =
                panel_sessions::create(s.control.pool(), user.id, false, s.config.panel).await?;
            Ok(with_session("/?ok=created", &token, &v))
        }
        Err(e) if e.code == "already_set_up" => Ok(Redirect::to("/login").into_response()),
        Err(e) => {
            let page = Page::public(&s, &v, "setup").await?;
            let error = Some(page.error_text(&e));
            Ok(render_status(
                e.status,
                &SetupPage {
                    page,
                    error,
                    email: f.email.chars().take(254).collect(),
                    token: token_text,
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/inputs/3")), "/inputs/3");
        assert_eq!(safe_next(Some("//evil.example/x")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
