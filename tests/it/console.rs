//! The console's citizen pages over loopback: `/track` and `/track/{code}`
//! from a real `service::serve`, checked as a phone's browser receives
//! them (HTML, headers, assets from inside the binary).

use std::sync::Arc;

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::service::{self, Access, ServeLimits, Token};
use ravand_engine::time::{Timestamp, VirtualClock};
use serde_json::json;

use crate::helpers::root;

pub(crate) struct Site {
    pub base: String,
    pub http: reqwest::Client,
    pub engine: Arc<Engine>,
    pub svc: Arc<service::Service>,
    pub clock: Arc<VirtualClock>,
}

async fn site() -> Site {
    site_with(vec![Token::for_secret("t", Access::Admin, "admin")]).await
}

/// Asserts the page the browser is at passes axe-core's serious and
/// critical rules and loaded nothing from elsewhere (when axe is there).
pub(crate) async fn accessible(b: &Browser, what: &str) {
    if let Some(a) = b.audit().await {
        assert!(a["error"].is_null(), "axe on {what}: {a}");
        assert_eq!(a["violations"], json!([]), "accessibility of {what}: {a}");
        assert_eq!(a["foreign"], json!([]), "{what} loaded from elsewhere: {a}");
        assert!(
            a["checked"].as_u64().is_some_and(|n| n > 5),
            "axe checked little on {what}: {a}"
        );
    }
}

/// A service on loopback over an in-memory engine with the committed
/// calendars and the 137 process, accepting `tokens`.
pub(crate) async fn site_with(tokens: Vec<Token>) -> Site {
    site_on("sqlite::memory:", tokens).await
}

/// The same, over the database at `url` (several sites may share one).
pub(crate) async fn site_on(url: &str, tokens: Vec<Token>) -> Site {
    let clock = Arc::new(VirtualClock::new(Timestamp(1_777_708_800)));
    let engine = Arc::new(Engine::open(url, clock.clone(), 21).await.expect("engine"));
    engine
        .add_calendars_from(&root().join("definitions/calendars"))
        .await
        .expect("calendars");
    let text = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
    engine.deploy("complaint-137.yaml", &text).await.expect("deploys");
    let svc = service::Service::new(engine.clone(), tokens);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(service::serve(
        listener,
        service::router(svc.clone()),
        ServeLimits::default(),
        std::future::pending(),
    ));
    Site {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        engine,
        svc,
        clock,
    }
}

impl Site {
    pub(crate) async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let (st, h) = (r.status().as_u16(), r.headers().clone());
        (st, h, r.text().await.expect("body"))
    }
}

pub(crate) fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn a_citizen_sees_the_stage_and_the_steps_done_in_persian_and_nothing_of_the_staff() {
    let s = site().await;
    let mut d = ravand_engine::runtime::Data::new();
    d.insert("category".into(), json!("roads"));
    d.insert("district".into(), json!(7));
    let started = s
        .engine
        .start("complaint-137", d, Some("operator-ali".into()))
        .await
        .expect("starts");
    let case: CaseId = started.case;
    let code = started.tracking_code.clone();

    // Just registered: no step done, at the first task.
    let (st, h, body) = s.get(&format!("/track/{code}")).await;
    assert_eq!(st, 200, "{body}");
    assert!(header(&h, "content-type").starts_with("text/html"), "{h:?}");
    assert!(
        header(&h, "content-security-policy").contains("default-src 'none'"),
        "{h:?}"
    );
    assert_eq!(header(&h, "referrer-policy"), "no-referrer");
    assert!(body.contains(r#"<html lang="fa" dir="rtl">"#), "{body}");
    assert!(
        body.contains("رسیدگی به درخواست‌ها و شکایات شهروندان"),
        "no process title: {body}"
    );
    assert!(body.contains("ثبت درخواست شهروند"), "the stage is missing: {body}");
    assert!(body.contains("هنوز مرحله‌ای انجام نشده است."), "{body}");

    // The operator registers it; the SMS step passes at once.
    let view = s.engine.status(case).await.expect("status");
    let task = view.tasks.first().expect("first task").task;
    let mut out = ravand_engine::runtime::Data::new();
    out.insert("category".into(), json!("roads"));
    out.insert("partner".into(), json!(false));
    s.engine
        .complete(case, task, Some("operator-ali".into()), out)
        .await
        .expect("completes");
    let (st, _, body) = s.get(&format!("/track/{code}")).await;
    assert_eq!(st, 200, "{body}");
    for done in ["ثبت درخواست شهروند", "ارسال کد پیگیری با پیامک"] {
        assert!(body.contains(done), "`{done}` not among the steps done: {body}");
    }
    // Dates in Solar Hijri first, Persian digits: 1405-02-12 is the clock's day.
    assert!(body.contains("۱۴۰۵-"), "no Persian-digit Solar Hijri date: {body}");
    assert!(body.contains("(۲۰۲۶-"), "no Gregorian date beside it: {body}");
    // Nothing about the staff or the data.
    for secret in ["operator-ali", "operator-137", "roads", "partner", "district"] {
        assert!(!body.contains(secret), "the page shows `{secret}`: {body}");
    }

    // A code typed in lower case is the same code.
    let (st, _, lower) = s.get(&format!("/track/{}", code.to_lowercase())).await;
    assert_eq!(st, 200);
    assert!(lower.contains("ارسال کد پیگیری با پیامک"), "{lower}");

    // English on request, left to right.
    let (st, _, en) = s.get(&format!("/track/{code}?lang=en")).await;
    assert_eq!(st, 200);
    assert!(en.contains(r#"<html lang="en" dir="ltr">"#), "{en}");
    assert!(en.contains("Steps done") && en.contains("(2026-"), "{en}");
}

#[tokio::test]
async fn the_form_works_without_script_and_refusals_are_pages() {
    let s = site().await;
    let (st, _, form) = s.get("/track").await;
    assert_eq!(st, 200);
    assert!(form.contains(r#"<form method="get" action="/track""#), "{form}");
    assert!(!form.contains("<script"), "the form needs no script");
    // The form's answer goes on to the code's page.
    let (st, h, _) = s.get("/track?code=+abc23+").await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), "/track/ABC23");
    let (st, h, _) = s.get("/track?code=abc23&lang=en").await;
    assert_eq!((st, header(&h, "location")), (303, "/track/ABC23?lang=en"));
    // Unknown and implausible codes: a 404 page, not JSON.
    for path in ["/track/NOSUCHCODE", "/track/%3Cscript%3E", "/track?code=%3Cb%3E"] {
        let (st, h, body) = s.get(path).await;
        assert_eq!(st, 404, "{path}");
        assert!(header(&h, "content-type").starts_with("text/html"), "{path}");
        assert!(body.contains("پرونده‌ای با این کد پیگیری نیست."), "{path}: {body}");
        assert!(
            !body.contains("<script>") && !body.contains("<b>"),
            "{path} is not escaped: {body}"
        );
    }
}

#[tokio::test]
async fn the_assets_come_from_inside_the_binary() {
    let s = site().await;
    let (st, h, css) = s.get("/ui/assets/ravand.css").await;
    assert_eq!(st, 200);
    assert!(header(&h, "content-type").starts_with("text/css"));
    assert!(css.contains("Vazirmatn-Regular.woff2"), "{css}");
    let r = s
        .http
        .get(format!("{}/ui/assets/fonts/Vazirmatn-Regular.woff2", s.base))
        .send()
        .await
        .expect("font");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(r.headers(), "content-type"), "font/woff2");
    let served = r.bytes().await.expect("bytes");
    let file = std::fs::read(root().join("engine/assets/fonts/Vazirmatn-Regular.woff2")).expect("font file");
    assert_eq!(served.as_ref(), file.as_slice());
    assert_eq!(&served[..4], b"wOF2", "not a WOFF2 font");
    let (st, _, _) = s.get("/ui/assets/../Cargo.toml").await;
    assert_eq!(st, 404);
    let (st, _, _) = s.get("/ui/assets/no-such.css").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn the_page_shares_the_public_lookups_rate_limit() {
    let s = site().await;
    let mut limited = 0;
    for i in 0..200 {
        let (st, h, body) = s.get(&format!("/track/WRONGCODE{}", i % 10)).await;
        if st == 429 {
            assert!(header(&h, "content-type").starts_with("text/html"));
            assert!(body.contains("درخواست‌ها بیش از اندازه است"), "{body}");
            limited += 1;
        }
    }
    assert!(limited > 100, "only {limited} of 200 rapid lookups were limited");
    let r = s
        .http
        .get(format!("{}/public/cases/WRONGCODE", s.base))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status().as_u16(), 429, "the API's lookup has the same budget");
}

/// A W3C WebDriver session with Debian's Chromium through chromedriver,
/// spoken over plain HTTP.
pub(crate) struct Browser {
    driver: std::process::Child,
    pub base: String,
    pub session: String,
    pub http: reqwest::Client,
    _profile: std::path::PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium the size of a phone, or
    /// `None` when they are not installed and CI does not require them.
    pub(crate) async fn start() -> Option<Browser> {
        Browser::launch(true).await
    }

    /// The same at a desk's screen, 1280 × 900.
    pub(crate) async fn start_desk() -> Option<Browser> {
        Browser::launch(false).await
    }

    async fn launch(phone: bool) -> Option<Browser> {
        let driver_bin = std::path::Path::new("/usr/bin/chromedriver");
        if !driver_bin.exists() || !std::path::Path::new("/usr/bin/chromium").exists() {
            assert!(
                std::env::var_os("RAVAND_REQUIRE_BROWSER").is_none(),
                "RAVAND_REQUIRE_BROWSER is set but /usr/bin/chromium or /usr/bin/chromedriver is missing (apt packages chromium, chromium-driver)"
            );
            eprintln!("SKIPPED: no /usr/bin/chromium and /usr/bin/chromedriver; install the apt packages chromium and chromium-driver (CI does, and requires them)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = std::process::Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("ravand-chromium-{}-{port}", std::process::id()));
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let mut options = json!({"binary": "/usr/bin/chromium", "args": args});
        if phone {
            // A phone's screen (headless windows are at least 500 wide).
            options["mobileEmulation"] = json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0}});
        } else if let Some(a) = options["args"].as_array_mut() {
            a.push(json!("--window-size=1280,900"));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let v: serde_json::Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Some(Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        })
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        match self.try_call(method, path, body).await {
            Ok(v) => v,
            Err(v) => panic!("{method} {path}: {v}"),
        }
    }

    /// A WebDriver command: its value, or the error answered.
    async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let v: serde_json::Value = r.send().await.expect("webdriver").json().await.expect("json");
        if v["value"]["error"].is_null() {
            Ok(v["value"].clone())
        } else {
            Err(v)
        }
    }

    /// The screen now as `{RAVAND_SCREENSHOTS}/{name}.png`, when that
    /// folder is set (`scripts/screenshots.sh` sets it for the README).
    pub(crate) async fn shot(&self, name: &str) {
        let Some(dir) = std::env::var_os("RAVAND_SCREENSHOTS") else {
            return;
        };
        use base64::Engine as _;
        let shot = self.call("GET", "/screenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("base64"))
            .expect("png");
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).expect("the screenshots folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot");
    }

    /// The page now, checked by axe-core (vendored from npm by `.ci/run` at
    /// `RAVAND_AXE`): its serious and critical accessibility violations,
    /// and every resource it loaded from anywhere but this test's
    /// 127.0.0.1. `None` when axe-core is not there and CI does not
    /// require it (`RAVAND_REQUIRE_BROWSER`).
    pub(crate) async fn audit(&self) -> Option<serde_json::Value> {
        let Some(path) = std::env::var_os("RAVAND_AXE") else {
            assert!(
                std::env::var_os("RAVAND_REQUIRE_BROWSER").is_none(),
                "RAVAND_REQUIRE_BROWSER is set but RAVAND_AXE (axe.min.js from the npm package axe-core) is not"
            );
            eprintln!("SKIPPED: the accessibility check; set RAVAND_AXE to axe-core's axe.min.js (.ci/run does)");
            return None;
        };
        let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("RAVAND_AXE {path:?}: {e}"));
        self.call("POST", "/timeouts", json!({"script": 120_000})).await;
        let script = format!(
            "{axe}\nconst done = arguments[arguments.length - 1];\n\
             axe.run(document, {{resultTypes: ['violations']}}).then(r => done({{\
               violations: r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
                 .map(v => ({{id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}})),\
               foreign: performance.getEntriesByType('resource').map(e => e.name)\
                 .filter(u => !u.startsWith(location.origin + '/')),\
               checked: r.passes.length}}), e => done({{error: String(e)}}));"
        );
        Some(
            self.call("POST", "/execute/async", json!({"script": script, "args": []}))
                .await,
        )
    }

    /// Signs in through the login form at `base` with `token`, landing on
    /// the page the login was asked from (`from`, e.g. `/ui/desk`).
    pub(crate) async fn sign_in(&self, base: &str, from: &str, token: &str) {
        self.go(&format!("{base}{from}")).await;
        let input = self.element("#token").await;
        self.call("POST", &format!("/element/{input}/value"), json!({ "text": token }))
            .await;
        let button = self.element("form.stack button[type=submit]").await;
        self.call("POST", &format!("/element/{button}/click"), json!({})).await;
        crate::desk::settle(self, from).await;
    }

    pub(crate) async fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    pub(crate) async fn element(&self, css: &str) -> String {
        let v = self
            .call("POST", "/element", json!({"using": "css selector", "value": css}))
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|e| e.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// Once the page's fonts are ready: what the page looks like to a reader.
    pub(crate) async fn looks(&self) -> serde_json::Value {
        let script = "const done = arguments[0]; document.fonts.ready.then(() => done({\
            lang: document.documentElement.lang, dir: document.documentElement.dir,\
            loaded: [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family.replace(/\"/g, '')),\
            overflow: document.documentElement.scrollWidth > window.innerWidth || (screen.width < 600 && window.innerWidth > screen.width),\
            width: window.innerWidth,\
            title: (document.querySelector('h2') || {}).innerText || null,\
            stage: (document.querySelector('.stage') || {}).innerText || null,\
            path: location.pathname + location.search}));";
        // A script that runs while a form's answer replaces the page is cut
        // off; it is asked again on the page that came.
        let mut last = json!(null);
        for _ in 0..20 {
            match self
                .try_call("POST", "/execute/async", json!({"script": script, "args": []}))
                .await
            {
                Ok(v) => return v,
                Err(e) => last = e,
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("the page never answered: {last}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_form_leads_to_the_case_set_right_to_left_in_vazirmatn() {
    let s = site().await;
    let mut d = ravand_engine::runtime::Data::new();
    d.insert("category".into(), json!("lighting"));
    let started = s.engine.start("complaint-137", d, None).await.expect("starts");
    let Some(b) = Browser::start().await else { return };
    b.go(&format!("{}/track", s.base)).await;
    // The form, typed into and sent as a person would: no script on the page.
    let input = b.element("#code").await;
    accessible(&b, "the citizen's form").await;
    b.shot("track-form-phone").await;
    b.call(
        "POST",
        &format!("/element/{input}/value"),
        json!({"text": started.tracking_code.to_lowercase()}),
    )
    .await;
    let button = b.element("button[type=submit]").await;
    b.call("POST", &format!("/element/{button}/click"), json!({})).await;
    let mut looks = b.looks().await;
    for _ in 0..50 {
        if looks["path"] == json!(format!("/track/{}", started.tracking_code)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        looks = b.looks().await;
    }
    assert_eq!(
        looks["path"],
        json!(format!("/track/{}", started.tracking_code)),
        "{looks}"
    );
    assert_eq!(
        (&looks["lang"], &looks["dir"]),
        (&json!("fa"), &json!("rtl")),
        "{looks}"
    );
    assert!(
        looks["loaded"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("Vazirmatn"))),
        "Vazirmatn was not loaded from the binary: {looks}"
    );
    assert_eq!(looks["width"], json!(390), "not a phone's width: {looks}");
    assert_eq!(
        looks["overflow"],
        json!(false),
        "the page is wider than a phone: {looks}"
    );
    assert_eq!(
        looks["title"],
        json!("رسیدگی به درخواست‌ها و شکایات شهروندان (سامانه ۱۳۷)"),
        "{looks}"
    );
    assert!(
        looks["stage"]
            .as_str()
            .is_some_and(|t| t.contains("ثبت درخواست شهروند")),
        "{looks}"
    );
    accessible(&b, "the citizen's case").await;
    b.shot("track-case-phone").await;
    // The language switch.
    let link = b.element("nav a").await;
    b.call("POST", &format!("/element/{link}/click"), json!({})).await;
    let mut en = b.looks().await;
    for _ in 0..50 {
        if en["lang"] == json!("en") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        en = b.looks().await;
    }
    assert_eq!((&en["lang"], &en["dir"]), (&json!("en"), &json!("ltr")), "{en}");
    assert_eq!(
        en["title"],
        json!("Citizen request and complaint handling (137)"),
        "{en}"
    );
    let _ = b.http.delete(format!("{}/session/{}", b.base, b.session)).send().await;
}
