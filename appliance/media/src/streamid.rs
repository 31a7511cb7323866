//! SRT `streamid` parsing.
//!
//! Accepted forms:
//! - the SRT access-control syntax `#!::r=KEY,m=publish,u=USER,s=SESSION`
//!   (<https://github.com/Haivision/srt/blob/master/docs/features/access-control.md>):
//!   keys `r`, `m`, `u`, `s`, `h`, `t` are standard (`h` and `t` are accepted and not kept),
//!   unknown keys are ignored, `m` must be `publish` or `request` (absent means no mode);
//! - `publish:KEY` and `read:KEY` (mode publish / request);
//! - a plain `KEY` (no mode).
//!
//! This module does not decide what a missing mode means; the listener does.

use thiserror::Error;

/// Longest streamid SRT carries (`SRT_STREAMID_MAX` in srtcore/srt.h: 512 bytes).
pub const MAX_STREAMID_LEN: usize = 512;

/// Direction the caller asks for (`m=` in the access-control syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    Publish,
    Request,
}

/// A parsed streamid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamId {
    /// The resource (stream key), never empty.
    pub resource: String,
    pub mode: Option<StreamMode>,
    pub user: Option<String>,
    pub session: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamIdError {
    #[error("streamid is empty")]
    Empty,
    #[error("streamid is {0} bytes, the SRT limit is {MAX_STREAMID_LEN}")]
    TooLong(usize),
    #[error("streamid has an empty resource")]
    EmptyResource,
    #[error("streamid in #!:: syntax has no r= (resource) key")]
    MissingResource,
    #[error("streamid mode m={0:?} is not supported (publish or request)")]
    InvalidMode(String),
    #[error("streamid item {0:?} is not key=value")]
    MalformedItem(String),
    #[error("streamid key {0:?} appears twice")]
    DuplicateKey(String),
}

const ACCESS_CONTROL_PREFIX: &str = "#!::";

/// Parses a streamid in any of the accepted forms.
pub fn parse(s: &str) -> Result<StreamId, StreamIdError> {
    if s.len() > MAX_STREAMID_LEN {
        return Err(StreamIdError::TooLong(s.len()));
    }
    // Some encoders pad the streamid with NULs.
    let s = s.trim_end_matches('\0');
    if s.is_empty() {
        return Err(StreamIdError::Empty);
    }
    if let Some(items) = s.strip_prefix(ACCESS_CONTROL_PREFIX) {
        return parse_access_control(items);
    }
    let (mode, resource) = if let Some(key) = s.strip_prefix("publish:") {
        (Some(StreamMode::Publish), key)
    } else if let Some(key) = s.strip_prefix("read:") {
        (Some(StreamMode::Request), key)
    } else {
        (None, s)
    };
    if resource.is_empty() {
        return Err(StreamIdError::EmptyResource);
    }
    Ok(StreamId {
        resource: resource.to_owned(),
        mode,
        user: None,
        session: None,
    })
}

fn parse_access_control(items: &str) -> Result<StreamId, StreamIdError> {
    let mut resource = None;
    let mut mode = None;
    let mut user = None;
    let mut session = None;
    for item in items.split(',').filter(|i| !i.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| StreamIdError::MalformedItem(item.to_owned()))?;
        let slot = match key {
            "r" => &mut resource,
            "u" => &mut user,
            "s" => &mut session,
            "m" => {
                if mode.is_some() {
                    return Err(StreamIdError::DuplicateKey(key.to_owned()));
                }
                mode = Some(parse_mode(value)?);
                continue;
            }
            // h (host) and t (type) are standard but not used; others are ignored.
            _ => continue,
        };
        if slot.is_some() {
            return Err(StreamIdError::DuplicateKey(key.to_owned()));
        }
        *slot = Some(value.to_owned());
    }
    let resource = resource.ok_or(StreamIdError::MissingResource)?;
    if resource.is_empty() {
        return Err(StreamIdError::EmptyResource);
    }
    Ok(StreamId {
        resource,
        mode,
        user,
        session,
    })
}

fn parse_mode(value: &str) -> Result<StreamMode, StreamIdError> {
    if value.eq_ignore_ascii_case("publish") {
        Ok(StreamMode::Publish)
    } else if value.eq_ignore_ascii_case("request") {
        Ok(StreamMode::Request)
    } else {
        Err(StreamIdError::InvalidMode(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(resource: &str, mode: Option<StreamMode>) -> StreamId {
        StreamId {
            resource: resource.into(),
            mode,
            user: None,
            session: None,
        }
    }

    #[test]
    fn access_control_full() {
        assert_eq!(
            parse("#!::r=live/key1,m=publish,u=alice,s=abc123,h=example.com,t=stream,x=y"),
            Ok(StreamId {
                resource: "live/key1".into(),
                mode: Some(StreamMode::Publish),
                user: Some("alice".into()),
                session: Some("abc123".into()),
            })
        );
    }

    #[test]
    fn access_control_request_and_no_mode() {
        assert_eq!(
            parse("#!::m=request,r=k"),
            Ok(id("k", Some(StreamMode::Request)))
        );
        assert_eq!(parse("#!::r=k"), Ok(id("k", None)));
        // Values may contain '=' and ':'.
        assert_eq!(parse("#!::r=a=b:c"), Ok(id("a=b:c", None)));
    }

    #[test]
    fn access_control_errors() {
        assert_eq!(
            parse("#!::r=k,m=bidirectional"),
            Err(StreamIdError::InvalidMode("bidirectional".into()))
        );
        assert_eq!(parse("#!::m=publish"), Err(StreamIdError::MissingResource));
        assert_eq!(parse("#!::r="), Err(StreamIdError::EmptyResource));
        assert_eq!(
            parse("#!::r=k,junk"),
            Err(StreamIdError::MalformedItem("junk".into()))
        );
        assert_eq!(
            parse("#!::r=a,r=b"),
            Err(StreamIdError::DuplicateKey("r".into()))
        );
        assert_eq!(
            parse("#!::r=a,m=publish,m=request"),
            Err(StreamIdError::DuplicateKey("m".into()))
        );
    }

    #[test]
    fn prefixed_forms() {
        assert_eq!(
            parse("publish:key1"),
            Ok(id("key1", Some(StreamMode::Publish)))
        );
        assert_eq!(
            parse("read:key1"),
            Ok(id("key1", Some(StreamMode::Request)))
        );
        assert_eq!(parse("publish:"), Err(StreamIdError::EmptyResource));
        assert_eq!(parse("read:"), Err(StreamIdError::EmptyResource));
    }

    #[test]
    fn plain_key() {
        assert_eq!(parse("abc-123"), Ok(id("abc-123", None)));
        assert_eq!(parse("other:thing"), Ok(id("other:thing", None)));
        assert_eq!(parse("key\0\0"), Ok(id("key", None)));
    }

    #[test]
    fn empty_and_length_limit() {
        assert_eq!(parse(""), Err(StreamIdError::Empty));
        assert_eq!(parse("\0"), Err(StreamIdError::Empty));
        let at_limit = "k".repeat(MAX_STREAMID_LEN);
        assert_eq!(parse(&at_limit), Ok(id(&at_limit, None)));
        let over = "k".repeat(MAX_STREAMID_LEN + 1);
        assert_eq!(
            parse(&over),
            Err(StreamIdError::TooLong(MAX_STREAMID_LEN + 1))
        );
    }
}
