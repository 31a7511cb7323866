use relevo_engine::spec::{Platform, SegmentDuration};

use super::*;

/// Destination presets: the platforms operators send to most. Each sets the kind and the
/// server URL; the stream key is the operator's.
pub const PRESETS: &[(&str, &str, &str)] = &[
    ("youtube", "push_rtmp", "rtmp://a.rtmp.youtube.com/live2"),
    (
        "youtube_rtmps",
        "push_rtmp",
        "rtmps://a.rtmps.youtube.com:443/live2",
    ),
    ("twitch", "push_rtmp", "rtmp://live.twitch.tv/app"),
    (
        "facebook",
        "push_rtmp",
        "rtmps://live-api-s.facebook.com:443/rtmp",
    ),
    ("rtmp", "push_rtmp", ""),
    ("rtmps", "push_rtmp", ""),
    ("srt", "push_srt", ""),
    ("pull_srt", "pull_srt", ""),
    ("pull_rtmp", "pull_rtmp", ""),
    ("pull_hls", "pull_hls", ""),
    ("record", "record", ""),
];

/// The platform a preset stands for: its ingest rules are the codec pre-flight's
/// (`relevo_engine::preflight`), whatever server the operator writes beside it.
fn preset_platform(preset: &str) -> Option<Platform> {
    match preset {
        "youtube" | "youtube_rtmps" => Some(Platform::YouTube),
        "twitch" => Some(Platform::Twitch),
        "facebook" => Some(Platform::Facebook),
        _ => None,
    }
}

/// The preset a stored platform is shown with (YouTube's by the URL's scheme).
fn platform_preset(platform: &str, url: &str) -> Option<&'static str> {
    let preset = match Platform::parse(platform).ok()? {
        Platform::YouTube if url.starts_with("rtmps") => "youtube_rtmps",
        Platform::YouTube => "youtube",
        Platform::Twitch => "twitch",
        Platform::Facebook => "facebook",
    };
    Some(preset)
}

/// The output form's fields, as text.
#[derive(Debug, Default, Deserialize)]
pub struct OutputForm {
    #[serde(default)]
    pub name: String,
    /// `push_rtmp`, `push_srt`, `pull_rtmp`, `pull_srt`, `pull_hls` or `record`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub preset: String,
    /// Push RTMP(S): the server URL and the stream key, joined into the push URL.
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub stream_key: String,
    /// Push SRT: `srt://host:port`.
    #[serde(default)]
    pub srt_url: String,
    #[serde(default)]
    pub stream_id: String,
    /// Pull outputs: the readers' key.
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub passphrase: String,
    #[serde(default)]
    pub key_length: String,
    #[serde(default)]
    pub latency_ms: String,
    #[serde(default)]
    pub enhanced_rtmp: Option<String>,
    /// Record: `mp4` or `ts`.
    #[serde(default)]
    pub record_format: String,
    /// Record: how long one file lasts, in minutes (the document's `segment_s`).
    #[serde(default)]
    pub segment_min: String,
    #[serde(default)]
    pub keep_days: String,
    #[serde(default)]
    pub keep_gib: String,
    #[serde(default)]
    pub keep_files: String,
    #[serde(default)]
    pub enabled: Option<String>,
}

/// The output form's inputs, where a refusal can be shown. The API's `push` is the server
/// (RTMP) or SRT URL field, its `pull` the destination type.
const OUTPUT_FIELDS: &[&str] = &[
    "name",
    "kind",
    "server",
    "stream_key",
    "srt_url",
    "stream_id",
    "key",
    "passphrase",
    "key_length",
    "latency_ms",
    "enhanced_rtmp",
    "record_format",
    "segment_min",
    "keep_days",
    "keep_gib",
    "keep_files",
];

impl OutputForm {
    fn blank() -> Self {
        OutputForm {
            kind: "push_rtmp".into(),
            preset: "youtube".into(),
            server: PRESETS[0].2.into(),
            key: new_key(),
            latency_ms: "200".into(),
            record_format: "mp4".into(),
            segment_min: record::minutes(SegmentDuration::DEFAULT.duration().as_secs()),
            enabled: Some("on".into()),
            ..Default::default()
        }
    }

    fn of(doc: &OutputDoc) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut f = OutputForm {
            name: doc.name.clone(),
            key: s(&doc.key),
            passphrase: s(&doc.passphrase),
            key_length: doc.key_length.map(|k| k.to_string()).unwrap_or_default(),
            latency_ms: doc.latency_ms.unwrap_or(200).to_string(),
            stream_id: s(&doc.stream_id),
            enhanced_rtmp: doc.enhanced_rtmp.filter(|e| *e).map(|_| "on".into()),
            enabled: doc.enabled.then(|| "on".into()),
            // Ready if the operator turns this output into a recording.
            record_format: "mp4".into(),
            segment_min: record::minutes(SegmentDuration::DEFAULT.duration().as_secs()),
            ..Default::default()
        };
        if let Some(format) = &doc.record {
            f.kind = "record".into();
            f.preset = "record".into();
            f.record_format = format.clone();
            if let Some(s) = doc.segment_s {
                f.segment_min = record::minutes(s);
            }
            f.keep_days = doc.keep_days.map(|d| d.to_string()).unwrap_or_default();
            f.keep_gib = doc.keep_gib.map(|g| g.to_string()).unwrap_or_default();
            f.keep_files = doc.keep_files.map(|n| n.to_string()).unwrap_or_default();
            return f;
        }
        match (&doc.push, doc.pull.as_deref()) {
            (Some(url), _) if url.starts_with("srt://") => {
                f.kind = "push_srt".into();
                f.preset = "srt".into();
                f.srt_url = url.clone();
            }
            (Some(url), _) => {
                f.kind = "push_rtmp".into();
                let (server, key) = url.rsplit_once('/').unwrap_or((url, ""));
                f.server = server.to_owned();
                f.stream_key = key.to_owned();
                let by_server = PRESETS
                    .iter()
                    .find(|p| !p.2.is_empty() && p.2 == server)
                    .map(|p| p.0);
                let by_platform = doc
                    .platform
                    .as_deref()
                    .and_then(|p| platform_preset(p, url));
                let generic = if url.starts_with("rtmps") {
                    "rtmps"
                } else {
                    "rtmp"
                };
                // A platform's preset only where the platform is set: a YouTube server
                // stored without it (from before presets stored one) still shows its
                // preset by the server.
                f.preset = by_platform.or(by_server).unwrap_or(generic).into();
            }
            (None, Some("srt")) => {
                f.kind = "pull_srt".into();
                f.preset = "pull_srt".into();
            }
            (None, Some("hls")) => {
                f.kind = "pull_hls".into();
                f.preset = "pull_hls".into();
            }
            _ => {
                f.kind = "pull_rtmp".into();
                f.preset = "pull_rtmp".into();
            }
        }
        f
    }

    /// The document the API takes; fields of other kinds are left out.
    fn doc(&self) -> Result<OutputDoc, ApiError> {
        let mut server = opt(&self.server).unwrap_or_default();
        if server.is_empty() {
            if let Some(p) = PRESETS.iter().find(|p| p.0 == self.preset) {
                server = p.2.to_owned();
            }
        }
        let srt = matches!(self.kind.as_str(), "push_srt" | "pull_srt");
        let has_passphrase = srt && opt(&self.passphrase).is_some();
        let mut doc = OutputDoc {
            name: self.name.trim().to_owned(),
            enabled: self.enabled.is_some(),
            push: None,
            pull: None,
            key: None,
            passphrase: if has_passphrase {
                opt(&self.passphrase)
            } else {
                None
            },
            key_length: if has_passphrase {
                number("key_length", &self.key_length)?
            } else {
                None
            },
            latency_ms: if srt {
                number("latency_ms", &self.latency_ms)?
            } else {
                None
            },
            stream_id: None,
            enhanced_rtmp: None,
            platform: None,
            record: None,
            segment_s: None,
            keep_days: None,
            keep_gib: None,
            keep_files: None,
        };
        match self.kind.as_str() {
            "push_rtmp" => {
                let key = self.stream_key.trim();
                if server.is_empty() {
                    return Err(ApiError::invalid("server", "missing server URL"));
                }
                if key.is_empty() {
                    return Err(ApiError::invalid("stream_key", "missing stream key"));
                }
                doc.push = Some(format!("{}/{key}", server.trim_end_matches('/')));
                doc.enhanced_rtmp = self.enhanced_rtmp.as_ref().map(|_| true);
                doc.platform = preset_platform(&self.preset).map(|p| p.as_str().to_owned());
            }
            "push_srt" => {
                doc.push = Some(self.srt_url.trim().to_owned());
                doc.stream_id = opt(&self.stream_id);
            }
            "pull_srt" | "pull_rtmp" | "pull_hls" => {
                doc.pull = Some(self.kind[5..].to_owned());
                doc.key = Some(self.key.trim().to_owned());
            }
            "record" => {
                doc.record = Some(self.record_format.trim().to_owned());
                doc.segment_s = record::segment_s(&self.segment_min)?;
                doc.keep_days = number("keep_days", &self.keep_days)?;
                doc.keep_gib = number("keep_gib", &self.keep_gib)?;
                doc.keep_files = number("keep_files", &self.keep_files)?;
            }
            other => {
                return Err(ApiError::invalid(
                    "kind",
                    format!("{other:?} is not a kind"),
                ))
            }
        }
        Ok(doc)
    }
}

#[derive(Template)]
#[template(path = "output_form.html")]
struct OutputFormPage {
    page: Page,
    /// The input it belongs to.
    input_id: i64,
    input_name: String,
    /// `None` for a new output.
    id: Option<i64>,
    form: OutputForm,
    errors: FormErrors,
    /// The live SRT link's round trip, to advise on latency (editing a live output only).
    rtt_ms: Option<f64>,
    presets: &'static [(&'static str, &'static str, &'static str)],
}

impl OutputFormPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.on("output", 0, field)
    }

    fn above(&self) -> Option<&str> {
        self.errors.above("output", 0)
    }

    fn rtt_advice(&self) -> Option<String> {
        rtt_advice(&self.page, self.rtt_ms)
    }
}

async fn output_form(
    s: &ApiState,
    session: &Session,
    input_id: i64,
    id: Option<i64>,
    form: OutputForm,
    e: Option<ApiError>,
) -> PanelResult<Response> {
    let Json(input) = api::get_input(State(s.clone()), reader(session), Path(input_id)).await?;
    let page = Page::new(s, session, "dashboard").await?;
    let status = e.as_ref().map_or(StatusCode::OK, |e| e.status);
    let errors = e.map_or_else(FormErrors::default, |mut e| {
        let text = page.error_text(&e);
        e.field = e.field.map(|f| match f.as_str() {
            "push" if form.kind == "push_srt" => "srt_url".to_owned(),
            "push" => "server".to_owned(),
            "pull" => "kind".to_owned(),
            "record" => "record_format".to_owned(),
            "segment_s" => "segment_min".to_owned(),
            _ => f,
        });
        FormErrors::new("output", 0, OUTPUT_FIELDS, &e, text)
    });
    let rtt_ms = id.and_then(|_| live_rtt(s, &input.doc.name, Some(&form.name)));
    Ok(render_status(
        status,
        &OutputFormPage {
            page,
            input_id,
            input_name: input.doc.name,
            id,
            form,
            errors,
            rtt_ms,
            presets: PRESETS,
        },
    ))
}

pub async fn new_output(
    State(s): State<ApiState>,
    session: Session,
    Path(input_id): Path<i64>,
) -> PanelResult<Response> {
    operator(&session)?;
    output_form(&s, &session, input_id, None, OutputForm::blank(), None).await
}

pub async fn create_output(
    State(s): State<ApiState>,
    session: Session,
    Path(input_id): Path<i64>,
    Form(form): Form<OutputForm>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let result = match form.doc() {
        Ok(doc) => api::create_output(State(s.clone()), can, Path(input_id), Body(doc)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(done(&format!("/inputs/{input_id}"), "created")),
        Err(e) => output_form(&s, &session, input_id, None, form, Some(e)).await,
    }
}

pub async fn edit_output(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
) -> PanelResult<Response> {
    operator(&session)?;
    let Json(view) = api::get_output(State(s.clone()), reader(&session), Path(id)).await?;
    let input_id = view
        .input_id
        .ok_or_else(|| PanelError::Redirect("/".into()))?;
    output_form(
        &s,
        &session,
        input_id,
        Some(id),
        OutputForm::of(&view.doc),
        None,
    )
    .await
}

pub async fn update_output(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<OutputForm>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let Json(current) = api::get_output(State(s.clone()), reader(&session), Path(id)).await?;
    let input_id = current.input_id.unwrap_or(0);
    let result = match form.doc() {
        Ok(doc) => api::update_output(State(s.clone()), can, Path(id), Body(doc)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(done(&format!("/inputs/{input_id}"), "saved")),
        Err(e) => output_form(&s, &session, input_id, Some(id), form, Some(e)).await,
    }
}

pub async fn delete_output(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let Json(current) = api::get_output(State(s.clone()), reader(&session), Path(id)).await?;
    api::delete_output(State(s), can, Path(id)).await?;
    Ok(done(
        &format!("/inputs/{}", current.input_id.unwrap_or(0)),
        "deleted",
    ))
}

pub async fn switch_output<const ON: bool>(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let Json(o) = api::switch_output::<ON>(State(s), can, Path(id)).await?;
    let fallback = format!("/inputs/{}", o.input_id.unwrap_or(0));
    Ok(done(
        &back(&headers, &fallback),
        if ON { "started" } else { "stopped" },
    ))
}

/// `POST /outputs/{id}/new-key`: a new key for the readers of a pull output.
pub async fn new_output_key(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let Json(view) = api::get_output(State(s.clone()), reader(&session), Path(id)).await?;
    let mut doc = view.doc;
    if doc.pull.is_none() {
        return Err(ApiError::invalid("key", "a push output carries its key in its URL").into());
    }
    doc.key = Some(new_key());
    let _ = api::update_output(State(s), can, Path(id), Body(doc)).await?;
    Ok(done(
        &format!("/inputs/{}", view.input_id.unwrap_or(0)),
        "saved",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use relevo_engine::spec::OutputKind;

    #[test]
    fn push_rtmp_form_joins_server_and_key() {
        let f = OutputForm {
            name: "yt".into(),
            kind: "push_rtmp".into(),
            preset: "youtube".into(),
            stream_key: "abcd-1234".into(),
            passphrase: "ignored because RTMP".into(),
            enabled: Some("on".into()),
            ..Default::default()
        };
        let doc = f.doc().expect("a valid form");
        assert_eq!(
            doc.push.as_deref(),
            Some("rtmp://a.rtmp.youtube.com/live2/abcd-1234")
        );
        assert_eq!(doc.passphrase, None);
        assert_eq!(doc.platform.as_deref(), Some("youtube"));
        let spec = doc.to_spec().expect("a valid output");
        assert!(matches!(
            spec.kind,
            OutputKind::PushRtmp {
                platform: Some(Platform::YouTube),
                ..
            }
        ));
        // And back: the form of that document shows the same preset, server and key.
        let back = OutputForm::of(&doc);
        assert_eq!(
            (back.preset.as_str(), back.stream_key.as_str()),
            ("youtube", "abcd-1234")
        );
    }

    #[test]
    fn platform_presets_store_their_platform_whatever_the_server() {
        for (preset, platform) in [
            ("youtube", Some("youtube")),
            ("youtube_rtmps", Some("youtube")),
            ("twitch", Some("twitch")),
            ("facebook", Some("facebook")),
            ("rtmp", None),
            ("rtmps", None),
        ] {
            // A server of the operator's own (a test sink, a regional ingest).
            let server = if preset.ends_with("rtmps") || preset == "facebook" {
                "rtmps://127.0.0.1:4443/app"
            } else {
                "rtmp://127.0.0.1:1935/app"
            };
            let f = OutputForm {
                name: "o".into(),
                kind: "push_rtmp".into(),
                preset: preset.into(),
                server: server.into(),
                stream_key: "k".into(),
                enabled: Some("on".into()),
                ..Default::default()
            };
            let doc = f.doc().expect("a valid form");
            assert_eq!(doc.platform.as_deref(), platform, "{preset}");
            doc.to_spec().expect("a valid output");
            // The stored output's form shows that preset again, with its server.
            let back = OutputForm::of(&doc);
            assert_eq!(
                (back.preset.as_str(), back.server.as_str()),
                (preset, server),
                "{preset}"
            );
        }
        // An output stored without a platform on a platform's server keeps that preset.
        let old = OutputDoc::from_spec(
            &output_doc_of("rtmp://live.twitch.tv/app/k")
                .to_spec()
                .expect("valid"),
        );
        assert_eq!(OutputForm::of(&old).preset, "twitch");
    }

    fn output_doc_of(push: &str) -> OutputDoc {
        serde_json::from_value(serde_json::json!({"name": "o", "push": push})).expect("a document")
    }

    #[test]
    fn record_form_gives_the_record_document_and_back() {
        let f = OutputForm {
            name: "archivo".into(),
            kind: "record".into(),
            preset: "record".into(),
            record_format: "ts".into(),
            segment_min: "1,5".into(),
            keep_days: "30".into(),
            keep_gib: String::new(),
            keep_files: "48".into(),
            // Left over from another kind in the same form: not sent.
            key: "readers-key".into(),
            latency_ms: "200".into(),
            server: "rtmp://a.rtmp.youtube.com/live2".into(),
            enabled: Some("on".into()),
            ..Default::default()
        };
        let doc = f.doc().expect("a valid form");
        assert_eq!(
            (
                doc.record.as_deref(),
                doc.segment_s,
                doc.keep_days,
                doc.keep_gib,
                doc.keep_files
            ),
            (Some("ts"), Some(90), Some(30), None, Some(48))
        );
        assert_eq!(
            (&doc.push, &doc.pull, &doc.key, doc.latency_ms),
            (&None, &None, &None, None)
        );
        doc.to_spec().expect("a valid output");
        let back = OutputForm::of(&doc);
        assert_eq!(
            (
                back.kind.as_str(),
                back.preset.as_str(),
                back.record_format.as_str(),
                back.segment_min.as_str(),
                back.keep_days.as_str(),
                back.keep_gib.as_str(),
                back.keep_files.as_str()
            ),
            ("record", "record", "ts", "1.5", "30", "", "48")
        );
        // An empty duration is the default; a duration out of range is the document's to
        // refuse, under the document's field name.
        let blank = OutputForm {
            name: "r".into(),
            kind: "record".into(),
            record_format: "mp4".into(),
            ..Default::default()
        };
        assert_eq!(blank.doc().expect("valid").segment_s, None);
        let short = OutputForm {
            segment_min: "0.1".into(),
            ..blank
        };
        let e = short.doc().expect("a form").to_spec().expect_err("6 s");
        assert_eq!(e.field, "segment_s");
    }

    #[test]
    fn hls_form_gives_the_hls_document_and_back() {
        let f = OutputForm {
            name: "web".into(),
            kind: "pull_hls".into(),
            preset: "pull_hls".into(),
            key: " web-player-key ".into(),
            // Left over from SRT in the same form: not sent.
            passphrase: "a passphrase of SRT".into(),
            latency_ms: "200".into(),
            enabled: Some("on".into()),
            ..Default::default()
        };
        let doc = f.doc().expect("a valid form");
        assert_eq!(
            (doc.pull.as_deref(), doc.key.as_deref()),
            (Some("hls"), Some("web-player-key"))
        );
        assert_eq!((&doc.passphrase, doc.latency_ms), (&None, None));
        let spec = doc.to_spec().expect("a valid output");
        assert!(matches!(spec.kind, OutputKind::PullHls { .. }));
        let back = OutputForm::of(&doc);
        assert_eq!(
            (back.kind.as_str(), back.preset.as_str(), back.key.as_str()),
            ("pull_hls", "pull_hls", "web-player-key")
        );
        // An empty key is the document's to refuse, on the key field the form shows.
        let keyless = OutputForm {
            key: String::new(),
            ..f
        };
        let e = keyless
            .doc()
            .expect("a form")
            .to_spec()
            .expect_err("no key");
        assert_eq!(e.field, "key");
        assert!(OUTPUT_FIELDS.contains(&"key"));
        assert!(PRESETS
            .iter()
            .any(|p| p.0 == "pull_hls" && p.1 == "pull_hls"));
    }

    #[test]
    fn missing_key_names_the_field() {
        let f = OutputForm {
            kind: "push_rtmp".into(),
            preset: "twitch".into(),
            ..Default::default()
        };
        assert_eq!(
            f.doc().expect_err("a refused form").field.as_deref(),
            Some("stream_key")
        );
    }
}
