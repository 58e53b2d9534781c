//! `ravand serve`: the HTTP service on a database, with a ticker that fires
//! due timers and recurring starts every second, and a round of webhook
//! deliveries every second. SIGHUP re-reads the tokens
//! file (a token removed from it is refused from then on).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ravand_engine::engine::Engine;
use ravand_engine::service::{self, Access, ServeLimits, Token};
use ravand_engine::time::{Clock, SystemClock};

pub struct Options {
    pub db: String,
    pub addr: String,
    pub tokens: Option<PathBuf>,
    pub calendars: Option<PathBuf>,
    pub deploy: Vec<PathBuf>,
    pub max_connections: usize,
    pub jwt: Option<Jwt>,
}

/// Where the identity provider's keys are, and what its tokens must say.
#[derive(Clone)]
pub struct Jwt {
    pub jwks: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

async fn verifier(j: &Jwt) -> Result<Arc<dyn service::Verifier>, String> {
    let text = if j.jwks.starts_with("http://") || j.jwks.starts_with("https://") {
        let r = reqwest::get(&j.jwks).await.map_err(|e| format!("{}: {e}", j.jwks))?;
        if !r.status().is_success() {
            return Err(format!("{}: answered {}", j.jwks, r.status()));
        }
        r.text().await.map_err(|e| format!("{}: {e}", j.jwks))?
    } else {
        std::fs::read_to_string(&j.jwks).map_err(|e| format!("{}: {e}", j.jwks))?
    };
    let v = service::JwtVerifier::from_jwks(&text, j.issuer.clone(), j.audience.clone())
        .map_err(|e| format!("{}: {e}", j.jwks))?;
    Ok(Arc::new(v))
}

fn read_tokens(p: &Path) -> Result<Vec<Token>, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    service::parse_tokens(&text).map_err(|e| format!("{}: {e}", p.display()))
}

fn tokens(path: Option<&Path>) -> Result<Vec<Token>, String> {
    match path {
        Some(p) => read_tokens(p),
        None => {
            // No token file: one admin token for this run, printed once.
            let token: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
            eprintln!("no --tokens file: the admin token for this run is {token}");
            Ok(vec![Token::for_secret(&token, Access::Admin, "admin")])
        }
    }
}

/// Lets the process hold as many sockets as the system allows it.
fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// The calendars for a definition file: `--calendars`, else `calendars/`
/// beside the file, else `definitions/calendars` in the working directory.
fn calendar_dirs(o: &Options) -> Vec<PathBuf> {
    if let Some(c) = &o.calendars {
        return vec![c.clone()];
    }
    let mut dirs: Vec<PathBuf> = o
        .deploy
        .iter()
        .filter_map(|f| f.parent().map(|p| p.join("calendars")))
        .chain(std::iter::once(PathBuf::from("definitions/calendars")))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

pub async fn run(o: Options) -> Result<(), String> {
    // Structured logs on stderr; `RUST_LOG=ravand_engine=debug` for more.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    raise_open_files();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Arc::new(
        Engine::open(&o.db, clock.clone(), rand::random::<u64>())
            .await
            .map_err(|e| e.to_string())?,
    );
    for dir in calendar_dirs(&o) {
        let n = engine.add_calendars_from(&dir).await.map_err(|e| e.to_string())?;
        eprintln!("{n} calendars from {}", dir.display());
    }
    let before: Vec<_> = engine.definitions().await.map_err(|e| e.to_string())?;
    for f in &o.deploy {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        match engine.deploy(&f.display().to_string(), &text).await {
            Ok(k) if before.contains(&k) => eprintln!("{} v{} is already deployed", k.process, k.version),
            Ok(k) => eprintln!("deployed {} v{}", k.process, k.version),
            Err(ravand_engine::engine::EngineError::Invalid(diags)) => {
                for d in &diags {
                    eprintln!("{}", d.render(&text));
                }
                return Err(format!("{}: the definition is not valid; not serving", f.display()));
            }
            Err(e) => return Err(format!("{}: {e}; not serving", f.display())),
        }
    }
    let service = service::Service::new(engine.clone(), tokens(o.tokens.as_deref())?);
    if let Some(j) = &o.jwt {
        service.set_verifier(Some(verifier(j).await?));
    }
    // SIGHUP: read the tokens file (and the JWKS) again.
    let s = service.clone();
    let (path, jwt) = (o.tokens.clone(), o.jwt.clone());
    let mut hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(|e| format!("SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            if let Some(path) = &path {
                match read_tokens(path) {
                    Ok(t) => {
                        let n = t.len();
                        s.set_tokens(t);
                        tracing::info!(tokens = n, file = %path.display(), "tokens re-read");
                    }
                    Err(e) => tracing::error!(error = %e, "tokens not re-read; the old ones stay"),
                }
            }
            if let Some(j) = &jwt {
                match verifier(j).await {
                    Ok(v) => {
                        s.set_verifier(Some(v));
                        tracing::info!(jwks = %j.jwks, "JWKS re-read");
                    }
                    Err(e) => tracing::error!(error = %e, "JWKS not re-read; the old keys stay"),
                }
            }
        }
    });
    let app = service::router(service);
    // Fire due timers and recurring starts at each whole second.
    let ticker = engine.clone();
    tokio::spawn(async move { ticker.keep_time().await });
    // Deliver webhooks every second, each subscription in its own task.
    let hooks = engine.clone();
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            if let Err(e) = service::deliver_webhooks(&hooks, &client).await {
                tracing::error!(error = %e, "webhook round failed; it runs again in a second");
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(&o.addr)
        .await
        .map_err(|e| format!("{}: {e}", o.addr))?;
    eprintln!("ravand serving on http://{} with {}", o.addr, o.db);
    let limits = ServeLimits {
        max_connections: o.max_connections,
        ..ServeLimits::default()
    };
    service::serve(listener, app, limits, std::future::pending())
        .await
        .map_err(|e| e.to_string())
}
