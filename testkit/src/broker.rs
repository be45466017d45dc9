//! RabbitMQ for tests: each test gets its own name prefix on the shared broker (its
//! queues expire ten minutes after the test stops using them), and tests that stop or
//! kill the broker get a private node of their own on free ports.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cartwright_shared::config::{BrokerConfig, Config};
use cartwright_shared::queue::topology::{self, Topology};
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

/// The shared broker, in a virtual host of the tests' own (`scripts/services` creates it,
/// `scripts/test` empties it before each run), so test queues never mix with the dev
/// system's and a run starts with none left over.
pub const SHARED_BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/cartwright-test";

/// A fresh prefix, so a test's exchanges and queues are its own.
pub fn prefix() -> String {
    format!(
        "cwt-{}",
        cartwright_shared::ids::new_secret(8).to_lowercase()
    )
}

/// Broker settings for a test: its prefix, short retry delays, expiring queues.
pub fn env(url: &str, prefix: &str) -> Vec<(String, String)> {
    [
        ("AMQP_URL", url),
        ("AMQP_PREFIX", prefix),
        // Only a backstop for a test that panics: QueueEnv::stop deletes its queues.
        ("AMQP_QUEUE_EXPIRES_SECS", "120"),
        ("RETRY_DELAYS_SECS", "0.3,0.6,1.2"),
        ("MAX_ATTEMPTS", "5"),
        ("OUTBOX_POLL_INTERVAL_MS", "200"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn broker_config(database_url: &str, vars: &[(String, String)]) -> Config {
    let extra: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    crate::config(database_url, &extra)
}

pub fn topology(config: &BrokerConfig) -> Topology {
    Topology::new(config)
}

pub async fn connect(url: &str) -> Connection {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ")
}

/// Messages waiting in a queue (0 when it does not exist).
pub async fn queue_len(connection: &Connection, queue: &str) -> u32 {
    let channel = connection.create_channel().await.expect("channel");
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .map(|q| q.message_count())
        .unwrap_or(0)
}

/// Takes every message off a queue (acknowledging each) and returns the bodies.
pub async fn drain(connection: &Connection, queue: &str) -> Vec<Vec<u8>> {
    let channel = connection.create_channel().await.expect("channel");
    let mut bodies = Vec::new();
    while let Ok(Some(message)) = channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
    {
        bodies.push(message.delivery.data.clone());
        message
            .delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
    }
    bodies
}

/// Polls `check` every 50 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {within:?} waiting for: {what}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A RabbitMQ node of the test's own, on free ports, with its own data directory, so
/// the test can stop, kill and restart it without touching anyone else's broker.
pub struct RabbitNode {
    pub port: u16,
    dist_port: u16,
    dir: PathBuf,
    name: String,
    child: Option<Child>,
}

impl RabbitNode {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("cwt-rabbit-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("node dir");
        // The system's rabbitmq.conf pins the shared node's listener; ours has its own.
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .expect("conf");
        // No plugins: the management plugin would fight the shared node for its port.
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins");
        // Debian's rabbitmq-server drops to the rabbitmq user, which must own the dir.
        let _ = Command::new("chown")
            .arg("-R")
            .arg("rabbitmq:rabbitmq")
            .arg(&dir)
            .status();
        let mut node = Self {
            port,
            dist_port: free_port(),
            name: format!("cwt{port}@localhost"),
            dir,
            child: None,
        };
        node.boot().await;
        node
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    async fn boot(&mut self) {
        let child = Command::new("rabbitmq-server")
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rabbitmq-server (is RabbitMQ installed? scripts/services)");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        eventually(
            Duration::from_secs(60),
            "the private RabbitMQ node to listen",
            || async { tokio::net::TcpStream::connect(&addr).await.is_ok() },
        )
        .await;
    }

    fn beam_pid(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("pid"))
            .ok()
            .map(|p| p.trim().to_owned())
    }

    /// Stops the node for real (SIGTERM to the Erlang VM) and waits until it is gone.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.beam_pid() {
            let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
        let addr = format!("127.0.0.1:{}", self.port);
        eventually(
            Duration::from_secs(30),
            "the private RabbitMQ node to stop",
            || async { tokio::net::TcpStream::connect(&addr).await.is_err() },
        )
        .await;
        let _ = std::fs::remove_file(self.dir.join("pid"));
    }

    /// Starts it again on the same port and data: durable queues and messages survive.
    pub async fn restart(&mut self) {
        self.boot().await;
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        if let Some(pid) = self.beam_pid() {
            let _ = Command::new("kill").arg("-KILL").arg(pid).status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test's whole queue stack: an API on its own database, a broker prefix of its own,
/// and the runtime's pieces spawned in-process, stopped together by [`QueueEnv::stop`].
pub struct QueueEnv {
    pub app: crate::TestApp,
    pub config: Config,
    pub topology: Topology,
    pub vars: Vec<(String, String)>,
    /// The connection the spawned consumers share, as in a worker process.
    consumers: cartwright_shared::queue::broker::SharedConnection,
    stop: tokio::sync::watch::Sender<bool>,
    shutdown: cartwright_shared::shutdown::Shutdown,
    tasks: tokio::task::JoinSet<()>,
}

impl QueueEnv {
    pub async fn new(broker_url: &str) -> Self {
        Self::with_vars(broker_url, &[]).await
    }

    /// Like [`QueueEnv::new`], with extra configuration for the API and the workers.
    pub async fn with_vars(broker_url: &str, extra: &[(&str, &str)]) -> Self {
        // Logs show up in nextest's output of a failing test.
        cartwright_shared::telemetry::init();
        let mut vars = env(broker_url, &prefix());
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let extra: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let app = crate::TestApp::spawn_with(&extra).await;
        let config = broker_config(&app.database_url, &vars);
        let topology = topology(&config.broker);
        let consumers =
            cartwright_shared::queue::broker::SharedConnection::new(&config.broker, "test");
        let (stop, shutdown) = cartwright_shared::shutdown::Shutdown::manual();
        crate::test_handler::create_tables(&app.pool).await;
        Self {
            app,
            config,
            topology,
            vars,
            consumers,
            stop,
            shutdown,
            tasks: tokio::task::JoinSet::new(),
        }
    }

    pub fn spawn_relay(&mut self) {
        self.tasks.spawn(cartwright_shared::queue::relay::run(
            self.app.pool.clone(),
            self.config.broker.clone(),
            self.topology.clone(),
            self.shutdown.clone(),
        ));
    }

    pub fn spawn_archiver(&mut self) {
        self.tasks
            .spawn(cartwright_shared::queue::dead_letters::archive(
                self.app.pool.clone(),
                self.consumers.clone(),
                self.topology.clone(),
                vec![crate::test_handler::queue()],
                self.shutdown.clone(),
            ));
    }

    /// Archives the dead letters of `queues` (e.g. a real worker's) into `dead_letters`.
    pub fn spawn_archiver_for(
        &mut self,
        queues: Vec<cartwright_shared::queue::work_queues::WorkQueue>,
    ) {
        self.tasks
            .spawn(cartwright_shared::queue::dead_letters::archive(
                self.app.pool.clone(),
                self.consumers.clone(),
                self.topology.clone(),
                queues,
                self.shutdown.clone(),
            ));
    }

    pub fn spawn_handler<H: cartwright_shared::queue::handler::Handler>(&mut self, handler: H) {
        let pool = self.app.pool.clone();
        let broker = self.consumers.clone();
        let topology = self.topology.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            cartwright_shared::queue::handler::run(handler, pool, &broker, topology, shutdown)
                .await;
        });
    }

    /// Any other piece of a worker that runs on the database until shutdown (a sweep).
    pub fn spawn_task<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(sqlx::PgPool, cartwright_shared::shutdown::Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .spawn(task(self.app.pool.clone(), self.shutdown.clone()));
    }

    /// Writes `n` test events for one aggregate to the outbox; returns their ids.
    pub async fn emit(&self, aggregate: &str, n: usize) -> Vec<uuid::Uuid> {
        let mut tx = self.app.pool.begin().await.expect("begin");
        let mut ids = Vec::new();
        for seq in 0..n {
            let payload = serde_json::json!({ "aggregate": aggregate, "seq": seq });
            ids.push(
                cartwright_shared::outbox::enqueue(
                    &mut tx,
                    crate::test_handler::EVENT,
                    aggregate,
                    &payload,
                )
                .await
                .expect("enqueue"),
            );
        }
        tx.commit().await.expect("commit");
        ids
    }

    /// Delivers the outbox messages of `message_type` to `consumer` again with the same
    /// message ids, as the broker does when a worker dies between its work and its ack:
    /// the consumer's inbox forgets them and the relay publishes them again.
    pub async fn redeliver(&self, consumer: &str, message_type: &str) {
        let pool = &self.app.pool;
        sqlx::query("DELETE FROM inbox WHERE consumer = $1")
            .bind(consumer)
            .execute(pool)
            .await
            .expect("forget the inbox");
        sqlx::query("UPDATE outbox SET published_at = NULL WHERE message_type = $1")
            .bind(message_type)
            .execute(pool)
            .await
            .expect("unpublish");
        sqlx::query("SELECT pg_notify('outbox', '')")
            .execute(pool)
            .await
            .expect("wake the relay");
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.app.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Asks everything spawned to stop, waits until it has, and deletes the test's
    /// queues (quorum queues hold broker file descriptors, a scarce resource).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.consumers.close().await;
        let url = self
            .vars
            .iter()
            .find(|(k, _)| k == "AMQP_URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| SHARED_BROKER.to_owned());
        let Ok(connection) = Connection::connect(&url, ConnectionProperties::default()).await
        else {
            return;
        };
        let t = &self.topology;
        let queues = cartwright_shared::queue::work_queues::all()
            .into_iter()
            .chain([crate::test_handler::queue()])
            .flat_map(|queue| t.queues_of(&queue.name))
            .chain([t.unrouted()]);
        topology::delete_queues(&connection, queues).await;
        let _ = connection.close(200, "test done".into()).await;
    }
}
