//! Codec names and codec pre-flight problems in the panel's words (issue #18): the input's
//! codecs as «H.264 · AAC», and each [`CompatProblem`] of an output as a sentence that says
//! what the destination refuses and what to change on the encoder, built from its `code`,
//! `found` and `accepted` (the engine's English `message` is kept for the tooltip and for a
//! code the panel has no words for). `panel.js` builds the same sentences from the live
//! snapshot with the same words (`compat.*`, `codec.*`).

use relevo_engine::metrics::{CompatProblem, CompatSeverity, StreamCodecs};

use super::i18n::Words;

/// A codec's name as people write it (`h264` → «H.264»); an unknown name as it came.
pub fn codec_name(name: &str, words: &Words) -> String {
    words
        .find(&format!("codec.{name}"))
        .map_or_else(|| name.to_ascii_uppercase(), str::to_owned)
}

/// The input's codecs, «H.264 · AAC»; «sin audio» / «sin vídeo» for a missing track.
pub fn codecs_line(codecs: &StreamCodecs, words: &Words) -> String {
    let video = codecs.video.as_deref().map_or_else(
        || words.get("codec.no_video").to_owned(),
        |v| codec_name(v, words),
    );
    let audio = codecs.audio.as_deref().map_or_else(
        || words.get("codec.no_audio").to_owned(),
        |a| codec_name(a, words),
    );
    format!("{video} · {audio}")
}

/// One problem of an output, as its row shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatLine {
    /// `error` or `warning` (the CSS class).
    pub severity: &'static str,
    pub text: String,
    /// The engine's English message (the tooltip).
    pub message: String,
}

/// `problem` in the page's words.
pub fn compat_line(problem: &CompatProblem, words: &Words) -> CompatLine {
    let severity = match problem.severity {
        CompatSeverity::Error => "error",
        CompatSeverity::Warning => "warning",
    };
    let names: Vec<String> = problem
        .accepted
        .iter()
        .map(|c| codec_name(c, words))
        .collect();
    let accepted = match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {} {last}", rest.join(", "), words.get("format.or")),
    };
    let first = names.first().cloned().unwrap_or_default();
    let text = match words.find(&format!("compat.{}", problem.code)) {
        Some(t) => t
            .replace("{found}", &codec_name(&problem.found, words))
            .replace("{accepted}", &accepted)
            .replace("{first}", &first),
        None => format!("{}: {}", words.get("compat.other"), problem.message),
    };
    CompatLine {
        severity,
        text,
        message: problem.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panel::i18n::Lang;

    fn problem(code: &'static str, found: &str, accepted: Vec<&'static str>) -> CompatProblem {
        CompatProblem {
            severity: CompatSeverity::Error,
            code,
            track: "video",
            found: found.into(),
            accepted,
            message: "the English message".into(),
        }
    }

    #[test]
    fn problems_say_what_to_change_on_the_encoder() {
        let es = Lang::Es.words();
        let line = compat_line(&problem("h265_needs_enhanced", "h265", vec!["h264"]), es);
        assert_eq!(
            line.text,
            "El destino no acepta vídeo H.265 por RTMP clásico: active Enhanced RTMP en la \
             salida o configure el codificador en H.264."
        );
        assert_eq!(line.severity, "error");
        let line = compat_line(
            &problem("audio_codec", "opus", vec!["aac", "mp3", "ac3"]),
            es,
        );
        assert_eq!(
            line.text,
            "El destino no acepta audio Opus (admite AAC, MP3 o AC-3): configure el audio del \
             codificador en AAC."
        );
        let en = Lang::En.words();
        let line = compat_line(&problem("video_codec", "vp9", vec!["h264", "h265"]), en);
        assert_eq!(
            line.text,
            "The destination does not accept VP9 video (it takes H.264 or H.265): set the \
             encoder's video to H.264."
        );
        let mut warn = problem("no_audio", "none", vec!["aac"]);
        warn.severity = CompatSeverity::Warning;
        let line = compat_line(&warn, es);
        assert_eq!(line.severity, "warning");
        assert!(line.text.contains("Añada audio AAC"), "{}", line.text);
        let line = compat_line(&problem("something_new", "x", vec![]), es);
        assert_eq!(
            line.text,
            "Incompatibilidad con el destino: the English message"
        );
    }

    #[test]
    fn codecs_read_as_people_write_them() {
        let es = Lang::Es.words();
        let c = |v: Option<&str>, a: Option<&str>| StreamCodecs {
            video: v.map(Into::into),
            audio: a.map(Into::into),
        };
        assert_eq!(
            codecs_line(&c(Some("h264"), Some("aac")), es),
            "H.264 · AAC"
        );
        assert_eq!(codecs_line(&c(Some("h265"), None), es), "H.265 · sin audio");
        assert_eq!(codecs_line(&c(None, Some("ac3")), es), "sin vídeo · AC-3");
    }
}
