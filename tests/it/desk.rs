//! The staff's console over loopback: signing in with a token (a session
//! in the store, its cookie HttpOnly and SameSite=Strict), the cartable,
//! claiming and completing a task through forms made from its step, CSRF
//! and cross-site refusals, signing out; and in Debian's Chromium, a task
//! worked from the desk without a line of script.

use serde_json::json;

use crate::console::{header, site_with, Browser, Site};
use ravand_engine::engine::CaseId;
use ravand_engine::runtime::Data;
use ravand_engine::service::{Access, Token};

/// A test process whose one task sets a field of every type.
const TYPED: &str = r#"
id: desk-test
version: 1
title: آزمون کارتابل
title_en: Desk test
roles:
  - {id: clerk, title: کارشناس پرونده, unit: واحد صدور پروانه}
data:
  - {name: applicant, type: string, title: متقاضی, required: true}
  - {name: amount, type: number, title: مبلغ}
  - {name: units, type: integer, title: تعداد واحد}
  - {name: visit, type: date, title: تاریخ بازدید}
  - {name: kind, type: enum, values: [house, shop], title: نوع ملک}
  - {name: ok, type: bool, title: تایید}
steps:
  - {id: start, kind: start}
  - id: review
    title: بررسی پرونده
    title_en: Review the file
    performer: clerk
    shows: [applicant]
    sets: [amount, units, visit, kind, ok]
    deadline:
      due: 2 hours
      escalation:
        - {after: 0, action: remind}
        - {after: 1 hours, action: warn}
  - {id: end, kind: end, outcome: done}
"#;

fn clerk(secret: &str, user: &str, roles: &[&str]) -> Token {
    let mut t = Token::for_secret(secret, Access::Clerk, user);
    t.processes = vec!["complaint-137".into()];
    t.roles = roles.iter().map(|r| r.to_string()).collect();
    t
}

fn tokens() -> Vec<Token> {
    let mut typed = Token::for_secret("typed-secret", Access::Clerk, "clerk-sara");
    typed.roles = vec!["desk-test/clerk".into()];
    vec![
        clerk("operator-secret", "operator-ali", &["complaint-137/operator-137"]),
        clerk("classifier-secret", "classifier-reza", &["complaint-137/classifier"]),
        typed,
        Token::for_secret("admin-secret", Access::Admin, "admin"),
    ]
}

/// The value of the hidden input or attribute `name="…" value="…"` on a page.
fn hidden(body: &str, name: &str) -> String {
    let at = body
        .find(&format!(r#"name="{name}" value=""#))
        .unwrap_or_else(|| panic!("no `{name}` field: {body}"));
    let rest = &body[at + name.len() + 15..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

/// A cookie's `name=value` from a response's `Set-Cookie` headers, and the whole header.
fn set_cookie(h: &reqwest::header::HeaderMap, name: &str) -> Option<(String, String)> {
    h.get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap_or("").to_owned(), v.to_owned()))
}

impl Site {
    async fn post_form(
        &self,
        path: &str,
        cookies: &[&str],
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish());
        if !cookies.is_empty() {
            r = r.header("cookie", cookies.join("; "));
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        let r = r.send().await.expect("request");
        let (st, h) = (r.status().as_u16(), r.headers().clone());
        (st, h, r.text().await.expect("body"))
    }

    pub(crate) async fn get_with(&self, path: &str, cookie: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        let (st, h) = (r.status().as_u16(), r.headers().clone());
        (st, h, r.text().await.expect("body"))
    }

    /// Signs in with `token` through the login form; the session cookie.
    pub(crate) async fn sign_in(&self, token: &str) -> String {
        let (st, h, form) = self.get("/ui/login?next=/ui/desk").await;
        assert_eq!(st, 200, "{form}");
        let (login, _) = set_cookie(&h, "ravand_login").expect("the login form's cookie");
        let nonce = hidden(&form, "nonce");
        let (st, h, body) = self
            .post_form(
                "/ui/login",
                &[&login],
                &[("token", token), ("nonce", &nonce), ("next", "/ui/desk")],
                Some(&self.base),
            )
            .await;
        assert_eq!(st, 303, "{body}");
        set_cookie(&h, "ravand_session").expect("a session cookie").0
    }
}

#[tokio::test]
async fn staff_sign_in_with_a_token_and_the_session_cookie_is_strict_and_scoped() {
    let s = site_with(tokens()).await;
    // Not signed in: the desk sends to the login page, to come back.
    let (st, h, _) = s.get("/ui/desk").await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), "/ui/login?next=%2Fui%2Fdesk");
    let (st, h, form) = s.get("/ui/login").await;
    assert_eq!(st, 200);
    assert!(form.contains(r#"<html lang="fa" dir="rtl">"#), "{form}");
    assert!(form.contains(r#"name="token" type="password""#), "{form}");
    assert!(!form.contains("<script"), "{form}");
    let (login, whole) = set_cookie(&h, "ravand_login").expect("login cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui/login"] {
        assert!(whole.contains(flag), "{whole}");
    }
    let nonce = hidden(&form, "nonce");

    // A wrong token: the form again, 401, no session.
    let (st, h, body) = s
        .post_form("/ui/login", &[&login], &[("token", "guess"), ("nonce", &nonce)], None)
        .await;
    assert_eq!(st, 401);
    assert!(body.contains("این کلید دسترسی پذیرفته نشد."), "{body}");
    assert!(set_cookie(&h, "ravand_session").is_none());
    // The right token without the form's own cookie (a login forced from
    // another site): refused.
    let (st, _, body) = s
        .post_form(
            "/ui/login",
            &[],
            &[("token", "operator-secret"), ("nonce", &nonce)],
            None,
        )
        .await;
    assert_eq!(st, 403, "{body}");
    // From another site's page: refused before the token is looked at.
    let (st, _, _) = s
        .post_form(
            "/ui/login",
            &[&login],
            &[("token", "operator-secret"), ("nonce", &nonce)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(st, 403);
    // `next` may not lead off the console.
    let (st, h, _) = s
        .post_form(
            "/ui/login",
            &[&login],
            &[
                ("token", "operator-secret"),
                ("nonce", &nonce),
                ("next", "//evil.example/"),
            ],
            None,
        )
        .await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), "/ui/desk");
    let (session, whole) = set_cookie(&h, "ravand_session").expect("session");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=28800"] {
        assert!(whole.contains(flag), "{whole}");
    }
    assert!(!whole.contains("Secure"), "plain HTTP: {whole}");
    assert!(
        !whole.contains("operator-secret"),
        "the token is not in the cookie: {whole}"
    );
    // Behind a proxy speaking HTTPS the cookie is Secure.
    let (st, _, form) = s.get("/ui/login").await;
    assert_eq!(st, 200);
    let r = s
        .http
        .post(format!("{}/ui/login", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("ravand_login={}", hidden(&form, "nonce")))
        .body(format!("token=operator-secret&nonce={}", hidden(&form, "nonce")))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 303);
    let (_, whole) = set_cookie(r.headers(), "ravand_session").expect("session");
    assert!(whole.contains("; Secure"), "{whole}");

    // The session opens the desk, and names who is signed in.
    let (st, _, desk) = s.get_with("/ui/desk", &session).await;
    assert_eq!(st, 200, "{desk}");
    assert!(desk.contains("operator-ali"), "{desk}");
    // The session cookie is no API token.
    let r = s
        .http
        .get(format!("{}/tasks", s.base))
        .header("cookie", &session)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status().as_u16(), 401);

    // Signing out needs the form's secret, then ends the session.
    let csrf = hidden(&desk, "_csrf");
    let (st, _, _) = s
        .post_form("/ui/logout", &[&session], &[("_csrf", "wrong")], None)
        .await;
    assert_eq!(st, 403);
    let (st, h, _) = s.post_form("/ui/logout", &[&session], &[("_csrf", &csrf)], None).await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), "/ui/login");
    let (st, h, _) = s.get_with("/ui/desk", &session).await;
    assert_eq!(st, 303, "a signed-out session opens nothing");
    assert!(header(&h, "location").starts_with("/ui/login"));

    // A token taken out of the tokens file ends its sessions at once.
    let session = s.sign_in("classifier-secret").await;
    assert_eq!(s.get_with("/ui/desk", &session).await.0, 200);
    s.svc
        .set_tokens(tokens().into_iter().filter(|t| t.user != "classifier-reza").collect());
    assert_eq!(s.get_with("/ui/desk", &session).await.0, 303);
}

#[tokio::test]
async fn a_clerk_claims_and_completes_a_task_from_the_desk_and_the_engine_judges_it() {
    let s = site_with(tokens()).await;
    let mut d = Data::new();
    d.insert("category".into(), json!("roads"));
    let case: CaseId = s.engine.start("complaint-137", d, None).await.expect("starts").case;
    let task = s.engine.status(case).await.expect("status").tasks[0].task;
    let href = format!("/ui/cases/{}/tasks/{}", case.0, task.0);

    let operator = s.sign_in("operator-secret").await;
    let (st, _, desk) = s.get_with("/ui/desk?view=roles", &operator).await;
    assert_eq!(st, 200, "{desk}");
    assert!(desk.contains("ثبت درخواست شهروند"), "{desk}");
    assert!(desk.contains("اپراتور سامانه ۱۳۷"), "the role's Persian title: {desk}");
    assert!(desk.contains(&format!(r#"action="{href}/claim""#)), "{desk}");
    // Nobody holds it yet: not on "my tasks".
    let (_, _, mine) = s.get_with("/ui/desk?view=mine", &operator).await;
    assert!(mine.contains("کاری در این فهرست نیست."), "{mine}");
    let csrf = hidden(&desk, "_csrf");

    // Claiming: refused without the secret, or from another site.
    let (st, _, _) = s.post_form(&format!("{href}/claim"), &[&operator], &[], None).await;
    assert_eq!(st, 403);
    let (st, _, _) = s
        .post_form(
            &format!("{href}/claim"),
            &[&operator],
            &[("_csrf", &csrf)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(s.engine.status(case).await.expect("status").tasks[0].assignee, None);
    let (st, h, _) = s
        .post_form(
            &format!("{href}/claim"),
            &[&operator],
            &[("_csrf", &csrf)],
            Some(&s.base),
        )
        .await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), format!("{href}?done=claimed"));
    assert_eq!(
        s.engine.status(case).await.expect("status").tasks[0]
            .assignee
            .as_deref(),
        Some("operator-ali")
    );
    let (_, _, mine) = s.get_with("/ui/desk?view=mine", &operator).await;
    assert!(mine.contains(&href), "{mine}");

    // The task's page: its inputs as a form (an enum as choices, a bool as yes/no).
    let (st, _, page) = s.get_with(&format!("{href}?done=claimed"), &operator).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("کار را برداشتید."), "{page}");
    for want in [
        r#"<select id="f-category" name="category""#,
        r#"<option value="roads" selected>roads</option>"#,
        r#"<option value="true">بله</option>"#,
        "نوع درخواست",
        "همیار شهرداری",
    ] {
        assert!(page.contains(want), "no `{want}`: {page}");
    }
    // A value the engine refuses: the form again, its message beside the field, nothing done.
    let (st, _, again) = s
        .post_form(
            &format!("{href}/complete"),
            &[&operator],
            &[("_csrf", &csrf), ("category", "bridges"), ("partner", "true")],
            None,
        )
        .await;
    assert_eq!(st, 422, "{again}");
    assert!(
        again.contains(r#"<p class="field-error" id="e-category" role="alert">`category` must be one of"#),
        "{again}"
    );
    assert!(again.contains(r#"aria-invalid="true""#), "{again}");
    assert_eq!(s.engine.status(case).await.expect("status").tasks[0].task, task);

    // A classifier may read the case but not work this task.
    let classifier = s.sign_in("classifier-secret").await;
    let (st, _, seen) = s.get_with(&href, &classifier).await;
    assert_eq!(st, 200, "{seen}");
    assert!(seen.contains("شما اجازهٔ انجام این کار را ندارید"), "{seen}");
    assert!(!seen.contains("/complete\""), "no form for who may not: {seen}");
    let c_csrf = hidden(&seen, "_csrf");
    let (st, _, refused) = s
        .post_form(
            &format!("{href}/complete"),
            &[&classifier],
            &[("_csrf", &c_csrf), ("category", "roads")],
            None,
        )
        .await;
    assert_eq!(st, 403, "the engine refuses it in its unit of work: {refused}");
    // Another's session secret does not pass for this one.
    let (st, _, _) = s
        .post_form(
            &format!("{href}/complete"),
            &[&operator],
            &[("_csrf", &c_csrf), ("category", "roads")],
            None,
        )
        .await;
    assert_eq!(st, 403);

    // Done right: recorded as the operator's, and off the desk.
    let (st, h, _) = s
        .post_form(
            &format!("{href}/complete"),
            &[&operator],
            &[("_csrf", &csrf), ("category", "lighting"), ("partner", "false")],
            None,
        )
        .await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), "/ui/desk?done=completed");
    let view = s.engine.status(case).await.expect("status");
    assert!(view.tasks.iter().all(|t| t.task != task), "{view:?}");
    assert_eq!(view.data.get("category"), Some(&json!("lighting")));
    assert_eq!(view.data.get("partner"), Some(&json!(false)));
    let lines = s.engine.history_lines(case).await.expect("history");
    assert!(
        lines.iter().any(|l| l.contains("operator-ali")),
        "the completion is the operator's: {lines:?}"
    );
    let (_, _, desk) = s.get_with("/ui/desk?done=completed", &operator).await;
    assert!(desk.contains("کار انجام و ثبت شد."), "{desk}");
    assert!(!desk.contains(&href), "{desk}");
    // The task is gone: its page says so.
    let (st, _, gone) = s.get_with(&href, &operator).await;
    assert_eq!(st, 404, "{gone}");
}

#[tokio::test]
async fn typed_inputs_read_as_their_types_in_persian_digits_and_wrong_ones_stay_beside_their_field() {
    let s = site_with(tokens()).await;
    s.engine.deploy("desk-test.yaml", TYPED).await.expect("deploys");
    let mut d = Data::new();
    d.insert("applicant".into(), json!("مریم احمدی"));
    let case = s.engine.start("desk-test", d, None).await.expect("starts").case;
    let task = s.engine.status(case).await.expect("status").tasks[0].task;
    let href = format!("/ui/cases/{}/tasks/{}", case.0, task.0);
    // Past the deadline: the reminder and the warning fired.
    s.clock.advance(4 * 3600);
    s.engine.tick(s.engine.now()).await.expect("tick");

    let clerk = s.sign_in("typed-secret").await;
    let (_, _, desk) = s.get_with("/ui/desk", &clerk).await;
    assert!(desk.contains(r#"<tr class="overdue">"#), "{desk}");
    assert!(desk.contains("گذشته از مهلت"), "{desk}");
    let (st, _, page) = s.get_with(&href, &clerk).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("مریم احمدی"), "what the step shows: {page}");
    assert!(!page.contains(r#"name="applicant""#), "shown, not an input: {page}");
    assert!(
        page.contains("تذکر (۱ بار)") && page.contains("اخطار (۱ بار)"),
        "{page}"
    );
    assert!(page.contains(r#"inputmode="decimal""#), "{page}");
    let csrf = hidden(&page, "_csrf");

    // A whole number that is not one: refused here, beside its field, with the rest kept.
    let (st, _, again) = s
        .post_form(
            &format!("{href}/complete"),
            &[&clerk],
            &[("_csrf", &csrf), ("amount", "۱۲٫۵"), ("units", "سه"), ("kind", "shop")],
            None,
        )
        .await;
    assert_eq!(st, 422, "{again}");
    assert!(
        again.contains(r#"<p class="field-error" id="e-units" role="alert">باید عدد درست (بی‌اعشار) باشد.</p>"#),
        "{again}"
    );
    assert!(again.contains(r#"value="۱۲٫۵""#), "what was typed is kept: {again}");
    assert!(again.contains(r#"<option value="shop" selected>"#), "{again}");
    assert_eq!(s.engine.status(case).await.expect("status").tasks.len(), 1);
    // A date the engine cannot read: its refusal beside the date.
    let (st, _, again) = s
        .post_form(
            &format!("{href}/complete"),
            &[&clerk],
            &[("_csrf", &csrf), ("visit", "1405-13-40")],
            None,
        )
        .await;
    assert_eq!(st, 422, "{again}");
    assert!(again.contains(r#"id="e-visit""#), "{again}");

    // Persian digits, a Solar Hijri date, a choice and a yes.
    let (st, _, body) = s
        .post_form(
            &format!("{href}/complete"),
            &[&clerk],
            &[
                ("_csrf", &csrf),
                ("amount", "۱۲٫۵"),
                ("units", "۳"),
                ("visit", "۱۴۰۵-۰۱-۱۵"),
                ("kind", "house"),
                ("ok", "true"),
            ],
            None,
        )
        .await;
    assert_eq!(st, 303, "{body}");
    let view = s.engine.status(case).await.expect("status");
    assert_eq!(view.data.get("amount"), Some(&json!(12.5)));
    assert_eq!(view.data.get("units"), Some(&json!(3)));
    assert_eq!(view.data.get("visit"), Some(&json!("1405-01-15")));
    assert_eq!(view.data.get("kind"), Some(&json!("house")));
    assert_eq!(view.data.get("ok"), Some(&json!(true)));
}

#[tokio::test]
async fn a_session_opened_on_one_node_is_known_on_another_and_ends_on_both() {
    let dir = std::env::temp_dir().join(format!("ravand-sessions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("ravand.db").display());
    let a = crate::console::site_on(&url, tokens()).await;
    let b = crate::console::site_on(&url, tokens()).await;
    let session = a.sign_in("operator-secret").await;
    let (st, _, desk) = b.get_with("/ui/desk", &session).await;
    assert_eq!(st, 200, "node b knows node a's session: {desk}");
    let csrf = hidden(&desk, "_csrf");
    let (st, _, _) = b.post_form("/ui/logout", &[&session], &[("_csrf", &csrf)], None).await;
    assert_eq!(st, 303);
    assert_eq!(
        a.get_with("/ui/desk", &session).await.0,
        303,
        "signed out on b, gone on a"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_clerk_signs_in_and_completes_a_task_with_no_script() {
    let s = site_with(tokens()).await;
    let mut d = Data::new();
    d.insert("category".into(), json!("waste"));
    let case = s.engine.start("complaint-137", d, None).await.expect("starts").case;
    let Some(b) = Browser::start().await else { return };
    b.go(&format!("{}/ui/desk", s.base)).await;
    // On the login page: type the token and send.
    let input = b.element("#token").await;
    crate::console::accessible(&b, "the login page").await;
    b.shot("login-phone").await;
    b.call(
        "POST",
        &format!("/element/{input}/value"),
        json!({"text": "operator-secret"}),
    )
    .await;
    let button = b.element("form.stack button[type=submit]").await;
    b.call("POST", &format!("/element/{button}/click"), json!({})).await;
    let looks = settle(&b, "/ui/desk").await;
    assert_eq!(
        (&looks["lang"], &looks["dir"]),
        (&json!("fa"), &json!("rtl")),
        "{looks}"
    );
    assert_eq!(
        looks["overflow"],
        json!(false),
        "the desk is wider than a phone: {looks}"
    );
    assert!(
        looks["loaded"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("Vazirmatn"))),
        "{looks}"
    );
    crate::console::accessible(&b, "the desk").await;
    b.shot("desk-phone").await;
    // Claim from the desk, then open the task and complete it.
    let claim = b.element("table.tasks form button").await;
    b.call("POST", &format!("/element/{claim}/click"), json!({})).await;
    let task = s.engine.status(case).await.expect("status").tasks[0].task;
    let href = format!("/ui/cases/{}/tasks/{}", case.0, task.0);
    settle(&b, &format!("{href}?done=claimed")).await;
    crate::console::accessible(&b, "a task's page").await;
    b.shot("task-phone").await;
    let partner = b.element("#f-partner option[value=false]").await;
    b.call("POST", &format!("/element/{partner}/click"), json!({})).await;
    let done = b.element("form.task-form button[type=submit]").await;
    b.call("POST", &format!("/element/{done}/click"), json!({})).await;
    let looks = settle(&b, "/ui/desk?done=completed").await;
    assert_eq!(looks["title"], json!("کارتابل"), "{looks}");
    let view = s.engine.status(case).await.expect("status");
    assert!(view.tasks.iter().all(|t| t.task != task), "{view:?}");
    assert_eq!(view.data.get("partner"), Some(&json!(false)));
    // The case's page: its graph drawn inside a box that scrolls, the page no wider than the phone.
    b.go(&format!("{}/ui/cases/{}", s.base, case.0)).await;
    let looks = settle(&b, &format!("/ui/cases/{}", case.0)).await;
    crate::console::accessible(&b, "a case's page").await;
    b.shot("case-phone").await;
    assert_eq!(
        looks["overflow"],
        json!(false),
        "the case page is wider than a phone: {looks}"
    );
    let graph = b
        .call(
            "POST",
            "/execute/sync",
            json!({"script": "const g = document.querySelector('svg.graph'); const r = g.getBoundingClientRect(); \
                const t = g.querySelector('text'); \
                return {w: r.width, h: r.height, box: document.querySelector('div.graph').clientWidth, \
                font: getComputedStyle(t).fontFamily, left: r.left};", "args": []}),
        )
        .await;
    assert!(
        graph["w"].as_f64().is_some_and(|w| w > 100.0 && w <= 390.0),
        "the whole graph fits the phone's box: {graph}"
    );
    assert!(
        graph["box"].as_f64().is_some_and(|w| w <= 390.0),
        "inside the screen: {graph}"
    );
    assert!(
        graph["font"].as_str().is_some_and(|f| f.contains("Vazirmatn")),
        "{graph}"
    );
    // The graph at full size, a document of its own: an SVG set in the binary's Vazirmatn.
    b.go(&format!("{}/ui/cases/{}/graph.svg", s.base, case.0)).await;
    let mut full = json!(null);
    for _ in 0..50 {
        full = b
            .call(
                "POST",
                "/execute/async",
                json!({"script": "const done = arguments[0]; document.fonts.ready.then(() => done({root: document.documentElement.tagName, \
                    boxes: document.querySelectorAll('rect, ellipse').length, width: document.documentElement.getBoundingClientRect().width, \
                    font: getComputedStyle(document.querySelector('text')).fontFamily, \
                    loaded: [...document.fonts].filter(f => f.status === 'loaded').length}));", "args": []}),
            )
            .await;
        if full["root"] == json!("svg") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(full["root"], json!("svg"), "{full}");
    assert!(full["boxes"].as_u64().is_some_and(|n| n > 10), "{full}");
    assert!(
        full["width"].as_f64().is_some_and(|w| w > 390.0),
        "at full size, wider than the phone: {full}"
    );
    assert!(full["font"].as_str().is_some_and(|f| f.contains("Vazirmatn")), "{full}");
    // The processes pages, the check and the manager's view (refused to a clerk, as a page) at a phone's width.
    for (path, title) in [
        ("/ui/processes".to_owned(), "فرایندها"),
        (
            "/ui/processes/complaint-137".to_owned(),
            "رسیدگی به درخواست‌ها و شکایات شهروندان (سامانه ۱۳۷) — complaint-137 نسخه ۱",
        ),
        ("/ui/processes/check".to_owned(), "بررسی یک تعریف"),
        ("/ui/manage".to_owned(), "پذیرفته نشد:"),
    ] {
        b.go(&format!("{}{path}", s.base)).await;
        let looks = settle(&b, &path).await;
        crate::console::accessible(&b, &path).await;
        let name = path.trim_start_matches("/ui/").replace('/', "-");
        b.shot(&format!("{name}-phone")).await;
        assert_eq!(
            (&looks["lang"], &looks["dir"]),
            (&json!("fa"), &json!("rtl")),
            "{path}: {looks}"
        );
        assert_eq!(looks["overflow"], json!(false), "{path} is wider than a phone: {looks}");
        assert_eq!(looks["title"], json!(title), "{path}: {looks}");
    }
    let _ = b.http.delete(format!("{}/session/{}", b.base, b.session)).send().await;
}

/// Waits until the browser is at `path`; how the page looks there.
pub(crate) async fn settle(b: &Browser, path: &str) -> serde_json::Value {
    let mut looks = b.looks().await;
    for _ in 0..50 {
        if looks["path"] == json!(path) {
            return looks;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        looks = b.looks().await;
    }
    panic!("the browser did not reach {path}: {looks}");
}

#[tokio::test]
async fn a_jwt_signs_in_with_its_claims_and_its_session_ends_when_the_jwt_would() {
    let s = site_with(tokens()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_secs() as i64;
    // The engine's clock and the JWT library's agree here.
    s.clock.set(ravand_engine::time::Timestamp(now));
    let (key, jwk) = crate::nodes::test_key("k1");
    let verifier =
        ravand_engine::service::JwtVerifier::from_jwks(&json!({"keys": [jwk]}).to_string(), None, None).expect("jwks");
    s.svc.set_verifier(Some(std::sync::Arc::new(verifier)));
    let mut d = Data::new();
    d.insert("category".into(), json!("roads"));
    let case = s.engine.start("complaint-137", d, None).await.expect("starts").case;
    let token = crate::nodes::jwt(
        &key,
        "k1",
        json!({"sub": "u-7", "preferred_username": "operator.karimi", "exp": now + 600,
               "ravand_access": "clerk", "ravand_processes": ["complaint-137"],
               "ravand_roles": ["complaint-137/operator-137"]}),
    );
    let (st, h, form) = s.get("/ui/login").await;
    assert_eq!(st, 200);
    let (login, _) = set_cookie(&h, "ravand_login").expect("login cookie");
    let nonce = hidden(&form, "nonce");
    let (st, h, body) = s
        .post_form("/ui/login", &[&login], &[("token", &token), ("nonce", &nonce)], None)
        .await;
    assert_eq!(st, 303, "{body}");
    let (session, whole) = set_cookie(&h, "ravand_session").expect("session");
    let age: i64 = whole
        .split("Max-Age=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.parse().ok())
        .expect("Max-Age");
    assert!(
        (590..=600).contains(&age),
        "the session lasts as long as the JWT: {whole}"
    );
    assert!(!whole.contains(&token[..20]), "the JWT is not in the cookie");
    // Its grants are the claims': the operator's task is on the desk.
    let (st, _, desk) = s.get_with("/ui/desk", &session).await;
    assert_eq!(st, 200, "{desk}");
    assert!(desk.contains("operator.karimi"), "{desk}");
    assert!(desk.contains(&format!("/ui/cases/{}/tasks/", case.0)), "{desk}");
    // When the JWT would have expired, so has the session (whatever the cookie says).
    s.clock.advance(601);
    let (st, _, _) = s.get_with("/ui/desk", &session).await;
    assert_eq!(st, 303);
}

#[tokio::test]
async fn a_case_page_shows_its_tasks_and_history_and_only_a_manager_may_suspend_resume_or_cancel() {
    let s = site_with(tokens()).await;
    s.engine.deploy("desk-test.yaml", TYPED).await.expect("deploys");
    let mut d = Data::new();
    d.insert("category".into(), json!("roads"));
    let started = s
        .engine
        .start("complaint-137", d, Some("operator-ali".into()))
        .await
        .expect("starts");
    let (case, code) = (started.case, started.tracking_code);
    let here = format!("/ui/cases/{}", case.0);

    let admin = s.sign_in("admin-secret").await;
    let (st, _, page) = s.get_with(&here, &admin).await;
    assert_eq!(st, 200, "{page}");
    for want in [
        "رسیدگی به درخواست‌ها و شکایات شهروندان (سامانه ۱۳۷)",
        code.as_str(),
        "در جریان",
        "ثبت درخواست شهروند",
        "پرونده آغاز شد به دست operator-ali",
        "۱۴۰۵-",
        &format!(r#"action="{here}/suspend""#),
        &format!(r#"action="{here}/cancel""#),
    ] {
        assert!(page.contains(want), "no `{want}`: {page}");
    }
    assert!(
        page.contains(&format!("{here}/tasks/")),
        "the open task links to its page: {page}"
    );
    // The graph, laid out as SVG in the page: where the case is, and where it has been.
    let svg = &page[page.find(r#"<svg class="graph""#).expect("the graph is on the page")..];
    let svg = &svg[..svg.find("</svg>").expect("the graph ends")];
    assert!(
        svg.contains("ثبت درخواست شهروند") && svg.contains("تماس نظرسنجی با شهروند"),
        "{svg}"
    );
    assert!(svg.contains("#ffd27a"), "the step the case is at is marked: {svg}");
    assert!(svg.contains("#cfe8d6"), "the start, done, is marked: {svg}");
    assert!(!svg.contains("<style"), "no style block against the CSP: {svg}");
    // At full size, on its own, to zoom and pan.
    assert!(page.contains(&format!(r#"href="{here}/graph.svg""#)), "{page}");
    let (st, h, full) = s.get_with(&format!("{here}/graph.svg"), &admin).await;
    assert_eq!(st, 200);
    assert!(header(&h, "content-type").starts_with("image/svg+xml"), "{h:?}");
    assert!(
        header(&h, "content-security-policy").contains("default-src 'none'"),
        "{h:?}"
    );
    assert!(
        full.starts_with("<svg") && full.contains("Vazirmatn") && full.contains("ثبت درخواست شهروند"),
        "{full}"
    );
    assert_eq!(
        s.get(&format!("{here}/graph.svg")).await.0,
        303,
        "not without a session"
    );
    let csrf = hidden(&page, "_csrf");

    // A clerk sees the case without the manager's buttons, and a forged post is refused by the engine.
    let operator = s.sign_in("operator-secret").await;
    let (st, _, seen) = s.get_with(&here, &operator).await;
    assert_eq!(st, 200, "{seen}");
    assert!(!seen.contains("/suspend\""), "{seen}");
    let o_csrf = hidden(&seen, "_csrf");
    let (st, _, _) = s
        .post_form(&format!("{here}/suspend"), &[&operator], &[("_csrf", &o_csrf)], None)
        .await;
    assert_eq!(st, 403);
    assert_eq!(
        s.engine.status(case).await.expect("status").status,
        ravand_engine::runtime::Status::Running
    );
    // A case of a process the clerk is not granted: refused.
    let other = s
        .engine
        .start(
            "desk-test",
            {
                let mut d = Data::new();
                d.insert("applicant".into(), json!("x"));
                d
            },
            None,
        )
        .await
        .expect("starts")
        .case;
    let (st, _, _) = s.get_with(&format!("/ui/cases/{}", other.0), &operator).await;
    assert_eq!(st, 403);

    // The manager suspends, resumes and cancels, each recorded.
    let (st, h, _) = s
        .post_form(&format!("{here}/suspend"), &[&admin], &[("_csrf", &csrf)], None)
        .await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), format!("{here}?done=managed"));
    assert_eq!(
        s.engine.status(case).await.expect("status").status,
        ravand_engine::runtime::Status::Suspended
    );
    let (_, _, page) = s.get_with(&format!("{here}?done=managed"), &admin).await;
    assert!(page.contains(&format!(r#"action="{here}/resume""#)), "{page}");
    assert!(!page.contains(&format!(r#"action="{here}/suspend""#)), "{page}");
    let (st, _, _) = s
        .post_form(&format!("{here}/resume"), &[&admin], &[("_csrf", &csrf)], None)
        .await;
    assert_eq!(st, 303);
    let (st, _, _) = s
        .post_form(
            &format!("{here}/cancel"),
            &[&admin],
            &[("_csrf", &csrf), ("reason", "درخواست تکراری")],
            None,
        )
        .await;
    assert_eq!(st, 303);
    let view = s.engine.status(case).await.expect("status");
    assert_eq!(view.status, ravand_engine::runtime::Status::Cancelled);
    let (_, _, page) = s.get_with(&here, &admin).await;
    assert!(page.contains("درخواست تکراری"), "the reason is in the history: {page}");
    assert!(page.contains("لغو شده"), "{page}");
    assert!(!page.contains(r#"name="reason""#), "nothing left to cancel: {page}");
    // An action the page does not have.
    let (st, _, _) = s
        .post_form(&format!("{here}/explode"), &[&admin], &[("_csrf", &csrf)], None)
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn the_permit_process_of_a_hundred_and_more_steps_is_drawn_on_its_case_page() {
    let s = site_with(tokens()).await;
    let text = std::fs::read_to_string(crate::helpers::root().join("definitions/building-permit-current.yaml"))
        .expect("definition");
    let key = s
        .engine
        .deploy("building-permit-current.yaml", &text)
        .await
        .expect("deploys");
    let p = s.engine.process(&key.process).await.expect("reads").expect("deployed");
    assert!(p.steps.len() > 100, "{} steps", p.steps.len());
    let mut data = Data::new();
    for v in p.variables.iter().filter(|v| v.required) {
        let value = match v.ty {
            ravand_engine::model::VarType::Enum => json!(v.values[0]),
            ravand_engine::model::VarType::Bool => json!(true),
            ravand_engine::model::VarType::Number | ravand_engine::model::VarType::Integer => json!(1),
            ravand_engine::model::VarType::Date => json!("1405-01-15"),
            ravand_engine::model::VarType::String => json!("x"),
            ravand_engine::model::VarType::List => json!(["x"]),
        };
        data.insert(v.name.clone(), value);
    }
    let case = s.engine.start(&key.process, data, None).await.expect("starts").case;
    let admin = s.sign_in("admin-secret").await;
    let (st, _, page) = s.get_with(&format!("/ui/cases/{}", case.0), &admin).await;
    assert_eq!(st, 200);
    let svg = &page[page.find(r#"<svg class="graph""#).expect("the graph is on the page")..];
    let svg = &svg[..svg.find("</svg>").expect("the graph ends")];
    // Each box's text: its lines (wrapped at 22 characters, a longer word
    // whole on its own), read back as one title.
    let mut labels = Vec::new();
    for text in svg.split("<text ").skip(1) {
        let text = &text[..text.find("</text>").expect("text end")];
        let lines: Vec<String> = text
            .split("<tspan")
            .skip(1)
            .map(|t| {
                let t = &t[t.find('>').expect("tspan") + 1..];
                t[..t.find("</tspan>").expect("tspan end")]
                    .replace(['\u{2068}', '\u{2069}'], "")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&amp;", "&")
            })
            .collect();
        for l in &lines {
            assert!(l.chars().count() <= 22 || !l.contains(' '), "a line too long: {l}");
        }
        labels.push(lines.join(" "));
    }
    let drawn = p
        .steps
        .iter()
        .filter(|st| labels.iter().any(|l| l.starts_with(&st.title)))
        .count();
    assert_eq!(drawn, p.steps.len(), "every step is drawn with its title");
    assert!(
        labels.iter().any(|l| l.contains(' ') && l.chars().count() > 22),
        "long titles are there, wrapped"
    );
    // No two steps' boxes overlap: every rectangle and ellipse the layout
    // drew (outside clip paths; a double circle's rings are one box).
    let num = |el: &str, attr: &str| -> f64 {
        let at = el
            .find(&format!(" {attr}=\""))
            .unwrap_or_else(|| panic!("no {attr} in {el}"));
        let v = &el[at + attr.len() + 3..];
        v[..v.find('"').expect("quote")].parse().expect("a number")
    };
    let mut boxes: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut rest = svg;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let el = &rest[..rest.find('>').expect("tag end")];
        if el.starts_with("clipPath") {
            rest = &rest[rest.find("</clipPath>").expect("clip end")..];
        } else if el.starts_with("rect") {
            let (x, y) = (num(el, "x"), num(el, "y"));
            boxes.push((x, y, x + num(el, "width"), y + num(el, "height")));
        } else if el.starts_with("ellipse") {
            let (cx, cy, rx, ry) = (num(el, "cx"), num(el, "cy"), num(el, "rx"), num(el, "ry"));
            let b = (cx - rx, cy - ry, cx + rx, cy + ry);
            // The outer ring of a double circle holds its inner one.
            if let Some(o) = boxes
                .iter_mut()
                .find(|o| ((o.0 + o.2) / 2.0 - cx).abs() < 0.5 && ((o.1 + o.3) / 2.0 - cy).abs() < 0.5)
            {
                *o = (o.0.min(b.0), o.1.min(b.1), o.2.max(b.2), o.3.max(b.3));
            } else {
                boxes.push(b);
            }
        }
    }
    assert!(
        boxes.len() >= p.steps.len(),
        "{} boxes for {} steps",
        boxes.len(),
        p.steps.len()
    );
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart = a.2 <= b.0 + 0.5 || b.2 <= a.0 + 0.5 || a.3 <= b.1 + 0.5 || b.3 <= a.1 + 0.5;
            assert!(apart, "boxes overlap: {a:?} {b:?}");
        }
    }
}

#[tokio::test]
async fn the_processes_pages_show_the_graph_and_figures_and_the_check_marks_each_problem_at_its_line() {
    let s = site_with(tokens()).await;
    s.engine.deploy("desk-test.yaml", TYPED).await.expect("deploys");
    let text = std::fs::read_to_string(crate::helpers::root().join("definitions/building-permit-current.yaml"))
        .expect("definition");
    let key = s
        .engine
        .deploy("building-permit-current.yaml", &text)
        .await
        .expect("deploys");
    let admin = s.sign_in("admin-secret").await;
    let (st, _, list) = s.get_with("/ui/processes", &admin).await;
    assert_eq!(st, 200, "{list}");
    for want in ["complaint-137", "desk-test", key.process.as_str(), "آزمون کارتابل"] {
        assert!(list.contains(want), "no `{want}`: {list}");
    }
    // A clerk sees only the processes granted.
    let operator = s.sign_in("operator-secret").await;
    let (_, _, mine) = s.get_with("/ui/processes", &operator).await;
    assert!(mine.contains("complaint-137") && !mine.contains("desk-test"), "{mine}");
    assert_eq!(s.get_with("/ui/processes/desk-test", &operator).await.0, 403);

    // One process: its figures as `measure` counts them, and its graph with tags marked.
    let p = s.engine.process(&key.process).await.expect("reads").expect("deployed");
    let m = ravand_engine::measure::measure(&p);
    let (st, _, page) = s.get_with(&format!("/ui/processes/{}", key.process), &admin).await;
    assert_eq!(st, 200);
    let fa = |n: u32| {
        n.to_string()
            .chars()
            .map(|c| char::from_u32(0x06F0 + c.to_digit(10).expect("digit")).expect("digit"))
            .collect::<String>()
    };
    assert!(
        page.contains(&format!("<dt>گام‌ها</dt><dd><bdi>{}</bdi></dd>", fa(m.steps))),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<dt>امضاهای طلایی</dt><dd><bdi>{}</bdi></dd>",
            fa(m.discretionary)
        )),
        "{page}"
    );
    assert!(m.discretionary > 0);
    let svg = &page[page.find(r#"<svg class="graph""#).expect("graph")..];
    assert!(
        svg.contains("#f6c1c1"),
        "discretionary steps are marked: {}",
        &svg[..400.min(svg.len())]
    );
    let (st, _, _) = s.get_with("/ui/processes/desk-test?version=9", &admin).await;
    assert_eq!(st, 404);

    // A pasted definition with two mistakes: both, at their lines, marked in the text.
    let (st, _, form) = s.get_with("/ui/processes/check", &admin).await;
    assert_eq!(st, 200);
    let csrf = hidden(&form, "_csrf");
    let bad = TYPED
        .replace("performer: clerk", "performer: clerc")
        .replace("sets: [amount, units,", "sets: [amount, unitz,");
    let (st, _, checked) = s
        .post_form(
            "/ui/processes/check",
            &[&admin],
            &[("_csrf", &csrf), ("name", "mine.yaml"), ("source", &bad)],
            None,
        )
        .await;
    assert_eq!(st, 422, "{checked}");
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle)).expect("line") + 1;
    for (needle, word) in [("performer: clerc", "clerc"), ("unitz", "unitz")] {
        let n = line_of(needle);
        assert!(
            checked.contains(&format!("mine.yaml:{n}:")),
            "no problem at line {n}: {checked}"
        );
        assert!(
            checked.contains(&format!(r#"<span id="l{n}" class="bad">"#)),
            "line {n} unmarked: {checked}"
        );
        assert!(checked.contains(&format!(r##"href="#l{n}""##)), "{checked}");
        assert!(checked.contains(word), "{checked}");
    }
    // The text is kept in the form, and a good one has no problems; nothing was deployed.
    assert!(checked.contains("clerc"), "{checked}");
    let (st, _, good) = s
        .post_form(
            "/ui/processes/check",
            &[&admin],
            &[("_csrf", &csrf), ("source", TYPED)],
            None,
        )
        .await;
    assert_eq!(st, 200, "{good}");
    assert!(good.contains("ایرادی نیست."), "{good}");
    let (st, _, _) = s
        .post_form("/ui/processes/check", &[&admin], &[("source", TYPED)], None)
        .await;
    assert_eq!(st, 403, "the form's secret is needed");

    // The same definition uploaded as a file (multipart, as the page's form sends it).
    let multipart = |file: &[u8]| {
        let mut body = Vec::new();
        for (name, value) in [("_csrf", csrf.as_str()), ("name", ""), ("source", "")] {
            body.extend_from_slice(
                format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.yaml\"\r\nContent-Type: application/x-yaml\r\n\r\n",
        );
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        body
    };
    let post = |body: Vec<u8>| {
        s.http
            .post(format!("{}/ui/processes/check", s.base))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .header("cookie", admin.clone())
            .body(body)
            .send()
    };
    let r = post(multipart(bad.as_bytes())).await.expect("posts");
    assert_eq!(r.status().as_u16(), 422);
    let uploaded = r.text().await.expect("page");
    let n = line_of("performer: clerc");
    assert!(uploaded.contains(&format!("upload.yaml:{n}:")), "{uploaded}");
    assert!(uploaded.contains("clerc"), "{uploaded}");
    let r = post(multipart(&[0xff, 0xfe, b'x'])).await.expect("posts");
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.expect("page").contains("این فرم خوانده نشد"));
}

#[tokio::test]
async fn the_managers_view_counts_open_and_late_work_by_unit_and_person() {
    let s = site_with(tokens()).await;
    s.engine.deploy("desk-test.yaml", TYPED).await.expect("deploys");
    let mut cases = Vec::new();
    for i in 0..3 {
        let mut d = Data::new();
        d.insert("applicant".into(), json!(format!("a{i}")));
        cases.push(s.engine.start("desk-test", d, None).await.expect("starts").case);
    }
    let task = s.engine.status(cases[0]).await.expect("status").tasks[0].task;
    s.engine.claim(cases[0], task, "clerk-sara").await.expect("claims");
    let admin = s.sign_in("admin-secret").await;
    // Before the deadline: open, nothing late.
    let (st, _, page) = s.get_with("/ui/manage", &admin).await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains(
            "<tr><td>واحد صدور پروانه</td><td><bdi>۳</bdi></td><td><bdi>۰</bdi></td><td><bdi>۲</bdi></td></tr>"
        ),
        "{page}"
    );
    s.clock.advance(4 * 3600);
    s.engine.tick(s.engine.now()).await.expect("tick");
    let (_, _, page) = s.get_with("/ui/manage", &admin).await;
    assert!(
        page.contains(r#"<tr class="overdue"><td>واحد صدور پروانه</td><td><bdi>۳</bdi></td><td><bdi>۳</bdi></td><td><bdi>۲</bdi></td></tr>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<tr class="overdue"><td><bdi>clerk-sara</bdi></td><td>واحد صدور پروانه</td><td><bdi>۱</bdi></td><td><bdi>۱</bdi></td></tr>"#),
        "{page}"
    );
    // Not for clerks.
    let operator = s.sign_in("operator-secret").await;
    assert_eq!(s.get_with("/ui/manage", &operator).await.0, 403);
}

/// Sessions in the store itself, on both databases.
mod sessions {
    use std::sync::Arc;

    use ravand_engine::engine::Engine;
    use ravand_engine::time::{Timestamp, VirtualClock};

    const T0: Timestamp = Timestamp(1_777_708_800);

    on_both!("sessions"; sessions_are_stored_hashed_end_on_time_and_are_swept);

    async fn sessions_are_stored_hashed_end_on_time_and_are_swept(e: Engine, clock: Arc<VirtualClock>) {
        let a = e.open_session(r#"{"token":"aa"}"#, 3600).await.expect("opens");
        let b = e.open_session(r#"{"token":"bb"}"#, 60).await.expect("opens");
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, a.csrf);
        assert_eq!(a.id.len(), 64, "256 bits of the system's randomness, in hex");
        let got = e.session(&a.id).await.expect("reads").expect("live");
        assert_eq!(
            (got.subject.as_str(), got.csrf.as_str()),
            (r#"{"token":"aa"}"#, a.csrf.as_str())
        );
        assert_eq!(got.expires_at, Timestamp(T0.0 + 3600));
        assert!(
            e.session(&a.csrf).await.expect("reads").is_none(),
            "the secret is no id"
        );
        assert!(e.session("").await.expect("reads").is_none());
        // One minute on, `b` has ended; opening another still works.
        clock.advance(61);
        assert!(e.session(&b.id).await.expect("reads").is_none());
        let c = e.open_session(r#"{"token":"cc"}"#, 60).await.expect("opens");
        assert!(e.session(&a.id).await.expect("reads").is_some());
        // Closing ends it; closing again says there was none.
        assert!(e.close_session(&c.id).await.expect("closes"));
        assert!(!e.close_session(&c.id).await.expect("closes"));
        assert!(e.session(&c.id).await.expect("reads").is_none());
        clock.advance(3600);
        assert!(e.session(&a.id).await.expect("reads").is_none());
    }
}

#[tokio::test]
async fn an_incident_is_repaired_from_the_case_page_and_the_timeline_is_in_persian() {
    let s = site_with(tokens()).await;
    let parent = "id: parent\nversion: 1\ntitle: والد\nsteps:\n  - {id: start, kind: start}\n  - {id: call, kind: subprocess, title: فراخوانی, process: child}\n  - {id: done, kind: end, outcome: done}\n";
    let child = "id: child\nversion: 1\ntitle: فرزند\nsteps:\n  - {id: start, kind: start}\n  - {id: done, kind: end, outcome: ok}\n";
    s.engine.deploy("p.yaml", parent).await.expect("deploys");
    let case = s.engine.start("parent", Data::new(), None).await.expect("starts").case;
    let admin = s.sign_in("admin-secret").await;
    let here = format!("/ui/cases/{case}");
    let (st, _, page) = s.get_with(&here, &admin).await;
    assert_eq!(st, 200, "{page}");
    let token = s
        .engine
        .instance(case)
        .await
        .expect("state")
        .incidents
        .keys()
        .next()
        .copied()
        .expect("an incident")
        .0;
    assert!(
        page.contains(&format!(r#"<li id="incident-{token}"><strong>فراخوانی</strong>"#)),
        "{page}"
    );
    let action = format!("{here}/incidents/{token}/resolve");
    assert!(page.contains(&format!(r#"action="{action}""#)), "{page}");
    assert!(page.contains("خطا در «فراخوانی»"), "the timeline in Persian: {page}");
    let csrf = hidden(&page, "_csrf");

    // Data that is not a JSON object: refused beside the field, what was typed kept.
    let (st, _, refused) = s
        .post_form(&action, &[&admin], &[("_csrf", &csrf), ("data", "{not json")], None)
        .await;
    assert_eq!(st, 422, "{refused}");
    assert!(
        refused.contains(&format!(
            r#"<span class="error" id="data-{token}-error">این داده‌ها یک شیء JSON نیستند"#
        )),
        "{refused}"
    );
    assert!(refused.contains(">{not json</textarea>"), "{refused}");
    // Without the form's secret, or by a clerk of another process: refused.
    assert_eq!(s.post_form(&action, &[&admin], &[("data", "")], None).await.0, 403);
    let operator = s.sign_in("operator-secret").await;
    let (_, _, desk) = s.get_with("/ui/desk", &operator).await;
    let theirs = hidden(&desk, "_csrf");
    assert_eq!(
        s.post_form(&action, &[&operator], &[("_csrf", &theirs)], None).await.0,
        403
    );
    assert!(!s.engine.instance(case).await.expect("state").incidents.is_empty());

    // The missing process deployed, the step tried again from the page: the case goes on.
    s.engine.deploy("c.yaml", child).await.expect("deploys");
    let (st, h, _) = s
        .post_form(&action, &[&admin], &[("_csrf", &csrf), ("data", "")], None)
        .await;
    assert_eq!(st, 303);
    assert_eq!(header(&h, "location"), format!("{here}?done=resolved"));
    let (_, _, page) = s.get_with(&format!("{here}?done=resolved"), &admin).await;
    assert!(page.contains("گام دوباره اجرا شد."), "{page}");
    assert!(!page.contains("incident-"), "{page}");
    for line in ["خطا برطرف شد به دست admin", "پرونده پایان یافت: done", "پرونده آغاز شد"]
    {
        assert!(page.contains(line), "{line}: {page}");
    }
    assert!(!page.contains("incident resolved"), "{page}");
    let (_, _, en) = s.get_with(&format!("{here}?lang=en"), &admin).await;
    assert!(en.contains("incident resolved by admin"), "{en}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_desk_brings_new_tasks_without_a_reload() {
    let s = site_with(tokens()).await;
    let start = || async {
        let mut d = Data::new();
        d.insert("category".into(), json!("roads"));
        s.engine.start("complaint-137", d, None).await.expect("starts").case
    };
    start().await;
    let Some(b) = Browser::start().await else { return };
    b.sign_in(&s.base, "/ui/desk", "operator-secret").await;
    let rows = "window.__stay = window.__stay || 'here'; \
        return {rows: document.querySelectorAll('#desk-list table.tasks tbody tr').length, stay: window.__stay, \
        htmx: typeof window.htmx};";
    let before = b
        .call("POST", "/execute/sync", json!({"script": rows, "args": []}))
        .await;
    assert_eq!(before["rows"], json!(1), "{before}");
    assert_eq!(before["htmx"], json!("object"), "the vendored htmx loaded: {before}");
    // A new case for the clerk's role: the list refreshes itself (every 10 s), the page stays.
    start().await;
    let mut now = before.clone();
    for _ in 0..60 {
        now = b
            .call("POST", "/execute/sync", json!({"script": rows, "args": []}))
            .await;
        if now["rows"] == json!(2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(now["rows"], json!(2), "the new task did not come: {now}");
    assert_eq!(now["stay"], json!("here"), "the page was reloaded: {now}");
    crate::console::accessible(&b, "the desk, refreshed").await;
    let _ = b.http.delete(format!("{}/session/{}", b.base, b.session)).send().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_case_page_follows_the_case_without_a_reload() {
    let s = site_with(tokens()).await;
    let mut d = Data::new();
    d.insert("category".into(), json!("roads"));
    let case = s.engine.start("complaint-137", d, None).await.expect("starts").case;
    let Some(b) = Browser::start().await else { return };
    b.sign_in(&s.base, &format!("/ui/cases/{case}"), "admin-secret").await;
    let look = "window.__stay = window.__stay || 'here'; \
        return {moments: document.querySelectorAll('#case-history .timeline li').length, \
        tasks: document.querySelectorAll('#case-now .open-tasks li').length, \
        first: (document.querySelector('#case-now .open-tasks li a') || {}).textContent || '', \
        stay: window.__stay, htmx: typeof window.htmx};";
    let before = b
        .call("POST", "/execute/sync", json!({"script": look, "args": []}))
        .await;
    assert_eq!(before["htmx"], json!("object"), "the vendored htmx loaded: {before}");
    assert_eq!(before["tasks"], json!(1), "{before}");
    // The clerk registers the request elsewhere: the page shows the next
    // task and the longer history by itself (every 10 s), and stays.
    let v = s.engine.status(case).await.expect("status");
    let task = v.tasks.first().expect("a task").task;
    s.engine
        .complete(case, task, Some("operator-ali".into()), Data::new())
        .await
        .expect("completes");
    let mut now = before.clone();
    for _ in 0..60 {
        now = b
            .call("POST", "/execute/sync", json!({"script": look, "args": []}))
            .await;
        if now["first"] != before["first"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_ne!(now["first"], before["first"], "the next task did not come: {now}");
    assert!(
        now["moments"].as_u64() > before["moments"].as_u64(),
        "the history did not grow: {before} {now}"
    );
    assert_eq!(now["stay"], json!("here"), "the page was reloaded: {now}");
    crate::console::accessible(&b, "the case page, refreshed").await;
    let _ = b.http.delete(format!("{}/session/{}", b.base, b.session)).send().await;
}
