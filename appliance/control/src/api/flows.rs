//! Inputs and outputs: `/api/v1/inputs…`, `/api/v1/outputs…`.
//!
//! Bodies are [`InputDoc`] / [`OutputDoc`], the same shape as the configuration file. Every
//! change is checked, written with its audit row, then handed to the engine as a new
//! desired state under the control's write lock; the engine applies only the difference,
//! so editing one output touches nothing else. Flows declared in the configuration file
//! are listed with `"origin": "config"` and no id: they are changed in the file.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use relevo_engine::metrics::InputSnapshot;
use relevo_engine::rtmp::RtmpUrl;
use relevo_engine::spec::{InputSpec, OutputSpec};
use serde::Serialize;
use time::OffsetDateTime;

use super::auth::{Can, Principal, OPERATE, READ};
use super::error::ApiResult;
use super::json::Body;
use super::ApiState;
use crate::flow_doc::{InputDoc, OutputDoc};
use crate::store::{audit::MASK, inputs, outputs, InputDef, StoredInput, StoredOutput};

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct OutputView {
    pub id: Option<i64>,
    pub input_id: Option<i64>,
    #[serde(flatten)]
    pub doc: OutputDoc,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// Hides what a Visor must not see: keys, passphrases, stream ids (they often carry a
/// key) and the key part of RTMP URLs.
fn mask_input(doc: &mut InputDoc) {
    mask(&mut doc.key);
    mask(&mut doc.passphrase);
    mask(&mut doc.stream_id);
    if let Some(url) = &mut doc.pull {
        redact_url(url);
    }
}

fn mask_output(doc: &mut OutputDoc) {
    mask(&mut doc.key);
    mask(&mut doc.passphrase);
    mask(&mut doc.stream_id);
    if let Some(url) = &mut doc.push {
        redact_url(url);
    }
}

fn mask(v: &mut Option<String>) {
    if v.is_some() {
        *v = Some(MASK.to_owned());
    }
}

fn redact_url(url: &mut String) {
    if let Ok(u) = RtmpUrl::parse(url) {
        *url = u.redacted().to_string();
    }
}

fn output_view(o: &StoredOutput, secrets: bool) -> OutputView {
    let mut doc = OutputDoc::from_spec(&o.spec);
    if !secrets {
        mask_output(&mut doc);
    }
    OutputView {
        id: Some(o.id),
        input_id: Some(o.input_id),
        doc,
        created_at: Some(o.created_at),
        updated_at: Some(o.updated_at),
    }
}

fn input_view(i: &StoredInput, outs: &[StoredOutput], secrets: bool) -> InputView {
    let mut doc = InputDoc::from_def(&i.def);
    if !secrets {
        mask_input(&mut doc);
    }
    InputView {
        id: Some(i.id),
        origin: "api",
        doc,
        outputs: outs
            .iter()
            .filter(|o| o.input_id == i.id)
            .map(|o| output_view(o, secrets))
            .collect(),
        created_at: Some(i.created_at),
        updated_at: Some(i.updated_at),
    }
}

fn declared_view(spec: &InputSpec, secrets: bool) -> InputView {
    let mut doc = InputDoc::from_def(&InputDef::from_spec(spec));
    if !secrets {
        mask_input(&mut doc);
    }
    InputView {
        id: None,
        origin: "config",
        doc,
        outputs: spec
            .outputs
            .iter()
            .map(|o| {
                let mut doc = OutputDoc::from_spec(o);
                if !secrets {
                    mask_output(&mut doc);
                }
                OutputView {
                    id: None,
                    input_id: None,
                    doc,
                    created_at: None,
                    updated_at: None,
                }
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
    write_input(&s, &p, id, def).await
}

async fn write_input(
    s: &ApiState,
    p: &Principal,
    id: i64,
    def: InputDef,
) -> ApiResult<Json<InputView>> {
    let guard = s.control.write_lock().await;
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

pub async fn start_input(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<Json<InputView>> {
    set_input_enabled(&s, &p, id, true).await
}

pub async fn stop_input(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<Json<InputView>> {
    set_input_enabled(&s, &p, id, false).await
}

async fn set_input_enabled(
    s: &ApiState,
    p: &Principal,
    id: i64,
    enabled: bool,
) -> ApiResult<Json<InputView>> {
    let mut def = inputs::get(s.control.pool(), id).await?.def;
    def.enabled = enabled;
    write_input(s, p, id, def).await
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
    let guard = s.control.write_lock().await;
    s.control.check_output(&spec).await?;
    let created = outputs::create(s.control.pool(), &p.actor(), input_id, &spec).await?;
    apply(&s, &guard).await;
    Ok((StatusCode::CREATED, Json(output_view(&created, true))))
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
    write_output(&s, &p, id, spec).await
}

async fn write_output(
    s: &ApiState,
    p: &Principal,
    id: i64,
    spec: OutputSpec,
) -> ApiResult<Json<OutputView>> {
    let guard = s.control.write_lock().await;
    s.control.check_output(&spec).await?;
    let o = outputs::update(s.control.pool(), &p.actor(), id, &spec).await?;
    apply(s, &guard).await;
    Ok(Json(output_view(&o, true)))
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

pub async fn start_output(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<Json<OutputView>> {
    set_output_enabled(&s, &p, id, true).await
}

pub async fn stop_output(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    Path(id): Path<i64>,
) -> ApiResult<Json<OutputView>> {
    set_output_enabled(&s, &p, id, false).await
}

async fn set_output_enabled(
    s: &ApiState,
    p: &Principal,
    id: i64,
    enabled: bool,
) -> ApiResult<Json<OutputView>> {
    let mut spec = outputs::get(s.control.pool(), id).await?.spec;
    spec.enabled = enabled;
    write_output(s, p, id, spec).await
}

/// Hands the engine the new desired state. The change is committed already: a failure
/// here (which validation before the write should make impossible) is logged, and the
/// engine keeps running what it had.
async fn apply(s: &ApiState, guard: &crate::reconcile::WriteGuard<'_>) {
    if let Err(e) = s.control.apply_locked(guard).await {
        tracing::error!("the engine did not take the new desired state: {e}");
    }
}
