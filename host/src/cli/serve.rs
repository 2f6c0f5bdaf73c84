//! `gatehouse serve`: the sidecar.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{CmdResult, Ctx, Failure, usage};
use crate::api::{self, ServeOptions};
use crate::service::Gatehouse;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (overrides `listen` and GATEHOUSE_LISTEN); port 0 picks a free port, and the chosen address is printed.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Largest request body accepted on any route, in bytes (overrides `body_limit_bytes` and `upload_limit_bytes`).
    #[arg(long)]
    body_limit: Option<usize>,
}

pub fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let config = &ctx.config;
    let listen = args.listen.unwrap_or(config.listen);
    // Open (and migrate) the store before binding, so a bad data dir fails fast.
    let gatehouse = Arc::new(Gatehouse::open_with(&config.data_dir, config.gates.clone())?);
    // Compile every plugin in the background (cached on disk by digest), so
    // the first gate does not wait and a broken component shows in the log.
    let warming = gatehouse.clone();
    std::thread::spawn(move || {
        if let Err(e) = warming.warm_plugins() {
            tracing::error!(error = %e, "a plugin cannot run; gates bound to it will block");
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::undecided("internal", format!("cannot start the runtime: {e}")))?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| usage(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| usage(format!("no local address: {e}")))?;
        super::out(&format!("gatehouse listening on http://{addr}"));
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "serving");
        let mut opts: ServeOptions = config.serve.clone();
        if let Some(limit) = args.body_limit {
            opts.body_limit = limit;
            opts.upload_limit = limit;
            opts.body_budget = opts.body_budget.max(limit);
        }
        api::serve(gatehouse, listener, opts, shutdown_signal())
            .await
            .map_err(|e| Failure::undecided("internal", format!("server failed: {e}")))
    });
    // The drain is over (or its deadline passed). Work still running on the
    // blocking pool is abandoned, not awaited: dropping the runtime would wait
    // for it without bound. A write cut off this way never committed (SQLite
    // rolls it back on the next open), and its client had no answer.
    runtime.shutdown_timeout(std::time::Duration::ZERO);
    served
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
    tracing::info!("shutdown signal received");
}
