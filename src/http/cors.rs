//! CORS for the endpoints browser-based MCP clients call directly (DESIGN 2.3): any origin,
//! never credentials. Never applied to `/authorize`, which is a top-level navigation.
//!
//! Written out rather than `tower_http::cors::CorsLayer`: the policy is fixed, so every
//! header is a static value, while axum clones a route's layers for each request and the
//! general layer's clone copies its header lists (and joins `Vary`) every time, about a
//! tenth of the instructions of a metadata request.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Preflight answers may be cached by browsers for a day.
const PREFLIGHT_MAX_AGE: HeaderValue = HeaderValue::from_static("86400");
const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const METHODS: HeaderValue = HeaderValue::from_static("GET,HEAD,POST,PUT,DELETE,OPTIONS");
/// The headers MCP clients send.
const REQUEST_HEADERS: HeaderValue =
    HeaderValue::from_static("authorization,content-type,accept,mcp-protocol-version");
/// The headers a browser client needs to read: the challenge, and when to retry.
const EXPOSED_HEADERS: HeaderValue = HeaderValue::from_static("www-authenticate,retry-after");
/// The answer depends on these request headers, for caches between browser and server.
const VARY: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);

/// The one CORS policy for metadata, JWKS, `/token`, `/register`, `/revoke`, `/introspect`
/// and `/userinfo`: `Access-Control-Allow-Origin: *` without credentials, so no cookie ever
/// rides along, and `OPTIONS` preflights answered here for the headers MCP clients send.
pub async fn cors(request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::OK.into_response();
        preflight_headers(response.headers_mut());
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS);
    headers.append(header::VARY, VARY);
    response
}

fn preflight_headers(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, REQUEST_HEADERS);
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE);
    headers.append(header::VARY, VARY);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route("/x", get(|| async { "x" }).post(|| async { "y" }))
            .layer(axum::middleware::from_fn(cors))
    }

    async fn send(request: axum::http::Request<Body>) -> Response {
        app().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_preflight_is_answered_without_reaching_the_handler_and_without_credentials() {
        let response = send(
            axum::http::Request::options("/x")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        assert!(
            h["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("mcp-protocol-version")
        );
        assert_eq!(h["access-control-max-age"], "86400");
        assert!(h.get("access-control-allow-credentials").is_none());
    }

    #[tokio::test]
    async fn answers_carry_the_origin_the_exposed_headers_and_vary_once() {
        let response = send(
            axum::http::Request::post("/x")
                .header("origin", "https://app.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let h = response.headers();
        assert_eq!(h.get_all("access-control-allow-origin").iter().count(), 1);
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(
            h["access-control-expose-headers"],
            "www-authenticate,retry-after"
        );
        assert_eq!(h.get_all("vary").iter().count(), 1);
        assert!(h.get("access-control-allow-credentials").is_none());
    }
}
