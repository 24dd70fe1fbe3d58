//! Upgrades: a database made by the previous release (schema `0001` only, with accounts, rooms,
//! messages, read cursors and refresh tokens in it; `tests/fixtures/v0.1.0-*.sql`) is migrated
//! forward by the current binary at start, and everything in it is served as before.
//!
//! The fixtures were made by running the server, filling it over REST, and removing what later
//! migrations added; they are never regenerated, as a real old database would not be.

use reqwest::StatusCode;
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Db, spawn_app_on_fixture};

db_tests!(a_database_of_the_previous_release_is_migrated_and_served_as_before);

fn fixture(db: Db) -> &'static str {
    match db {
        Db::Sqlite => include_str!("../fixtures/v0.1.0-sqlite.sql"),
        Db::Postgres => include_str!("../fixtures/v0.1.0-postgres.sql"),
    }
}

async fn a_database_of_the_previous_release_is_migrated_and_served_as_before(db: Db) {
    let app = spawn_app_on_fixture(db, fixture(db)).await;
    let login = |name: &'static str| {
        let app = &app;
        async move {
            let res = app
                .post(
                    "/api/auth/login",
                    None,
                    json!({"username": name, "password": format!("password-of-{name}")}),
                )
                .await;
            assert_eq!(res.status, StatusCode::OK, "{name} logs in: {}", res.body);
            res.body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let alice = login("alice").await;
    let bob = login("bob").await;

    let me = app.get("/api/me", &alice).await;
    assert_eq!(me.body["display_name"], "Alice Old");

    let rooms = app.get("/api/rooms", &bob).await;
    assert_eq!(rooms.status, StatusCode::OK);
    let rooms = rooms.body.as_array().expect("rooms").clone();
    assert_eq!(rooms.len(), 2, "bob's direct room and group: {rooms:?}");
    let direct = rooms
        .iter()
        .find(|r| r["kind"] == "direct")
        .unwrap_or_else(|| panic!("no direct room: {rooms:?}"));
    let direct_id = direct["id"].as_str().expect("ids are strings on the wire");
    assert_eq!(direct["last_seq"], 5);
    assert_eq!(direct["read_seq"], 3, "read cursors survive");
    assert_eq!(direct["unread_count"], 2);

    let history = app
        .get(&format!("/api/rooms/{direct_id}/messages"), &bob)
        .await;
    let bodies: Vec<_> = history.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        bodies,
        (1..=5)
            .map(|i| format!("direct {i} from the old release"))
            .collect::<Vec<_>>()
    );

    // New writes continue the old streams and use what the new migrations added.
    let sent = app
        .post(
            &format!("/api/rooms/{direct_id}/messages"),
            Some(&alice),
            json!({"body": "after the upgrade"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(sent.body["seq"], 6);
    let again = app
        .post(
            &format!("/api/rooms/{direct_id}/messages"),
            Some(&alice),
            json!({"body": "direct 1 from the old release", "client_id": "old-1"}),
        )
        .await;
    assert_eq!(again.body["seq"], 1, "an old client_id is still idempotent");
    let dave = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "dave", "password": "a new password"}),
        )
        .await;
    assert_eq!(dave.status, StatusCode::CREATED, "{}", dave.body);
    assert_eq!(
        dave.body["user"]["id"], "4",
        "ids continue after the old ones"
    );
    app.stop().await;
}
