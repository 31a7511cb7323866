//! `rtmp://` and `rtmps://` destination URLs: `scheme://host[:port]/app[/more]/streamkey[?query]`.
//!
//! The application is every path segment but the last; the stream key is the last segment plus
//! any query string, which some services require (`?s=…`) and which is therefore kept as is.
//! Examples: YouTube `rtmp://a.rtmp.youtube.com/live2/KEY` (app `live2`), Facebook
//! `rtmps://live-api-s.facebook.com:443/rtmp/KEY` (app `rtmp`), Twitch
//! `rtmp://live.twitch.tv/app/KEY` (app `app`).

use std::fmt;
use std::str::FromStr;

/// Default TCP port of `rtmp://` (Adobe RTMP specification 1.0, §5.1).
pub const RTMP_DEFAULT_PORT: u16 = 1935;
/// Default TCP port of `rtmps://` (RTMP inside TLS on the HTTPS port, as the big services use).
pub const RTMPS_DEFAULT_PORT: u16 = 443;

/// What is wrong with an RTMP URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL: {0}")]
    Syntax(String),
    #[error("unsupported scheme {0:?} (expected rtmp or rtmps)")]
    Scheme(String),
    #[error("missing host")]
    MissingHost,
    #[error("missing application name (expected scheme://host/app/streamkey)")]
    MissingApp,
    #[error("missing stream key (expected scheme://host/app/streamkey)")]
    MissingKey,
    #[error("user name or password in an RTMP URL are not supported")]
    Credentials,
    #[error("empty path segment in the application name")]
    EmptySegment,
}

/// A parsed, validated RTMP(S) URL. `Display` prints the whole URL, key included; use
/// [`RtmpUrl::redacted`] for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    tls: bool,
    host: String,
    port: u16,
    explicit_port: bool,
    app: String,
    key: String,
    /// See [`RtmpUrl::with_private_allowed`]; true once parsed.
    allow_private: bool,
}

impl RtmpUrl {
    /// The same URL, allowed (or not) to reach a loopback, private or link-local address
    /// ([`crate::destination`]).
    pub fn with_private_allowed(mut self, allowed: bool) -> Self {
        self.allow_private = allowed;
        self
    }

    pub fn private_allowed(&self) -> bool {
        self.allow_private
    }

    pub fn parse(input: &str) -> Result<Self, UrlError> {
        let input = input.trim();
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| UrlError::Syntax(format!("no \"://\" in {:?}", redact_str(input))))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "rtmp" => false,
            "rtmps" => true,
            other => return Err(UrlError::Scheme(other.to_string())),
        };
        if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
            return Err(UrlError::MissingHost);
        }
        // Let the url crate validate the authority; the path is split here, as written.
        let parsed = url::Url::parse(&format!("http://{rest}"))
            .map_err(|e| UrlError::Syntax(e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(UrlError::MissingHost),
        };
        // The url crate drops a port equal to http's default (80); read it from the input.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let explicit_port = parsed.port().is_some() || authority_has_port(authority);
        let default_port = if tls {
            RTMPS_DEFAULT_PORT
        } else {
            RTMP_DEFAULT_PORT
        };
        let port = parsed
            .port()
            .unwrap_or(if explicit_port { 80 } else { default_port });

        let after_authority = &rest[authority.len()..];
        let (path, query) = match after_authority.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (after_authority, None),
        };
        let path = path.split('#').next().unwrap_or_default();
        let path = path.strip_prefix('/').unwrap_or(path);
        let (app, key) = path.rsplit_once('/').ok_or(if path.is_empty() {
            UrlError::MissingApp
        } else {
            UrlError::MissingKey
        })?;
        if app.is_empty() {
            return Err(UrlError::MissingApp);
        }
        if app.split('/').any(str::is_empty) {
            return Err(UrlError::EmptySegment);
        }
        if key.is_empty() {
            return Err(UrlError::MissingKey);
        }
        let key = match query {
            Some(q) => format!("{key}?{q}"),
            None => key.to_string(),
        };
        Ok(Self {
            tls,
            host,
            port,
            explicit_port,
            app: app.to_string(),
            key,
            allow_private: true,
        })
    }

    /// True for `rtmps://`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Host name or IP address (IPv6 without brackets); also the TLS server name.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The application name, e.g. `live2`, or `app/inst` for a multi-segment path.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The stream key with its query string, if any. A secret: never log it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `tcUrl` sent in `connect`: the URL without the stream key.
    pub fn tc_url(&self) -> String {
        format!("{}/{}", self.base(), self.app)
    }

    /// A `Display` of the URL with the stream key hidden, for logs and the API.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }

    fn base(&self) -> String {
        let scheme = if self.tls { "rtmps" } else { "rtmp" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.explicit_port {
            format!("{scheme}://{host}:{}", self.port)
        } else {
            format!("{scheme}://{host}")
        }
    }
}

fn authority_has_port(authority: &str) -> bool {
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    match host_port.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host_port.contains(':'),
    }
}

fn redact_str(input: &str) -> String {
    match input.rsplit_once('/') {
        Some((head, _)) => format!("{head}/****"),
        None => "****".to_string(),
    }
}

impl FromStr for RtmpUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RtmpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tc_url(), self.key)
    }
}

/// [`RtmpUrl`] shown with its stream key replaced by `****`.
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a>(&'a RtmpUrl);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/****", self.0.tc_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RtmpUrl {
        RtmpUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn services() {
        let yt = parse("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl");
        assert!(!yt.is_tls());
        assert_eq!(
            (yt.host(), yt.port(), yt.app(), yt.key()),
            ("a.rtmp.youtube.com", 1935, "live2", "abcd-efgh-ijkl")
        );
        assert_eq!(yt.tc_url(), "rtmp://a.rtmp.youtube.com/live2");

        let fb = parse("rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&s_sc=2&a=x");
        assert!(fb.is_tls());
        assert_eq!(
            (fb.port(), fb.app(), fb.key()),
            (443, "rtmp", "FB-123?s_bl=1&s_sc=2&a=x")
        );
        assert_eq!(fb.tc_url(), "rtmps://live-api-s.facebook.com:443/rtmp");
        assert_eq!(
            fb.redacted().to_string(),
            "rtmps://live-api-s.facebook.com:443/rtmp/****"
        );

        let tw = parse("rtmp://live.twitch.tv/app/live_123");
        assert_eq!((tw.app(), tw.key()), ("app", "live_123"));

        let s = parse("rtmps://example.com/a/b/key");
        assert_eq!((s.port(), s.app(), s.key()), (443, "a/b", "key"));
    }

    #[test]
    fn ports_and_hosts() {
        assert_eq!(parse("rtmp://h:80/live/k").port(), 80);
        assert_eq!(parse("rtmp://h:80/live/k").tc_url(), "rtmp://h:80/live");
        assert_eq!(parse("RTMP://127.0.0.1:19350/live/k").port(), 19350);
        let v6 = parse("rtmp://[::1]:1936/live/k");
        assert_eq!((v6.host(), v6.port()), ("::1", 1936));
        assert_eq!(v6.tc_url(), "rtmp://[::1]:1936/live");
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |s: &str| RtmpUrl::parse(s).err();
        assert_eq!(
            err("http://h/live/k"),
            Some(UrlError::Scheme("http".into()))
        );
        assert!(matches!(err("rtmp:/h/live/k"), Some(UrlError::Syntax(_))));
        assert_eq!(err("rtmp://h"), Some(UrlError::MissingApp));
        assert_eq!(err("rtmp://h/"), Some(UrlError::MissingApp));
        assert_eq!(err("rtmp://h/live"), Some(UrlError::MissingKey));
        assert_eq!(err("rtmp://h/live/"), Some(UrlError::MissingKey));
        assert_eq!(err("rtmp://h//k"), Some(UrlError::MissingApp));
        assert_eq!(err("rtmp://h/a//k"), Some(UrlError::EmptySegment));
        assert_eq!(err("rtmp://u:p@h/live/k"), Some(UrlError::Credentials));
        assert!(matches!(
            err("rtmp://h:99999/live/k"),
            Some(UrlError::Syntax(_))
        ));
        assert_eq!(err("rtmp:///live/k"), Some(UrlError::MissingHost));
    }

    #[test]
    fn syntax_errors_do_not_echo_the_key() {
        let e = RtmpUrl::parse("rtmp:/h/live/secret")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| !e.contains("secret")));
    }
}
