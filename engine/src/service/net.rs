//! Serving over TCP against hostile clients: a limit on connections (the
//! oldest connection with no request in flight makes room for a new one, so
//! half-sent requests cannot starve real ones), a timeout on reading request
//! headers, and the rate limit of the public lookup.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tower::ServiceExt;

/// Limits of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Most open connections; at the limit the oldest one with no request
    /// in flight is closed to make room (if every one is busy, the new one
    /// is closed).
    pub max_connections: usize,
    /// A client must send a request's headers within this long.
    pub header_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
        }
    }
}

struct Conn {
    opened: Instant,
    in_flight: Arc<AtomicUsize>,
    close: Arc<tokio::sync::Notify>,
}

/// Serves `app` on `listener` until `shutdown` completes. Each request
/// carries its peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let conns: Arc<Mutex<HashMap<u64, Conn>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut next_id: u64 = 0;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => return Ok(()),
        };
        let (stream, addr) = match accepted {
            Ok(x) => x,
            // Out of file descriptors or a connection reset while queued:
            // wait a moment rather than spin or stop serving.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let in_flight = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(tokio::sync::Notify::new());
        {
            let mut c = conns.lock().unwrap_or_else(|e| e.into_inner());
            if c.len() >= limits.max_connections {
                let victim = c
                    .iter()
                    .filter(|(_, k)| k.in_flight.load(Ordering::Acquire) == 0)
                    .min_by_key(|(_, k)| k.opened)
                    .map(|(id, _)| *id);
                match victim.and_then(|v| c.remove(&v)) {
                    Some(v) => v.close.notify_one(),
                    None => {
                        drop(stream);
                        continue;
                    }
                }
            }
            c.insert(
                id,
                Conn {
                    opened: Instant::now(),
                    in_flight: in_flight.clone(),
                    close: close.clone(),
                },
            );
        }
        let app = app.clone();
        let builder = builder.clone();
        let conns = conns.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(addr));
                let in_flight = in_flight.clone();
                in_flight.fetch_add(1, Ordering::AcqRel);
                let fut = app.clone().oneshot(req);
                async move {
                    let r = fut.await;
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    r
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                () = close.notified() => {}
            }
            conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }
}

/// The public lookup's rate limit: per client address, and over all.
pub(super) struct PublicLimiter {
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    all: DefaultDirectRateLimiter,
    checks: AtomicUsize,
}

/// Lookups a second one client address may make, after a burst.
pub(super) const PER_CLIENT_PER_SECOND: u32 = 5;
pub(super) const PER_CLIENT_BURST: u32 = 20;
/// Lookups a second over all clients.
pub(super) const ALL_PER_SECOND: u32 = 200;

impl PublicLimiter {
    pub(super) fn new() -> PublicLimiter {
        let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        PublicLimiter {
            per_client: RateLimiter::keyed(
                Quota::per_second(nz(PER_CLIENT_PER_SECOND)).allow_burst(nz(PER_CLIENT_BURST)),
            ),
            all: RateLimiter::direct(Quota::per_second(nz(ALL_PER_SECOND))),
            checks: AtomicUsize::new(0),
        }
    }

    /// Whether a lookup from `peer` may go ahead now.
    pub(super) fn check(&self, peer: Option<SocketAddr>) -> bool {
        // Forget idle clients now and then, so the table stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            self.per_client.retain_recent();
        }
        let ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
        self.per_client.check_key(&ip).is_ok() && self.all.check().is_ok()
    }
}
