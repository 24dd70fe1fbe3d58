//! The chat operations, shared by the REST handlers (`http`) and the socket handlers
//! (`realtime`): each checks who may do what, changes the store, then tells the sockets.
//! Transport code only parses input and shapes output.

pub mod messages;
pub mod rooms;

use crate::app::App;
use crate::domain::{User, UserId, parse_display_name};
use crate::error::AppResult;

/// `PATCH /api/me` and `profile:update`: new display name, `user:updated` to contacts and to the
/// user's own other devices.
pub async fn update_profile(app: &App, user: UserId, display_name: &str) -> AppResult<User> {
    let name = parse_display_name(display_name)?;
    let updated = app.store.set_display_name(user, &name).await?;
    let mut audience = app.store.contacts(user).await?;
    audience.push(user);
    app.hub()
        .emit_to_users(&audience, "user:updated", &updated)
        .await;
    Ok(updated)
}
