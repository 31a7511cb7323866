//! Configuration export and import: the branding, every stored flow and the alerts (rules,
//! channels, settings) as one JSON document, for backups and for moving a customer to a new
//! appliance. Users, tokens, the audit log and the flows' history are not part of it.
//!
//! **The document is a backup and carries secrets in clear**: stream keys, SRT passphrases
//! and stream ids, RTMP URLs with their keys, alert channels' secrets (webhook signing keys,
//! Slack/Teams URLs, SMTP passwords). Whoever holds an export can publish to and read
//! from every flow; only admins may produce one, and it must be stored like a password.
//!
//! An import is checked as a whole before anything is written (format, version, every field
//! through [`InputDoc::to_def`] / [`OutputDoc::to_spec`], then [`DesiredState::validate`]),
//! and written in one transaction with one `config.import` audit row holding counts only.

use std::collections::HashMap;

use data_encoding::BASE64;
use relevo_engine::spec::{DesiredState, OutputSpec, StateError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::alerts::{self, AlertSettings, ChannelDef, ChannelDoc, RuleDef, RuleDoc};
use super::audit::{self, Actor, Target};
use super::columns::{InputCols, OutputCols};
use super::{inputs, outputs, settings, InputDef, StoreError};
use crate::flow_doc::{FieldError, InputDoc, OutputDoc};

/// The `format` of every export; anything else is refused on import.
pub const FORMAT: &str = "relevo-config";
/// The document version this build writes and reads.
pub const VERSION: u32 = 1;

/// An exported configuration. Contains secrets: see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigExport {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
    pub settings: ExportedSettings,
    pub inputs: Vec<ExportedFlow>,
    /// Absent from exports made before alerts existed: importing one leaves the alerts as
    /// they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<ExportedAlerts>,
}

/// The alerts' configuration (issue #17); an import replaces all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedAlerts {
    pub repeat_minutes: u32,
    #[serde(default)]
    pub panel_url: Option<String>,
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
    /// With their secrets in clear.
    #[serde(default)]
    pub channels: Vec<ChannelDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedSettings {
    pub product_name: String,
    pub primary_color: String,
    #[serde(default)]
    pub logo: Option<ExportedLogo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedLogo {
    pub mime: String,
    /// The image, standard base64 with padding (RFC 4648 §4).
    pub data_base64: String,
}

/// One input with its outputs, in the configuration file's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedFlow {
    pub input: InputDoc,
    #[serde(default)]
    pub outputs: Vec<OutputDoc>,
}

/// What to do with the flows already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Refuse if any input exists: the safe choice on a new appliance.
    Empty,
    /// Delete every stored input (and so its outputs) first.
    Replace,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub inputs: usize,
    pub outputs: usize,
    /// Inputs deleted first ([`ImportMode::Replace`]).
    pub replaced_inputs: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A refused value; `field` is its path in the document, such as
    /// `inputs[2].outputs[0].latency_ms` or `settings.primary_color`.
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("{inputs} inputs exist already: import into an empty appliance, or replace them")]
    NotEmpty { inputs: i64 },
    /// The flows are inconsistent as a whole (duplicate names or stream keys).
    #[error("inputs: {0}")]
    State(#[from] StateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// The branding and every stored flow, read in one consistent snapshot.
pub async fn export(pool: &PgPool) -> Result<ConfigExport, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let s = settings::read(&mut tx).await?;
    let input_rows = inputs::list_rows(&mut *tx).await?;
    let output_rows = outputs::list_rows(&mut *tx).await?;
    let alert_settings = alerts::settings_snapshot(&mut tx).await?;
    let alert_rules = alerts::rules_on(&mut tx).await?;
    let alert_channels = alerts::channels_on(&mut tx).await?;
    tx.commit().await?;

    let mut by_input: HashMap<i64, Vec<OutputDoc>> = HashMap::new();
    for row in &output_rows {
        let doc = OutputDoc::from_spec(&row.to_spec()?);
        by_input.entry(row.input_id).or_default().push(doc);
    }
    let flows = input_rows
        .iter()
        .map(|row| {
            Ok(ExportedFlow {
                input: InputDoc::from_def(&row.to_def()?),
                outputs: by_input.remove(&row.id).unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ConfigExport {
        format: FORMAT.to_owned(),
        version: VERSION,
        exported_at: OffsetDateTime::now_utc(),
        settings: ExportedSettings {
            product_name: s.product_name,
            primary_color: s.primary_color,
            logo: s.logo.zip(s.logo_mime).map(|(bytes, mime)| ExportedLogo {
                mime,
                data_base64: BASE64.encode(&bytes),
            }),
        },
        inputs: flows,
        alerts: Some(ExportedAlerts {
            repeat_minutes: alert_settings.repeat_minutes,
            panel_url: alert_settings.panel_url,
            rules: alert_rules.iter().map(RuleDoc::of).collect(),
            channels: alert_channels.iter().map(ChannelDoc::revealed).collect(),
        }),
    })
}

/// Writes `doc` in one transaction, after checking all of it; on any error nothing changes.
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    doc: &ConfigExport,
    mode: ImportMode,
) -> Result<ImportSummary, ImportError> {
    let plan = Plan::check(doc)?;
    let mut tx = pool.begin().await?;
    // Flow changes made meanwhile through the API wait for this import (and then see it);
    // readers are not blocked.
    sqlx::query!("LOCK TABLE inputs IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let existing = count_inputs(&mut tx).await?;
    let replaced_inputs = match mode {
        ImportMode::Empty if existing > 0 => {
            return Err(ImportError::NotEmpty { inputs: existing })
        }
        ImportMode::Empty => 0,
        ImportMode::Replace => {
            // Outputs go with their inputs (ON DELETE CASCADE), freeing their stream keys.
            sqlx::query!("DELETE FROM inputs").execute(&mut *tx).await?;
            existing
        }
    };
    settings::write_branding(&mut tx, &plan.product_name, &plan.primary_color).await?;
    let logo = plan.logo.as_ref().map(|(b, m)| (b.as_slice(), m.as_str()));
    settings::write_logo(&mut tx, logo).await?;
    if let Some((settings, rules, channels)) = &plan.alerts {
        alerts::replace_all(&mut tx, settings, rules, channels).await?;
    }
    let mut output_count = 0;
    for (def, outs) in &plan.flows {
        let row = inputs::insert(&mut tx, &InputCols::from_def(def)).await?;
        for spec in outs {
            outputs::insert(&mut tx, row.id, &OutputCols::from_spec(spec)).await?;
        }
        output_count += outs.len();
    }
    let summary = ImportSummary {
        inputs: plan.flows.len(),
        outputs: output_count,
        replaced_inputs,
    };
    let target = Target {
        kind: "config",
        id: None,
        name: None,
    };
    let after = json!({
        "mode": format!("{mode:?}").to_lowercase(),
        "inputs": summary.inputs,
        "outputs": summary.outputs,
        "replaced_inputs": replaced_inputs,
        "logo": plan.logo.is_some(),
        "alert_rules": plan.alerts.as_ref().map(|(_, r, _)| r.len()),
        "alert_channels": plan.alerts.as_ref().map(|(_, _, c)| c.len()),
    });
    audit::record(&mut tx, actor, "config.import", target, None, Some(after)).await?;
    tx.commit().await?;
    Ok(summary)
}

async fn count_inputs(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM inputs"#)
            .fetch_one(conn)
            .await?,
    )
}

/// A document turned into checked values, ready to write.
#[derive(Debug)]
struct Plan {
    product_name: String,
    primary_color: String,
    logo: Option<(Vec<u8>, String)>,
    flows: Vec<(InputDef, Vec<OutputSpec>)>,
    alerts: Option<(AlertSettings, Vec<RuleDef>, Vec<ChannelDef>)>,
}

impl Plan {
    fn check(doc: &ConfigExport) -> Result<Self, ImportError> {
        if doc.format != FORMAT {
            let reason = format!("{:?} is not {FORMAT:?}", doc.format);
            return Err(FieldError::new("format", reason).into());
        }
        if doc.version != VERSION {
            let reason = format!("version {} is not readable (only {VERSION})", doc.version);
            return Err(FieldError::new("version", reason).into());
        }
        let s = &doc.settings;
        let product_name = settings::product_name(&s.product_name).map_err(at("settings"))?;
        let primary_color = settings::primary_color(&s.primary_color).map_err(at("settings"))?;
        let logo = s.logo.as_ref().map(check_logo).transpose()?;
        let flows = doc
            .inputs
            .iter()
            .enumerate()
            .map(|(i, flow)| check_flow(i, flow))
            .collect::<Result<Vec<_>, FieldError>>()?;
        let state = DesiredState {
            inputs: flows
                .iter()
                .map(|(def, outs)| def.clone().into_spec(outs.clone()))
                .collect(),
        };
        if let Err(e) = state.validate() {
            return Err(locate(&state, e).into());
        }
        let alerts = doc.alerts.as_ref().map(check_alerts).transpose()?;
        Ok(Self {
            product_name,
            primary_color,
            logo,
            flows,
            alerts,
        })
    }
}

/// Names the flow at fault in a whole-document refusal: the first input whose addition makes
/// the flows inconsistent (checking longer and longer prefixes; imports hold a few hundred
/// flows at most), and the field the rule is about.
fn locate(state: &DesiredState, e: StateError) -> FieldError {
    let at = (1..=state.inputs.len()).find(|&n| {
        let prefix = DesiredState {
            inputs: state.inputs[..n].to_vec(),
        };
        prefix.validate().is_err()
    });
    let field = match &e {
        StateError::DuplicateInput(_) => "input.name",
        StateError::DuplicateOutput { .. } => "outputs",
        StateError::DuplicateKey { second, .. } if second.starts_with("backup") => {
            "input.backup.key"
        }
        StateError::DuplicateKey { second, .. } if second.starts_with("output") => "outputs",
        StateError::DuplicateKey { .. } => "input.key",
        StateError::SrtPortWithoutPassphrase(_) | StateError::DuplicateSrtPort { .. } => {
            "input.srt_port"
        }
        StateError::BackupKeyOnPullInput(_) => "input.backup.key",
    };
    match at {
        Some(n) => FieldError::new(format!("inputs[{}].{field}", n - 1), e),
        None => FieldError::new("inputs", e),
    }
}

fn check_flow(i: usize, flow: &ExportedFlow) -> Result<(InputDef, Vec<OutputSpec>), FieldError> {
    let def = flow
        .input
        .to_def()
        .map_err(|e| e.under(&format!("inputs[{i}].input")))?;
    let outs = flow
        .outputs
        .iter()
        .enumerate()
        .map(|(j, out)| {
            out.to_spec()
                .map_err(|e| e.under(&format!("inputs[{i}].outputs[{j}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((def, outs))
}

fn check_logo(logo: &ExportedLogo) -> Result<(Vec<u8>, String), ImportError> {
    let bytes = BASE64
        .decode(logo.data_base64.as_bytes())
        .map_err(|e| FieldError::new("settings.logo.data_base64", e))?;
    settings::check_logo(&bytes, &logo.mime).map_err(|e| match e {
        StoreError::Field {
            field: "mime",
            reason,
        } => FieldError::new("settings.logo.mime", reason).into(),
        StoreError::Field { reason, .. } => {
            FieldError::new("settings.logo.data_base64", reason).into()
        }
        other => ImportError::Store(other),
    })?;
    Ok((bytes, logo.mime.clone()))
}

/// Locates a store field error under `prefix` in the document.
fn at(prefix: &'static str) -> impl Fn(StoreError) -> ImportError {
    move |e| match e {
        StoreError::Field { field, reason } => FieldError::new(field, reason).under(prefix).into(),
        other => ImportError::Store(other),
    }
}

/// Every rule, channel and setting of the alerts through the store's checks, a refusal
/// located in the document (`alerts.channels[1].url`).
fn check_alerts(
    a: &ExportedAlerts,
) -> Result<(AlertSettings, Vec<RuleDef>, Vec<ChannelDef>), ImportError> {
    let under = |prefix: String| {
        move |e: StoreError| match e {
            StoreError::Field { field, reason } => {
                ImportError::Field(FieldError::new(field, reason).under(&prefix))
            }
            other => ImportError::Store(other),
        }
    };
    let settings = alerts::check_settings(&AlertSettings {
        repeat_minutes: a.repeat_minutes,
        panel_url: a.panel_url.clone(),
    })
    .map_err(under("alerts".to_owned()))?;
    let rules = a
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| alerts::check_rule(&r.to_def()).map_err(under(format!("alerts.rules[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    let channels = a
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let at = under(format!("alerts.channels[{i}]"));
            let (def, keep) = c.to_def().map_err(&at)?;
            if let Some(f) = keep.first() {
                // An export holds secrets in clear; a mask has nothing behind it here.
                let reason = "a masked secret cannot be imported; write the secret".to_owned();
                return Err(at(StoreError::Field { field: f, reason }));
            }
            alerts::check_channel(&def).map_err(at)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((settings, rules, channels))
}
