//! The bridge from the store to the engine: after every change the flows kept in PostgreSQL
//! and the flows declared in the configuration file become one desired state, which the
//! engine applies by difference (DESIGN.md §2 "Reconcile", §3 "One binary").
//!
//! Changes are serialised by one async lock held from the check to the engine's apply, so
//! two API calls cannot interleave a stale desired state. File flows win nothing by
//! surprise: a database flow may not reuse a declared flow's name, stream key (a backup's
//! included) or own SRT port, which the API checks before writing ([`Control::check_input`],
//! [`Control::check_output`]).

use std::collections::HashSet;
use std::sync::Arc;

use relevo_engine::spec::{BackupSource, DesiredState, InputSource, InputSpec, OutputSpec};
use relevo_engine::Engine;
use sqlx::PgPool;
use tokio::sync::{Mutex, MutexGuard, RwLock};

use crate::flow_doc::FieldError;
use crate::store::export::ConfigExport;
use crate::store::{self, InputDef, StoreError};

/// Why the desired state could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the flows of the database and of the configuration file clash: {0}")]
    State(#[from] relevo_engine::spec::StateError),
}

/// The control plane's handle on the flows: database, declared flows, engine.
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    engine: Engine,
    file: RwLock<DesiredState>,
    writes: Mutex<()>,
}

/// Held while a change is checked, written and applied.
#[derive(Debug)]
pub struct WriteGuard<'a> {
    _held: MutexGuard<'a, ()>,
}

impl Control {
    pub fn new(pool: PgPool, engine: Engine, file_flows: DesiredState) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                engine,
                file: RwLock::new(file_flows),
                writes: Mutex::new(()),
            }),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The flows declared in the configuration file (read-only through the API).
    pub async fn file_flows(&self) -> DesiredState {
        self.inner.file.read().await.clone()
    }

    /// Serialises changes: take it before checking, keep it until [`Self::apply_locked`].
    pub async fn write_lock(&self) -> WriteGuard<'_> {
        WriteGuard {
            _held: self.inner.writes.lock().await,
        }
    }

    /// Replaces the declared flows (SIGHUP) and reconciles.
    pub async fn set_file_flows(&self, flows: DesiredState) -> Result<(), ReconcileError> {
        let guard = self.write_lock().await;
        let previous = std::mem::replace(&mut *self.inner.file.write().await, flows);
        match self.apply_locked(&guard).await {
            Ok(()) => Ok(()),
            Err(e) => {
                *self.inner.file.write().await = previous;
                Err(e)
            }
        }
    }

    /// Loads the database's flows, adds the declared ones and lets the engine apply the
    /// difference.
    pub async fn reconcile(&self) -> Result<(), ReconcileError> {
        let guard = self.write_lock().await;
        self.apply_locked(&guard).await
    }

    /// [`Self::reconcile`] for a caller that already holds the write lock.
    pub async fn apply_locked(&self, _guard: &WriteGuard<'_>) -> Result<(), ReconcileError> {
        let desired = self.desired().await?;
        self.inner.engine.apply(&desired)?;
        Ok(())
    }

    /// The whole desired state: declared flows first, then the database's. Declared flows
    /// are the admin's own and may reach private addresses; the database's (created through
    /// the API) only when the admin setting allows it.
    pub async fn desired(&self) -> Result<DesiredState, ReconcileError> {
        let mut db = store::load_desired_state(&self.inner.pool).await?;
        let allowed = store::settings::private_destinations_allowed(&self.inner.pool).await?;
        for input in &mut db.inputs {
            input.set_private_allowed(allowed);
        }
        let mut inputs = self.inner.file.read().await.inputs.clone();
        inputs.extend(db.inputs);
        let desired = DesiredState { inputs };
        desired.validate()?;
        Ok(desired)
    }

    /// Refuses an input whose name, key, backup key or own SRT port a declared flow already
    /// uses.
    pub async fn check_input(&self, def: &InputDef) -> Result<(), FieldError> {
        let file = self.inner.file.read().await;
        if file.inputs.iter().any(|i| i.name == def.name) {
            return Err(FieldError::new(
                "name",
                "an input of the configuration file has this name",
            ));
        }
        let keys = declared_keys(&file);
        if let InputSource::Listen { key, srt_port, .. } = &def.source {
            if keys.contains(key.expose()) {
                return Err(FieldError::new(
                    "key",
                    "a flow of the configuration file uses this key",
                ));
            }
            if srt_port.is_some() && file.inputs.iter().any(|i| own_srt_port(i) == *srt_port) {
                return Err(FieldError::new(
                    "srt_port",
                    "an input of the configuration file has this SRT port",
                ));
            }
        }
        if let Some(BackupSource::Key(key)) = def.backup.as_ref().map(|b| &b.source) {
            if keys.contains(key.expose()) {
                return Err(FieldError::new(
                    "backup.key",
                    "a flow of the configuration file uses this key",
                ));
            }
        }
        Ok(())
    }

    /// Refuses a pull output whose key a declared flow already uses.
    pub async fn check_output(&self, spec: &OutputSpec) -> Result<(), FieldError> {
        let file = self.inner.file.read().await;
        // Pushes carry their key in their URL; a recording has none.
        let Some(key) = spec.kind.pull_key() else {
            return Ok(());
        };
        if declared_keys(&file).contains(key.expose()) {
            return Err(FieldError::new(
                "key",
                "a flow of the configuration file uses this key",
            ));
        }
        Ok(())
    }

    /// [`Self::check_input`] and [`Self::check_output`] for every flow of an import, named by
    /// its place in the document. Flows that do not validate are left to the import, which
    /// reports them.
    pub async fn check_import(&self, doc: &ConfigExport) -> Result<(), FieldError> {
        for (i, flow) in doc.inputs.iter().enumerate() {
            if let Ok(def) = flow.input.to_def() {
                self.check_input(&def)
                    .await
                    .map_err(|e| e.under(&format!("inputs[{i}].input")))?;
            }
            for (j, out) in flow.outputs.iter().enumerate() {
                if let Ok(spec) = out.to_spec() {
                    self.check_output(&spec)
                        .await
                        .map_err(|e| e.under(&format!("inputs[{i}].outputs[{j}]")))?;
                }
            }
        }
        Ok(())
    }
}

/// An input's own SRT port, if it has one.
fn own_srt_port(input: &InputSpec) -> Option<u16> {
    match &input.source {
        InputSource::Listen { srt_port, .. } => *srt_port,
        _ => None,
    }
}

/// Every stream key of the declared flows: listening inputs, backup keys and pull outputs.
fn declared_keys(file: &DesiredState) -> HashSet<&str> {
    let mut keys = HashSet::new();
    for input in &file.inputs {
        if let InputSource::Listen { key, .. } = &input.source {
            keys.insert(key.expose());
        }
        if let Some(BackupSource::Key(key)) = input.backup.as_ref().map(|b| &b.source) {
            keys.insert(key.expose());
        }
        for o in &input.outputs {
            if let Some(key) = o.kind.pull_key() {
                keys.insert(key.expose());
            }
        }
    }
    keys
}
