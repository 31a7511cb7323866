//! Signing in and out, the first admin, and what a user does about their own account:
//! `/api/v1/auth/*`, `/api/v1/setup`, `/api/v1/me*`.
//!
//! Login failures are rate-limited per address and per account ([`LoginLimiter`]) and
//! written to the audit log, successes too. Each attempt reserves its slot before the
//! password is verified, so a burst of concurrent guesses gets no more than the policy's.
//! Attempts refused by a lockout are audited and logged too, the first of each lock and
//! then a summary with a count at most once a minute. Wrong email and wrong password get
//! the same answer, after the same Argon2 work.
//!
//! [`LoginLimiter`]: crate::auth::limiter::LoginLimiter

use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::auth::{client_addr, Me};
use super::error::{ApiError, ApiResult};
use super::json::Body;
use super::ApiState;
use crate::auth::limiter::Refusal;
use crate::auth::totp;
use crate::domain::{Email, Password};
use crate::store::users::{self, User};
use crate::store::{sessions, setup, Actor, StoreError};

/// The caller's address (see [`client_addr`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

#[derive(Debug, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: User,
    /// 2FA is required of this account and not set up: only `/api/v1/me/totp/*` works
    /// until it is.
    pub totp_enrollment_required: bool,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn tokens_for(s: &ApiState, user: users::User, refresh: SecretString) -> ApiResult<Tokens> {
    let gen = users::token_generation(s.control.pool(), user.id).await?;
    let access = s
        .jwt
        .issue(user.id, user.role, gen, s.config.access_ttl)
        .map_err(|e| {
            tracing::error!("cannot sign an access token: {e}");
            ApiError::internal()
        })?;
    Ok(Tokens {
        access_token: access,
        token_type: "Bearer",
        expires_in: s.config.access_ttl.as_secs(),
        refresh_token: refresh.expose_secret().to_owned(),
        totp_enrollment_required: user.totp_required && !user.totp_enrolled,
        user,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: SecretString,
    #[serde(default)]
    pub totp_code: Option<String>,
}

pub async fn login(
    State(s): State<ApiState>,
    ClientAddr(addr): ClientAddr,
    Body(b): Body<LoginBody>,
) -> ApiResult<Json<Tokens>> {
    let user = match first_factor(&s, addr, &b.email, &b.password).await? {
        FirstFactor::Done(user) => user,
        FirstFactor::TotpOwed(user) => match b.totp_code.as_deref().map(str::trim) {
            None | Some("") => return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "totp_required",
                "this account has two-factor authentication: send totp_code (or a recovery code)",
            )),
            Some(code) => {
                second_factor(&s, addr, &user, code).await?;
                user
            }
        },
    };
    signed_in(&s, addr, &user).await?;
    let refresh = sessions::issue(s.control.pool(), user.id, s.config.refresh_ttl).await?;
    Ok(Json(tokens_for(&s, user, refresh).await?))
}

/// The outcome of a right password.
#[derive(Debug)]
pub enum FirstFactor {
    /// Signed in, once [`signed_in`] records it.
    Done(User),
    /// The account has 2FA: a code is owed ([`second_factor`]).
    TotpOwed(User),
}

/// Checks an email and password against the sign-in limits; a refusal is counted and
/// audited. Shared by the API's login and the panel's.
pub async fn first_factor(
    s: &ApiState,
    addr: Option<IpAddr>,
    email: &str,
    password: &SecretString,
) -> ApiResult<FirstFactor> {
    let pool = s.control.pool();
    // Bounded: this string is the attacker's and goes to the audit log and the limiter.
    let email: String = email.trim().chars().take(Email::MAX_LEN).collect();
    reserve(s, addr, &email).await?;
    let verified = users::verify_password(pool, &email, password).await;
    let verified = given_back_on_error(s, addr, &email, verified)?;
    match verified {
        None => Err(refuse(
            s,
            addr,
            &email,
            "bad_credentials",
            "invalid_credentials",
            "wrong email or password",
        )
        .await?),
        Some(user) if user.totp_enrolled => {
            // The right password: the code, next, reserves its own attempt.
            s.login_limiter.release(ip_of(addr), &email, Instant::now());
            Ok(FirstFactor::TotpOwed(user))
        }
        Some(user) => Ok(FirstFactor::Done(user)),
    }
}

/// A check that failed for a reason of ours (no password slot free, the database) verified
/// nothing: its reservation is given back.
fn given_back_on_error<T>(
    s: &ApiState,
    addr: Option<IpAddr>,
    account: &str,
    result: Result<T, StoreError>,
) -> ApiResult<T> {
    result.map_err(|e| {
        s.login_limiter
            .release(ip_of(addr), account, Instant::now());
        e.into()
    })
}

/// Checks a TOTP or recovery code of `user`, under the same limits as the password.
pub async fn second_factor(
    s: &ApiState,
    addr: Option<IpAddr>,
    user: &User,
    code: &str,
) -> ApiResult<()> {
    reserve(s, addr, &user.email).await?;
    let checked = users::second_factor(
        s.control.pool(),
        &s.totp_kek,
        user.id,
        code.trim(),
        now_unix(),
    )
    .await;
    if given_back_on_error(s, addr, &user.email, checked)? {
        Ok(())
    } else {
        Err(refuse(
            s,
            addr,
            &user.email,
            "bad_totp",
            "invalid_totp",
            "wrong or reused code",
        )
        .await?)
    }
}

/// Records a completed sign-in: gives its reservation back, clears the account's failures
/// and writes the audit row.
pub async fn signed_in(s: &ApiState, addr: Option<IpAddr>, user: &User) -> ApiResult<()> {
    s.login_limiter
        .success(ip_of(addr), &user.email, Instant::now());
    let actor = Actor::user(user.id, &user.email, addr);
    users::record_login(s.control.pool(), &actor, &user.email, users::LOGIN_OK).await?;
    Ok(())
}

fn ip_of(addr: Option<IpAddr>) -> IpAddr {
    addr.unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Reserves an attempt for `account` from `addr` ([`LoginLimiter::reserve`]): counted as a
/// failure until [`signed_in`] (or a release) says otherwise. A lockout answers 429.
///
/// [`LoginLimiter::reserve`]: crate::auth::limiter::LoginLimiter::reserve
async fn reserve(s: &ApiState, addr: Option<IpAddr>, account: &str) -> ApiResult<()> {
    match s
        .login_limiter
        .reserve(ip_of(addr), account, Instant::now())
    {
        Ok(()) => Ok(()),
        Err(refusal) => Err(locked_out(s, addr, account, refusal).await),
    }
}

/// An attempt refused by a running lock: audited and logged when the limiter says this one
/// is to be reported (the lock's first, then a summary a minute), answered with 429.
async fn locked_out(
    s: &ApiState,
    addr: Option<IpAddr>,
    account: &str,
    refusal: Refusal,
) -> ApiError {
    if let Some(refused) = refusal.report {
        let scope = refusal.scope.as_str();
        let retry_after_s = refusal.retry_after.as_secs().max(1);
        let actor = Actor {
            user_id: None,
            label: account.to_owned(),
            addr,
        };
        let pool = s.control.pool();
        // The 429 stands even if the row cannot be written.
        if let Err(e) =
            users::record_lockout(pool, &actor, account, scope, refused, retry_after_s).await
        {
            tracing::warn!("cannot audit a refused sign-in: {e}");
        }
        tracing::warn!(
            ip = %ip_of(addr),
            scope,
            refused,
            retry_after_s,
            "sign-in refused: locked out after too many failures"
        );
    }
    ApiError::too_many(refusal.retry_after)
}

/// A refused sign-in (its reservation already counts it against the limits): written to
/// the audit log. Returns the error to answer with (or the store's, if the audit row could
/// not be written).
async fn refuse(
    s: &ApiState,
    addr: Option<IpAddr>,
    account: &str,
    outcome: &'static str,
    code: &'static str,
    message: &'static str,
) -> ApiResult<ApiError> {
    let ip = ip_of(addr);
    let actor = Actor {
        user_id: None,
        label: account.to_owned(),
        addr,
    };
    users::record_login(s.control.pool(), &actor, account, outcome).await?;
    tracing::info!(%ip, outcome, "sign-in refused");
    Ok(ApiError::new(StatusCode::UNAUTHORIZED, code, message))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: SecretString,
}

pub async fn refresh(
    State(s): State<ApiState>,
    ClientAddr(addr): ClientAddr,
    Body(b): Body<RefreshBody>,
) -> ApiResult<Json<Tokens>> {
    match sessions::rotate(
        s.control.pool(),
        b.refresh_token.expose_secret(),
        s.config.refresh_ttl,
    )
    .await
    {
        Ok((user, next)) => Ok(Json(tokens_for(&s, user, next).await?)),
        Err(sessions::SessionError::Store(e)) => Err(e.into()),
        Err(e) => {
            let code = match e {
                sessions::SessionError::Reused => {
                    tracing::warn!(ip = ?addr, "a refresh token was used twice: its session is revoked");
                    "refresh_reused"
                }
                sessions::SessionError::Expired => "refresh_expired",
                sessions::SessionError::Disabled => "account_disabled",
                _ => "refresh_invalid",
            };
            Err(ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string()))
        }
    }
}

pub async fn logout(
    State(s): State<ApiState>,
    Body(b): Body<RefreshBody>,
) -> ApiResult<StatusCode> {
    sessions::revoke(s.control.pool(), b.refresh_token.expose_secret()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    pub token: SecretString,
    pub email: String,
    pub password: SecretString,
}

/// The limiter's account name for first-admin attempts.
const SETUP_ACCOUNT: &str = "setup";

/// `POST /api/v1/setup`. Every call but a successful one counts against the limits as a
/// failed sign-in would, and once an account exists the answer (409) comes before any
/// password work: this route must not be a way to make the server hash for free.
pub async fn first_admin(
    State(s): State<ApiState>,
    ClientAddr(addr): ClientAddr,
    Body(b): Body<SetupBody>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let ip = ip_of(addr);
    reserve(&s, addr, SETUP_ACCOUNT).await?;
    if users::count_users(s.control.pool()).await? > 0 {
        return Err(already_set_up());
    }
    let email = Email::new(&b.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    let password =
        Password::new(b.password).map_err(|e| ApiError::invalid("password", e.to_string()))?;
    match setup::consume(
        s.control.pool(),
        b.token.expose_secret(),
        &email,
        &password,
        addr,
    )
    .await
    {
        Ok(user) => {
            s.login_limiter.success(ip, SETUP_ACCOUNT, Instant::now());
            Ok((StatusCode::CREATED, Json(user)))
        }
        Err(setup::SetupError::InvalidToken) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "setup_token_invalid",
            "unknown or expired setup token: restart Relevo for a new link, or use `relevo user add`",
        )),
        Err(setup::SetupError::AlreadySetUp) => Err(already_set_up()),
        Err(setup::SetupError::Store(e)) => given_back_on_error(&s, addr, SETUP_ACCOUNT, Err(e)),
    }
}

fn already_set_up() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_set_up",
        "an account exists already: sign in",
    )
}

pub async fn me(State(s): State<ApiState>, Me { id, .. }: Me) -> ApiResult<Json<User>> {
    Ok(Json(users::get(s.control.pool(), id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: SecretString,
    pub new_password: SecretString,
}

pub async fn change_password(
    State(s): State<ApiState>,
    Me { id, principal: p }: Me,
    Body(b): Body<PasswordChange>,
) -> ApiResult<StatusCode> {
    let pool = s.control.pool();
    let user = users::get(pool, id).await?;
    let new = Password::new(b.new_password)
        .map_err(|e| ApiError::invalid("new_password", e.to_string()))?;
    check_password(&s, &p, &user, &b.current_password, "current_password").await?;
    users::set_password(pool, &p.actor(), id, &new).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A change to one's own account asks for the password again (a stolen access token alone
/// must not be enough); a wrong one is reported on `field`. The attempt counts against the
/// sign-in limits like a login, so a stolen token is no way around them to guess the
/// password.
async fn check_password(
    s: &ApiState,
    p: &super::auth::Principal,
    user: &User,
    password: &SecretString,
    field: &str,
) -> ApiResult<()> {
    reserve(s, p.addr, &user.email).await?;
    let verified = users::verify_password(s.control.pool(), &user.email, password).await;
    match given_back_on_error(s, p.addr, &user.email, verified)? {
        Some(_) => {
            s.login_limiter
                .release(ip_of(p.addr), &user.email, Instant::now());
            Ok(())
        }
        None => Err(ApiError::invalid(field, "wrong password")),
    }
}

#[derive(Debug, Serialize)]
pub struct Enrolment {
    /// Base32, for authenticator apps without a camera.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// Starts an enrolment; the current password is asked again (whoever holds a stolen access
/// token or an unattended session must not put their own second factor on the account).
pub async fn totp_begin(
    State(s): State<ApiState>,
    Me { id, principal: p }: Me,
    Body(b): Body<PasswordBody>,
) -> ApiResult<Json<Enrolment>> {
    let pool = s.control.pool();
    let user = users::get(pool, id).await?;
    if user.totp_enrolled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "totp_enrolled",
            "two-factor authentication is on already; turn it off first",
        ));
    }
    check_password(&s, &p, &user, &b.password, "password").await?;
    let secret = users::totp_begin(pool, &s.totp_kek, id).await?;
    let issuer = crate::store::settings::get(pool).await?.product_name;
    let uri = totp::otpauth_uri(&secret, &issuer, &user.email);
    Ok(Json(Enrolment {
        secret: secret.to_base32(),
        qr_svg: totp::qr_svg(&uri),
        otpauth_uri: uri,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

#[derive(Debug, Serialize)]
pub struct RecoveryCodes {
    /// Shown once: each signs in once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
}

pub async fn totp_confirm(
    State(s): State<ApiState>,
    Me { id, principal: p }: Me,
    Body(b): Body<CodeBody>,
) -> ApiResult<Json<RecoveryCodes>> {
    match users::totp_confirm(
        s.control.pool(),
        &s.totp_kek,
        &p.actor(),
        id,
        b.code.trim(),
        now_unix(),
    )
    .await
    {
        Ok(codes) => Ok(Json(RecoveryCodes {
            recovery_codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
        })),
        Err(StoreError::TotpCode) => Err(ApiError::invalid(
            "code",
            "wrong code: check the phone's clock and try the current code",
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: SecretString,
}

pub async fn totp_disable(
    State(s): State<ApiState>,
    Me { id, principal: p }: Me,
    Body(b): Body<PasswordBody>,
) -> ApiResult<StatusCode> {
    let pool = s.control.pool();
    let user = users::get(pool, id).await?;
    if user.totp_required {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "totp_required_by_admin",
            "an administrator requires two-factor authentication for this account",
        ));
    }
    check_password(&s, &p, &user, &b.password, "password").await?;
    users::totp_disable(pool, &p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
