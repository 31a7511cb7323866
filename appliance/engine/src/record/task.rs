//! A record output's life: wait for the input to be live, record each publication on a
//! blocking thread, stop cleanly at the disk floor and resume by itself when space returns.
//!
//! The async task does the bookkeeping (state, last error, retries); the session runs on a
//! `spawn_blocking` thread and reads the hub's queue with `block_on`, so demuxing, muxing
//! and every file operation stay off the runtime's workers. The hub's bounded queue is the
//! only buffer: while the disk is slow the queue fills and the hub drops for this output
//! alone (counted in `dropped`), resuming at a keyframe.
//!
//! A publisher blip inside the grace period keeps the subscription (the hub holds it), so
//! the session and its file continue; the hub replays the decoder tables before the new
//! publisher's first keyframe, and a replayed chunk after live ones is how the session
//! knows the timeline may have changed. After the grace period the queue closes, the file
//! is closed, and the next publication starts a new one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::disk::SpaceCheck;
use super::mp4_writer::Mp4Writer;
use super::sink::FileSink;
use super::ts_writer::TsWriter;
use super::{files, recover, retention, RecordError, Sink};
use crate::backoff::Backoff;
use crate::hub::fanout::Subscription;
use crate::hub::Hub;
use crate::metrics::{FlowState, OutputCounters};
use crate::spec::{Name, RecordFormat, RecordSpec};
use crate::unit::TsChunk;

/// How often a disk-full recording looks for space again.
pub(crate) const DISK_RETRY: Duration = Duration::from_secs(5);

/// How often a session syncs and writes what it holds while the stream is quiet, and how
/// often an idle output applies retention (files age past `keep_days` while nothing
/// records).
const TICK: Duration = Duration::from_secs(1);
const IDLE_RETENTION: Duration = Duration::from_secs(60);

/// What every record output of an engine shares.
#[derive(Debug)]
pub(crate) struct Recordings {
    pub root: PathBuf,
    pub space: Arc<SpaceCheck>,
    /// Output folders whose last file was checked since the engine started. Only a previous
    /// run can have left a torn file; an output restarted by a change of its spec must not
    /// cut the file its predecessor may still be closing.
    pub recovered: Mutex<HashSet<PathBuf>>,
}

impl Recordings {
    pub fn new(root: PathBuf, space: SpaceCheck) -> Self {
        Self {
            root,
            space: Arc::new(space),
            recovered: Mutex::default(),
        }
    }

    /// True the first time `dir` is asked about.
    fn first_look(&self, dir: &Path) -> bool {
        let mut seen = self.recovered.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(dir.to_owned())
    }
}

/// One record output, as the engine starts it.
#[derive(Debug, Clone)]
pub(crate) struct RecordOutput {
    pub input: Name,
    pub output: Name,
    pub spec: RecordSpec,
    pub counters: Arc<OutputCounters>,
}

pub(crate) async fn run_record(
    recordings: Arc<Recordings>,
    hub: Arc<Hub>,
    out: RecordOutput,
    cancel: CancellationToken,
) {
    let dir = files::output_dir(&recordings.root, &out.input, &out.output);
    let counters = out.counters.clone();
    let d = dir.clone();
    let first = recordings.first_look(&dir);
    let recovered = tokio::task::spawn_blocking(move || match first {
        true => recover::recover_last(&d),
        false => Ok(recover::Recovered::Whole),
    });
    match recovered.await {
        Ok(Ok(recover::Recovered::Whole)) => {}
        Ok(Ok(r)) => {
            tracing::warn!(input = %out.input, output = %out.output, "last file of the previous run: {r:?}")
        }
        Ok(Err(e)) => {
            tracing::warn!(input = %out.input, output = %out.output, "cannot check the last file of the previous run: {e}")
        }
        Err(e) => tracing::warn!("recovery task: {e}"),
    }
    let mut live = hub.live();
    let mut backoff = Backoff::default();
    let mut idle_retention = tokio::time::interval(IDLE_RETENTION);
    loop {
        counters.set_state(FlowState::Idle);
        counters.record.file_closed();
        let is_live = loop {
            let retention_due = tokio::select! {
                _ = cancel.cancelled() => break false,
                r = live.wait_for(|l| *l) => break r.is_ok(),
                _ = idle_retention.tick() => true,
            };
            if retention_due {
                apply_retention(&dir, &out.spec).await;
            }
        };
        if !is_live {
            break;
        }
        let Some(sub) = hub.subscribe_ts(counters.dropped.clone(), None) else {
            // The publication ended between the two looks; wait for the next.
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
            }
        };
        counters.set_state(FlowState::Live);
        let started = Instant::now();
        let session = Session {
            dir: dir.clone(),
            out: out.clone(),
            space: recordings.space.clone(),
            cancel: cancel.clone(),
            rt: Handle::current(),
        };
        let result = tokio::task::spawn_blocking(move || session.run(sub)).await;
        counters.record.file_closed();
        let delay = match result {
            Ok(Ok(())) => continue,
            Ok(Err(RecordError::DiskFull(full))) => {
                tracing::warn!(input = %out.input, output = %out.output, retry_in = ?DISK_RETRY, "recording stopped: {full}");
                counters.set_state(FlowState::DiskFull);
                counters.set_error(full.to_string());
                DISK_RETRY
            }
            Ok(Err(e)) => {
                let delay = backoff.next(started.elapsed());
                tracing::warn!(input = %out.input, output = %out.output, retry_in = ?delay, "recording failed: {e}");
                counters.set_state(FlowState::Retrying);
                counters.set_error(e.to_string());
                delay
            }
            Err(e) => {
                let delay = backoff.next(started.elapsed());
                tracing::error!(input = %out.input, output = %out.output, "recording session ended abnormally: {e}");
                counters.set_state(FlowState::Retrying);
                counters.set_error(format!("internal error: {e}"));
                delay
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    counters.set_state(FlowState::Stopped);
}

async fn apply_retention(dir: &Path, spec: &RecordSpec) {
    let (dir, retention) = (dir.to_owned(), spec.retention);
    let removed = tokio::task::spawn_blocking(move || {
        retention::enforce(&dir, &retention, SystemTime::now(), None)
    })
    .await;
    match removed {
        Ok(Ok(files)) => {
            for f in files {
                tracing::info!(file = %f.display(), "recorded file removed by retention");
            }
        }
        Ok(Err(e)) => tracing::warn!("retention: {e}"),
        Err(e) => tracing::warn!("retention task: {e}"),
    }
}

/// One format's writer.
#[derive(Debug)]
enum Writer {
    Mp4(Box<Mp4Writer>),
    Ts(TsWriter),
}

impl Writer {
    fn new(format: RecordFormat, segment: Duration) -> Self {
        let segment_90k = i64::try_from(segment.as_millis() * 90).unwrap_or(i64::MAX);
        match format {
            RecordFormat::Mp4 => Self::Mp4(Box::new(Mp4Writer::new(segment_90k))),
            RecordFormat::Ts => Self::Ts(TsWriter::new(segment_90k)),
        }
    }

    fn resume(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        match self {
            Self::Mp4(w) => w.resume(sink),
            Self::Ts(w) => {
                w.resume();
                Ok(())
            }
        }
    }

    fn push(&mut self, chunk: &TsChunk, sink: &mut dyn Sink) -> Result<(), RecordError> {
        match self {
            Self::Mp4(w) => w.push(&chunk.data, sink),
            Self::Ts(w) => w.push(chunk, sink),
        }
    }

    /// The stream is quiet: write what is held that can be written whole.
    fn tick(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        match self {
            Self::Mp4(_) => Ok(()), // fragments go out as soon as they are complete
            Self::Ts(w) => w.write_block(sink),
        }
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        match self {
            Self::Mp4(w) => w.finish(sink),
            Self::Ts(w) => w.finish(sink),
        }
    }
}

/// One publication recorded, on a blocking thread.
struct Session {
    dir: PathBuf,
    out: RecordOutput,
    space: Arc<SpaceCheck>,
    cancel: CancellationToken,
    rt: Handle,
}

impl Session {
    fn run(self, mut sub: Subscription<TsChunk>) -> Result<(), RecordError> {
        let mut sink = FileSink::new(
            self.dir.clone(),
            self.out.spec.format,
            self.out.spec.retention,
            self.space.clone(),
            self.out.counters.clone(),
        );
        let mut writer = Writer::new(self.out.spec.format, self.out.spec.segment.duration());
        let result = self.record(&mut sub, &mut writer, &mut sink);
        // A clean end closes the file at its end; a failure at its last whole unit.
        let result = result.and_then(|()| writer.finish(&mut sink));
        sink.abandon();
        result
    }

    fn record(
        &self,
        sub: &mut Subscription<TsChunk>,
        writer: &mut Writer,
        sink: &mut FileSink,
    ) -> Result<(), RecordError> {
        use tokio::sync::mpsc::error::TryRecvError;
        let mut after_live = false;
        let mut last_tick = Instant::now();
        loop {
            // What is queued is taken without parking this thread; only an empty queue
            // waits, until the next chunk, the next tick or a stop.
            let next = match sub.rx.try_recv() {
                Ok(chunk) => Some(Some(chunk)),
                Err(TryRecvError::Disconnected) => None,
                Err(TryRecvError::Empty) => {
                    let tick_at = tokio::time::Instant::from_std(last_tick + TICK);
                    self.rt.block_on(async {
                        tokio::select! {
                            _ = self.cancel.cancelled() => None,
                            r = sub.rx.recv() => r.map(Some),
                            _ = tokio::time::sleep_until(tick_at) => Some(None),
                        }
                    })
                }
            };
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            match next {
                // Stopped, or the publication ended (the grace period is over).
                None => return Ok(()),
                Some(Some(chunk)) => {
                    // Replayed chunks (no arrival time) after live ones: the hub resynced
                    // this output to a returning publisher's keyframe, or after a loss.
                    if chunk.arrived.is_none() && after_live {
                        writer.resume(sink)?;
                    }
                    after_live = chunk.arrived.is_some();
                    writer.push(&chunk, sink)?;
                }
                // Quiet until the tick.
                Some(None) => {}
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                writer.tick(sink)?;
                sink.tick();
            }
        }
    }
}
