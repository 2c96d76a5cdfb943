//! The operator console: a web page at `/console/` for operators and
//! brands, built into the binary (`host/console/`: plain ES modules, no
//! build step, so serving it needs no Node.js). It calls only the public
//! API, with the token its user signs in with, so it can do nothing that
//! token could not do with curl.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The console's address on a server.
pub const PATH: &str = "/console/";

/// A file of `host/console/` with its media type.
macro_rules! asset {
    ($name:literal, $media_type:expr) => {
        ($name, $media_type, include_str!(concat!("../console/", $name)))
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The console's files: name, media type, contents.
const ASSETS: &[(&str, &str, &str)] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("editor.js", JS),
    asset!("i18n.js", JS),
    asset!("report.js", JS),
    asset!("types.js", JS),
    asset!("ui.js", JS),
];

/// Only this server's own files and API: no inline script, no other
/// origin, no framing.
const SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                               script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                               base-uri 'none'; form-action 'self'";

/// The console's routes, and the book its help links open, for any state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    use rulehost_book::{FIRST, PATH as BOOK};
    Router::new()
        .route("/console", get(|| async { Redirect::permanent(PATH) }))
        .route(PATH, get(|| async { asset("index.html") }))
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
        .route("/book", get(|| async { Redirect::permanent(BOOK) }))
        .route(BOOK, get(|| async { Redirect::temporary(&format!("{BOOK}{FIRST}")) }))
        .route(
            "/book/{*page}",
            get(|Path(page): Path<String>| async move { book_page(&page) }),
        )
}

/// A page of the book (see [`rulehost_book`]) or its style sheet.
fn book_page(path: &str) -> Response {
    let (media_type, body) = if path == "book.css" {
        ("text/css; charset=utf-8", rulehost_book::CSS.to_owned())
    } else {
        match rulehost_book::page(path) {
            Some(html) => ("text/html; charset=utf-8", html),
            None => {
                return crate::api::ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_route",
                    format!("the book has no page {path:?}"),
                )
                .into_response();
            }
        }
    };
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, BOOK_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The book's pages run no script at all.
const BOOK_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
                           base-uri 'none'; form-action 'none'";

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, ..)| *n == name) {
        Some((_, media_type, body)) => (
            [
                (header::CONTENT_TYPE, *media_type),
                // The files change with the binary: always ask again.
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, SECURITY_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => crate::api::ApiError::new(
            StatusCode::NOT_FOUND,
            "no_route",
            format!("the console has no file {name:?}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get(uri: &str) -> Response {
        routes::<()>()
            .oneshot(
                axum::http::Request::builder()
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn serves_its_files_and_refuses_others() {
        let page = get("/console/").await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let script = get("/console/app.js").await;
        assert_eq!(script.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(get("/console").await.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(get("/console/../Cargo.toml").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get("/console/secret.js").await.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn every_file_a_page_or_module_loads_is_served() {
        let served = |name: &str| ASSETS.iter().any(|(n, ..)| *n == name);
        let index = ASSETS[0].2;
        for loaded in ["app.js", "console.css"] {
            assert!(
                index.contains(&format!("\"{loaded}\"")),
                "index.html does not load {loaded}"
            );
        }
        for (name, _, body) in ASSETS {
            // `from "./x.js"` and `import("./x.js")`.
            for (at, _) in body.match_indices("\"./") {
                let rest = &body[at + 3..];
                let module = &rest[..rest.find('"').expect("a closing quote")];
                assert!(
                    served(module),
                    "{name} loads ./{module}, which the server does not serve"
                );
            }
        }
    }
}
