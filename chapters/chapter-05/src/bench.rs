//! `proglog bench produce`: a load generator (being written).

use crate::cli::BenchProduceArgs;

/// Runs `proglog bench produce`.
///
/// # Errors
/// Not yet written.
pub async fn run(_args: &BenchProduceArgs) -> anyhow::Result<()> {
    anyhow::bail!("proglog bench is not written yet")
}
