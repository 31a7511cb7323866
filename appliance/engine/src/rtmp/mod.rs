//! RTMP and RTMPS: the ingest listener, push and pull links, and the pieces they share.
//!
//! This module speaks the protocol (through `rml_rtmp`'s sans-IO sessions) and moves FLV tags;
//! apart from `routes` it knows nothing of flows, hubs or retry policy. The [`router`] is the
//! interface that decides what a stream key means, `routes` the engine's answer; push and pull
//! make exactly one connection attempt and classify how it ended.
//!
//! Layout:
//! - [`router`]: the interface to the engine (publish/play decisions, tag sinks and feeds).
//! - `routes`: the engine's router: stream keys looked up in its registry of flows.
//! - [`server`]: the accept loop, admission (pools, deadline, per-address cap) and one task
//!   per connection (publishers and players).
//! - [`push`] / [`pull`]: one outgoing connection that publishes, or plays, a remote stream.
//! - [`url`]: `rtmp://` / `rtmps://` URLs split into host, app and stream key.
//! - [`tls`]: the server certificate with reload on renewal, and the client trust roots.
//! - [`flags`]: keyframe / sequence-header flags read from an FLV tag body.
//! - [`guard`]: checks the peer's chunk stream before `rml_rtmp` parses it (AMF0 nesting).
//! - [`chunk_reader`]: a publisher's chunks reassembled into messages once it publishes.
//! - [`chunk`]: audio and video chunked once per tag for every player and push output.
//! - [`direct`]: players' and push outputs' sockets written from the publisher's side.
//! - [`meta`]: `onMetaData` between AMF0 bytes and `rml_rtmp`'s `StreamMetadata`.
//! - `client` and `io`: the connection setup and byte pumping shared by the above.

pub mod chunk;
pub mod chunk_reader;
mod client;
pub mod direct;
pub mod flags;
pub mod guard;
mod io;
pub mod meta;
pub mod pull;
pub mod push;
pub mod router;
pub(crate) mod routes;
pub mod server;
pub mod tls;
pub mod url;

pub use flags::tag_flags;
pub use pull::pull;
pub use push::push;
pub use router::{FlvIngest, FlvSubscription, Peer, Rejection, RtmpRouter};
pub use server::{serve, serve_with, Admission, RtmpLimits};
pub use tls::{CertReloader, ClientTls, TlsError};
pub use url::{RtmpUrl, UrlError};
