//! Tests of the network client against small scripted servers on `127.0.0.1:0`.

mod batches;
mod deletes;
mod export;
mod import;
mod logs;
pub(crate) mod server;
mod settings;
mod token;
mod verify;
