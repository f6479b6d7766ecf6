//! The single integration-test binary: `cargo test --test main`.

mod common;
mod emulator;
