-- Accounts banned by an operator (`missive user ban`): when, in milliseconds; null = not banned.
-- A banned user cannot log in or refresh; their access tokens were revoked by the ban.
alter table users add column banned_at bigint;
