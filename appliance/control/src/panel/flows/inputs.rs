use super::*;
use crate::flow_doc::BackupDoc;

/// The input form's fields, as text (what a browser sends).
#[derive(Debug, Default, Deserialize)]
pub struct InputForm {
    #[serde(default)]
    pub name: String,
    /// `listen` (encoders publish to us) or `pull` (we fetch the stream).
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub pull: String,
    #[serde(default)]
    pub passphrase: String,
    #[serde(default)]
    pub key_length: String,
    #[serde(default)]
    pub latency_ms: String,
    #[serde(default)]
    pub stream_id: String,
    #[serde(default)]
    pub grace_period_s: String,
    #[serde(default)]
    pub enabled: Option<String>,
    /// Listening inputs: the input's own SRT port (empty: the shared port, with streamid).
    #[serde(default)]
    pub srt_port: String,
    /// The backup feed: empty (none), `key`, `pull_srt` or `pull_rtmp`.
    #[serde(default)]
    pub backup_mode: String,
    #[serde(default)]
    pub backup_key: String,
    /// `host:port` (or `srt://host:port`) of the SRT sender we call.
    #[serde(default)]
    pub backup_srt: String,
    #[serde(default)]
    pub backup_stream_id: String,
    #[serde(default)]
    pub backup_passphrase: String,
    #[serde(default)]
    pub backup_key_length: String,
    #[serde(default)]
    pub backup_latency_ms: String,
    #[serde(default)]
    pub backup_rtmp: String,
    #[serde(default)]
    pub backup_failover_ms: String,
    #[serde(default)]
    pub backup_revert_s: String,
}

/// What a new backup's delays are set to in the form: the engine's defaults.
const FAILOVER_MS: &str = "2000";
const REVERT_S: &str = "10";

impl InputForm {
    fn blank() -> Self {
        InputForm {
            mode: "listen".into(),
            key: new_key(),
            latency_ms: "200".into(),
            grace_period_s: "10".into(),
            enabled: Some("on".into()),
            // Ready to use if the operator picks a second key: generated like the main one.
            backup_key: new_key(),
            backup_latency_ms: "200".into(),
            backup_failover_ms: FAILOVER_MS.into(),
            backup_revert_s: REVERT_S.into(),
            ..Default::default()
        }
    }

    fn of(doc: &InputDoc) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        InputForm {
            name: doc.name.clone(),
            mode: if doc.pull.is_some() { "pull" } else { "listen" }.into(),
            key: s(&doc.key),
            pull: s(&doc.pull),
            passphrase: s(&doc.passphrase),
            key_length: doc.key_length.map(|k| k.to_string()).unwrap_or_default(),
            latency_ms: doc.latency_ms.unwrap_or(200).to_string(),
            stream_id: s(&doc.stream_id),
            grace_period_s: doc.grace_period_s.unwrap_or(10).to_string(),
            enabled: doc.enabled.then(|| "on".into()),
            srt_port: doc.srt_port.map(|p| p.to_string()).unwrap_or_default(),
            ..Self::of_backup(doc.backup.as_ref())
        }
    }

    /// The backup's fields of the form; a form without a backup gets a fresh key and the
    /// default delays, ready if the operator adds one.
    fn of_backup(b: Option<&BackupDoc>) -> Self {
        let blank = Self::blank();
        let Some(b) = b else {
            return InputForm {
                backup_mode: String::new(),
                ..blank
            };
        };
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let pull = s(&b.pull);
        let mode = match (&b.key, pull.starts_with("srt://")) {
            (Some(_), _) => "key",
            (None, true) => "pull_srt",
            (None, false) => "pull_rtmp",
        };
        InputForm {
            backup_mode: mode.into(),
            backup_key: b.key.clone().unwrap_or(blank.backup_key),
            backup_srt: if mode == "pull_srt" {
                pull.trim_start_matches("srt://").to_owned()
            } else {
                String::new()
            },
            backup_rtmp: if mode == "pull_rtmp" {
                pull
            } else {
                String::new()
            },
            backup_stream_id: s(&b.stream_id),
            backup_passphrase: s(&b.passphrase),
            backup_key_length: b.key_length.map(|k| k.to_string()).unwrap_or_default(),
            backup_latency_ms: b.latency_ms.unwrap_or(200).to_string(),
            backup_failover_ms: b
                .failover_ms
                .map_or_else(|| FAILOVER_MS.into(), |v| v.to_string()),
            backup_revert_s: b
                .revert_s
                .map_or_else(|| REVERT_S.into(), |v| v.to_string()),
            ..blank
        }
    }

    /// The backup the API takes, `None` without one. Fields of the other backup sources
    /// are left out, as for the input's own mode.
    fn backup_doc(&self) -> Result<Option<BackupDoc>, ApiError> {
        let mode = self.backup_mode.as_str();
        if !matches!(mode, "key" | "pull_srt" | "pull_rtmp") {
            return Ok(None);
        }
        let srt = mode == "pull_srt";
        let has_passphrase = srt && opt(&self.backup_passphrase).is_some();
        Ok(Some(BackupDoc {
            key: (mode == "key").then(|| self.backup_key.trim().to_owned()),
            pull: match mode {
                "pull_srt" => Some(match opt(&self.backup_srt) {
                    Some(v) if v.starts_with("srt://") => v,
                    Some(v) => format!("srt://{v}"),
                    None => String::new(),
                }),
                "pull_rtmp" => Some(opt(&self.backup_rtmp).unwrap_or_default()),
                _ => None,
            },
            passphrase: if has_passphrase {
                opt(&self.backup_passphrase)
            } else {
                None
            },
            key_length: if has_passphrase {
                number("backup.key_length", &self.backup_key_length)?
            } else {
                None
            },
            latency_ms: if srt {
                number("backup.latency_ms", &self.backup_latency_ms)?
            } else {
                None
            },
            stream_id: if srt {
                opt(&self.backup_stream_id)
            } else {
                None
            },
            failover_ms: number("backup.failover_ms", &self.backup_failover_ms)?,
            revert_s: number("backup.revert_s", &self.backup_revert_s)?,
        }))
    }

    fn is_pull(&self) -> bool {
        self.mode == "pull"
    }

    /// The document the API takes. Fields that do not apply to the chosen mode are left
    /// out, so switching mode in the form does not leave stale values behind.
    fn doc(&self) -> Result<InputDoc, ApiError> {
        let pull = opt(&self.pull);
        let pull_rtmp = self.is_pull() && pull.as_deref().is_some_and(|u| !u.starts_with("srt://"));
        let srt = !pull_rtmp;
        let has_passphrase = srt && opt(&self.passphrase).is_some();
        Ok(InputDoc {
            name: self.name.trim().to_owned(),
            enabled: self.enabled.is_some(),
            key: if self.is_pull() {
                None
            } else {
                Some(self.key.trim().to_owned())
            },
            pull: if self.is_pull() {
                Some(pull.unwrap_or_default())
            } else {
                None
            },
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
            stream_id: if self.is_pull() && srt {
                opt(&self.stream_id)
            } else {
                None
            },
            grace_period_s: number("grace_period_s", &self.grace_period_s)?,
            srt_port: if self.is_pull() {
                None
            } else {
                number("srt_port", &self.srt_port)?
            },
            backup: self.backup_doc()?,
        })
    }
}

#[derive(Template)]
#[template(path = "input_form.html")]
struct InputFormPage {
    page: Page,
    /// `None` for a new input.
    id: Option<i64>,
    form: InputForm,
    errors: FormErrors,
    /// The live SRT link's round trip, to advise on latency (editing a live input only).
    rtt_ms: Option<f64>,
}

/// The input form's inputs, where a refusal can be shown.
const INPUT_FIELDS: &[&str] = &[
    "name",
    "key",
    "pull",
    "passphrase",
    "key_length",
    "latency_ms",
    "stream_id",
    "grace_period_s",
    "srt_port",
    "backup_key",
    "backup_srt",
    "backup_rtmp",
    "backup_stream_id",
    "backup_passphrase",
    "backup_key_length",
    "backup_latency_ms",
    "backup_failover_ms",
    "backup_revert_s",
];

/// The form's input for a refused field of the API's document: the backup's fields
/// (`backup.key`) are `backup_key`, its pull URL the one of the chosen source.
fn form_field(field: &str, form: &InputForm) -> String {
    match field.strip_prefix("backup.") {
        Some("pull") if form.backup_mode == "pull_rtmp" => "backup_rtmp".into(),
        Some("pull") => "backup_srt".into(),
        Some(leaf) => format!("backup_{leaf}"),
        None => field.to_owned(),
    }
}

impl InputFormPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.on("input", 0, field)
    }

    fn above(&self) -> Option<&str> {
        self.errors.above("input", 0)
    }

    fn rtt_advice(&self) -> Option<String> {
        rtt_advice(&self.page, self.rtt_ms)
    }
}

pub async fn new_input(State(s): State<ApiState>, session: Session) -> PanelResult<Response> {
    operator(&session)?;
    let page = Page::new(&s, &session, "new_input").await?;
    Ok(render(&InputFormPage {
        page,
        id: None,
        form: InputForm::blank(),
        errors: FormErrors::default(),
        rtt_ms: None,
    }))
}

/// Shows the form again with the API's refusal next to its field.
async fn input_refused(
    s: &ApiState,
    session: &Session,
    id: Option<i64>,
    form: InputForm,
    e: ApiError,
) -> PanelResult<Response> {
    let page = Page::new(
        s,
        session,
        if id.is_some() {
            "dashboard"
        } else {
            "new_input"
        },
    )
    .await?;
    // Explained by the API's own field name (`backup.failover_ms` reads as failover_ms),
    // placed on the form's input.
    let text = page.error_text(&e);
    let mut placed = e.clone();
    placed.field = e.field.as_deref().map(|f| form_field(f, &form));
    let errors = FormErrors::new("input", 0, INPUT_FIELDS, &placed, text);
    Ok(render_status(
        e.status,
        &InputFormPage {
            page,
            id,
            form,
            errors,
            rtt_ms: None,
        },
    ))
}

pub async fn create_input(
    State(s): State<ApiState>,
    session: Session,
    Form(form): Form<InputForm>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let result = match form.doc() {
        Ok(doc) => api::create_input(State(s.clone()), can, Body(doc)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((_, Json(view))) => Ok(done(
            &format!("/inputs/{}", view.id.unwrap_or(0)),
            "created",
        )),
        Err(e) => input_refused(&s, &session, None, form, e).await,
    }
}

pub async fn edit_input(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
) -> PanelResult<Response> {
    operator(&session)?;
    let Json(view) = api::get_input(State(s.clone()), reader(&session), Path(id)).await?;
    let page = Page::new(&s, &session, "dashboard").await?;
    let rtt_ms = live_rtt(&s, &view.doc.name, None);
    Ok(render(&InputFormPage {
        page,
        id: Some(id),
        form: InputForm::of(&view.doc),
        errors: FormErrors::default(),
        rtt_ms,
    }))
}

pub async fn update_input(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<InputForm>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let result = match form.doc() {
        Ok(doc) => api::update_input(State(s.clone()), can, Path(id), Body(doc)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(done(&format!("/inputs/{id}"), "saved")),
        Err(e) => input_refused(&s, &session, Some(id), form, e).await,
    }
}

pub async fn delete_input(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    api::delete_input(State(s), can, Path(id)).await?;
    Ok(done("/", "deleted"))
}

pub async fn switch_input<const ON: bool>(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let _ = api::switch_input::<ON>(State(s), can, Path(id)).await?;
    Ok(done(
        &back(&headers, &format!("/inputs/{id}")),
        if ON { "started" } else { "stopped" },
    ))
}

/// `POST /inputs/{id}/new-key`: a new publishing key (the encoder must be given it).
pub async fn new_input_key(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let Json(view) = api::get_input(State(s.clone()), reader(&session), Path(id)).await?;
    let mut doc = view.doc;
    if doc.key.is_none() {
        return Err(ApiError::invalid("key", "a pulled input has no key").into());
    }
    doc.key = Some(new_key());
    let _ = api::update_input(State(s), can, Path(id), Body(doc)).await?;
    Ok(done(&format!("/inputs/{id}"), "saved"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_form_leaves_out_fields_of_the_other_mode() {
        let mut f = InputForm::blank();
        f.name = "cam".into();
        f.pull = "rtmp://origin/live/x".into();
        f.stream_id = "ignored".into();
        let doc = f.doc().expect("a valid form");
        assert!(doc.pull.is_none() && doc.stream_id.is_none() && doc.key.is_some());
        doc.to_def().expect("valid");
        f.mode = "pull".into();
        let doc = f.doc().expect("a valid form");
        assert!(doc.key.is_none() && doc.latency_ms.is_none() && doc.stream_id.is_none());
        doc.to_def().expect("valid");
        f.latency_ms = "fast".into();
        f.mode = "listen".into();
        assert_eq!(
            f.doc().expect_err("a refused form").field.as_deref(),
            Some("latency_ms")
        );
    }

    #[test]
    fn backup_fields_give_the_backup_document_and_back() {
        let mut f = InputForm::blank();
        f.name = "cam".into();
        assert!(
            f.doc().expect("valid").backup.is_none(),
            "no backup by default"
        );
        assert_eq!(f.backup_key.len(), 20, "a backup key is ready");
        f.backup_mode = "key".into();
        f.backup_srt = "ignored:9000".into();
        f.backup_revert_s = "0".into();
        let doc = f.doc().expect("valid");
        let b = doc.backup.clone().expect("a backup");
        assert_eq!(b.key.as_deref(), Some(f.backup_key.as_str()));
        assert!(b.pull.is_none() && b.passphrase.is_none() && b.latency_ms.is_none());
        assert_eq!((b.failover_ms, b.revert_s), (Some(2000), Some(0)));
        doc.to_def().expect("a valid input");
        let back = InputForm::of(&doc);
        assert_eq!(
            (back.backup_mode.as_str(), back.backup_key.as_str()),
            ("key", f.backup_key.as_str())
        );

        f.backup_mode = "pull_srt".into();
        f.backup_srt = "encoder-b.example.net:9001".into();
        f.backup_passphrase = "a long passphrase".into();
        f.backup_key_length = "32".into();
        let doc = f.doc().expect("valid");
        let b = doc.backup.clone().expect("a backup");
        assert_eq!(b.pull.as_deref(), Some("srt://encoder-b.example.net:9001"));
        assert!(b.key.is_none());
        assert_eq!((b.key_length, b.latency_ms), (Some(32), Some(200)));
        doc.to_def().expect("a valid input");
        let back = InputForm::of(&doc);
        assert_eq!(back.backup_mode, "pull_srt");
        assert_eq!(back.backup_srt, "encoder-b.example.net:9001");

        f.backup_mode = "pull_rtmp".into();
        f.backup_rtmp = "rtmp://encoder-b.example.net/live/b".into();
        let b = f.doc().expect("valid").backup.expect("a backup");
        assert!(b.passphrase.is_none() && b.stream_id.is_none() && b.key.is_none());

        f.backup_failover_ms = "soon".into();
        let e = f.doc().expect_err("refused");
        assert_eq!(e.field.as_deref(), Some("backup.failover_ms"));
        assert_eq!(form_field("backup.failover_ms", &f), "backup_failover_ms");
        assert_eq!(form_field("backup.pull", &f), "backup_rtmp");
        assert_eq!(form_field("name", &f), "name");
    }

    #[test]
    fn own_srt_port_is_only_for_listening_inputs() {
        let mut f = InputForm::blank();
        f.name = "cam".into();
        f.srt_port = "9100".into();
        f.passphrase = "a long passphrase".into();
        assert_eq!(f.doc().expect("valid").srt_port, Some(9100));
        f.mode = "pull".into();
        f.pull = "srt://origin.example.net:9000".into();
        assert_eq!(f.doc().expect("valid").srt_port, None);
    }
}
