//! The payment worker's Stripe calls share kept-alive connections: async-stripe's own
//! client opened one per call (and against api.stripe.com a TLS handshake each).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cartwright_workers::payments::stripe::Stripe;
use secrecy::SecretString;
use tokio::net::{TcpListener, TcpStream};

use crate::common::{STRIPE_KEY, WEBHOOK_SECRET};

/// A TCP relay in front of the emulator that counts the connections made through it.
async fn counting_relay(to: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let to = to.clone();
            tokio::spawn(async move {
                let mut server = TcpStream::connect(&to).await.expect("the emulator");
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (format!("http://{address}/"), connections)
}

#[tokio::test]
async fn stripe_calls_reuse_one_connection() {
    let emulator = stripe_emulator::spawn(stripe_emulator::Config::for_tests())
        .await
        .expect("emulator starts");
    let emulator_address = emulator
        .base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (base, connections) = counting_relay(emulator_address).await;
    let stripe = Stripe::new(&cartwright_shared::config::StripeConfig {
        secret_key: SecretString::from(STRIPE_KEY),
        api_base: base,
        webhook_secrets: vec![SecretString::from(WEBHOOK_SECRET)],
        timeout: std::time::Duration::from_secs(5),
    })
    .expect("Stripe client");

    for n in 0..5 {
        let checkout = format!("chk_connections_{n}");
        let authorized = stripe
            .authorize(&checkout, 1_000 + n, "eur", "pm_card_visa")
            .await
            .unwrap_or_else(|e| panic!("authorization {n}: {e:?}"));
        assert_eq!(authorized.amount, 1_000 + n);
        let read = stripe
            .payment_intent(authorized.id.as_str())
            .await
            .unwrap_or_else(|e| panic!("read {n}: {e:?}"));
        assert_eq!(read.id, authorized.id);
    }
    // Stripe's error answers come through as Stripe errors on the same connection.
    let declined = stripe
        .authorize(
            "chk_connections_declined",
            1_000,
            "eur",
            "pm_card_chargeDeclined",
        )
        .await;
    assert!(
        matches!(
            declined,
            Err(cartwright_workers::payments::stripe::Failure::Declined { .. })
        ),
        "{declined:?}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "11 calls, one connection"
    );
}
