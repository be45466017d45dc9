//! Email templates (minijinja), compiled into the binary from `templates/emails/`. Each
//! email is `<name>.txt` (blocks `subject` and `body`: the plain-text part) and
//! `<name>.html` (the HTML part; `.html` templates are auto-escaped).

use minijinja::Environment;
use serde::Serialize;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/emails/", $name)))),*]
    };
}

const FILES: &[(&str, &str)] = templates![
    "layout.html",
    "order_table.html",
    "order_lines.txt",
    "checkout_received.txt",
    "checkout_received.html",
    "payment_failed.txt",
    "payment_failed.html",
    "order_placed.txt",
    "order_placed.html",
    "order_failed.txt",
    "order_failed.html",
    "order_cancelled.txt",
    "order_cancelled.html",
    "order_shipped.txt",
    "order_shipped.html",
    "refund_issued.txt",
    "refund_issued.html",
    "receipt.txt",
    "receipt.html",
    "stock_alert.txt",
    "stock_alert.html",
    "ops_alert.txt",
    "ops_alert.html",
];

/// A rendered email.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Parses every template; a syntax error fails here, at start-up.
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        for (name, source) in FILES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders `<name>.txt` and `<name>.html` with `context`.
    pub fn render<C: Serialize>(
        &self,
        name: &str,
        context: C,
    ) -> Result<Rendered, minijinja::Error> {
        let context = minijinja::Value::from_serialize(&context);
        let text = self.env.get_template(&format!("{name}.txt"))?;
        let mut captured = text.render_captured(&context)?;
        let (subject, body) = captured.with_state_mut(|state| {
            Ok::<_, minijinja::Error>((state.render_block("subject")?, state.render_block("body")?))
        })?;
        let html = self
            .env
            .get_template(&format!("{name}.html"))?
            .render(&context)?;
        Ok(Rendered {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: body.trim_start().to_owned(),
            html,
        })
    }
}
