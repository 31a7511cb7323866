//! The player half of an RTMP connection: its loop, batched writes of queued tags, and the
//! writes that must follow what a direct write from the hub left (see [`DirectSlot`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::{
    chunk, io, meta, BoxReader, ConnError, Phase, Session, Wake, MAX_BATCH, OUT_CHUNK_SIZE,
    SHARED_STREAM_ID, WRITE_TIMEOUT,
};
use crate::rtmp::direct::DirectSlot;
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
            let rest_left = async {
                match direct {
                    Some(slot) => slot.rest_left().await,
                    None => std::future::pending().await,
                }
            };
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

    /// Sends `first` and whatever else is queued (up to [`MAX_BATCH`] tags) in one vectored
    /// write, then accounts for each: one system call per wake-up, not per tag.
    async fn send_tags(&mut self, first: FlvTag) -> Result<(), ConnError> {
        let Phase::Playing { stream_id, rx, .. } = &mut self.phase else {
            return Ok(());
        };
        let stream_id = *stream_id;
        let mut tags = std::mem::take(&mut self.batch);
        let mut parts = std::mem::take(&mut self.parts);
        tags.push(first);
        while tags.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(tag) => tags.push(tag),
                Err(_) => break,
            }
        }
        let direct = self.direct();
        let rest = direct.as_ref().and_then(|slot| slot.hold());
        parts.extend(rest.as_ref().map(|r| r.0.clone()));
        parts.extend(tags.iter().filter_map(|tag| wire(stream_id, tag)));
        io::write_parts(&mut self.writer, &parts, WRITE_TIMEOUT).await?;
        if let Some(slot) = &direct {
            slot.release(tags.len());
        }
        if let Phase::Playing {
            bytes_out, latency, ..
        } = &self.phase
        {
            let sent: usize = parts.iter().map(Bytes::len).sum();
            bytes_out.fetch_add(sent as u64, Ordering::Relaxed);
            for arrived in rest
                .map(|r| r.1)
                .into_iter()
                .chain(tags.iter().map(|t| t.arrived))
            {
                latency.record_since(arrived);
            }
        }
        tags.clear();
        parts.clear();
        // A joiner's GOP fills a whole batch once; do not keep that for the whole session.
        tags.shrink_to(8);
        parts.shrink_to(8);
        self.batch = tags;
        self.parts = parts;
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
        let Some(slot) = self.direct() else {
            io::write_all_progress(&mut self.writer, bytes, WRITE_TIMEOUT, |_| {}).await?;
            return Ok(());
        };
        if let Some((rest, arrived)) = slot.hold() {
            io::write_all_progress(&mut self.writer, &rest, WRITE_TIMEOUT, |_| {}).await?;
            if let Phase::Playing {
                bytes_out, latency, ..
            } = &self.phase
            {
                bytes_out.fetch_add(rest.len() as u64, Ordering::Relaxed);
                latency.record_since(arrived);
            }
        }
        io::write_all_progress(&mut self.writer, bytes, WRITE_TIMEOUT, |_| {}).await?;
        slot.release(0);
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
/// stream id; any other id gets its own copy. Metadata is re-encoded as `onMetaData` on a
/// chunk stream of ours, stamped 0 as nginx-rtmp sends it: ffmpeg then reads it as the
/// stream's metadata instead of opening a subtitle stream for it.
fn wire(stream_id: u32, tag: &FlvTag) -> Option<Bytes> {
    if stream_id == SHARED_STREAM_ID {
        if let Some(bytes) = shared_media_wire(tag) {
            return Some(bytes);
        }
    }
    Some(match tag.kind {
        FlvKind::Video => media_wire(stream_id, tag, chunk::VIDEO_CSID, chunk::VIDEO_TYPE),
        FlvKind::Audio => media_wire(stream_id, tag, chunk::AUDIO_CSID, chunk::AUDIO_TYPE),
        FlvKind::Meta => {
            let body = meta::metadata_to_body(&meta::body_to_metadata(&tag.body)?);
            let (csid, kind) = (chunk::META_CSID, chunk::DATA_TYPE);
            chunk::media_message(csid, kind, stream_id, 0, &body, OUT_CHUNK_SIZE)
        }
    })
}

/// An audio or video tag as chunks on the usual stream id, built once and shared by every
/// player (and the hub's direct writes); `None` for metadata.
pub(crate) fn shared_media_wire(tag: &FlvTag) -> Option<Bytes> {
    let (csid, type_id) = match tag.kind {
        FlvKind::Video => (chunk::VIDEO_CSID, chunk::VIDEO_TYPE),
        FlvKind::Audio => (chunk::AUDIO_CSID, chunk::AUDIO_TYPE),
        FlvKind::Meta => return None,
    };
    Some(
        tag.wire
            .get_or_init(|| media_wire(SHARED_STREAM_ID, tag, csid, type_id)),
    )
}

fn media_wire(stream_id: u32, tag: &FlvTag, csid: u8, type_id: u8) -> Bytes {
    chunk::media_message(
        csid,
        type_id,
        stream_id,
        tag.timestamp,
        &tag.body,
        OUT_CHUNK_SIZE,
    )
}
