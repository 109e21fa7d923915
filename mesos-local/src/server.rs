//! Binding a listener and serving an axum router until a cancellation
//! token fires, with `TCP_NODELAY` on every connection (event streams
//! write small chunks that must not wait for Nagle).

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::error::Error;

/// Binds `addr`; returns the listener and its address (useful with port
/// 0, where the address is known only after binding).
pub(crate) async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    Ok((listener, bound))
}

/// Serves `router` on `listener` in a background task until `cancel`.
pub(crate) fn serve(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let bound = listener.local_addr().ok();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let shutdown = cancel.clone();
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
        {
            error!(addr = ?bound, error = %e, "HTTP server failed");
        }
    })
}
