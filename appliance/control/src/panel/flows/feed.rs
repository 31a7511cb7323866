//! `POST /inputs/{id}/feed/{main|backup}`: the «Pasar a respaldo» / «Volver a principal»
//! buttons of an input with a backup (issue #18). They call the API's own switch
//! ([`crate::feed_switch`]: the engine switches at the chosen feed's next keyframe, the
//! change is audited) as the signed-in user, and go back to the page they were pressed on
//! with a notice, or with an error notice that says why the switch was refused.

use relevo_engine::metrics::Feed;
use relevo_engine::SwitchError;

use super::*;
use crate::feed_switch::{switch_stored, FeedSwitchError};
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

pub async fn switch_feed(
    State(s): State<ApiState>,
    session: Session,
    Path((id, feed)): Path<(i64, String)>,
    headers: axum::http::HeaderMap,
) -> PanelResult<Response> {
    let can = operator(&session)?;
    let feed = match feed.as_str() {
        "main" => Feed::Main,
        "backup" => Feed::Backup,
        _ => return Err(ApiError::not_found("feed").into()),
    };
    let to = back(&headers, &format!("/inputs/{id}"));
    match switch_stored(&s.control, &can.0.actor(), id, feed).await {
        Ok(()) => Ok(done(&to, "switched")),
        Err(FeedSwitchError::Engine(e)) => Ok(refused(&to, alert_for(&e, feed))),
        Err(FeedSwitchError::Store(e)) => Err(ApiError::from(e).into()),
    }
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
