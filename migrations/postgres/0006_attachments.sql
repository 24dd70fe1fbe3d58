-- Attachments: files uploaded by users, carried by messages, profiles and rooms. Keep in step
-- with migrations/sqlite/0006_attachments.sql.
--
-- The bytes live in the media store (local disk or S3), content-addressed: an object is named
-- by the SHA-256 of its bytes, so the same file uploaded twice is stored once. A row here is
-- one upload; rows share an object when their sha256 is the same, and an object is removed
-- when no row names it any more.
create table attachments (
    id            bigserial primary key,
    uploader_id   bigint  not null references users (id) on delete cascade,
    sha256        text    not null,
    -- The small version of an image, itself an object of the media store.
    thumb_sha256  text,
    -- What the uploader called it: metadata, never a path.
    name          text    not null,
    -- Sniffed from the bytes.
    content_type  text    not null,
    size          bigint  not null,
    width         bigint,
    height        bigint,
    blurhash      text,
    created_at    bigint  not null,
    -- The message carrying it, once sent (an attachment travels with one message).
    room_id       bigint  references rooms (id) on delete cascade,
    seq           bigint,
    -- 'avatar' or 'room_picture' once used as a profile or room picture; room_id then names
    -- the room of a room picture.
    used_as       text    check (used_as in ('avatar', 'room_picture'))
);
create index attachments_sha256 on attachments (sha256);
create index attachments_thumb on attachments (thumb_sha256);
create index attachments_uploader on attachments (uploader_id, sha256);
create index attachments_message on attachments (room_id, seq);
-- The sweeper's: uploads no message, profile or room took.
create index attachments_unused on attachments (created_at) where room_id is null and used_as is null;

-- Snapshots of the attachments' descriptions (JSON), so that every path that reads a message,
-- a user or a room has them without a join.
alter table messages add column attachments text;
alter table users add column avatar text;
alter table rooms add column picture text;
