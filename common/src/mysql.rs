//! MariaDB helpers every service's store shares.

use std::time::Duration;

use sqlx::MySqlPool;
use sqlx::migrate::Migrator;

/// Runs `migrator` one process at a time. sqlx's own migration lock is
/// `GET_LOCK(name, -1)`, which MariaDB 10.11 answers at once with NULL
/// instead of waiting: two processes (or tests) starting on a fresh database
/// together would both apply the first migration, and one of them fail
/// ("Duplicate entry '1'"). So the service holds its own named lock, with a
/// positive timeout, around the migrator.
pub async fn migrate_locked(
    pool: &MySqlPool,
    migrator: &Migrator,
    service: &str,
    timeout: Duration,
) -> Result<(), String> {
    const LOCK: &str = "SELECT GET_LOCK(CONCAT('minipay-migrations:', ?, ':', DATABASE()), ?)";
    const UNLOCK: &str = "SELECT RELEASE_LOCK(CONCAT('minipay-migrations:', ?, ':', DATABASE()))";
    let mut holder = pool.acquire().await.map_err(|e| e.to_string())?;
    let seconds = i64::try_from(timeout.as_secs()).unwrap_or(60).max(1);
    let locked: Option<i64> = sqlx::query_scalar(LOCK)
        .bind(service)
        .bind(seconds)
        .fetch_one(&mut *holder)
        .await
        .map_err(|e| e.to_string())?;
    if locked != Some(1) {
        return Err(format!(
            "another process held the migration lock for {seconds} s"
        ));
    }
    let migrated = migrator
        .run(pool)
        .await
        .map_err(|e| format!("migrations failed: {e}"));
    // Closing the connection would release the lock too; say so explicitly.
    let _released: Result<Option<i64>, _> = sqlx::query_scalar(UNLOCK)
        .bind(service)
        .fetch_one(&mut *holder)
        .await;
    migrated
}
