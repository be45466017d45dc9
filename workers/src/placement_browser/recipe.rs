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

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
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
    /// Choose the `<option>` with this value.
    Select { selector: String, value: String },
    /// Click; `wait_for` (if given) must then be on the page.
    Click {
        selector: String,
        #[serde(default)]
        wait_for: Option<String>,
    },
    /// Read the price (integer cents) from `attribute` of `selector` and compare it
    /// with the order line's unit price.
    CheckPrice { selector: String, attribute: String },
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
    /// The total: integer cents in `total_attribute` of `total`.
    pub total: String,
    pub total_attribute: String,
}

#[derive(Debug, thiserror::Error)]
#[error("recipe {file}: {problem}")]
pub struct RecipeError {
    pub file: String,
    pub problem: String,
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
            }
        }
        Ok(())
    }

    fn check_placeholders(&self, text: &str, item: bool) -> Result<(), String> {
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
            let name = &rest[start + 1..start + end];
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

impl Step {
    fn texts(&self) -> Vec<&str> {
        match self {
            Step::Open { path, .. } => vec![path],
            Step::Fill { value, .. } | Step::Select { value, .. } => vec![value],
            Step::Click { .. } | Step::CheckPrice { .. } => vec![],
        }
    }

    fn selectors(&self) -> Vec<&str> {
        match self {
            Step::Open { wait_for, .. } => vec![wait_for],
            Step::Fill { selector, .. }
            | Step::Select { selector, .. }
            | Step::CheckPrice { selector, .. } => vec![selector],
            Step::Click { selector, wait_for } => {
                let mut v = vec![selector.as_str()];
                v.extend(wait_for.as_deref());
                v
            }
        }
    }
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
    fn unknown_fields_and_placeholders_are_refused() {
        let text = std::fs::read_to_string(stores_dir().join("nordwind.toml")).unwrap();
        let err = Recipe::parse("x.toml", &format!("colour = 1\n{text}")).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let bad = text.replace("{line1}", "{street}");
        let err = Recipe::parse("x.toml", &bad).unwrap_err();
        assert!(err.to_string().contains("{street}"), "{err}");
    }
}
