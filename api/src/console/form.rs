//! The console's form bodies: a page-shaped refusal for a body that cannot be read,
//! and for a NUL character anywhere in it (PostgreSQL cannot store one, so it must
//! never reach a query).

use std::collections::HashMap;

use axum::extract::{Form, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;

use super::error_page;

pub type Fields = HashMap<String, String>;

pub struct ConsoleForm(pub Fields);

impl<S: Send + Sync> FromRequest<S> for ConsoleForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Form(fields) = Form::<Fields>::from_request(req, state)
            .await
            .map_err(|rejection| {
                error_page(
                    rejection.status(),
                    None,
                    &format!("This form could not be read: {}", rejection.body_text()),
                )
            })?;
        if let Some(name) = fields
            .iter()
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
            .map(|(name, _)| name.replace('\0', "\\0"))
        {
            return Err(error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                &format!(
                    "The form field {name:?} contains a NUL character, which no field accepts."
                ),
            ));
        }
        Ok(Self(fields))
    }
}
