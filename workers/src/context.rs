//! What every worker is started with.

use std::sync::Arc;

use cartwright_shared::config::Config;
use cartwright_shared::queue::broker::SharedConnection;
use cartwright_shared::queue::topology::Topology;
use cartwright_shared::shutdown::Shutdown;
use sqlx::PgPool;

#[derive(Clone)]
pub struct WorkerContext {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub topology: Topology,
    /// The one connection the process's consumers share.
    pub broker: SharedConnection,
    pub shutdown: Shutdown,
}
