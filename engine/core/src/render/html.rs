//! A self-contained HTML report of a comparison: no scripts, no fonts or
//! files from the network; inline CSS and SVG charts; right to left, so
//! Persian titles read naturally (numbers and ids stay left to right).

use std::fmt::Write;

use crate::measure::{Change, Measures};
use crate::sim::Report;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const OLD: &str = "#b4522d";
const NEW: &str = "#2d7bb4";

/// The Persian label of a tag.
pub fn tag_fa(tag: &str) -> &'static str {
    match tag {
        "approval" => "تأیید",
        "signature" => "امضا",
        "payment" => "پرداخت",
        "notification" => "ابلاغ و اطلاع‌رسانی",
        "data-entry" => "ورود داده",
        "inspection" => "بازدید",
        "inquiry" => "استعلام",
        "citizen-visit" => "مراجعه حضوری",
        "discretionary" => "امضای صلاحدیدی",
        _ => "",
    }
}

/// The Persian label of a comparison's figure (its English name is shown
/// beside it).
pub fn figure_fa(figure: &str) -> String {
    if let Some(tag) = figure.strip_suffix(" steps") {
        let t = tag_fa(tag);
        if !t.is_empty() {
            return format!("گام‌های {t}");
        }
    }
    match figure {
        "steps" => "گام‌ها",
        "expected steps per case" => "گام‌های مورد انتظار هر پرونده",
        "expected days (analytical)" => "روزهای مورد انتظار (تحلیلی)",
        "handoffs" => "دست‌به‌دست شدن‌ها",
        "roles involved" => "نقش‌های درگیر",
        "fewest steps a case" => "کمترین گام یک پرونده",
        "most steps a case" => "بیشترین گام یک پرونده",
        "simulated steps per case" => "گام‌های هر پرونده (شبیه‌سازی)",
        "simulated mean days" => "میانگین روزها (شبیه‌سازی)",
        "simulated p50 days" => "میانه روزها (شبیه‌سازی)",
        "simulated p90 days" => "صدک ۹۰ روزها (شبیه‌سازی)",
        "simulated days on the citizen" => "روزهای انتظار برای شهروند (شبیه‌سازی)",
        _ => "",
    }
    .to_owned()
}

/// A figure as it reads best: a count without decimals.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// Grouped bars: steps by tag, before and after.
fn tag_bars(a: &Measures, b: &Measures) -> String {
    let tags: Vec<&str> = a
        .steps_by_tag
        .keys()
        .copied()
        .filter(|t| a.steps_by_tag[t] + b.steps_by_tag.get(t).copied().unwrap_or(0) > 0)
        .collect();
    let max = tags
        .iter()
        .map(|t| a.steps_by_tag[t].max(b.steps_by_tag.get(t).copied().unwrap_or(0)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (w, row) = (560.0, 26.0);
    let h = row * tags.len() as f64 + 10.0;
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" role=\"img\" aria-label=\"steps by tag\" direction=\"ltr\">", w + 230.0);
    for (i, t) in tags.iter().enumerate() {
        let y = 5.0 + i as f64 * row;
        let (va, vb) = (
            a.steps_by_tag[t] as f64,
            b.steps_by_tag.get(t).copied().unwrap_or(0) as f64,
        );
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{} <tspan font-size=\"9\">{}</tspan></text>",
            y + 15.0,
            esc(tag_fa(t)),
            esc(t)
        );
        let _ = write!(
            s,
            "<rect x=\"170\" y=\"{y}\" width=\"{:.1}\" height=\"10\" fill=\"{OLD}\"/>",
            va / max * w
        );
        let _ = write!(
            s,
            "<rect x=\"170\" y=\"{}\" width=\"{:.1}\" height=\"10\" fill=\"{NEW}\"/>",
            y + 11.0,
            vb / max * w
        );
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{va}</text>",
            174.0 + va / max * w,
            y + 9.0
        );
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{vb}</text>",
            174.0 + vb / max * w,
            y + 20.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Overlaid histograms of cycle time in days, before and after, on shared
/// bins, with axes and a legend.
fn histograms(a: &[f64], b: &[f64], names: (&str, &str)) -> String {
    let top = a.iter().chain(b).copied().fold(0.0, f64::max).max(1.0);
    let bins = 40usize;
    let count = |xs: &[f64]| {
        let mut c = vec![0usize; bins];
        for x in xs {
            c[((x / top * bins as f64) as usize).min(bins - 1)] += 1;
        }
        c
    };
    let (ca, cb) = (count(a), count(b));
    let frac = |c: &[usize], n: usize| c.iter().map(|k| *k as f64 / n.max(1) as f64).collect::<Vec<f64>>();
    let (fa, fb) = (frac(&ca, a.len()), frac(&cb, b.len()));
    let peak = fa.iter().chain(&fb).copied().fold(0.0, f64::max).max(1e-9);
    let (w, h) = (640.0, 220.0);
    // Room on the left for the y axis, below for the x axis and legend.
    let (ox, legend) = (48.0, 56.0);
    let bw = w / bins as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"cycle time histograms\" direction=\"ltr\">",
        w + ox,
        h + legend
    );
    let _ = write!(
        s,
        "<line x1=\"{ox}\" y1=\"0\" x2=\"{ox}\" y2=\"{h}\" stroke=\"#444\"/><line x1=\"{ox}\" y1=\"{h}\" x2=\"{}\" y2=\"{h}\" stroke=\"#444\"/>",
        w + ox
    );
    for k in 0..=2 {
        let y = h - h * k as f64 / 2.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{:.0}%</text>",
            ox - 4.0,
            (y + 4.0).max(10.0),
            peak * 100.0 * k as f64 / 2.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"10\" y=\"{:.1}\" font-size=\"10\" transform=\"rotate(-90 10 {:.1})\" text-anchor=\"middle\">سهم پرونده‌ها (share of cases)</text>",
        h / 2.0,
        h / 2.0
    );
    for (i, (x, y)) in fa.iter().zip(&fb).enumerate() {
        let left = ox + i as f64 * bw;
        let _ = write!(
            s,
            "<rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{OLD}\" opacity=\"0.6\"/>",
            h - x / peak * h,
            bw - 1.0,
            x / peak * h
        );
        let _ = write!(
            s,
            "<rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{NEW}\" opacity=\"0.6\"/>",
            h - y / peak * h,
            bw - 1.0,
            y / peak * h
        );
    }
    for k in 0..=4 {
        let x = ox + w * k as f64 / 4.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{:.0}</text>",
            x.clamp(ox + 12.0, ox + w - 12.0),
            h + 16.0,
            top * k as f64 / 4.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">زمان چرخه، روز (cycle time, days)</text>",
        ox + w / 2.0,
        h + 32.0
    );
    let _ = write!(
        s,
        "<rect x=\"{ox}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"{OLD}\" opacity=\"0.6\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>\
         <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"{NEW}\" opacity=\"0.6\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
        h + 42.0,
        ox + 16.0,
        h + 51.0,
        esc(names.0),
        ox + w / 2.0,
        h + 42.0,
        ox + w / 2.0 + 16.0,
        h + 51.0,
        esc(names.1)
    );
    s.push_str("</svg>");
    s
}

/// The whole page.
pub fn compare_html(
    title: &str,
    old: (&str, &Measures),
    new: (&str, &Measures),
    rows: &[Change],
    sims: Option<(&Report, &Report)>,
) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"fa\" dir=\"rtl\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
body{{font-family:Vazirmatn,Tahoma,'Noto Sans Arabic',sans-serif;margin:2em;color:#222}}\
table{{border-collapse:collapse}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd}}\
td.n{{direction:ltr;text-align:left;font-variant-numeric:tabular-nums}}\
.old{{color:{OLD}}}.new{{color:{NEW}}}figure{{margin:1.5em 0}}\
</style></head><body><h1>{t}</h1>",
        t = esc(title)
    );
    let _ = write!(
        s,
        "<p><span class=\"old\">■ {}</span> &nbsp; <span class=\"new\">■ {}</span></p>",
        esc(old.0),
        esc(new.0)
    );
    s.push_str("<h2>آنچه تغییر می‌کند <small dir=\"ltr\">(what changes)</small></h2><table><tr><th></th><th>پیش <small>(before)</small></th><th>پس <small>(after)</small></th><th>تغییر <small>(change)</small></th></tr>");
    for r in rows {
        let pct = r.percent.map_or("-".to_owned(), |p| format!("{p:+.1}%"));
        let _ = write!(
            s,
            "<tr><td>{} <small dir=\"ltr\">({})</small></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{pct}</td></tr>",
            esc(&figure_fa(&r.figure)),
            esc(&r.figure),
            number(r.old),
            number(r.new)
        );
    }
    s.push_str("</table><h2>گام‌ها بر حسب برچسب <small dir=\"ltr\">(steps by tag)</small></h2><figure>");
    s.push_str(&tag_bars(old.1, new.1));
    s.push_str("</figure>");
    if let Some((a, b)) = sims {
        s.push_str("<h2>توزیع زمان چرخه (روز) <small dir=\"ltr\">(cycle time, days)</small></h2><figure>");
        s.push_str(&histograms(&a.cycle_samples, &b.cycle_samples, (old.0, new.0)));
        let _ = write!(
            s,
            "<figcaption dir=\"ltr\">p50 {:.1} → {:.1} days; p90 {:.1} → {:.1} days; {} and {} cases, seed {}</figcaption></figure>",
            a.cycle_days.p50, b.cycle_days.p50, a.cycle_days.p90, b.cycle_days.p90, a.finished, b.finished, a.seed
        );
    }
    s.push_str("</body></html>\n");
    s
}
