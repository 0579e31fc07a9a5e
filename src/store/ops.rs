//! What operators watch: connection-pool usage and row counts for the metrics endpoint.

use super::{Backend, Store, StoreResult, read_pool};
use crate::support::metrics::PoolUsage;
use sqlx::PgPool;

fn usage(pool: &'static str, p: &PgPool) -> PoolUsage {
    PoolUsage {
        pool,
        size: p.size(),
        idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
        max: p.options().get_max_connections(),
    }
}

impl Store {
    /// Each connection pool's size, idle connections and ceiling; no database round trip.
    pub fn pool_usage(&self) -> Vec<PoolUsage> {
        match &self.backend {
            Backend::Postgres(pool) => vec![usage("main", pool)],
            Backend::Sqlite { writer, reader, .. } => [("writer", writer), ("reader", reader)]
                .into_iter()
                .map(|(pool, connections)| {
                    let (size, idle) = connections.usage();
                    PoolUsage {
                        pool,
                        size,
                        idle: u32::try_from(idle).unwrap_or(u32::MAX),
                        max: size,
                    }
                })
                .collect(),
        }
    }

    /// How many clients are registered, per source (`cli`, `dynamic`, `cimd`).
    pub async fn count_clients_by_source(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(read_pool!(self, |pool| sqlx::query_as(
            "SELECT source, COUNT(*) FROM clients GROUP BY source ORDER BY source"
        )
        .fetch_all(pool)
        .await)?)
    }
}
