use super::*;

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    page: Page,
    users: Vec<User>,
    /// The signed-in admin's id.
    me: i64,
    roles: &'static [Role],
    /// What the create form held, after an error.
    email: String,
    role: Role,
    errors: FormErrors,
}

impl UsersPage {
    async fn new(s: &ApiState, session: &Session) -> PanelResult<Self> {
        let Json(list) = api::list_users(State(s.clone()), admin(session)?).await?;
        Ok(UsersPage {
            page: Page::new(s, session, "users").await?,
            users: list.users,
            me: session.user.id,
            roles: ROLES,
            email: String::new(),
            role: Role::Visor,
            errors: FormErrors::default(),
        })
    }

    fn when(&self, t: &OffsetDateTime) -> String {
        when(*t)
    }

    fn failed(mut self, form: &'static str, id: i64, fields: &[&str], e: &ApiError) -> Response {
        let text = explain(&self.page, e);
        self.errors = FormErrors::new(form, id, fields, e, text);
        render_status(e.status, &self)
    }
}

/// `GET /users`.
pub async fn users_page(
    State(s): State<ApiState>,
    session: Session,
    Query(q): Query<Notice>,
) -> PanelResult<Response> {
    let mut view = UsersPage::new(&s, &session).await?;
    view.page = view.page.with_notice(q.ok.as_deref());
    Ok(render_status(StatusCode::OK, &view))
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    email: String,
    password: SecretString,
    role: String,
}

/// `POST /users`.
pub async fn create_user(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<NewUserForm>,
) -> PanelResult<Response> {
    const FIELDS: &[&str] = &["email", "password", "role"];
    let can = admin(&session)?;
    let role = parse_role(&f.role);
    let result = match role.clone() {
        Ok(role) => {
            let body = NewUser {
                email: f.email.clone(),
                password: f.password,
                role,
            };
            api::create_user(State(s.clone()), can, Body(body))
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done("/users", "created")),
        Err(e) => {
            let mut view = UsersPage::new(&s, &session).await?;
            view.email = f.email.chars().take(254).collect();
            view.role = role.unwrap_or(Role::Visor);
            Ok(view.failed("create", 0, FIELDS, &e))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    role: String,
    /// Checkboxes: present only when ticked.
    #[serde(default)]
    totp_required: Option<String>,
    #[serde(default)]
    disabled: Option<String>,
}

/// `POST /users/{id}`: role, 2FA required, disabled.
pub async fn update_user(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<UserForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = match parse_role(&f.role) {
        Ok(role) => {
            let body = UserPatchBody {
                role: Some(role),
                disabled: Some(f.disabled.is_some()),
                totp_required: Some(f.totp_required.is_some()),
            };
            api::update_user(State(s.clone()), can, Path(id), Body(body))
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done("/users", "saved")),
        Err(e) => {
            let view = UsersPage::new(&s, &session).await?;
            Ok(view.failed("user", id, &["role"], &e))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    password: SecretString,
}

/// `POST /users/{id}/password`. A new password ends the user's sessions; when the admin
/// sets their own, this browser gets a fresh one.
pub async fn set_user_password(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<PasswordForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let body = SetPassword {
        password: f.password,
    };
    match api::set_user_password(State(s.clone()), can, Path(id), Body(body)).await {
        Ok(_) if id == session.user.id => {
            let pool = s.control.pool();
            let token = panel_sessions::create(pool, id, false, s.config.panel).await?;
            Ok(with_session("/users?ok=password", &token, &session.visitor))
        }
        Ok(_) => Ok(done("/users", "password")),
        Err(e) => {
            let view = UsersPage::new(&s, &session).await?;
            Ok(view.failed("password", id, &["password"], &e))
        }
    }
}

/// `POST /users/{id}/totp-reset`: turns the user's 2FA off (a lost phone).
pub async fn reset_user_totp(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    match api::reset_user_totp(State(s.clone()), can, Path(id)).await {
        Ok(_) => Ok(done("/users", "totp_off")),
        Err(e) => {
            let view = UsersPage::new(&s, &session).await?;
            Ok(view.failed("row", id, &[], &e))
        }
    }
}

/// `POST /users/{id}/delete`.
pub async fn delete_user(
    Path(id): Path<i64>,
    State(s): State<ApiState>,
    session: Session,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    match api::delete_user(State(s.clone()), can, Path(id)).await {
        Ok(_) => Ok(done("/users", "deleted")),
        Err(e) => {
            let view = UsersPage::new(&s, &session).await?;
            Ok(view.failed("row", id, &[], &e))
        }
    }
}
