//! `GET /.well-known/oauth-authorization-server` (RFC 8414) and
//! `/.well-known/openid-configuration` (OpenID Connect Discovery), one document served from
//! bytes built at start.

use crate::app::state::AppState;
use crate::config::Config;
use crate::oauth::metadata::{authorization_server_metadata, well_known_paths};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// Clients may cache the document briefly; it only changes when the server restarts.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The metadata routes, with the document serialized once here rather than per request.
pub fn routes(config: &Config) -> Router<AppState> {
    // Serializing strings, booleans and lists of them cannot fail.
    let document = serde_json::to_vec(&authorization_server_metadata(config.server_profile()));
    let document = Bytes::from(document.unwrap_or_default());
    let mut router = Router::new();
    for path in well_known_paths(&config.issuer) {
        let body = document.clone();
        router = router.route(
            &path,
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [
                            (
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("application/json"),
                            ),
                            (
                                header::CACHE_CONTROL,
                                HeaderValue::from_static(CACHE_CONTROL),
                            ),
                        ],
                        body,
                    )
                        .into_response()
                }
            }),
        );
    }
    router
}
