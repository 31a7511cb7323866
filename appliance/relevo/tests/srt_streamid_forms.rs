//! Encoder stream id forms (#18) against a running Relevo: ffmpeg publishes by SRT with the
//! exact stream ids encoders' documentation gives, and each input goes live; ambiguous ids
//! are refused with the reason in the log. The parser's own tests (`relevo_media::streamid`)
//! cover every form; these prove the forms survive a real libsrt caller and listener.
//!
//! ffmpeg 5.1 hands the `streamid=` query value to libsrt as written, without decoding
//! (see `common::urlencode`), so a percent-encoded value in the URL reaches Relevo encoded,
//! as it does from callers that pass a pasted URL on undecoded; the `%0A` case below shows it
//! (its refusal says "after percent-decoding").
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

const SECS: u32 = 3;

fn input_state(relevo: &Relevo, name: &str) -> String {
    let st = relevo.status();
    st["inputs"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .map(|i| i["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn srt_publish_url(relevo: &Relevo, streamid: &str) -> String {
    format!("srt://127.0.0.1:{}?streamid={streamid}", relevo.srt)
}

/// Publishes with `streamid` (as written in the URL) and waits until `input` is live.
fn goes_live(relevo: &Relevo, dir: &TempDir, input: &str, streamid: &str) {
    let log = dir.path(&format!("{input}.log"));
    let publisher = publish(
        input,
        SECS,
        "mpegts",
        &srt_publish_url(relevo, streamid),
        &log,
    );
    wait_until(
        &format!("input {input} live with streamid {streamid:?}"),
        Duration::from_secs(30),
        || input_state(relevo, input) == "live",
    );
    let st = publisher.wait(Duration::from_secs(SECS as u64 + 30));
    assert!(
        st.success(),
        "publisher {streamid:?}: {st}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn encoder_streamid_forms_go_live() {
    let dir = TempDir::new("sid-forms");
    // Keys are the documentation's own resource names.
    let flows = [
        input_toml("makito", "ietf_107_srt_overview"),
        input_toml("makito-enc", "bluesbrothers1_hi"),
        input_toml("mediamtx", "mypath"),
        input_toml("plain", "Estudio-A.1"),
    ];
    let relevo = Relevo::start("sid-forms", "", &flows.concat());

    // Haivision Makito X4 (decoder 1.6), «Configuring SRT Access Control»: "Here is an
    // example following the recommended convention: #!::u=admin,r=ietf_107_srt_overview,m=publish"
    // <https://betadoc.haivision.com/MakitoX4Dec/1.6/configuring-srt-access-control>; the
    // user comes before the resource. Sent with `#` percent-encoded, as it must be in a URL.
    goes_live(
        &relevo,
        &dir,
        "makito",
        "%23!::u=admin,r=ietf_107_srt_overview,m=publish",
    );
    // access-control.md's "#!::u=admin,r=bluesbrothers1_hi"
    // <https://github.com/Haivision/srt/blob/master/docs/features/access-control.md>, every
    // reserved character percent-encoded (no Haivision page shows this string: it is the
    // example encoded by RFC 3986), plus m=publish.
    goes_live(
        &relevo,
        &dir,
        "makito-enc",
        "%23%21%3A%3Au%3Dadmin%2Cr%3Dbluesbrothers1_hi%2Cm%3Dpublish",
    );
    // u= and s= after the resource and the mode first, as MediaMTX documents the standard
    // syntax: "srt://localhost:8890?streamid=#!::m=publish,r=mypath,u=myuser,s=mypass&pkt_size=1316"
    // <https://mediamtx.org/docs/usage/srt-specific-features>.
    goes_live(
        &relevo,
        &dir,
        "mediamtx",
        "#!::m=publish,r=mypath,u=myuser,s=mypass",
    );
    // vMix («Stream ID: Optional Stream ID that may be required by your streaming provider»,
    // <https://www.vmix.com/help23/SRT.html>), Blackmagic (the Streaming XML's `<key>`) and
    // Larix send the text typed in their field; no page of theirs gives an example string.
    // The key alone, exact (case, dot).
    goes_live(&relevo, &dir, "plain", "Estudio-A.1");

    // Ambiguous: two resources. Refused before any media, with the reason logged.
    let two = publish(
        "two-resources",
        SECS,
        "mpegts",
        &srt_publish_url(&relevo, "#!::r=mypath,m=publish,r=ietf_107_srt_overview"),
        &dir.path("two.log"),
    );
    assert!(!two.wait(Duration::from_secs(30)).success());
    relevo.wait_log(
        "SRT caller rejected: bad streamid: streamid key \"r\" appears twice",
        1,
    );
    // A percent escape that decodes to a line feed: refused, and the log line stays one line.
    let lf = publish(
        "control",
        SECS,
        "mpegts",
        &srt_publish_url(&relevo, "%23!::r=mypath%0A,m=publish"),
        &dir.path("lf.log"),
    );
    assert!(!lf.wait(Duration::from_secs(30)).success());
    relevo.wait_log(
        "bad streamid: streamid has control character 0x0a at byte 12 after percent-decoding",
        1,
    );
    // Only the four good callers were accepted.
    assert_eq!(relevo.log_count("SRT publisher connected"), 4);
}
