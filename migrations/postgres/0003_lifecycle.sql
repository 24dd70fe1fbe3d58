-- Message lifecycle: edits, deletions, reactions and forwards are entries of the room's stream
-- (kinds 'edit', 'delete', 'reaction', pointing at the message they change with target_seq);
-- the message they change keeps its current state (edited_at, deleted_at, reactions) so history
-- shows it as it is now. Keep in step with migrations/sqlite/0003_lifecycle.sql.

alter table messages drop constraint messages_kind_check;
alter table messages add constraint messages_kind_check
    check (kind in ('text', 'system', 'edit', 'delete', 'reaction'));
-- The message an edit, delete or reaction entry changes.
alter table messages add column target_seq bigint;
alter table messages add column edited_at bigint;
alter table messages add column deleted_at bigint;
alter table messages add column deleted_by bigint references users (id);
alter table messages add column forwarded integer not null default 0;
-- The seq of the last change entry applied to this message.
alter table messages add column changed_seq bigint;
-- The body's words, lower-cased and space-separated (Rust's `domain::search_words`): what
-- full-text search indexes on both databases, so both find the same messages.
alter table messages add column search_text text;
update messages set search_text = trim(regexp_replace(lower(body), '[^[:alnum:]]+', ' ', 'g')) where kind = 'text';
create index messages_search on messages using gin (to_tsvector('simple', coalesce(search_text, '')));

-- The newest message people see in the room list (change entries are not messages).
alter table rooms add column last_message_seq bigint not null default 0;
update rooms set last_message_seq = last_seq;

-- One reaction per member per message, as in WhatsApp.
create table reactions (
    room_id     bigint  not null references rooms (id) on delete cascade,
    seq         bigint  not null,
    user_id     bigint  not null references users (id) on delete cascade,
    emoji       text    not null,
    created_at  bigint  not null,
    primary key (room_id, seq, user_id)
);

-- "Delete for me": per user, numbered so a device can ask for what it has not seen.
create table hidden_messages (
    id          bigserial primary key,
    user_id     bigint  not null references users (id) on delete cascade,
    room_id     bigint  not null references rooms (id) on delete cascade,
    seq         bigint  not null,
    created_at  bigint  not null,
    unique (user_id, room_id, seq)
);
