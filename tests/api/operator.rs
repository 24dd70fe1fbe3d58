//! The operator's console over REST (docs/protocol.md §14): every `/api/admin/...` operation is
//! refused to anyone not in `MISSIVE_ADMINS` (enumerated from the OpenAPI document), and the
//! console's account, room and figure look-ups, account actions, and closing a channel. Actions
//! on live sockets, on two nodes, are tested in tests/js/interop/operator.test.js.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{Db, TestApp, spawn_app_with, unique_name};

db_tests!(
    every_admin_operation_is_forbidden_to_a_user_not_named_an_operator,
    an_operator_finds_accounts_and_reads_one_in_detail,
    logout_everywhere_revokes_every_token_and_is_audited,
    a_password_reset_returns_a_working_temporary_password_once,
    an_operator_finds_rooms_with_their_members_and_message_rate,
    a_reported_message_is_shown_in_context,
    the_stats_carry_this_node_and_the_cluster_totals,
    a_closed_channel_is_read_only_hidden_and_closed_to_newcomers_until_reopened,
    only_channels_are_closed_and_each_state_change_happens_once,
);

/// A server whose operator is `opr_<n>`; returns it with the operator's token.
async fn with_operator(db: Db) -> (TestApp, String) {
    let name = unique_name("opr");
    let app = spawn_app_with(db, &[("missive-admins", &name)]).await;
    let res = app.register_raw(&name, "correct horse").await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let token = res.body["access_token"].as_str().unwrap().to_owned();
    (app, token)
}

async fn group(app: &TestApp, token: &str, name: &str) -> String {
    let res = app
        .post(
            "/api/rooms",
            Some(token),
            json!({"kind": "group", "name": name}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["id"].as_str().unwrap().to_owned()
}

async fn send(app: &TestApp, token: &str, room: &str, body: &str) -> Value {
    let res = app
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(token),
            json!({"body": body}),
        )
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    res.body.clone()
}

async fn every_admin_operation_is_forbidden_to_a_user_not_named_an_operator(db: Db) {
    let (app, op) = with_operator(db).await;
    let (user_id, user, _) = app.new_user().await;
    let room = group(&app, &op, "secret ops").await;
    let doc = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    let mut operations = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if !path.starts_with("/api/admin/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("/users/{id}", &format!("/users/{user_id}"))
                .replace("/rooms/{id}", &format!("/rooms/{room}"))
                .replace("{id}", "1")
                .replace("{seq}", "1")
                .replace("{sid}", "abc");
            operations.push((method.to_uppercase(), concrete));
        }
    }
    // The console's operations and those that were there before it, at least.
    assert!(operations.len() >= 15, "{operations:?}");

    for (method, path) in &operations {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m == Method::POST).then(|| json!({}));
        let as_user = app
            .request(m.clone(), path, Some(&user), body.clone())
            .await;
        let anonymous = app.request(m, path, None, body).await;

        assert_eq!(
            (as_user.status, as_user.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{method} {path}: {}",
            as_user.body
        );
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    // Nothing was done on the user's behalf.
    let log = app.get("/api/admin/audit", &op).await;
    assert_eq!(log.body, json!([]));
    app.stop().await;
}

async fn an_operator_finds_accounts_and_reads_one_in_detail(db: Db) {
    let (app, op) = with_operator(db).await;
    let name = unique_name("findme");
    let res = app.register_raw(&name, "correct horse").await;
    let id = res.body["user"]["id"].as_str().unwrap().to_owned();
    let token = res.body["access_token"].as_str().unwrap().to_owned();
    group(&app, &token, "their group").await;

    let found = app
        .get(&format!("/api/admin/users?q={}", name.to_uppercase()), &op)
        .await;
    let none = app.get("/api/admin/users?q=%25", &op).await;
    let detail = app.get(&format!("/api/admin/users/{id}"), &op).await;
    let missing = app.get("/api/admin/users/999999", &op).await;

    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let list = found.body.as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", found.body);
    assert_eq!(list[0]["username"], name.as_str());
    assert_eq!(list[0]["banned_at"], Value::Null);
    assert_eq!(none.body, json!([]), "`%` is matched literally");
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["id"], id.as_str());
    assert_eq!(detail.body["rooms"], 1);
    assert_eq!(detail.body["devices"], json!([]), "no socket is connected");
    assert_eq!(missing.code(), "not_found");
    app.stop().await;
}

async fn logout_everywhere_revokes_every_token_and_is_audited(db: Db) {
    let (app, op) = with_operator(db).await;
    let (id, access, refresh) = app.new_user().await;

    let out = app
        .post(
            &format!("/api/admin/users/{id}/logout"),
            Some(&op),
            json!({}),
        )
        .await;
    let me = app.get("/api/me", &access).await;
    let refreshed = app
        .post("/api/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    let log = app.get("/api/admin/audit", &op).await;

    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refreshed.body
    );
    assert_eq!(log.body[0]["action"], "logout_everywhere");
    assert_eq!(log.body[0]["target_user_id"], id.as_str());
    app.stop().await;
}

async fn a_password_reset_returns_a_working_temporary_password_once(db: Db) {
    let (app, op) = with_operator(db).await;
    let name = unique_name("forgot");
    let res = app.register_raw(&name, "old password").await;
    let id = res.body["user"]["id"].as_str().unwrap().to_owned();

    let reset = app
        .post(
            &format!("/api/admin/users/{id}/password"),
            Some(&op),
            json!({}),
        )
        .await;
    let temporary = reset.body["temporary_password"]
        .as_str()
        .unwrap_or_default();
    let with_old = app.login(&name, "old password").await;
    let with_new = app.login(&name, temporary).await;
    let log = app.get("/api/admin/audit", &op).await;

    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert!(temporary.len() >= 20, "{}", reset.body);
    assert_eq!(with_old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(with_new.status, StatusCode::OK, "{}", with_new.body);
    assert_eq!(log.body[0]["action"], "reset_password");
    assert!(
        !log.body.to_string().contains(temporary),
        "the password is nowhere but in the answer"
    );
    app.stop().await;
}

async fn an_operator_finds_rooms_with_their_members_and_message_rate(db: Db) {
    let (app, op) = with_operator(db).await;
    let (_, owner, _) = app.new_user().await;
    let tag = unique_name("Lobby");
    let room = group(&app, &owner, &format!("The {tag} room")).await;
    send(&app, &owner, &room, "one").await;
    send(&app, &owner, &room, "two").await;
    let (peer_id, _, _) = app.new_user().await;
    let direct = app
        .post(
            "/api/rooms/direct",
            Some(&owner),
            json!({"user_id": peer_id}),
        )
        .await;
    let direct_id = direct.body["id"].as_str().unwrap_or("0").to_owned();

    let found = app
        .get(&format!("/api/admin/rooms?q={}", tag.to_lowercase()), &op)
        .await;
    let detail = app.get(&format!("/api/admin/rooms/{room}"), &op).await;
    let dm = app.get(&format!("/api/admin/rooms/{direct_id}"), &op).await;

    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body.as_array().unwrap().len(), 1, "{}", found.body);
    assert_eq!(found.body[0]["id"], room.as_str());
    assert_eq!(found.body[0]["members_count"], 1);
    assert_eq!(detail.body["kind"], "group");
    assert_eq!(detail.body["messages_last_minute"], 2, "{}", detail.body);
    assert_eq!(detail.body["messages_last_hour"], 2);
    assert_eq!(detail.body["members"][0]["role"], "owner");
    assert_eq!(dm.code(), "not_found", "direct rooms are not the console's");
    app.stop().await;
}

async fn a_reported_message_is_shown_in_context(db: Db) {
    let (app, op) = with_operator(db).await;
    let (_, owner, _) = app.new_user().await;
    let room = group(&app, &owner, "context").await;
    let mut seqs = Vec::new();
    for i in 0..8 {
        let m = send(&app, &owner, &room, &format!("m{i}")).await;
        seqs.push(m["seq"].as_i64().unwrap_or_default());
    }
    let target = seqs[6];

    let ctx = app
        .get(
            &format!("/api/admin/rooms/{room}/messages/{target}/context"),
            &op,
        )
        .await;
    let missing = app
        .get(
            &format!("/api/admin/rooms/{room}/messages/9999/context"),
            &op,
        )
        .await;

    assert_eq!(ctx.status, StatusCode::OK, "{}", ctx.body);
    let got: Vec<i64> = ctx
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    let want: Vec<i64> = ((target - 5).max(1)..=seqs[7]).collect();
    assert_eq!(got, want);
    assert_eq!(missing.code(), "not_found");
    app.stop().await;
}

async fn the_stats_carry_this_node_and_the_cluster_totals(db: Db) {
    let (app, op) = with_operator(db).await;
    // The first figures come after a second.
    let mut stats = app.get("/api/admin/stats", &op).await;
    for _ in 0..30 {
        if stats.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stats = app.get("/api/admin/stats", &op).await;
    }

    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    let s = &stats.body;
    assert_eq!(s["nodes"], 1, "{s}");
    let node = &s["per_node"][0];
    assert_eq!(node["database_up"], true);
    assert_eq!(node["bus_up"], true);
    assert_eq!(node["stale"], false);
    assert!(node["heartbeat_at"].is_string());
    for field in [
        "sockets",
        "users",
        "messages_stored_per_second",
        "messages_delivered_per_second",
        "commits_per_second",
        "catch_up_backlog",
        "slow_socket_closes_total",
    ] {
        assert!(s["totals"][field].is_number(), "{field}: {s}");
        assert!(node[field].is_number(), "{field}: {node}");
    }
    app.stop().await;
}

async fn channel(app: &TestApp, token: &str, name: &str) -> String {
    let res = app
        .post(
            "/api/rooms",
            Some(token),
            json!({"kind": "channel", "name": name, "description": format!("all about {name}")}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["id"].as_str().unwrap().to_owned()
}

/// The ids of the directory's channels matching `q`.
async fn directory(app: &TestApp, token: &str, q: &str) -> Vec<Value> {
    let res = app.get(&format!("/api/channels?q={q}"), token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect()
}

async fn a_closed_channel_is_read_only_hidden_and_closed_to_newcomers_until_reopened(db: Db) {
    // Arrange: a channel with an owner, a follower and one post.
    let (app, op) = with_operator(db).await;
    let (_, owner, _) = app.new_user().await;
    let (follower_id, follower, _) = app.new_user().await;
    let (newcomer_id, newcomer, _) = app.new_user().await;
    let tag = unique_name("closing").to_lowercase();
    let room = channel(&app, &owner, &tag).await;
    let follow = app
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&follower),
            json!({"user_id": follower_id}),
        )
        .await;
    assert_eq!(follow.status, StatusCode::CREATED, "{}", follow.body);
    let before = send(&app, &owner, &room, "before the close").await;
    assert_eq!(directory(&app, &newcomer, &tag).await, [json!(room)]);

    // Act: the operator closes it.
    let closed = app
        .post(
            &format!("/api/admin/rooms/{room}/close"),
            Some(&op),
            json!({"reason": "  a spam ring  "}),
        )
        .await;

    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert!(closed.body["closed_at"].is_string(), "{}", closed.body);
    assert_eq!(closed.body["kind"], "channel");
    assert_eq!(
        closed.body["last_seq"], 2,
        "the close is the stream's next entry"
    );
    // Nobody posts, edits or reacts any more; the refusal says why.
    let post = app
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(&owner),
            json!({"body": "after the close"}),
        )
        .await;
    assert_eq!(post.code(), "forbidden", "{}", post.body);
    assert!(
        post.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{}",
        post.body
    );
    let seq = before["seq"].as_i64().unwrap();
    let edit = app
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}/messages/{seq}"),
            Some(&owner),
            Some(json!({"body": "edited"})),
        )
        .await;
    assert_eq!(edit.code(), "forbidden", "{}", edit.body);
    let react = app
        .request(
            Method::PUT,
            &format!("/api/rooms/{room}/messages/{seq}/reaction"),
            Some(&follower),
            Some(json!({"emoji": "👍"})),
        )
        .await;
    assert_eq!(react.code(), "forbidden", "{}", react.body);
    // Nobody new follows it, and the directory no longer shows it.
    let join = app
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&newcomer),
            json!({"user_id": newcomer_id}),
        )
        .await;
    assert_eq!(join.code(), "forbidden", "{}", join.body);
    assert_eq!(directory(&app, &newcomer, &tag).await, Vec::<Value>::new());
    // The follower still reads the whole history, the close last, and sees the room closed.
    let history = app
        .get(&format!("/api/rooms/{room}/messages"), &follower)
        .await;
    let messages = history.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{}", history.body);
    assert_eq!(messages[0]["body"], "before the close");
    assert_eq!(messages[1]["kind"], "system");
    assert_eq!(messages[1]["seq"], 2);
    let event: Value = serde_json::from_str(messages[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(event["event"], "room_closed");
    assert_eq!(event["reason"], "a spam ring");
    let view = app.get(&format!("/api/rooms/{room}"), &follower).await;
    assert_eq!(view.body["closed_at"], closed.body["closed_at"]);
    // Cleaning up stays possible: the owner deletes a post.
    let delete = app
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/messages/{seq}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.body);
    // The audit log has the close, with the entry it wrote and the reason.
    let log = app.get("/api/admin/audit", &op).await;
    assert_eq!(log.body[0]["action"], "close_room", "{}", log.body);
    assert_eq!(log.body[0]["room_id"], room.as_str());
    assert_eq!(log.body[0]["seq"], 2);
    assert_eq!(log.body[0]["detail"], "a spam ring");

    // Act: reopened, everything works again.
    let reopened = app
        .post(
            &format!("/api/admin/rooms/{room}/reopen"),
            Some(&op),
            json!(null),
        )
        .await;

    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
    assert!(reopened.body["closed_at"].is_null(), "{}", reopened.body);
    let again = send(&app, &owner, &room, "open again").await;
    assert_eq!(
        again["seq"], 5,
        "after the delete (3) and the reopening (4)"
    );
    let join = app
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&newcomer),
            json!({"user_id": newcomer_id}),
        )
        .await;
    assert_eq!(join.status, StatusCode::CREATED, "{}", join.body);
    assert_eq!(directory(&app, &newcomer, &tag).await, [json!(room)]);
    let view = app.get(&format!("/api/rooms/{room}"), &follower).await;
    assert!(view.body["closed_at"].is_null(), "{}", view.body);
    let log = app.get("/api/admin/audit", &op).await;
    assert_eq!(log.body[0]["action"], "reopen_room", "{}", log.body);
    assert_eq!(log.body[0]["seq"], 4);
    app.stop().await;
}

/// `POST /api/admin/rooms/{id}/{action}` (`close` or `reopen`) as the operator.
async fn change(
    app: &TestApp,
    op: &str,
    id: &str,
    action: &str,
    body: Value,
) -> crate::helpers::Res {
    app.post(&format!("/api/admin/rooms/{id}/{action}"), Some(op), body)
        .await
}

async fn only_channels_are_closed_and_each_state_change_happens_once(db: Db) {
    let (app, op) = with_operator(db).await;
    let (_, owner, _) = app.new_user().await;
    let (peer_id, _, _) = app.new_user().await;
    let room = channel(&app, &owner, "twice").await;
    let group = group(&app, &owner, "a group").await;
    let direct = app
        .post(
            "/api/rooms/direct",
            Some(&owner),
            json!({"user_id": peer_id}),
        )
        .await;
    let direct = direct.body["id"].as_str().unwrap().to_owned();

    let on_group = change(&app, &op, &group, "close", json!({})).await;
    let on_direct = change(&app, &op, &direct, "close", json!({})).await;
    let on_nothing = change(&app, &op, "999999", "close", json!({})).await;
    let too_long = change(
        &app,
        &op,
        &room,
        "close",
        json!({"reason": "x".repeat(501)}),
    )
    .await;
    let malformed = change(&app, &op, &room, "close", json!({"reason": 7})).await;
    let first = change(&app, &op, &room, "close", json!({})).await;
    let second = change(&app, &op, &room, "close", json!({"reason": "again"})).await;
    let reopened = change(&app, &op, &room, "reopen", json!({})).await;
    let reopened_twice = change(&app, &op, &room, "reopen", json!({})).await;
    let group_reopened = change(&app, &op, &group, "reopen", json!({})).await;

    assert_eq!(on_group.code(), "invalid", "{}", on_group.body);
    assert_eq!(on_direct.code(), "not_found", "{}", on_direct.body);
    assert_eq!(on_nothing.code(), "not_found");
    assert_eq!(too_long.code(), "invalid");
    assert_eq!(malformed.code(), "invalid");
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(second.code(), "conflict", "{}", second.body);
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
    assert_eq!(reopened_twice.code(), "conflict");
    assert_eq!(group_reopened.code(), "invalid");
    // Only the two changes wrote an entry (closed, reopened) and an audit record.
    let history = app
        .get(&format!("/api/rooms/{room}/messages"), &owner)
        .await;
    let events: Vec<String> = history.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let body: Value = serde_json::from_str(m["body"].as_str().unwrap()).unwrap();
            body["event"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(events, ["room_closed", "room_reopened"]);
    let log = app.get("/api/admin/audit", &op).await;
    let actions: Vec<&str> = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["reopen_room", "close_room"]);
    app.stop().await;
}
