//! A store's recipe: the steps that buy a list of items on its website, as data
//! (`stores/<store>.toml`, format in docs/recipes.md). Loaded and validated once at
//! start-up; a bad file stops the worker naming the file and the problem.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The `stores.id` this recipe buys from.
    pub store: String,
    /// Used when neither the configuration nor `stores.website_url` names a base URL.
    pub default_base_url: String,
    /// SKU → the retailer's own product id (`{product_id}` in paths); SKUs missing
    /// here use the SKU itself.
    #[serde(default)]
    pub product_ids: BTreeMap<String, String>,
    /// Fixed values the steps can use, e.g. `card_reference`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    pub detectors: Detectors,
    /// Run once per order line, in order.
    pub item_steps: Vec<Step>,
    /// Run once after every line is in the basket, up to the final submit.
    pub checkout_steps: Vec<Step>,
    pub place_order: PlaceOrder,
}

/// Signs that automation must stop and hand the order to a person. Each is a list of
/// CSS selectors; any one present on the current page triggers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detectors {
    pub captcha: Vec<String>,
    pub sign_in_wall: Vec<String>,
    /// Substrings of the URL that mean a sign-in page.
    #[serde(default)]
    pub sign_in_url: Vec<String>,
    pub out_of_stock: Vec<String>,
}

/// One step: what it does, and when it may be skipped or wait longer.
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    /// The step's element may not be there (a consent banner shown on the first visit
    /// only, a newsletter modal): when it does not appear within the step's wait, the
    /// step is skipped and the skip written to the attempt's step log.
    #[serde(default)]
    pub optional_if_absent: bool,
    /// How long the step's elements may take to appear (and `wait_for_gone`'s to go),
    /// for pages a script renders late. Default: [`ELEMENT_WAIT_MS`].
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// How long a required element may take to appear on a loaded page when the step does
/// not say (`timeout_ms`): server-rendered pages have it at load or never.
pub const ELEMENT_WAIT_MS: u64 = 2_000;

/// The longest `timeout_ms` a step may ask for; the whole order is bounded anyway
/// (`BROWSER_ORDER_TIMEOUT_SECS`).
const MAX_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Navigate to base URL + `path`; `wait_for` must then be on the page.
    Open { path: String, wait_for: String },
    /// Type `value` into an input (cleared first). `optional`: skip when the value is
    /// empty.
    Fill {
        selector: String,
        value: String,
        #[serde(default)]
        optional: bool,
    },
    /// Choose the `<option>` whose `value` attribute is `value` or, with
    /// `by = "text"`, whose visible text is (`{option.size}` against "M").
    Select {
        selector: String,
        value: String,
        #[serde(default)]
        by: SelectBy,
    },
    /// Click; `wait_for` (if given) must then be on the page, and `wait_for_gone` (an
    /// overlay fading out) must have left it.
    Click {
        selector: String,
        #[serde(default)]
        wait_for: Option<String>,
        #[serde(default)]
        wait_for_gone: Option<String>,
    },
    /// Read the price at `selector` (its text, or `attribute`) and compare it with the
    /// order line's unit price.
    CheckPrice {
        selector: String,
        #[serde(default)]
        attribute: Option<String>,
        #[serde(default)]
        format: Option<AmountFormat>,
    },
    /// Continue inside the `<iframe>` at `selector` (an embedded address or card form).
    EnterFrame { selector: String },
    /// Back to the page (or frame) around the current frame.
    LeaveFrame {},
    /// Press `key` in the element at `selector`; `wait_for` (if given) must then be on
    /// the page (or in the frame).
    Press {
        selector: String,
        key: Key,
        #[serde(default)]
        wait_for: Option<String>,
    },
}

/// What a `select` step's value is matched against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectBy {
    /// The option's `value` attribute.
    #[default]
    Value,
    /// The option's visible text, whitespace trimmed and collapsed, exactly (case too):
    /// for shops whose values are their own variant ids.
    Text,
}

/// How an amount is written where the recipe reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountFormat {
    /// An integer count of minor units (`data-price-cents="8999"`): the default when an
    /// attribute is read, as recipes written before text prices do.
    MinorUnits,
    /// As the shop shows it (`$1,234.56`, `1.234,56 €`; see `money_text`): the default
    /// for an element's text.
    Money,
}

impl AmountFormat {
    /// The format of an amount read from `attribute` (or the text, without one).
    pub fn of(attribute: Option<&str>, format: Option<AmountFormat>) -> AmountFormat {
        format.unwrap_or(match attribute {
            Some(_) => AmountFormat::MinorUnits,
            None => AmountFormat::Money,
        })
    }
}

/// Keys a `press` step may send. Enter submits forms, so the worker refuses it in the
/// final button's form (the click must stay the only way the order is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Key {
    Enter,
    Tab,
    Escape,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// The final button. Clicked once, after the attempt is recorded as submitting.
    pub submit: String,
    /// What success looks like: this element appears.
    pub confirmation: String,
    /// Elements that mean the submit failed (an error page).
    #[serde(default)]
    pub error: Vec<String>,
    /// The retailer's order number: text of this element.
    pub order_number: String,
    /// The total charged: the text of `total`, or its `total_attribute`.
    pub total: String,
    #[serde(default)]
    pub total_attribute: Option<String>,
    #[serde(default)]
    pub total_format: Option<AmountFormat>,
}

#[derive(Debug, thiserror::Error)]
#[error("recipe {file}: {problem}")]
pub struct RecipeError {
    pub file: String,
    pub problem: String,
}

/// `{option.size}`: the line's option `size` (item steps only).
pub const OPTION_PREFIX: &str = "option.";

/// An option name as the catalog allows it (`[a-z_][a-z0-9_]*`, the API's check).
fn option_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The `{…}` names in `text`, in order (unclosed braces end the list; validation
/// refuses them).
fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        names.push(&rest[start + 1..start + end]);
        rest = &rest[start + end + 1..];
    }
    names
}

/// Placeholders a value or path may use besides the recipe's own `vars`.
const ITEM_VARS: &[&str] = &["sku", "product_id", "quantity"];
const ADDRESS_VARS: &[&str] = &[
    "name",
    "line1",
    "line2",
    "city",
    "state",
    "postal_code",
    "country",
];

impl Recipe {
    pub fn parse(file: &str, text: &str) -> Result<Self, RecipeError> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| RecipeError {
            file: file.to_owned(),
            problem: e.to_string(),
        })?;
        recipe.validate().map_err(|problem| RecipeError {
            file: file.to_owned(),
            problem,
        })?;
        Ok(recipe)
    }

    fn validate(&self) -> Result<(), String> {
        if !self.default_base_url.starts_with("http://")
            && !self.default_base_url.starts_with("https://")
        {
            return Err(format!(
                "default_base_url {:?} is not an http(s) URL",
                self.default_base_url
            ));
        }
        if self.item_steps.is_empty() || self.checkout_steps.is_empty() {
            return Err("item_steps and checkout_steps need at least one step each".into());
        }
        for (list, steps, item) in [
            ("item_steps", &self.item_steps, true),
            ("checkout_steps", &self.checkout_steps, false),
        ] {
            for (i, step) in steps.iter().enumerate() {
                for text in step.texts() {
                    self.check_placeholders(text, item)
                        .map_err(|e| format!("{list}[{i}]: {e}"))?;
                }
                for selector in step.selectors() {
                    if selector.trim().is_empty() {
                        return Err(format!("{list}[{i}]: empty selector"));
                    }
                }
                step.check().map_err(|e| format!("{list}[{i}]: {e}"))?;
            }
            check_frames(steps).map_err(|e| format!("{list}{e}"))?;
        }
        let place = &self.place_order;
        check_amount(place.total_attribute.as_deref(), place.total_format)
            .map_err(|e| format!("place_order: total_{e}"))?;
        Ok(())
    }

    fn check_placeholders(&self, text: &str, item: bool) -> Result<(), String> {
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
            let name = &rest[start + 1..start + end];
            if let Some(option) = name.strip_prefix(OPTION_PREFIX) {
                if !item {
                    return Err(format!(
                        "{{{name}}} in {text:?}: options belong to an order line, so only item_steps can use them"
                    ));
                }
                if !option_name(option) {
                    return Err(format!(
                        "{{{name}}} in {text:?}: an option name is lower-case letters, digits and underscores"
                    ));
                }
                rest = &rest[start + end + 1..];
                continue;
            }
            let known = ADDRESS_VARS.contains(&name)
                || self.vars.contains_key(name)
                || (item && ITEM_VARS.contains(&name));
            if !known {
                return Err(format!("unknown placeholder {{{name}}} in {text:?}"));
            }
            rest = &rest[start + end + 1..];
        }
        Ok(())
    }

    /// `text` with every `{name}` replaced from `values` (validated to exist), in one pass:
    /// what a value brings in is never read for placeholders, so a customer's name
    /// `{card_reference}` is typed as written, not as the company's card.
    pub fn fill_in(text: &str, values: &BTreeMap<String, String>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let known = after
                .find('}')
                .and_then(|close| Some((close, values.get(&after[..close])?)));
            match known {
                Some((close, value)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    pub fn product_id<'a>(&'a self, sku: &'a str) -> &'a str {
        self.product_ids.get(sku).map_or(sku, String::as_str)
    }
}

impl Action {
    /// The element the step acts on, which must be there (or, for a step
    /// `optional_if_absent`, makes it apply).
    pub fn element(&self) -> Option<&str> {
        match self {
            Action::Fill { selector, .. }
            | Action::Select { selector, .. }
            | Action::Click { selector, .. }
            | Action::CheckPrice { selector, .. }
            | Action::EnterFrame { selector }
            | Action::Press { selector, .. } => Some(selector),
            Action::Open { .. } | Action::LeaveFrame {} => None,
        }
    }

    /// The step in a few words, for the step log.
    pub fn describe(&self) -> String {
        match self {
            Action::Open { path, .. } => format!("open {path}"),
            Action::Fill { selector, .. } => format!("fill {selector}"),
            Action::Select {
                selector,
                by: SelectBy::Value,
                ..
            } => format!("select {selector}"),
            Action::Select {
                selector,
                by: SelectBy::Text,
                ..
            } => format!("select by text {selector}"),
            Action::Click { selector, .. } => format!("click {selector}"),
            Action::CheckPrice { selector, .. } => format!("check_price {selector}"),
            Action::EnterFrame { selector } => format!("enter_frame {selector}"),
            Action::LeaveFrame {} => "leave_frame".into(),
            Action::Press { selector, key, .. } => format!("press {key:?} in {selector}"),
        }
    }
}

impl Step {
    /// The option names the step's values use (`size` for `{option.size}`).
    pub fn options_used(&self) -> Vec<&str> {
        self.texts()
            .into_iter()
            .flat_map(placeholders)
            .filter_map(|name| name.strip_prefix(OPTION_PREFIX))
            .collect()
    }

    fn texts(&self) -> Vec<&str> {
        match &self.action {
            Action::Open { path, .. } => vec![path],
            Action::Fill { value, .. } | Action::Select { value, .. } => vec![value],
            Action::Click { .. }
            | Action::CheckPrice { .. }
            | Action::EnterFrame { .. }
            | Action::LeaveFrame {}
            | Action::Press { .. } => vec![],
        }
    }

    fn selectors(&self) -> Vec<&str> {
        match &self.action {
            Action::Open { wait_for, .. } => vec![wait_for],
            Action::Fill { selector, .. }
            | Action::Select { selector, .. }
            | Action::CheckPrice { selector, .. }
            | Action::EnterFrame { selector } => vec![selector],
            Action::Press {
                selector, wait_for, ..
            } => [Some(selector), wait_for.as_ref()]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect(),
            Action::Click {
                selector,
                wait_for,
                wait_for_gone,
            } => [Some(selector), wait_for.as_ref(), wait_for_gone.as_ref()]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect(),
            Action::LeaveFrame {} => vec![],
        }
    }

    /// The step's own rules, apart from placeholders and selectors.
    fn check(&self) -> Result<(), String> {
        if self.optional_if_absent
            && matches!(
                self.action,
                Action::Open { .. }
                    | Action::EnterFrame { .. }
                    | Action::LeaveFrame {}
                    | Action::CheckPrice { .. }
            )
        {
            // A skipped enter_frame would run the frame's steps on the page around it, and
            // a skipped price check would buy at whatever price the page asks.
            return Err("optional_if_absent is for fill, select, click and press steps".into());
        }
        if let Some(ms) = self.timeout_ms
            && !(1..=MAX_TIMEOUT_MS).contains(&ms)
        {
            return Err(format!("timeout_ms {ms} is outside 1..={MAX_TIMEOUT_MS}"));
        }
        if let Action::CheckPrice {
            attribute, format, ..
        } = &self.action
        {
            check_amount(attribute.as_deref(), *format)?;
        }
        Ok(())
    }
}

/// Integer minor units are read from an attribute; an element's text is money as shown.
fn check_amount(attribute: Option<&str>, format: Option<AmountFormat>) -> Result<(), String> {
    if attribute.is_none() && format == Some(AmountFormat::MinorUnits) {
        return Err("format = \"minor_units\" needs an attribute to read".into());
    }
    Ok(())
}

/// Frames entered are left in the same list (item steps run once per line, and the final
/// button is on the page), and `open` (which navigates the whole tab) is never run
/// inside one.
fn check_frames(steps: &[Step]) -> Result<(), String> {
    let mut depth = 0_u32;
    for (i, step) in steps.iter().enumerate() {
        match step.action {
            Action::EnterFrame { .. } => depth += 1,
            Action::LeaveFrame {} => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("[{i}]: leave_frame outside a frame"))?
            }
            Action::Open { .. } if depth > 0 => {
                return Err(format!("[{i}]: open inside a frame (leave_frame first)"));
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(": a frame entered is not left".into());
    }
    Ok(())
}

/// Every `*.toml` in `dir`, by store id. Two recipes for one store is an error.
pub fn load_dir(dir: &Path) -> Result<BTreeMap<String, Recipe>, RecipeError> {
    let unreadable = |problem: String| RecipeError {
        file: dir.display().to_string(),
        problem,
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut recipes = BTreeMap::new();
    for path in files {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| RecipeError {
            file: file.clone(),
            problem: e.to_string(),
        })?;
        let recipe = Recipe::parse(&file, &text)?;
        if recipes.contains_key(&recipe.store) {
            return Err(RecipeError {
                file,
                problem: format!("a second recipe for store {:?}", recipe.store),
            });
        }
        recipes.insert(recipe.store.clone(), recipe);
    }
    Ok(recipes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../stores")
    }

    #[test]
    fn the_shipped_recipes_load() {
        let recipes = load_dir(&stores_dir()).expect("valid recipes");
        assert!(recipes.contains_key("nordwind"));
        assert_eq!(recipes["rackhouse"].product_id("RACK-2002"), "rh-88227");
    }

    #[test]
    fn placeholders_are_filled_in_one_pass() {
        let values: BTreeMap<String, String> = [
            ("name", "{po_card}"),
            ("line1", "{postal_code} {sku}"),
            ("postal_code", "94102"),
            ("po_card", "CORP-VISA-01"),
            ("sku", "NORD-1001"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // A customer's text that looks like a placeholder stays text.
        assert_eq!(Recipe::fill_in("{name}", &values), "{po_card}");
        assert_eq!(Recipe::fill_in("{line1}", &values), "{postal_code} {sku}");
        assert_eq!(
            Recipe::fill_in("/p/{sku}?zip={postal_code}", &values),
            "/p/NORD-1001?zip=94102"
        );
        assert_eq!(
            Recipe::fill_in("{sku}{postal_code}", &values),
            "NORD-100194102"
        );
        // Braces that name nothing are left as they are.
        assert_eq!(
            Recipe::fill_in("{nope} {sku} {", &values),
            "{nope} NORD-1001 {"
        );
        assert_eq!(Recipe::fill_in("{{sku}}", &values), "{NORD-1001}");
    }

    #[test]
    fn a_select_by_text_of_an_option_is_read_and_its_options_listed() {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/placement_browser/recipes/variants");
        let recipe = &load_dir(&fixture).expect("variants")["nordwind"];
        let select = recipe
            .item_steps
            .iter()
            .find(|s| matches!(s.action, Action::Select { .. }))
            .expect("a select step");
        assert!(matches!(
            select.action,
            Action::Select {
                by: SelectBy::Text,
                ..
            }
        ));
        assert_eq!(select.options_used(), ["size"]);
        let values: BTreeMap<String, String> = [("option.size".to_owned(), "M".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(Recipe::fill_in("{option.size}", &values), "M");
        // The shipped recipes choose no option: every default select is by value.
        let shipped = load_dir(&stores_dir()).unwrap();
        assert!(
            shipped
                .values()
                .flat_map(|r| &r.item_steps)
                .all(|s| s.options_used().is_empty())
        );
    }

    #[test]
    fn unknown_fields_and_placeholders_are_refused() {
        let text = std::fs::read_to_string(stores_dir().join("nordwind.toml")).unwrap();
        let err = Recipe::parse("x.toml", &format!("colour = 1\n{text}")).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let bad = text.replace("{line1}", "{street}");
        let err = Recipe::parse("x.toml", &bad).unwrap_err();
        assert!(err.to_string().contains("{street}"), "{err}");
    }

    #[test]
    fn the_test_recipes_for_text_prices_banners_and_frames_load() {
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/placement_browser/recipes");
        for name in ["text-prices", "framed-address", "variants"] {
            let recipes = load_dir(&fixtures.join(name)).expect(name);
            assert!(recipes.contains_key("nordwind"), "{name}");
        }
    }

    /// Each rule, broken once in an otherwise valid recipe, names the step and the problem.
    #[test]
    fn step_rules_are_checked_at_load() {
        let text = std::fs::read_to_string(stores_dir().join("nordwind.toml")).unwrap();
        let with = |steps: &str| format!("{text}\n{steps}");
        for (steps, problem) in [
            (
                "[[checkout_steps]]\naction = \"click\"\nselector = \"#x\"\nwait_for_gon = \"#y\"\n",
                "wait_for_gon",
            ),
            (
                "[[checkout_steps]]\naction = \"enter_frame\"\nselector = \"#f\"\noptional_if_absent = true\n[[checkout_steps]]\naction = \"leave_frame\"\n",
                "optional_if_absent",
            ),
            (
                "[[checkout_steps]]\naction = \"enter_frame\"\nselector = \"#f\"\n",
                "not left",
            ),
            (
                "[[checkout_steps]]\naction = \"leave_frame\"\n",
                "outside a frame",
            ),
            (
                "[[checkout_steps]]\naction = \"check_price\"\nselector = \"#p\"\nformat = \"minor_units\"\n",
                "needs an attribute",
            ),
            (
                "[[checkout_steps]]\naction = \"press\"\nselector = \"#p\"\nkey = \"Space\"\n",
                "Space",
            ),
            (
                "[[checkout_steps]]\naction = \"click\"\nselector = \"#p\"\ntimeout_ms = 0\n",
                "timeout_ms 0",
            ),
            (
                "[[checkout_steps]]\naction = \"fill\"\nselector = \"#p\"\nvalue = \"{option.size}\"\n",
                "only item_steps can use them",
            ),
            (
                "[[item_steps]]\naction = \"select\"\nselector = \"#p\"\nvalue = \"{option.Size}\"\n",
                "an option name is lower-case",
            ),
            (
                "[[item_steps]]\naction = \"select\"\nselector = \"#p\"\nvalue = \"{option.size}\"\nby = \"label\"\n",
                "label",
            ),
        ] {
            let err = Recipe::parse("x.toml", &with(steps))
                .unwrap_err()
                .to_string();
            assert!(err.contains(problem), "{problem}: {err}");
        }
        let framed_open = text.replace(
            "[[checkout_steps]]\naction = \"open\"",
            "[[checkout_steps]]\naction = \"enter_frame\"\nselector = \"#f\"\n[[checkout_steps]]\naction = \"open\"",
        );
        let err = Recipe::parse("x.toml", &framed_open)
            .unwrap_err()
            .to_string();
        assert!(err.contains("open inside a frame"), "{err}");
    }
}
