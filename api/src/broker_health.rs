//! Whether RabbitMQ answers, for /readyz. The answer is cached for a few seconds so a
//! probe every second does not open a broker connection every second.

use std::time::{Duration, Instant};

use cartwright_shared::config::BrokerConfig;
use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

const FRESH_FOR: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct BrokerHealth {
    config: BrokerConfig,
    last: Mutex<Option<(Instant, bool)>>,
}

impl BrokerHealth {
    pub fn new(config: BrokerConfig) -> Self {
        Self {
            config,
            last: Mutex::new(None),
        }
    }

    pub async fn is_up(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, up)) = *last
            && at.elapsed() < FRESH_FOR
        {
            return up;
        }
        let url = self.config.url.expose_secret().to_owned();
        let up = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(
                &url,
                ConnectionProperties::default().with_connection_name("api-readiness".into()),
            ),
        )
        .await
        {
            Ok(Ok(connection)) => {
                let _ = connection.close(200, "probe done".into()).await;
                true
            }
            _ => false,
        };
        *last = Some((Instant::now(), up));
        up
    }
}
