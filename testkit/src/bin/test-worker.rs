//! A worker process running the test handler, for tests that kill a worker mid-flight.
//! Configured like the real workers from the environment, plus TEST_HANDLER_SLOW_MS.

use std::time::Duration;

use cartwright_shared::config::Config;
use cartwright_shared::queue::broker::SharedConnection;
use cartwright_shared::queue::{handler, topology::Topology};
use cartwright_shared::shutdown::Shutdown;
use cartwright_shared::{db, telemetry};
use cartwright_testkit::test_handler::{Behaviour, TestHandler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::from_env()?;
    let pool = db::connect(&config.database).await?;
    let slow_ms: u64 = std::env::var("TEST_HANDLER_SLOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let handler = TestHandler {
        behaviour: Behaviour::Slow(Duration::from_millis(slow_ms)),
    };
    let topology = Topology::new(&config.broker);
    let broker = SharedConnection::new(&config.broker, "test-worker");
    handler::run(handler, pool, &broker, topology, Shutdown::on_signals()).await;
    broker.close().await;
    Ok(())
}
