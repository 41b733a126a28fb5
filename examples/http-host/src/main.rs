//! `wasmod-http-host`: serves HTTP from wasmod modules (see the library docs). It prints
//! `listening on http://ADDR` and `admin on http://ADDR` once both listeners are bound,
//! reloads on `SIGHUP` or `POST /admin/reload`, and stops gracefully on `SIGTERM` or
//! Ctrl-C, letting requests in flight finish.

#![allow(clippy::print_stdout, reason = "the bound addresses are the program's output")]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use wasmod::{CallLimits, QuarantinePolicy, Request};
use wasmod_http_host::serve::{self, ServeOptions};
use wasmod_http_host::site::{Site, SiteOptions};

/// Serve HTTP routes from wasmod modules implementing `http.handle`.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The module store (made if missing).
    #[arg(long, default_value = ".wasmod-http")]
    store: PathBuf,
    /// A directory of `*.zip` packages installed at start and at every reload.
    #[arg(long)]
    packages: Option<PathBuf>,
    /// The application config (RON: module -> key -> value), read at every reload.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A module to activate, `name` or `name@requirement`; repeatable. Without any,
    /// every installed module implementing `http.handle`.
    #[arg(long = "module")]
    modules: Vec<Request>,
    /// Where the public listener binds (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the admin listener (`/metrics`, `/admin/*`) binds.
    #[arg(long, default_value = "127.0.0.1:9090")]
    admin: SocketAddr,
    /// The artifact key file (default: wasmod's, see `WASMOD_ARTIFACT_KEY`).
    #[arg(long)]
    artifact_key: Option<PathBuf>,
    /// Failures in a row before a function is quarantined (0: never).
    #[arg(long, default_value_t = QuarantinePolicy::default().after_failures)]
    quarantine_after: u32,
    /// How long a quarantine lasts, in milliseconds.
    #[arg(long, default_value_t = QuarantinePolicy::default().cooldown_ms)]
    quarantine_ms: u64,
    /// Wall-time limit of one module call, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    call_timeout_ms: u64,
    /// Module calls running at once.
    #[arg(long, default_value_t = ServeOptions::default().max_calls)]
    max_calls: usize,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = ServeOptions::default().max_body_bytes)]
    max_body_bytes: usize,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    let requests = Arc::new(AtomicU64::new(0));
    let quarantine = QuarantinePolicy { after_failures: args.quarantine_after, cooldown_ms: args.quarantine_ms };
    let limits = CallLimits { timeout: Duration::from_millis(args.call_timeout_ms), ..CallLimits::default() };
    let mut builder = wasmod_http_host::host_builder(requests.clone(), quarantine).store(&args.store).limits(limits);
    if let Some(key) = &args.artifact_key {
        builder = builder.artifact_key_file(key);
    }
    let host = builder.open().with_context(|| format!("opening the store {}", args.store.display()))?;
    let options =
        SiteOptions { packages: args.packages.clone(), config: args.config.clone(), modules: args.modules.clone() };
    let (site, first) = Site::open(host, options, requests).context("starting the site")?;
    tracing::info!("serving {} with {} routes", first.active.join(", "), first.routes.len());
    let serve_options =
        ServeOptions { max_body_bytes: args.max_body_bytes, max_calls: args.max_calls, ..ServeOptions::default() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(run(Arc::new(site), &args, serve_options))
}

async fn run(site: Arc<Site>, args: &Args, options: ServeOptions) -> Result<()> {
    let public =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let admin = tokio::net::TcpListener::bind(args.admin).await.with_context(|| format!("binding {}", args.admin))?;
    println!("listening on http://{}", public.local_addr()?);
    println!("admin on http://{}", admin.local_addr()?);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let public_server =
        axum::serve(public, serve::public(site.clone(), options)).with_graceful_shutdown(stopped(stop_rx.clone()));
    let admin_server = axum::serve(admin, serve::admin(site.clone())).with_graceful_shutdown(stopped(stop_rx));

    let mut hangup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let signals = async move {
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    let _ = serve::reload_now(site.clone()).await;
                }
                _ = terminate.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        tracing::info!("stopping: finishing the requests in flight");
        let _ = stop_tx.send(true);
    };
    let (public_result, admin_result, ()) =
        tokio::join!(async { public_server.await }, async { admin_server.await }, signals);
    public_result.context("serving")?;
    admin_result.context("serving the admin listener")?;
    Ok(())
}
