//! The console's pages, beside the API on the same port: the citizen's
//! (`/track`, no login) and the staff's (`/ui/…`, behind a session), in
//! Persian (right to left, Persian digits) with an English switch, and the
//! assets they need under `/ui/assets/`, inside the binary.
//!
//! Owns: the page handlers, their words in both languages, sessions and
//! their cookies, CSRF checks, the embedded assets. Must not: decide what
//! a caller may do (the engine checks the caller's grants inside the unit
//! of work, as for the API); need JavaScript or the network.

mod case;
mod compare;
mod dashboard;
mod desk;
mod graph;
mod manage;
mod processes;
mod staff;
mod track;

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::Service;

/// The console's assets: style sheet and fonts (Vazirmatn, OFL).
#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The pages' routes.
pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/track", get(track::track_form))
        .route("/track/{code}", get(track::track_case))
        .route("/ui/assets/{*path}", get(asset))
        .route("/ui", get(desk::home))
        .route("/ui/", get(desk::home))
        .route("/ui/login", get(staff::login_form).post(staff::login))
        .route("/ui/logout", post(staff::logout))
        .route("/ui/desk", get(desk::desk))
        .route("/ui/manage", get(manage::manage))
        .route("/ui/dashboard", get(dashboard::dashboard))
        .route("/ui/dashboard/events.csv", get(dashboard::events_csv))
        .route("/ui/processes", get(processes::list))
        .route("/ui/compare", get(compare::compare))
        .route("/ui/processes/check", get(processes::check_form).post(processes::check))
        .route("/ui/processes/{id}", get(processes::one))
        .route("/ui/cases/{id}", get(case::case))
        .route("/ui/cases/{id}/graph.svg", get(case::graph_svg))
        .route("/ui/cases/{id}/{action}", post(case::manage))
        .route("/ui/cases/{id}/incidents/{token}/resolve", post(case::resolve))
        .route("/ui/cases/{id}/tasks/{task}", get(desk::task))
        .route("/ui/cases/{id}/tasks/{task}/claim", post(desk::claim))
        .route("/ui/cases/{id}/tasks/{task}/complete", post(desk::complete))
}

/// Western digits as Persian digits.
fn fa_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(0x06F0 + d).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Persian and Arabic-Indic digits (and the Persian decimal separator) as
/// Western ones: what a person types into a field, as the engine reads it.
fn western_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c as u32 {
            0x06F0..=0x06F9 => char::from_u32(c as u32 - 0x06F0 + u32::from(b'0')).unwrap_or(c),
            0x0660..=0x0669 => char::from_u32(c as u32 - 0x0660 + u32::from(b'0')).unwrap_or(c),
            0x066B => '.',
            _ => c,
        })
        .collect()
}

/// A rendered page with the headers every page carries: no script,
/// nothing from elsewhere, forms only to this site, no referrer (an
/// address may hold a tracking code), not cached.
fn html(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    let html = match rendered {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            return super::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the page could not be made",
            )
            .into_response();
        }
    };
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; font-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /ui/assets/{path}`: a file from inside the binary.
async fn asset(Path(path): Path<String>) -> Response {
    let Some(f) = Assets::get(&path) else {
        return super::ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such asset").into_response();
    };
    let kind = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("woff2") => "font/woff2",
        Some("js") => "text/javascript; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let mut r = f.data.into_owned().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_become_persian_and_nothing_else_changes() {
        assert_eq!(
            fa_digits("1405-01-15 08:00 (2026-04-04)"),
            "۱۴۰۵-۰۱-۱۵ ۰۸:۰۰ (۲۰۲۶-۰۴-۰۴)"
        );
        assert_eq!(fa_digits("مرحله ۳ و 4"), "مرحله ۳ و ۴");
    }

    #[test]
    fn typed_digits_read_as_western_ones() {
        assert_eq!(western_digits("۱۲۳٫۵"), "123.5");
        assert_eq!(western_digits("٤٥"), "45");
        assert_eq!(western_digits("۱۴۰۵-۰۱-۱۵"), "1405-01-15");
        assert_eq!(western_digits("abc 7"), "abc 7");
    }
}
