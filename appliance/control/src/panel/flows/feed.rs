//! `POST /inputs/{id}/feed/{main|backup}` (and `/feeds/{name}/{main|backup}` for an input of
//! the configuration file, which has no id): the «Pasar a respaldo» / «Volver a principal»
//! buttons of an input with a backup (issue #18). They call the API's own switch
//! ([`crate::feed_switch`]: the engine switches at the chosen feed's next keyframe, the
//! change is audited) as the signed-in user, and go back to the page they were pressed on
//! with a notice, or with an error notice that says why the switch was refused.

use relevo_engine::metrics::Feed;
use relevo_engine::SwitchError;

use super::*;
use crate::feed_switch::{switch, switch_stored, FeedSwitchError};
use crate::panel::web::refused;

/// The error notice (`alert.*`) for a refused switch to `feed`.
fn alert_for(e: &SwitchError, feed: Feed) -> &'static str {
    match e {
        SwitchError::NoBackup(_) => "no_backup",
        SwitchError::NotLive(Feed::Backup) => "backup_not_live",
        SwitchError::NotLive(Feed::Main) => "main_not_live",
        // The engine does not run the input (it is stopped): the chosen feed is not live.
        SwitchError::UnknownInput(_) => match feed {
            Feed::Backup => "backup_not_live",
            Feed::Main => "main_not_live",
        },
    }
}

fn parse_feed(feed: &str) -> Result<Feed, ApiError> {
    match feed {
        "main" => Ok(Feed::Main),
        "backup" => Ok(Feed::Backup),
        _ => Err(ApiError::not_found("feed")),
    }
}

/// Back to the page the button was on, with the switch's outcome.
fn outcome(to: &str, feed: Feed, result: Result<(), FeedSwitchError>) -> PanelResult<Response> {
    match result {
        Ok(()) => Ok(done(to, "switched")),
        Err(FeedSwitchError::Engine(e)) => Ok(refused(to, alert_for(&e, feed))),
        Err(FeedSwitchError::Store(e)) => Err(ApiError::from(e).into()),
    }
}

pub async fn switch_feed(
    State(s): State<ApiState>,
    session: Session,
    Path((id, feed)): Path<(i64, String)>,
    headers: axum::http::HeaderMap,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let feed = parse_feed(&feed)?;
    let to = back(&headers, &format!("/inputs/{id}"));
    outcome(
        &to,
        feed,
        switch_stored(&s.control, &can.0.actor(), id, feed).await,
    )
}

/// The same for an input of the configuration file, by name.
pub async fn switch_declared_feed(
    State(s): State<ApiState>,
    session: Session,
    Path((name, feed)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let feed = parse_feed(&feed)?;
    let to = back(&headers, "/");
    outcome(
        &to,
        feed,
        switch(&s.control, &can.0.actor(), None, &name, feed).await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_own_notice() {
        let no = SwitchError::NoBackup("cam".into());
        assert_eq!(alert_for(&no, Feed::Backup), "no_backup");
        let dead = SwitchError::NotLive(Feed::Backup);
        assert_eq!(alert_for(&dead, Feed::Backup), "backup_not_live");
        let stopped = SwitchError::UnknownInput("cam".into());
        assert_eq!(alert_for(&stopped, Feed::Main), "main_not_live");
    }
}
