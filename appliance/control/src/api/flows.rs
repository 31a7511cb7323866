//! Inputs and outputs: `/api/v1/inputs…`, `/api/v1/outputs…`.
//!
//! Bodies are [`InputDoc`] / [`OutputDoc`], the same shape as the configuration file. Every
//! change is checked, written with its audit row, then handed to the engine as a new
//! desired state under the control's write lock; the engine applies only the difference,
//! so editing one output touches nothing else. Flows declared in the configuration file
//! are listed with `"origin": "config"` and no id: they are changed in the file.
//!
//! `POST /api/v1/inputs/{id}/switch` puts an input's main or backup feed on air by hand
//! ([`crate::feed_switch`]). Visor sees every secret of an input masked, its backup's too.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use relevo_engine::metrics::{CompatProblem, Feed, InputSnapshot};
use relevo_engine::rtmp::RtmpUrl;
use relevo_engine::spec::{InputSource, InputSpec, OutputSpec};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::auth::{Can, Principal, OPERATE, READ};
use super::error::{ApiError, ApiResult};
use super::json::Body;
use super::ApiState;
use crate::flow_doc::{InputDoc, OutputDoc};
use crate::reconcile::WriteGuard;
use crate::store::{audit::MASK, inputs, outputs, InputDef, StoredInput, StoredOutput};

#[derive(Debug, Clone, Serialize)]
pub struct InputView {
    /// `null` for a flow of the configuration file.
    pub id: Option<i64>,
    /// `api` (kept in the database) or `config` (declared in the configuration file).
    pub origin: &'static str,
    #[serde(flatten)]
    pub doc: InputDoc,
    pub outputs: Vec<OutputView>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputView {
    pub id: Option<i64>,
    pub input_id: Option<i64>,
    #[serde(flatten)]
    pub doc: OutputDoc,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Answers to a create or change only, when the input is live: what the destination
    /// does not accept of the stream on air (the codec pre-flight); empty when all is well.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compat: Option<Vec<CompatProblem>>,
}

/// An input's document as `secrets` allows: without them (Visor) keys, passphrases,
/// stream ids (they often carry a key) and the key part of RTMP URLs are hidden.
fn input_doc(def: &InputDef, secrets: bool) -> InputDoc {
    let mut doc = InputDoc::from_def(def);
    if !secrets {
        mask_srt(&mut doc.key, &mut doc.passphrase, &mut doc.stream_id);
        doc.pull = doc.pull.as_deref().map(redact_url);
        if let Some(b) = &mut doc.backup {
            mask_srt(&mut b.key, &mut b.passphrase, &mut b.stream_id);
            b.pull = b.pull.as_deref().map(redact_url);
        }
    }
    doc
}

fn output_doc(spec: &OutputSpec, secrets: bool) -> OutputDoc {
    let mut doc = OutputDoc::from_spec(spec);
    if !secrets {
        mask_srt(&mut doc.key, &mut doc.passphrase, &mut doc.stream_id);
        doc.push = doc.push.as_deref().map(redact_url);
    }
    doc
}

fn mask_srt(
    key: &mut Option<String>,
    passphrase: &mut Option<String>,
    stream_id: &mut Option<String>,
) {
    for v in [key, passphrase, stream_id] {
        if v.is_some() {
            *v = Some(MASK.to_owned());
        }
    }
}

/// An RTMP URL without its key; other URLs (`srt://host:port`) carry no secret.
fn redact_url(url: &str) -> String {
    RtmpUrl::parse(url).map_or_else(|_| url.to_owned(), |u| u.redacted().to_string())
}

fn output_view(o: &StoredOutput, secrets: bool) -> OutputView {
    OutputView {
        id: Some(o.id),
        input_id: Some(o.input_id),
        doc: output_doc(&o.spec, secrets),
        created_at: Some(o.created_at),
        updated_at: Some(o.updated_at),
        compat: None,
    }
}

/// [`output_view`] of an output just created or changed, with its codec pre-flight when
/// its input is live (the check "runs when an output is created against a live input").
async fn written_view(s: &ApiState, o: &StoredOutput) -> ApiResult<OutputView> {
    let input = inputs::get(s.control.pool(), o.input_id).await?;
    let name = input.def.name.as_str();
    let engine = s.control.engine();
    // Built now: the sampler's copy may be a second old, from before the input went live.
    let live = engine
        .snapshot()
        .input(name)
        .is_some_and(|i| i.codecs.is_some());
    Ok(OutputView {
        compat: live.then(|| engine.preflight(name, &o.spec.kind)),
        ..output_view(o, true)
    })
}

fn input_view(i: &StoredInput, outs: &[StoredOutput], secrets: bool) -> InputView {
    InputView {
        id: Some(i.id),
        origin: "api",
        doc: input_doc(&i.def, secrets),
        outputs: outs
            .iter()
            .filter(|o| o.input_id == i.id)
            .map(|o| output_view(o, secrets))
            .collect(),
        created_at: Some(i.created_at),
        updated_at: Some(i.updated_at),
    }
}

/// A flow of the configuration file: no id, no timestamps.
fn declared_view(spec: &InputSpec, secrets: bool) -> InputView {
    InputView {
        id: None,
        origin: "config",
        doc: input_doc(&InputDef::from_spec(spec), secrets),
        outputs: spec
            .outputs
            .iter()
            .map(|o| OutputView {
                id: None,
                input_id: None,
                doc: output_doc(o, secrets),
                created_at: None,
                updated_at: None,
                compat: None,
            })
            .collect(),
        created_at: None,
        updated_at: None,
    }
}

#[derive(Debug, Serialize)]
pub struct InputList {
    pub inputs: Vec<InputView>,
}

pub async fn list_inputs(
    State(s): State<ApiState>,
    Can(p): Can<READ>,
) -> ApiResult<Json<InputList>> {
    let secrets = p.sees_secrets();
    let pool = s.control.pool();
    let (ins, outs) = (inputs::list(pool).await?, outputs::list(pool).await?);
    let mut views: Vec<InputView> = s
        .control
        .file_flows()
        .await
        .inputs
        .iter()
        .map(|i| declared_view(i, secrets))
        .collect();
    views.extend(ins.iter().map(|i| input_view(i, &outs, secrets)));
    Ok(Json(InputList { inputs: views }))
}

async fn view_of(s: &ApiState, id: i64, secrets: bool) -> ApiResult<InputView> {
    let pool = s.control.pool();
    let input = inputs::get(pool, id).await?;
    let outs = outputs::list(pool).await?;
    Ok(input_view(&input, &outs, secrets))
}

pub async fn get_input(
    State(s): State<ApiState>,
    Can(p): Can<READ>,
    Path(id): Path<i64>,
) -> ApiResult<Json<InputView>> {
    Ok(Json(view_of(&s, id, p.sees_secrets()).await?))
}

pub async fn create_input(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Body(doc): Body<InputDoc>,
) -> ApiResult<(StatusCode, Json<InputView>)> {
    let def = doc.to_def()?;
    super::destinations::check_input(&s, &def).await?;
    check_own_port(&s, &def)?;
    let guard = s.control.write_lock().await;
    s.control.check_input(&def).await?;
    let created = inputs::create(s.control.pool(), &p.actor(), &def).await?;
    apply(&s, &guard).await;
    Ok((StatusCode::CREATED, Json(input_view(&created, &[], true))))
}

pub async fn update_input(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
    Body(doc): Body<InputDoc>,
) -> ApiResult<Json<InputView>> {
    let def = doc.to_def()?;
    super::destinations::check_input(&s, &def).await?;
    check_own_port(&s, &def)?;
    let guard = s.control.write_lock().await;
    write_input(&s, &p, id, def, guard).await
}

/// Refuses an own SRT port that is the shared SRT listener's (the input could never bind it).
fn check_own_port(s: &ApiState, def: &InputDef) -> ApiResult<()> {
    if let InputSource::Listen {
        srt_port: Some(port),
        ..
    } = &def.source
    {
        if s.config.endpoints.srt == Some(*port) {
            return Err(ApiError::invalid(
                "srt_port",
                format!("port {port} is the shared SRT listener's; choose another"),
            ));
        }
    }
    Ok(())
}

/// Checks, writes and applies, under `guard`.
async fn write_input(
    s: &ApiState,
    p: &Principal,
    id: i64,
    def: InputDef,
    guard: WriteGuard<'_>,
) -> ApiResult<Json<InputView>> {
    s.control.check_input(&def).await?;
    inputs::update(s.control.pool(), &p.actor(), id, &def).await?;
    apply(s, &guard).await;
    drop(guard);
    Ok(Json(view_of(s, id, true).await?))
}

pub async fn delete_input(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let guard = s.control.write_lock().await;
    inputs::delete(s.control.pool(), &p.actor(), id).await?;
    apply(&s, &guard).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/start` (`ON = true`) and `…/stop`: the input's `enabled`, read and written under
/// the write lock so that a concurrent edit is not overwritten with stale settings.
pub async fn switch_input<const ON: bool>(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<Json<InputView>> {
    let guard = s.control.write_lock().await;
    let mut def = inputs::get(s.control.pool(), id).await?.def;
    def.enabled = ON;
    write_input(&s, &p, id, def, guard).await
}

/// The body of `POST /api/v1/inputs/{id}/switch`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchBody {
    pub feed: Feed,
}

/// `POST /api/v1/inputs/{id}/switch`: the feed on air after the switch (at the chosen feed's
/// next keyframe).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Switched {
    pub feed: Feed,
}

pub async fn switch_feed(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
    Body(body): Body<SwitchBody>,
) -> ApiResult<Json<Switched>> {
    crate::feed_switch::switch_stored(&s.control, &p.actor(), id, body.feed).await?;
    Ok(Json(Switched { feed: body.feed }))
}

/// `POST /api/v1/feeds/{input}`: [`switch_feed`] for an input by name (percent-encoded),
/// which also reaches the inputs of the configuration file: they have no id.
pub async fn switch_feed_by_name(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(name): Path<String>,
    Body(body): Body<SwitchBody>,
) -> ApiResult<Json<Switched>> {
    let stored = inputs::list(s.control.pool())
        .await?
        .into_iter()
        .find(|i| i.def.name.as_str() == name)
        .map(|i| i.id);
    let running = s.control.engine().snapshot().input(&name).is_some();
    if stored.is_none() && !running {
        return Err(ApiError::not_found("input"));
    }
    crate::feed_switch::switch(&s.control, &p.actor(), stored, &name, body.feed).await?;
    Ok(Json(Switched { feed: body.feed }))
}

/// The input's live figures from the engine's shared snapshot (`null` fields when idle).
pub async fn input_status(
    State(s): State<ApiState>,
    _: Can<READ>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Option<InputSnapshot>>> {
    let input = inputs::get(s.control.pool(), id).await?;
    let snap = s.control.engine().subscribe().borrow().clone();
    Ok(Json(snap.input(input.def.name.as_str()).cloned()))
}

pub async fn create_output(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(input_id): Path<i64>,
    Body(doc): Body<OutputDoc>,
) -> ApiResult<(StatusCode, Json<OutputView>)> {
    let spec = doc.to_spec()?;
    super::destinations::check_output(&s, &spec).await?;
    let guard = s.control.write_lock().await;
    s.control.check_output(&spec).await?;
    let created = outputs::create(s.control.pool(), &p.actor(), input_id, &spec).await?;
    apply(&s, &guard).await;
    drop(guard);
    Ok((StatusCode::CREATED, Json(written_view(&s, &created).await?)))
}

pub async fn get_output(
    State(s): State<ApiState>,
    Can(p): Can<READ>,
    Path(id): Path<i64>,
) -> ApiResult<Json<OutputView>> {
    let o = outputs::get(s.control.pool(), id).await?;
    Ok(Json(output_view(&o, p.sees_secrets())))
}

pub async fn update_output(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
    Body(doc): Body<OutputDoc>,
) -> ApiResult<Json<OutputView>> {
    let spec = doc.to_spec()?;
    super::destinations::check_output(&s, &spec).await?;
    let guard = s.control.write_lock().await;
    write_output(&s, &p, id, spec, guard).await
}

/// Checks, writes and applies, under `guard`.
async fn write_output(
    s: &ApiState,
    p: &Principal,
    id: i64,
    spec: OutputSpec,
    guard: WriteGuard<'_>,
) -> ApiResult<Json<OutputView>> {
    s.control.check_output(&spec).await?;
    let o = outputs::update(s.control.pool(), &p.actor(), id, &spec).await?;
    apply(s, &guard).await;
    drop(guard);
    Ok(Json(written_view(s, &o).await?))
}

pub async fn delete_output(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let guard = s.control.write_lock().await;
    outputs::delete(s.control.pool(), &p.actor(), id).await?;
    apply(&s, &guard).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/start` (`ON = true`) and `…/stop`: the output's `enabled`, read and written under
/// the write lock so that a concurrent edit is not overwritten with stale settings.
pub async fn switch_output<const ON: bool>(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<Json<OutputView>> {
    let guard = s.control.write_lock().await;
    let mut spec = outputs::get(s.control.pool(), id).await?.spec;
    spec.enabled = ON;
    write_output(&s, &p, id, spec, guard).await
}

/// Hands the engine the new desired state. The change is committed already: a failure
/// here (which validation before the write should make impossible) is logged, and the
/// engine keeps running what it had.
async fn apply(s: &ApiState, guard: &WriteGuard<'_>) {
    if let Err(e) = s.control.apply_locked(guard).await {
        tracing::error!("the engine did not take the new desired state: {e}");
    }
}
