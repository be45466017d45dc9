//! What each recipe step does in the browser, and the waits and checks they share:
//! every WebDriver command bounded by the step timeout, elements waited for, the
//! store's detectors, the store's own origin.

use std::collections::BTreeMap;
use std::time::Duration;

use cartwright_shared::placement::tolerance::{self, Verdict};
use cartwright_shared::text;
use fantoccini::elements::{Element, ElementRef};
use fantoccini::error::CmdError;
use fantoccini::{Client, Locator};
use serde_json::json;

use super::execute::{Job, Line, Stop, page_changed, refused, same_origin};
use super::money_text::{self, Unreadable};
use super::recipe::{Action, AmountFormat, ELEMENT_WAIT_MS, Key, Recipe, SelectBy, Step};

/// What came of a step that did not stop automation.
#[derive(Debug)]
pub enum Done {
    Ran,
    /// Not run, and why (its element absent, its value empty).
    Skipped(String),
}

/// Is `element` the final button, or in its form? Enter there would send the order
/// outside the one recorded click.
const SUBMITS_THE_ORDER: &str = "
    const el = arguments[0];
    const submit = document.querySelector(arguments[1]);
    if (!submit) return false;
    const form = (e) => e.form || e.closest('form');
    return el === submit || (form(el) !== null && form(el) === form(submit));";

/// The WebDriver element reference's key in a script's answer.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The `<option>`s of a `<select>` (arguments[0]) whose value, or with arguments[2]
/// whose visible text (trimmed, inner whitespace collapsed, as `option.text` is), is
/// arguments[1]: how many, the one found, whether it is disabled, and what is offered.
const FIND_OPTION: &str = "
    const select = arguments[0], wanted = arguments[1], byText = arguments[2];
    if (select.tagName !== 'SELECT') return { problem: 'not a <select>' };
    const norm = (s) => s.replace(/\\s+/g, ' ').trim();
    const all = Array.from(select.options);
    const found = all.filter((o) => byText ? norm(o.text) === norm(wanted) : o.value === wanted);
    return {
        count: found.length,
        option: found.length === 1 ? found[0] : null,
        disabled: found.length === 1 ? (found[0].disabled || !!found[0].closest('optgroup[disabled]')) : null,
        offered: all.slice(0, 30).map((o) => byText ? norm(o.text) : o.value),
    };";

impl Job<'_> {
    /// How long `step`'s elements may take to appear: its `timeout_ms`, else
    /// [`ELEMENT_WAIT_MS`] capped by the step timeout.
    pub(super) fn element_wait(&self, step: Option<&Step>) -> Duration {
        match step.and_then(|s| s.timeout_ms) {
            Some(ms) => Duration::from_millis(ms),
            None => Duration::from_millis(ELEMENT_WAIT_MS).min(self.step_timeout),
        }
    }

    pub(super) async fn step<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, Stop> {
        match tokio::time::timeout(self.step_timeout, fut).await {
            Err(_) => Err(Stop::Transient(format!(
                "{what}: no answer within {:?}",
                self.step_timeout
            ))),
            Ok(Err(err)) if err.is_no_such_element() => Err(page_changed(what)),
            Ok(Err(err)) => Err(Stop::Transient(format!("{what}: {err}"))),
            Ok(Ok(v)) => Ok(v),
        }
    }

    pub(super) async fn present(&self, client: &Client, selector: &str) -> Result<bool, Stop> {
        let found = self
            .step(
                &format!("looking for {selector}"),
                client.find_all(Locator::Css(selector)),
            )
            .await?;
        Ok(!found.is_empty())
    }

    /// Whether `selector` appears within `wait`.
    async fn appears(&self, client: &Client, selector: &str, wait: Duration) -> Result<bool, Stop> {
        let found = client
            .wait()
            .at_most(wait)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(selector));
        // The element wait ends first; this only catches a hung session.
        match tokio::time::timeout(self.step_timeout + wait, found).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(CmdError::WaitTimeout)) => Ok(false),
            Ok(Err(err)) if err.is_no_such_element() => Ok(false),
            Ok(Err(err)) => Err(Stop::Transient(format!("waiting for {selector}: {err}"))),
            Err(_) => Err(Stop::Transient(format!(
                "waiting for {selector}: timed out"
            ))),
        }
    }

    pub(super) async fn require(
        &self,
        client: &Client,
        selector: &str,
        wait: Duration,
    ) -> Result<(), Stop> {
        if self.appears(client, selector, wait).await? {
            Ok(())
        } else {
            Err(page_changed(selector))
        }
    }

    /// `selector` must leave the page within `wait` (an overlay fading out).
    async fn gone(&self, client: &Client, selector: &str, wait: Duration) -> Result<(), Stop> {
        let deadline = tokio::time::Instant::now() + wait;
        while self.present(client, selector).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(refused(
                    "page_changed",
                    format!("{selector} still on the page {wait:?} after the click"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// The address and the company's card reference are typed only into the store's own
    /// pages: a page that sent the browser elsewhere (a hijacked link, a changed checkout)
    /// stops automation before anything is filled in, and before the final click. Inside
    /// a frame this is still the page's URL: a frame the store's page embeds is part of it.
    pub(super) async fn on_store_site(&self, client: &Client) -> Result<(), Stop> {
        let url = self.step("reading the URL", client.current_url()).await?;
        if same_origin(self.base_url, &url) {
            Ok(())
        } else {
            Err(refused(
                "page_changed",
                format!(
                    "the page is on {}, not the store's {}",
                    url.origin().ascii_serialization(),
                    self.base_url
                ),
            ))
        }
    }

    /// The store's detectors, on the page (or in the frame) now shown.
    pub(super) async fn detect(&self, client: &Client) -> Result<(), Stop> {
        let detectors = &self.recipe.detectors;
        let url = self
            .step("reading the URL", client.current_url())
            .await?
            .to_string();
        if let Some(hit) = detectors
            .sign_in_url
            .iter()
            .find(|p| url.contains(p.as_str()))
        {
            return Err(refused("sign_in_wall", format!("sent to {url} ({hit})")));
        }
        for (reason, selectors) in [
            ("captcha", &detectors.captcha),
            ("sign_in_wall", &detectors.sign_in_wall),
            ("out_of_stock", &detectors.out_of_stock),
        ] {
            for selector in selectors {
                if self.present(client, selector).await? {
                    return Err(refused(reason, format!("{selector} on {url}")));
                }
            }
        }
        Ok(())
    }

    /// The amount at `selector` in minor units of the order's currency; the inner error
    /// is text that cannot be read for certain (the caller decides what that means).
    pub(super) async fn read_amount(
        &self,
        client: &Client,
        selector: &str,
        attribute: Option<&str>,
        format: AmountFormat,
    ) -> Result<Result<i64, String>, Stop> {
        let what = format!("reading the amount at {selector}");
        let element = self
            .step(&what, client.find(Locator::Css(selector)))
            .await?;
        let (raw, source) = match attribute {
            Some(attribute) => (
                self.step(&what, element.attr(attribute)).await?,
                format!("{selector}[{attribute}]"),
            ),
            None => (
                Some(self.step(&what, element.text()).await?),
                selector.to_owned(),
            ),
        };
        let Some(raw) = raw else {
            return Ok(Err(format!("{source} has no value")));
        };
        Ok(match format {
            AmountFormat::MinorUnits => raw
                .trim()
                .parse()
                .map_err(|_| format!("{source}: {raw:?} is not an integer amount")),
            AmountFormat::Money => money_text::parse(&raw, self.currency)
                .map_err(|e: Unreadable| format!("{source}: {e}")),
        })
    }

    /// Chooses the one `<option>` of the `<select>` at `selector` whose value (or visible
    /// text) is `wanted`, with a real click, and checks it is then the chosen one. None,
    /// several, or a disabled one (a size sold out) is a changed page: never another
    /// option, never the preselected one.
    async fn select(
        &self,
        client: &Client,
        selector: &str,
        wanted: &str,
        by: SelectBy,
    ) -> Result<(), Stop> {
        let how = match by {
            SelectBy::Value => "value",
            SelectBy::Text => "text",
        };
        let what = format!("choosing the option with {how} {wanted:?} in {selector}");
        let field = self
            .step(&what, client.find(Locator::Css(selector)))
            .await?;
        let found = client.execute(
            FIND_OPTION,
            vec![json!(field), json!(wanted), json!(by == SelectBy::Text)],
        );
        let found = self.step(&what, found).await?;
        let refuse = |problem: String| refused("page_changed", format!("{selector}: {problem}"));
        if let Some(problem) = found.get("problem").and_then(|p| p.as_str()) {
            return Err(refuse(problem.to_owned()));
        }
        let count = found.get("count").and_then(|c| c.as_u64()).unwrap_or(0);
        let offered = found
            .get("offered")
            .and_then(|o| o.as_array())
            .map(|o| {
                o.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .unwrap_or_default();
        match count {
            0 => {
                return Err(refuse(format!(
                    "no option with {how} {wanted:?} (offered: {offered})"
                )));
            }
            1 => {}
            n => {
                return Err(refuse(format!(
                    "{n} options with {how} {wanted:?}: which one is meant is a guess"
                )));
            }
        }
        if found.get("disabled").and_then(|d| d.as_bool()) != Some(false) {
            return Err(refuse(format!(
                "the option with {how} {wanted:?} is disabled (sold out at the retailer?)"
            )));
        }
        let id = found
            .get("option")
            .and_then(|o| o.get(ELEMENT_KEY))
            .and_then(|id| id.as_str())
            .ok_or_else(|| Stop::Transient(format!("{what}: no element in {found}")))?;
        let option = Element::from_element_id(client.clone(), ElementRef::from(id.to_owned()));
        self.step(&what, option.click()).await?;
        let chosen = client.execute("return arguments[0].selected;", vec![json!(option)]);
        if self.step(&what, chosen).await?.as_bool() != Some(true) {
            return Err(refuse(format!(
                "the option with {how} {wanted:?} was clicked but is not the one chosen"
            )));
        }
        Ok(())
    }

    pub(super) async fn run_step(
        &self,
        client: &Client,
        step: &Step,
        values: &BTreeMap<String, String>,
        line: Option<&Line>,
    ) -> Result<Done, Stop> {
        let wait = self.element_wait(Some(step));
        if let Action::Fill {
            value,
            optional: true,
            ..
        } = &step.action
            && typed(value, values).is_empty()
        {
            return Ok(Done::Skipped("the value is empty".into()));
        }
        // Typed values and keys go only into the store's own pages.
        if matches!(
            step.action,
            Action::Fill { .. } | Action::Select { .. } | Action::Press { .. }
        ) {
            self.on_store_site(client).await?;
        }
        if let Action::Click { .. } = step.action {
            self.detect(client).await?;
        }
        if let Some(selector) = step.action.element()
            && !self.appears(client, selector, wait).await?
        {
            return if step.optional_if_absent {
                Ok(Done::Skipped(format!(
                    "{selector} not on the page within {wait:?}"
                )))
            } else {
                Err(page_changed(selector))
            };
        }
        match &step.action {
            Action::Open { path, wait_for } => {
                let url = format!("{}{}", self.base_url, Recipe::fill_in(path, values));
                self.step(&format!("opening {url}"), client.goto(&url))
                    .await?;
                self.detect(client).await?;
                self.require(client, wait_for, wait).await?;
            }
            Action::Fill {
                selector, value, ..
            } => {
                let value = typed(value, values);
                let what = format!("filling {selector}");
                let field = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                self.step(&what, field.clear()).await?;
                self.step(&what, field.send_keys(&value)).await?;
            }
            Action::Select {
                selector,
                value,
                by,
            } => {
                let value = Recipe::fill_in(value, values);
                self.select(client, selector, &value, *by).await?;
            }
            Action::Click {
                selector,
                wait_for,
                wait_for_gone,
            } => {
                let what = format!("clicking {selector}");
                let button = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                self.step(&what, button.click()).await?;
                if let Some(gone) = wait_for_gone {
                    self.gone(client, gone, wait).await?;
                }
                self.detect(client).await?;
                if let Some(wait_for) = wait_for {
                    self.require(client, wait_for, wait).await?;
                }
            }
            Action::CheckPrice {
                selector,
                attribute,
                format,
            } => {
                let Some(line) = line else {
                    return Ok(Done::Skipped("a price is checked per order line".into()));
                };
                let format = AmountFormat::of(attribute.as_deref(), *format);
                let price = self
                    .read_amount(client, selector, attribute.as_deref(), format)
                    .await?
                    .map_err(|unreadable| {
                        refused(
                            "page_changed",
                            format!("the price of {}: {unreadable}", line.sku),
                        )
                    })?;
                if let Verdict::Over { .. } =
                    tolerance::compare(line.unit_price, price, self.price_tolerance_bps)
                {
                    return Err(refused(
                        "price_changed",
                        format!(
                            "{} costs {price} at the retailer, expected {} (+{})",
                            line.sku,
                            line.unit_price,
                            tolerance::percent(self.price_tolerance_bps)
                        ),
                    ));
                }
            }
            Action::EnterFrame { selector } => {
                let what = format!("entering the frame {selector}");
                let frame = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                self.step(&what, frame.enter_frame()).await?;
            }
            Action::LeaveFrame {} => {
                self.step("leaving the frame", client.enter_parent_frame())
                    .await?;
            }
            Action::Press {
                selector,
                key,
                wait_for,
            } => {
                let what = format!("pressing {key:?} in {selector}");
                let field = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                if *key == Key::Enter {
                    let submit = &self.recipe.place_order.submit;
                    let check =
                        client.execute(SUBMITS_THE_ORDER, vec![json!(field), json!(submit)]);
                    if self.step(&what, check).await?.as_bool() != Some(false) {
                        return Err(refused(
                            "automation_failed",
                            format!(
                                "Enter in {selector} would send the order form ({submit}); only the final click may"
                            ),
                        ));
                    }
                }
                self.step(&what, field.send_keys(&fantoccini::key::Key::from(*key)))
                    .await?;
                if let Some(wait_for) = wait_for {
                    self.require(client, wait_for, wait).await?;
                }
            }
        }
        Ok(Done::Ran)
    }
}

/// A fill's value as typed. Intake refuses private-use and format characters; an address
/// stored before it did, or written past it, must still not reach WebDriver, which types
/// U+E000–U+E05D as keys (Enter submits the form before the worker's final click).
fn typed(value: &str, values: &BTreeMap<String, String>) -> String {
    let filled = Recipe::fill_in(value, values);
    let typed: String = filled
        .chars()
        .filter(|c| !text::is_hidden_or_private(*c))
        .collect();
    if typed.len() != filled.len() {
        tracing::warn!("left private-use or format characters out of the typed text");
    }
    typed
}

impl From<Key> for fantoccini::key::Key {
    fn from(key: Key) -> Self {
        match key {
            Key::Enter => fantoccini::key::Key::Enter,
            Key::Tab => fantoccini::key::Key::Tab,
            Key::Escape => fantoccini::key::Key::Escape,
        }
    }
}
