//! The HTTP front: one hyper connection task per socket, serving the emulator's axum
//! [`Router`] (routing and the per-request layers are in `routes/` and `gateway.rs`).
//!
//! The accept loop pauses (10 to 100 ms, logged once per streak) after an accept error
//! such as EMFILE instead of retrying at once ([`accept_backoff`]). A connection is closed
//! when an HTTP/1 client takes longer than `Config::header_read_timeout` to send its
//! headers, or when nothing moves on it and no request is being handled for
//! `Config::idle_timeout` (idle keep-alive, a client that stalled before its first bytes or
//! in the middle of its body).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Request, Uri};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::ServiceExt as _;

use super::gateway::RawUri;
use super::Shared;

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router;
    let mut connections = tokio::task::JoinSet::new();
    // Consecutive failed accepts; the first of a streak is logged, the rest are not.
    let mut failures: u32 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if failures > 0 {
                        eprintln!("fgform emulator: accepting connections again after {failures} failed accepts");
                        failures = 0;
                    }
                    let _ = stream.set_nodelay(true);
                    let timeouts = (shared.config.header_read_timeout, shared.config.idle_timeout);
                    let stop = shutdown.clone();
                    // A Router clone shares its routes (an Arc); nothing is rebuilt per connection.
                    connections.spawn(connection(stream, app.clone(), timeouts, stop));
                }
                Err(err) => {
                    let pause = accept_backoff(&err, failures);
                    if failures == 0 {
                        eprintln!("fgform emulator: accept failed: {err}; retrying with a pause of up to {} ms", MAX_ACCEPT_BACKOFF.as_millis());
                    }
                    failures = failures.saturating_add(1);
                    if !pause.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = shutdown.changed() => break,
                        }
                    }
                }
            },
            _ = shutdown.changed() => break,
        }
        while connections.try_join_next().is_some() {}
    }
    // Let in-flight requests finish (bounded), then return.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// The longest pause between two failed accepts.
pub(crate) const MAX_ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long to wait before accepting again after the `streak`+1-th consecutive failure.
///
/// An error about one connection (reset or aborted before we took it) says nothing about
/// the next: no pause. Anything else (EMFILE/ENFILE when descriptors run out, ENOBUFS,
/// ENOMEM) leaves the pending connection in the backlog, so an immediate retry fails the
/// same way and spins a core: wait 10 ms, doubling to 100 ms, until an accept succeeds.
pub(crate) fn accept_backoff(err: &std::io::Error, streak: u32) -> Duration {
    use std::io::ErrorKind::*;
    match err.kind() {
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted => Duration::ZERO,
        _ => (Duration::from_millis(10) * 2u32.saturating_pow(streak.min(4))).min(MAX_ACCEPT_BACKOFF),
    }
}

/// When a connection last moved bytes, and how many of its requests are being handled.
pub(crate) struct Activity {
    born: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            born: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        self.last_ms
            .store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.born.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Resolves once the connection has had no request in flight and no traffic for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let idle = self.idle_for();
            if idle >= limit && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            tokio::time::sleep(limit.saturating_sub(idle).max(Duration::from_millis(20))).await;
        }
    }
}

/// Counts a request as in flight while it lives.
pub(crate) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(crate) fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket that records in [`Activity`] every read or write that moved bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// What a request's layers need of its connection (a request extension): the chaos
/// `drop` switch and the idle clock.
#[derive(Clone)]
pub(crate) struct Conn {
    pub dropper: Arc<Notify>,
    pub activity: Arc<Activity>,
}

/// Hands the request its connection and records the target as sent (signed and logged
/// as is), then trims one trailing slash for routing.
fn prepare<B>(mut req: Request<B>, conn: &Conn) -> Request<B> {
    let raw = req.uri().clone();
    if let Some(trimmed) = without_trailing_slash(&raw) {
        *req.uri_mut() = trimmed;
    }
    req.extensions_mut().insert(RawUri(raw));
    req.extensions_mut().insert(conn.clone());
    req
}

/// `/v2/p/fgs/functions/` routes as `/v2/p/fgs/functions`: one trailing slash is dropped,
/// as the gateway does; `/` and paths without one are left alone (`None`).
fn without_trailing_slash(uri: &Uri) -> Option<Uri> {
    let trimmed = uri.path().strip_suffix('/').filter(|p| !p.is_empty())?;
    let path_and_query = match uri.query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

async fn connection(
    stream: TcpStream,
    app: Router,
    (header_read_timeout, idle_timeout): (Duration, Duration),
    mut stop: watch::Receiver<bool>,
) {
    let conn = Conn {
        dropper: Arc::new(Notify::new()),
        activity: Arc::new(Activity::new()),
    };
    let (dropper, activity) = (conn.dropper.clone(), conn.activity.clone());
    let service = TowerToHyperService::new(app.map_request(move |req| prepare(req, &conn)));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let io = Tracked {
        inner: stream,
        activity: activity.clone(),
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // A chaos `drop`: dropping the connection future closes the socket unanswered.
        _ = dropper.notified() => {}
        // Idle keep-alive, or a client that stalled mid-request-line: close it.
        _ = activity.idle(idle_timeout) => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn accept_errors_about_the_process_pause_and_the_pause_is_bounded() {
        let emfile = Error::from_raw_os_error(24); // EMFILE
        let pauses: Vec<Duration> = (0..8).map(|streak| accept_backoff(&emfile, streak)).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]), "{pauses:?}");
        assert_eq!(*pauses.last().unwrap(), MAX_ACCEPT_BACKOFF);
        assert_eq!(accept_backoff(&emfile, u32::MAX), MAX_ACCEPT_BACKOFF);
        for kind in [ErrorKind::OutOfMemory, ErrorKind::Other] {
            assert!(accept_backoff(&Error::from(kind), 0) >= Duration::from_millis(10));
        }
    }

    #[test]
    fn one_trailing_slash_is_trimmed_for_routing_and_the_query_kept() {
        let trim = |s: &str| without_trailing_slash(&s.parse::<Uri>().unwrap()).map(|u| u.to_string());
        assert_eq!(
            trim("/v2/p/fgs/functions/?marker=2").as_deref(),
            Some("/v2/p/fgs/functions?marker=2")
        );
        assert_eq!(trim("/v2/p/fgs/functions//").as_deref(), Some("/v2/p/fgs/functions/"));
        assert_eq!(trim("/v2/p/fgs/functions"), None);
        assert_eq!(trim("/"), None);
    }

    #[test]
    fn accept_errors_about_one_connection_do_not_pause() {
        for kind in [ErrorKind::ConnectionAborted, ErrorKind::ConnectionReset] {
            assert_eq!(accept_backoff(&Error::from(kind), 3), Duration::ZERO);
        }
    }
}
