//! A fetched page, queried with the CSS selectors a browser recipe would use.

use reqwest::StatusCode;
use scraper::{ElementRef, Html, Selector};

pub struct Page {
    pub status: StatusCode,
    /// The `Location` of a redirect.
    pub location: Option<String>,
    pub body: String,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css:?}: {e}"))
}

impl Page {
    fn with<T>(&self, f: impl FnOnce(&Html) -> T) -> T {
        f(&Html::parse_document(&self.body))
    }

    pub fn has(&self, css: &str) -> bool {
        self.count(css) > 0
    }

    pub fn count(&self, css: &str) -> usize {
        self.with(|html| html.select(&selector(css)).count())
    }

    /// The whitespace-normalized text of the first match; panics if nothing matches.
    pub fn text(&self, css: &str) -> String {
        self.with(|html| {
            let element = html.select(&selector(css)).next();
            let element = element.unwrap_or_else(|| panic!("no {css:?} in:\n{}", self.body));
            normalized(element)
        })
    }

    pub fn attr(&self, css: &str, attr: &str) -> Option<String> {
        self.with(|html| {
            html.select(&selector(css))
                .next()
                .and_then(|e| e.value().attr(attr).map(str::to_owned))
        })
    }

    /// The redirect target's path and query (the server redirects with paths).
    pub fn redirect(&self) -> &str {
        assert!(
            self.status.is_redirection(),
            "expected a redirect, got {}:\n{}",
            self.status,
            self.body
        );
        self.location.as_deref().expect("a Location header")
    }

    /// What a browser would submit for the form: its action and the name/value pairs of
    /// its controls after `fills` (selector → value; a radio's selector checks it).
    pub fn form_data(
        &self,
        form_css: &str,
        fills: &[(&str, &str)],
    ) -> (String, Vec<(String, String)>) {
        self.with(|html| {
            let form = html.select(&selector(form_css)).next();
            let form = form.unwrap_or_else(|| panic!("no form {form_css:?} in:\n{}", self.body));
            let mut controls: Vec<(ElementRef, String)> = Vec::new();
            for control in form.select(&selector("input, select")) {
                let element = control.value();
                let kind = element.attr("type").unwrap_or("text");
                if element.attr("name").is_none() || kind == "submit" || kind == "button" {
                    continue;
                }
                let value = if element.name() == "select" {
                    let options: Vec<_> = control.select(&selector("option")).collect();
                    let chosen = options
                        .iter()
                        .find(|o| o.value().attr("selected").is_some())
                        .or(options.first());
                    chosen
                        .and_then(|o| o.value().attr("value"))
                        .unwrap_or("")
                        .to_owned()
                } else if (kind == "radio" || kind == "checkbox")
                    && element.attr("checked").is_none()
                {
                    continue;
                } else {
                    element.attr("value").unwrap_or("").to_owned()
                };
                controls.push((control, value));
            }
            for (css, value) in fills {
                let target = form.select(&selector(css)).next();
                let target = target
                    .unwrap_or_else(|| panic!("no {css:?} in form {form_css:?}:\n{}", self.body));
                let name = target.value().attr("name").expect("a named control");
                if target.value().attr("type") == Some("radio") {
                    controls.retain(|(c, _)| c.value().attr("name") != Some(name));
                    controls.push((
                        target,
                        target.value().attr("value").unwrap_or("on").to_owned(),
                    ));
                } else {
                    let slot = controls.iter_mut().find(|(c, _)| c.id() == target.id());
                    slot.unwrap_or_else(|| panic!("{css:?} is not a form control"))
                        .1 = (*value).to_owned();
                }
            }
            let action = form
                .value()
                .attr("action")
                .expect("a form action")
                .to_owned();
            let data = controls
                .into_iter()
                .map(|(c, v)| (c.value().attr("name").unwrap_or_default().to_owned(), v))
                .collect();
            (action, data)
        })
    }
}

fn normalized(element: ElementRef) -> String {
    element
        .text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
