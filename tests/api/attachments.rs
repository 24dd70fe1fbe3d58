//! Attachments over REST (docs/protocol.md "Attachments"): upload, send, read, download with
//! its headers, ranges and ETags, dedupe, the size limit enforced while the body streams, the
//! quota, image re-encoding (no EXIF, no GPS), decompression bombs, pictures and the sweeper.
//!
//! Every test runs four times: SQLite and Postgres, each with the local-disk media store and
//! with S3 — a real S3 server (`s3s-fs`, installed by `scripts/install-s3s.sh`) that this suite
//! starts per test. Without that binary the S3 runs are ignored with a loud line, or fail
//! under `CI=true`.

use std::future::Future;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use libtest_mimic::{Completion, Failed, Trial};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, run_trial, spawn_app_with};

#[derive(Clone, Copy, Debug)]
pub enum Storage {
    Local,
    S3,
}

type StorageTest = fn(Db, Storage) -> Pin<Box<dyn Future<Output = ()>>>;

macro_rules! storage_tests {
    ($($name:ident),* $(,)?) => {
        fn tests() -> Vec<(&'static str, StorageTest)> {
            vec![$((
                stringify!($name),
                (|db, storage| Box::pin($name(db, storage))) as StorageTest,
            )),*]
        }
    };
}

storage_tests!(
    a_message_carries_attachments_that_only_its_readers_download,
    an_uploaded_html_file_is_served_as_a_sandboxed_download,
    the_same_bytes_uploaded_twice_are_stored_once,
    downloads_answer_ranges_and_etags,
    an_oversize_upload_is_refused_while_it_streams_and_nothing_is_kept,
    uploads_past_the_quota_are_refused,
    an_images_exif_and_gps_are_gone_from_what_is_served,
    a_decompression_bomb_is_refused,
    profile_and_group_pictures_and_descriptions,
    unsent_uploads_are_swept,
    sends_take_only_the_senders_unsent_uploads,
);

/// The S3 server binary, if installed.
fn s3s_bin() -> Option<PathBuf> {
    let path = std::env::var_os("MISSIVE_S3S_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/missive-tools/bin/s3s-fs"))
        })?;
    path.is_file().then_some(path)
}

/// Every attachment test on every database and store.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for (db, db_label) in [(Db::Sqlite, "sqlite"), (Db::Postgres, "postgres")] {
        for (storage, label) in [(Storage::Local, "local"), (Storage::S3, "s3")] {
            for (name, body) in tests() {
                let full = format!("attachments::{db_label}::{label}::{name}");
                out.push(Trial::ignorable_test(full.clone(), move || {
                    run_storage_trial(&full, db, storage, body)
                }));
            }
        }
    }
    out
}

fn run_storage_trial(
    name: &str,
    db: Db,
    storage: Storage,
    body: StorageTest,
) -> Result<Completion, Failed> {
    if let Storage::S3 = storage
        && s3s_bin().is_none()
    {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            return Err("s3s-fs is not installed and CI=true: run scripts/install-s3s.sh".into());
        }
        eprintln!(
            "*** SKIPPED {name}: s3s-fs is not installed; run scripts/install-s3s.sh (or set MISSIVE_S3S_BIN) ***"
        );
        return Ok(Completion::ignored_with("s3s-fs not installed"));
    }
    // The harness's runner takes a `fn(Db)`; the storage rides in a thread-local.
    STORAGE.with(|s| s.set(Some((storage, body))));
    run_trial(name, db, |db| {
        let (storage, body) = STORAGE.with(|s| s.get()).expect("set above");
        body(db, storage)
    })
}

thread_local! {
    static STORAGE: std::cell::Cell<Option<(Storage, StorageTest)>> = const { std::cell::Cell::new(None) };
}

/// A running s3s-fs, stopped when dropped.
struct S3Server {
    child: std::process::Child,
    root: tempfile::TempDir,
    port: u16,
}

const BUCKET: &str = "missive-test";
const ACCESS_KEY: &str = "missive-access";
const SECRET_KEY: &str = "missive-secret-key-for-tests";

impl S3Server {
    async fn start() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join(BUCKET)).expect("bucket folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(s3s_bin().expect("checked before the test"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting s3s-fs");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        S3Server { child, root, port }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server under test and, for S3 runs, its S3 server.
struct Env {
    app: TestApp,
    s3: Option<S3Server>,
}

async fn env(db: Db, storage: Storage, vars: &[(&str, &str)]) -> Env {
    let mut vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let s3 = match storage {
        Storage::Local => None,
        Storage::S3 => {
            let s3 = S3Server::start().await;
            for (k, v) in [
                ("missive-media-url", format!("s3://{BUCKET}")),
                (
                    "missive-s3-endpoint",
                    format!("http://127.0.0.1:{}", s3.port),
                ),
                ("missive-s3-access-key-id", ACCESS_KEY.to_owned()),
                ("missive-s3-secret-access-key", SECRET_KEY.to_owned()),
            ] {
                vars.push((k.to_owned(), v));
            }
            Some(s3)
        }
    };
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = spawn_app_with(db, &refs).await;
    Env { app, s3 }
}

fn is_object_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn objects_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(objects_under(&path));
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && is_object_name(name)
        {
            out.push(name.to_owned());
        }
    }
    out.sort();
    out
}

impl Env {
    /// The stored objects, as files on the disk of the store in use.
    fn objects(&self) -> Vec<String> {
        match &self.s3 {
            Some(s3) => objects_under(&s3.root.path().join(BUCKET)),
            None => objects_under(&self.app.media_dir().join("objects")),
        }
    }

    /// Uploads received but not finished (temporary files).
    fn receiving(&self) -> usize {
        std::fs::read_dir(self.app.media_dir().join("tmp")).map_or(0, |d| d.count())
    }

    async fn upload(&self, token: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let res = self
            .app
            .client
            .post(format!("{}/api/attachments", self.app.url))
            .query(&[("name", name)])
            .bearer_auth(token)
            .header("content-type", "text/plain")
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn upload_ok(&self, token: &str, name: &str, bytes: Vec<u8>) -> Value {
        let (status, body) = self.upload(token, name, bytes).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn download(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.app.client.get(format!("{}{}", self.app.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("download")
    }

    async fn group(&self, owner: &str, members: &[&str]) -> String {
        let res = self
            .app
            .post(
                "/api/rooms",
                Some(owner),
                json!({"kind": "group", "name": "g", "members": members}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.body["id"].as_str().unwrap().to_owned()
    }

    async fn send(&self, token: &str, room: &str, body: Value) -> crate::helpers::Res {
        self.app
            .post(&format!("/api/rooms/{room}/messages"), Some(token), body)
            .await
    }

    async fn stop(self) {
        self.app.stop().await;
        drop(self.s3);
    }
}

async fn a_message_carries_attachments_that_only_its_readers_download(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (_, alice, _) = env.app.new_user().await;
    let (bob_id, bob, _) = env.app.new_user().await;
    let (_, stranger, _) = env.app.new_user().await;
    let room = env.group(&alice, &[&bob_id]).await;
    let bytes = b"quarterly figures, plain text\n".repeat(100);

    let up = env
        .upload_ok(&alice, "../../figures.txt", bytes.clone())
        .await;
    let id = up["id"].as_str().unwrap().to_owned();
    assert_eq!(
        up["name"], "figures.txt",
        "a name is metadata, never a path"
    );
    assert_eq!(up["size"], bytes.len());
    // Before it is sent, only the uploader reads it.
    let res = env
        .download(&format!("/api/attachments/{id}"), Some(&bob), &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let sent = env
        .send(
            &alice,
            &room,
            json!({"body": "", "attachments": [id], "client_id": "c1"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(sent.body["attachments"][0]["id"], id.as_str());
    // A retry with the same client_id is the same message.
    let again = env
        .send(
            &alice,
            &room,
            json!({"body": "", "attachments": [id], "client_id": "c1"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["seq"], sent.body["seq"]);

    let history = env
        .app
        .get(&format!("/api/rooms/{room}/messages"), &bob)
        .await;
    let last = history.body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["attachments"][0]["sha256"], up["sha256"]);
    let rooms = env.app.get("/api/rooms", &bob).await;
    assert_eq!(
        rooms.body[0]["last_message"]["attachments"][0]["id"],
        id.as_str()
    );
    assert_eq!(
        rooms.body[0]["unread_count"], 1,
        "a message of attachments counts as unread"
    );

    let res = env
        .download(&format!("/api/attachments/{id}"), Some(&bob), &[])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
    let res = env
        .download(&format!("/api/attachments/{id}"), Some(&stranger), &[])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "a stranger learns nothing"
    );

    // Signed links, for <img src>: bound to the user, the attachment and the variant.
    let links = env
        .app
        .post(
            "/api/attachments/links",
            Some(&bob),
            json!({"ids": [id, "999999"]}),
        )
        .await;
    assert_eq!(links.status, StatusCode::OK, "{}", links.body);
    assert_eq!(links.body["links"].as_array().unwrap().len(), 1);
    let url = links.body["links"][0]["url"].as_str().unwrap().to_owned();
    let res = env.download(&url, None, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
    let forged = url.replace("sig=", "sig=A");
    assert_eq!(
        env.download(&forged, None, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let thumb = url.replacen(&format!("/{id}?"), &format!("/{id}/thumbnail?"), 1);
    assert_ne!(
        env.download(&thumb, None, &[]).await.status(),
        StatusCode::OK
    );
    let none = env
        .app
        .post(
            "/api/attachments/links",
            Some(&stranger),
            json!({"ids": [id]}),
        )
        .await;
    assert_eq!(none.body["links"], json!([]));

    // Deleting the message for everyone removes its file.
    assert_eq!(env.objects().len(), 1);
    let seq = sent.body["seq"].as_i64().unwrap();
    let del = env
        .app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{room}/messages/{seq}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.body);
    assert!(env.objects().is_empty(), "{:?}", env.objects());
    let res = env
        .download(&format!("/api/attachments/{id}"), Some(&alice), &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let history = env
        .app
        .get(&format!("/api/rooms/{room}/messages"), &bob)
        .await;
    let last = history.body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last.get("attachments").is_none(), "{last}");
    env.stop().await;
}

async fn an_uploaded_html_file_is_served_as_a_sandboxed_download(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (_, alice, _) = env.app.new_user().await;
    let page = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let up = env
        .upload_ok(&alice, "p\u{e4}ge \"x\".html", page.to_vec())
        .await;
    assert_eq!(
        up["content_type"], "text/html",
        "sniffed, not the client's text/plain"
    );
    let id = up["id"].as_str().unwrap();

    let res = env
        .download(&format!("/api/attachments/{id}"), Some(&alice), &[])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(h["content-security-policy"], "sandbox");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"p_ge _x_.html\"; filename*=UTF-8''p%C3%A4ge%20%22x%22.html"
    );
    assert_eq!(h["cache-control"], "private, max-age=3600");
    env.stop().await;
}

async fn the_same_bytes_uploaded_twice_are_stored_once(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (_, alice, _) = env.app.new_user().await;
    let (bob_id, bob, _) = env.app.new_user().await;
    let room = env.group(&alice, &[&bob_id]).await;
    let bytes = vec![7u8; 100_000];
    let a = env.upload_ok(&alice, "a.bin", bytes.clone()).await;
    let b = env.upload_ok(&bob, "b.bin", bytes.clone()).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["sha256"], b["sha256"]);
    assert_eq!(env.objects().len(), 1, "one object for the same bytes");

    let sa = env
        .send(
            &alice,
            &room,
            json!({"body": "a", "attachments": [a["id"]]}),
        )
        .await;
    let sb = env
        .send(&bob, &room, json!({"body": "b", "attachments": [b["id"]]}))
        .await;
    assert_eq!(
        (sa.status, sb.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let seq = sa.body["seq"].as_i64().unwrap();
    env.app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{room}/messages/{seq}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(env.objects().len(), 1, "still carried by bob's message");
    let bid = b["id"].as_str().unwrap();
    let res = env
        .download(&format!("/api/attachments/{bid}"), Some(&alice), &[])
        .await;
    assert_eq!(res.bytes().await.unwrap().len(), bytes.len());
    let seq = sb.body["seq"].as_i64().unwrap();
    env.app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{room}/messages/{seq}"),
            Some(&bob),
            None,
        )
        .await;
    assert!(env.objects().is_empty());
    env.stop().await;
}

async fn downloads_answer_ranges_and_etags(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (_, alice, _) = env.app.new_user().await;
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let up = env.upload_ok(&alice, "r.bin", bytes.clone()).await;
    let path = format!("/api/attachments/{}", up["id"].as_str().unwrap());

    let res = env
        .download(&path, Some(&alice), &[("range", "bytes=100-199")])
        .await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(
        res.bytes().await.unwrap().to_vec(),
        bytes[100..200].to_vec()
    );
    let res = env
        .download(&path, Some(&alice), &[("range", "bytes=-10")])
        .await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes[9_990..].to_vec());
    let res = env
        .download(&path, Some(&alice), &[("range", "bytes=20000-")])
        .await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()["content-range"], "bytes */10000");

    let res = env.download(&path, Some(&alice), &[]).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", up["sha256"].as_str().unwrap()));
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    let res = env
        .download(&path, Some(&alice), &[("if-none-match", &etag)])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = env
        .download(&path, Some(&alice), &[("if-none-match", "\"other\"")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    env.stop().await;
}

async fn an_oversize_upload_is_refused_while_it_streams_and_nothing_is_kept(
    db: Db,
    storage: Storage,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = env(db, storage, &[("missive-max-upload", "1048576")]).await;
    let (_, alice, _) = env.app.new_user().await;

    // A declared length past the limit is refused before any of the body is read.
    let (status, body) = env.upload(&alice, "big", vec![1u8; 1_048_577]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "too_large");

    // A chunked body (no length given) is refused once it passes the limit, while the client
    // is still sending: the answer comes long before the 64 MiB it means to send.
    let addr = env.app.url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/attachments?name=big HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {alice}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    let mut answer = Vec::new();
    let (mut rd, mut wr) = conn.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        got
    });
    while sent < 64 * 1024 * 1024 && !reader.is_finished() {
        let frame = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if wr.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    if let Ok(Ok(got)) = tokio::time::timeout(Duration::from_secs(10), reader).await {
        answer = got;
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(sent < 16 * 1024 * 1024, "refused after {sent} bytes");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(env.objects().is_empty());
    assert_eq!(env.receiving(), 0, "no upload file left behind");
    env.stop().await;
}

async fn uploads_past_the_quota_are_refused(db: Db, storage: Storage) {
    let env = env(db, storage, &[("missive-media-quota", "150000")]).await;
    let (_, alice, _) = env.app.new_user().await;
    let (_, bob, _) = env.app.new_user().await;
    env.upload_ok(&alice, "a", vec![1u8; 100_000]).await;
    // The same file again costs nothing.
    env.upload_ok(&alice, "a again", vec![1u8; 100_000]).await;
    let (status, body) = env.upload(&alice, "b", vec![2u8; 100_000]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert_eq!(env.objects().len(), 1, "nothing kept of the refused upload");
    // The quota is each user's.
    env.upload_ok(&bob, "b", vec![2u8; 100_000]).await;
    assert_eq!(env.objects().len(), 2);
    env.stop().await;
}

/// A JPEG of `w`×`h` with an EXIF block: a GPS position, a text marker, and `orientation`.
fn jpeg_with_exif(w: u32, h: u32, orientation: u16) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 128])
    }));
    let mut jpeg = Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();

    // TIFF, little-endian: IFD0 {Orientation, ImageDescription, GPSInfo}, GPS IFD {LatitudeRef}.
    let marker = b"SECRET-GPS-48.8584N\0";
    let mut t: Vec<u8> = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    let ifd0_len = 2 + 3 * 12 + 4;
    let desc_off = 8 + ifd0_len;
    let gps_off = desc_off + marker.len();
    t.extend(3u16.to_le_bytes());
    // Orientation (SHORT).
    t.extend(0x0112u16.to_le_bytes());
    t.extend(3u16.to_le_bytes());
    t.extend(1u32.to_le_bytes());
    t.extend(u32::from(orientation).to_le_bytes());
    // ImageDescription (ASCII), the marker.
    t.extend(0x010eu16.to_le_bytes());
    t.extend(2u16.to_le_bytes());
    t.extend((marker.len() as u32).to_le_bytes());
    t.extend((desc_off as u32).to_le_bytes());
    // GPSInfo (LONG offset).
    t.extend(0x8825u16.to_le_bytes());
    t.extend(4u16.to_le_bytes());
    t.extend(1u32.to_le_bytes());
    t.extend((gps_off as u32).to_le_bytes());
    t.extend(0u32.to_le_bytes());
    t.extend(marker);
    // GPS IFD: GPSLatitudeRef "N".
    t.extend(1u16.to_le_bytes());
    t.extend(1u16.to_le_bytes());
    t.extend(2u16.to_le_bytes());
    t.extend(2u32.to_le_bytes());
    t.extend(*b"N\0\0\0");
    t.extend(0u32.to_le_bytes());

    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(t);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

async fn an_images_exif_and_gps_are_gone_from_what_is_served(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (_, alice, _) = env.app.new_user().await;
    let original = jpeg_with_exif(800, 400, 6);
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(find(&original, b"SECRET-GPS") && find(&original, b"Exif"));

    let up = env.upload_ok(&alice, "photo.jpg", original.clone()).await;
    assert_eq!(up["content_type"], "image/jpeg");
    // Orientation 6 (rotate 90°): stored upright.
    assert_eq!(
        (up["width"].as_u64(), up["height"].as_u64()),
        (Some(400), Some(800))
    );
    assert!(
        up["blurhash"].as_str().is_some_and(|b| b.len() >= 6),
        "{up}"
    );
    assert_eq!(up["thumbnail"], true);
    let id = up["id"].as_str().unwrap();

    let res = env
        .download(&format!("/api/attachments/{id}"), Some(&alice), &[])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );
    let served = res.bytes().await.unwrap().to_vec();
    assert!(!find(&served, b"SECRET-GPS"), "the EXIF text is gone");
    assert!(!find(&served, b"Exif"), "no EXIF block at all");
    let decoded = image::load_from_memory(&served).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (400, 800));

    let res = env
        .download(
            &format!("/api/attachments/{id}/thumbnail"),
            Some(&alice),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let thumb = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (160, 320));
    env.stop().await;
}

async fn a_decompression_bomb_is_refused(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (_, alice, _) = env.app.new_user().await;
    // A PNG whose header claims 60,000 × 60,000 pixels (10 GiB decoded): a few hundred bytes.
    let mut png = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::new(1, 1))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let mut bomb = png.into_inner();
    bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]); // a PNG chunk's CRC: its type and data
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let (status, body) = env.upload(&alice, "bomb.png", bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    assert!(env.objects().is_empty());
    env.stop().await;
}

fn small_png(red: u8) -> Vec<u8> {
    let mut png = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        64,
        64,
        image::Rgb([red, 10, 10]),
    ))
    .write_to(&mut png, image::ImageFormat::Png)
    .unwrap();
    png.into_inner()
}

async fn profile_and_group_pictures_and_descriptions(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (alice_id, alice, _) = env.app.new_user().await;
    let (bob_id, bob, _) = env.app.new_user().await;
    let (_, stranger, _) = env.app.new_user().await;
    let room = env.group(&alice, &[&bob_id]).await;

    let pic = env.upload_ok(&alice, "me.png", small_png(200)).await;
    let res = env
        .app
        .request(
            reqwest::Method::PUT,
            "/api/me/avatar",
            Some(&alice),
            Some(json!({"attachment_id": pic["id"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["avatar"]["id"], pic["id"]);
    let seen = env
        .app
        .get(&format!("/api/users/{alice_id}"), &stranger)
        .await;
    assert_eq!(seen.body["avatar"]["sha256"], pic["sha256"]);
    let path = format!("/api/attachments/{}", pic["id"].as_str().unwrap());
    assert_eq!(
        env.download(&path, Some(&stranger), &[]).await.status(),
        StatusCode::OK
    );
    // A text file is no picture; a used upload cannot be sent.
    let text = env.upload_ok(&alice, "t.txt", b"hello".to_vec()).await;
    let res = env
        .app
        .request(
            reqwest::Method::PUT,
            "/api/me/avatar",
            Some(&alice),
            Some(json!({"attachment_id": text["id"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = env
        .send(
            &alice,
            &room,
            json!({"body": "x", "attachments": [pic["id"]]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);

    let gpic = env.upload_ok(&alice, "group.png", small_png(100)).await;
    let res = env
        .app
        .request(
            reqwest::Method::PUT,
            &format!("/api/rooms/{room}/picture"),
            Some(&alice),
            Some(json!({"attachment_id": gpic["id"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["picture"]["id"], gpic["id"]);
    let res = env
        .app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/rooms/{room}"),
            Some(&bob),
            Some(json!({"description": "ours"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "members do not restyle");
    let res = env
        .app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/rooms/{room}"),
            Some(&alice),
            Some(json!({"description": "  our place  "})),
        )
        .await;
    assert_eq!(res.body["description"], "our place");
    let view = env.app.get(&format!("/api/rooms/{room}"), &bob).await;
    assert_eq!(view.body["picture"]["id"], gpic["id"]);
    let gpath = format!("/api/attachments/{}", gpic["id"].as_str().unwrap());
    assert_eq!(
        env.download(&gpath, Some(&bob), &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        env.download(&gpath, Some(&stranger), &[]).await.status(),
        StatusCode::NOT_FOUND
    );

    // Clearing pictures removes their files.
    let before = env.objects().len();
    env.app
        .request(
            reqwest::Method::DELETE,
            "/api/me/avatar",
            Some(&alice),
            None,
        )
        .await;
    let res = env
        .app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{room}/picture"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(res.body["picture"], Value::Null);
    assert_eq!(env.objects().len(), before - 2);
    env.stop().await;
}

async fn unsent_uploads_are_swept(db: Db, storage: Storage) {
    let env = env(db, storage, &[("missive-upload-ttl", "1s")]).await;
    let (_, alice, _) = env.app.new_user().await;
    let up = env.upload_ok(&alice, "f", b"forgotten".to_vec()).await;
    assert_eq!(env.objects().len(), 1);
    let path = format!("/api/attachments/{}", up["id"].as_str().unwrap());
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if env.download(&path, Some(&alice), &[]).await.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
    }
    assert!(gone, "an upload no message took is removed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(env.objects().is_empty());
    env.stop().await;
}

async fn sends_take_only_the_senders_unsent_uploads(db: Db, storage: Storage) {
    let env = env(db, storage, &[]).await;
    let (_, alice, _) = env.app.new_user().await;
    let (bob_id, bob, _) = env.app.new_user().await;
    let room = env.group(&alice, &[&bob_id]).await;
    let mine = env.upload_ok(&alice, "a", b"alice's".to_vec()).await;
    let theirs = env.upload_ok(&bob, "b", b"bob's".to_vec()).await;

    let res = env
        .send(
            &alice,
            &room,
            json!({"body": "", "attachments": [theirs["id"]]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "someone else's upload");
    let res = env
        .send(&alice, &room, json!({"body": "", "attachments": []}))
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "no body and nothing attached"
    );
    let ids: Vec<Value> = (0..11).map(|_| mine["id"].clone()).collect();
    let res = env
        .send(&alice, &room, json!({"body": "x", "attachments": ids}))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = env
        .send(&alice, &room, json!({"attachments": [mine["id"]]}))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["body"], "");
    let res = env
        .send(
            &alice,
            &room,
            json!({"body": "again", "attachments": [mine["id"]]}),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "an upload travels with one message"
    );
    // Concurrent sends of one upload: exactly one takes it.
    let other = env.upload_ok(&alice, "c", b"contested".to_vec()).await;
    let sends = futures_util::future::join_all((0..4).map(|i| {
        env.send(
            &alice,
            &room,
            json!({"body": format!("try {i}"), "attachments": [other["id"]]}),
        )
    }))
    .await;
    let taken = sends
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(
        taken,
        1,
        "{:?}",
        sends.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    env.stop().await;
}
