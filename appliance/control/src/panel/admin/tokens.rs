use super::*;

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    page: Page,
    tokens: Vec<ApiToken>,
    roles: &'static [Role],
    /// What the create form held, after an error.
    name: String,
    role: Role,
    /// The token just created, its secret shown this once.
    created: Option<CreatedToken>,
    errors: FormErrors,
}

impl TokensPage {
    async fn new(s: &ApiState, session: &Session) -> PanelResult<Self> {
        let Json(list) = api::list_tokens(State(s.clone()), admin(session)?).await?;
        Ok(TokensPage {
            page: Page::new(s, session, "tokens").await?,
            tokens: list.tokens,
            roles: ROLES,
            name: String::new(),
            role: Role::Visor,
            created: None,
            errors: FormErrors::default(),
        })
    }

    fn when(&self, t: &OffsetDateTime) -> String {
        when(*t)
    }
}

/// `GET /tokens`.
pub async fn tokens_page(
    State(s): State<ApiState>,
    session: Session,
    Query(q): Query<Notice>,
) -> PanelResult<Response> {
    let mut view = TokensPage::new(&s, &session).await?;
    view.page = view.page.with_notice(q.ok.as_deref());
    Ok(render_status(StatusCode::OK, &view))
}

#[derive(Debug, Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: String,
}

/// `POST /tokens`: answers with the page itself, since the token is shown only once.
pub async fn create_token(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<NewTokenForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let role = parse_role(&f.role);
    let result = match role.clone() {
        Ok(role) => {
            let body = NewToken {
                name: f.name.clone(),
                role,
            };
            api::create_token(State(s.clone()), can, Body(body)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((_, Json(created))) => {
            // Listed after creation, so the new token is in the table too.
            let mut view = TokensPage::new(&s, &session).await?;
            view.page = view.page.with_notice(Some("created"));
            view.created = Some(created);
            Ok(render_status(StatusCode::OK, &view))
        }
        Err(e) => {
            let mut view = TokensPage::new(&s, &session).await?;
            view.name = f.name.chars().take(100).collect();
            view.role = role.unwrap_or(Role::Visor);
            let text = explain(&view.page, &e);
            view.errors = FormErrors::new("create", 0, &["name", "role"], &e, text);
            Ok(render_status(e.status, &view))
        }
    }
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke_token(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    match api::revoke_token(State(s.clone()), can, Path(id)).await {
        Ok(_) => Ok(done("/tokens", "revoked")),
        Err(e) => {
            let mut view = TokensPage::new(&s, &session).await?;
            let text = explain(&view.page, &e);
            view.errors = FormErrors::new("list", 0, &[], &e, text);
            Ok(render_status(e.status, &view))
        }
    }
}
