//! The demo catalog: three stores (two automated, one manual) and twenty SKUs.
//! Re-running the seed refreshes the stores and adds missing SKUs, but never resets
//! the stock of a SKU that already exists.

use sqlx::PgPool;

pub struct DemoStore {
    pub id: &'static str,
    pub name: &'static str,
    pub placement_mode: &'static str,
    pub shipping_fee: i64,
    pub free_shipping_threshold: Option<i64>,
    pub website_url: &'static str,
}

pub const STORES: &[DemoStore] = &[
    DemoStore {
        id: "nordwind",
        name: "Nordwind Outfitters",
        placement_mode: "automated",
        shipping_fee: 599,
        free_shipping_threshold: Some(10000),
        website_url: "http://127.0.0.1:8090/nordwind",
    },
    DemoStore {
        id: "rackhouse",
        name: "Rackhouse Cycling",
        placement_mode: "automated",
        shipping_fee: 995,
        free_shipping_threshold: Some(25000),
        website_url: "http://127.0.0.1:8090/rackhouse",
    },
    DemoStore {
        id: "corner-books",
        name: "Corner Books",
        placement_mode: "manual",
        shipping_fee: 399,
        free_shipping_threshold: None,
        website_url: "https://corner-books.example",
    },
];

/// (sku, store, title, price in cents, stock, low-stock threshold)
pub const SKUS: &[(&str, &str, &str, i64, i32, i32)] = &[
    ("NORD-1001", "nordwind", "Trail Runner Shoe", 8999, 40, 5),
    ("NORD-1002", "nordwind", "Merino Base Layer", 6450, 60, 8),
    ("NORD-1003", "nordwind", "Down Jacket", 21900, 15, 3),
    ("NORD-1004", "nordwind", "Rain Shell", 14900, 25, 4),
    (
        "NORD-1005",
        "nordwind",
        "Hiking Socks (3 pack)",
        1999,
        200,
        20,
    ),
    ("NORD-1006", "nordwind", "Trekking Poles", 7900, 30, 5),
    ("NORD-1007", "nordwind", "Daypack 22L", 9500, 35, 5),
    ("RACK-2001", "rackhouse", "Roof Bike Rack", 18900, 12, 3),
    ("RACK-2002", "rackhouse", "Bike Helmet", 7450, 50, 6),
    ("RACK-2003", "rackhouse", "LED Light Set", 3999, 80, 10),
    ("RACK-2004", "rackhouse", "Chain Lube", 1299, 150, 15),
    (
        "RACK-2005",
        "rackhouse",
        "Tubeless Repair Kit",
        2499,
        70,
        10,
    ),
    ("RACK-2006", "rackhouse", "Cycling Gloves", 2999, 45, 6),
    ("RACK-2007", "rackhouse", "Frame Bag", 5499, 20, 4),
    (
        "BOOK-3001",
        "corner-books",
        "The Long Trail (hardcover)",
        2800,
        10,
        2,
    ),
    (
        "BOOK-3002",
        "corner-books",
        "Bicycle Repair Manual",
        3450,
        8,
        2,
    ),
    (
        "BOOK-3003",
        "corner-books",
        "Field Guide to Birds",
        2299,
        12,
        3,
    ),
    ("BOOK-3004", "corner-books", "Camp Cooking", 1950, 15, 3),
    ("BOOK-3005", "corner-books", "Maps of the West", 4200, 5, 1),
    ("BOOK-3006", "corner-books", "Night Sky Atlas", 3100, 6, 2),
];

pub async fn seed(pool: &PgPool) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for s in STORES {
        sqlx::query(
            "INSERT INTO stores (id, name, placement_mode, currency, shipping_fee, free_shipping_threshold, website_url)
             VALUES ($1, $2, $3, 'usd', $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, placement_mode = EXCLUDED.placement_mode,
                 shipping_fee = EXCLUDED.shipping_fee, free_shipping_threshold = EXCLUDED.free_shipping_threshold,
                 website_url = EXCLUDED.website_url, updated_at = now()",
        )
        .bind(s.id)
        .bind(s.name)
        .bind(s.placement_mode)
        .bind(s.shipping_fee)
        .bind(s.free_shipping_threshold)
        .bind(s.website_url)
        .execute(&mut *tx)
        .await?;
    }
    for (sku, store, title, price, stock, threshold) in SKUS {
        sqlx::query(
            "INSERT INTO skus (sku, store_id, title, price, currency, stock, low_stock_threshold)
             VALUES ($1, $2, $3, $4, 'usd', $5, $6) ON CONFLICT (sku) DO NOTHING",
        )
        .bind(sku)
        .bind(store)
        .bind(title)
        .bind(price)
        .bind(stock)
        .bind(threshold)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
