//! `/jwks.json`: the public keys resource servers verify access tokens with (current, next,
//! and retired keys whose tokens may still be alive), served from pre-built bytes.

use crate::app::state::AppState;
use crate::config::JWKS_CACHE_CONTROL;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The JWKS document. Cacheable for `JWKS_MAX_AGE_SECONDS`, which `keys.prepublish` exceeds,
/// so a cached copy always holds the key that signs next. CORS comes from the router.
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, JWKS_CACHE_CONTROL),
        ],
        state.keys.jwks_json(),
    )
}
