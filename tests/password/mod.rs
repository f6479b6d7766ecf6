//! Passwords: the hash reader on real exports of other platforms, verification, the
//! emulator's password check and `poolsync check-logins`.

mod canaries;
mod cases;
pub(crate) mod check_logins;
mod emulator;
mod real;
mod verify;
