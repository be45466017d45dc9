//! The drill's private Cartwright: every process it kills or restarts is its own (a
//! PostgreSQL cluster, a RabbitMQ node, the Stripe emulator, the demo retailer, an SMTP
//! sink, chromedriver, the API, one process per worker role), on free ports.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cartwright_shared::api_keys::{self, Role};
use cartwright_shared::stripe_event_types;
use cartwright_testkit::broker::RabbitNode;
use cartwright_testkit::smtp::SmtpSink;
use cartwright_testkit::webdriver::Chromedriver;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::postgres::Postgres;

pub const WEBHOOK_SECRET: &str = "whsec_drill";
pub const PREFIX: &str = "cartwright";

/// Every worker role, each in a process of its own so a SIGKILL hits one role.
pub const ROLES: &[&str] = &[
    "relay",
    "scheduler",
    "dead-letters",
    "payments",
    "stripe-events",
    "placement-router",
    "placement-manual",
    "placement-browser",
    "emails",
    "alerts",
];

const BINARIES: &[(&str, &str)] = &[
    ("cartwright-api", "cartwright-api"),
    ("cartwright-workers", "cartwright-workers"),
    ("stripe-emulator", "stripe-emulator"),
    ("demo-retailer", "demo-retailer"),
];

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the drill lives in the workspace")
        .to_path_buf()
}

/// Where cargo put this program, hence the other binaries of the same profile.
fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("DRILL_BIN_DIR") {
        return Ok(dir.into());
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .context("executable without a folder")?
        .to_path_buf();
    // A test binary sits in target/<profile>/deps.
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// Builds the API, the workers, the emulator and the retailer in this program's
/// profile, so the drill never runs stale binaries (a no-op when they are current).
fn build(bin_dir: &Path) -> anyhow::Result<()> {
    if std::env::var_os("DRILL_NO_BUILD").is_some() {
        return Ok(());
    }
    let profile = match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => bail!("cannot tell the cargo profile of {}", bin_dir.display()),
    };
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--profile", profile]);
    for (package, _) in BINARIES {
        command.args(["-p", package]);
    }
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the drill's binaries failed");
    }
    Ok(())
}

/// A child process the drill can SIGKILL and start again with the same settings.
pub struct Proc {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    fn new(
        name: &str,
        program: PathBuf,
        args: &[String],
        env: Vec<(String, String)>,
        logs: &Path,
    ) -> Self {
        Self {
            name: name.to_owned(),
            program,
            args: args.to_vec(),
            env,
            log: logs.join(format!("{name}.log")),
            child: None,
        }
    }

    pub fn start(&mut self) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown hook runs, whatever was in flight is cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: the graceful stop at the end of the drill.
    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it died on its own (a crash is a finding; its log says why).
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited: {status}", self.name)),
            _ => None,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The whole private system. Dropping it stops every process.
pub struct Stack {
    pub work: PathBuf,
    pub pool: PgPool,
    pub api_url: String,
    pub emulator_url: String,
    pub retailer_url: String,
    pub storefront_key: String,
    pub ops_key: String,
    pub mail_dir: PathBuf,
    // Fields drop in order: Cartwright's processes before the services they use.
    pub api: Proc,
    pub workers: Vec<Proc>,
    pub emulator: Proc,
    pub retailer: Proc,
    /// Held, not used: dropping it stops chromedriver.
    _chromedriver: Chromedriver,
    pub smtp: SmtpSink,
    pub rabbit: RabbitNode,
    pub postgres: Postgres,
}

impl Stack {
    pub async fn start(work: &Path) -> anyhow::Result<Self> {
        let bins = bin_dir()?;
        build(&bins)?;
        for (_, binary) in BINARIES {
            if !bins.join(binary).exists() {
                bail!("{} is missing", bins.join(binary).display());
            }
        }
        let logs = work.join("logs");
        std::fs::create_dir_all(&logs)?;

        let postgres = Postgres::start(work)?;
        let admin = PgPool::connect(&postgres.url("postgres")).await?;
        sqlx::query("CREATE DATABASE cartwright")
            .execute(&admin)
            .await?;
        admin.close().await;
        let database_url = postgres.url("cartwright");
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&database_url)
            .await?;
        cartwright_shared::db::migrate(&pool).await?;
        cartwright_shared::demo::seed(&pool).await?;
        let storefront_key = api_keys::create(&pool, "drill-shop", Role::Storefront).await?;
        let ops_key = api_keys::create(&pool, "drill-ops", Role::Ops).await?;

        let rabbit = RabbitNode::start().await;
        let smtp = SmtpSink::start().await;
        let chromedriver = Chromedriver::start().await;

        let api_bind = format!("127.0.0.1:{}", free_port());
        let emulator_bind = format!("127.0.0.1:{}", free_port());
        let retailer_bind = format!("127.0.0.1:{}", free_port());
        let api_url = format!("http://{api_bind}");
        let emulator_url = format!("http://{emulator_bind}");
        let retailer_url = format!("http://{retailer_bind}");

        let mut emulator = Proc::new(
            "stripe-emulator",
            bins.join("stripe-emulator"),
            &[
                "--bind".into(),
                emulator_bind.clone(),
                "--webhook-url".into(),
                format!("{api_url}/v1/webhooks/stripe"),
                "--webhook-secret".into(),
                WEBHOOK_SECRET.into(),
                "--webhook-events".into(),
                stripe_event_types::handled().collect::<Vec<_>>().join(","),
            ],
            vec![("RUST_LOG".into(), "warn".into())],
            &logs,
        );
        emulator.start()?;
        let mut retailer = Proc::new(
            "demo-retailer",
            bins.join("demo-retailer"),
            &["--bind".into(), retailer_bind.clone()],
            vec![("RUST_LOG".into(), "warn".into())],
            &logs,
        );
        retailer.start()?;

        let mail_dir = smtp.dir.clone();
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url.clone()),
            ("DATABASE_MAX_CONNECTIONS".into(), "5".into()),
            ("API_BIND".into(), api_bind.clone()),
            ("RATE_LIMIT_PER_SECOND".into(), "0".into()),
            ("AMQP_URL".into(), rabbit.url()),
            ("AMQP_PREFIX".into(), PREFIX.into()),
            // Short enough that a job outlives a fault window within its attempts.
            ("RETRY_DELAYS_SECS".into(), "1,2,4,8".into()),
            ("MAX_ATTEMPTS".into(), "12".into()),
            ("OUTBOX_POLL_INTERVAL_MS".into(), "500".into()),
            (
                "RESERVATION_TTL_SECS".into(),
                crate::RESERVATION_TTL_SECS.to_string(),
            ),
            ("REAPER_INTERVAL_SECS".into(), "5".into()),
            ("PLACEMENT_LEASE_SECS".into(), "60".into()),
            ("PLACEMENT_SWEEP_INTERVAL_SECS".into(), "5".into()),
            ("OPS_ALERT_EMAILS".into(), "ops@drill.invalid".into()),
            ("STRIPE_SECRET_KEY".into(), "sk_test_drill".into()),
            ("STRIPE_API_BASE".into(), format!("{emulator_url}/")),
            ("STRIPE_WEBHOOK_SECRETS".into(), WEBHOOK_SECRET.into()),
            ("STRIPE_TIMEOUT_SECS".into(), "10".into()),
            (
                "BROWSER_RECIPES_DIR".into(),
                workspace_root().join("stores").display().to_string(),
            ),
            (
                "BROWSER_EVIDENCE_DIR".into(),
                work.join("evidence").display().to_string(),
            ),
            ("CHROMEDRIVER_URL".into(), chromedriver.url.clone()),
            (
                "BROWSER_STORE_URLS".into(),
                format!("nordwind={retailer_url}/nordwind,rackhouse={retailer_url}/rackhouse"),
            ),
            ("BROWSER_STEP_TIMEOUT_MS".into(), "10000".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        env.extend(smtp.env());

        let mut api = Proc::new("api", bins.join("cartwright-api"), &[], env.clone(), &logs);
        api.start()?;
        let mut workers = Vec::new();
        for role in ROLES {
            let mut role_env = env.clone();
            role_env.push((
                "WORKERS_METRICS_BIND".into(),
                format!("127.0.0.1:{}", free_port()),
            ));
            let mut worker = Proc::new(
                role,
                bins.join("cartwright-workers"),
                &[(*role).to_owned()],
                role_env,
                &logs,
            );
            worker.start()?;
            workers.push(worker);
        }
        let stack = Self {
            work: work.to_path_buf(),
            pool,
            api_url,
            emulator_url,
            retailer_url,
            storefront_key,
            ops_key,
            mail_dir,
            api,
            workers,
            emulator,
            retailer,
            _chromedriver: chromedriver,
            smtp,
            rabbit,
            postgres,
        };
        stack.wait_ready().await?;
        Ok(stack)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let checks = [
            format!("{}/readyz", self.api_url),
            format!("{}/_emulator/health", self.emulator_url),
            format!("{}/_admin/health", self.retailer_url),
        ];
        let deadline = Instant::now() + Duration::from_secs(120);
        for url in checks {
            loop {
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "{url} did not become ready; logs in {}",
                        self.work.display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Starting stock per SKU, set directly before any load.
    pub async fn set_stock(&self, stock: &BTreeMap<String, i32>) -> anyhow::Result<()> {
        for (sku, units) in stock {
            sqlx::query("UPDATE skus SET stock = $2 WHERE sku = $1")
                .bind(sku)
                .bind(units)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    pub fn worker(&mut self, role: &str) -> &mut Proc {
        self.workers
            .iter_mut()
            .find(|w| w.name == role)
            .expect("a known role")
    }

    /// Processes that died without being killed by the drill.
    pub fn crashed(&mut self) -> Vec<String> {
        let mut crashed: Vec<String> = self.workers.iter_mut().filter_map(Proc::exited).collect();
        crashed.extend(self.api.exited());
        crashed.extend(self.emulator.exited());
        crashed.extend(self.retailer.exited());
        crashed
    }
}
