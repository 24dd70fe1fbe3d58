//! Registration, login, token rotation, logout, profiles and user look-up (docs/protocol.md §3).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Db, spawn_app, spawn_app_with, unique_name};

db_tests!(
    register_returns_a_session_with_a_lower_cased_username,
    a_taken_username_is_a_conflict_whatever_its_case,
    bad_usernames_and_passwords_are_invalid,
    malformed_or_oversized_bodies_get_the_error_shape,
    login_answers_alike_for_unknown_user_and_wrong_password,
    failed_logins_are_throttled_per_account,
    concurrent_login_attempts_cannot_outrun_the_address_limit,
    refresh_rotates_and_reuse_revokes_the_whole_login,
    access_and_refresh_tokens_are_not_interchangeable,
    logout_revokes_the_refresh_token,
    logout_all_revokes_every_token_of_the_user,
    an_expired_access_token_is_refused,
    me_can_be_read_and_renamed,
    users_are_found_by_username_prefix_and_by_id,
    requests_without_a_valid_token_are_unauthenticated,
);

async fn register_returns_a_session_with_a_lower_cased_username(db: Db) {
    let app = spawn_app(db).await;
    let name = unique_name("Alice");

    let res = app.register_raw(&name, "correct horse").await;

    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.body["user"]["username"], name.to_lowercase());
    assert_eq!(res.body["user"]["display_name"], name.to_lowercase());
    assert!(res.body["user"]["id"].is_string(), "ids are strings");
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 900);
    assert!(res.body["access_token"].is_string() && res.body["refresh_token"].is_string());
    let created = res.body["user"]["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == 24,
        "RFC 3339 with milliseconds: {created}"
    );
    let login = app.login(&name.to_uppercase(), "correct horse").await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "logs in with any case: {}",
        login.body
    );
    app.stop().await;
}

async fn a_taken_username_is_a_conflict_whatever_its_case(db: Db) {
    let app = spawn_app(db).await;
    let name = unique_name("bob");
    assert_eq!(
        app.register_raw(&name, "password1").await.status,
        StatusCode::CREATED
    );

    let again = app.register_raw(&name.to_uppercase(), "password2").await;

    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "conflict");
    app.stop().await;
}

async fn bad_usernames_and_passwords_are_invalid(db: Db) {
    let app = spawn_app(db).await;
    for (username, password) in [
        ("ab", "password1"),
        ("has space", "password1"),
        ("émile", "password1"),
        (&"x".repeat(33)[..], "password1"),
        ("valid_name", "short"),
        ("valid_name", &"p".repeat(1025)[..]),
    ] {
        let res = app.register_raw(username, password).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{username}/{}",
            password.len()
        );
        assert_eq!(res.code(), "invalid");
    }
    // Characters, not bytes: 8 two-byte characters are a valid password.
    assert_eq!(
        app.register_raw(&unique_name("chars"), "éééééééé")
            .await
            .status,
        StatusCode::CREATED
    );
    let bad_name = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": unique_name("d"), "password": "password1", "display_name": " "}),
        )
        .await;
    assert_eq!(bad_name.code(), "invalid");
    app.stop().await;
}

async fn malformed_or_oversized_bodies_get_the_error_shape(db: Db) {
    let app = spawn_app(db).await;
    let url = format!("{}/api/auth/register", app.url);

    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    let missing = app
        .post("/api/auth/register", None, json!({"username": "someone"}))
        .await;
    let big = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"username\":\"{}\"}}", "a".repeat(70 * 1024)))
        .send()
        .await
        .unwrap();

    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid");
    assert_eq!(missing.code(), "invalid");
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = big.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");
    app.stop().await;
}

async fn login_answers_alike_for_unknown_user_and_wrong_password(db: Db) {
    let app = spawn_app(db).await;
    let name = unique_name("carol");
    app.register_raw(&name, "right password").await;

    let wrong = app.login(&name, "wrong password").await;
    let unknown = app.login(&unique_name("nobody"), "wrong password").await;
    let impossible = app.login("?", "wrong password").await;

    for res in [&wrong, &unknown, &impossible] {
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert_eq!(res.code(), "invalid_credentials");
    }
    assert_eq!(wrong.body, unknown.body, "same body for both failures");
    app.stop().await;
}

async fn failed_logins_are_throttled_per_account(db: Db) {
    let app = spawn_app(db).await;
    let name = unique_name("dave");
    app.register_raw(&name, "right password").await;
    for _ in 0..10 {
        assert_eq!(
            app.login(&name, "wrong").await.code(),
            "invalid_credentials"
        );
    }

    let throttled = app.login(&name, "right password").await;
    let other = app.login(&unique_name("erin"), "wrong").await;

    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.code(), "rate_limited");
    assert!(throttled.body["error"]["retry_after_ms"].as_u64().unwrap() > 0);
    assert!(throttled.headers.get("retry-after").is_some());
    assert_eq!(
        other.code(),
        "invalid_credentials",
        "other accounts are not throttled"
    );
    app.stop().await;
}

async fn refresh_rotates_and_reuse_revokes_the_whole_login(db: Db) {
    let app = spawn_app(db).await;
    let (_, _, first) = app.new_user().await;

    let rotated = app
        .post("/api/auth/refresh", None, json!({"refresh_token": first}))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(rotated.body["access_token"].is_string());

    let reused = app
        .post("/api/auth/refresh", None, json!({"refresh_token": first}))
        .await;
    let descendant = app
        .post("/api/auth/refresh", None, json!({"refresh_token": second}))
        .await;

    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reused.code(), "unauthenticated");
    assert_eq!(
        descendant.code(),
        "unauthenticated",
        "reuse revoked the token issued from it"
    );
    let garbage = app
        .post("/api/auth/refresh", None, json!({"refresh_token": "x.y.z"}))
        .await;
    assert_eq!(garbage.code(), "unauthenticated");
    app.stop().await;
}

async fn access_and_refresh_tokens_are_not_interchangeable(db: Db) {
    let app = spawn_app(db).await;
    let (_, access, refresh) = app.new_user().await;

    let refresh_as_access = app.get("/api/me", &refresh).await;
    let access_as_refresh = app
        .post("/api/auth/refresh", None, json!({"refresh_token": access}))
        .await;

    assert_eq!(refresh_as_access.code(), "unauthenticated");
    assert_eq!(access_as_refresh.code(), "unauthenticated");
    app.stop().await;
}

async fn logout_revokes_the_refresh_token(db: Db) {
    let app = spawn_app(db).await;
    let (_, _, refresh) = app.new_user().await;

    let out = app
        .post("/api/auth/logout", None, json!({"refresh_token": refresh}))
        .await;
    let after = app
        .post("/api/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;

    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(after.code(), "unauthenticated");
    app.stop().await;
}

async fn logout_all_revokes_every_token_of_the_user(db: Db) {
    let app = spawn_app(db).await;
    let name = unique_name("frank");
    let first = app.register_raw(&name, "password1").await.body;
    let second = app.login(&name, "password1").await.body;
    let token = first["access_token"].as_str().unwrap();

    let out = app
        .request(Method::POST, "/api/auth/logout-all", Some(token), None)
        .await;

    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/me", token).await.code(), "unauthenticated");
    assert_eq!(
        app.get("/api/me", second["access_token"].as_str().unwrap())
            .await
            .code(),
        "unauthenticated"
    );
    for refresh in [&first["refresh_token"], &second["refresh_token"]] {
        let res = app
            .post("/api/auth/refresh", None, json!({"refresh_token": refresh}))
            .await;
        assert_eq!(res.code(), "unauthenticated");
    }
    let again = app.login(&name, "password1").await;
    assert_eq!(
        app.get("/api/me", again.body["access_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK,
        "a new login works"
    );
    app.stop().await;
}

async fn an_expired_access_token_is_refused(db: Db) {
    let app = spawn_app_with(db, &[("missive-access-ttl", "1s")]).await;
    let (_, access, _) = app.new_user().await;
    assert_eq!(app.get("/api/me", &access).await.status, StatusCode::OK);

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    assert_eq!(app.get("/api/me", &access).await.code(), "unauthenticated");
    app.stop().await;
}

async fn me_can_be_read_and_renamed(db: Db) {
    let app = spawn_app(db).await;
    let (id, access, _) = app.new_user().await;

    let renamed = app
        .request(
            Method::PATCH,
            "/api/me",
            Some(&access),
            Some(json!({"display_name": "  Grace H.  "})),
        )
        .await;
    let me = app.get("/api/me", &access).await;
    let bad = app
        .request(
            Method::PATCH,
            "/api/me",
            Some(&access),
            Some(json!({"display_name": ""})),
        )
        .await;

    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["display_name"], "Grace H.");
    assert_eq!(me.body["id"], id.as_str());
    assert_eq!(me.body["display_name"], "Grace H.");
    assert_eq!(bad.code(), "invalid");
    app.stop().await;
}

async fn users_are_found_by_username_prefix_and_by_id(db: Db) {
    let app = spawn_app(db).await;
    let (_, access, _) = app.new_user().await;
    let prefix = unique_name("zed");
    let mut ids = vec![];
    for suffix in ["a", "b", "c"] {
        let res = app
            .register_raw(&format!("{prefix}{suffix}"), "password1")
            .await;
        ids.push(res.body["user"]["id"].as_str().unwrap().to_owned());
    }
    app.register_raw(&format!("{}x", prefix.replace('_', "-")), "password1")
        .await;

    let found = app
        .get(
            &format!("/api/users?q={}&limit=2", prefix.to_uppercase()),
            &access,
        )
        .await;
    let one = app.get(&format!("/api/users/{}", ids[0]), &access).await;
    let missing = app.get("/api/users/999999", &access).await;
    let malformed = app.get("/api/users/not-an-id", &access).await;

    let names: Vec<&str> = found
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![format!("{prefix}a"), format!("{prefix}b")],
        "`_` is literal, limit applies"
    );
    assert_eq!(one.body["username"], format!("{prefix}a"));
    assert_eq!(one.body["online"], false);
    assert!(one.body["last_seen_at"].is_null());
    assert_eq!(missing.code(), "not_found");
    assert_eq!(malformed.code(), "not_found");
    app.stop().await;
}

async fn requests_without_a_valid_token_are_unauthenticated(db: Db) {
    let app = spawn_app(db).await;

    let none = app.request(Method::GET, "/api/me", None, None).await;
    let garbage = app.get("/api/me", "not-a-jwt").await;
    let rooms = app.request(Method::GET, "/api/rooms", None, None).await;

    for res in [&none, &garbage, &rooms] {
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert_eq!(res.code(), "unauthenticated");
    }
    app.stop().await;
}

async fn concurrent_login_attempts_cannot_outrun_the_address_limit(db: Db) {
    let app = spawn_app(db).await;
    let name = unique_name("grace");
    app.register_raw(&name, "right password").await;

    // The default MISSIVE_AUTH_RATE is 10 a second with bursts of 30 per address; the
    // registration above took one.
    let started = std::time::Instant::now();
    let attempts = (0..60).map(|_| app.login(&name, "wrong"));
    let results = futures_util::future::join_all(attempts).await;
    // What refilled (10 a second) while the 60 were being answered also passes.
    let allowed = 30 + (started.elapsed().as_secs_f64() * 10.0).ceil() as usize;

    let guessed = results
        .iter()
        .filter(|r| r.code() == "invalid_credentials")
        .count();
    let limited = results
        .iter()
        .filter(|r| r.code() == "rate_limited")
        .count();
    assert!(
        (10..=allowed).contains(&guessed),
        "{guessed} passwords were checked, at most {allowed} allowed"
    );
    assert_eq!(guessed + limited, 60);
    // The failures that were checked now throttle this account from this address.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.login(&name, "right password").await.code(),
        "rate_limited"
    );
    app.stop().await;
}
