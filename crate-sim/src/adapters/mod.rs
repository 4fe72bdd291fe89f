//! Thin adapters from the real state machines to the simulator's traits.

mod client_core;
mod server_core;

pub use client_core::CoreClient;
pub use server_core::CoreServer;
