//! `hush`: the command line, the server (`hush server`) and the demo (`hush demo`).
//!
//! The CLI is thin: every command opens the device's [`hush_client::Client`] from the hush
//! home, calls one library function, and prints the result. Errors are one sentence on
//! standard error and a non-zero exit code.
//!
//! - `cli`: every command and flag (clap); `cmd`: what each client command does;
//!   `progress`: the progress bar of file transfers.
//! - `server_cmd`: `hush server` and the operator's commands; `demo`, `bench`: the two
//!   self-contained runs; `ui`: `hush ui`, the app served on loopback.

mod backup_cmd;
mod bench;
mod cli;
mod client_config;
mod cmd;
mod demo;
mod out;
mod passphrase;
mod progress;
mod server_cmd;
mod signal;
mod ui;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hush: can't start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may quote a name someone else chose (a file, a conversation).
            eprintln!("hush: {}", hush_core::display::escape(&e.to_string()));
            exit_code(&e)
        }
    }
}

/// The exit code says whose doing a failure was, for scripts: 2 for the person's mistake
/// (as for a bad flag), 3 when the server did something an honest server never does (an
/// alert, not a retry), 1 for everything else (this machine, the network).
fn exit_code(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<hush_client::ClientError>() {
        Some(c) if c.is_server_misbehaviour() => ExitCode::from(3),
        Some(c) if c.is_usage() => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => server_cmd::run(*args).await,
        Command::Demo { ui } => demo::run(ui).await,
        Command::Bench(args) => bench::run(args).await,
        command => cmd::run(cli.home, cli.ca_cert, command).await,
    }
}
