-- Message lifecycle: edits, deletions, reactions and forwards are entries of the room's stream
-- (kinds 'edit', 'delete', 'reaction', pointing at the message they change with target_seq);
-- the message they change keeps its current state (edited_at, deleted_at, reactions) so history
-- shows it as it is now. Keep in step with migrations/postgres/0003_lifecycle.sql.

-- SQLite cannot change a CHECK constraint in place: the table is rebuilt with the new kinds.
create table messages_next (
    id          integer primary key autoincrement,
    room_id     integer not null references rooms (id) on delete cascade,
    seq         integer not null,
    sender_id   integer not null references users (id),
    kind        text    not null check (kind in ('text', 'system', 'edit', 'delete', 'reaction')),
    -- Erased (empty) when the message is deleted for everyone.
    body        text    not null,
    client_id   text,
    reply_to    integer,
    created_at  integer not null,
    -- The message an edit, delete or reaction entry changes.
    target_seq  integer,
    edited_at   integer,
    deleted_at  integer,
    deleted_by  integer references users (id),
    forwarded   integer not null default 0,
    -- The seq of the last change entry applied to this message.
    changed_seq integer,
    -- The body's words, lower-cased and space-separated (Rust's `domain::search_words`): what
    -- full-text search indexes on both databases, so both find the same messages.
    search_text text,
    unique (room_id, seq),
    unique (sender_id, client_id)
);
insert into messages_next (id, room_id, seq, sender_id, kind, body, client_id, reply_to, created_at, search_text)
    select id, room_id, seq, sender_id, kind, body, client_id, reply_to, created_at,
           case when kind = 'text' then lower(body) end from messages;
drop table messages;
alter table messages_next rename to messages;

-- The newest message people see in the room list (change entries are not messages).
alter table rooms add column last_message_seq integer not null default 0;
update rooms set last_message_seq = last_seq;

-- One reaction per member per message, as in WhatsApp.
create table reactions (
    room_id     integer not null references rooms (id) on delete cascade,
    seq         integer not null,
    user_id     integer not null references users (id) on delete cascade,
    emoji       text    not null,
    created_at  integer not null,
    primary key (room_id, seq, user_id)
);

-- "Delete for me": per user, numbered so a device can ask for what it has not seen.
create table hidden_messages (
    id          integer primary key autoincrement,
    user_id     integer not null references users (id) on delete cascade,
    room_id     integer not null references rooms (id) on delete cascade,
    seq         integer not null,
    created_at  integer not null,
    unique (user_id, room_id, seq)
);

-- Full-text search over search_text, kept in step by triggers.
create virtual table messages_fts using fts5 (search_text, content = 'messages', content_rowid = 'id');
insert into messages_fts (rowid, search_text)
    select id, search_text from messages where search_text is not null;
create trigger messages_fts_insert after insert on messages when new.search_text is not null begin
    insert into messages_fts (rowid, search_text) values (new.id, new.search_text);
end;
create trigger messages_fts_delete after delete on messages when old.search_text is not null begin
    insert into messages_fts (messages_fts, rowid, search_text) values ('delete', old.id, old.search_text);
end;
create trigger messages_fts_update after update of search_text on messages begin
    insert into messages_fts (messages_fts, rowid, search_text)
        select 'delete', old.id, old.search_text where old.search_text is not null;
    insert into messages_fts (rowid, search_text)
        select new.id, new.search_text where new.search_text is not null;
end;
