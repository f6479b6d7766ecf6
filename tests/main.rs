//! The one integration test binary (see `Cargo.toml`): modules per area.

mod architecture;
mod cli_offline;
mod client;
mod convert;
mod emulator;
mod examples;
mod export;
mod gitops;
mod hostile;
mod live;
mod migrate;
mod password;
mod properties;
mod prune;
mod resume;
mod secrets;
mod shell;
mod support;
