//! Following a recipe in one browser session: everything up to the final click
//! ([`prepare`]), then the click and the confirmation ([`submit`]). The caller records
//! the attempt as submitting between the two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cartwright_shared::placement::tolerance::{self, Verdict};
use cartwright_shared::text;
use fantoccini::error::CmdError;
use fantoccini::{Client, Locator};
use url::Url;

use super::recipe::{Recipe, Step};

/// One order line as the retailer must sell it.
#[derive(Debug, Clone)]
pub struct Line {
    pub sku: String,
    pub quantity: i32,
    /// The price the customer was charged, minor units.
    pub unit_price: i64,
}

pub struct Job<'a> {
    pub recipe: &'a Recipe,
    pub base_url: &'a str,
    pub lines: &'a [Line],
    /// Shipping address fields (`name`, `line1`, …), empty strings when absent.
    pub address: &'a BTreeMap<String, String>,
    /// The store's tolerance above a line's unit price (`stores.price_tolerance_bps`).
    pub price_tolerance_bps: i32,
    pub step_timeout: Duration,
}

/// Why automation stopped.
#[derive(Debug)]
pub enum Stop {
    /// Before the final click, for a reason a person must handle (`captcha`,
    /// `sign_in_wall`, `out_of_stock`, `price_changed`, `page_changed`).
    Refused {
        reason: &'static str,
        detail: String,
    },
    /// Before the final click, worth another try (timeout, session lost).
    Transient(String),
    /// After the final click without a confirmation: maybe bought.
    Uncertain(String),
}

#[derive(Debug)]
pub struct Placed {
    pub store_order_number: String,
    pub total: i64,
}

/// How long a required element may take to appear on a loaded page (pages are plain
/// HTML, so it is there at load or never), capped by the step timeout.
const ELEMENT_WAIT: Duration = Duration::from_secs(2);

impl Job<'_> {
    fn element_wait(&self) -> Duration {
        ELEMENT_WAIT.min(self.step_timeout)
    }

    async fn step<T>(
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

    async fn present(&self, client: &Client, selector: &str) -> Result<bool, Stop> {
        let found = self
            .step(
                &format!("looking for {selector}"),
                client.find_all(Locator::Css(selector)),
            )
            .await?;
        Ok(!found.is_empty())
    }

    async fn require(&self, client: &Client, selector: &str) -> Result<(), Stop> {
        let wait = client
            .wait()
            .at_most(self.element_wait())
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(selector));
        // The element wait ends first (→ page_changed); this only catches a hung session.
        match tokio::time::timeout(self.step_timeout + self.element_wait(), wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(CmdError::WaitTimeout)) => Err(page_changed(selector)),
            Ok(Err(err)) if err.is_no_such_element() => Err(page_changed(selector)),
            Ok(Err(err)) => Err(Stop::Transient(format!("waiting for {selector}: {err}"))),
            Err(_) => Err(Stop::Transient(format!(
                "waiting for {selector}: timed out"
            ))),
        }
    }

    /// The address and the company's card reference are typed only into the store's own
    /// pages: a page that sent the browser elsewhere (a hijacked link, a changed checkout)
    /// stops automation before anything is filled in, and before the final click.
    async fn on_store_site(&self, client: &Client) -> Result<(), Stop> {
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

    /// The store's detectors, on the page now shown.
    async fn detect(&self, client: &Client) -> Result<(), Stop> {
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

    async fn run_step(
        &self,
        client: &Client,
        step: &Step,
        values: &BTreeMap<String, String>,
        line: Option<&Line>,
    ) -> Result<(), Stop> {
        match step {
            Step::Open { path, wait_for } => {
                let url = format!("{}{}", self.base_url, Recipe::fill_in(path, values));
                self.step(&format!("opening {url}"), client.goto(&url))
                    .await?;
                self.detect(client).await?;
                self.require(client, wait_for).await
            }
            Step::Fill {
                selector,
                value,
                optional,
            } => {
                let filled = Recipe::fill_in(value, values);
                // Intake refuses these; an address stored before it did, or written past
                // it, must still not reach WebDriver, which types U+E000–U+E05D as keys
                // (Enter submits the form before the worker's final click).
                let value: String = filled
                    .chars()
                    .filter(|c| !text::is_hidden_or_private(*c))
                    .collect();
                if value.len() != filled.len() {
                    tracing::warn!(%selector, "left private-use or format characters out of the typed text");
                }
                if *optional && value.is_empty() {
                    return Ok(());
                }
                self.on_store_site(client).await?;
                self.require(client, selector).await?;
                let what = format!("filling {selector}");
                let field = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                self.step(&what, field.clear()).await?;
                self.step(&what, field.send_keys(&value)).await
            }
            Step::Select { selector, value } => {
                let value = Recipe::fill_in(value, values);
                self.on_store_site(client).await?;
                self.require(client, selector).await?;
                let what = format!("choosing {value:?} in {selector}");
                let field = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                self.step(&what, field.select_by_value(&value)).await
            }
            Step::Click { selector, wait_for } => {
                self.detect(client).await?;
                self.require(client, selector).await?;
                let what = format!("clicking {selector}");
                let button = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                self.step(&what, button.click()).await?;
                self.detect(client).await?;
                match wait_for {
                    Some(wait_for) => self.require(client, wait_for).await,
                    None => Ok(()),
                }
            }
            Step::CheckPrice {
                selector,
                attribute,
            } => {
                let Some(line) = line else {
                    return Ok(());
                };
                self.require(client, selector).await?;
                let what = format!("reading the price at {selector}");
                let element = self
                    .step(&what, client.find(Locator::Css(selector)))
                    .await?;
                let raw = self.step(&what, element.attr(attribute)).await?;
                let cents: i64 = raw
                    .as_deref()
                    .and_then(|r| r.trim().parse().ok())
                    .ok_or_else(|| page_changed(&format!("{selector}[{attribute}]")))?;
                match tolerance::compare(line.unit_price, cents, self.price_tolerance_bps) {
                    Verdict::Within => Ok(()),
                    Verdict::Over { .. } => Err(refused(
                        "price_changed",
                        format!(
                            "{} costs {cents} at the retailer, expected {} (+{})",
                            line.sku,
                            line.unit_price,
                            tolerance::percent(self.price_tolerance_bps)
                        ),
                    )),
                }
            }
        }
    }
}

fn refused(reason: &'static str, detail: String) -> Stop {
    Stop::Refused { reason, detail }
}

fn page_changed(what: &str) -> Stop {
    refused("page_changed", format!("required element missing: {what}"))
}

/// Scheme, host and port: what a browser treats as one site. An unparsable base URL, or
/// a page without an origin (`about:blank`, `data:`), is never the same.
fn same_origin(base_url: &str, page: &Url) -> bool {
    Url::parse(base_url).is_ok_and(|base| base.origin() == page.origin())
}

/// Every step up to, not including, the final click; ends on the page with the submit
/// button, after checking the detectors once more.
pub async fn prepare(client: &Client, job: &Job<'_>) -> Result<(), Stop> {
    let mut values = job.recipe.vars.clone();
    values.extend(job.address.iter().map(|(k, v)| (k.clone(), v.clone())));
    for line in job.lines {
        let mut item = values.clone();
        item.insert("sku".into(), line.sku.clone());
        item.insert(
            "product_id".into(),
            job.recipe.product_id(&line.sku).to_owned(),
        );
        item.insert("quantity".into(), line.quantity.to_string());
        for step in &job.recipe.item_steps {
            job.run_step(client, step, &item, Some(line)).await?;
        }
    }
    for step in &job.recipe.checkout_steps {
        job.run_step(client, step, &values, None).await?;
    }
    job.detect(client).await?;
    job.on_store_site(client).await?;
    job.require(client, &job.recipe.place_order.submit).await
}

/// The final click and the confirmation. Every failure here is [`Stop::Uncertain`].
pub async fn submit(client: &Client, job: &Job<'_>) -> Result<Placed, Stop> {
    let place = &job.recipe.place_order;
    let uncertain = |e: Stop| match e {
        Stop::Uncertain(m) | Stop::Transient(m) => Stop::Uncertain(m),
        Stop::Refused { reason, detail } => Stop::Uncertain(format!("{reason}: {detail}")),
    };
    let what = format!("clicking {}", place.submit);
    let button = job
        .step(&what, client.find(Locator::Css(&place.submit)))
        .await
        .map_err(uncertain)?;
    job.step(&what, button.click()).await.map_err(uncertain)?;
    // Confirmation or error page, whichever shows first.
    let deadline = tokio::time::Instant::now() + job.step_timeout;
    loop {
        if job
            .present(client, &place.confirmation)
            .await
            .map_err(uncertain)?
        {
            break;
        }
        for error in &place.error {
            if job.present(client, error).await.map_err(uncertain)? {
                return Err(Stop::Uncertain(format!(
                    "the retailer showed an error page ({error}) after the order was submitted"
                )));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Stop::Uncertain(format!(
                "no confirmation ({}) within {:?} of submitting",
                place.confirmation, job.step_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read = async {
        let number = client
            .find(Locator::Css(&place.order_number))
            .await?
            .text()
            .await?;
        let total = client
            .find(Locator::Css(&place.total))
            .await?
            .attr(&place.total_attribute)
            .await?;
        Ok::<_, CmdError>((number, total))
    };
    let (number, total) = job
        .step("reading the confirmation", read)
        .await
        .map_err(uncertain)?;
    let total = total
        .as_deref()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| Stop::Uncertain(format!("no total in {}", place.total_attribute)))?;
    let number = number.trim().to_owned();
    if number.is_empty() {
        return Err(Stop::Uncertain(
            "the confirmation shows no order number".into(),
        ));
    }
    Ok(Placed {
        store_order_number: number,
        total,
    })
}

/// Where one attempt's evidence went.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    pub dir: Option<PathBuf>,
    pub screenshot: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// A screenshot (PNG) and the page's HTML, as `<dir>/<attempt>-<stage>.png|html`.
/// Best effort: a lost session leaves what could be written.
pub async fn keep_evidence(client: &Client, dir: &Path, attempt: i64, stage: &str) -> Evidence {
    let mut evidence = Evidence {
        dir: Some(dir.to_owned()),
        ..Evidence::default()
    };
    if let Err(err) = tokio::fs::create_dir_all(dir).await {
        tracing::warn!(error = %err, dir = %dir.display(), "cannot create the evidence directory");
        return evidence;
    }
    let wait = Duration::from_secs(10);
    if let Ok(Ok(png)) = tokio::time::timeout(wait, client.screenshot()).await {
        let path = dir.join(format!("{attempt}-{stage}.png"));
        if tokio::fs::write(&path, png).await.is_ok() {
            evidence.screenshot = Some(path);
        }
    }
    if let Ok(Ok(html)) = tokio::time::timeout(wait, client.source()).await {
        let path = dir.join(format!("{attempt}-{stage}.html"));
        if tokio::fs::write(&path, html).await.is_ok() {
            evidence.html = Some(path);
        }
    }
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(url: &str) -> Url {
        Url::parse(url).unwrap()
    }

    #[test]
    fn only_the_stores_own_origin_is_its_site() {
        let base = "http://127.0.0.1:8090/nordwind";
        for on in [
            "http://127.0.0.1:8090/nordwind/checkout",
            "http://127.0.0.1:8090/nordwind/account/sign-in?return_to=/nordwind/checkout",
            "http://127.0.0.1:8090/",
        ] {
            assert!(same_origin(base, &page(on)), "{on}");
        }
        for off in [
            "http://127.0.0.1:8091/nordwind/checkout",
            "https://127.0.0.1:8090/nordwind/checkout",
            "http://localhost:8090/nordwind/checkout",
            "http://127.0.0.1.evil.test:8090/nordwind/checkout",
            "http://evil.test/?next=http://127.0.0.1:8090/nordwind",
            "about:blank",
            "data:text/html,<form>",
        ] {
            assert!(!same_origin(base, &page(off)), "{off}");
        }
        assert!(same_origin(
            "https://shop.example",
            &page("https://shop.example:443/checkout")
        ));
        assert!(!same_origin("not a url", &page("http://127.0.0.1:8090/")));
    }
}
