//! `wasmod-http-host`: serves HTTP from wasmod modules (see the library docs). It prints
//! `listening on http://ADDR` and `admin on http://ADDR` once both listeners are bound,
//! reloads on `SIGHUP` or `POST /admin/reload`, and stops gracefully on `SIGTERM` or
//! `SIGINT`, letting requests in flight finish until `--shutdown-timeout-ms`; a second
//! such signal, or one while the site starts, stops at once (exit code 143 for
//! `SIGTERM`, 130 for `SIGINT`).

#![allow(clippy::print_stdout, reason = "the bound addresses are the program's output")]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::signal::unix::{Signal, SignalKind, signal};
use wasmod::{CallLimits, QuarantinePolicy, Request};
use wasmod_http_host::listen::{self, ListenOptions};
use wasmod_http_host::serve::ServeOptions;
use wasmod_http_host::site::{Site, SiteOptions};
use wasmod_http_host::{admin, serve};

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
    /// Where the admin listener (`/metrics`, `/healthz`, `/admin/*`) binds.
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
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    call_timeout_ms: u64,
    /// Fuel of one module call (about one unit per wasm instruction).
    #[arg(long, default_value_t = CallLimits::default().fuel, value_parser = clap::value_parser!(u64).range(1..))]
    call_fuel: u64,
    /// Module calls running at once.
    #[arg(long, default_value_t = ServeOptions::default().max_calls, value_parser = in_range(1, 4096))]
    max_calls: usize,
    /// How long a request may wait for a call slot, in milliseconds.
    #[arg(long, default_value_t = millis(ServeOptions::default().queue_timeout))]
    queue_timeout_ms: u64,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = ServeOptions::default().max_body_bytes)]
    max_body_bytes: usize,
    /// How long reading a request's body may take, in milliseconds.
    #[arg(long, default_value_t = millis(ServeOptions::default().body_timeout))]
    body_timeout_ms: u64,
    /// Connections open at once, per listener.
    #[arg(long, default_value_t = ListenOptions::default().max_connections, value_parser = in_range(1, 65_536))]
    max_connections: usize,
    /// How long a client may take to send a request's headers, in milliseconds.
    #[arg(long, default_value_t = millis(ListenOptions::default().header_timeout), value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_ms: u64,
    /// How long a connection lives before it is closed after its request in flight, in
    /// milliseconds.
    #[arg(long, default_value_t = millis(ListenOptions::default().connection_lifetime), value_parser = clap::value_parser!(u64).range(1..))]
    connection_lifetime_ms: u64,
    /// How long a stop waits for the requests in flight, in milliseconds.
    #[arg(long, default_value_t = millis(ListenOptions::default().shutdown_timeout))]
    shutdown_timeout_ms: u64,
}

/// A duration in whole milliseconds, for the flags' defaults.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A parser of a count between `min` and `max`.
fn in_range(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |text| match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// The signals the server handles, registered before anything else so that none of
/// them takes the default action (ending the process) while the site starts.
struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    let result = runtime.block_on(run(args));
    // Module calls of connections the stop closed may still run (each ends by its own
    // deadline); the process does not wait for them.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

async fn run(args: Args) -> Result<()> {
    let mut signals = Signals {
        hangup: signal(SignalKind::hangup()).context("listening for SIGHUP")?,
        terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
    };
    let requests = Arc::new(AtomicU64::new(0));
    let quarantine = QuarantinePolicy { after_failures: args.quarantine_after, cooldown_ms: args.quarantine_ms };
    let limits = CallLimits {
        timeout: Duration::from_millis(args.call_timeout_ms),
        fuel: args.call_fuel,
        ..CallLimits::default()
    };
    let mut builder = wasmod_http_host::host_builder(requests.clone(), quarantine).store(&args.store).limits(limits);
    if let Some(key) = &args.artifact_key {
        builder = builder.artifact_key_file(key);
    }
    let options =
        SiteOptions { packages: args.packages.clone(), config: args.config.clone(), modules: args.modules.clone() };
    let store = args.store.clone();
    let starting = tokio::task::spawn_blocking(move || -> Result<_> {
        let host = builder.open().with_context(|| format!("opening the store {}", store.display()))?;
        Site::open(host, options, requests).context("starting the site")
    });
    // Compiling modules cannot be interrupted: a stop while the site starts exits.
    let (site, first) = tokio::select! {
        started = starting => started??,
        _ = signals.terminate.recv() => std::process::exit(143),
        _ = signals.interrupt.recv() => std::process::exit(130),
    };
    let site = Arc::new(site);
    tracing::info!("serving {} with {} routes", first.active.join(", "), first.routes.len());

    let public =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let admin_listener =
        tokio::net::TcpListener::bind(args.admin).await.with_context(|| format!("binding {}", args.admin))?;
    println!("listening on http://{}", public.local_addr()?);
    println!("admin on http://{}", admin_listener.local_addr()?);

    let serve_options = ServeOptions {
        max_body_bytes: args.max_body_bytes,
        body_timeout: Duration::from_millis(args.body_timeout_ms),
        max_calls: args.max_calls,
        queue_timeout: Duration::from_millis(args.queue_timeout_ms),
    };
    let listen_options = ListenOptions {
        max_connections: args.max_connections,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        connection_lifetime: Duration::from_millis(args.connection_lifetime_ms),
        shutdown_timeout: Duration::from_millis(args.shutdown_timeout_ms),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let public_server =
        listen::serve(public, serve::public(site.clone(), serve_options), listen_options, stop_rx.clone());
    let admin_server = listen::serve(admin_listener, admin::admin(site.clone()), listen_options, stop_rx);
    tokio::join!(public_server, admin_server, handle_signals(signals, site, stop_tx));
    Ok(())
}

/// Reloads on `SIGHUP` (each reload a task of its own, so a stop need not wait for
/// it); on the first `SIGTERM` or `SIGINT` starts the graceful stop, on the second
/// exits at once.
async fn handle_signals(mut signals: Signals, site: Arc<Site>, stop: tokio::sync::watch::Sender<bool>) {
    loop {
        tokio::select! {
            _ = signals.hangup.recv() => {
                tokio::spawn(admin::reload_now(site.clone()));
            }
            _ = signals.terminate.recv() => break,
            _ = signals.interrupt.recv() => break,
        }
    }
    tracing::info!("stopping: finishing the requests in flight");
    let _ = stop.send(true);
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = signals.terminate.recv() => 143,
            _ = signals.interrupt.recv() => 130,
        };
        tracing::warn!("a second signal: stopping at once");
        std::process::exit(code);
    });
}
