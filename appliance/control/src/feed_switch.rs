//! The manual switch between an input's main and backup feeds (issue #18), shared by the API
//! (`POST /api/v1/inputs/{id}/switch`) and the panel's buttons: the engine switches at the
//! next keyframe of the chosen feed, and the choice is audited (`input.switch`). A manual
//! choice holds until switched back or until that feed is lost (`Engine::switch_feed`).

use relevo_engine::metrics::Feed;
use relevo_engine::SwitchError;

use crate::reconcile::Control;
use crate::store::{inputs, Actor, StoreError};

/// Why a switch was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedSwitchError {
    /// The engine does not run the input (unknown, or disabled), has no backup for it, or
    /// the chosen feed is not live.
    #[error(transparent)]
    Engine(#[from] SwitchError),
    /// No such input in the database, or the audit row could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts `feed` on air for the stored input `id`.
pub async fn switch_stored(
    control: &Control,
    actor: &Actor,
    id: i64,
    feed: Feed,
) -> Result<(), FeedSwitchError> {
    let input = inputs::get(control.pool(), id).await?;
    switch(control, actor, Some(id), input.def.name.as_str(), feed).await
}

/// Puts `feed` on air for the input called `name` (a stored one with its `id`, or one of the
/// configuration file with `None`), then audits the change.
pub async fn switch(
    control: &Control,
    actor: &Actor,
    id: Option<i64>,
    name: &str,
    feed: Feed,
) -> Result<(), FeedSwitchError> {
    let engine = control.engine();
    let before = engine
        .subscribe()
        .borrow()
        .input(name)
        .and_then(|i| i.on_air);
    engine.switch_feed(name, feed)?;
    let before = before.map(Feed::as_str);
    inputs::record_switch(control.pool(), actor, id, name, before, feed.as_str()).await?;
    Ok(())
}
