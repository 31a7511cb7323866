//! SRT `streamid` parsing.
//!
//! Accepted forms (each with an exact example in the README, «IDs de flujo SRT»):
//! - the SRT access-control syntax `#!::r=KEY,m=publish,u=USER,s=SESSION`
//!   (<https://github.com/Haivision/srt/blob/master/docs/features/access-control.md>), its
//!   items in any order (Haivision's encoders send `#!::u=USER,r=KEY`): keys `r`, `m`, `u`,
//!   `s`, `h`, `t` are standard (`h` is accepted and not kept, `t` must be `stream`), unknown
//!   keys are ignored, `m` must be `publish` or `request` (absent means no mode);
//! - the same syntax percent-encoded, as it arrives when an encoder sends the query value of
//!   an `srt://…?streamid=` URL without decoding it (`%23!::r=KEY,m=publish`, or with `=`
//!   and `,` encoded too: `%23!::r%3DKEY%2Cm%3Dpublish`); decoded once, strictly;
//! - `publish:KEY` and `read:KEY` (mode publish / request);
//! - a plain `KEY` (no mode): what vMix, Larix, Blackmagic and OBS send when the operator
//!   types only the key in their «Stream ID» / «Stream Key» field.
//!
//! Keys are kept exactly as sent: never trimmed, case-folded or decoded outside the
//! percent-encoded access-control form. Anything ambiguous is refused with a typed reason:
//! two values for a key (two resources), an unknown mode or type, another `#!` syntax, a bad
//! percent escape, control characters (raw or decoded).
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
    /// The resource (stream key), never empty, without control characters.
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
    #[error("streamid type t={0:?} is not supported (only stream)")]
    InvalidType(String),
    #[error("streamid item {0:?} is not key=value")]
    MalformedItem(String),
    #[error("streamid key {0:?} appears twice")]
    DuplicateKey(String),
    #[error("streamid starting {0:?} uses a syntax other than #!:: (comma-separated key=value)")]
    UnsupportedSyntax(String),
    #[error(
        "streamid has a bad percent escape at byte {at} (% must be followed by two hex digits)"
    )]
    BadPercentEscape { at: usize },
    #[error("streamid percent-decodes to bytes that are not UTF-8")]
    DecodedNotUtf8,
    #[error("streamid has control character {byte:#04x} at byte {at}{}", if *.decoded { " after percent-decoding" } else { "" })]
    ControlCharacter { byte: u8, at: usize, decoded: bool },
}

const SYNTAX_MARK: &str = "#!";
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
    reject_control(s, false)?;
    let decoded;
    // A key never starts with `%` (no Relevo key has one), so a leading `%` can only be an
    // encoded `#` (`%23`), or one encoded twice (`%2523`), which is refused below.
    let s = if s.starts_with('%') || (s.starts_with(SYNTAX_MARK) && s.contains('%')) {
        decoded = percent_decode(s)?;
        reject_control(&decoded, true)?;
        if !decoded.starts_with(SYNTAX_MARK) {
            return Err(unsupported_syntax(s));
        }
        decoded.as_str()
    } else {
        s
    };
    if s.starts_with(SYNTAX_MARK) {
        let items = s
            .strip_prefix(ACCESS_CONTROL_PREFIX)
            .ok_or_else(|| unsupported_syntax(s))?;
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

/// The first few characters, enough to recognise the syntax in a log line.
fn unsupported_syntax(s: &str) -> StreamIdError {
    StreamIdError::UnsupportedSyntax(s.chars().take(8).collect())
}

/// Control characters (C0 and DEL) have no place in a key and would forge log lines.
fn reject_control(s: &str, decoded: bool) -> Result<(), StreamIdError> {
    match s.bytes().position(|b| b < 0x20 || b == 0x7f) {
        Some(at) => Err(StreamIdError::ControlCharacter {
            byte: s.as_bytes()[at],
            at,
            decoded,
        }),
        None => Ok(()),
    }
}

/// RFC 3986 percent-decoding, once; a `%` without two hex digits is an error, not kept.
fn percent_decode(s: &str) -> Result<String, StreamIdError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(StreamIdError::BadPercentEscape { at: i }),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| StreamIdError::DecodedNotUtf8)
}

fn parse_access_control(items: &str) -> Result<StreamId, StreamIdError> {
    let mut resource = None;
    let mut mode = None;
    let mut user = None;
    let mut session = None;
    let mut kind = None;
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
            "t" => {
                // A file or auth exchange (access-control.md's other types) is not a stream.
                if !value.eq_ignore_ascii_case("stream") {
                    return Err(StreamIdError::InvalidType(value.to_owned()));
                }
                &mut kind
            }
            // h (host) is standard but not used; others are ignored.
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

    fn full(
        resource: &str,
        mode: Option<StreamMode>,
        user: &str,
        session: Option<&str>,
    ) -> StreamId {
        StreamId {
            resource: resource.into(),
            mode,
            user: Some(user.into()),
            session: session.map(Into::into),
        }
    }

    /// Haivision Makito X1 encoder 1.2, «Configuring SRT Access Control»: "Here is an example
    /// following the recommended convention. #!::u=admin,r=ietf_107_srt_overview"
    /// <https://doc.haivision.com/MakitoX1Enc/1.2/configuring-srt-access-control>; the Makito
    /// X4 (decoder 1.6) page adds the mode: "#!::u=admin,r=ietf_107_srt_overview,m=publish"
    /// <https://betadoc.haivision.com/MakitoX4Dec/1.6/configuring-srt-access-control>.
    #[test]
    fn haivision_makito_user_first() {
        let key = "ietf_107_srt_overview";
        assert_eq!(
            parse("#!::u=admin,r=ietf_107_srt_overview"),
            Ok(full(key, None, "admin", None))
        );
        assert_eq!(
            parse("#!::u=admin,r=ietf_107_srt_overview,m=publish"),
            Ok(full(key, Some(StreamMode::Publish), "admin", None))
        );
    }

    /// The Makito example percent-encoded (RFC 3986), as it reaches the listener when the
    /// caller passes an `srt://…?streamid=` query value on undecoded (ffmpeg 5.1 does, so OBS
    /// builds on it do). No Haivision page found shows a percent-encoded string: these are
    /// the page's example encoded, `#` alone and then every reserved character.
    #[test]
    fn haivision_percent_encoded() {
        let want = Ok(full(
            "ietf_107_srt_overview",
            Some(StreamMode::Publish),
            "admin",
            None,
        ));
        assert_eq!(
            parse("%23!::u=admin,r=ietf_107_srt_overview,m=publish"),
            want
        );
        assert_eq!(
            parse("%23%21%3A%3Au%3Dadmin%2Cr%3Dietf_107_srt_overview%2Cm%3Dpublish"),
            want
        );
        assert_eq!(
            parse("#!::u%3Dadmin%2Cr%3Dietf_107_srt_overview%2cm%3dpublish"),
            want
        );
    }

    /// access-control.md's own examples: "#!::u=admin,r=bluesbrothers1_hi" is a stream;
    /// "#!::u=johnny,t=file,m=publish,r=results.csv" is a file transfer, refused.
    #[test]
    fn access_control_spec_examples() {
        assert_eq!(
            parse("#!::u=admin,r=bluesbrothers1_hi"),
            Ok(full("bluesbrothers1_hi", None, "admin", None))
        );
        assert_eq!(
            parse("#!::u=johnny,t=file,m=publish,r=results.csv"),
            Err(StreamIdError::InvalidType("file".into()))
        );
    }

    /// `u=` and `s=` in any order. MediaMTX documents the standard syntax with the mode first:
    /// "srt://localhost:8890?streamid=#!::m=publish,r=mypath,u=myuser,s=mypass&pkt_size=1316"
    /// <https://mediamtx.org/docs/usage/srt-specific-features>.
    #[test]
    fn user_and_session_any_order() {
        let want = Ok(full(
            "mypath",
            Some(StreamMode::Publish),
            "myuser",
            Some("mypass"),
        ));
        for id in [
            "#!::m=publish,r=mypath,u=myuser,s=mypass",
            "#!::s=mypass,u=myuser,r=mypath,m=publish",
            "#!::u=myuser,s=mypass,m=publish,r=mypath",
        ] {
            assert_eq!(parse(id), want, "{id}");
        }
    }

    /// OBS: «Stream with SRT … Enter the SRT URL in the form: srt://IP:port … OBS Studio will
    /// accept options in the syntax: srt://IP:port?option1=value1&option2=value2», the
    /// options being FFmpeg's (<https://obsproject.com/kb/srt-protocol-streaming-guide>), so
    /// the streamid is whatever follows `streamid=`. That page gives no streamid example;
    /// ZLMediaKit's documents this OBS URL: "srt://192.168.1.105:9000?streamid=#!::r=live/test,m=publish"
    /// (<https://github.com/ZLMediaKit/ZLMediaKit/blob/master/srt/srt.md>). The resource is
    /// kept whole (`live/test`, not `test`): keys are exact.
    #[test]
    fn obs_url_streamid() {
        assert_eq!(
            parse("#!::r=live/test,m=publish"),
            Ok(id("live/test", Some(StreamMode::Publish)))
        );
        assert_eq!(
            parse("publish:estudio-a"),
            Ok(id("estudio-a", Some(StreamMode::Publish)))
        );
    }

    /// vMix («Stream ID: Optional Stream ID that may be required by your streaming provider to
    /// uniquely identify the stream», <https://www.vmix.com/help23/SRT.html>), Blackmagic Web
    /// Presenter / ATEM Streaming (the Streaming XML's `<key>`, «The stream key for the
    /// streaming service», with an `srt://srt.my-streaming-service.com:2010` server; manual,
    /// «Blackmagic Streaming XML Format») and Larix Broadcaster send the text the operator
    /// typed. None of those pages gives an example string, and no Softvelum page for Larix
    /// was found: the key alone is the plain form, kept exactly (case, dots, tildes).
    #[test]
    fn free_text_fields_send_the_plain_key() {
        for key in ["Estudio-A", "cam.1~b", "k_EY-9"] {
            assert_eq!(parse(key), Ok(id(key, None)), "{key}");
        }
        // Not trimmed: a trailing space is part of what was sent.
        assert_eq!(parse("key "), Ok(id("key ", None)));
    }

    #[test]
    fn ambiguous_ids_refused() {
        // Two resources, also when one hides behind a percent-encoded comma.
        assert_eq!(
            parse("#!::r=a,m=publish,r=b"),
            Err(StreamIdError::DuplicateKey("r".into()))
        );
        assert_eq!(
            parse("%23!::r=a%2Cr=b"),
            Err(StreamIdError::DuplicateKey("r".into()))
        );
        assert_eq!(
            parse("#!::r=a,u=x,u=y"),
            Err(StreamIdError::DuplicateKey("u".into()))
        );
        assert_eq!(
            parse("#!::r=a,t=stream,t=stream"),
            Err(StreamIdError::DuplicateKey("t".into()))
        );
        assert_eq!(
            parse("#!::r=a,m=bidirectional"),
            Err(StreamIdError::InvalidMode("bidirectional".into()))
        );
        assert_eq!(
            parse("#!::r=a,t=auth"),
            Err(StreamIdError::InvalidType("auth".into()))
        );
        // The nested `#!:{…}` syntax and unknown `#!` syntaxes.
        assert_eq!(
            parse("#!:{r=a}"),
            Err(StreamIdError::UnsupportedSyntax("#!:{r=a}".into()))
        );
        assert_eq!(
            parse("#!x:r=a"),
            Err(StreamIdError::UnsupportedSyntax("#!x:r=a".into()))
        );
    }

    #[test]
    fn percent_encoding_refusals() {
        // Decodes to a control character (a forged log line, a NUL-cut key).
        assert_eq!(
            parse("%23!::r=key%0A,m=publish"),
            Err(StreamIdError::ControlCharacter {
                byte: 0x0a,
                at: 9,
                decoded: true
            })
        );
        assert_eq!(
            parse("#!::r=k%00ey"),
            Err(StreamIdError::ControlCharacter {
                byte: 0,
                at: 7,
                decoded: true
            })
        );
        assert_eq!(
            parse("%23!::r=key%7F"),
            Err(StreamIdError::ControlCharacter {
                byte: 0x7f,
                at: 9,
                decoded: true
            })
        );
        // Bad escapes: truncated, not hex.
        assert_eq!(
            parse("%23!::r=key%2"),
            Err(StreamIdError::BadPercentEscape { at: 11 })
        );
        assert_eq!(
            parse("%23!::r=key%zz"),
            Err(StreamIdError::BadPercentEscape { at: 11 })
        );
        assert_eq!(parse("%23!::r=%FF"), Err(StreamIdError::DecodedNotUtf8));
        // Encoded twice: one decoding gives `%23…`, which is no syntax we know.
        assert_eq!(
            parse("%2523!::r=key"),
            Err(StreamIdError::UnsupportedSyntax("%2523!::".into()))
        );
        // UTF-8 decodes fine (the syntax is UTF-8), and is kept.
        assert_eq!(parse("%23!::r=c%C3%A1mara"), Ok(id("cámara", None)));
    }

    #[test]
    fn raw_control_characters_refused() {
        assert_eq!(
            parse("key\nforged"),
            Err(StreamIdError::ControlCharacter {
                byte: b'\n',
                at: 3,
                decoded: false
            })
        );
        assert_eq!(
            parse("publish:k\0ey"),
            Err(StreamIdError::ControlCharacter {
                byte: 0,
                at: 9,
                decoded: false
            })
        );
        // A plain key is never percent-decoded: `%41` stays three characters.
        assert_eq!(parse("key%41"), Ok(id("key%41", None)));
        assert_eq!(
            parse("%41key"),
            Err(StreamIdError::UnsupportedSyntax("%41key".into()))
        );
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
