//! How many WebSockets each principal (a user or an API token) has open, and the cap on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;

use crate::api::auth::{Principal, Who};
use crate::api::error::ApiError;

/// Open event sockets per user or API token. The panel opens one per browser tab; 16 covers
/// a control room's screens, and a script that leaks sockets stops there instead of at the
/// process's file descriptors.
pub const MAX_SOCKETS_PER_PRINCIPAL: usize = 16;

/// Who a socket is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(i64),
    Token(i64),
}

/// The open sockets per principal.
#[derive(Debug, Default)]
pub struct Sockets {
    open: Mutex<HashMap<Key, usize>>,
}

impl Sockets {
    /// A slot for one more socket of `p`, or 429 `too_many_sockets` when it has
    /// [`MAX_SOCKETS_PER_PRINCIPAL`] open.
    pub fn take(self: &Arc<Self>, p: &Principal) -> Result<SocketSlot, ApiError> {
        let key = match &p.who {
            Who::User { id, .. } => Key::User(*id),
            Who::Token { id, .. } => Key::Token(*id),
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.clone()).or_default();
        if *n >= MAX_SOCKETS_PER_PRINCIPAL {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_sockets",
                format!(
                    "this account or token already has {MAX_SOCKETS_PER_PRINCIPAL} event \
                     sockets open; close one first"
                ),
            ));
        }
        *n += 1;
        Ok(SocketSlot {
            key,
            owner: self.clone(),
        })
    }
}

/// One open socket; dropped when the socket ends.
#[derive(Debug)]
pub struct SocketSlot {
    key: Key,
    owner: Arc<Sockets>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}
