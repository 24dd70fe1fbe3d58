//! HTTP integration tests: the real server, a fresh database per test, on SQLite and Postgres.
//! Socket.IO behaviour is tested with the official JavaScript client in `tests/js/interop`.

mod accounts;
mod helpers;
mod platform;
mod rooms;
