use cartwright_api::Application;
use cartwright_shared::{config::Config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::from_env()?;
    let app = Application::build(config).await?;
    tracing::info!(address = %app.local_addr()?, "cartwright api listening");
    app.run_until_stopped().await?;
    Ok(())
}
