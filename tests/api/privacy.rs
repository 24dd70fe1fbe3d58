//! Invite links and bans over REST under concurrency (docs/protocol.md §13); the visibility
//! rules are tested through the official client in tests/js/interop/privacy.test.js.

use reqwest::StatusCode;
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Db, spawn_app, unique_name};

db_tests!(
    concurrent_joins_never_pass_an_invite_links_max_uses,
    a_banned_user_cannot_log_in_and_the_ban_is_in_the_audit_log,
);

async fn concurrent_joins_never_pass_an_invite_links_max_uses(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner, _) = app.new_user().await;
    let group = app
        .post(
            "/api/rooms",
            Some(&owner),
            json!({"kind": "group", "name": "g"}),
        )
        .await;
    let room = group.body["id"].as_str().unwrap().to_owned();
    let link = app
        .post(
            &format!("/api/rooms/{room}/invites"),
            Some(&owner),
            json!({"max_uses": 3}),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{}", link.body);
    let token = link.body["token"].as_str().unwrap().to_owned();
    let mut joiners = vec![];
    for _ in 0..8 {
        joiners.push(app.new_user().await.1);
    }

    let path = format!("/api/invites/{token}/join");
    let results = futures_util::future::join_all(
        joiners
            .iter()
            .map(|t| app.request(reqwest::Method::POST, &path, Some(t), None)),
    )
    .await;

    let joined = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.status == StatusCode::NOT_FOUND)
        .count();
    assert_eq!((joined, refused), (3, 5), "3 uses, whatever the timing");
    let view = app.get(&format!("/api/rooms/{room}"), &owner).await;
    assert_eq!(view.body["members_count"], 4);
    app.stop().await;
}

async fn a_banned_user_cannot_log_in_and_the_ban_is_in_the_audit_log(db: Db) {
    let app = spawn_app_with_admin(db, "opr").await;
    let op = app.register_raw("opr", "password1").await;
    let op_token = op.body["access_token"].as_str().unwrap().to_owned();
    let name = unique_name("b");
    let bob = app.register_raw(&name, "password1").await;
    let id = bob.body["user"]["id"].as_str().unwrap().to_owned();

    let ban = app
        .post(
            &format!("/api/admin/users/{id}/ban"),
            Some(&op_token),
            json!({"reason": "spam"}),
        )
        .await;
    let login = app.login(&name, "password1").await;
    let log = app.get("/api/admin/audit", &op_token).await;

    assert_eq!(ban.status, StatusCode::NO_CONTENT, "{}", ban.body);
    assert_eq!(login.status, StatusCode::FORBIDDEN, "{}", login.body);
    assert_eq!(login.code(), "forbidden");
    assert_eq!(log.body[0]["action"], "ban");
    assert_eq!(log.body[0]["target_user_id"], id.as_str());
    assert_eq!(log.body[0]["detail"], "spam");
    app.stop().await;
}

async fn spawn_app_with_admin(db: Db, admin: &str) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(db, &[("missive-admins", admin)]).await
}
