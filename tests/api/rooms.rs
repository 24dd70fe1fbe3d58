//! Rooms, members, messages, receipts and cursors over REST (docs/protocol.md §2–§3).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{Db, TestApp, spawn_app};

db_tests!(
    a_direct_room_is_the_same_either_way_round,
    history_pages_backwards_and_forwards_with_has_more,
    sends_are_numbered_without_gaps_and_idempotent_by_client_id,
    bad_sends_are_refused_with_their_codes,
    receipts_and_unread_counts_follow_the_cursors,
    group_roles_govern_who_may_change_what,
    the_owner_leaving_hands_over_to_the_earliest_admin,
    max_members_is_enforced,
    non_members_see_not_found_everywhere,
    channels_let_anyone_follow_but_only_admins_post,
    a_new_group_member_reads_only_what_came_after_joining,
);

async fn post_ok(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let res = app.post(path, Some(token), body).await;
    assert!(
        res.status.is_success(),
        "{path}: {} {}",
        res.status,
        res.body
    );
    res.body
}

async fn send(app: &TestApp, token: &str, room: &str, body: &str) -> Value {
    post_ok(
        app,
        &format!("/api/rooms/{room}/messages"),
        token,
        json!({ "body": body }),
    )
    .await
}

async fn group(app: &TestApp, token: &str, members: &[&str]) -> String {
    let room = post_ok(
        app,
        "/api/rooms",
        token,
        json!({"kind": "group", "name": "team", "members": members}),
    )
    .await;
    room["id"].as_str().unwrap().to_owned()
}

async fn a_direct_room_is_the_same_either_way_round(db: Db) {
    let app = spawn_app(db).await;
    let (a, ta, _) = app.new_user().await;
    let (b, tb, _) = app.new_user().await;

    let first = app
        .post("/api/rooms/direct", Some(&ta), json!({"user_id": b}))
        .await;
    let second = app
        .post("/api/rooms/direct", Some(&tb), json!({"user_id": a}))
        .await;
    let self_dm = app
        .post("/api/rooms/direct", Some(&ta), json!({"user_id": a}))
        .await;
    let nobody = app
        .post("/api/rooms/direct", Some(&ta), json!({"user_id": "999999"}))
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(first.body["id"], second.body["id"]);
    assert_eq!(first.body["kind"], "direct");
    assert_eq!(first.body["members_count"], 2);
    assert_eq!(first.body["my_role"], "member");
    assert_eq!(self_dm.code(), "invalid");
    assert_eq!(nobody.code(), "not_found");
    app.stop().await;
}

async fn history_pages_backwards_and_forwards_with_has_more(db: Db) {
    let app = spawn_app(db).await;
    let (_, t, _) = app.new_user().await;
    let room = group(&app, &t, &[]).await;
    for i in 1..=60 {
        send(&app, &t, &room, &format!("m{i}")).await;
    }

    let latest = app
        .get(&format!("/api/rooms/{room}/messages"), &t)
        .await
        .body;
    let older = app
        .get(
            &format!("/api/rooms/{room}/messages?before_seq=11&limit=5"),
            &t,
        )
        .await
        .body;
    let newer = app
        .get(&format!("/api/rooms/{room}/messages?after_seq=55"), &t)
        .await
        .body;
    let clamped = app
        .get(&format!("/api/rooms/{room}/messages?limit=1000"), &t)
        .await
        .body;
    let both = app
        .get(
            &format!("/api/rooms/{room}/messages?after_seq=1&before_seq=5"),
            &t,
        )
        .await;

    let seqs = |v: &Value| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(&latest),
        (11..=60).collect::<Vec<_>>(),
        "default limit 50, the latest page, ascending"
    );
    assert_eq!(latest["has_more"], true);
    assert_eq!(seqs(&older), vec![6, 7, 8, 9, 10]);
    assert_eq!(older["has_more"], true);
    assert_eq!(seqs(&newer), vec![56, 57, 58, 59, 60]);
    assert_eq!(newer["has_more"], false);
    assert_eq!(seqs(&clamped).len(), 60);
    assert_eq!(both.code(), "invalid");
    app.stop().await;
}

async fn sends_are_numbered_without_gaps_and_idempotent_by_client_id(db: Db) {
    let app = spawn_app(db).await;
    let (me, t, _) = app.new_user().await;
    let room = group(&app, &t, &[]).await;
    let path = format!("/api/rooms/{room}/messages");

    let sends = (0..10).map(|i| {
        app.post(
            &path,
            Some(&t),
            json!({"body": format!("n{i}"), "client_id": format!("c{}", i % 5)}),
        )
    });
    let results = futures_util::future::join_all(sends).await;

    let mut seqs: Vec<i64> = results
        .iter()
        .map(|r| r.body["seq"].as_i64().unwrap())
        .collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4, 5],
        "5 distinct client_ids, 5 messages, no gap"
    );
    assert!(results.iter().all(|r| r.body["sender_id"] == me.as_str()));
    let history = app.get(&path, &t).await.body;
    assert_eq!(history["messages"].as_array().unwrap().len(), 5);
    app.stop().await;
}

async fn bad_sends_are_refused_with_their_codes(db: Db) {
    let app = spawn_app(db).await;
    let (_, t, _) = app.new_user().await;
    let room = group(&app, &t, &[]).await;
    let path = format!("/api/rooms/{room}/messages");

    let empty = app.post(&path, Some(&t), json!({"body": ""})).await;
    let long = app
        .post(&path, Some(&t), json!({"body": "é".repeat(4097)}))
        .await;
    let longest = app
        .post(&path, Some(&t), json!({"body": "é".repeat(4096)}))
        .await;
    let client_id = app
        .post(
            &path,
            Some(&t),
            json!({"body": "x", "client_id": "c".repeat(65)}),
        )
        .await;
    let reply = app
        .post(&path, Some(&t), json!({"body": "x", "reply_to": 99}))
        .await;
    let good_reply = app
        .post(&path, Some(&t), json!({"body": "x", "reply_to": 1}))
        .await;
    let nul = app.post(&path, Some(&t), json!({"body": "a\u{0}b"})).await;

    assert_eq!(empty.code(), "invalid");
    assert_eq!(long.code(), "invalid");
    assert_eq!(
        longest.status,
        StatusCode::CREATED,
        "4096 characters (8192 bytes) is allowed"
    );
    assert_eq!(client_id.code(), "invalid");
    assert_eq!(reply.code(), "invalid");
    assert_eq!(good_reply.body["reply_to"], 1);
    assert_eq!(nul.code(), "invalid");
    app.stop().await;
}

async fn receipts_and_unread_counts_follow_the_cursors(db: Db) {
    let app = spawn_app(db).await;
    let (_, ta, _) = app.new_user().await;
    let (b, tb, _) = app.new_user().await;
    let (c, tc, _) = app.new_user().await;
    let room = group(&app, &ta, &[&b, &c]).await;
    for i in 0..3 {
        send(&app, &ta, &room, &format!("hello {i}")).await;
    }

    let rooms_b = app.get("/api/rooms", &tb).await.body;
    let read = app
        .post(
            &format!("/api/rooms/{room}/read"),
            Some(&tb),
            json!({"seq": 3}),
        )
        .await;
    let backwards = app
        .post(
            &format!("/api/rooms/{room}/read"),
            Some(&tb),
            json!({"seq": 1}),
        )
        .await;
    let receipts = app
        .get(&format!("/api/rooms/{room}/messages/3/receipts"), &ta)
        .await
        .body;
    let after = app.get(&format!("/api/rooms/{room}"), &tb).await.body;
    let c_view = app.get(&format!("/api/rooms/{room}"), &tc).await.body;

    assert_eq!(rooms_b[0]["unread_count"], 3);
    assert_eq!(rooms_b[0]["last_message"]["body"], "hello 2");
    assert_eq!(read.status, StatusCode::NO_CONTENT);
    assert_eq!(backwards.status, StatusCode::NO_CONTENT);
    assert_eq!(receipts["read"], json!([b]));
    assert_eq!(receipts["delivered"], json!([]));
    assert_eq!(receipts["pending"], json!([c]));
    assert_eq!(after["read_seq"], 3, "never moves back");
    assert_eq!(after["delivered_seq"], 3, "reading implies delivery");
    assert_eq!(after["unread_count"], 0);
    assert_eq!(c_view["unread_count"], 3);
    assert_eq!(after["members"].as_array().unwrap().len(), 3);
    let missing = app
        .get(&format!("/api/rooms/{room}/messages/99/receipts"), &ta)
        .await;
    assert_eq!(missing.code(), "not_found");
    app.stop().await;
}

async fn group_roles_govern_who_may_change_what(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner, _) = app.new_user().await;
    let (m1, t1, _) = app.new_user().await;
    let (m2, _, _) = app.new_user().await;
    let (m3, _, _) = app.new_user().await;
    let room = group(&app, &owner, &[&m1]).await;

    let member_adds = app
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&t1),
            json!({"user_id": m2}),
        )
        .await;
    let member_renames = app
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}"),
            Some(&t1),
            Some(json!({"name": "x"})),
        )
        .await;
    let owner_adds = app
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&owner),
            json!({"user_id": m2}),
        )
        .await;
    let twice = app
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&owner),
            json!({"user_id": m2}),
        )
        .await;
    let promote = app
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}/members/{m1}"),
            Some(&owner),
            Some(json!({"role": "admin"})),
        )
        .await;
    let admin_adds = app
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&t1),
            json!({"user_id": m3}),
        )
        .await;
    let admin_promotes = app
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}/members/{m2}"),
            Some(&t1),
            Some(json!({"role": "admin"})),
        )
        .await;
    let renamed = app
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}"),
            Some(&t1),
            Some(json!({"name": "renamed"})),
        )
        .await;
    let removed = app
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/{m3}"),
            Some(&t1),
            None,
        )
        .await;

    assert_eq!(member_adds.code(), "forbidden");
    assert_eq!(member_renames.code(), "forbidden");
    assert_eq!(owner_adds.status, StatusCode::CREATED);
    assert_eq!(owner_adds.body["role"], "member");
    assert_eq!(twice.code(), "conflict");
    assert_eq!(promote.body["role"], "admin");
    assert_eq!(admin_adds.status, StatusCode::CREATED);
    assert_eq!(
        admin_promotes.code(),
        "forbidden",
        "only the owner changes roles"
    );
    assert_eq!(renamed.body["name"], "renamed");
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let history = app
        .get(&format!("/api/rooms/{room}/messages"), &owner)
        .await
        .body;
    let events: Vec<String> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "system")
        .map(|m| {
            serde_json::from_str::<Value>(m["body"].as_str().unwrap()).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        events,
        [
            "member_joined",
            "role_changed",
            "member_joined",
            "room_renamed",
            "member_removed"
        ]
    );
    app.stop().await;
}

async fn the_owner_leaving_hands_over_to_the_earliest_admin(db: Db) {
    let app = spawn_app(db).await;
    let (owner_id, owner, _) = app.new_user().await;
    let (m1, t1, _) = app.new_user().await;
    let (m2, _, _) = app.new_user().await;
    let room = group(&app, &owner, &[&m1]).await;
    post_ok(
        &app,
        &format!("/api/rooms/{room}/members"),
        &owner,
        json!({"user_id": m2}),
    )
    .await;
    app.request(
        Method::PATCH,
        &format!("/api/rooms/{room}/members/{m2}"),
        Some(&owner),
        Some(json!({"role": "admin"})),
    )
    .await;

    let left = app
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/{owner_id}"),
            Some(&owner),
            None,
        )
        .await;

    assert_eq!(left.status, StatusCode::NO_CONTENT);
    let view = app.get(&format!("/api/rooms/{room}"), &t1).await.body;
    assert_eq!(
        view["owner_id"],
        m2.as_str(),
        "the admin, though m1 joined earlier"
    );
    let gone = app.get(&format!("/api/rooms/{room}"), &owner).await;
    assert_eq!(gone.code(), "not_found");
    app.stop().await;
}

async fn max_members_is_enforced(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner, _) = app.new_user().await;
    let (m1, _, _) = app.new_user().await;
    let (m2, _, _) = app.new_user().await;
    let too_many = app
        .post(
            "/api/rooms",
            Some(&owner),
            json!({"kind": "group", "name": "g", "members": [m1, m2], "max_members": 2}),
        )
        .await;
    let room = post_ok(
        &app,
        "/api/rooms",
        &owner,
        json!({"kind": "group", "name": "g", "members": [m1], "max_members": 2}),
    )
    .await;
    let id = room["id"].as_str().unwrap();

    let full = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&owner),
            json!({"user_id": m2}),
        )
        .await;

    assert_eq!(too_many.code(), "conflict");
    assert_eq!(room["max_members"], 2);
    assert_eq!(full.code(), "conflict");
    app.stop().await;
}

async fn non_members_see_not_found_everywhere(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner, _) = app.new_user().await;
    let (stranger_id, stranger, _) = app.new_user().await;
    let room = group(&app, &owner, &[]).await;
    send(&app, &owner, &room, "secret").await;

    let results = [
        app.get(&format!("/api/rooms/{room}"), &stranger).await,
        app.get(&format!("/api/rooms/{room}/messages"), &stranger)
            .await,
        app.post(
            &format!("/api/rooms/{room}/messages"),
            Some(&stranger),
            json!({"body": "x"}),
        )
        .await,
        app.get(&format!("/api/rooms/{room}/messages/1/receipts"), &stranger)
            .await,
        app.post(
            &format!("/api/rooms/{room}/read"),
            Some(&stranger),
            json!({"seq": 1}),
        )
        .await,
        app.request(
            Method::PATCH,
            &format!("/api/rooms/{room}"),
            Some(&stranger),
            Some(json!({"name": "x"})),
        )
        .await,
        app.post(
            &format!("/api/rooms/{room}/members"),
            Some(&stranger),
            json!({"user_id": stranger_id}),
        )
        .await,
        app.request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/{stranger_id}"),
            Some(&stranger),
            None,
        )
        .await,
        app.get("/api/rooms/999999", &stranger).await,
        app.get("/api/rooms/abc", &stranger).await,
    ];

    for res in &results {
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
        assert_eq!(res.code(), "not_found");
    }
    app.stop().await;
}

async fn channels_let_anyone_follow_but_only_admins_post(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner, _) = app.new_user().await;
    let (f, tf, _) = app.new_user().await;
    let channel = post_ok(
        &app,
        "/api/rooms",
        &owner,
        json!({"kind": "channel", "name": "news"}),
    )
    .await;
    let id = channel["id"].as_str().unwrap();
    send(&app, &owner, id, "first").await;

    let follow = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&tf),
            json!({"user_id": f}),
        )
        .await;
    let post = app
        .post(
            &format!("/api/rooms/{id}/messages"),
            Some(&tf),
            json!({"body": "me too"}),
        )
        .await;
    let history = app.get(&format!("/api/rooms/{id}/messages"), &tf).await;
    let unfollow = app
        .request(
            Method::DELETE,
            &format!("/api/rooms/{id}/members/{f}"),
            Some(&tf),
            None,
        )
        .await;
    let after = app.get(&format!("/api/rooms/{id}/messages"), &tf).await;

    assert_eq!(follow.status, StatusCode::CREATED);
    assert_eq!(post.code(), "forbidden");
    assert_eq!(
        history.body["messages"][0]["body"], "first",
        "history before following is readable"
    );
    assert_eq!(unfollow.status, StatusCode::NO_CONTENT);
    assert_eq!(after.code(), "not_found");
    app.stop().await;
}

async fn a_new_group_member_reads_only_what_came_after_joining(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner, _) = app.new_user().await;
    let (late, t_late, _) = app.new_user().await;
    let room = group(&app, &owner, &[]).await;
    send(&app, &owner, &room, "before you came").await;
    post_ok(
        &app,
        &format!("/api/rooms/{room}/members"),
        &owner,
        json!({"user_id": late}),
    )
    .await;
    send(&app, &owner, &room, "welcome").await;

    let history = app
        .get(&format!("/api/rooms/{room}/messages"), &t_late)
        .await
        .body;
    let older = app
        .get(&format!("/api/rooms/{room}/messages?after_seq=0"), &t_late)
        .await
        .body;
    let receipts = app
        .get(&format!("/api/rooms/{room}/messages/1/receipts"), &t_late)
        .await;

    let bodies: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["welcome"]);
    assert_eq!(history["has_more"], false);
    assert_eq!(
        older["messages"].as_array().unwrap().len(),
        2,
        "member_joined and welcome"
    );
    assert_eq!(receipts.code(), "not_found");
    app.stop().await;
}
