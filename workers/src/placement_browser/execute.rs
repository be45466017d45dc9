//! Following a recipe in one browser session: everything up to the final click
//! ([`prepare`]), then the click and the confirmation ([`submit`]). The caller records
//! the attempt as submitting between the two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::{Client, Locator};
use url::Url;

use super::recipe::{AmountFormat, OPTION_PREFIX, Recipe};
use super::steps::Done;

/// One order line as the retailer must sell it.
#[derive(Debug, Clone)]
pub struct Line {
    pub sku: String,
    pub quantity: i32,
    /// The price the customer was charged, minor units.
    pub unit_price: i64,
    /// The line's options as its SKU had them when it was ordered (`{option.size}`).
    pub options: BTreeMap<String, String>,
}

pub struct Job<'a> {
    pub recipe: &'a Recipe,
    pub base_url: &'a str,
    pub lines: &'a [Line],
    /// Shipping address fields (`name`, `line1`, …), empty strings when absent.
    pub address: &'a BTreeMap<String, String>,
    /// The order's currency (lower-case ISO code): the one prices and totals must show.
    pub currency: &'a str,
    /// The store's tolerance above a line's unit price (`stores.price_tolerance_bps`).
    pub price_tolerance_bps: i32,
    pub step_timeout: Duration,
    /// What each step did, for the attempt's evidence.
    pub log: StepLog,
}

/// One line per step run or skipped, kept with the attempt's screenshot and HTML so the
/// person checking an order sees which steps applied (a consent banner skipped on the
/// second product) and where it stopped.
#[derive(Debug, Default)]
pub struct StepLog(Mutex<Vec<String>>);

impl StepLog {
    pub fn note(&self, line: String) {
        self.0.lock().expect("step log").push(line);
    }

    pub fn text(&self) -> String {
        let lines = self.0.lock().expect("step log");
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
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

impl Stop {
    fn describe(&self) -> String {
        match self {
            Stop::Refused { reason, detail } => format!("{reason}: {detail}"),
            Stop::Transient(m) | Stop::Uncertain(m) => m.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Placed {
    pub store_order_number: String,
    pub total: i64,
}

pub(super) fn refused(reason: &'static str, detail: String) -> Stop {
    Stop::Refused { reason, detail }
}

pub(super) fn page_changed(what: &str) -> Stop {
    refused("page_changed", format!("required element missing: {what}"))
}

/// Scheme, host and port: what a browser treats as one site. An unparsable base URL, or
/// a page without an origin (`about:blank`, `data:`), is never the same.
pub(super) fn same_origin(base_url: &str, page: &Url) -> bool {
    Url::parse(base_url).is_ok_and(|base| base.origin() == page.origin())
}

/// Every step up to, not including, the final click; ends on the page with the submit
/// button, after checking the detectors once more.
pub async fn prepare(client: &Client, job: &Job<'_>) -> Result<(), Stop> {
    options_present(job)?;
    let mut values = job.recipe.vars.clone();
    values.extend(job.address.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (n, line) in job.lines.iter().enumerate() {
        let mut item = values.clone();
        item.insert("sku".into(), line.sku.clone());
        item.insert(
            "product_id".into(),
            job.recipe.product_id(&line.sku).to_owned(),
        );
        item.insert("quantity".into(), line.quantity.to_string());
        item.extend(
            line.options
                .iter()
                .map(|(name, value)| (format!("{OPTION_PREFIX}{name}"), value.clone())),
        );
        for (i, step) in job.recipe.item_steps.iter().enumerate() {
            let at = format!("line {} ({}) item_steps[{i}]", n + 1, line.sku);
            logged(job, at, step, job.run_step(client, step, &item, Some(line))).await?;
        }
    }
    for (i, step) in job.recipe.checkout_steps.iter().enumerate() {
        let at = format!("checkout_steps[{i}]");
        logged(job, at, step, job.run_step(client, step, &values, None)).await?;
    }
    job.detect(client).await?;
    job.on_store_site(client).await?;
    job.require(
        client,
        &job.recipe.place_order.submit,
        job.element_wait(None),
    )
    .await
}

/// Every `{option.X}` the item steps use is an option of every line, checked before the
/// first step: a line without it would leave the retailer's preselected value (some
/// size) standing, so it goes to a person as `page_changed` instead, nothing clicked.
fn options_present(job: &Job<'_>) -> Result<(), Stop> {
    for (n, line) in job.lines.iter().enumerate() {
        for (i, step) in job.recipe.item_steps.iter().enumerate() {
            for name in step.options_used() {
                if !line.options.contains_key(name) {
                    let has = if line.options.is_empty() {
                        "none".to_owned()
                    } else {
                        line.options.keys().cloned().collect::<Vec<_>>().join(", ")
                    };
                    let stop = refused(
                        "page_changed",
                        format!(
                            "line {} ({}) has no option {name:?}, which item_steps[{i}] uses as {{{OPTION_PREFIX}{name}}} (its options: {has})",
                            n + 1,
                            line.sku
                        ),
                    );
                    job.log.note(format!(
                        "line {} ({}) item_steps[{i}] {}: stopped, {}",
                        n + 1,
                        line.sku,
                        step.action.describe(),
                        stop.describe()
                    ));
                    return Err(stop);
                }
            }
        }
    }
    Ok(())
}

/// Runs one step and writes what came of it to the step log.
async fn logged(
    job: &Job<'_>,
    at: String,
    step: &super::recipe::Step,
    run: impl Future<Output = Result<Done, Stop>>,
) -> Result<(), Stop> {
    let what = step.action.describe();
    match run.await {
        Ok(Done::Ran) => {
            job.log.note(format!("{at} {what}: done"));
            Ok(())
        }
        Ok(Done::Skipped(why)) => {
            tracing::info!(step = %at, %what, %why, "step skipped");
            job.log.note(format!("{at} {what}: skipped, {why}"));
            Ok(())
        }
        Err(stop) => {
            job.log
                .note(format!("{at} {what}: stopped, {}", stop.describe()));
            Err(stop)
        }
    }
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
    let number = async {
        client
            .find(Locator::Css(&place.order_number))
            .await?
            .text()
            .await
    };
    let number = job
        .step("reading the confirmation", number)
        .await
        .map_err(uncertain)?;
    let format = AmountFormat::of(place.total_attribute.as_deref(), place.total_format);
    let total = job
        .read_amount(
            client,
            &place.total,
            place.total_attribute.as_deref(),
            format,
        )
        .await
        .map_err(uncertain)?
        .map_err(|unreadable| Stop::Uncertain(format!("the confirmation's total: {unreadable}")))?;
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

/// A screenshot (PNG) and the page's HTML, as `<dir>/<attempt>-<stage>.png|html`, and
/// the step log as `<dir>/<attempt>-steps.txt`. Best effort: a lost session leaves what
/// could be written.
pub async fn keep_evidence(
    client: &Client,
    dir: &Path,
    attempt: i64,
    stage: &str,
    steps: &StepLog,
) -> Evidence {
    let mut evidence = Evidence {
        dir: Some(dir.to_owned()),
        ..Evidence::default()
    };
    if let Err(err) = tokio::fs::create_dir_all(dir).await {
        tracing::warn!(error = %err, dir = %dir.display(), "cannot create the evidence directory");
        return evidence;
    }
    let log = dir.join(format!("{attempt}-steps.txt"));
    if let Err(err) = tokio::fs::write(&log, steps.text()).await {
        tracing::warn!(error = %err, file = %log.display(), "cannot write the step log");
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
