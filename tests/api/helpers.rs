//! `spawn_app`: the real server, in process, on port 0 with a fresh database, and typed helpers
//! to talk to it over HTTP; `db_tests!` and `trials`, which turn each test into an SQLite and a
//! Postgres run for the harness in `main.rs`.
//!
//! Postgres runs need a server at `MISSIVE_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). Without one, each Postgres run prints a loud skip line
//! and is reported as *ignored* (never as passed); under `CI=true` it fails instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;
use libtest_mimic::{Completion, Failed, Trial};
use missive::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    dir: tempfile::TempDir,
    pg_db: Option<String>,
}

/// A response: status, headers and JSON body (`Value::Null` when empty).
pub struct Res {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Res {
    /// The `error.code` of an error response.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }
}

fn pg_base() -> String {
    std::env::var("MISSIVE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Whether Postgres answers at `pg_base()`, asked once per test run: `Err` says why not.
fn postgres_reachable() -> Result<(), String> {
    static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
    REACHABLE
        .get_or_init(|| {
            use sqlx::Connection;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let url = format!("{}/postgres", pg_base());
            rt.block_on(async {
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    sqlx::PgConnection::connect(&url),
                )
                .await
                {
                    Ok(Ok(conn)) => {
                        let _ = conn.close().await;
                        Ok(())
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no answer within 5 s".into()),
                }
            })
        })
        .clone()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A test body, run once per database.
pub type TestFn = fn(Db) -> Pin<Box<dyn Future<Output = ()>>>;

/// The SQLite and the Postgres run of each test of `module`, named `module::sqlite::name` and
/// `module::postgres::name` as `#[test]`s in `mod sqlite` / `mod postgres` would be.
pub fn trials(module: &str, tests: &[(&'static str, TestFn)]) -> Vec<Trial> {
    let mut out = Vec::with_capacity(tests.len() * 2);
    for (db, label) in [(Db::Sqlite, "sqlite"), (Db::Postgres, "postgres")] {
        for &(name, body) in tests {
            let full = format!("{module}::{label}::{name}");
            out.push(Trial::ignorable_test(full.clone(), move || {
                run_trial(&full, db, body)
            }));
        }
    }
    out
}

/// Runs one test on a two-worker runtime (public for suites that make their own trials), as `#[tokio::test(flavor = "multi_thread")]` did. A
/// Postgres run without a Postgres is ignored, loudly, or fails under `CI=true`.
pub fn run_trial(name: &str, db: Db, body: TestFn) -> Result<Completion, Failed> {
    if let Db::Postgres = db
        && let Err(why) = postgres_reachable()
    {
        let url = pg_base();
        if in_ci() {
            return Err(format!(
                "Postgres is not reachable at {url} ({why}) and CI=true: the Postgres suite must run"
            )
            .into());
        }
        eprintln!(
            "*** SKIPPED {name}: Postgres not reachable at {url} ({why}); start it or set MISSIVE_TEST_PG_URL ***"
        );
        return Ok(Completion::ignored_with(format!(
            "Postgres not reachable at {url}"
        )));
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(body(db));
    Ok(Completion::Completed)
}

/// Starts the server with `vars` (extra `MISSIVE_*` settings). Postgres runs reach here only
/// when Postgres answered (see `run_trial`).
pub async fn spawn_app_with(db: Db, vars: &[(&str, &str)]) -> TestApp {
    spawn_app_inner(db, vars, None).await
}

/// Starts the server on a database first loaded with `fixture` (an SQL dump of the database's
/// kind): the server migrates it at start as it would a database of an earlier release.
pub async fn spawn_app_on_fixture(db: Db, fixture: &str) -> TestApp {
    spawn_app_inner(db, &[], Some(fixture)).await
}

async fn load_fixture(database_url: &str, fixture: &str) {
    use sqlx::Connection;
    use sqlx::migrate::MigrateDatabase;
    sqlx::any::install_default_drivers();
    sqlx::Any::create_database(database_url)
        .await
        .expect("creating the fixture database");
    let mut conn = sqlx::AnyConnection::connect(database_url)
        .await
        .expect("connecting to the fixture database");
    // A committed dump of this repository, not user input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(fixture.to_owned()))
        .execute(&mut conn)
        .await
        .expect("loading the fixture");
    conn.close().await.expect("closing the fixture connection");
}

async fn spawn_app_inner(db: Db, vars: &[(&str, &str)], fixture: Option<&str>) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pg_db = None;
    let database_url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("missive.db").display()),
        Db::Postgres => {
            let name = format!("missive_test_{}", uuid_like());
            pg_db = Some(name.clone());
            format!("{}/{}", pg_base(), name)
        }
    };
    let mut args = vec![
        "missive".to_string(),
        "--database-url".into(),
        database_url,
        "--missive-jwt-secret".into(),
        "test-secret-that-is-long-enough-0123456789".into(),
        "--missive-static-dir".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/static").into(),
        "--missive-send-rate".into(),
        "0".into(),
        "--missive-media-dir".into(),
        dir.path().join("media").display().to_string(),
    ];
    for (k, v) in vars {
        args.push(format!("--{k}"));
        args.push(v.to_string());
    }
    if let Some(fixture) = fixture {
        load_fixture(&args[2], fixture).await;
    }
    let config = Config::try_parse_from(args).expect("test config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(missive::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{url}/healthz")).send().await.is_ok() {
            break;
        }
        if server.is_finished() {
            panic!("server exited: {:?}", server.await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    TestApp {
        url,
        client,
        stop: Some(stop),
        server: Some(server),
        dir,
        pg_db,
    }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, &[]).await
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// A unique, valid username.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}_{}", N.fetch_add(1, Ordering::Relaxed))
        .chars()
        .take(32)
        .collect()
}

impl TestApp {
    /// The server's local media folder (`MISSIVE_MEDIA_DIR`).
    pub fn media_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("media")
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut req = self.client.request(method, format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn register_raw(&self, username: &str, password: &str) -> Res {
        self.post(
            "/api/auth/register",
            None,
            json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Res {
        self.post(
            "/api/auth/login",
            None,
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers a fresh user; returns (user id, access token, refresh token).
    pub async fn new_user(&self) -> (String, String, String) {
        let res = self.register_raw(&unique_name("u"), "correct horse").await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        (
            res.body["user"]["id"].as_str().unwrap().to_owned(),
            res.body["access_token"].as_str().unwrap().to_owned(),
            res.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Stops the server and drops its Postgres database.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        if let Some(name) = self.pg_db.take() {
            use sqlx::Connection;
            if let Ok(mut conn) =
                sqlx::PgConnection::connect(&format!("{}/postgres", pg_base())).await
            {
                // The name is ours (hex digits), not user input; sqlx takes only literal SQL.
                let sql = format!("drop database if exists {name} with (force)");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

/// Lists a module's tests for `trials`: each runs twice, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        pub(crate) fn tests() -> ::std::vec::Vec<(&'static str, $crate::helpers::TestFn)> {
            ::std::vec![
                $((
                    ::std::stringify!($name),
                    (|db| ::std::boxed::Box::pin($name(db))) as $crate::helpers::TestFn,
                )),*
            ]
        }
    };
}
