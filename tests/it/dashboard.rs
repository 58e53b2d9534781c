//! The dashboard (`/ui/dashboard`) and the period's event log, over
//! loopback: a seeded month of work on a small process (two units, a
//! mayor's notice on the first step's ladder, a searchable district), every
//! figure on the page recomputed here from the cases' histories as the API
//! gives them, independently of the engine's fold.

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use ravand_engine::engine::CaseId;
use ravand_engine::runtime::Data;
use ravand_engine::service::{Access, Token};
use serde_json::{json, Value};

use crate::console::{header, site_on, Site};

pub(crate) const DASH: &str = r#"
id: dash-test
version: 1
title: آزمون داشبورد
title_en: Dashboard test
roles:
  - {id: clerk, title: کارشناس پذیرش, unit: واحد پذیرش, organisation: سازمان خدمات شهری}
  - {id: inspector, title: بازرس, unit: واحد بازرسی, organisation: سازمان خدمات شهری}
  - {id: mayor, title: دفتر شهردار, organisation: دفتر شهردار}
data:
  - {name: district, type: enum, values: [d1, d2, d3], title: منطقه, searchable: true}
steps:
  - {id: start, kind: start}
  - id: receive
    title: پذیرش
    title_en: Receive
    performer: clerk
    deadline:
      due: 4 hours
      escalation:
        - {after: 0, action: remind}
        - {after: 2 hours, action: notify, to: mayor}
  - id: inspect
    title: بازرسی
    title_en: Inspect
    performer: inspector
    deadline:
      due: 8 hours
      escalation:
        - {after: 0, action: warn}
  - {id: end, kind: end, outcome: done}
"#;

/// Role index → (id, unit), in the order the definition lists them.
const ROLES: [(&str, &str); 3] = [("clerk", "واحد پذیرش"), ("inspector", "واحد بازرسی"), ("mayor", "")];
/// Step index → id.
const STEPS: [&str; 4] = ["start", "receive", "inspect", "end"];

pub(crate) fn tokens() -> Vec<Token> {
    let mut clerk = Token::for_secret("clerk-secret", Access::Clerk, "c-1");
    clerk.roles = vec!["dash-test/clerk".into()];
    vec![
        Token::for_secret("admin-secret", Access::Admin, "admin"),
        Token::for_secret("auditor-secret", Access::Auditor, "auditor"),
        clerk,
    ]
}

/// A task as the histories tell it.
#[derive(Default, Debug)]
struct T {
    step: String,
    unit: String,
    created: i64,
    due: Option<i64>,
    holder: Option<String>,
    claimed: i64,
    done: Option<(i64, Option<String>)>,
    gone: Option<i64>,
    overdue: bool,
    notified: Option<i64>,
}

#[derive(Default, Debug, Clone, PartialEq)]
struct Tl {
    done: i64,
    late: i64,
    open_now: i64,
    overdue_now: i64,
    notices: i64,
}

impl Tl {
    fn figures(&self, score: bool) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = [
            ("done", self.done),
            ("on_time", self.done - self.late),
            ("late", self.late),
            ("open_now", self.open_now),
            ("overdue_now", self.overdue_now),
            ("notices", self.notices),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_string()))
        .collect();
        let share = if self.done > 0 {
            ((self.done - self.late) * 100 + self.done / 2) / self.done
        } else {
            -1
        };
        m.insert(
            "share".into(),
            if share < 0 { String::new() } else { share.to_string() },
        );
        if score {
            let s = (self.done - self.late) - self.late - 2 * self.overdue_now - 5 * self.notices;
            m.insert("score".into(), s.to_string());
        }
        m
    }
}

/// The `data-v` of the figure `id` on the page.
fn figure(page: &str, id: &str) -> String {
    let needle = format!(r#"id="f-{id}" data-v=""#);
    let at = page.find(&needle).unwrap_or_else(|| panic!("no figure {id}: {page}"));
    let rest = &page[at + needle.len()..];
    rest[..rest.find('"').expect("quote")].to_owned()
}

/// The rows of table `id` on the page: key → (figure → value).
fn table(page: &str, id: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let start = page
        .find(&format!(r#"id="t-{id}""#))
        .unwrap_or_else(|| panic!("no table {id}: {page}"));
    let body = &page[start..start + page[start..].find("</table>").expect("table end")];
    let mut out = BTreeMap::new();
    for row in body.split(r#"<tr data-key=""#).skip(1) {
        let key = row[..row.find('"').expect("quote")].to_owned();
        let row = &row[..row.find("</tr>").expect("row end")];
        let mut cells = BTreeMap::new();
        for c in row.split(r#"data-k=""#).skip(1) {
            let k = &c[..c.find('"').expect("quote")];
            let v = c.split(r#"data-v=""#).nth(1).expect("value");
            cells.insert(k.to_owned(), v[..v.find('"').expect("quote")].to_owned());
        }
        out.insert(key, cells);
    }
    out
}

fn rank(v: &[i64], p: usize) -> i64 {
    // Nearest rank: the smallest value with at least p% of them at or below it.
    let n = v.len();
    let k = (p * n).div_ceil(100).max(1);
    v[k - 1]
}

/// The instant a day (`2026-05-03`) begins on dash-test's calendar.
pub(crate) async fn midnights(s: &Site) -> impl Fn(&str) -> i64 {
    let dep = s
        .engine
        .latest_deployment("dash-test")
        .await
        .expect("reads")
        .expect("deployed");
    move |d: &str| {
        let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
        dep.calendar.instant(day.and_hms_opt(0, 0, 0).expect("midnight")).0
    }
}

pub(crate) async fn history(s: &Site, case: CaseId) -> Vec<Value> {
    let r = s
        .http
        .get(format!("{}/cases/{}/history", s.base, case))
        .bearer_auth("admin-secret")
        .send()
        .await
        .expect("history");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    v["events"].as_array().expect("events").clone()
}

/// Works the process for three days in 50-minute steps with choices from
/// `seed`: cases started, tasks claimed and finished by five people.
pub(crate) async fn work(s: &Site, seed: u64) -> Vec<CaseId> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cases = Vec::new();
    let people = |role: &str| -> &'static [&'static str] {
        if role == "clerk" {
            &["c-1", "c-2", "c-3"]
        } else {
            &["i-1", "i-2"]
        }
    };
    for _ in 0..90 {
        for _ in 0..rng.random_range(0..=1) {
            let mut d = Data::new();
            if rng.random_bool(0.85) {
                d.insert("district".into(), json!(["d1", "d2", "d3"][rng.random_range(0..3)]));
            }
            cases.push(s.engine.start("dash-test", d, None).await.expect("starts").case);
        }
        for &c in &cases {
            let v = s.engine.status(c).await.expect("status");
            for t in v.tasks {
                let role = t.role.clone().unwrap_or_default();
                match &t.assignee {
                    None if rng.random_bool(0.45) => {
                        let who = people(&role)[rng.random_range(0..people(&role).len())];
                        s.engine.claim(c, t.task, who).await.expect("claims");
                    }
                    // c-3 lets work lie: the ladder reaches the mayor's office.
                    Some(who) if rng.random_bool(if who == "c-3" { 0.04 } else { 0.4 }) => {
                        s.engine
                            .complete(c, t.task, Some(who.clone()), Data::new())
                            .await
                            .expect("completes");
                    }
                    _ => {}
                }
            }
        }
        s.clock.advance(50 * 60);
        s.engine.tick(s.engine.now()).await.expect("tick");
    }
    cases
}

on_both_urls!("dashboard"; the_dashboard_figures_equal_a_count_from_the_histories);

async fn the_dashboard_figures_equal_a_count_from_the_histories(url: &str) {
    let seed: u64 = std::env::var("RAVAND_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1405);
    println!("seed {seed} (set RAVAND_SEED to run another)");
    let s = site_on(url, tokens()).await;
    s.engine.deploy("dash-test.yaml", DASH).await.expect("deploys");
    let cases = work(&s, seed).await;
    let midnight = midnights(&s).await;
    // The second and third day, as the form takes them (the end inclusive).
    let (from, to) = (midnight("2026-05-03"), midnight("2026-05-05"));
    let in_period = |t: i64| t >= from && t < to;

    // The count, from the histories.
    let mut started = 0;
    let mut finished = 0;
    let mut open_end = 0;
    let mut open_now = 0;
    let mut rungs: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_district: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    let mut tasks: Vec<T> = Vec::new();
    let mut events_in_period = 0;
    for &c in &cases {
        let evs = history(&s, c).await;
        let mut mine: HashMap<u64, T> = HashMap::new();
        let mut start_at = None;
        let mut end_at = None;
        let mut district = String::new();
        for e in &evs {
            let at = e["at"].as_i64().expect("at");
            if in_period(at) {
                events_in_period += 1;
            }
            let task = e["task"].as_u64();
            match e["type"].as_str().expect("type") {
                "started" => {
                    start_at = Some(at);
                    district = e["data"]["district"].as_str().unwrap_or("").to_owned();
                }
                "completed" | "terminated" | "cancelled" => end_at = Some(at),
                "task-created" => {
                    let role = e["role"].as_u64().expect("role") as usize;
                    mine.insert(
                        task.expect("task"),
                        T {
                            step: STEPS[e["step"].as_u64().expect("step") as usize].to_owned(),
                            unit: ROLES[role].1.to_owned(),
                            created: at,
                            due: e["due"].as_i64(),
                            ..T::default()
                        },
                    );
                }
                "task-claimed" => {
                    let t = mine.get_mut(&task.expect("task")).expect("known");
                    t.holder = Some(e["user"].as_str().expect("user").to_owned());
                    t.claimed = at;
                }
                "task-completed" => {
                    let t = mine.get_mut(&task.expect("task")).expect("known");
                    t.done = Some((at, e["by"].as_str().map(str::to_owned)));
                }
                "task-cancelled" => mine.get_mut(&task.expect("task")).expect("known").gone = Some(at),
                "task-overdue" => mine.get_mut(&task.expect("task")).expect("known").overdue = true,
                "escalated" => {
                    let action = e["action"].as_str().expect("action").to_owned();
                    if in_period(at) {
                        *rungs.entry(action.clone()).or_default() += 1;
                    }
                    if action == "notify" && e["scope"]["of"] == "task" {
                        let t = mine
                            .get_mut(&e["scope"]["task"].as_u64().expect("task"))
                            .expect("known");
                        t.notified.get_or_insert(at);
                    }
                }
                _ => {}
            }
        }
        let start_at = start_at.expect("a start");
        let entry = by_district.entry(district).or_default();
        if in_period(start_at) {
            started += 1;
            entry[0] += 1;
        }
        if end_at.is_some_and(in_period) {
            finished += 1;
            entry[1] += 1;
        }
        if start_at < to && end_at.is_none_or(|e| e >= to) {
            open_end += 1;
            entry[2] += 1;
        }
        if end_at.is_none() {
            open_now += 1;
        }
        tasks.extend(mine.into_values());
    }
    by_district.retain(|_, v| v.iter().any(|&n| n > 0));

    let mut total = Tl::default();
    let mut units: BTreeMap<String, Tl> = BTreeMap::new();
    let mut people: BTreeMap<String, Tl> = BTreeMap::new();
    let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for t in &tasks {
        let mut hit = |f: &dyn Fn(&mut Tl), who: Option<&String>| {
            f(&mut total);
            f(units.entry(t.unit.clone()).or_default());
            if let Some(w) = who {
                f(people.entry(w.clone()).or_default());
            }
        };
        if let Some((at, by)) = &t.done {
            if in_period(*at) {
                let late = i64::from(t.due.is_some_and(|d| *at > d));
                hit(
                    &|x: &mut Tl| {
                        x.done += 1;
                        x.late += late;
                    },
                    by.as_ref().or(t.holder.as_ref()),
                );
                times.entry(t.step.clone()).or_default().push(at - t.created);
            }
        }
        let open = t.done.is_none() && t.gone.is_none();
        if open {
            let overdue = i64::from(t.overdue);
            hit(
                &|x: &mut Tl| {
                    x.open_now += 1;
                    x.overdue_now += overdue;
                },
                t.holder.as_ref(),
            );
        }
        let closed_before_end = t.done.as_ref().is_some_and(|(at, _)| *at < to) || t.gone.is_some_and(|at| at < to);
        if t.notified.is_some_and(|n| n < to) && !closed_before_end {
            let holder_then = t.holder.as_ref().filter(|_| t.claimed < to);
            hit(&|x: &mut Tl| x.notices += 1, holder_then);
        }
    }
    println!("counted: started {started} finished {finished} open {open_end}/{open_now} tasks {total:?} rungs {rungs:?} units {units:?}");
    // The seed's work must reach what the page counts, or this proves little.
    assert!(total.done > 5 && total.late > 0 && total.notices > 0 && total.overdue_now > 0);
    assert!(
        started > 0 && finished > 0 && open_end > 0,
        "{started} {finished} {open_end}"
    );

    // The page.
    let admin = s.sign_in("admin-secret").await;
    let path = "/ui/dashboard?process=dash-test&from=2026-05-03&to=2026-05-04&lang=en";
    let (st, _, page) = s.get_with(path, &admin).await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains(r#"value="1405-02-13""#) && page.contains(r#"value="1405-02-14""#),
        "{page}"
    );
    assert_eq!(figure(&page, "started"), started.to_string());
    assert_eq!(figure(&page, "finished"), finished.to_string());
    assert_eq!(figure(&page, "open_end"), open_end.to_string());
    assert_eq!(figure(&page, "open_cases_now"), open_now.to_string());
    assert_eq!(figure(&page, "done"), total.done.to_string());
    assert_eq!(figure(&page, "late"), total.late.to_string());
    assert_eq!(figure(&page, "overdue_now"), total.overdue_now.to_string());
    assert_eq!(figure(&page, "notices"), total.notices.to_string());
    assert_eq!(
        figure(&page, "breach"),
        ((total.late * 100 + total.done / 2) / total.done).to_string()
    );
    let fired = table(&page, "rungs");
    for action in ["remind", "warn", "record", "reassign", "notify"] {
        assert_eq!(
            fired[action]["fired"],
            rungs.get(action).copied().unwrap_or(0).to_string(),
            "{action}"
        );
    }
    let steps = table(&page, "steps");
    assert_eq!(steps.len(), times.len());
    for (step, mut v) in times {
        v.sort_unstable();
        let row = &steps[&step];
        assert_eq!(row["done"], v.len().to_string(), "{step}");
        assert_eq!(row["median"], rank(&v, 50).to_string(), "{step}");
        assert_eq!(row["p90"], rank(&v, 90).to_string(), "{step}");
    }
    let shown = table(&page, "units");
    assert_eq!(
        shown.keys().collect::<Vec<_>>(),
        units.keys().collect::<Vec<_>>(),
        "{page}"
    );
    for (u, t) in &units {
        assert_eq!(shown[u], t.figures(true), "unit {u}");
    }
    // Both units are in one organisation: its row is their sum.
    let shown = table(&page, "organisations");
    let mut org = Tl::default();
    for t in units.values() {
        org.done += t.done;
        org.late += t.late;
        org.open_now += t.open_now;
        org.overdue_now += t.overdue_now;
        org.notices += t.notices;
    }
    assert_eq!(shown.keys().collect::<Vec<_>>(), ["سازمان خدمات شهری"], "{page}");
    assert_eq!(shown["سازمان خدمات شهری"], org.figures(true));
    let shown = table(&page, "people");
    assert_eq!(shown.keys().collect::<Vec<_>>(), people.keys().collect::<Vec<_>>());
    for (p, t) in &people {
        assert_eq!(shown[p], t.figures(false), "person {p}");
    }
    let shown = table(&page, "field");
    assert_eq!(shown.len(), by_district.len(), "{page}");
    for (d, [a, b, c]) in &by_district {
        let row = &shown[d];
        assert_eq!(
            (&row["started"], &row["finished"], &row["open_end"]),
            (&a.to_string(), &b.to_string(), &c.to_string()),
            "district {d:?}"
        );
    }
    // The best three: by on-time share, then tasks done, of those with three or more.
    let mut ranked: Vec<(&String, &Tl)> = people.iter().filter(|(_, t)| t.done >= 3).collect();
    ranked.sort_by(|a, b| {
        let (ra, rb) = (
            (a.1.done - a.1.late) as f64 / a.1.done as f64,
            (b.1.done - b.1.late) as f64 / b.1.done as f64,
        );
        rb.total_cmp(&ra).then(b.1.done.cmp(&a.1.done)).then(a.0.cmp(b.0))
    });
    let best: String = ranked
        .iter()
        .take(3)
        .map(|(w, _)| format!("<li><bdi>{w}</bdi></li>"))
        .collect();
    if best.is_empty() {
        assert!(!page.contains(r#"<ol id="best">"#), "{page}");
    } else {
        assert!(page.contains(&format!(r#"<ol id="best">{best}</ol>"#)), "{best} {page}");
    }
    // The page says its formula and names its queries.
    assert!(
        page.contains("Unit score = on time − late − 2 × overdue now − 5 × unanswered notices to the mayor"),
        "{page}"
    );
    for (name, sql) in ravand_engine::engine::DASHBOARD_QUERIES {
        let shown = sql
            .replace('&', "&#38;")
            .replace('<', "&#60;")
            .replace('>', "&#62;")
            .replace('\'', "&#39;");
        assert!(
            page.contains(&format!("<h4 dir=\"ltr\">{name}</h4><pre dir=\"ltr\">{shown}</pre>")),
            "{name}: {page}"
        );
    }

    // In Persian, the same figures in Persian digits, right to left.
    let (st, _, fa) = s
        .get_with(
            "/ui/dashboard?process=dash-test&from=1405-02-13&to=1405-02-14&lang=fa",
            &admin,
        )
        .await;
    assert_eq!(st, 200);
    assert!(fa.contains(r#"<html lang="fa" dir="rtl">"#));
    let fa_started: String = started
        .to_string()
        .chars()
        .map(|c| char::from_u32(0x06F0 + c.to_digit(10).expect("digit")).expect("digit"))
        .collect();
    assert!(
        fa.contains(&format!(r#"id="f-started" data-v="{started}"><bdi>{fa_started}</bdi>"#)),
        "{fa}"
    );

    // The period's events as CSV: one row an event, the person named on completions.
    let (st, h, csv) = s
        .get_with(
            "/ui/dashboard/events.csv?process=dash-test&from=2026-05-03&to=2026-05-04",
            &admin,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(header(&h, "content-type"), "text/csv; charset=utf-8");
    assert!(header(&h, "content-disposition").starts_with("attachment;"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "case,tracking_code,seq,timestamp,when,event,step,activity,activity_en,role,unit,resource"
    );
    assert_eq!(lines.len() - 1, events_in_period, "one row an event in the period");
    let completions = lines.iter().filter(|l| l.contains(",task-completed,")).count() as i64;
    assert_eq!(completions, total.done);
    assert!(lines
        .iter()
        .filter(|l| l.contains(",task-completed,"))
        .all(|l| l.ends_with(",c-1") || l.ends_with(",c-2") || l.ends_with(",c-3") || l.contains(",i-")));

    // The auditor sees it too; a clerk gets a refusal, and so does a period too long.
    let auditor = s.sign_in("auditor-secret").await;
    assert_eq!(s.get_with(path, &auditor).await.0, 200);
    let clerk = s.sign_in("clerk-secret").await;
    let (st, _, refused) = s.get_with(path, &clerk).await;
    assert_eq!(st, 403, "{refused}");
    assert_eq!(
        s.get_with("/ui/dashboard/events.csv?process=dash-test", &clerk).await.0,
        403
    );
    let (st, _, long) = s
        .get_with("/ui/dashboard?process=dash-test&from=1400-01-01&to=1405-01-01", &admin)
        .await;
    assert_eq!(st, 422, "{long}");
    let (st, _, bad) = s
        .get_with("/ui/dashboard?process=dash-test&from=yesterday", &admin)
        .await;
    assert_eq!(st, 422, "{bad}");
    assert_eq!(s.get_with("/ui/dashboard?process=nope", &admin).await.0, 404);
}

#[tokio::test]
async fn the_dashboard_and_the_comparison_open_in_chromium_at_a_phones_and_a_desks_width() {
    let s = crate::console::site_with(tokens()).await;
    s.engine.deploy("dash-test.yaml", DASH).await.expect("deploys");
    for f in ["building-permit-current.yaml", "building-permit-reformed.yaml"] {
        let text = std::fs::read_to_string(crate::helpers::root().join("definitions").join(f)).expect("definition");
        s.engine.deploy(f, &text).await.expect("deploys");
    }
    work(&s, 1405).await;
    let path = "/ui/dashboard?process=dash-test&from=2026-05-03&to=2026-05-04";
    for (width, phone) in [(390, true), (1280, false)] {
        let started = if phone {
            crate::console::Browser::start().await
        } else {
            crate::console::Browser::start_desk().await
        };
        let Some(b) = started else { return };
        b.sign_in(&s.base, "/ui/dashboard", "admin-secret").await;
        b.go(&format!("{}{path}", s.base)).await;
        let looks = crate::desk::settle(&b, path).await;
        assert_eq!(looks["width"], json!(width), "{looks}");
        crate::console::accessible(&b, &format!("the dashboard at {width}")).await;
        let screen = if phone { "phone" } else { "desk" };
        b.shot(&format!("dashboard-{screen}")).await;
        assert_eq!(
            (&looks["lang"], &looks["dir"]),
            (&json!("fa"), &json!("rtl")),
            "{looks}"
        );
        assert_eq!(looks["overflow"], json!(false), "wider than {width}: {looks}");
        assert_eq!(looks["title"], json!("داشبورد"), "{looks}");
        let units = b
            .call(
                "POST",
                "/execute/sync",
                json!({"script": "const t = document.querySelector('#t-units'); \
                    return {rows: t.querySelectorAll('tbody tr').length, \
                    fits: t.closest('.scroll').getBoundingClientRect().right <= window.innerWidth + 1, \
                    font: getComputedStyle(t).fontFamily};", "args": []}),
            )
            .await;
        assert_eq!(units["rows"], json!(2), "{units}");
        assert_eq!(units["fits"], json!(true), "{units}");
        assert!(
            units["font"].as_str().is_some_and(|f| f.contains("Vazirmatn")),
            "{units}"
        );
        // The manager's view of open work, as an administrator sees it.
        b.go(&format!("{}/ui/manage", s.base)).await;
        let looks = crate::desk::settle(&b, "/ui/manage").await;
        assert_eq!(looks["overflow"], json!(false), "wider than {width}: {looks}");
        assert_eq!(looks["title"], json!("کار باز و دیرکرد"), "{looks}");
        crate::console::accessible(&b, &format!("the manager's view at {width}")).await;
        // The permit's reform side by side: the page no wider than the screen, both graphs in their boxes.
        let compare = "/ui/compare?a=building-permit@1&b=building-permit@2";
        b.go(&format!("{}{compare}", s.base)).await;
        let looks = crate::desk::settle(&b, compare).await;
        assert_eq!(looks["width"], json!(width), "{looks}");
        assert_eq!(looks["overflow"], json!(false), "wider than {width}: {looks}");
        assert_eq!(looks["title"], json!("مقایسهٔ دو فرایند"), "{looks}");
        let boxes = b
            .call(
                "POST",
                "/execute/sync",
                json!({"script": "return [...document.querySelectorAll('.side-by-side div.graph')]\
                    .map(g => g.getBoundingClientRect().right <= window.innerWidth + 1 && g.clientWidth > 100);", "args": []}),
            )
            .await;
        assert_eq!(boxes, json!([true, true]), "{boxes}");
        crate::console::accessible(&b, &format!("the comparison at {width}")).await;
        b.shot(&format!("compare-{screen}")).await;
        let _ = b.http.delete(format!("{}/session/{}", b.base, b.session)).send().await;
    }
}
