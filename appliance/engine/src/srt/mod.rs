//! SRT endpoints of the engine: the ingest listener, push and pull links, and how SRT
//! connections send and receive. The libsrt binding itself is the `relevo_srt` crate.
//!
//! Layout:
//! - [`endpoint`]: the listener on one UDP port for publishers and pull-output readers.
//! - [`input_port`]: an input's own port, for encoders that send no stream id.
//! - [`caller`]: one outgoing connection attempt of a push output or a pull input.
//! - [`send`]: how an output sends (from the hub's fan-out, or from its own task).
//! - [`recv`]: how an input receives, a burst at a time.
//! - [`hold`]: sources refused late in the handshake, refused early for a while.
//! - [`reclaim`]: memory of refused callers given back once a burst of them is over.

pub(crate) mod caller;
pub(crate) mod endpoint;
pub(crate) mod hold;
pub(crate) mod input_port;
pub(crate) mod reclaim;
pub(crate) mod recv;
pub(crate) mod send;
