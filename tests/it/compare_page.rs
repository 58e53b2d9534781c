//! The console's comparison of two processes (`/ui/compare`): Tehran's
//! permit process before and after the reform, side by side, its figures
//! those `measure::compare` gives, labelled in Persian, counts as integers.

use ravand_engine::service::{Access, Token};

use crate::console::site_with;
use crate::helpers::root;

fn tokens() -> Vec<Token> {
    let mut clerk = Token::for_secret("clerk-secret", Access::Clerk, "operator-ali");
    clerk.processes = vec!["complaint-137".into()];
    vec![Token::for_secret("admin-secret", Access::Admin, "admin"), clerk]
}

/// The shown cells of row `key` of the comparison: (before, after, change).
fn row(page: &str, key: &str) -> (String, String, String) {
    let at = page
        .find(&format!(r#"<tr data-key="{key}">"#))
        .unwrap_or_else(|| panic!("no row {key}: {page}"));
    let row = &page[at..at + page[at..].find("</tr>").expect("row end")];
    let cell = |k: &str| {
        let needle = format!(r#"data-k="{k}"><bdi>"#);
        let c = &row[row.find(&needle).expect("cell") + needle.len()..];
        c[..c.find("</bdi>").expect("cell end")].to_owned()
    };
    (cell("old"), cell("new"), cell("change"))
}

fn fa(n: i64) -> String {
    n.to_string()
        .chars()
        .map(|c| c.to_digit(10).map_or(c, |d| char::from_u32(0x06F0 + d).unwrap_or(c)))
        .collect()
}

#[tokio::test]
async fn the_permits_reform_side_by_side_in_persian_with_counts_as_integers() {
    let s = site_with(tokens()).await;
    for f in ["building-permit-current.yaml", "building-permit-reformed.yaml"] {
        let text = std::fs::read_to_string(root().join("definitions").join(f)).expect("definition");
        s.engine.deploy(f, &text).await.expect("deploys");
    }
    let admin = s.sign_in("admin-secret").await;
    // The form alone first: every version granted to choose from.
    let (st, _, form) = s.get_with("/ui/compare", &admin).await;
    assert_eq!(st, 200, "{form}");
    for v in ["building-permit@1", "building-permit@2", "complaint-137@1"] {
        assert!(form.contains(&format!(r#"<option value="{v}""#)), "{v}: {form}");
    }

    let (st, _, page) = s
        .get_with("/ui/compare?a=building-permit@1&b=building-permit", &admin)
        .await;
    assert_eq!(st, 200, "{page}");
    let old = s
        .engine
        .process_version("building-permit", 1)
        .await
        .expect("reads")
        .expect("deployed");
    let new = s
        .engine
        .process("building-permit")
        .await
        .expect("reads")
        .expect("deployed");
    let changes = ravand_engine::measure::compare(&old, &new);
    assert_eq!(page.matches("<tr data-key=").count(), changes.len());
    for c in &changes {
        let (a, b, _) = row(&page, &c.figure);
        if c.old.fract() == 0.0 && c.new.fract() == 0.0 {
            assert_eq!(
                (a.clone(), b.clone()),
                (fa(c.old as i64), fa(c.new as i64)),
                "{}",
                c.figure
            );
        }
        assert!(
            !a.contains('.') && !b.contains('.'),
            "Persian digits, no Western point: {a} {b}"
        );
    }
    // The reform's headline, as the mission states it: about 129 steps, then under 70.
    let steps = changes.iter().find(|c| c.figure == "steps").expect("steps");
    assert!(steps.old >= 120.0 && steps.new < 70.0, "{steps:?}");
    let (a, b, change) = row(&page, "steps");
    assert_eq!((a, b), (fa(steps.old as i64), fa(steps.new as i64)));
    assert!(change.starts_with('-') && change.ends_with('٪'), "{change}");
    // Persian labels, both graphs, each named.
    assert!(page.contains("<th scope=\"row\">گام‌ها</th>"), "{page}");
    assert!(page.contains("<th scope=\"row\">گام‌های امضای صلاحدیدی</th>"), "{page}");
    assert_eq!(page.matches("<svg class=\"graph\"").count(), 2);
    assert!(page.contains(r#"aria-label="پیش از اصلاح: "#), "{page}");

    // In English, the figures' own names.
    let (_, _, en) = s
        .get_with("/ui/compare?a=building-permit@1&b=building-permit@2&lang=en", &admin)
        .await;
    assert!(en.contains("<th scope=\"row\">discretionary steps</th>"), "{en}");

    // A clerk of the 137 process may not see the permits; an unknown version is not found.
    let clerk = s.sign_in("clerk-secret").await;
    let (st, _, refused) = s
        .get_with("/ui/compare?a=building-permit@1&b=complaint-137@1", &clerk)
        .await;
    assert_eq!(st, 404, "{refused}");
    let (_, _, theirs) = s.get_with("/ui/compare", &clerk).await;
    assert!(!theirs.contains("building-permit"), "{theirs}");
    assert_eq!(
        s.get_with("/ui/compare?a=complaint-137@9&b=complaint-137@1", &admin)
            .await
            .0,
        404
    );
    assert_eq!(
        s.get_with("/ui/compare?a=complaint-137@x&b=complaint-137", &admin)
            .await
            .0,
        404
    );
}

/// The simulated rows: both versions under the default scenario with the
/// form's cases and seed, each on its own calendar, as the simulator gives
/// them when run here on its own; the same seed gives the same figures.
#[tokio::test]
async fn the_comparison_adds_the_simulated_figures_of_both_versions() {
    let s = site_with(tokens()).await;
    for f in ["building-permit-current.yaml", "building-permit-reformed.yaml"] {
        let text = std::fs::read_to_string(root().join("definitions").join(f)).expect("definition");
        s.engine.deploy(f, &text).await.expect("deploys");
    }
    let admin = s.sign_in("admin-secret").await;
    let (cases, seed) = (300, 11);
    let path = format!("/ui/compare?a=building-permit@1&b=building-permit@2&sim=1&cases={cases}&seed={seed}&lang=en");
    let (st, _, page) = s.get_with(&path, &admin).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(r#"id="sim-note""#), "{page}");
    let run = |v: u32| {
        let e = &s.engine;
        async move {
            let d = e
                .deployed("building-permit", v)
                .await
                .expect("reads")
                .expect("deployed");
            let (mut sc, _) = ravand_engine::sim::default_scenario().expect("the default scenario");
            sc.cases = Some(cases);
            sc.seed = seed;
            ravand_engine::sim::simulate(&d.process, &d.calendar, &sc).expect("simulates")
        }
    };
    let (old, new) = (run(1).await, run(2).await);
    assert!(old.finished > 0 && new.finished > 0);
    let shown = |x: f64| {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    };
    let sims = ravand_engine::sim::compare_rows(&old, &new);
    assert_eq!(sims.len(), 5);
    for c in &sims {
        let (a, b, _) = row(&page, &c.figure);
        assert_eq!((a, b), (shown(c.old), shown(c.new)), "{}", c.figure);
    }
    // The reform shortens the simulated case too.
    let mean = sims.iter().find(|c| c.figure == "simulated mean days").expect("mean");
    assert!(mean.new < mean.old, "{mean:?}");
    // The same seed, the same page; another seed, other figures.
    let (_, _, again) = s.get_with(&path, &admin).await;
    assert_eq!(row(&again, "simulated mean days"), row(&page, "simulated mean days"));
    let other = path.replace("seed=11", "seed=12");
    let (_, _, other) = s.get_with(&other, &admin).await;
    assert_ne!(row(&other, "simulated p90 days"), row(&page, "simulated p90 days"));
    // Without `sim`, no simulated rows; a bad count or seed is refused.
    let (_, _, plain) = s
        .get_with("/ui/compare?a=building-permit@1&b=building-permit@2", &admin)
        .await;
    assert!(!plain.contains(r#"data-key="simulated"#), "{plain}");
    for bad in ["cases=0", "cases=5001", "cases=many", "seed=-1"] {
        let (st, _, refused) = s
            .get_with(
                &format!("/ui/compare?a=building-permit@1&b=building-permit@2&sim=1&{bad}"),
                &admin,
            )
            .await;
        assert_eq!(st, 422, "{bad}: {refused}");
    }
}
