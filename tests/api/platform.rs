//! Health, readiness, metrics, the web client and security headers.

use reqwest::StatusCode;

use crate::db_tests;
use crate::helpers::{Db, spawn_app};

db_tests!(
    health_and_readiness_report_ok,
    metrics_are_prometheus_text,
    the_web_client_and_socket_io_bundle_are_served_under_a_csp,
    unknown_api_paths_are_json_not_found,
);

async fn health_and_readiness_report_ok(db: Db) {
    let app = spawn_app(db).await;
    for path in ["/healthz", "/readyz"] {
        let res = app.request(reqwest::Method::GET, path, None, None).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert_eq!(res.body["status"], "ok");
    }
    app.stop().await;
}

async fn metrics_are_prometheus_text(db: Db) {
    let app = spawn_app(db).await;
    let (_, token, _) = app.new_user().await;
    let room = app
        .post(
            "/api/rooms",
            Some(&token),
            serde_json::json!({"kind": "group", "name": "m"}),
        )
        .await;
    let id = room.body["id"].as_str().unwrap();
    app.post(
        &format!("/api/rooms/{id}/messages"),
        Some(&token),
        serde_json::json!({"body": "hi"}),
    )
    .await;

    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(
        text.contains("# TYPE missive_messages_total counter"),
        "{text}"
    );
    app.stop().await;
}

async fn the_web_client_and_socket_io_bundle_are_served_under_a_csp(db: Db) {
    let app = spawn_app(db).await;

    let index = app
        .client
        .get(format!("{}/", app.url))
        .send()
        .await
        .unwrap();
    let bundle = app
        .client
        .get(format!("{}/socket.io/socket.io.js", app.url))
        .send()
        .await
        .unwrap();

    assert_eq!(index.status(), StatusCode::OK);
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(
        bundle.text().await.unwrap().contains("io"),
        "the Socket.IO client bundle"
    );
    app.stop().await;
}

async fn unknown_api_paths_are_json_not_found(db: Db) {
    let app = spawn_app(db).await;
    let (_, token, _) = app.new_user().await;

    let res = app.get("/api/nothing/here", &token).await;

    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.code(), "not_found");
    app.stop().await;
}
