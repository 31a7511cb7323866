//! The desired state: plain, validated data describing every input and its outputs.
//!
//! The engine is driven only through this (see [`crate::Engine::apply`]); the configuration
//! file and, later, the database both produce it. Validation lives in the newtypes here so
//! that every front end enforces the same rules.

use std::fmt;

pub use relevo_srt::KeyLen;

use crate::rtmp::url::RtmpUrl;

/// Why a value was refused; `Display` is meant to be shown after the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{0} ms is outside the SRT latency range {min}–{max} ms", min = Latency::MIN_MS, max = Latency::MAX_MS)]
    Latency(u32),
    #[error("a passphrase must be {min}–{max} characters long, this one has {0}", min = Passphrase::MIN_LEN, max = Passphrase::MAX_LEN)]
    PassphraseLength(usize),
    #[error("key length must be 16, 24 or 32 (AES-128/192/256), not {0}")]
    KeyLength(u32),
    #[error("a stream key must be 1–{max} characters of A–Z a–z 0–9 - _ . ~ (got {0:?})", max = StreamKey::MAX_LEN)]
    StreamKey(String),
    #[error("a name must be 1–{max} characters (got {0:?})", max = Name::MAX_LEN)]
    Name(String),
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("{0} s is longer than the {max} s a grace period may last", max = GracePeriod::MAX_S)]
    Grace(u64),
    #[error("key length is set but there is no passphrase")]
    KeyLengthWithoutPassphrase,
    #[error("{0:?} is not a recording format (mp4 or ts)")]
    RecordFormat(String),
    #[error("{0} s is outside the {min}–{max} s a recorded file may last", min = SegmentDuration::MIN_S, max = SegmentDuration::MAX_S)]
    Segment(u64),
    #[error("a retention limit must be at least 1 (got 0)")]
    RetentionZero,
    #[error("{0} ms is outside the {min}–{max} ms a failover may wait", min = FailoverDelay::MIN_MS, max = FailoverDelay::MAX_MS)]
    Failover(u64),
    #[error("{0} s is outside the {min}–{max} s the main feed must be stable before it returns", min = RevertDelay::MIN_S, max = RevertDelay::MAX_S)]
    Revert(u64),
    #[error("{0:?} is not a platform (youtube, twitch or facebook)")]
    Platform(String),
    #[error("port {0} cannot be an input's own SRT port (1024–65535)")]
    SrtPort(u32),
}

/// SRT latency (SRTO_LATENCY), per input or output. The 80–1000 ms range is the product's
/// promise to operators (the customer's brief); libsrt itself accepts more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency(u32);

impl Latency {
    pub const MIN_MS: u32 = 80;
    pub const MAX_MS: u32 = 1000;
    /// libsrt's own default (120 ms) is below what most WAN links need; 200 ms is the
    /// common broadcast starting point (3–4 × a typical 50 ms RTT).
    pub const DEFAULT: Latency = Latency(200);

    pub fn new(ms: u32) -> Result<Self, SpecError> {
        if (Self::MIN_MS..=Self::MAX_MS).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(SpecError::Latency(ms))
        }
    }

    pub fn ms(self) -> u32 {
        self.0
    }
}

/// An SRT passphrase: libsrt accepts 10–79 characters (SRTO_PASSPHRASE).
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(String);

impl Passphrase {
    pub const MIN_LEN: usize = 10;
    pub const MAX_LEN: usize = 79;

    pub fn new(s: impl Into<String>) -> Result<Self, SpecError> {
        let s = s.into();
        let n = s.chars().count();
        if (Self::MIN_LEN..=Self::MAX_LEN).contains(&n) && s.is_ascii() {
            Ok(Self(s))
        } else {
            Err(SpecError::PassphraseLength(n))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

/// Checks an input's own SRT port ([`InputSource::Listen`]`::srt_port`): not a privileged
/// port, which the service could not bind without extra rights.
pub fn own_srt_port(port: u32) -> Result<u16, SpecError> {
    match u16::try_from(port) {
        Ok(p) if p >= 1024 => Ok(p),
        _ => Err(SpecError::SrtPort(port)),
    }
}

/// Parses a key length in bytes (16/24/32).
pub fn key_len(bytes: u32) -> Result<KeyLen, SpecError> {
    match bytes {
        16 => Ok(KeyLen::Aes128),
        24 => Ok(KeyLen::Aes192),
        32 => Ok(KeyLen::Aes256),
        other => Err(SpecError::KeyLength(other)),
    }
}

/// SRT encryption settings of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtSecurity {
    pub passphrase: Passphrase,
    pub key_len: KeyLen,
}

impl SrtSecurity {
    pub fn to_srt(&self) -> relevo_srt::Encryption {
        relevo_srt::Encryption {
            passphrase: self.passphrase.expose().to_owned(),
            key_len: self.key_len,
        }
    }
}

/// A stream key: what an encoder puts in the SRT streamid or the RTMP URL. Restricted to
/// URL-safe characters so it survives both without escaping.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StreamKey(String);

impl StreamKey {
    /// Long enough for generated keys, short enough for the 512-byte SRT streamid.
    pub const MAX_LEN: usize = 128;

    pub fn new(s: impl Into<String>) -> Result<Self, SpecError> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if ok {
            Ok(Self(s))
        } else {
            Err(SpecError::StreamKey(s))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(***)")
    }
}

/// The operator's name for an input or output; also its identity in the desired state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    pub const MAX_LEN: usize = 100;

    pub fn new(s: impl Into<String>) -> Result<Self, SpecError> {
        let s = s.into();
        if s.trim().is_empty() || s.chars().count() > Self::MAX_LEN {
            Err(SpecError::Name(s))
        } else {
            Ok(Self(s))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A remote SRT endpoint we call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtCaller {
    /// `host:port` as written by the operator; resolved at each connection attempt.
    pub host: String,
    pub port: u16,
    pub stream_id: Option<String>,
    pub security: Option<SrtSecurity>,
    pub latency: Latency,
    /// Whether the host may resolve to a loopback, private or link-local address
    /// ([`crate::destination`]): true for flows of the configuration file, the admin
    /// setting's value for flows created through the API.
    pub allow_private: bool,
}

/// Where an input's stream comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// Encoders publish to our SRT, RTMP or RTMPS listener with this key.
    Listen {
        key: StreamKey,
        /// Required of SRT publishers; RTMP publishers are authenticated by the key alone.
        security: Option<SrtSecurity>,
        latency: Latency,
        /// An SRT port of the input's own, for encoders that cannot send a stream id: any
        /// caller on it publishes to this input (main feed), with the same passphrase and
        /// latency rules. A passphrase is then required ([`SpecError::SrtPortWithoutPassphrase`]).
        /// `None`: publishers use the shared SRT port with `streamid=publish:KEY`.
        srt_port: Option<u16>,
    },
    /// We call a remote SRT listener and read from it.
    PullSrt(SrtCaller),
    /// We play a stream from a remote RTMP(S) server.
    PullRtmp(RtmpUrl),
}

/// Where an output's stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    PushSrt(SrtCaller),
    PushRtmp {
        url: RtmpUrl,
        /// The destination accepts Enhanced RTMP (H.265 as `hvc1`). Legacy RTMP has no
        /// H.265, and a legacy server accepts the tags and then cannot decode them, so H.265
        /// is only sent where the operator says it is understood.
        enhanced: bool,
        /// The platform whose ingest rules the codec pre-flight applies (`crate::preflight`).
        /// `None`: found from the URL's host ([`Platform::from_host`]), else generic RTMP.
        platform: Option<Platform>,
    },
    /// Remote callers read from our SRT listener with this key (`read:KEY`).
    PullSrt {
        key: StreamKey,
        security: Option<SrtSecurity>,
        latency: Latency,
    },
    /// Players read `rtmp(s)://HOST/live/KEY`.
    PullRtmp {
        key: StreamKey,
    },
    /// Browsers and CDNs read `https://HOST/hls/KEY/index.m3u8` (LL-HLS, CMAF), muxed once
    /// per input and only while someone reads it (`crate::hls`).
    PullHls {
        key: StreamKey,
    },
    /// The input written to files on this machine, without transcoding.
    Record(RecordSpec),
}

impl OutputKind {
    /// The key a reader presents, for the outputs read from this machine. Keys share one
    /// namespace with the inputs' keys ([`DesiredState::validate`]).
    pub fn pull_key(&self) -> Option<&StreamKey> {
        match self {
            Self::PullSrt { key, .. } | Self::PullRtmp { key } | Self::PullHls { key } => Some(key),
            Self::PushSrt(_) | Self::PushRtmp { .. } | Self::Record(_) => None,
        }
    }
}

/// A streaming platform with documented ingest requirements (codecs it accepts), checked
/// before and while pushing to it (`crate::preflight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    YouTube,
    Twitch,
    Facebook,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::YouTube, Platform::Twitch, Platform::Facebook];

    pub fn parse(s: &str) -> Result<Self, SpecError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| SpecError::Platform(s.to_owned()))
    }

    /// The name in the configuration, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::YouTube => "youtube",
            Self::Twitch => "twitch",
            Self::Facebook => "facebook",
        }
    }

    /// The platform an ingest host belongs to, from the hosts each publishes for encoders.
    pub fn from_host(host: &str) -> Option<Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if under("youtube.com") {
            Some(Self::YouTube)
        } else if under("twitch.tv") || under("contribute.live-video.net") {
            Some(Self::Twitch)
        } else if under("facebook.com") {
            Some(Self::Facebook)
        } else {
            None
        }
    }
}

/// The container a recording is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// Fragmented MP4 (ISO BMFF/CMAF), one fragment per GOP: playable up to its last whole
    /// fragment after a crash.
    Mp4,
    /// MPEG-TS as it arrives (SRT) or remuxed once (RTMP): every program and track kept.
    Ts,
}

impl RecordFormat {
    pub fn parse(s: &str) -> Result<Self, SpecError> {
        match s {
            "mp4" => Ok(Self::Mp4),
            "ts" => Ok(Self::Ts),
            other => Err(SpecError::RecordFormat(other.to_owned())),
        }
    }

    /// The name in the configuration, the API and the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Ts => "ts",
        }
    }
}

/// How long one recorded file lasts before the next begins (at the next keyframe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentDuration(std::time::Duration);

impl SegmentDuration {
    /// Shorter files are a segmenter's job (HLS), not a recorder's.
    pub const MIN_S: u64 = 10;
    /// One day: a file per day is the longest an editor wants to handle.
    pub const MAX_S: u64 = 86_400;
    /// One hour, the brief's default.
    pub const DEFAULT: SegmentDuration = SegmentDuration(std::time::Duration::from_secs(3600));

    pub fn from_secs(s: u64) -> Result<Self, SpecError> {
        if (Self::MIN_S..=Self::MAX_S).contains(&s) {
            Ok(Self(std::time::Duration::from_secs(s)))
        } else {
            Err(SpecError::Segment(s))
        }
    }

    pub fn duration(self) -> std::time::Duration {
        self.0
    }
}

/// How much of a recording output's past is kept, by age, size and number of files; the
/// oldest files go first. `None` keeps files until the disk floor stops the recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_days: Option<u32>,
    pub max_gib: Option<u32>,
    pub max_files: Option<u32>,
}

impl Retention {
    pub fn new(
        max_days: Option<u32>,
        max_gib: Option<u32>,
        max_files: Option<u32>,
    ) -> Result<Self, SpecError> {
        if max_days == Some(0) || max_gib == Some(0) || max_files == Some(0) {
            return Err(SpecError::RetentionZero);
        }
        Ok(Self {
            max_days,
            max_gib,
            max_files,
        })
    }
}

/// A recording output: files under `<recording dir>/<input>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    pub format: RecordFormat,
    pub segment: SegmentDuration,
    pub retention: Retention,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub name: Name,
    pub enabled: bool,
    pub kind: OutputKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub name: Name,
    pub enabled: bool,
    pub source: InputSource,
    /// How long outputs stay connected after the publisher drops, waiting for it (or a
    /// replacement) to return. Changing it restarts nothing.
    pub grace: GracePeriod,
    /// A second, redundant feed of the same programme (`crate::hub` switches to it when the
    /// main feed stops); `None`: one feed only.
    pub backup: Option<BackupSpec>,
    pub outputs: Vec<OutputSpec>,
}

/// A backup feed and when the outputs move between it and the main feed. The two feeds are
/// never mixed or transcoded: the outputs take one of them, switching at a keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSpec {
    pub source: BackupSource,
    /// The main feed is lost when it disconnects, or after this long without data.
    pub failover: FailoverDelay,
    /// Back to the main feed once it has been live and sending this long; `None`: only by
    /// hand (`crate::Engine::switch_feed`).
    pub revert: Option<RevertDelay>,
}

/// Where a backup feed comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupSource {
    /// A second key on our SRT/RTMP(S) listeners, with the input's own SRT passphrase and
    /// latency. Only for inputs that listen themselves ([`StateError::BackupKeyOnPullInput`]).
    Key(StreamKey),
    /// We call a remote SRT listener.
    PullSrt(SrtCaller),
    /// We play a remote RTMP(S) stream.
    PullRtmp(RtmpUrl),
}

/// How long the main feed may send nothing before the backup takes over: 0.5–30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverDelay(std::time::Duration);

impl FailoverDelay {
    /// Shorter would switch on a network hiccup that SRT's own latency buffer absorbs.
    pub const MIN_MS: u64 = 500;
    pub const MAX_MS: u64 = 30_000;
    /// The default: long enough for a jittery uplink, short enough to be under a GOP
    /// or two of picture lost.
    pub const DEFAULT: FailoverDelay = FailoverDelay(std::time::Duration::from_secs(2));

    pub fn from_ms(ms: u64) -> Result<Self, SpecError> {
        if (Self::MIN_MS..=Self::MAX_MS).contains(&ms) {
            Ok(Self(std::time::Duration::from_millis(ms)))
        } else {
            Err(SpecError::Failover(ms))
        }
    }

    pub fn duration(self) -> std::time::Duration {
        self.0
    }
}

/// How long a returning main feed must stay live before it goes back on air: 1–600 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevertDelay(std::time::Duration);

impl RevertDelay {
    pub const MIN_S: u64 = 1;
    pub const MAX_S: u64 = 600;
    /// An encoder that reconnects and drops again within this is not trusted yet.
    pub const DEFAULT: RevertDelay = RevertDelay(std::time::Duration::from_secs(10));

    pub fn from_secs(s: u64) -> Result<Self, SpecError> {
        if (Self::MIN_S..=Self::MAX_S).contains(&s) {
            Ok(Self(std::time::Duration::from_secs(s)))
        } else {
            Err(SpecError::Revert(s))
        }
    }

    pub fn duration(self) -> std::time::Duration {
        self.0
    }
}

/// The publisher-blip grace period: 0 (outputs close at once) to 300 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriod(std::time::Duration);

impl GracePeriod {
    pub const MAX_S: u64 = 300;
    /// Long enough for an encoder to reboot its link, short enough that a destination
    /// such as YouTube does not end the broadcast on its own.
    pub const DEFAULT: GracePeriod = GracePeriod(std::time::Duration::from_secs(10));

    pub fn from_secs(s: u64) -> Result<Self, SpecError> {
        if s <= Self::MAX_S {
            Ok(Self(std::time::Duration::from_secs(s)))
        } else {
            Err(SpecError::Grace(s))
        }
    }

    pub fn duration(self) -> std::time::Duration {
        self.0
    }
}

impl InputSpec {
    /// Lets the pull source and every push output reach loopback, private and link-local
    /// addresses, or not ([`crate::destination`]).
    pub fn set_private_allowed(&mut self, allowed: bool) {
        match &mut self.source {
            InputSource::PullSrt(c) => c.allow_private = allowed,
            InputSource::PullRtmp(url) => *url = url.clone().with_private_allowed(allowed),
            InputSource::Listen { .. } => {}
        }
        if let Some(b) = &mut self.backup {
            match &mut b.source {
                BackupSource::PullSrt(c) => c.allow_private = allowed,
                BackupSource::PullRtmp(url) => *url = url.clone().with_private_allowed(allowed),
                BackupSource::Key(_) => {}
            }
        }
        for out in &mut self.outputs {
            match &mut out.kind {
                OutputKind::PushSrt(c) => c.allow_private = allowed,
                OutputKind::PushRtmp { url, .. } => {
                    *url = url.clone().with_private_allowed(allowed);
                }
                OutputKind::PullSrt { .. }
                | OutputKind::PullRtmp { .. }
                | OutputKind::PullHls { .. }
                | OutputKind::Record(_) => {}
            }
        }
    }

    /// The input itself, ignoring its outputs: a change here restarts the input.
    pub fn same_source(&self, other: &InputSpec) -> bool {
        self.enabled == other.enabled && self.source == other.source
    }
}

/// Everything the engine should be running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    pub inputs: Vec<InputSpec>,
}

/// Why a desired state as a whole is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("input name {0:?} is used twice")]
    DuplicateInput(String),
    #[error("output name {output:?} is used twice in input {input:?}")]
    DuplicateOutput { input: String, output: String },
    #[error("stream key is used by both {first} and {second}")]
    DuplicateKey { first: String, second: String },
    #[error("input {0:?} has its own SRT port but no passphrase: the port alone would let anyone who finds it publish")]
    SrtPortWithoutPassphrase(String),
    #[error("input {0:?} pulls its main feed: a backup key needs an input that listens (use a backup pull source)")]
    BackupKeyOnPullInput(String),
    #[error("SRT port {port} is used by both {first} and {second}")]
    DuplicateSrtPort {
        port: u16,
        first: String,
        second: String,
    },
}

impl DesiredState {
    /// Checks what single fields cannot: unique names and keys shared by inputs and pull
    /// outputs (one listener namespace).
    pub fn validate(&self) -> Result<(), StateError> {
        use std::collections::{HashMap, HashSet};
        let mut names = HashSet::new();
        let mut ports: HashMap<u16, String> = HashMap::new();
        let mut keys: HashMap<String, String> = HashMap::new();
        let mut claim = |key: &StreamKey, owner: String| match keys.get(key.expose()) {
            Some(first) => Err(StateError::DuplicateKey {
                first: first.clone(),
                second: owner,
            }),
            None => {
                keys.insert(key.expose().to_owned(), owner);
                Ok(())
            }
        };
        for input in &self.inputs {
            if !names.insert(input.name.as_str()) {
                return Err(StateError::DuplicateInput(input.name.to_string()));
            }
            if let InputSource::Listen {
                key,
                srt_port,
                security,
                ..
            } = &input.source
            {
                claim(key, format!("input {:?}", input.name.as_str()))?;
                if let Some(port) = srt_port {
                    if security.is_none() {
                        return Err(StateError::SrtPortWithoutPassphrase(input.name.to_string()));
                    }
                    let owner = format!("input {:?}", input.name.as_str());
                    if let Some(first) = ports.insert(*port, owner.clone()) {
                        return Err(StateError::DuplicateSrtPort {
                            port: *port,
                            first,
                            second: owner,
                        });
                    }
                }
            }
            if let Some(b) = &input.backup {
                if let BackupSource::Key(key) = &b.source {
                    if !matches!(input.source, InputSource::Listen { .. }) {
                        return Err(StateError::BackupKeyOnPullInput(input.name.to_string()));
                    }
                    claim(key, format!("backup of input {:?}", input.name.as_str()))?;
                }
            }
            let mut out_names = HashSet::new();
            for output in &input.outputs {
                if !out_names.insert(output.name.as_str()) {
                    return Err(StateError::DuplicateOutput {
                        input: input.name.to_string(),
                        output: output.name.to_string(),
                    });
                }
                if let Some(key) = output.kind.pull_key() {
                    claim(
                        key,
                        format!(
                            "output {:?} of input {:?}",
                            output.name.as_str(),
                            input.name.as_str()
                        ),
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_bounds_are_inclusive() {
        assert!(Latency::new(79).is_err());
        assert_eq!(Latency::new(80).map(Latency::ms), Ok(80));
        assert_eq!(Latency::new(1000).map(Latency::ms), Ok(1000));
        assert_eq!(Latency::new(1001), Err(SpecError::Latency(1001)));
    }

    #[test]
    fn passphrase_bounds_are_inclusive() {
        assert!(Passphrase::new("123456789").is_err());
        assert!(Passphrase::new("1234567890").is_ok());
        assert!(Passphrase::new("x".repeat(79)).is_ok());
        assert_eq!(
            Passphrase::new("x".repeat(80)),
            Err(SpecError::PassphraseLength(80))
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let p = Passphrase::new("supersecret-pass").expect("valid");
        let k = StreamKey::new("k3y").expect("valid");
        assert!(!format!("{p:?}{k:?}").contains("supersecret"));
        assert!(!format!("{k:?}").contains("k3y"));
    }

    #[test]
    fn stream_key_charset() {
        assert!(StreamKey::new("studio-a_1.x~").is_ok());
        assert!(StreamKey::new("").is_err());
        assert!(StreamKey::new("a/b").is_err());
        assert!(StreamKey::new("a,m=publish").is_err());
    }

    fn listen(name: &str, key: &str) -> InputSpec {
        InputSpec {
            name: Name::new(name).expect("valid"),
            enabled: true,
            source: InputSource::Listen {
                key: StreamKey::new(key).expect("valid"),
                security: None,
                latency: Latency::DEFAULT,
                srt_port: None,
            },
            grace: GracePeriod::DEFAULT,
            backup: None,
            outputs: vec![],
        }
    }

    #[test]
    fn keys_are_unique_across_inputs_and_pull_outputs() {
        let mut a = listen("a", "k1");
        a.outputs.push(OutputSpec {
            name: Name::new("o").expect("valid"),
            enabled: true,
            kind: OutputKind::PullRtmp {
                key: StreamKey::new("k2").expect("valid"),
            },
        });
        let ok = DesiredState {
            inputs: vec![a.clone(), listen("b", "k3")],
        };
        assert_eq!(ok.validate(), Ok(()));
        let clash = DesiredState {
            inputs: vec![a, listen("b", "k2")],
        };
        assert!(matches!(
            clash.validate(),
            Err(StateError::DuplicateKey { .. })
        ));
        let dup = DesiredState {
            inputs: vec![listen("a", "x"), listen("a", "y")],
        };
        assert_eq!(dup.validate(), Err(StateError::DuplicateInput("a".into())));
    }
}
