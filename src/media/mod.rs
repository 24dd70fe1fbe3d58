//! The media store: where attachment bytes live and how they get there.
//!
//! - **Receiving.** `stage` streams an upload to a temporary file in `<media dir>/tmp`,
//!   hashing it (SHA-256) as it goes and refusing it (`too_large`) the moment it passes the
//!   limit: an upload is never held in memory, and a refused one leaves nothing behind.
//! - **Preparing.** `prepare` sniffs the type from the first bytes (`infer`), never from the
//!   client. Images are decoded under limits and re-encoded by [`image`] on the blocking pool
//!   (a bounded number at once), which drops EXIF and every other metadata, and get a thumbnail
//!   and a blurhash.
//! - **Storing.** Objects are content-addressed: the key is the SHA-256 of the stored bytes,
//!   so the same file uploaded twice is one object. The store is `object_store`'s local file
//!   system (`MISSIVE_MEDIA_DIR`) or S3 (`MISSIVE_MEDIA_URL=s3://…`), behind one interface.
//! - **Collecting.** Whoever removes attachment rows hands their hashes to `collect`, which
//!   deletes each object no row names any more. A striped lock orders that check-and-delete
//!   against an upload's put-and-insert of the same hash on this node.
//! - **Links.** Browsers cannot put a bearer token on `<img src>`, so downloads also accept a
//!   short-lived signed URL bound to the user and the attachment ([`links`]).

pub mod image;
pub mod links;

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, MutexGuard, Semaphore};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::store::Store;

/// Bytes of an upload kept for sniffing its type.
const HEAD: usize = 8 * 1024;

/// Part size of multipart puts (S3 wants at least 5 MiB per part but the last).
const PART: usize = 5 * 1024 * 1024;

/// Lock stripes for `collect` against uploads of the same hash.
const STRIPES: usize = 64;

/// An upload received in full, in a temporary file (removed when this is dropped).
pub struct Staged {
    pub path: tempfile::TempPath,
    pub size: u64,
    pub sha256: String,
    /// Its first bytes, for sniffing.
    pub head: Vec<u8>,
}

/// What will be stored of an upload: the original, or an image re-encoded without metadata,
/// plus its thumbnail.
pub struct Prepared {
    pub body: Body,
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub blurhash: Option<String>,
    /// The thumbnail's hash and bytes (JPEG).
    pub thumbnail: Option<(String, Vec<u8>)>,
}

/// The bytes to store.
pub enum Body {
    File(tempfile::TempPath),
    Bytes(Vec<u8>),
}

/// A stored object being read: its bytes (or the asked range of them) as a stream.
pub struct Reading {
    pub stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

pub struct Media {
    store: Arc<dyn ObjectStore>,
    /// The objects folder when the store is the local disk: a received file is renamed into
    /// place there instead of copied.
    local_root: Option<PathBuf>,
    tmp: PathBuf,
    links: links::LinkKey,
    stripes: Vec<Mutex<()>>,
    /// Images being decoded at once (each may take up to `image::MAX_ALLOC`).
    decoding: Semaphore,
    /// Human-readable, for the log: where objects go.
    pub location: String,
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The object key of a hash: `ab/abcdef…`, so that no folder holds every object.
fn key(sha256: &str) -> Path {
    Path::from(format!("{}/{}", &sha256[..2.min(sha256.len())], sha256))
}

impl Media {
    /// Opens the store the configuration names (S3 for `s3://`, else the local media folder)
    /// and creates the folder of uploads being received.
    pub fn from_config(config: &Config, secret: &[u8]) -> anyhow::Result<Self> {
        let dir = config.media_dir();
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut local_root = None;
        let (store, location): (Arc<dyn ObjectStore>, String) = match config.media_url.as_deref() {
            Some(url) if url.starts_with("s3://") => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .with_region(&config.s3_region);
                if let Some(endpoint) = &config.s3_endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(id) = &config.s3_access_key_id {
                    b = b.with_access_key_id(id);
                }
                if let Some(secret) = &config.s3_secret_access_key {
                    b = b.with_secret_access_key(secret);
                }
                let s3 = b.build().context("configuring the S3 media store")?;
                // A prefix in the URL (`s3://bucket/prefix`) keeps objects under it.
                let prefix = url
                    .trim_start_matches("s3://")
                    .split_once('/')
                    .map(|(_, p)| p.trim_matches('/').to_owned())
                    .unwrap_or_default();
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
                };
                (store, url.to_owned())
            }
            Some(other) => anyhow::bail!("MISSIVE_MEDIA_URL must start with s3:// (got {other})"),
            None => {
                let objects = dir.join("objects");
                std::fs::create_dir_all(&objects)
                    .with_context(|| format!("creating {}", objects.display()))?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&objects)
                    .context("opening the local media store")?;
                local_root = Some(objects.clone());
                (Arc::new(local), objects.display().to_string())
            }
        };
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            store,
            local_root,
            tmp,
            links: links::LinkKey::derive(secret),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            decoding: Semaphore::new(workers),
            location,
        })
    }

    pub fn links(&self) -> &links::LinkKey {
        &self.links
    }

    /// Checks that the store answers (at start: a wrong bucket or credentials fail early).
    pub async fn check(&self) -> anyhow::Result<()> {
        let probe = Path::from("missive-probe");
        self.store
            .put(&probe, PutPayload::from_static(b"ok"))
            .await
            .context("writing to the media store")?;
        self.store
            .delete(&probe)
            .await
            .context("deleting from the media store")?;
        Ok(())
    }

    /// Streams an upload to a temporary file, hashing it; `too_large` as soon as it passes
    /// `limit` bytes (the file is removed, the rest of the body is not read).
    pub async fn stage<S, E>(&self, mut body: S, limit: u64) -> AppResult<Staged>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&self.tmp)
            .context("creating an upload file")?;
        let (file, path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head = Vec::with_capacity(HEAD);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::debug!(error = %e, "upload body ended early");
                AppError::invalid("the upload did not arrive in full")
            })?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(AppError::TooLarge);
            }
            hasher.update(&chunk);
            if head.len() < HEAD {
                let take = (HEAD - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            file.write_all(&chunk)
                .await
                .context("writing an upload file")?;
        }
        file.flush().await.context("writing an upload file")?;
        Ok(Staged {
            path,
            size,
            sha256: format!("{:x}", hasher.finalize()),
            head,
        })
    }

    /// Sniffs the upload's type; re-encodes an image (off the async threads, a bounded number
    /// at once) with its thumbnail and blurhash.
    pub async fn prepare(&self, staged: Staged) -> AppResult<Prepared> {
        let sniffed = crate::domain::media::sniff(&staged.head);
        let Some(format) = image::format_of(&sniffed) else {
            return Ok(Prepared {
                body: Body::File(staged.path),
                sha256: staged.sha256,
                size: staged.size,
                content_type: sniffed,
                width: None,
                height: None,
                blurhash: None,
                thumbnail: None,
            });
        };
        let _permit = self
            .decoding
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable)?;
        let path = staged.path;
        let done = tokio::task::spawn_blocking(move || {
            let out = image::process(&path, format);
            drop(path);
            out
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("image task failed: {e}")))??;
        Ok(Prepared {
            sha256: sha256_hex(&done.bytes),
            size: done.bytes.len() as u64,
            content_type: done.content_type.to_owned(),
            width: Some(done.width),
            height: Some(done.height),
            blurhash: done.blurhash,
            thumbnail: done.thumbnail.map(|t| (sha256_hex(&t), t)),
            body: Body::Bytes(done.bytes),
        })
    }

    /// Locks the stripes of `hashes` (in stripe order, so two holders cannot deadlock) for an
    /// upload's put-and-insert or a collection's check-and-delete.
    pub async fn lock(&self, hashes: &[&str]) -> Vec<MutexGuard<'_, ()>> {
        let mut idx: Vec<usize> = hashes
            .iter()
            .map(|h| usize::from_str_radix(h.get(..2).unwrap_or("0"), 16).unwrap_or(0) % STRIPES)
            .collect();
        idx.sort_unstable();
        idx.dedup();
        let mut guards = Vec::with_capacity(idx.len());
        for i in idx {
            guards.push(self.stripes[i].lock().await);
        }
        guards
    }

    /// Whether the object is stored.
    async fn exists(&self, sha256: &str) -> AppResult<bool> {
        match self.store.head(&key(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage(e)),
        }
    }

    /// Stores the prepared upload's objects, unless already there (the same bytes twice are
    /// one object). Hold `lock` for its hashes until the row naming them is committed.
    pub async fn put(&self, p: Prepared) -> AppResult<()> {
        if !self.exists(&p.sha256).await? {
            match p.body {
                Body::Bytes(bytes) => self.put_bytes(&p.sha256, bytes).await?,
                Body::File(path) => match &self.local_root {
                    Some(root) => Self::rename_into(root, &p.sha256, path).await?,
                    None => self.put_file(&p.sha256, &path, p.size).await?,
                },
            }
        }
        if let Some((sha, bytes)) = p.thumbnail
            && !self.exists(&sha).await?
        {
            self.put_bytes(&sha, bytes).await?;
        }
        Ok(())
    }

    /// Moves a received file into the local store under its key: no copy, whatever its size.
    async fn rename_into(root: &FsPath, sha256: &str, path: tempfile::TempPath) -> AppResult<()> {
        let dest = root.join(key(sha256).as_ref());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir)?;
            }
            path.persist(&dest).map_err(|e| e.error)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("storing an upload: {e}")))?
        .context("storing an upload")?;
        Ok(())
    }

    async fn put_bytes(&self, sha256: &str, bytes: Vec<u8>) -> AppResult<()> {
        self.store
            .put(&key(sha256), PutPayload::from(bytes))
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// Streams a file into the store, one part at a time (a few parts in memory at most).
    async fn put_file(&self, sha256: &str, path: &FsPath, size: u64) -> AppResult<()> {
        let mut file = tokio::fs::File::open(path)
            .await
            .context("reading an upload file")?;
        if size <= PART as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .await
                .context("reading an upload file")?;
            return self.put_bytes(sha256, bytes).await;
        }
        let upload = self
            .store
            .put_multipart(&key(sha256))
            .await
            .map_err(storage)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .context("reading an upload file")?;
            if n == 0 {
                break;
            }
            // At most two parts in flight, whatever the file's size.
            writer.wait_for_capacity(2).await.map_err(storage)?;
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(storage)?;
        Ok(())
    }

    /// The size of a stored object.
    pub async fn size(&self, sha256: &str) -> AppResult<u64> {
        match self.store.head(&key(sha256)).await {
            Ok(meta) => Ok(meta.size),
            Err(object_store::Error::NotFound { .. }) => Err(AppError::NotFound),
            Err(e) => Err(storage(e)),
        }
    }

    /// Reads an object, or the inclusive byte range `range` of it.
    pub async fn get(&self, sha256: &str, range: Option<(u64, u64)>) -> AppResult<Reading> {
        let options = GetOptions {
            range: range.map(|(first, last)| GetRange::Bounded(first..last + 1)),
            ..GetOptions::default()
        };
        match self.store.get_opts(&key(sha256), options).await {
            Ok(result) => Ok(Reading {
                stream: result.into_stream(),
            }),
            Err(object_store::Error::NotFound { .. }) => {
                tracing::warn!(
                    sha256,
                    "an attachment's object is missing from the media store"
                );
                Err(AppError::NotFound)
            }
            Err(e) => Err(storage(e)),
        }
    }

    /// Deletes each object of `hashes` that no attachment names any more. Failures are
    /// logged: an object left behind costs space, never correctness.
    pub async fn collect(&self, store: &Store, hashes: Vec<String>) {
        for sha in hashes {
            let _guard = self.lock(&[&sha]).await;
            match store.object_referenced(&sha).await {
                Ok(true) => {}
                Ok(false) => match self.store.delete(&key(&sha)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, sha256 = %sha, "deleting a media object failed")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, sha256 = %sha, "checking a media object's uses failed")
                }
            }
        }
    }

    /// Hashes of every stored object (for tests and operators: what is on disk or in the bucket).
    pub async fn list(&self) -> AppResult<Vec<String>> {
        let mut out = Vec::new();
        let mut listing = self.store.list(None);
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(storage)?;
            if let Some(name) = meta.location.filename()
                && name.len() == 64
            {
                out.push(name.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes temporary upload files older than `age` (left by a crash mid-upload).
    fn clean_tmp(&self, age: Duration) {
        let Ok(entries) = std::fs::read_dir(&self.tmp) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|e| e > age);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Files of uploads being received right now (tests check that a refused one left none).
    pub fn receiving(&self) -> usize {
        std::fs::read_dir(&self.tmp).map_or(0, |d| d.count())
    }
}

fn storage(e: object_store::Error) -> AppError {
    AppError::Internal(anyhow::Error::new(e).context("media store"))
}

/// Every so often, removes the uploads older than `ttl` that no message, profile or room took,
/// their objects, and stale temporary files.
pub fn spawn_sweeper(media: Arc<Media>, store: Store, ttl: Duration) {
    let every = (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(3600));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cutoff = crate::domain::now_ms() - ttl.as_millis() as i64;
            match store.sweep_unused(cutoff).await {
                Ok(hashes) => media.collect(&store, hashes).await,
                Err(e) => tracing::warn!(error = %e, "sweeping unused uploads failed"),
            }
            let media = media.clone();
            let _ =
                tokio::task::spawn_blocking(move || media.clean_tmp(Duration::from_secs(86_400)))
                    .await;
        }
    });
}
