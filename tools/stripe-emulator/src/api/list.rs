//! Stripe's list shape and cursor pagination (`limit`, `starting_after`, `ending_before`).

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::form::Params;

/// One page of `items` (id and JSON, newest first) as `{"object": "list", …}`.
pub fn page(items: Vec<(String, Value)>, params: &Params, url: &str) -> Result<Value, ApiError> {
    let limit = params.int("limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("Invalid limit: must be between 1 and 100").param("limit"));
    }
    let limit = usize::try_from(limit).unwrap_or(10);
    let position = |cursor: &str, param: &str| {
        items
            .iter()
            .position(|(id, _)| id == cursor)
            .ok_or_else(|| {
                ApiError::invalid(format!("No such object: '{cursor}'"))
                    .code("resource_missing")
                    .param(param)
            })
    };
    let (window, has_more) = if let Some(cursor) = params.text("starting_after") {
        let start = position(&cursor, "starting_after")? + 1;
        let end = (start + limit).min(items.len());
        (start..end, end < items.len())
    } else if let Some(cursor) = params.text("ending_before") {
        let end = position(&cursor, "ending_before")?;
        let start = end.saturating_sub(limit);
        (start..end, start > 0)
    } else {
        let end = limit.min(items.len());
        (0..end, end < items.len())
    };
    let data: Vec<Value> = items[window].iter().map(|(_, v)| v.clone()).collect();
    Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<(String, Value)> {
        (0..n).map(|i| (format!("id{i}"), json!(i))).collect()
    }

    #[test]
    fn pages_forward_and_back() {
        let first = page(items(5), &Params::parse(b"limit=2").unwrap(), "/v1/x").unwrap();
        assert_eq!(first["data"], json!([0, 1]));
        assert_eq!(first["has_more"], true);
        let next = page(
            items(5),
            &Params::parse(b"limit=2&starting_after=id3").unwrap(),
            "/v1/x",
        )
        .unwrap();
        assert_eq!(next["data"], json!([4]));
        assert_eq!(next["has_more"], false);
        let back = page(
            items(5),
            &Params::parse(b"limit=2&ending_before=id3").unwrap(),
            "/v1/x",
        )
        .unwrap();
        assert_eq!(back["data"], json!([1, 2]));
        assert!(page(items(1), &Params::parse(b"limit=0").unwrap(), "/v1/x").is_err());
    }
}
