//! A form's error in the panel: the API's refusal placed on the form it came from and, when
//! it names one of that form's inputs, on the input (`aria-invalid` and the text beside
//! it); otherwise above the form. Pages with several forms (one per user row) tell them
//! apart by form name and row id.

use std::borrow::Borrow;

use crate::api::error::ApiError;

/// An API error placed on the form it came from and, when it names one of the form's
/// inputs, on that input; otherwise it is shown above the form.
#[derive(Debug, Default)]
pub struct FormErrors(Option<FormError>);

#[derive(Debug)]
struct FormError {
    form: &'static str,
    /// The row the form belongs to (a user's id); 0 for a page's own forms.
    id: i64,
    field: Option<String>,
    text: String,
}

impl FormErrors {
    /// `e`, explained as `text`, on `form` (of row `id`) whose inputs are `fields`.
    pub fn new(form: &'static str, id: i64, fields: &[&str], e: &ApiError, text: String) -> Self {
        let field = e
            .field
            .as_deref()
            .map(|f| f.rsplit('.').next().unwrap_or(f))
            .filter(|f| fields.contains(f))
            .map(str::to_owned);
        FormErrors(Some(FormError {
            form,
            id,
            field,
            text,
        }))
    }

    // The ids are `Borrow<i64>`: askama passes a literal by value, a field by reference.

    fn of(&self, form: &str, id: impl Borrow<i64>) -> Option<&FormError> {
        let id = *id.borrow();
        self.0.as_ref().filter(|e| e.form == form && e.id == id)
    }

    /// The error of input `field` of `form`.
    pub fn on(&self, form: &str, id: impl Borrow<i64>, field: &str) -> Option<&str> {
        self.of(form, id)
            .filter(|e| e.field.as_deref() == Some(field))
            .map(|e| e.text.as_str())
    }

    /// The error of `form` as a whole.
    pub fn above(&self, form: &str, id: impl Borrow<i64>) -> Option<&str> {
        self.of(form, id)
            .filter(|e| e.field.is_none())
            .map(|e| e.text.as_str())
    }

    /// Whether the error belongs to a form of row `id` (to open that row's details).
    pub fn in_row(&self, id: impl Borrow<i64>) -> bool {
        let id = *id.borrow();
        self.0.as_ref().is_some_and(|e| e.id == id && id != 0)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn errors_land_on_their_field_or_above() {
        let e = ApiError::invalid("email", "bad");
        let errors = FormErrors::new("create", 0, &["email"], &e, "text".into());
        assert_eq!(errors.on("create", 0, "email"), Some("text"));
        assert_eq!(errors.above("create", 0), None);
        assert_eq!(errors.on("user", 0, "email"), None);
        let e = ApiError::new(StatusCode::CONFLICT, "last_admin", "no");
        let errors = FormErrors::new("row", 7, &[], &e, "text".into());
        assert_eq!(errors.above("row", 7), Some("text"));
        assert!(errors.in_row(7));
        assert!(!errors.in_row(8));
    }
}
