use super::*;

/// Entries per page.
const AUDIT_PAGE: i64 = 50;

/// The target kinds of the audit log (`store::*` `Target`s) and their words.
const KINDS: &[(&str, &str)] = &[
    ("input", "audit.kind_input"),
    ("output", "audit.kind_output"),
    ("user", "audit.kind_user"),
    ("api_token", "audit.kind_api_token"),
    ("settings", "audit.kind_settings"),
    ("config", "audit.kind_config"),
    ("recording", "audit.kind_recording"),
];

/// The filter form (a GET form: the filters are in the page's address, to share or
/// bookmark). Everything is text so that a hand-edited address cannot fail the page.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AuditFilterForm {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target_kind: Option<String>,
    /// `YYYY-MM-DD` (a date input), from 00:00 UTC.
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    before_id: Option<String>,
}

impl AuditFilterForm {
    /// This page's address with `before_id` set (or not).
    fn href(&self, before_id: Option<i64>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target_kind", &self.target_kind),
            ("since", &self.since),
        ] {
            if let Some(v) = given(v) {
                q.append_pair(k, &v);
            }
        }
        if let Some(id) = before_id {
            q.append_pair("before_id", &id.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/audit".to_owned()
        } else {
            format!("/audit?{q}")
        }
    }
}

/// `YYYY-MM-DD` as 00:00 UTC of that day.
fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let mut it = s.trim().splitn(3, '-');
    let year: i32 = it.next()?.parse().ok()?;
    let month: u8 = it.next()?.parse().ok()?;
    let day: u8 = it.next()?.parse().ok()?;
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    Some(date.midnight().assume_utc())
}

/// One row of the table, ready to show.
struct AuditRow {
    when: String,
    actor: String,
    from: String,
    action: String,
    kind: String,
    target: String,
    before: Option<String>,
    after: Option<String>,
}

impl AuditRow {
    fn new(page: &Page, e: AuditEntry) -> Self {
        let kind = KINDS
            .iter()
            .find(|(k, _)| *k == e.target_kind)
            .map_or_else(|| e.target_kind.clone(), |(_, key)| page.t(key).to_owned());
        let target = match (e.target_name, e.target_id) {
            (Some(name), _) => name,
            (None, Some(id)) => format!("#{id}"),
            (None, None) => String::new(),
        };
        let json = |v: Option<serde_json::Value>| {
            v.filter(|v| !v.is_null())
                .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
        };
        AuditRow {
            when: when(e.at),
            actor: e.actor,
            from: e.from_addr.unwrap_or_default(),
            action: e.action,
            kind,
            target,
            before: json(e.before),
            after: json(e.after),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditView {
    page: Page,
    filter: AuditFilterForm,
    kinds: &'static [(&'static str, &'static str)],
    rows: Vec<AuditRow>,
    /// The next (older) page.
    older: Option<String>,
    /// The first page with the same filters, when this is not it.
    newest: Option<String>,
    errors: FormErrors,
}

/// `GET /audit`: every role reads the log.
pub async fn audit_page(
    State(s): State<ApiState>,
    session: Session,
    Query(f): Query<AuditFilterForm>,
) -> PanelResult<Response> {
    let p = session.principal.clone();
    p.require(Permission::Read)?;
    let page = Page::new(&s, &session, "audit").await?;
    let since = given(&f.since);
    let since_at = since.as_deref().map(parse_date);
    let before_id = given(&f.before_id).and_then(|v| v.parse::<i64>().ok());
    let mut view = AuditView {
        page,
        filter: f,
        kinds: KINDS,
        rows: Vec::new(),
        older: None,
        newest: None,
        errors: FormErrors::default(),
    };
    if let Some(None) = since_at {
        let e = ApiError::invalid("since", "not a date");
        let text = explain(&view.page, &e);
        view.errors = FormErrors::new("filter", 0, &["since"], &e, text);
        return Ok(render_status(e.status, &view));
    }
    let query = AuditQuery {
        actor: given(&view.filter.actor),
        action: given(&view.filter.action),
        target_kind: given(&view.filter.target_kind),
        since: since_at.flatten(),
        until: None,
        before_id,
        limit: Some(AUDIT_PAGE),
    };
    match api::audit_log(State(s.clone()), Can::<READ>(p), Ok(Query(query))).await {
        Ok(Json(found)) => {
            view.older = found.next_before_id.map(|id| view.filter.href(Some(id)));
            view.newest = before_id.map(|_| view.filter.href(None));
            view.rows = found
                .entries
                .into_iter()
                .map(|e| AuditRow::new(&view.page, e))
                .collect();
            Ok(render_status(StatusCode::OK, &view))
        }
        Err(e) => {
            let text = explain(&view.page, &e);
            view.errors = FormErrors::new("filter", 0, &[], &e, text);
            Ok(render_status(e.status, &view))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_seconds() {
        let t = parse_date("2026-11-25").expect("a date") + time::Duration::seconds(50_592);
        assert_eq!(when(t), "2026-11-25 14:03:12");
        let east = t.to_offset(UtcOffset::from_hms(2, 0, 0).expect("offset"));
        assert_eq!(when(east), "2026-11-25 14:03:12");
    }

    #[test]
    fn bad_dates_are_refused() {
        for s in ["", "2026-13-01", "2026-02-30", "25/11/2026", "2026-11"] {
            assert!(parse_date(s).is_none(), "{s}");
        }
    }

    #[test]
    fn older_link_keeps_the_filters() {
        let f = AuditFilterForm {
            actor: Some("ana@example.com".into()),
            action: Some(" ".into()),
            target_kind: Some("input".into()),
            since: None,
            before_id: Some("99".into()),
        };
        assert_eq!(
            f.href(Some(42)),
            "/audit?actor=ana%40example.com&target_kind=input&before_id=42"
        );
        assert_eq!(AuditFilterForm::default().href(None), "/audit");
    }
}
