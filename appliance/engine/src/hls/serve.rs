//! Answers to one request from a session's window: the playlist (at once, after the first
//! segment, or as a blocking reload) and the immutable files, with their validators.

use std::sync::Arc;
use std::time::Duration;

use relevo_media::hls::{FileKind, LookupError, Readiness, PLAYLIST_NAME};
use tokio::time::Instant;

use super::session::Session;
use super::sessions::HlsSessions;
use super::{BlockingReload, HlsError, HlsFile, HlsFileKind};

/// Added to twice the segment target for the first playlist's wait: the time for the
/// input's next keyframe when the hub has no GOP cached (an RTMP input seen as TS for the
/// first time), and the muxer's wait for a late track (`MAX_TRACK_SKEW_90K`, 1 s).
const FIRST_SEGMENT_SLACK: Duration = Duration::from_secs(4);

/// A blocking reload is held at most this many target durations (RFC 8216bis §6.2.5.2: a
/// server should answer within three target durations), then the current playlist goes.
const BLOCKING_TARGETS: u32 = 3;

/// Longest file name a window can have (`part<epoch>-<msn>.<part>.m4s` with 64-bit
/// numbers is under 64 bytes); longer names are refused before any lookup.
pub const MAX_NAME_LEN: usize = 96;

/// The answer to `file` (with `block`) from `session`.
pub(crate) async fn answer(
    sessions: &Arc<HlsSessions>,
    session: &Session,
    file: &str,
    block: Option<BlockingReload>,
) -> Result<HlsFile, HlsError> {
    let segment = sessions.config.segment;
    if file != PLAYLIST_NAME {
        return hinted_or_file(sessions, session, file, segment * BLOCKING_TARGETS).await;
    }
    let (deadline, wanted) = match block {
        None => (segment * 2 + FIRST_SEGMENT_SLACK, None),
        Some(b) => (segment * BLOCKING_TARGETS, Some(b)),
    };
    let deadline = Instant::now() + deadline;
    let mut changes = session.changes();
    let mut slot = None;
    loop {
        // Looked at after subscribing: a change in between is not missed.
        let ready = {
            let w = session.window();
            match wanted {
                None if w.has_segment() => Some(Ok(())),
                None if w.is_ended() => Some(Err(HlsError::Offline)),
                None => None,
                Some(b) => match w.ready(b.msn, b.part) {
                    Readiness::Ready => Some(Ok(())),
                    Readiness::Wait => None,
                    Readiness::TooFar => Some(Err(HlsError::BadRequest(
                        "_HLS_msn is more than two segments ahead",
                    ))),
                },
            }
        };
        match ready {
            Some(Ok(())) => return playlist(session),
            Some(Err(e)) => return Err(e),
            None => {}
        }
        if slot.is_none() {
            slot = Some(sessions.wait_slot()?);
        }
        let timed_out = tokio::time::timeout_at(deadline, changes.changed())
            .await
            .map_or(true, |r| r.is_err());
        if timed_out {
            // A blocking reload gets what there is; a first playlist, once a segment exists.
            let has_segment = session.window().has_segment();
            return if wanted.is_some() && has_segment {
                playlist(session)
            } else {
                Err(HlsError::NotReady)
            };
        }
        session.touch();
    }
}

/// `file`, or, when it is the part `#EXT-X-PRELOAD-HINT` names, that part once it exists
/// (players ask for it ahead of time and the request is held, RFC 8216bis §4.4.5.3), for
/// at most `wait`.
async fn hinted_or_file(
    sessions: &Arc<HlsSessions>,
    session: &Session,
    file: &str,
    wait: Duration,
) -> Result<HlsFile, HlsError> {
    if file.len() > MAX_NAME_LEN {
        return Err(HlsError::NotFound);
    }
    let deadline = Instant::now() + wait;
    let mut changes = session.changes();
    let mut slot = None;
    loop {
        match lookup(session, file) {
            Err(HlsError::NotFound) if session.window().is_hinted(file) => {}
            answer => return answer,
        }
        if slot.is_none() {
            slot = Some(sessions.wait_slot()?);
        }
        let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
        if !matches!(changed, Ok(Ok(()))) {
            return Err(HlsError::NotFound);
        }
    }
}

fn playlist(session: &Session) -> Result<HlsFile, HlsError> {
    let w = session.window();
    let found = w.lookup(PLAYLIST_NAME).map_err(|_| HlsError::NotFound)?;
    Ok(HlsFile {
        kind: HlsFileKind::Playlist,
        body: found.data,
        modified: found.made,
        etag: format!("\"{}-{}\"", session.epoch36, w.version()),
    })
}

fn lookup(session: &Session, file: &str) -> Result<HlsFile, HlsError> {
    if file.len() > MAX_NAME_LEN {
        return Err(HlsError::NotFound);
    }
    let found = session.window().lookup(file).map_err(|e| match e {
        LookupError::Unknown => HlsError::NotFound,
        LookupError::Expired => HlsError::Expired,
    })?;
    let kind = match found.kind {
        FileKind::Playlist => HlsFileKind::Playlist,
        FileKind::Init => HlsFileKind::Init,
        FileKind::Segment => HlsFileKind::Segment,
        FileKind::Part => HlsFileKind::Part,
    };
    Ok(HlsFile {
        kind,
        body: found.data,
        modified: found.made,
        // The name carries the epoch already; the quote marks make it a strong validator.
        etag: format!("\"{file}\""),
    })
}
