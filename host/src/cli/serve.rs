//! `gatehouse serve`: the sidecar.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{CmdResult, Ctx, Failure, usage};
use crate::api::{self, ServeOptions};
use crate::service::Gatehouse;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "127.0.0.1:8420")]
    listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "GATEHOUSE_BODY_LIMIT", default_value_t = api::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 10)]
    drain_seconds: u64,
}

pub fn run(ctx: &Ctx, args: Args) -> CmdResult {
    // Open (and migrate) the store before binding, so a bad data dir fails fast.
    let gatehouse = Arc::new(Gatehouse::open(&ctx.data_dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::from(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| usage(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| usage(format!("no local address: {e}")))?;
        println!("gatehouse listening on http://{addr}");
        tracing::info!(%addr, data_dir = %ctx.data_dir.display(), "serving");
        let opts = ServeOptions {
            body_limit: args.body_limit,
            drain: Duration::from_secs(args.drain_seconds),
        };
        api::serve(gatehouse, listener, opts, shutdown_signal())
            .await
            .map_err(|e| Failure::from(anyhow::anyhow!("server failed: {e}")))
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
