use super::*;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    page: Page,
    product_name: String,
    primary_color: String,
    has_logo: bool,
    allow_private_destinations: bool,
    errors: FormErrors,
}

impl SettingsPage {
    async fn new(s: &ApiState, session: &Session) -> PanelResult<Self> {
        let Json(view) = api::get_settings(State(s.clone()), admin(session)?).await?;
        let brand = view.brand;
        Ok(SettingsPage {
            page: Page::new(s, session, "settings").await?,
            product_name: brand.product_name,
            primary_color: brand.primary_color,
            has_logo: brand.has_logo,
            allow_private_destinations: view.allow_private_destinations,
            errors: FormErrors::default(),
        })
    }

    fn failed(mut self, form: &'static str, fields: &[&str], e: &ApiError) -> Response {
        let text = explain(&self.page, e);
        // The type of a logo is a property of the file: shown on the file input.
        let e = match e.field.as_deref() {
            Some("mime") => e.clone().field("logo"),
            _ => e.clone(),
        };
        self.errors = FormErrors::new(form, 0, fields, &e, text);
        render_status(e.status, &self)
    }
}

/// `GET /settings`.
pub async fn settings_page(
    State(s): State<ApiState>,
    session: Session,
    Query(q): Query<Notice>,
) -> PanelResult<Response> {
    let mut view = SettingsPage::new(&s, &session).await?;
    view.page = view.page.with_notice(q.ok.as_deref());
    Ok(render_status(StatusCode::OK, &view))
}

#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    product_name: String,
    primary_color: String,
}

/// `POST /settings`: product name and main colour.
pub async fn update_settings(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<SettingsForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let body = SettingsPatch {
        product_name: Some(f.product_name.clone()),
        primary_color: Some(f.primary_color.clone()),
        allow_private_destinations: None,
    };
    match api::update_settings(State(s.clone()), can, Body(body)).await {
        Ok(_) => Ok(done("/settings", "saved")),
        Err(e) => {
            let mut view = SettingsPage::new(&s, &session).await?;
            view.product_name = f.product_name.chars().take(100).collect();
            view.primary_color = f.primary_color.chars().take(7).collect();
            Ok(view.failed("brand", &["product_name", "primary_color"], &e))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DestinationsForm {
    /// A checkbox: present when ticked.
    #[serde(default)]
    allow_private_destinations: Option<String>,
}

/// `POST /settings/destinations`: whether API flows may reach private addresses.
pub async fn update_destinations(
    State(s): State<ApiState>,
    session: Session,
    Form(f): Form<DestinationsForm>,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let body = SettingsPatch {
        product_name: None,
        primary_color: None,
        allow_private_destinations: Some(f.allow_private_destinations.is_some()),
    };
    match api::update_settings(State(s.clone()), can, Body(body)).await {
        Ok(_) => Ok(done("/settings", "saved")),
        Err(e) => {
            let view = SettingsPage::new(&s, &session).await?;
            Ok(view.failed("destinations", &[], &e))
        }
    }
}

/// The `logo` part of the upload form: its declared type and its bytes.
async fn logo_part(mut form: Multipart) -> Result<(String, Bytes), ApiError> {
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "over 1 MiB").field("logo");
    while let Some(field) = form.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", e.body_text()).field("logo")
        }
    })? {
        if field.name() != Some("logo") {
            continue;
        }
        let mime = field.content_type().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", e.body_text()).field("logo")
            }
        })?;
        if bytes.is_empty() {
            break;
        }
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(too_large());
        }
        return Ok((mime, bytes));
    }
    Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_file", "choose a file").field("logo"))
}

/// `POST /settings/logo?_csrf=…` (multipart, field `logo`): hands the file to the API as
/// its body, with the type the browser gave it.
pub async fn upload_logo(
    State(s): State<ApiState>,
    session: Session,
    form: Multipart,
) -> PanelResult<Response> {
    let can = admin(&session)?;
    let result = match logo_part(form).await {
        Ok((mime, bytes)) => {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&mime) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            api::set_logo(State(s.clone()), can, headers, bytes).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(done("/settings", "saved")),
        Err(e) => {
            let view = SettingsPage::new(&s, &session).await?;
            Ok(view.failed("logo", &["logo"], &e))
        }
    }
}

/// `POST /settings/logo/delete`.
pub async fn clear_logo(State(s): State<ApiState>, session: Session) -> PanelResult<Response> {
    let can = admin(&session)?;
    match api::clear_logo(State(s.clone()), can).await {
        Ok(_) => Ok(done("/settings", "saved")),
        Err(e) => {
            let view = SettingsPage::new(&s, &session).await?;
            Ok(view.failed("logo", &[], &e))
        }
    }
}
