//! `/healthz` and `/readyz` over a real socket.

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_while_the_process_runs() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_follows_the_database() {
    let app = TestApp::spawn().await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    app.state.store.close().await;
    let down = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(down.status(), 503);
    let alive = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        alive.status(),
        200,
        "liveness does not depend on the database"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_and_post_endpoints_never_redirect() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    app.stop().await;
}
