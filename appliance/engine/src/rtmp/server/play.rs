//! The player half of an RTMP connection: its loop, batched writes of queued tags, and the
//! writes that must follow what a direct write from the hub left (see [`DirectSlot`] and
//! [`direct::Batch`]).

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::{chunk, meta, BoxReader, ConnError, Phase, Session, Wake, WRITE_TIMEOUT};
use crate::rtmp::direct::{self, DirectSlot};
use crate::rtmp::guard::MessageType;
use crate::unit::{FlvKind, FlvTag};

impl Session<'_> {
    /// A player's loop: its feed out, whatever it sends (acks, pings) in, until the feed
    /// ends, the output stops, the server shuts down or the peer leaves. While the hub
    /// writes the feed directly (see [`DirectSlot`]) it sleeps; otherwise it wakes once per
    /// batch of queued tags, and waits on the cancellations through futures kept across
    /// wake-ups instead of registering anew each time.
    pub(super) async fn play(
        &mut self,
        reader: BoxReader,
        buf: Vec<u8>,
        cancel: &CancellationToken,
    ) -> Result<(), ConnError> {
        let Phase::Playing { stop, direct, .. } = &self.phase else {
            return Ok(());
        };
        let (stop, direct) = (stop.clone(), direct.clone());
        let ended = self
            .play_loop(reader, buf, cancel, &stop, direct.as_deref())
            .await;
        if let Some(slot) = direct {
            slot.detach();
        }
        ended
    }

    async fn play_loop(
        &mut self,
        mut reader: BoxReader,
        mut buf: Vec<u8>,
        cancel: &CancellationToken,
        stop: &CancellationToken,
        direct: Option<&DirectSlot>,
    ) -> Result<(), ConnError> {
        let mut cancelled = std::pin::pin!(cancel.cancelled());
        let mut stopped = std::pin::pin!(stop.cancelled());
        loop {
            let Phase::Playing { rx, .. } = &mut self.phase else {
                return Ok(());
            };
            let rest_left = direct::rest_left(direct);
            let wake = tokio::select! {
                biased;
                _ = &mut cancelled => Wake::Cancelled,
                _ = &mut stopped => Wake::Cancelled,
                () = rest_left => Wake::Rest,
                tag = rx.recv() => Wake::Tag(tag),
                n = reader.read(&mut buf) => Wake::Read(n),
            };
            match wake {
                Wake::Rest => self.write(&[]).await?,
                Wake::Cancelled => return Ok(()),
                Wake::Read(Ok(0)) => return Ok(()),
                Wake::Read(Ok(n)) => {
                    if self.input(buf.get(..n).unwrap_or_default()).await? {
                        return Ok(());
                    }
                }
                Wake::Read(Err(e)) => return Err(ConnError::Read(e)),
                Wake::Tag(Some(tag)) => self.send_tags(tag).await?,
                Wake::Tag(None) => {
                    self.finish_playing().await;
                    return Ok(());
                }
            }
        }
    }

    /// Sends `first` and whatever else is queued in one write (see [`direct::Batch`]).
    async fn send_tags(&mut self, first: FlvTag) -> Result<(), ConnError> {
        let Phase::Playing {
            stream_id,
            rx,
            bytes_out,
            latency,
            direct,
            ..
        } = &mut self.phase
        else {
            return Ok(());
        };
        let stream_id = *stream_id;
        self.batch.take(first, rx);
        let wire = |tag: &FlvTag| wire(stream_id, tag);
        self.batch
            .write(
                &mut self.writer,
                direct.as_deref(),
                wire,
                bytes_out,
                latency,
                WRITE_TIMEOUT,
            )
            .await?;
        Ok(())
    }

    async fn finish_playing(&mut self) {
        if let Phase::Playing { stream_id, .. } = self.phase {
            if let Ok(packet) = self.session.finish_playing(stream_id) {
                let _ = self.write(&packet.bytes).await;
            }
        }
    }

    /// Writes the session's own bytes; while playing, after what a direct write left.
    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let direct = self.direct();
        direct::write_own(&mut self.writer, direct.as_deref(), bytes, WRITE_TIMEOUT).await?;
        Ok(())
    }

    /// The player's direct path, if it has one.
    fn direct(&self) -> Option<Arc<DirectSlot>> {
        match &self.phase {
            Phase::Playing { direct, .. } => direct.clone(),
            _ => None,
        }
    }
}

/// A tag as RTMP chunks for a player on `stream_id`; `None` for metadata that is not an
/// `onMetaData`. Audio and video are chunked once and shared by every player on the usual
/// stream id (see [`chunk::media_wire`]). Metadata goes as `onMetaData` (every property as
/// the input got it) on a chunk
/// stream of ours, stamped 0 as nginx-rtmp sends it: ffmpeg then reads it as the stream's
/// metadata instead of opening a subtitle stream for it.
fn wire(stream_id: u32, tag: &FlvTag) -> Option<Bytes> {
    if tag.kind != FlvKind::Meta {
        return chunk::media_wire(stream_id, tag);
    }
    let body = meta::script_body(&tag.body)?;
    let (csid, kind) = (chunk::META_CSID, MessageType::AMF0_DATA);
    Some(chunk::media_message(
        csid,
        kind,
        stream_id,
        0,
        &body,
        chunk::OUT_CHUNK_SIZE,
    ))
}
