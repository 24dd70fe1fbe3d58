-- Channels an operator closed (the console's Rooms tab): when, or null while open. A closed
-- channel keeps its history for its followers but takes no new posts, edits, reactions or
-- followers, and leaves the directory. Keep in step with migrations/postgres/0007_closed_rooms.sql.
alter table rooms add column closed_at integer;
