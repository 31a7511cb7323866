//! The customer's branding (product name, primary colour, logo): the one `settings` row of
//! migration 0009. Values are checked here so that errors name the field; the table's CHECKs
//! are the last line. Every change writes an audit row; logo bytes never reach the log, only
//! their size and type.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::audit::{self, Actor, Target};
use super::StoreError;

/// The largest logo accepted: the `settings.logo` CHECK of migration 0009. A logo is shown
/// on every panel page, so it has to stay small.
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;

/// The image types a logo may have (the `settings.logo_mime` CHECK of migration 0009).
pub const LOGO_MIMES: &[&str] = &["image/png", "image/svg+xml", "image/jpeg", "image/webp"];

/// Longest product name, in characters (the CHECK of migration 0009).
const MAX_NAME_CHARS: usize = 100;

/// The branding as the panel and the API show it (the logo itself is fetched apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branding {
    pub product_name: String,
    /// `#rrggbb`, lower case.
    pub primary_color: String,
    pub has_logo: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A partial change of the branding: `None` leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingPatch {
    pub product_name: Option<String>,
    pub primary_color: Option<String>,
}

/// The whole row, logo included: what an export needs.
#[derive(Debug, Clone)]
pub(crate) struct SettingsRow {
    pub product_name: String,
    pub primary_color: String,
    pub logo: Option<Vec<u8>>,
    pub logo_mime: Option<String>,
}

/// The row as a change sees it: the logo by its size, since no change needs its bytes.
#[derive(Debug, Clone)]
struct Current {
    product_name: String,
    primary_color: String,
    logo_size: Option<i32>,
    logo_mime: Option<String>,
    updated_at: OffsetDateTime,
}

impl Current {
    fn branding(&self) -> Branding {
        Branding {
            product_name: self.product_name.clone(),
            primary_color: self.primary_color.clone(),
            has_logo: self.logo_size.is_some(),
            updated_at: self.updated_at,
        }
    }

    fn branding_audit(&self) -> Value {
        json!({ "product_name": self.product_name, "primary_color": self.primary_color })
    }

    fn logo_audit(&self) -> Option<Value> {
        let size = self.logo_size?;
        Some(json!({ "mime": self.logo_mime, "size": size }))
    }
}

const TARGET: Target<'static> = Target {
    kind: "settings",
    id: None,
    name: None,
};

pub async fn get(pool: &PgPool) -> Result<Branding, StoreError> {
    let row = sqlx::query!(
        r#"SELECT product_name, primary_color, logo IS NOT NULL AS "has_logo!", updated_at
           FROM settings"#
    )
    .fetch_one(pool)
    .await?;
    Ok(Branding {
        product_name: row.product_name,
        primary_color: row.primary_color,
        has_logo: row.has_logo,
        updated_at: row.updated_at,
    })
}

/// The logo's bytes and MIME type, if one is set.
pub async fn logo(pool: &PgPool) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    let row = sqlx::query!("SELECT logo, logo_mime FROM settings")
        .fetch_one(pool)
        .await?;
    Ok(row.logo.zip(row.logo_mime))
}

/// Changes the fields set in `patch`; an empty patch changes (and audits) nothing.
pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    patch: BrandingPatch,
) -> Result<Branding, StoreError> {
    let name = patch
        .product_name
        .as_deref()
        .map(product_name)
        .transpose()?;
    let color = patch
        .primary_color
        .as_deref()
        .map(primary_color)
        .transpose()?;
    let mut tx = pool.begin().await?;
    let before = lock(&mut tx).await?;
    if name.is_none() && color.is_none() {
        return Ok(before.branding());
    }
    let name = name.unwrap_or_else(|| before.product_name.clone());
    let color = color.unwrap_or_else(|| before.primary_color.clone());
    write_branding(&mut tx, &name, &color).await?;
    let after = lock(&mut tx).await?;
    audit::record(
        &mut tx,
        actor,
        "settings.update",
        TARGET,
        Some(before.branding_audit()),
        Some(after.branding_audit()),
    )
    .await?;
    tx.commit().await?;
    Ok(after.branding())
}

/// Replaces the logo after checking its size, type and that its bytes are of that type.
pub async fn set_logo(
    pool: &PgPool,
    actor: &Actor,
    bytes: &[u8],
    mime: &str,
) -> Result<Branding, StoreError> {
    check_logo(bytes, mime)?;
    change_logo(pool, actor, Some((bytes, mime))).await
}

/// Removes the logo; without one, changes (and audits) nothing.
pub async fn clear_logo(pool: &PgPool, actor: &Actor) -> Result<Branding, StoreError> {
    change_logo(pool, actor, None).await
}

async fn change_logo(
    pool: &PgPool,
    actor: &Actor,
    logo: Option<(&[u8], &str)>,
) -> Result<Branding, StoreError> {
    let mut tx = pool.begin().await?;
    let before = lock(&mut tx).await?;
    if logo.is_none() && before.logo_size.is_none() {
        return Ok(before.branding());
    }
    write_logo(&mut tx, logo).await?;
    let after = logo.map(|(bytes, mime)| json!({ "mime": mime, "size": bytes.len() }));
    audit::record(
        &mut tx,
        actor,
        "settings.logo",
        TARGET,
        before.logo_audit(),
        after,
    )
    .await?;
    let row = lock(&mut tx).await?;
    tx.commit().await?;
    Ok(row.branding())
}

/// Whether flows created through the API may reach loopback, private and link-local
/// addresses (migration 0020; `relevo_engine::destination`).
pub async fn private_destinations_allowed(pool: &PgPool) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar!("SELECT allow_private_destinations FROM settings")
            .fetch_one(pool)
            .await?,
    )
}

/// Allows or forbids private destinations for API flows; a change writes an audit row.
/// Returns whether the value changed (the caller then reconciles the engine).
pub async fn set_private_destinations(
    pool: &PgPool,
    actor: &Actor,
    allowed: bool,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let before = sqlx::query_scalar!("SELECT allow_private_destinations FROM settings FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    if before == allowed {
        return Ok(false);
    }
    sqlx::query!(
        "UPDATE settings SET allow_private_destinations = $1",
        allowed
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "settings.private_destinations",
        TARGET,
        Some(json!({ "allow_private_destinations": before })),
        Some(json!({ "allow_private_destinations": allowed })),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Reads the row without locking it (also in a read-only transaction).
pub(crate) async fn read(conn: &mut PgConnection) -> Result<SettingsRow, StoreError> {
    Ok(sqlx::query_as!(
        SettingsRow,
        "SELECT product_name, primary_color, logo, logo_mime FROM settings"
    )
    .fetch_one(conn)
    .await?)
}

/// Reads the row (the logo by its size) and locks it for the rest of the transaction.
async fn lock(conn: &mut PgConnection) -> Result<Current, StoreError> {
    Ok(sqlx::query_as!(
        Current,
        "SELECT product_name, primary_color, octet_length(logo) AS logo_size, logo_mime,
                updated_at
         FROM settings FOR UPDATE"
    )
    .fetch_one(conn)
    .await?)
}

/// Writes already checked values (see [`product_name`], [`primary_color`]); no audit row.
pub(crate) async fn write_branding(
    conn: &mut PgConnection,
    product_name: &str,
    primary_color: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE settings SET product_name = $1, primary_color = $2",
        product_name,
        primary_color
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes an already checked logo (see [`check_logo`]) or clears it; no audit row.
pub(crate) async fn write_logo(
    conn: &mut PgConnection,
    logo: Option<(&[u8], &str)>,
) -> Result<(), StoreError> {
    let (bytes, mime) = logo.unzip();
    sqlx::query!("UPDATE settings SET logo = $1, logo_mime = $2", bytes, mime)
        .execute(conn)
        .await?;
    Ok(())
}

/// The name as stored: trimmed, 1 to 100 characters, no control characters.
pub(crate) fn product_name(raw: &str) -> Result<String, StoreError> {
    let name = raw.trim();
    let refuse = |reason: &str| StoreError::Field {
        field: "product_name",
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(refuse("must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(refuse("must be at most 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(refuse("must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// The colour as stored: `#rrggbb` in lower case.
pub(crate) fn primary_color(raw: &str) -> Result<String, StoreError> {
    let hex = raw.trim().strip_prefix('#').unwrap_or_default();
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(StoreError::Field {
            field: "primary_color",
            reason: format!("{raw:?} is not a colour of the form #rrggbb"),
        })
    }
}

/// Size, declared type, and that the bytes start the way that type does: a browser is then
/// not handed a file whose content disagrees with its `Content-Type`.
pub(crate) fn check_logo(bytes: &[u8], mime: &str) -> Result<(), StoreError> {
    let refuse = |field: &'static str, reason: String| Err(StoreError::Field { field, reason });
    if !LOGO_MIMES.contains(&mime) {
        return refuse(
            "mime",
            format!("{mime:?} is not one of {}", LOGO_MIMES.join(", ")),
        );
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return refuse(
            "logo",
            format!(
                "{} bytes is over the limit of {MAX_LOGO_BYTES}",
                bytes.len()
            ),
        );
    }
    if !looks_like(bytes, mime) {
        return refuse("logo", format!("the content is not {mime}"));
    }
    Ok(())
}

fn looks_like(bytes: &[u8], mime: &str) -> bool {
    match mime {
        // PNG signature, PNG spec §5.2.
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        // SOI marker followed by the first marker's 0xFF.
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        // RIFF container whose form type is WEBP (RFC 9649 §2.5).
        "image/webp" => bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP"),
        "image/svg+xml" => std::str::from_utf8(bytes).is_ok_and(|text| text.contains("<svg")),
        _ => false,
    }
}
