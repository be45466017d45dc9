//! The key commands as an operator runs them: `create-key`, `list-keys`, `revoke-key`.

use std::process::{Command, Output};

use cartwright_shared::api_keys;
use sqlx::PgPool;

fn cartwright(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartwright"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("USER", "alice")
        .output()
        .expect("the cartwright binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn a_revoked_key_stops_authenticating_and_the_listing_never_shows_a_key() {
    let url = cartwright_testkit::fresh_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    let key = stdout(&cartwright(
        &url,
        &[
            "create-key",
            "--principal",
            "shop-a",
            "--role",
            "storefront",
        ],
    ))
    .trim()
    .to_owned();
    let other = stdout(&cartwright(
        &url,
        &[
            "create-key",
            "--principal",
            "shop-b",
            "--role",
            "storefront",
        ],
    ))
    .trim()
    .to_owned();
    assert!(api_keys::authenticate(&pool, &key).await.unwrap().is_some());

    let table = stdout(&cartwright(&url, &["list-keys"]));
    assert!(
        table.contains("shop-a") && table.contains("shop-b"),
        "{table}"
    );
    assert!(
        !table.contains(&key) && !table.contains(&other),
        "a key was shown: {table}"
    );
    let listed: Vec<serde_json::Value> = serde_json::from_str(&stdout(&cartwright(
        &url,
        &["list-keys", "--principal", "shop-a", "--json"],
    )))
    .unwrap();
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(listed[0]["prefix"].as_str().unwrap()));
    assert!(
        listed[0]["last_used_at"].is_string(),
        "the look-up above is its last use: {listed:?}"
    );
    assert!(listed[0]["revoked_at"].is_null());

    let revoked = cartwright(&url, &["revoke-key", "--id", &id]);
    assert!(revoked.status.success());
    assert!(api_keys::authenticate(&pool, &key).await.unwrap().is_none());
    assert!(
        api_keys::authenticate(&pool, &other)
            .await
            .unwrap()
            .is_some(),
        "only the one key is revoked"
    );
    let (actor, target): (String, String) =
        sqlx::query_as("SELECT actor, target FROM ops_audit WHERE action = 'api_key.revoked'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_str(), target),
        ("cli:alice", format!("api_key:{id}"))
    );

    // Again: said so, nothing written twice.
    let again = cartwright(&url, &["revoke-key", "--id", &id]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already revoked"));
    let audits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ops_audit WHERE action = 'api_key.revoked'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audits, 1);

    let unknown = cartwright(
        &url,
        &["revoke-key", "--id", &uuid::Uuid::nil().to_string()],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no key"));
}
