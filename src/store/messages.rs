//! The per-room message streams and the cursors over them.
//!
//! A message's `seq` comes from `update rooms set last_seq = last_seq + n … returning last_seq`
//! in the transaction that stores it, which numbers the stream without gaps and serialises
//! writers per room on both databases. `append` stores one message (system messages, inside a
//! membership change); `append_batch` stores a group-commit batch with a few statements.

use std::collections::HashMap;

use serde_json::json;
use sqlx::{AnyConnection, FromRow};

use super::rooms::{MEMBERSHIP_FIELDS, MembershipRow};
use super::{Backend, Store, values};
use crate::domain::{
    self, Attachment, AttachmentId, Membership, Message, MessageId, MessageKind, RoomId, RoomKind,
    Seq, UserId, now_ms, rules,
};
use crate::error::{AppError, AppResult};

#[derive(FromRow)]
pub(super) struct MessageRow {
    id: i64,
    room_id: i64,
    seq: i64,
    sender_id: i64,
    kind: String,
    body: String,
    client_id: Option<String>,
    reply_to: Option<i64>,
    created_at: i64,
    target_seq: Option<i64>,
    changed_seq: Option<i64>,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    deleted_by: Option<i64>,
    forwarded: i64,
    attachments: Option<String>,
}

/// The `messages.attachments` snapshot read back (none when absent or unreadable).
pub(super) fn attachments_of(json: Option<&str>) -> Vec<Attachment> {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

/// The `messages.attachments` snapshot to store (`None` for none).
fn attachments_json(attachments: &[Attachment]) -> Option<String> {
    (!attachments.is_empty()).then(|| serde_json::to_string(attachments).unwrap_or_default())
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
            id: MessageId(r.id),
            room_id: RoomId(r.room_id),
            seq: Seq(r.seq),
            sender_id: UserId(r.sender_id),
            kind: MessageKind::from_db(&r.kind),
            body: r.body,
            client_id: r.client_id,
            reply_to: r.reply_to.map(Seq),
            created_at: r.created_at,
            target_seq: r.target_seq.map(Seq),
            changed_seq: r.changed_seq.map(Seq),
            edited_at: r.edited_at,
            deleted_at: r.deleted_at,
            deleted_by: r.deleted_by.map(UserId),
            forwarded: r.forwarded != 0,
            reactions: Vec::new(),
            hidden: false,
            attachments: attachments_of(r.attachments.as_deref()),
        }
    }
}

/// A message to store; `seq`, `id` and `created_at` are assigned by `append`.
#[derive(Clone, Debug, Default)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub kind: MessageKind,
    pub body: String,
    pub client_id: Option<String>,
    pub reply_to: Option<Seq>,
    /// For change entries: the message they change.
    pub target_seq: Option<Seq>,
    /// Posted by forwarding another message.
    pub forwarded: bool,
    /// The sender's uploads it carries (validated by the chat layer, claimed by the writer
    /// inside the transaction that stores the message).
    pub attachments: Vec<Attachment>,
}

impl NewMessage {
    /// What full-text search indexes of it: a text message's words.
    fn search_text(&self) -> Option<String> {
        (self.kind == MessageKind::Text).then(|| domain::search_words(&self.body))
    }
}

/// Stores `m` as the room's next entry. A message (text, system) is also the room's newest
/// message and activity, and advances the sender's own cursors to it; a change entry is none
/// of these.
pub async fn append(conn: &mut AnyConnection, m: &NewMessage) -> Result<Message, sqlx::Error> {
    let now = now_ms();
    let seq: i64 = if m.kind.is_message() {
        sqlx::query_scalar(
            "update rooms set last_seq = last_seq + 1, last_message_seq = last_seq + 1,
                              last_activity_at = $1
             where id = $2 returning last_seq",
        )
        .bind(now)
        .bind(m.room_id.0)
    } else {
        sqlx::query_scalar(
            "update rooms set last_seq = last_seq + 1 where id = $1 returning last_seq",
        )
        .bind(m.room_id.0)
    }
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "insert into messages (room_id, seq, sender_id, kind, body, client_id, reply_to, created_at,
                               target_seq, forwarded, search_text, attachments)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id",
    )
    .bind(m.room_id.0)
    .bind(seq)
    .bind(m.sender_id.0)
    .bind(m.kind.as_str())
    .bind(&m.body)
    .bind(m.client_id.as_deref())
    .bind(m.reply_to.map(|s| s.0))
    .bind(now)
    .bind(m.target_seq.map(|s| s.0))
    .bind(i64::from(m.forwarded))
    .bind(m.search_text())
    .bind(attachments_json(&m.attachments))
    .fetch_one(&mut *conn)
    .await?;
    // Writing a message means having read the room; changing one (an edit, a reaction) does not.
    if m.kind.is_message() {
        sqlx::query(
            "update memberships set delivered_seq = $1, read_seq = $1 where room_id = $2 and user_id = $3",
        )
        .bind(seq)
        .bind(m.room_id.0)
        .bind(m.sender_id.0)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Message {
        id: MessageId(id),
        room_id: m.room_id,
        seq: Seq(seq),
        sender_id: m.sender_id,
        kind: m.kind,
        body: m.body.clone(),
        client_id: m.client_id.clone(),
        reply_to: m.reply_to,
        created_at: now,
        target_seq: m.target_seq,
        forwarded: m.forwarded,
        attachments: m.attachments.clone(),
        ..Message::default()
    })
}

/// Stores a batch of messages in the caller's transaction with a handful of statements
/// whatever its size: one check of every sender's membership, one of blocks in direct rooms,
/// one look-up of already-stored `client_id`s, the `last_seq` bumps (one statement on SQLite,
/// one per room on Postgres), one insert for every row, one update of the senders' cursors. Returns, per input and in order, the stored message and whether this call
/// stored it (false: an idempotent repeat, from an earlier batch or earlier in this one), or
/// why it was refused: `not_found` for a non-member, `forbidden` for a follower posting to a
/// channel, `invalid` for a `reply_to` past the room's end.
///
/// The rows travel as one JSON parameter expanded by the database (`json_each` on SQLite,
/// `json_array_elements` on Postgres): literal SQL, one bind, any batch size.
pub async fn append_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    batch: &[&NewMessage],
) -> Result<Vec<AppResult<(Message, bool)>>, sqlx::Error> {
    let now = now_ms();
    let access = senders_access(conn, backend, batch).await?;
    let blocks = direct_blocks(conn, backend, batch, &access).await?;
    let existing = stored_client_ids(conn, backend, batch).await?;
    // Whether input `m` repeats a message stored by an earlier batch.
    let stored_before = |m: &NewMessage| {
        m.client_id
            .as_ref()
            .is_some_and(|c| existing.contains_key(&(m.sender_id, c.clone())))
    };
    let mut refused: Vec<Option<AppError>> = batch
        .iter()
        .map(|m| {
            let member = access.get(&(m.room_id, m.sender_id)).map(|a| Membership {
                // A retry of a message stored before its channel closed still gets it.
                closed: a.closed && !stored_before(m),
                ..*a
            });
            refusal(
                member.as_ref(),
                blocks.get(&(m.room_id, m.sender_id)).copied(),
                m,
            )
        })
        .collect();
    // Which inputs are new, and which repeat an input earlier in this batch.
    let mut first_of: HashMap<(UserId, &str), usize> = HashMap::new();
    let mut repeat_of: Vec<Option<usize>> = vec![None; batch.len()];
    let mut per_room: Vec<(RoomId, i64)> = Vec::new();
    for (i, m) in batch.iter().enumerate() {
        if refused[i].is_some() {
            continue;
        }
        if let Some(cid) = m.client_id.as_deref() {
            if existing.contains_key(&(m.sender_id, cid.to_owned())) {
                continue;
            }
            if let Some(&first) = first_of.get(&(m.sender_id, cid)) {
                repeat_of[i] = Some(first);
                continue;
            }
        }
        if !m.attachments.is_empty() {
            let ids: Vec<AttachmentId> = m.attachments.iter().map(|a| a.id).collect();
            if !super::attachments::claim(conn, m.room_id, m.sender_id, &ids).await? {
                refused[i] = Some(AppError::invalid(
                    "attachments must be your own uploads not yet sent",
                ));
                continue;
            }
        }
        if let Some(cid) = m.client_id.as_deref() {
            first_of.insert((m.sender_id, cid), i);
        }
        match per_room.iter_mut().find(|(r, _)| *r == m.room_id) {
            Some((_, n)) => *n += 1,
            None => per_room.push((m.room_id, 1)),
        }
    }
    // Lock rooms in id order, as every writer does, so two batches cannot deadlock.
    per_room.sort_by_key(|(room, _)| *room);
    // Reserve each room's seqs: the batch's messages of a room take them in input order. The
    // update takes the room's row lock, and re-reads the row once it has it: a channel closed
    // since the membership check above (its close committed in between, on Postgres) reserves
    // nothing, and its messages are refused as the rule says, so nothing lands after a close.
    let reserved = reserve_seqs(conn, backend, &per_room, now).await?;
    let mut next_seq: HashMap<RoomId, i64> = HashMap::with_capacity(per_room.len());
    let mut closed_since: Vec<RoomId> = Vec::new();
    for (room, n) in &per_room {
        match reserved.get(room) {
            Some(last) => {
                next_seq.insert(*room, last - n + 1);
            }
            None => closed_since.push(*room),
        }
    }
    // What the sender of input `i` is told when its room turned out closed.
    let closed_refusal = |i: usize| {
        let m = batch[i];
        let member = access
            .get(&(m.room_id, m.sender_id))
            .map(|a| Membership { closed: true, ..*a });
        refusal(member.as_ref(), None, m)
    };
    if !closed_since.is_empty() {
        for (i, m) in batch.iter().enumerate() {
            // A repeat answers as its first input does (below).
            if refused[i].is_none()
                && repeat_of[i].is_none()
                && !stored_before(m)
                && closed_since.contains(&m.room_id)
            {
                refused[i] = closed_refusal(i);
            }
        }
    }
    let mut out: Vec<Option<(Message, bool)>> = vec![None; batch.len()];
    let mut rows = Vec::new();
    for (i, m) in batch.iter().enumerate() {
        if refused[i].is_some() {
            continue;
        }
        if let Some(found) = m
            .client_id
            .as_ref()
            .and_then(|c| existing.get(&(m.sender_id, c.clone())))
        {
            out[i] = Some((found.clone(), false));
            continue;
        }
        if repeat_of[i].is_some() {
            continue;
        }
        let seq = next_seq
            .get_mut(&m.room_id)
            .expect("seq reserved for every room");
        out[i] = Some((
            Message {
                id: MessageId(0),
                room_id: m.room_id,
                seq: Seq(*seq),
                sender_id: m.sender_id,
                kind: m.kind,
                body: m.body.clone(),
                client_id: m.client_id.clone(),
                reply_to: m.reply_to,
                created_at: now,
                forwarded: m.forwarded,
                attachments: m.attachments.clone(),
                ..Message::default()
            },
            true,
        ));
        if !m.attachments.is_empty() {
            let ids: Vec<AttachmentId> = m.attachments.iter().map(|a| a.id).collect();
            super::attachments::bind_to_message(conn, m.room_id, Seq(*seq), &ids).await?;
        }
        rows.push(Row {
            room_id: m.room_id.0,
            seq: *seq,
            sender_id: m.sender_id.0,
            kind: m.kind.as_str(),
            body: &m.body,
            client_id: m.client_id.as_deref(),
            reply_to: m.reply_to.map(|s| s.0),
            created_at: now,
            forwarded: i64::from(m.forwarded),
            search_text: m.search_text(),
            attachments: attachments_json(&m.attachments),
        });
        *seq += 1;
    }
    if !rows.is_empty() {
        let ids = insert_rows(conn, backend, &rows).await?;
        for (msg, _) in out.iter_mut().flatten().filter(|(_, new)| *new) {
            msg.id = MessageId(
                *ids.get(&(msg.room_id.0, msg.seq.0))
                    .ok_or(sqlx::Error::RowNotFound)?,
            );
        }
        // The sender has delivered and read what they sent: one statement for every
        // (room, sender) of the batch.
        let mut newest: HashMap<(RoomId, UserId), i64> = HashMap::new();
        for (msg, _) in out.iter().flatten().filter(|(_, new)| *new) {
            let e = newest.entry((msg.room_id, msg.sender_id)).or_insert(0);
            *e = (*e).max(msg.seq.0);
        }
        let cursors: Vec<serde_json::Value> = newest
            .into_iter()
            .map(|((room, sender), seq)| json!({ "r": room.0, "u": sender.0, "s": seq }))
            .collect();
        let sql = match backend {
            Backend::Sqlite => {
                "update memberships set delivered_seq = j.s, read_seq = j.s
                 from (select json_extract(value, '$.r') as r, json_extract(value, '$.u') as u,
                              json_extract(value, '$.s') as s
                       from json_each($1)) j
                 where memberships.room_id = j.r and memberships.user_id = j.u"
            }
            Backend::Postgres => {
                "update memberships m set delivered_seq = (k->>'s')::bigint, read_seq = (k->>'s')::bigint
                 from json_array_elements($1::json) k
                 where m.room_id = (k->>'r')::bigint and m.user_id = (k->>'u')::bigint"
            }
        };
        sqlx::query(sql)
            .bind(serde_json::Value::Array(cursors).to_string())
            .execute(&mut *conn)
            .await?;
    }
    for i in 0..batch.len() {
        if let Some(first) = repeat_of[i] {
            match out[first].clone() {
                Some((msg, _)) => out[i] = Some((msg, false)),
                // The first was refused (its channel closed meanwhile): so is its repeat.
                None => refused[i] = closed_refusal(first),
            }
        }
    }
    Ok(out
        .into_iter()
        .zip(refused)
        .map(|(stored, refused)| match refused {
            Some(e) => Err(e),
            None => Ok(stored.expect("every accepted input answered")),
        })
        .collect())
}

/// Why `m` may not be stored, given its sender's membership (`None`: not a member).
/// Reserves `n` seqs in each room of `per_room` (sorted by room id) and returns each room's new
/// `last_seq`; a room missing from the answer was closed (it reserved nothing). Postgres takes
/// the rooms' row locks one statement at a time in id order, as every writer does, so two
/// batches cannot deadlock; SQLite has one writer, so one statement does every room.
async fn reserve_seqs(
    conn: &mut AnyConnection,
    backend: Backend,
    per_room: &[(RoomId, i64)],
    now: i64,
) -> Result<HashMap<RoomId, i64>, sqlx::Error> {
    let mut reserved = HashMap::with_capacity(per_room.len());
    match backend {
        Backend::Sqlite => {
            let rooms: Vec<serde_json::Value> = per_room
                .iter()
                .map(|(room, n)| json!({ "r": room.0, "n": n }))
                .collect();
            let rooms = serde_json::Value::Array(rooms).to_string();
            sqlx::query(
                "update rooms set last_seq = rooms.last_seq + j.n, last_message_seq = rooms.last_seq + j.n,
                                  last_activity_at = $2
                 from (select json_extract(value, '$.r') as r, json_extract(value, '$.n') as n
                       from json_each($1)) j
                 where rooms.id = j.r and rooms.closed_at is null",
            )
            .bind(&rooms)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            // Read back in one row rather than `returning` one row per room (see
            // `values::packed`); this transaction holds SQLite's one write lock, so the rooms
            // read are exactly the rooms updated.
            let sql = values::packed(
                "select rooms.id, rooms.last_seq
                 from json_each($1) j join rooms on rooms.id = json_extract(j.value, '$.r')
                 where rooms.closed_at is null",
                "id, last_seq",
            );
            let packed: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(&rooms)
                .fetch_one(&mut *conn)
                .await?;
            let rows: Vec<(i64, i64)> = values::unpack(&packed)?;
            reserved.extend(rows.into_iter().map(|(room, last)| (RoomId(room), last)));
        }
        Backend::Postgres => {
            for (room, n) in per_room {
                let last: Option<i64> = sqlx::query_scalar(
                    "update rooms set last_seq = last_seq + $1, last_message_seq = last_seq + $1, last_activity_at = $2
                     where id = $3 and closed_at is null returning last_seq",
                )
                .bind(*n)
                .bind(now)
                .bind(room.0)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(last) = last {
                    reserved.insert(*room, last);
                }
            }
        }
    }
    Ok(reserved)
}

fn refusal(
    member: Option<&Membership>,
    blocks: Option<(bool, bool)>,
    m: &NewMessage,
) -> Option<AppError> {
    let Some(member) = member else {
        return Some(AppError::NotFound);
    };
    rules::may_post(member, m.kind)
        .and_then(|()| rules::check_reply_to(member, m.reply_to))
        .and_then(|()| match blocks {
            Some((blocked_by_other, blocking_other)) => {
                rules::may_message_directly(blocked_by_other, blocking_other)
            }
            None => Ok(()),
        })
        .err()
}

/// For each `(room, sender)` of the batch that is a person's message in a direct room: whether
/// the other member blocks the sender, and whether the sender blocks them. Checked here, in the
/// transaction that stores the message, so a block committed before it is never crossed; one
/// query per batch (none when the batch has no direct message).
async fn direct_blocks(
    conn: &mut AnyConnection,
    backend: Backend,
    batch: &[&NewMessage],
    access: &HashMap<(RoomId, UserId), Membership>,
) -> Result<HashMap<(RoomId, UserId), (bool, bool)>, sqlx::Error> {
    let mut keys: Vec<(i64, i64)> = batch
        .iter()
        .filter(|m| m.kind != MessageKind::System)
        .filter(|m| {
            access
                .get(&(m.room_id, m.sender_id))
                .is_some_and(|a| a.kind == RoomKind::Direct)
        })
        .map(|m| (m.room_id.0, m.sender_id.0))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    macro_rules! blocks_sql {
        ($pairs:literal) => {
            concat!(
                "select s.room_id, s.user_id,
                        case when exists (select 1 from blocks b
                                          where b.blocker_id = o.user_id and b.blocked_id = s.user_id)
                             then 1 else 0 end as by_other,
                        case when exists (select 1 from blocks b
                                          where b.blocker_id = s.user_id and b.blocked_id = o.user_id)
                             then 1 else 0 end as by_sender ",
                $pairs,
                " join memberships o on o.room_id = s.room_id and o.user_id <> s.user_id"
            )
        };
    }
    let rows: Vec<(i64, i64, i32, i32)> = match backend {
        Backend::Sqlite => {
            let mut rows = Vec::with_capacity(keys.len());
            for chunk in values::padded(keys.len()) {
                let inner = format!(
                    blocks_sql!(
                        "from (values {}) k
                         join memberships s on s.room_id = k.column1 and s.user_id = k.column2"
                    ),
                    values::placeholders(chunk.len, 2)
                );
                let sql = values::packed(&inner, "room_id, user_id, by_other, by_sender");
                let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
                for i in chunk.indices() {
                    q = q.bind(keys[i].0).bind(keys[i].1);
                }
                rows.extend(values::unpack::<(i64, i64, i32, i32)>(&q.fetch_one(&mut *conn).await?)?);
            }
            rows
        }
        Backend::Postgres => {
            sqlx::query_as(blocks_sql!(
                "from json_array_elements($1::json) k
                 join memberships s on s.room_id = (k->>'r')::bigint and s.user_id = (k->>'u')::bigint"
            ))
            .bind(pairs_json(&keys))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(room, user, by_other, by_sender)| {
            (
                (RoomId(room), UserId(user)),
                (by_other != 0, by_sender != 0),
            )
        })
        .collect())
}

/// The membership of each of the batch's `(room, sender)` pairs that is one.
async fn senders_access(
    conn: &mut AnyConnection,
    backend: Backend,
    batch: &[&NewMessage],
) -> Result<HashMap<(RoomId, UserId), Membership>, sqlx::Error> {
    let mut keys: Vec<(i64, i64)> = batch.iter().map(|m| (m.room_id.0, m.sender_id.0)).collect();
    keys.sort_unstable();
    keys.dedup();
    let rows: Vec<MembershipRow> = match backend {
        Backend::Sqlite => {
            let mut rows = Vec::with_capacity(keys.len());
            for chunk in values::padded(keys.len()) {
                let inner = format!(
                    concat!(
                        membership_columns!(),
                        "from (values {}) k
                         join memberships m on m.room_id = k.column1 and m.user_id = k.column2
                         join rooms r on r.id = m.room_id"
                    ),
                    values::placeholders(chunk.len, 2)
                );
                let sql = values::packed(&inner, MEMBERSHIP_FIELDS);
                let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
                for i in chunk.indices() {
                    q = q.bind(keys[i].0).bind(keys[i].1);
                }
                rows.extend(values::unpack::<MembershipRow>(&q.fetch_one(&mut *conn).await?)?);
            }
            rows
        }
        Backend::Postgres => {
            sqlx::query_as(concat!(
                membership_columns!(),
                "from json_array_elements($1::json) k
                 join memberships m on m.room_id = (k->>'r')::bigint and m.user_id = (k->>'u')::bigint
                 join rooms r on r.id = m.room_id"
            ))
            .bind(pairs_json(&keys))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(rows.into_iter().map(MembershipRow::keyed).collect())
}

/// `[{"r": room, "u": user}, …]`: a batch's (room, user) pairs as Postgres takes them.
fn pairs_json(keys: &[(i64, i64)]) -> String {
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .map(|(r, u)| json!({ "r": r, "u": u }))
        .collect();
    serde_json::Value::Array(keys).to_string()
}

/// A message row to insert (its id comes back from the insert).
#[derive(serde::Serialize)]
struct Row<'a> {
    room_id: i64,
    seq: i64,
    sender_id: i64,
    kind: &'static str,
    body: &'a str,
    client_id: Option<&'a str>,
    reply_to: Option<i64>,
    created_at: i64,
    forwarded: i64,
    search_text: Option<String>,
    attachments: Option<String>,
}

/// Inserts the rows; returns each new row's id by `(room_id, seq)`. SQLite binds them as
/// `values` lists; Postgres takes them as one JSON array (one round trip).
async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[Row<'_>],
) -> Result<HashMap<(i64, i64), i64>, sqlx::Error> {
    let mut ids = HashMap::with_capacity(rows.len());
    match backend {
        Backend::Sqlite => {
            // The ids are given here rather than returned: a statement's rows come back from
            // SQLite's thread one at a time, each waking this task (two context switches per
            // message on a single core). SQLite has one writer, so the next ids are ours until
            // COMMIT; `sqlite_sequence` keeps `autoincrement`'s promise that no id is reused.
            let (mut next,): (i64,) = sqlx::query_as(
                "select max(coalesce((select seq from sqlite_sequence where name = 'messages'), 0),
                            coalesce((select max(id) from messages), 0)) + 1",
            )
            .fetch_one(&mut *conn)
            .await?;
            for chunk in values::exact(rows.len()) {
                let sql = format!(
                    "insert into messages (id, room_id, seq, sender_id, kind, body, client_id, reply_to,
                                           created_at, forwarded, search_text, attachments)
                     values {}",
                    values::placeholders(chunk.len, 12)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in &rows[chunk.rows.clone()] {
                    ids.insert((r.room_id, r.seq), next);
                    q = q
                        .bind(next)
                        .bind(r.room_id)
                        .bind(r.seq)
                        .bind(r.sender_id)
                        .bind(r.kind)
                        .bind(r.body.to_owned())
                        .bind(r.client_id.map(str::to_owned))
                        .bind(r.reply_to)
                        .bind(r.created_at)
                        .bind(r.forwarded)
                        .bind(r.search_text.clone())
                        .bind(r.attachments.clone());
                    next += 1;
                }
                q.execute(&mut *conn).await?;
            }
        }
        Backend::Postgres => {
            let json = serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(e.into()))?;
            let returned: Vec<(i64, i64, i64)> = sqlx::query_as(
                "insert into messages (room_id, seq, sender_id, kind, body, client_id, reply_to, created_at,
                                       forwarded, search_text, attachments)
                 select (e->>'room_id')::bigint, (e->>'seq')::bigint, (e->>'sender_id')::bigint, e->>'kind',
                        e->>'body', e->>'client_id', (e->>'reply_to')::bigint, (e->>'created_at')::bigint,
                        (e->>'forwarded')::integer, e->>'search_text', e->>'attachments'
                 from json_array_elements($1::json) as e
                 returning id, room_id, seq",
            )
            .bind(json)
            .fetch_all(&mut *conn)
            .await?;
            ids.extend(
                returned
                    .into_iter()
                    .map(|(id, room, seq)| ((room, seq), id)),
            );
        }
    }
    Ok(ids)
}

/// The messages already stored under the batch's `(sender_id, client_id)` keys.
async fn stored_client_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    batch: &[&NewMessage],
) -> Result<HashMap<(UserId, String), Message>, sqlx::Error> {
    let mut keys: Vec<(i64, &str)> = batch
        .iter()
        .filter_map(|m| m.client_id.as_deref().map(|c| (m.sender_id.0, c)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let mut rows: Vec<MessageRow> = Vec::new();
    match backend {
        Backend::Sqlite => {
            for chunk in values::padded(keys.len()) {
                let sql = format!(
                    concat!(
                        message_columns!(),
                        "from (values {}) k
                         join messages m on m.sender_id = k.column1 and m.client_id = k.column2"
                    ),
                    values::placeholders(chunk.len, 2)
                );
                let mut q = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql));
                for i in chunk.indices() {
                    q = q.bind(keys[i].0).bind(keys[i].1.to_owned());
                }
                rows.extend(q.fetch_all(&mut *conn).await?);
            }
        }
        Backend::Postgres => {
            let keys: Vec<serde_json::Value> = keys
                .iter()
                .map(|(s, c)| json!({ "s": s, "c": c }))
                .collect();
            rows = sqlx::query_as(concat!(
                message_columns!(),
                "from json_array_elements($1::json) k
                 join messages m on m.sender_id = (k->>'s')::bigint and m.client_id = k->>'c'"
            ))
            .bind(serde_json::Value::Array(keys).to_string())
            .fetch_all(&mut *conn)
            .await?;
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let m: Message = r.into();
            ((m.sender_id, m.client_id.clone().unwrap_or_default()), m)
        })
        .collect())
}

/// A page of messages, ascending by seq, and whether more lie beyond it.
pub struct Page {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

impl Store {
    /// Each existing room's committed stream position (`last_seq`), for the publisher's check
    /// that it missed no announcement: one query per 1,000 rooms.
    pub async fn last_seqs(&self, rooms: &[RoomId]) -> AppResult<HashMap<RoomId, Seq>> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "select r.id, r.last_seq from json_each($1) k join rooms r on r.id = k.value"
            }
            Backend::Postgres => {
                "select r.id, r.last_seq from json_array_elements_text($1::json) k
                 join rooms r on r.id = k::bigint"
            }
        };
        let mut out = HashMap::with_capacity(rooms.len());
        for chunk in rooms.chunks(1_000) {
            let ids = serde_json::Value::from(chunk.iter().map(|r| r.0).collect::<Vec<_>>());
            let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
                .bind(ids.to_string())
                .fetch_all(&self.pool)
                .await?;
            out.extend(rows.into_iter().map(|(r, s)| (RoomId(r), Seq(s))));
        }
        Ok(out)
    }

    /// Up to `limit` messages with `seq > after`, ascending.
    pub async fn messages_after(&self, room: RoomId, after: Seq, limit: i64) -> AppResult<Page> {
        let mut rows: Vec<MessageRow> = sqlx::query_as(concat!(
            message_columns!(),
            "from messages m where m.room_id = $1 and m.seq > $2 order by m.seq limit $3"
        ))
        .bind(room.0)
        .bind(after.0)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        Ok(Page {
            messages: rows.into_iter().map(Into::into).collect(),
            has_more,
        })
    }

    /// Up to `limit` messages with `floor < seq < before` (the newest of them), ascending.
    pub async fn messages_before(
        &self,
        room: RoomId,
        before: Seq,
        limit: i64,
        floor: Seq,
    ) -> AppResult<Page> {
        let mut rows: Vec<MessageRow> = sqlx::query_as(concat!(
            message_columns!(),
            "from messages m where m.room_id = $1 and m.seq < $2 and m.seq > $4
             order by m.seq desc limit $3"
        ))
        .bind(room.0)
        .bind(before.0)
        .bind(limit + 1)
        .bind(floor.0)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        rows.reverse();
        Ok(Page {
            messages: rows.into_iter().map(Into::into).collect(),
            has_more,
        })
    }

    pub async fn message_by_seq(&self, room: RoomId, seq: Seq) -> AppResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(concat!(
            message_columns!(),
            "from messages m where m.room_id = $1 and m.seq = $2"
        ))
        .bind(room.0)
        .bind(seq.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Moves a member's delivered cursor forward (never back, never past the stream's end).
    /// Returns the new `(delivered_seq, read_seq)` when it moved.
    pub async fn advance_delivered(
        &self,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> AppResult<Option<(Seq, Seq)>> {
        self.advance_cursor(
            "update memberships
             set delivered_seq = (select case when r.last_seq < $1 then r.last_seq else $1 end
                                  from rooms r where r.id = $2)
             where room_id = $2 and user_id = $3 and delivered_seq < $1
               and delivered_seq < (select last_seq from rooms where id = $2)
             returning delivered_seq, read_seq",
            room,
            user,
            seq,
        )
        .await
    }

    /// Moves a member's read cursor forward; reading implies delivery.
    /// Returns the new `(delivered_seq, read_seq)` when it moved.
    pub async fn advance_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> AppResult<Option<(Seq, Seq)>> {
        self.advance_cursor(
            "update memberships
             set read_seq = (select case when r.last_seq < $1 then r.last_seq else $1 end
                             from rooms r where r.id = $2),
                 delivered_seq = (select case when delivered_seq > x.s then delivered_seq else x.s end
                                  from (select case when r.last_seq < $1 then r.last_seq else $1 end as s
                                        from rooms r where r.id = $2) x)
             where room_id = $2 and user_id = $3 and read_seq < $1
               and read_seq < (select last_seq from rooms where id = $2)
             returning delivered_seq, read_seq",
            room,
            user,
            seq,
        )
        .await
    }

    /// Runs one of the cursor updates above (`$1` seq, `$2` room, `$3` user).
    async fn advance_cursor(
        &self,
        sql: &'static str,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> AppResult<Option<(Seq, Seq)>> {
        let mut w = self.begin_write().await?;
        let row: Option<(i64, i64)> = sqlx::query_as(sql)
            .bind(seq.0)
            .bind(room.0)
            .bind(user.0)
            .fetch_optional(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(row.map(|(d, r)| (Seq(d), Seq(r))))
    }
}
