//! Stripe's form encoding: `application/x-www-form-urlencoded` with bracket keys
//! (`metadata[checkout_id]=…`, `expand[0]=…`, `payment_method_types[]=card`).

use std::collections::BTreeMap;

use crate::error::ApiError;

/// One value in the parameter tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Value(String),
    Map(BTreeMap<String, Node>),
}

/// Parsed request parameters (from a body or a query string).
#[derive(Debug, Clone, Default)]
pub struct Params {
    root: BTreeMap<String, Node>,
    /// The decoded pairs, sorted: the identity of a request for idempotency checks.
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
            .map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")))?;
        let mut root = BTreeMap::new();
        for (key, value) in &pairs {
            insert(&mut root, key, value.clone())?;
        }
        pairs.sort();
        Ok(Self { root, pairs })
    }

    /// A canonical rendering of every parameter, independent of their order.
    pub fn fingerprint(&self) -> String {
        serde_urlencoded::to_string(&self.pairs).unwrap_or_default()
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.root.get(name) {
            Some(Node::Value(v)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// A non-empty string parameter.
    pub fn text(&self, name: &str) -> Option<String> {
        self.str(name).filter(|s| !s.is_empty()).map(str::to_owned)
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.str(name)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::missing_param(name))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::invalid_integer(name, v))
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid(format!("Invalid boolean: {other}")).param(name)),
        }
    }

    /// One of `allowed`, if given.
    pub fn choice(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
            Some(_) => Err(ApiError::invalid_value(name, allowed)),
        }
    }

    /// An array parameter (`name[0]=a&name[1]=b` or `name[]=a&name[]=b`), in index order.
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.root.get(name) {
            Some(Node::Map(items)) => {
                let mut entries: Vec<(&String, &Node)> = items.iter().collect();
                entries.sort_by_key(|(k, _)| k.parse::<usize>().unwrap_or(usize::MAX));
                entries
                    .into_iter()
                    .filter_map(|(_, node)| match node {
                        Node::Value(v) => Some(v.clone()),
                        Node::Map(_) => None,
                    })
                    .collect()
            }
            Some(Node::Value(v)) if !v.is_empty() => vec![v.clone()],
            _ => Vec::new(),
        }
    }

    /// A string-to-string hash such as `metadata[key]=value`.
    pub fn map(&self, name: &str) -> Result<BTreeMap<String, String>, ApiError> {
        match self.root.get(name) {
            None => Ok(BTreeMap::new()),
            Some(Node::Value(v)) if v.is_empty() => Ok(BTreeMap::new()),
            Some(Node::Value(_)) => {
                Err(ApiError::invalid(format!("Invalid object: {name}")).param(name))
            }
            Some(Node::Map(items)) => items
                .iter()
                .map(|(k, node)| match node {
                    Node::Value(v) => Ok((k.clone(), v.clone())),
                    Node::Map(_) => Err(ApiError::invalid(format!(
                        "Invalid {name}[{k}]: must be a string"
                    ))
                    .param(&format!("{name}[{k}]"))),
                })
                .collect(),
        }
    }
}

/// Inserts `key` (possibly `a[b][]`) into the tree.
fn insert(root: &mut BTreeMap<String, Node>, key: &str, value: String) -> Result<(), ApiError> {
    let (base, segments) = split_key(key)?;
    let mut map = root;
    let mut name = base.to_owned();
    for segment in segments {
        let entry = map
            .entry(name.clone())
            .or_insert_with(|| Node::Map(BTreeMap::new()));
        let Node::Map(child) = entry else {
            return Err(ApiError::invalid(format!("Invalid parameter: {key}")).param(key));
        };
        name = if segment.is_empty() {
            child.len().to_string()
        } else {
            segment.to_owned()
        };
        map = child;
    }
    map.insert(name, Node::Value(value));
    Ok(())
}

/// `a[b][]` → (`a`, [`b`, ``]).
fn split_key(key: &str) -> Result<(&str, Vec<&str>), ApiError> {
    let bad = || ApiError::invalid(format!("Invalid parameter name: {key}")).param(key);
    let Some(open) = key.find('[') else {
        return Ok((key, Vec::new()));
    };
    let base = &key[..open];
    let mut rest = &key[open..];
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let close = inner.find(']').ok_or_else(bad)?;
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    if base.is_empty() {
        return Err(bad());
    }
    Ok((base, segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bracket_syntax() {
        let p = Params::parse(
            b"amount=2000&metadata%5Bcheckout_id%5D=c1&metadata[order]=o%201&payment_method_types[]=card\
              &payment_method_types[]=link&expand[1]=b&expand[0]=a&confirm=true",
        )
        .unwrap();
        assert_eq!(p.int("amount").unwrap(), Some(2000));
        let meta = p.map("metadata").unwrap();
        assert_eq!(meta.get("checkout_id").map(String::as_str), Some("c1"));
        assert_eq!(meta.get("order").map(String::as_str), Some("o 1"));
        assert_eq!(p.list("payment_method_types"), vec!["card", "link"]);
        assert_eq!(p.list("expand"), vec!["a", "b"]);
        assert_eq!(p.bool("confirm").unwrap(), Some(true));
    }

    #[test]
    fn fingerprint_ignores_order() {
        let a = Params::parse(b"amount=1&currency=usd").unwrap();
        let b = Params::parse(b"currency=usd&amount=1").unwrap();
        let c = Params::parse(b"currency=usd&amount=2").unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn rejects_bad_integers_and_keys() {
        let p = Params::parse(b"amount=12x").unwrap();
        assert_eq!(
            p.int("amount").unwrap_err().to_object()["code"],
            "parameter_invalid_integer"
        );
        assert!(Params::parse(b"a[b=1").is_err());
        assert!(Params::parse(b"a=1&a[b]=2").is_err());
    }
}
