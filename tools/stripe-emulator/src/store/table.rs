//! An insertion-ordered table of objects looked up by id.

use std::collections::HashMap;

/// Anything stored by its Stripe id.
pub trait Keyed {
    fn key(&self) -> &str;
}

#[derive(Debug)]
pub struct Table<T> {
    rows: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Keyed> Table<T> {
    pub fn insert(&mut self, row: T) {
        self.index.insert(row.key().to_owned(), self.rows.len());
        self.rows.push(row);
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.index.get(id).map(|&i| &self.rows[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.index.get(id).map(|&i| &mut self.rows[i])
    }

    /// Removes a row; later rows keep their order.
    pub fn remove(&mut self, id: &str) -> Option<T> {
        let i = self.index.remove(id)?;
        let row = self.rows.remove(i);
        for slot in self.index.values_mut() {
            if *slot > i {
                *slot -= 1;
            }
        }
        Some(row)
    }

    /// Rows, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.rows.iter()
    }
}

macro_rules! keyed {
    ($($ty:ty),*) => {
        $(impl Keyed for $ty {
            fn key(&self) -> &str {
                &self.id
            }
        })*
    };
}

keyed!(
    crate::model::PaymentIntent,
    crate::model::Charge,
    crate::model::Refund,
    crate::model::Dispute,
    crate::model::Event,
    crate::model::WebhookEndpoint
);

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        id: String,
    }

    impl Keyed for Row {
        fn key(&self) -> &str {
            &self.id
        }
    }

    #[test]
    fn keeps_order_and_index_after_removal() {
        let mut table = Table::default();
        for id in ["a", "b", "c"] {
            table.insert(Row { id: id.into() });
        }
        assert!(table.remove("a").is_some());
        assert_eq!(table.get("c").map(|r| r.id.as_str()), Some("c"));
        let ids: Vec<&str> = table.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
