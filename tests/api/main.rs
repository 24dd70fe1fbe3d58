//! HTTP integration tests: the real server, a fresh database per test, on SQLite and Postgres.
//! Socket.IO behaviour is tested with the official JavaScript client in `tests/js/interop`.
//!
//! The harness is libtest-mimic (same flags and output as cargo's own) because it can decide at
//! run time that a test is *ignored*: a Postgres run without a reachable Postgres is reported as
//! ignored with a loud `*** SKIPPED … ***` line on stderr, or fails under `CI=true`, instead of
//! passing without having run. `cargo test --test api -- postgres::` runs only the Postgres half.

mod accounts;
mod attachments;
mod helpers;
mod operator;
mod platform;
mod privacy;
mod rooms;
mod upgrade;

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = Vec::new();
    trials.extend(helpers::trials("accounts", &accounts::tests()));
    trials.extend(helpers::trials("operator", &operator::tests()));
    trials.extend(attachments::trials());
    trials.extend(helpers::trials("platform", &platform::tests()));
    trials.extend(helpers::trials("privacy", &privacy::tests()));
    trials.extend(helpers::trials("rooms", &rooms::tests()));
    trials.extend(helpers::trials("upgrade", &upgrade::tests()));
    libtest_mimic::run(&args, trials).exit_code()
}
