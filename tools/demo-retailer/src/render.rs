//! HTML rendering: minijinja templates compiled into the binary, auto-escaped (every
//! template name ends in `.html`), with a `money` filter turning cents into `89.99`.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::money;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "index.html",
    "nordwind/base.html",
    "nordwind/home.html",
    "nordwind/product.html",
    "nordwind/cart.html",
    "nordwind/checkout.html",
    "nordwind/address_frame.html",
    "nordwind/confirmation.html",
    "nordwind/sign_in.html",
    "nordwind/message.html",
    "rackhouse/base.html",
    "rackhouse/home.html",
    "rackhouse/product.html",
    "rackhouse/basket.html",
    "rackhouse/start.html",
    "rackhouse/checkout.html",
    "rackhouse/confirmation.html",
    "rackhouse/login.html",
    "rackhouse/message.html",
];

pub struct Templates(Environment<'static>);

impl Templates {
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_filter("money", money::format);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Templates(env))
    }

    /// Renders a template into a response with the given status.
    pub fn page(
        &self,
        status: StatusCode,
        name: &str,
        context: impl Serialize,
    ) -> Result<Response, AppError> {
        let html = self.0.get_template(name)?.render(context)?;
        Ok((status, Html(html)).into_response())
    }
}

/// An unexpected failure (a template bug): logged in full, answered with a bare 500.
#[derive(Debug)]
pub struct AppError(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for AppError {
    fn from(err: E) -> Self {
        AppError(err.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = ?self.0, "request failed");
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
    }
}

pub type PageResult = Result<Response, AppError>;

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        super::Templates::load().unwrap();
    }
}
