//! The panel's request plumbing: cookies, CSRF, the signed-in session, and the context
//! every page is rendered with.
//!
//! - Session: `relevo_session` (HttpOnly, SameSite=Lax, Secure behind HTTPS) holds an
//!   opaque token whose hash is in `panel_sessions`.
//! - CSRF: every state-changing request (any method but GET/HEAD) must come from our own
//!   origin (`Origin` checked against `Host`) and carry the browser's CSRF token — the
//!   `relevo_csrf` cookie (SameSite=Strict) — in the form field `_csrf` (or, for file
//!   uploads, the `_csrf` query parameter). [`csrf_layer`] enforces it for every route, so
//!   no handler can forget it.
//! - Language: `relevo_lang` cookie, Spanish by default.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use data_encoding::BASE64URL_NOPAD;

use super::i18n::{Lang, Words};
use crate::api::auth::{
    allows, client_addr, cookie, same_origin, Permission, Principal, SESSION_COOKIE,
};
use crate::api::error::ApiError;
use crate::api::ApiState;
use crate::auth::token::random_bytes;
use crate::domain::Role;
use crate::store::panel_sessions;
use crate::store::settings::{self, Branding};
use crate::store::users::User;

pub const CSRF_COOKIE: &str = "relevo_csrf";
pub const LANG_COOKIE: &str = "relevo_lang";
/// The form field (or query parameter) that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
/// The largest form the panel reads (a logo upload is the largest).
const MAX_FORM: usize = 2 * 1024 * 1024;

/// Whether the browser reached us over HTTPS: the appliance's nginx says so in
/// `X-Forwarded-Proto`, trusted only from a configured proxy like `X-Forwarded-For`.
pub fn is_https(parts: &Parts) -> bool {
    crate::api::edge::via_trusted_proxy(parts)
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value. `max_age` `None` is a browser-session cookie; `Some(0)` deletes.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<i64>,
    strict: bool,
    https: bool,
) -> HeaderValue {
    let mut c = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={}",
        if strict { "Strict" } else { "Lax" }
    );
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if https {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are token characters")
}

/// The browser's CSRF token, created on its first page (see [`csrf_layer`]).
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// Gives every browser a CSRF token and refuses a state-changing request without it.
pub async fn csrf_layer(req: Request, next: Next) -> Response {
    let existing = cookie(req.headers(), CSRF_COOKIE)
        .filter(|v| v.len() == 43)
        .map(str::to_owned);
    if req.method() == Method::GET || req.method() == Method::HEAD {
        let (token, fresh) = match existing {
            Some(t) => (t, false),
            None => (BASE64URL_NOPAD.encode(&random_bytes::<32>()), true),
        };
        let (mut parts, body) = req.into_parts();
        let https = is_https(&parts);
        parts.extensions.insert(CsrfToken(token.clone()));
        let mut res = next.run(Request::from_parts(parts, body)).await;
        if fresh {
            res.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(CSRF_COOKIE, &token, None, true, https),
            );
        }
        return res;
    }
    let lang = lang_of(req.headers());
    let Some(expected) = existing else {
        return forbidden(lang, "no CSRF cookie");
    };
    if !same_origin(req.headers()) {
        return forbidden(lang, "cross-origin form");
    }
    let (mut parts, body) = req.into_parts();
    let from_query = parts.uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned())
    });
    let (presented, body) = match from_query {
        Some(v) => (Some(v), body),
        None => {
            let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
                return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
            };
            let v = url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned());
            (v, Body::from(bytes))
        }
    };
    if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes())) {
        return forbidden(lang, "missing or wrong CSRF token");
    }
    parts.extensions.insert(CsrfToken(expected));
    next.run(Request::from_parts(parts, body)).await
}

/// A refused form: logged with its reason, answered with a page asking to reload.
fn forbidden(lang: Lang, why: &'static str) -> Response {
    tracing::info!("panel: form refused: {why}");
    error_page(lang, StatusCode::FORBIDDEN, lang.words().get("error.csrf"))
}

/// A page with one message, for errors outside the templates.
fn error_page(lang: Lang, status: StatusCode, text: &str) -> Response {
    let words = lang.words();
    let body = format!(
        "<!doctype html><html lang=\"{code}\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{status}</title><link rel=\"stylesheet\" href=\"/assets/panel.css\">\
         <main class=\"narrow card\"><h1>{status}</h1><p>{text}</p>\
         <p><a href=\"/\">{home}</a></p></main></html>",
        code = lang.code(),
        text = escape(text),
        home = escape(words.get("nav.dashboard")),
    );
    (status, Html(body)).into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The language of the request: the cookie, else Spanish.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::from_code)
        .unwrap_or_default()
}

/// What every page may show without a session: language, CSRF token, branding.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub lang: Lang,
    pub csrf: String,
    pub https: bool,
    pub addr: Option<std::net::IpAddr>,
    /// The host the browser used, for the connection URLs shown to operators.
    pub host: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get("x-forwarded-host")
            .filter(|_| is_https(parts))
            .or_else(|| parts.headers.get(header::HOST))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        Ok(Visitor {
            lang: lang_of(&parts.headers),
            csrf: parts
                .extensions
                .get::<CsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            https: is_https(parts),
            addr: client_addr(parts),
            host,
        })
    }
}

/// A signed-in user of the panel. As an extractor it sends a visitor without a session to
/// the sign-in page, one who owes a 2FA code to the code page, and one whose admin requires
/// 2FA that is not set up yet to the enrolment page.
#[derive(Debug, Clone)]
pub struct Session {
    pub visitor: Visitor,
    pub user: User,
    pub principal: Principal,
}

/// Where the extractor sends a request it cannot serve.
#[derive(Debug)]
pub struct ToSignIn(Response);

impl IntoResponse for ToSignIn {
    fn into_response(self) -> Response {
        self.0
    }
}

/// The path to come back to after signing in, if it is one of ours.
fn next_of(parts: &Parts) -> String {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if parts.method == Method::GET {
        super::local_path::local_or_root(Some(&path))
    } else {
        "/".to_owned()
    }
}

impl FromRequestParts<ApiState> for Session {
    type Rejection = ToSignIn;

    async fn from_request_parts(parts: &mut Parts, s: &ApiState) -> Result<Self, ToSignIn> {
        let visitor = Visitor::from_request_parts(parts, s)
            .await
            .unwrap_or_else(|e| match e {});
        let login = || {
            let next =
                url::form_urlencoded::byte_serialize(next_of(parts).as_bytes()).collect::<String>();
            ToSignIn(Redirect::to(&format!("/login?next={next}")).into_response())
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(login());
        };
        let found = panel_sessions::lookup(s.control.pool(), &token, s.config.panel)
            .await
            .map_err(|e| ToSignIn(ApiError::from(e).into_response()))?;
        let Some(session) = found else {
            return Err(login());
        };
        if session.totp_pending {
            return Err(ToSignIn(Redirect::to("/login/code").into_response()));
        }
        let principal = Principal::of_user(session.user.clone(), visitor.addr);
        let enrolling = parts.uri.path().starts_with("/account");
        if session.user.totp_required && !session.user.totp_enrolled && !enrolling {
            return Err(ToSignIn(Redirect::to("/account?enrol=1").into_response()));
        }
        Ok(Session {
            visitor,
            user: session.user,
            principal,
        })
    }
}

impl Session {
    /// Whether pages show change controls: the API's own role matrix decides.
    pub fn can_operate(&self) -> bool {
        allows(self.user.role, Permission::Operate)
    }

    pub fn is_admin(&self) -> bool {
        allows(self.user.role, Permission::Admin)
    }
}

/// The signed-in user as the layout shows them.
#[derive(Debug, Clone)]
pub struct PageUser {
    pub email: String,
    pub role: Role,
    pub can_operate: bool,
    pub is_admin: bool,
}

/// The context of every page: language, branding, who is signed in, the CSRF token, the
/// active menu entry and a one-line notice.
#[derive(Debug)]
pub struct Page {
    pub lang: Lang,
    pub words: &'static Words,
    pub brand: Branding,
    pub user: Option<PageUser>,
    pub csrf: String,
    /// The menu entry to highlight (`dashboard`, `flows`, `users`…).
    pub nav: &'static str,
    /// A translated notice (`flash.saved`…), shown once after a redirect.
    pub notice: Option<&'static str>,
    /// A translated error notice (`alert.no_backup`…), shown once after a redirect.
    pub alert: Option<&'static str>,
}

impl Page {
    /// A page for a visitor without a session (sign-in, setup).
    pub async fn public(s: &ApiState, v: &Visitor, nav: &'static str) -> Result<Page, PanelError> {
        Ok(Page {
            lang: v.lang,
            words: v.lang.words(),
            brand: settings::get(s.control.pool()).await?,
            user: None,
            csrf: v.csrf.clone(),
            nav,
            notice: None,
            alert: None,
        })
    }

    /// A page for a signed-in user.
    pub async fn new(
        s: &ApiState,
        session: &Session,
        nav: &'static str,
    ) -> Result<Page, PanelError> {
        let mut page = Page::public(s, &session.visitor, nav).await?;
        page.user = Some(PageUser {
            email: session.user.email.clone(),
            role: session.user.role,
            can_operate: session.can_operate(),
            is_admin: session.is_admin(),
        });
        Ok(page)
    }

    pub fn with_notice(mut self, notice: Option<&str>) -> Self {
        self.notice = notice.and_then(|n| {
            NOTICES
                .iter()
                .find(|k| k.strip_prefix("flash.") == Some(n))
                .copied()
        });
        self
    }

    /// An error notice asked for by a redirect (`?err=no_backup`), from [`ALERTS`].
    pub fn with_alert(mut self, alert: Option<&str>) -> Self {
        self.alert = alert.and_then(|n| {
            ALERTS
                .iter()
                .find(|k| k.strip_prefix("alert.") == Some(n))
                .copied()
        });
        self
    }

    /// The text for `key` in the page's language.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.words.get(key)
    }

    /// The text for `section.key`, a key chosen at run time (a preset, a state).
    pub fn tk<'a>(&'a self, section: &str, key: &str) -> &'a str {
        self.words
            .find(&format!("{section}.{key}"))
            .unwrap_or(self.words.get("lasterr.other"))
    }

    /// A role's name in the page's language.
    pub fn role_name(&self, role: &Role) -> &str {
        self.words.get(match role {
            Role::Admin => "role.admin",
            Role::Tecnico => "role.tecnico",
            Role::Visor => "role.visor",
        })
    }

    /// An API error in words for this page: the field's own explanation when there is one,
    /// else the error code's, else the API's English message.
    pub fn error_text(&self, e: &ApiError) -> String {
        if let Some(field) = &e.field {
            let leaf = field.rsplit('.').next().unwrap_or(field);
            if e.code == "conflict" {
                return self.t("error.conflict").to_owned();
            }
            // Not a malformed value but a refused one: the code says why.
            if e.code == "private_destination" {
                return self.t("error.code.private_destination").to_owned();
            }
            if let Some(text) = self.words.find(&format!("error.field.{leaf}")) {
                return text.to_owned();
            }
        }
        match self.words.find(&format!("error.code.{}", e.code)) {
            Some(text) => text.to_owned(),
            None => format!("{} ({})", self.t("error.generic"), e.message),
        }
    }
}

/// The query of a page a form redirects to: `?ok=saved` asks for a notice, `?err=no_backup`
/// for an error notice.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Notice {
    #[serde(default)]
    pub ok: Option<String>,
    #[serde(default)]
    pub err: Option<String>,
}

/// The error notices a redirect may ask for (`?err=…`), a fixed list like [`NOTICES`].
const ALERTS: &[&str] = &[
    "alert.no_backup",
    "alert.backup_not_live",
    "alert.main_not_live",
];

/// The notices a redirect may ask for (`?ok=saved`): a fixed list, so the query string
/// cannot put arbitrary text on the page.
const NOTICES: &[&str] = &[
    "flash.saved",
    "flash.created",
    "flash.deleted",
    "flash.started",
    "flash.stopped",
    "flash.password",
    "flash.totp_on",
    "flash.totp_off",
    "flash.revoked",
    "flash.signed_out",
    "flash.switched",
];

/// What a panel handler fails with: the API's error (shown on an error page) or a redirect.
#[derive(Debug)]
pub enum PanelError {
    Api(ApiError),
    Redirect(String),
}

impl From<ApiError> for PanelError {
    fn from(e: ApiError) -> Self {
        PanelError::Api(e)
    }
}

impl From<crate::store::StoreError> for PanelError {
    fn from(e: crate::store::StoreError) -> Self {
        PanelError::Api(e.into())
    }
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        match self {
            PanelError::Redirect(to) => Redirect::to(&to).into_response(),
            PanelError::Api(e) => {
                // Rendered in Spanish here; [`localize_errors`] renders it again in the
                // visitor's language, which only the request knows.
                let mut res = api_error_page(Lang::default(), &e);
                res.extensions_mut().insert(e);
                res
            }
        }
    }
}

fn api_error_page(lang: Lang, e: &ApiError) -> Response {
    let text = lang
        .words()
        .find(&format!("error.code.{}", e.code))
        .map_or_else(|| e.message.clone(), str::to_owned);
    error_page(lang, e.status, &text)
}

/// Renders the panel's error pages in the language of the request.
pub async fn localize_errors(req: Request, next: Next) -> Response {
    let lang = lang_of(req.headers());
    let res = next.run(req).await;
    match res.extensions().get::<ApiError>() {
        Some(e) if lang != Lang::default() => api_error_page(lang, e),
        _ => res,
    }
}

pub type PanelResult<T> = Result<T, PanelError>;

/// Minimal HTML escaping for text built outside templates.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders a template into a response (a template error is a bug: logged, 500).
pub fn render<T: askama::Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

pub fn render_status<T: askama::Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("panel template: {e}");
            PanelError::Api(ApiError::internal()).into_response()
        }
    }
}

/// A redirect after a refused button, with an error notice (one of [`ALERTS`]).
pub fn refused(to: &str, alert: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}err={alert}")).into_response()
}

/// A redirect after a successful form, with a notice.
pub fn done(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}ok={notice}")).into_response()
}

/// `GET /lang/{code}`: remembers the language for a year and goes back to the page the
/// link was on, when the `Referer` is a page of this very host (port included) and its path
/// passes [`super::local_path`]; anywhere else, to `/`.
pub async fn set_lang(
    axum::extract::Path(code): axum::extract::Path<String>,
    State(_): State<ApiState>,
    headers: HeaderMap,
    v: Visitor,
) -> Response {
    let lang = Lang::from_code(&code).unwrap_or_default();
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| same_host(u, &v.host))
        .map(|u| {
            let mut p = u.path().to_owned();
            if let Some(q) = u.query() {
                p.push('?');
                p.push_str(q);
            }
            super::local_path::local_or_root(Some(&p))
        })
        .unwrap_or_else(|| "/".to_owned());
    let mut res = Redirect::to(&back).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LANG_COOKIE, lang.code(), Some(365 * 86_400), false, v.https),
    );
    res
}

/// Whether `u` names exactly `host` (`name` or `name:port`, as the `Host` header has it).
fn same_host(u: &url::Url, host: &str) -> bool {
    let Some(name) = u.host_str() else {
        return false;
    };
    let authority = match u.port() {
        Some(port) => format!("{name}:{port}"),
        None => name.to_owned(),
    };
    authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_has_words_in_every_language() {
        for lang in Lang::ALL {
            for key in NOTICES.iter().chain(ALERTS) {
                assert!(lang.words().find(key).is_some(), "{} {key}", lang.code());
            }
        }
    }
}
