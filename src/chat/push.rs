//! A device's pushers (where its login is notified when no device is connected) and a person's
//! room mutes, shared by all their devices. The notifier (`crate::notify`) reads both.

use serde::Deserialize;

use crate::app::App;
use crate::domain::events::ServerEvent;
use crate::domain::push::{Mute, Pusher, Unmuted, check_keys, check_pusher_url};
use crate::domain::{RoomId, UserId, now_ms};
use crate::error::{AppError, AppResult};
use crate::store::pushers::NewPusher;

/// Pushers one person may have (every device and browser of theirs together).
pub const MAX_PUSHERS: usize = 20;

/// The longest `pushkey` and `app_id` of a gateway pusher.
const MAX_PUSHKEY: usize = 1024;

/// `POST /api/pushers`: a Web Push subscription as the browser's `PushSubscription.toJSON()`
/// gives it (plus `kind`), or a gateway.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PusherInput {
    /// `webpush` or `gateway`.
    pub kind: String,
    /// Web Push: the push service endpoint.
    pub endpoint: Option<String>,
    pub keys: Option<SubscriptionKeys>,
    /// Gateway: its URL, the device's token at the relay and the app's id.
    pub url: Option<String>,
    pub pushkey: Option<String>,
    pub app_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// Registers a pusher for the login `family` (removed when that login logs out).
pub async fn add_pusher(
    app: &App,
    user: UserId,
    family: Option<&str>,
    input: PusherInput,
) -> AppResult<Pusher> {
    let allow_private = app.config.push_allow_private;
    let pusher = match input.kind.as_str() {
        "webpush" => {
            let endpoint = input
                .endpoint
                .ok_or_else(|| AppError::invalid("endpoint is required"))?;
            check_pusher_url(&endpoint, allow_private).map_err(AppError::invalid)?;
            let keys = input
                .keys
                .ok_or_else(|| AppError::invalid("keys is required"))?;
            check_keys(&keys.p256dh, &keys.auth).map_err(AppError::invalid)?;
            (endpoint, Some(keys), None, None)
        }
        "gateway" => {
            let url = input
                .url
                .ok_or_else(|| AppError::invalid("url is required"))?;
            check_pusher_url(&url, allow_private).map_err(AppError::invalid)?;
            let pushkey = input
                .pushkey
                .filter(|k| !k.is_empty())
                .ok_or_else(|| AppError::invalid("pushkey is required"))?;
            if pushkey.len() > MAX_PUSHKEY
                || input.app_id.as_ref().is_some_and(|a| a.len() > MAX_PUSHKEY)
            {
                return Err(AppError::invalid(format!(
                    "pushkey and app_id are at most {MAX_PUSHKEY} bytes"
                )));
            }
            (url, None, Some(pushkey), input.app_id)
        }
        _ => return Err(AppError::invalid("kind must be webpush or gateway")),
    };
    let (url, keys, pushkey, app_id) = pusher;
    let existing = app.store.pushers_of(user).await?;
    if existing.len() >= MAX_PUSHERS && !existing.iter().any(|p| p.url == url) {
        return Err(AppError::invalid(format!(
            "at most {MAX_PUSHERS} pushers per user"
        )));
    }
    app.store
        .add_pusher(
            user,
            family,
            &NewPusher {
                kind: &input.kind,
                url: &url,
                p256dh: keys.as_ref().map(|k| k.p256dh.as_str()),
                auth: keys.as_ref().map(|k| k.auth.as_str()),
                pushkey: pushkey.as_deref(),
                app_id: app_id.as_deref(),
            },
        )
        .await
}

pub async fn pushers(app: &App, user: UserId) -> AppResult<Vec<Pusher>> {
    app.store.pushers_of(user).await
}

pub async fn remove_pusher(app: &App, user: UserId, id: i64) -> AppResult<()> {
    if app.store.delete_pusher(user, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Mutes a room until `until` (Unix ms) or for good (`None`); tells the user's devices.
pub async fn mute(app: &App, user: UserId, room: RoomId, until: Option<i64>) -> AppResult<Mute> {
    super::messages::require_member(app, room, user).await?;
    if until.is_some_and(|t| t <= now_ms()) {
        return Err(AppError::invalid("until must be in the future"));
    }
    app.store.set_mute(user, room, until).await?;
    let mute = Mute {
        room_id: room,
        until,
    };
    app.delivery()
        .to_users(vec![user], ServerEvent::RoomMuted(mute.clone()))
        .await;
    Ok(mute)
}

/// Unmutes a room (a room not muted stays so); tells the user's devices.
pub async fn unmute(app: &App, user: UserId, room: RoomId) -> AppResult<()> {
    super::messages::require_member(app, room, user).await?;
    app.store.delete_mute(user, room).await?;
    app.delivery()
        .to_users(
            vec![user],
            ServerEvent::RoomUnmuted(Unmuted { room_id: room }),
        )
        .await;
    Ok(())
}

pub async fn mutes(app: &App, user: UserId) -> AppResult<Vec<Mute>> {
    app.store.mutes_of(user).await
}
