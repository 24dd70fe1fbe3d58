//! Accounts' secrets: password hashing (`password`), JWT access and refresh tokens (`tokens`)
//! and the failed-login throttle (`throttle`).

pub mod password;
pub mod throttle;
pub mod tokens;
