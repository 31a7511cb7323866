//! The engine: listeners, the registry of running inputs and outputs, and reconciliation
//! of a desired state against it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hls::{HlsConfig, HlsReader, HlsSessions};
use crate::hub::{BackupTimes, Hub};
use crate::metrics::{CompatProblem, Feed, FlowState, OutputCounters, Snapshot};
use crate::record::disk::SpaceCheck;
use crate::record::task::{RecordOutput, Recordings};
use crate::record::{self, RecordingConfig};
use crate::rtmp::server::{Admission, RtmpLimits};
use crate::rtmp::tls::{CertReloader, ClientTls};
use crate::spec::{
    BackupSource, DesiredState, InputSource, InputSpec, Name, OutputKind, OutputSpec, StateError,
};
use crate::{input, output, srt};

/// Where the engine listens. `None` disables a listener.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub srt: Option<SocketAddr>,
    pub rtmp: Option<SocketAddr>,
    pub rtmps: Option<SocketAddr>,
    /// PEM certificate chain and key for RTMPS, re-read when they change on disk.
    pub tls: Option<TlsFiles>,
    /// Trust used by RTMPS push outputs and pull inputs.
    pub client_tls: ClientTls,
    /// Connection limits shared by the RTMP and RTMPS listeners.
    pub rtmp_limits: RtmpLimits,
    /// Where record outputs write, created (0750) at start.
    pub recording: RecordingConfig,
    /// Segment, part and window of every HLS session.
    pub hls: HlsConfig,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Failures to start the engine.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen for SRT on {addr}: {source}")]
    Srt {
        addr: SocketAddr,
        source: relevo_srt::SrtError,
    },
    #[error("cannot listen for {proto} on {addr}: {source}")]
    Tcp {
        proto: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("RTMPS needs a certificate: {0}")]
    Tls(#[from] crate::rtmp::tls::TlsError),
    #[error("RTMPS is enabled but no certificate and key are configured")]
    NoCertificate,
    #[error("cannot create the recordings directory {}: {source}", .dir.display())]
    RecordingDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// What a stream key leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// A publisher's key: the input's main key, or its backup key.
    Input(Name, Feed),
    Output(Name, Name),
}

/// Why a manual switch of feed was refused ([`Engine::switch_feed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    #[error("no input named {0:?}")]
    UnknownInput(String),
    #[error("input {0:?} has no backup feed")]
    NoBackup(String),
    #[error("the {} feed is not live", .0.as_str())]
    NotLive(Feed),
}

#[derive(Debug)]
pub(crate) struct OutputRt {
    pub spec: OutputSpec,
    pub counters: Arc<OutputCounters>,
    pub cancel: CancellationToken,
}

#[derive(Debug)]
pub(crate) struct InputRt {
    pub spec: InputSpec,
    pub hub: Arc<Hub>,
    /// Cancels the input's pull task, its publisher's connection and all its outputs.
    pub cancel: CancellationToken,
    pub outputs: BTreeMap<Name, OutputRt>,
    /// The backup pull task (a backup that pulls) and what it pulls.
    pub backup_pull: Option<(BackupSource, CancellationToken)>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub inputs: BTreeMap<Name, InputRt>,
    /// RTMP/SRT stream keys.
    pub keys: HashMap<String, Route>,
    /// HLS output keys → (input, output): apart from `keys`, so that an RTMP play or an
    /// SRT reader with an HLS key is refused like an unknown key.
    pub hls_keys: HashMap<String, (Name, Name)>,
}

/// What an HLS request reaches, taken from the registry.
pub(crate) struct HlsTarget {
    pub input: Name,
    pub hub: Arc<Hub>,
    pub cancel: CancellationToken,
    /// The HLS output's counters; `None` for the panel's preview.
    pub counters: Option<Arc<OutputCounters>>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    registry: RwLock<Registry>,
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
    pub client_tls: ClientTls,
    pub recordings: Arc<Recordings>,
    pub hls: Arc<HlsSessions>,
}

impl Shared {
    /// The enabled input (and HLS output) `reader` names.
    pub fn hls_target(&self, reader: HlsReader<'_>) -> Option<HlsTarget> {
        let reg = self.read();
        let (input, output) = match reader {
            HlsReader::Key(key) => {
                let (input, output) = reg.hls_keys.get(key)?;
                (reg.inputs.get(input)?, Some(output))
            }
            HlsReader::Preview(name) => {
                (reg.inputs.iter().find(|(n, _)| n.as_str() == name)?.1, None)
            }
        };
        if !input.spec.enabled {
            return None;
        }
        let counters = match output {
            Some(name) => {
                let out = input.outputs.get(name).filter(|o| o.spec.enabled)?;
                Some(out.counters.clone())
            }
            None => None,
        };
        Some(HlsTarget {
            input: input.spec.name.clone(),
            hub: input.hub.clone(),
            cancel: input.cancel.clone(),
            counters,
        })
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Addresses the listeners actually bound (useful with port 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct BoundAddrs {
    pub srt: Option<SocketAddr>,
    pub rtmp: Option<SocketAddr>,
    pub rtmps: Option<SocketAddr>,
}

/// A running relay. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    bound: BoundAddrs,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The inputs' own SRT ports (issue #18), opened and closed by `apply`.
    own_ports: Arc<srt::input_port::InputPorts>,
}

impl Engine {
    /// Binds the listeners and starts with nothing configured; call [`Engine::apply`].
    pub async fn start(config: EngineConfig) -> Result<Self, StartError> {
        let dir = config.recording.dir.clone();
        crate::record::files::create_dir(&dir)
            .map_err(|source| StartError::RecordingDir { dir, source })?;
        let recordings = Arc::new(Recordings::new(
            config.recording.dir.clone(),
            SpaceCheck::new(config.recording.dir.clone(), config.recording.floor),
        ));
        let shared = Arc::new(Shared {
            registry: RwLock::new(Registry::default()),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            client_tls: config.client_tls.clone(),
            recordings,
            hls: Arc::new(HlsSessions::new(config.hls)),
        });
        let mut bound = BoundAddrs::default();
        if let Some(addr) = config.srt {
            let listener = srt::endpoint::bind(&shared, addr)
                .map_err(|source| StartError::Srt { addr, source })?;
            bound.srt = Some(listener.local_addr());
            shared
                .tasks
                .spawn(srt::endpoint::accept_loop(shared.clone(), listener));
        }
        let router: Arc<dyn crate::rtmp::router::RtmpRouter> =
            Arc::new(crate::rtmp::routes::Router::new(shared.clone()));
        let admission = Admission::new(config.rtmp_limits.clone());
        if let Some(addr) = config.rtmp {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Tcp {
                    proto: "RTMP",
                    addr,
                    source,
                })?;
            bound.rtmp = l.local_addr().ok();
            tracing::info!(addr = %bound.rtmp.unwrap_or(addr), "RTMP listening");
            shared.tasks.spawn(crate::rtmp::server::serve_with(
                l,
                None,
                router.clone(),
                admission.clone(),
                shared.cancel.child_token(),
            ));
        }
        if let Some(addr) = config.rtmps {
            let files = config.tls.as_ref().ok_or(StartError::NoCertificate)?;
            let tls = Arc::new(CertReloader::new(files.cert.clone(), files.key.clone())?);
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Tcp {
                    proto: "RTMPS",
                    addr,
                    source,
                })?;
            bound.rtmps = l.local_addr().ok();
            tracing::info!(addr = %bound.rtmps.unwrap_or(addr), "RTMPS listening");
            shared.tasks.spawn(crate::rtmp::server::serve_with(
                l,
                Some(tls),
                router,
                admission,
                shared.cancel.child_token(),
            ));
        }
        let (tx, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        shared
            .tasks
            .spawn(crate::live::run_sampler(shared.clone(), tx));
        Ok(Self {
            shared,
            bound,
            snapshots,
            own_ports: Arc::new(srt::input_port::InputPorts::new(bound.srt)),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn bound(&self) -> BoundAddrs {
        self.bound
    }

    /// The recordings directory: `<input dir>/<output dir>/<files>` inside it (see
    /// [`crate::record::files`]).
    pub fn recording_root(&self) -> &Path {
        &self.shared.recordings.root
    }

    /// The recordings filesystem's figures as last read by a writer's space check.
    pub fn recording_space(&self) -> &SpaceCheck {
        &self.shared.recordings.space
    }

    /// Makes the running flows match `desired`, touching only what changed: an input whose
    /// source is unchanged keeps its publisher, and an output whose spec is unchanged keeps
    /// its connection.
    pub fn apply(&self, desired: &DesiredState) -> Result<(), StateError> {
        desired.validate()?;
        let mut reg = self.shared.write();
        let wanted: BTreeMap<&Name, &InputSpec> =
            desired.inputs.iter().map(|i| (&i.name, i)).collect();

        let stale: Vec<Name> = reg
            .inputs
            .iter()
            .filter(|(name, rt)| wanted.get(name).is_none_or(|w| !w.same_source(&rt.spec)))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(rt) = reg.inputs.remove(&name) {
                tracing::info!(input = %name, "input removed or changed: stopping it");
                rt.cancel.cancel();
            }
        }

        for spec in &desired.inputs {
            if !reg.inputs.contains_key(&spec.name) {
                let rt = self.start_input(spec);
                reg.inputs.insert(spec.name.clone(), rt);
            }
            if let Some(rt) = reg.inputs.get_mut(&spec.name) {
                self.reconcile_outputs(rt, spec);
            }
        }

        reg.keys = build_routes(desired);
        reg.hls_keys = build_hls_routes(desired);
        self.own_ports.reconcile(&self.shared, &reg);
        Ok(())
    }

    fn start_input(&self, spec: &InputSpec) -> InputRt {
        let hub = Hub::new(spec.name.as_str());
        let cancel = self.shared.cancel.child_token();
        if spec.enabled {
            match &spec.source {
                InputSource::Listen { .. } => {}
                InputSource::PullSrt(_) | InputSource::PullRtmp(_) => {
                    if let Some(from) = input::PullFrom::main(spec) {
                        self.shared.tasks.spawn(input::run_pull(
                            self.shared.clone(),
                            hub.clone(),
                            spec.name.clone(),
                            Feed::Main,
                            from,
                            cancel.clone(),
                        ));
                    }
                }
            }
        }
        tracing::info!(input = %spec.name, "input configured");
        InputRt {
            spec: spec.clone(),
            hub,
            cancel,
            outputs: BTreeMap::new(),
            backup_pull: None,
        }
    }

    /// Applies the input's backup feed live (issue #18): the hub's delays, its backup pull
    /// task. The main feed and the outputs are not touched; a backup whose source changed
    /// lets its publisher go.
    fn reconcile_backup(&self, rt: &mut InputRt, spec: &InputSpec) {
        let wanted = spec.backup.as_ref().filter(|_| spec.enabled);
        let before = rt.spec.backup.as_ref().filter(|_| rt.spec.enabled);
        if before.is_some_and(|b| wanted.is_none_or(|w| w.source != b.source)) {
            rt.hub.set_backup(None);
        }
        rt.hub.set_backup(wanted.map(|b| BackupTimes {
            failover: b.failover.duration(),
            revert: b.revert.map(|r| r.duration()),
        }));
        let pull = wanted.and_then(|b| Some((b.source.clone(), input::PullFrom::backup(spec)?)));
        if rt
            .backup_pull
            .as_ref()
            .is_some_and(|(src, _)| pull.as_ref().is_none_or(|(want, _)| want != src))
        {
            if let Some((_, cancel)) = rt.backup_pull.take() {
                cancel.cancel();
            }
        }
        if let (None, Some((source, from))) = (&rt.backup_pull, pull) {
            let cancel = rt.cancel.child_token();
            self.shared.tasks.spawn(input::run_pull(
                self.shared.clone(),
                rt.hub.clone(),
                spec.name.clone(),
                Feed::Backup,
                from,
                cancel.clone(),
            ));
            rt.backup_pull = Some((source, cancel));
        }
    }

    fn reconcile_outputs(&self, rt: &mut InputRt, spec: &InputSpec) {
        let wanted: BTreeMap<&Name, &OutputSpec> =
            spec.outputs.iter().map(|o| (&o.name, o)).collect();
        rt.outputs.retain(|name, o| {
            let keep = wanted.get(name).is_some_and(|w| **w == o.spec);
            if !keep {
                tracing::info!(input = %spec.name, output = %name, "output removed or changed");
                o.cancel.cancel();
            }
            keep
        });
        for out in &spec.outputs {
            if rt.outputs.contains_key(&out.name) {
                continue;
            }
            let counters = Arc::new(OutputCounters::default());
            let cancel = rt.cancel.child_token();
            if !(spec.enabled && out.enabled) {
                counters.set_state(FlowState::Stopped);
            } else if let OutputKind::Record(record) = &out.kind {
                self.shared.tasks.spawn(record::task::run_record(
                    self.shared.recordings.clone(),
                    rt.hub.clone(),
                    RecordOutput {
                        input: spec.name.clone(),
                        output: out.name.clone(),
                        spec: record.clone(),
                        counters: counters.clone(),
                    },
                    cancel.clone(),
                ));
            } else if matches!(
                out.kind,
                OutputKind::PushRtmp { .. } | OutputKind::PushSrt(_)
            ) {
                self.shared.tasks.spawn(output::run_push(
                    self.shared.clone(),
                    rt.hub.clone(),
                    spec.name.clone(),
                    out.clone(),
                    counters.clone(),
                    cancel.clone(),
                ));
            }
            rt.outputs.insert(
                out.name.clone(),
                OutputRt {
                    spec: out.clone(),
                    counters,
                    cancel,
                },
            );
        }
        self.reconcile_backup(rt, spec);
        rt.spec = spec.clone();
        rt.hub.set_grace(spec.grace.duration());
        let enabled = || rt.outputs.values().filter(|o| o.spec.enabled);
        let wants_ts = enabled().any(|o| {
            matches!(
                o.spec.kind,
                OutputKind::PushSrt(_) | OutputKind::PullSrt { .. } | OutputKind::Record(_)
            )
        });
        let wants_flv = enabled().any(|o| {
            matches!(
                o.spec.kind,
                OutputKind::PushRtmp { .. } | OutputKind::PullRtmp { .. }
            )
        });
        rt.hub.set_wants(wants_ts, wants_flv);
    }

    /// Puts `feed` of `input` on air by hand, at its next keyframe (issue #18). A manual
    /// choice holds: the automatic return to the main feed waits until the operator switches
    /// back to it, unless the chosen feed is lost (then the other takes over as on failover).
    pub fn switch_feed(&self, input: &str, feed: Feed) -> Result<(), SwitchError> {
        let reg = self.shared.read();
        let rt = reg
            .inputs
            .iter()
            .find(|(n, _)| n.as_str() == input)
            .map(|(_, rt)| rt)
            .ok_or_else(|| SwitchError::UnknownInput(input.to_owned()))?;
        if rt.spec.backup.is_none() {
            return Err(SwitchError::NoBackup(input.to_owned()));
        }
        rt.hub.switch_feed(feed)
    }

    /// What the destination of `kind` would not accept of `input`'s stream on air now: the
    /// check run when an output is created or changed against a live input (the running
    /// outputs report theirs in the snapshot). Empty while the codecs are not known.
    pub fn preflight(&self, input: &str, kind: &OutputKind) -> Vec<CompatProblem> {
        let reg = self.shared.read();
        let Some(rt) = reg
            .inputs
            .iter()
            .find(|(n, _)| n.as_str() == input)
            .map(|(_, rt)| rt)
        else {
            return Vec::new();
        };
        rt.hub
            .codecs()
            .map(|c| crate::preflight::check(&c, kind))
            .unwrap_or_default()
    }

    /// Live state of every input and output, built now. Rates are those of the last sample.
    pub fn snapshot(&self) -> Snapshot {
        crate::live::snapshot(&self.shared)
    }

    /// The snapshot the sampler task publishes once a second, rates included; the channel
    /// closes when the engine shuts down. Every reader (`/metrics`, the API, the panel)
    /// follows this one.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// Closes every connection and waits (up to `grace`) for the tasks to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        if tokio::time::timeout(grace, self.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within {grace:?}");
        }
    }
}

pub(crate) fn output_kind_name(kind: &OutputKind) -> &'static str {
    match kind {
        OutputKind::PushSrt(_) => "push_srt",
        OutputKind::PushRtmp { .. } => "push_rtmp",
        OutputKind::PullSrt { .. } => "pull_srt",
        OutputKind::PullRtmp { .. } => "pull_rtmp",
        OutputKind::PullHls { .. } => "pull_hls",
        OutputKind::Record(_) => "record",
    }
}

fn build_routes(desired: &DesiredState) -> HashMap<String, Route> {
    let mut keys = HashMap::new();
    for input in &desired.inputs {
        if let InputSource::Listen { key, .. } = &input.source {
            keys.insert(
                key.expose().to_owned(),
                Route::Input(input.name.clone(), Feed::Main),
            );
        }
        if let Some(BackupSource::Key(key)) = input.backup.as_ref().map(|b| &b.source) {
            keys.insert(
                key.expose().to_owned(),
                Route::Input(input.name.clone(), Feed::Backup),
            );
        }
        for out in &input.outputs {
            if let OutputKind::PullSrt { key, .. } | OutputKind::PullRtmp { key } = &out.kind {
                keys.insert(
                    key.expose().to_owned(),
                    Route::Output(input.name.clone(), out.name.clone()),
                );
            }
        }
    }
    keys
}

/// HLS output keys (see [`Registry::hls_keys`]).
fn build_hls_routes(desired: &DesiredState) -> HashMap<String, (Name, Name)> {
    let mut keys = HashMap::new();
    for input in &desired.inputs {
        for out in &input.outputs {
            if let OutputKind::PullHls { key } = &out.kind {
                keys.insert(
                    key.expose().to_owned(),
                    (input.name.clone(), out.name.clone()),
                );
            }
        }
    }
    keys
}
