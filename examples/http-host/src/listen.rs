//! One listener: connections accepted up to a cap (past it a new connection is closed at
//! once), each served by hyper's HTTP/1.1 with a deadline for a request's headers and a
//! lifetime (after which it finishes its request in flight and closes, so a client that
//! stops reading cannot hold it), and a graceful stop: no new connections, the requests
//! in flight finish, and connections still open at the deadline are closed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The bounds of a listener.
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (also the idle time
    /// allowed between requests on a kept-alive connection).
    pub header_timeout: Duration,
    /// How long a connection lives; then it finishes its request in flight within
    /// `shutdown_timeout` and closes.
    pub connection_lifetime: Duration,
    /// How long a stop waits for the requests in flight.
    pub shutdown_timeout: Duration,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(120),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then stops gracefully.
pub async fn serve(listener: TcpListener, app: Router, options: ListenOptions, stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, say: wait a little rather than spin.
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::debug!("{} connections are open: closing a new one", options.max_connections);
                    continue;
                };
                connections.spawn(connection(stream, app.clone(), options, stop.clone(), slot));
            }
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = ended {
                    tracing::warn!("a connection's task failed: {e}");
                }
            }
            () = stopped(&mut stopping) => break,
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(options.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { break },
            () = &mut deadline => {
                tracing::warn!(open = connections.len(), "the stop deadline passed: closing the connections still open");
                connections.abort_all();
                break;
            }
        }
    }
}

/// Serves one connection; on `stop` or at the end of its lifetime, finishes the request
/// in flight and closes, or is dropped if that takes longer than the shutdown timeout.
async fn connection(
    stream: tokio::net::TcpStream,
    app: Router,
    options: ListenOptions,
    mut stop: watch::Receiver<bool>,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(options.header_timeout);
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("connection ended: {e}");
            }
            return;
        }
        () = stopped(&mut stop) => {}
        () = tokio::time::sleep(options.connection_lifetime) => {}
    }
    conn.as_mut().graceful_shutdown();
    if tokio::time::timeout(options.shutdown_timeout, conn).await.is_err() {
        tracing::debug!("a connection did not finish in time: closing it");
    }
}

/// Waits until `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
