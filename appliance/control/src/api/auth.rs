//! Who is calling, and what their role allows: the one place where roles become
//! permissions (DESIGN.md §2 "Roles … enforced in one place").
//!
//! A request authenticates with `Authorization: Bearer …`: a JWT access token (a user) or an
//! API token (`rlv_at_…`, tied to a role). The panel's session cookie is accepted too, but
//! only on reads (`GET`, which includes the WebSocket upgrade) and only from the panel's own
//! origin: a cookie is sent by the browser on its own, so accepting it for changes would
//! open the API to cross-site request forgery. The panel's forms carry a CSRF token instead.
//! The user is read from the database on every request, so disabling an account or
//! changing its role takes effect at once, not when the access token expires; an access
//! token issued before the user's last password change, disable, role change or 2FA reset
//! is refused (its token generation is older than the row's). An API token dies with the
//! admin who created it (`store::api_tokens`).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};

use super::error::ApiError;
use super::ApiState;
use crate::domain::Role;
use crate::store::users::User;
use crate::store::{api_tokens, panel_sessions, users, Actor, StoreError};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// See flows (secrets masked for Visor), status, metrics, audit.
    Read,
    /// Create, change, start and stop inputs and outputs.
    Operate,
    /// Users, API tokens, settings, configuration import/export.
    Admin,
}

/// The role matrix.
pub fn allows(role: Role, permission: Permission) -> bool {
    match role {
        Role::Admin => true,
        Role::Tecnico => matches!(permission, Permission::Read | Permission::Operate),
        Role::Visor => permission == Permission::Read,
    }
}

/// Whether this role sees stream keys, passphrases and destination URLs in clear.
pub fn sees_secrets(role: Role) -> bool {
    role != Role::Visor
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    User {
        id: i64,
        email: String,
        /// 2FA is required of this user but not enrolled yet: only the enrolment routes.
        must_enroll_totp: bool,
    },
    Token {
        id: i64,
        name: String,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub who: Who,
    pub role: Role,
    pub addr: Option<IpAddr>,
}

impl Principal {
    /// Refuses what the role does not allow (and everything but enrolment while a required
    /// 2FA is not set up).
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if let Who::User {
            must_enroll_totp: true,
            ..
        } = self.who
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "totp_enrollment_required",
                "two-factor authentication is required for this account: enrol first",
            ));
        }
        if allows(self.role, permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// A signed-in user, as stored now.
    pub fn of_user(user: User, addr: Option<IpAddr>) -> Self {
        Principal {
            who: Who::User {
                id: user.id,
                must_enroll_totp: user.totp_required && !user.totp_enrolled,
                email: user.email,
            },
            role: user.role,
            addr,
        }
    }

    pub fn sees_secrets(&self) -> bool {
        sees_secrets(self.role)
    }

    /// The user behind the call, for the routes about oneself.
    pub fn user_id(&self) -> Result<i64, ApiError> {
        match self.who {
            Who::User { id, .. } => Ok(id),
            Who::Token { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "user_only",
                "an API token has no account of its own",
            )),
        }
    }

    /// Who to write in the audit log.
    pub fn actor(&self) -> Actor {
        match &self.who {
            Who::User { id, email, .. } => Actor::user(*id, email, self.addr),
            Who::Token { name, .. } => Actor {
                user_id: None,
                label: format!("token:{name}"),
                addr: self.addr,
            },
        }
    }

    fn limiter_key(&self) -> String {
        match &self.who {
            Who::User { id, .. } => format!("u{id}"),
            Who::Token { id, .. } => format!("t{id}"),
        }
    }
}

/// The client's address: the peer, or the proxy's `X-Forwarded-For` / `X-Real-IP` when the
/// peer is a configured trusted proxy (`[http] trusted_proxies`, the appliance's nginx).
pub fn client_addr(parts: &Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match peer {
        Some(ip) if super::edge::via_trusted_proxy(parts) => forwarded(&parts.headers).or(Some(ip)),
        other => other,
    }
}

fn forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    let xff = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok());
    xff.or_else(|| {
        headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    })
}

/// The panel's session cookie.
pub const SESSION_COOKIE: &str = "relevo_session";

/// How a request proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT access token or an API token.
    Bearer(String),
    /// The panel's session cookie.
    Panel(String),
}

/// The bearer token of a request: the `Authorization` header only. Never a query parameter:
/// URLs end up in proxy logs, browser history and `Referer` headers. The panel's WebSocket
/// authenticates with its cookie; other clients send the header on the upgrade request.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Whether a browser request comes from a page of this server: an `Origin` header, when
/// there is one, must name the host the request was sent to. Browsers always send it on
/// WebSocket upgrades, so another site cannot open the event stream with our cookie.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The credential of a request; the cookie only on reads from our own origin.
pub fn credential(parts: &Parts) -> Option<Credential> {
    if let Some(token) = bearer(&parts.headers) {
        return Some(Credential::Bearer(token));
    }
    let cookie = cookie(&parts.headers, SESSION_COOKIE)?;
    (parts.method == Method::GET && same_origin(&parts.headers))
        .then(|| Credential::Panel(cookie.to_owned()))
}

impl FromRequestParts<ApiState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let addr = client_addr(parts);
        let credential = credential(parts).ok_or_else(|| {
            ApiError::unauthenticated("sign in: send Authorization: Bearer <token>")
        })?;
        let principal = authenticate(state, &credential, addr).await?;
        state
            .api_limiter
            .check(&principal.limiter_key(), Instant::now())
            .map_err(ApiError::too_many)?;
        // The WebSocket re-checks it while it stays open.
        parts.extensions.insert(credential);
        Ok(principal)
    }
}

pub(crate) async fn authenticate(
    state: &ApiState,
    credential: &Credential,
    addr: Option<IpAddr>,
) -> Result<Principal, ApiError> {
    let pool = state.control.pool();
    let token = match credential {
        Credential::Panel(cookie) => {
            return match panel_sessions::lookup(pool, cookie, state.config.panel).await? {
                Some(s) if !s.totp_pending => Ok(Principal::of_user(s.user, addr)),
                _ => Err(ApiError::unauthenticated("the panel session has ended")),
            };
        }
        Credential::Bearer(token) => token,
    };
    if token.starts_with(crate::auth::API_TOKEN_PREFIX) {
        let t = api_tokens::authenticate(pool, token)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("unknown or revoked API token"))?;
        return Ok(Principal {
            who: Who::Token {
                id: t.id,
                name: t.name,
            },
            role: t.role,
            addr,
        });
    }
    let claims = state
        .jwt
        .verify(token)
        .map_err(|e| ApiError::unauthenticated(format!("access token refused: {e}")))?;
    let user = match users::get_with_generation(pool, claims.sub).await {
        Ok((_, gen)) if claims.gen < gen => {
            return Err(ApiError::unauthenticated(
                "this access token predates a change to the account (password, role, 2FA): sign in again",
            ))
        }
        Ok((u, _)) => u,
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::unauthenticated("this account no longer exists"))
        }
        Err(e) => return Err(e.into()),
    };
    if user.disabled {
        return Err(ApiError::unauthenticated("this account is disabled"));
    }
    Ok(Principal::of_user(user, addr))
}

/// `Can<READ>`, `Can<OPERATE>`, `Can<ADMIN>`: a principal whose role allows the route. As an
/// extractor it runs before the body is read, so a refused caller learns nothing about the
/// body's validity (403 comes before 422).
#[derive(Debug, Clone)]
pub struct Can<const P: u8>(pub Principal);

pub const READ: u8 = 0;
pub const OPERATE: u8 = 1;
pub const ADMIN: u8 = 2;

/// The permission a `Can<P>` stands for.
pub const fn permission(p: u8) -> Permission {
    match p {
        READ => Permission::Read,
        OPERATE => Permission::Operate,
        _ => Permission::Admin,
    }
}

impl<const P: u8> FromRequestParts<ApiState> for Can<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.require(permission(P))?;
        Ok(Can(principal))
    }
}

/// A signed-in *user* (not an API token) acting on their own account: allowed while a
/// required 2FA is not enrolled yet, so that they can enrol.
#[derive(Debug, Clone)]
pub struct Me {
    pub id: i64,
    pub principal: Principal,
}

impl FromRequestParts<ApiState> for Me {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let id = principal.user_id()?;
        Ok(Me { id, principal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        use Permission::*;
        let expect = [
            (Role::Admin, [true, true, true]),
            (Role::Tecnico, [true, true, false]),
            (Role::Visor, [true, false, false]),
        ];
        for (role, row) in expect {
            for (p, want) in [Read, Operate, Admin].into_iter().zip(row) {
                assert_eq!(allows(role, p), want, "{role} {p:?}");
            }
        }
        assert!(!sees_secrets(Role::Visor));
        assert!(sees_secrets(Role::Tecnico));
    }

    #[test]
    fn origin_must_match_host() {
        use axum::http::HeaderValue;
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("relay.example.net"));
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("ASCII"));
            }
            h
        };
        assert!(
            same_origin(&headers(None)),
            "no Origin: not a cross-site browser request"
        );
        assert!(same_origin(&headers(Some("https://relay.example.net"))));
        assert!(!same_origin(&headers(Some("https://evil.example"))));
        assert!(!same_origin(&headers(Some(
            "https://relay.example.net.evil.example"
        ))));
        assert!(!same_origin(&headers(Some("null"))));
    }
}
