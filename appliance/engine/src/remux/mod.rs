//! TS ⇄ FLV conversion, done once per input and shared by every output of the other
//! protocol. The container work itself is in `relevo-media`; this is the glue that turns
//! demuxed frames into hub units.
mod flv_to_ts;
mod ts_to_flv;

pub use flv_to_ts::FlvToTs;
pub use ts_to_flv::TsToFlv;
