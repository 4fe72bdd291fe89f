//! Thin adapters from the real state machines to the simulator's traits.

mod client_core;

pub use client_core::CoreClient;
