//! Old bookkeeping rows go; recent and unpublished ones stay.

use std::time::Duration;

use cartwright_shared::retention::{self, Purged, Retention};
use cartwright_testkit::{TestApp, demo_checkout};

#[tokio::test]
async fn old_outbox_inbox_and_idempotency_rows_are_purged_and_the_rest_kept() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        assert_eq!(
            app.submit(&format!("k{i}"), &demo_checkout())
                .await
                .status(),
            202
        );
    }
    let day = "interval '2 days'";
    for sql in [
        // Two published long ago, one published just now; the fourth never published.
        format!("UPDATE outbox SET published_at = now() - {day}, created_at = now() - {day} WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 2)"),
        "UPDATE outbox SET published_at = now() WHERE published_at IS NULL AND id = (SELECT max(id) FROM outbox)".to_owned(),
        format!("UPDATE idempotency_keys SET created_at = now() - {day} WHERE key = 'k0'"),
        format!("INSERT INTO inbox (consumer, message_id, processed_at) VALUES ('payments', gen_random_uuid(), now() - {day}), ('payments', gen_random_uuid(), now())"),
        "INSERT INTO outbox (message_id, message_type, aggregate_id, payload) VALUES (gen_random_uuid(), 'x', 'y', '{}')".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&app.pool).await.unwrap();
    }
    let retention = Retention {
        outbox: Duration::from_secs(86_400),
        inbox: Duration::from_secs(86_400),
        idempotency_keys: Duration::from_secs(86_400),
    };
    let purged = retention::purge(&app.pool, &retention).await.unwrap();
    assert_eq!(
        purged,
        Purged {
            outbox: 2,
            inbox: 1,
            idempotency_keys: 1
        }
    );
    assert_eq!(
        app.count("outbox").await,
        2,
        "the recent and the unpublished stay"
    );
    assert_eq!(app.count("inbox").await, 1);
    assert_eq!(app.count("idempotency_keys").await, 2);
    // A purged key starts a new request.
    let response = app.submit("k0", &demo_checkout()).await;
    assert!(response.headers().get("idempotent-replayed").is_none());
}
