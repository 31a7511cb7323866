//! The engine's desired state, read from the database. The lead merges it with the flows
//! declared in the configuration file before handing it to `Engine::apply`.

use std::collections::HashMap;

use relevo_engine::spec::{DesiredState, OutputSpec};
use sqlx::PgPool;

use super::{inputs, outputs, StoreError};

/// Every stored input with its outputs (both in creation order), rebuilt through the spec
/// newtypes and checked as a whole with [`DesiredState::validate`]. Reads in one
/// repeatable-read transaction so that inputs and outputs are from the same moment.
pub async fn load_desired_state(pool: &PgPool) -> Result<DesiredState, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let input_rows = inputs::list_rows(&mut *tx).await?;
    let output_rows = outputs::list_rows(&mut *tx).await?;
    tx.commit().await?;
    let mut by_input: HashMap<i64, Vec<OutputSpec>> = HashMap::new();
    for row in &output_rows {
        by_input
            .entry(row.input_id)
            .or_default()
            .push(row.to_spec()?);
    }
    let inputs = input_rows
        .iter()
        .map(|row| {
            let outs = by_input.remove(&row.id).unwrap_or_default();
            Ok(row.to_def()?.into_spec(outs))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let state = DesiredState { inputs };
    state.validate()?;
    Ok(state)
}
