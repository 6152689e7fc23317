//! `loadtest`: Hydrant's benchmark driver.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hydrant_loadtest::indexing_bench::{self, IndexingBenchConfig};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    about = "Hydrant benchmarks: figures from runs, next to same-run baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Indexing throughput and peak memory: Hydrant's pipeline vs raw tantivy on one batch.
    Indexing {
        /// Uncompressed megabytes of records in the batch.
        #[arg(long, default_value_t = 128)]
        mb: u64,
        /// Objects in the batch.
        #[arg(long, default_value_t = 10)]
        objects: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Working directory (a temporary one by default).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Indexing {
            mb,
            objects,
            seed,
            work_dir,
        } => runtime.block_on(async move {
            let temp_dir = tempfile::tempdir()?;
            let work_dir = work_dir.unwrap_or_else(|| temp_dir.path().to_path_buf());
            std::fs::create_dir_all(&work_dir)?;
            let config = IndexingBenchConfig {
                total_bytes: mb * 1_000_000,
                num_objects: objects,
                seed,
                work_dir,
            };
            let progress = ProgressBar::new_spinner();
            progress.set_style(ProgressStyle::with_template(
                "{spinner} {elapsed_precise} {msg}",
            )?);
            progress.enable_steady_tick(std::time::Duration::from_millis(200));
            let result =
                indexing_bench::run(&config, |phase| progress.set_message(phase.to_string()))
                    .await?;
            progress.finish_and_clear();
            println!("{}", result.table());
            Ok(())
        }),
    }
}
