//! The console's citizen pages over loopback: `/track` and `/track/{code}`
//! from a real `service::serve`, checked as a phone's browser receives
//! them (HTML, headers, assets from inside the binary).

use std::sync::Arc;

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::service::{self, Access, ServeLimits, Token};
use ravand_engine::time::{Timestamp, VirtualClock};
use serde_json::json;

use crate::helpers::root;

struct Site {
    base: String,
    http: reqwest::Client,
    engine: Arc<Engine>,
}

async fn site() -> Site {
    let clock = Arc::new(VirtualClock::new(Timestamp(1_777_708_800)));
    let engine = Arc::new(Engine::in_memory(clock, 21).await.expect("engine"));
    engine
        .add_calendars_from(&root().join("definitions/calendars"))
        .await
        .expect("calendars");
    let text = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
    engine.deploy("complaint-137.yaml", &text).await.expect("deploys");
    let svc = service::Service::new(engine.clone(), vec![Token::for_secret("t", Access::Admin, "admin")]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(service::serve(
        listener,
        service::router(svc),
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
    }
}

impl Site {
    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
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

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
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
