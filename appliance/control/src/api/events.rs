//! Live state: `/api/v1/status` (JSON), `/metrics` (Prometheus text) and the WebSocket at
//! `/api/v1/events`. All three read the engine's one snapshot, published once a second
//! (DESIGN.md §2 "Live state"); none carries a secret.
//!
//! WebSocket messages (JSON text frames):
//! - `{"type": "snapshot", "inputs": [...]}` at once on connection, then every second;
//! - `{"type": "state", "input": "cam", "output": "yt" | null, "from": "connecting",
//!   "to": "live"}` when an input or output changes state between two snapshots;
//! - `{"type": "feed", "input": "cam", "from": "main", "to": "backup", "reason": "failover"
//!   | "revert" | "manual", "at": …}` when the feed on air of an input with a backup changes
//!   between two snapshots (`at` as the snapshot's `last_switch.at`; [`switches`]);
//! - on close, code 4001 when the credentials are no longer valid (token expired, account
//!   disabled): the client signs in again and reconnects.
//!
//! Limits: at most [`sockets::MAX_SOCKETS_PER_PRINCIPAL`] sockets per user or API token
//! (the next upgrade gets 429 `too_many_sockets`); a client message over
//! [`MAX_CLIENT_MESSAGE`] closes the socket (clients have nothing to say). The snapshot is
//! serialised once per second for all sockets ([`feed`]).

pub mod feed;
pub mod sockets;
pub mod switches;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use relevo_engine::metrics::{FlowState, Snapshot};
use relevo_engine::prometheus;
use serde_json::json;

use super::auth::{Can, Credential, READ};
use super::error::ApiResult;
use super::ApiState;
use feed::Frame;
use sockets::{SocketSlot, Sockets};
use switches::FeedStates;

/// How often an open WebSocket checks that its credentials still hold.
const RECHECK: Duration = Duration::from_secs(30);

/// The largest message (and frame) a client may send: clients send nothing but pings and
/// the close frame, each at most 125 bytes of payload (RFC 6455 §5.5); 4 KiB leaves room.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// What the event sockets share: the serialised snapshot feed (started with the first
/// socket) and the count of sockets per principal.
#[derive(Debug, Default)]
pub struct EventHub {
    feed: OnceLock<tokio::sync::watch::Receiver<Frame>>,
    sockets: Arc<Sockets>,
}

impl EventHub {
    fn feed(&self, s: &ApiState) -> tokio::sync::watch::Receiver<Frame> {
        self.feed
            .get_or_init(|| feed::start(s.control.engine().subscribe()))
            .clone()
    }
}

pub async fn status(State(s): State<ApiState>, _: Can<READ>) -> ApiResult<Json<Arc<Snapshot>>> {
    Ok(Json(s.control.engine().subscribe().borrow().clone()))
}

pub async fn metrics(State(s): State<ApiState>, _: Can<READ>) -> Response {
    let snap = s.control.engine().subscribe().borrow().clone();
    let mut text = prometheus::render(&snap);
    text.push_str(&crate::password::metrics_text());
    text.push_str(&s.alerts.metrics_text());
    ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response()
}

pub async fn events(
    State(s): State<ApiState>,
    Can(p): Can<READ>,
    Extension(credential): Extension<Credential>,
    ws: WebSocketUpgrade,
) -> Response {
    let slot = match s.events.sockets.take(&p) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| follow(socket, s, credential, slot))
}

async fn follow(mut socket: WebSocket, s: ApiState, credential: Credential, _slot: SocketSlot) {
    let mut rx = s.events.feed(&s);
    let mut states = Seen::default();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    let first = rx.borrow_and_update().clone();
    if send_snapshot(&mut socket, &first, &mut states)
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    break;
                }
                let frame = rx.borrow_and_update().clone();
                if send_snapshot(&mut socket, &frame, &mut states).await.is_err() {
                    return;
                }
            }
            _ = recheck.tick() => {
                if super::auth::authenticate(&s, &credential, None).await.is_err() {
                    let _ = socket.send(Message::Close(Some(CloseFrame {
                        code: 4001,
                        reason: "credentials no longer valid".into(),
                    }))).await;
                    return;
                }
            }
            msg = socket.recv() => match msg {
                // Pings are answered by axum; clients have nothing else to say. A message
                // over the size limit is an error here: the socket closes.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// The state of each input and output, keyed by (input, output) names.
type States = HashMap<(String, Option<String>), FlowState>;

/// What a socket has seen: flow states and feeds on air.
#[derive(Debug, Default)]
struct Seen {
    states: States,
    feeds: FeedStates,
}

/// Sends the state and feed changes since the previous snapshot, then the snapshot (its text
/// is shared by every socket).
async fn send_snapshot(
    socket: &mut WebSocket,
    frame: &Frame,
    seen: &mut Seen,
) -> Result<(), axum::Error> {
    let states = &mut seen.states;
    for input in &frame.snapshot.inputs {
        let flows = std::iter::once(((input.name.clone(), None), input.state)).chain(
            input
                .outputs
                .iter()
                .map(|o| ((input.name.clone(), Some(o.name.clone())), o.state)),
        );
        for (key, to) in flows {
            match states.insert(key.clone(), to) {
                Some(from) if from != to => {
                    let msg = json!({"type": "state", "input": key.0, "output": key.1,
                                     "from": from.as_str(), "to": to.as_str()});
                    socket.send(Message::Text(msg.to_string().into())).await?;
                }
                _ => {}
            }
        }
    }
    for msg in switches::changes(&mut seen.feeds, &frame.snapshot.inputs) {
        socket.send(Message::Text(msg.to_string().into())).await?;
    }
    socket.send(Message::Text(frame.text.clone())).await
}
