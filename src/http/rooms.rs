//! `/api/rooms/*`: rooms, members, messages, receipts and read cursors over REST. Each handler
//! parses, calls the shared operation in `chat`, and shapes the reply.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{AppJson, AppQuery, AuthUser, parse_id};
use super::openapi::Errors;
use crate::app::App;
use crate::chat::attachments;
use crate::chat::lifecycle::{self, SearchQuery};
use crate::chat::messages::{self, HistoryQuery, MessagePage, Receipts, SendInput};
use crate::chat::rooms::{self, CreateRoom};
use crate::domain::{AttachmentId, Hidden, Member, Message, Role, Room, RoomId, Seq, UserId};
use crate::error::AppResult;

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/rooms", get(list).post(create))
        .route("/api/rooms/direct", post(direct))
        .route("/api/rooms/{id}", get(show).patch(rename))
        .route(
            "/api/rooms/{id}/picture",
            put(set_picture).delete(clear_picture),
        )
        .route("/api/rooms/{id}/members", post(add_member))
        .route(
            "/api/rooms/{id}/members/{user_id}",
            patch(set_role).delete(remove_member),
        )
        .route("/api/rooms/{id}/messages", get(history).post(send))
        .route(
            "/api/rooms/{id}/messages/{seq}",
            patch(edit_message).delete(delete_message),
        )
        .route("/api/rooms/{id}/messages/{seq}/reaction", put(react))
        .route("/api/rooms/{id}/messages/{seq}/hide", post(hide))
        .route("/api/rooms/{id}/messages/{seq}/forward", post(forward))
        .route("/api/me/hidden", get(hidden))
        .route("/api/search", get(search))
        .route("/api/rooms/{id}/messages/{seq}/receipts", get(receipts))
        .route("/api/rooms/{id}/read", post(read))
}

#[utoipa::path(get, path = "/api/rooms", tag = "rooms", security(("bearer" = [])), responses((status = 200, description = "the caller's rooms, most recent activity first", body = Vec<Room>), Errors))]
async fn list(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<Json<Vec<Room>>> {
    Ok(Json(rooms::list(&app, user).await?))
}

#[utoipa::path(post, path = "/api/rooms", tag = "rooms", security(("bearer" = [])), request_body = CreateRoom, responses((status = 201, description = "the new group or channel", body = Room), Errors))]
async fn create(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppJson(body): AppJson<CreateRoom>,
) -> AppResult<(StatusCode, Json<Room>)> {
    Ok((
        StatusCode::CREATED,
        Json(rooms::create(&app, user, body).await?),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct DirectBody {
    user_id: UserId,
}

#[utoipa::path(post, path = "/api/rooms/direct", tag = "rooms", security(("bearer" = [])), request_body = DirectBody, responses((status = 200, description = "the existing direct room", body = Room), (status = 201, description = "the new direct room", body = Room), Errors))]
async fn direct(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppJson(body): AppJson<DirectBody>,
) -> AppResult<(StatusCode, Json<Room>)> {
    let (room, created) = rooms::direct(&app, user, body.user_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(rooms::room_for(&app, room, user).await?)))
}

#[utoipa::path(get, path = "/api/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), responses((status = 200, description = "the room with its members", body = Room), Errors))]
async fn show(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<Room>> {
    Ok(Json(rooms::get(&app, user, parse_id(&id)?).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RenameBody {
    name: Option<String>,
    /// At most 500 characters; `""` clears it.
    description: Option<String>,
}

#[utoipa::path(patch, path = "/api/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), request_body = RenameBody, responses((status = 200, description = "the renamed or described room", body = Room), Errors))]
async fn rename(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<RenameBody>,
) -> AppResult<Json<Room>> {
    let room: RoomId = parse_id(&id)?;
    if body.name.is_none() && body.description.is_none() {
        return Err(crate::error::AppError::invalid(
            "give name, description or both",
        ));
    }
    let mut view = None;
    if let Some(name) = &body.name {
        view = Some(rooms::rename(&app, user, room, name).await?);
    }
    if body.description.is_some() {
        let look = attachments::RoomLook {
            description: body.description,
            picture: None,
        };
        view = Some(attachments::restyle_room(&app, user, room, look).await?);
    }
    Ok(Json(view.expect("one of the two ran")))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PictureBody {
    /// One of the caller's unused image uploads.
    attachment_id: AttachmentId,
}

#[utoipa::path(put, path = "/api/rooms/{id}/picture", tag = "attachments", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), request_body = PictureBody, responses((status = 200, description = "the room with its new picture", body = Room), Errors))]
async fn set_picture(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<PictureBody>,
) -> AppResult<Json<Room>> {
    let look = attachments::RoomLook {
        description: None,
        picture: Some(Some(body.attachment_id)),
    };
    Ok(Json(
        attachments::restyle_room(&app, user, parse_id(&id)?, look).await?,
    ))
}

#[utoipa::path(delete, path = "/api/rooms/{id}/picture", tag = "attachments", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), responses((status = 200, description = "the room without a picture", body = Room), Errors))]
async fn clear_picture(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<Room>> {
    let look = attachments::RoomLook {
        description: None,
        picture: Some(None),
    };
    Ok(Json(
        attachments::restyle_room(&app, user, parse_id(&id)?, look).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct AddMemberBody {
    user_id: UserId,
}

#[utoipa::path(post, path = "/api/rooms/{id}/members", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), request_body = AddMemberBody, responses((status = 201, description = "the new member", body = Member), Errors))]
async fn add_member(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<AddMemberBody>,
) -> AppResult<(StatusCode, Json<Member>)> {
    let member = rooms::add_member(&app, user, parse_id(&id)?, body.user_id).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RoleBody {
    role: Role,
}

#[utoipa::path(patch, path = "/api/rooms/{id}/members/{user_id}", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("user_id" = String, Path, description = "member's user id")), request_body = RoleBody, responses((status = 200, description = "the member", body = Member), Errors))]
async fn set_role(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(String, String)>,
    AppJson(body): AppJson<RoleBody>,
) -> AppResult<Json<Member>> {
    Ok(Json(
        rooms::set_role(&app, user, parse_id(&id)?, parse_id(&target)?, body.role).await?,
    ))
}

#[utoipa::path(delete, path = "/api/rooms/{id}/members/{user_id}", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("user_id" = String, Path, description = "member's user id")), responses((status = 204, description = "removed (or left)"), Errors))]
async fn remove_member(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    rooms::remove_member(&app, user, parse_id(&id)?, parse_id(&target)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/rooms/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), HistoryQuery), responses((status = 200, description = "one page of history, ascending seq", body = MessagePage), Errors))]
async fn history(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<HistoryQuery>,
) -> AppResult<Json<MessagePage>> {
    Ok(Json(
        messages::history(&app, user, parse_id(&id)?, &q).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct SendBody {
    /// May be empty (or absent) when `attachments` are given: it is then an optional caption.
    #[serde(default)]
    body: String,
    client_id: Option<String>,
    reply_to: Option<Seq>,
    /// Ids of the caller's own uploads not yet sent (at most 10).
    #[serde(default)]
    attachments: Vec<AttachmentId>,
}

#[utoipa::path(post, path = "/api/rooms/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), request_body = SendBody, responses((status = 201, description = "the stored message", body = Message), Errors))]
async fn send(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppJson(b): AppJson<SendBody>,
) -> AppResult<(StatusCode, Json<Message>)> {
    let room: RoomId = parse_id(&id)?;
    let input = SendInput {
        room_id: Some(room),
        to: None,
        body: b.body,
        client_id: b.client_id,
        reply_to: b.reply_to,
        attachments: b.attachments,
    };
    Ok((
        StatusCode::CREATED,
        Json(messages::send(&app, user, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/rooms/{id}/messages/{seq}/receipts", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), responses((status = 200, description = "who read, got, or has yet to get the message", body = Receipts), Errors))]
async fn receipts(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
) -> AppResult<Json<Receipts>> {
    let seq = Seq(seq.parse().map_err(|_| crate::error::AppError::NotFound)?);
    Ok(Json(
        messages::receipts(&app, user, parse_id(&id)?, seq).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ReadBody {
    seq: Seq,
}

#[utoipa::path(post, path = "/api/rooms/{id}/read", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), request_body = ReadBody, responses((status = 204, description = "read cursor moved"), Errors))]
async fn read(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReadBody>,
) -> AppResult<StatusCode> {
    messages::mark_read(&app, user, parse_id(&id)?, body.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A path's `{seq}`; one that cannot be a seq names nothing.
fn parse_seq(raw: &str) -> AppResult<Seq> {
    raw.parse()
        .map(Seq)
        .map_err(|_| crate::error::AppError::NotFound)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct EditBody {
    body: String,
}

#[utoipa::path(patch, path = "/api/rooms/{id}/messages/{seq}", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), request_body = EditBody, responses((status = 200, description = "the message with its new body and `edited_at`", body = Message), Errors))]
async fn edit_message(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
    AppJson(b): AppJson<EditBody>,
) -> AppResult<Json<Message>> {
    let message = lifecycle::edit(&app, user, parse_id(&id)?, parse_seq(&seq)?, b.body).await?;
    Ok(Json(message))
}

#[utoipa::path(delete, path = "/api/rooms/{id}/messages/{seq}", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), responses((status = 204, description = "deleted for everyone (a tombstone stays)"), Errors))]
async fn delete_message(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    lifecycle::delete(&app, user, parse_id(&id)?, parse_seq(&seq)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ReactBody {
    /// One emoji; the caller's current one again removes it.
    emoji: String,
}

#[utoipa::path(put, path = "/api/rooms/{id}/messages/{seq}/reaction", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), request_body = ReactBody, responses((status = 200, description = "the message with its reactions as the caller sees them", body = Message), Errors))]
async fn react(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
    AppJson(b): AppJson<ReactBody>,
) -> AppResult<Json<Message>> {
    let message = lifecycle::react(&app, user, parse_id(&id)?, parse_seq(&seq)?, &b.emoji).await?;
    Ok(Json(message))
}

#[utoipa::path(post, path = "/api/rooms/{id}/messages/{seq}/hide", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), responses((status = 204, description = "hidden for the caller only"), Errors))]
async fn hide(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    lifecycle::hide(&app, user, parse_id(&id)?, parse_seq(&seq)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ForwardBody {
    /// The room to post the copy in.
    room_id: RoomId,
}

#[utoipa::path(post, path = "/api/rooms/{id}/messages/{seq}/forward", tag = "messages", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), request_body = ForwardBody, responses((status = 201, description = "the copy, stored in the target room with `forwarded: true`", body = Message), Errors))]
async fn forward(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
    AppJson(b): AppJson<ForwardBody>,
) -> AppResult<(StatusCode, Json<Message>)> {
    let message =
        lifecycle::forward(&app, user, parse_id(&id)?, parse_seq(&seq)?, b.room_id).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HiddenQuery {
    /// Only those after this `Hidden.id` (the last one the device holds).
    after: Option<i64>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct HiddenList {
    hidden: Vec<Hidden>,
}

#[utoipa::path(get, path = "/api/me/hidden", tag = "messages", security(("bearer" = [])), params(HiddenQuery), responses((status = 200, description = "the messages the caller hid after `after`, by ascending `id` (at most 1000)", body = HiddenList), Errors))]
async fn hidden(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppQuery(q): AppQuery<HiddenQuery>,
) -> AppResult<Json<HiddenList>> {
    let hidden = lifecycle::hidden_list(&app, user, q.after).await?;
    Ok(Json(HiddenList { hidden }))
}

#[utoipa::path(get, path = "/api/search", tag = "messages", security(("bearer" = [])), params(SearchQuery), responses((status = 200, description = "matching messages the caller may read, newest first", body = MessagePage), Errors))]
async fn search(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppQuery(q): AppQuery<SearchQuery>,
) -> AppResult<Json<MessagePage>> {
    Ok(Json(lifecycle::search(&app, user, &q).await?))
}
