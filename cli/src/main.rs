//! `hydrant`: run Hydrant locally, and operate an index from the command line.

mod args;
mod commands;
mod errors;
mod index;
mod local;
mod output;
mod split;
mod template;
mod write_api;

use clap::{Parser, Subcommand};

/// Serverless search for data that Firehose lands in S3.
#[derive(Debug, Parser)]
#[command(name = "hydrant", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything locally: a mock-sales Firehose generator, the indexer, and the search API.
    Local(local::LocalOptions),
    /// Create, fill, list, describe, delete or clear indexes.
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Create, list or delete index templates.
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// List, describe or mark for deletion the splits of an index.
    #[command(subcommand)]
    Split(split::SplitCommand),
    /// Read what the indexer rejected or set aside, with the reasons.
    #[command(subcommand)]
    Errors(errors::ErrorsCommand),
    /// Run one search and print the response.
    Search(commands::SearchOptions),
    /// Serve the search API for the indexes of a storage.
    Serve(commands::ServeOptions),
    /// Run the indexer outside Lambda, receiving batches from the SQS queue.
    Poll(commands::PollOptions),
    /// Queue existing staging objects for indexing (one message each).
    Backfill(commands::BackfillOptions),
    /// Run retention, merges and garbage collection once.
    Maintenance(commands::MaintenanceOptions),
    /// Prepare an existing staging bucket for a stack attached to it.
    #[command(subcommand)]
    Staging(commands::StagingCommand),
}

/// Completes on Ctrl-C or SIGTERM, so that `kill` and container runtimes stop cleanly too. The
/// handlers are installed when this is called, not when it is first awaited: a signal that
/// arrives in between is not lost.
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let wait = |signal: std::io::Result<tokio::signal::unix::Signal>| async move {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait(terminate) => {}
            () = wait(interrupt) => {}
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        // Local mode shows a status line; only problems are logged.
        Command::Local(_) => "warn",
        _ => "warn,hydrant_ingest=info,hydrant_search=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colour only for a person at a terminal: redirected to a file, logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Local(options) => local::run(options).await,
            Command::Index(command) => index::index_command(command).await,
            Command::Template(command) => template::template_command(command).await,
            Command::Split(command) => split::split_command(command).await,
            Command::Errors(command) => errors::errors_command(command).await,
            Command::Search(options) => commands::search(options).await,
            Command::Serve(options) => commands::serve(options).await,
            Command::Poll(options) => commands::poll(options).await,
            Command::Backfill(options) => commands::backfill(options).await,
            Command::Maintenance(options) => commands::maintenance(options).await,
            Command::Staging(command) => commands::staging(command).await,
        }
    })
}
