//! The one check for a path the panel redirects to on a visitor's word (the `next` of the
//! sign-in page, the `Referer` of a language switch): it must stay on this site.
//!
//! A browser reading `Location` skips tabs and newlines, turns `\` into `/`, and some
//! servers decode `%2F` before a browser sees it again; `/\t/evil.example` or
//! `/%5Cevil.example` become `//evil.example`, another site. So the rule is narrow: printable
//! ASCII only, a single `/` followed by a character that is not a separator, and, after
//! percent-decoding (repeatedly), no control character, no whitespace, no backslash, no
//! leading `//` and no dot segment. Anything else falls back to `/`.

/// How many rounds of percent-decoding are checked: `%25` hides one more round each time,
/// and a path that still decodes after this many is not one the panel makes.
const MAX_DECODE_ROUNDS: usize = 4;

/// `raw` if it is a path of this site that is safe to redirect to, else `None`.
pub fn safe_local_path(raw: &str) -> Option<&str> {
    // The header value itself: printable ASCII only (no space, tab, CR/LF, Unicode).
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut text = raw.to_owned();
    for _ in 0..MAX_DECODE_ROUNDS {
        if !is_plain_local(&text) {
            return None;
        }
        let decoded = percent_decode(&text)?;
        if decoded == text {
            return Some(raw);
        }
        text = decoded;
    }
    None
}

/// `raw` if safe (see [`safe_local_path`]), else `/`.
pub fn local_or_root(raw: Option<&str>) -> String {
    raw.and_then(safe_local_path).unwrap_or("/").to_owned()
}

/// One form of the path: a single leading `/`, then no separator, and nothing a browser
/// would strip or reinterpret.
fn is_plain_local(p: &str) -> bool {
    let mut chars = p.chars();
    if chars.next() != Some('/') {
        return false;
    }
    if matches!(chars.next(), Some('/' | '\\')) {
        return false;
    }
    if p.chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return false;
    }
    // No `.` or `..` segment in the path part: the panel never makes one, and a browser
    // resolves them before it looks at the result.
    let path = p.split(['?', '#']).next().unwrap_or_default();
    !path.split('/').any(|seg| seg == "." || seg == "..")
}

/// Percent-decoding of one round; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_paths_are_kept() {
        for p in [
            "/",
            "/inputs/3",
            "/inputs/3/edit?ok=saved",
            "/audit?page=2&kind=user",
            "/inputs/caf%C3%A9",
            "/settings#logo",
        ] {
            assert_eq!(safe_local_path(p), Some(p), "{p:?}");
        }
    }

    /// Known open-redirect bypasses: each would lead a browser off-site (or is not a path
    /// of ours at all).
    #[test]
    fn known_bypasses_are_refused() {
        let table = [
            "",
            "//evil.example",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%0d%0a/evil.example",
            "/\r\n/evil.example",
            "%2F%2Fevil.example",
            "/%2F/evil.example",
            "/%2fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%252F%252Fevil.example",
            "/%25252F/evil.example",
            "https://evil.example/",
            "http:evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "/ /evil.example",
            "/%20/evil.example",
            "/\u{a0}/evil.example",
            "/\u{3000}/evil.example",
            "/\u{2028}/evil.example",
            "/%E3%80%80/evil.example",
            "/%C2%A0/evil.example",
            "/.",
            "/..",
            "/./x",
            "/..//evil.example",
            "/%2e%2e//evil.example",
            "/x/../../evil.example",
            "/%",
            "/%zz",
            "/%ff",
            "evil.example",
            " /x",
            "/x\u{0}",
            "/x%00",
            "/x%7f",
        ];
        for p in table {
            assert_eq!(safe_local_path(p), None, "{p:?} must be refused");
            assert_eq!(local_or_root(Some(p)), "/", "{p:?}");
        }
        assert_eq!(local_or_root(None), "/");
    }
}
