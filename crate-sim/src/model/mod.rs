//! Reference state machines written from the agreed design (issue 13): they test the
//! simulator itself, and stand in for a real core the simulation cannot reach.

mod client;
mod server;

pub use client::ModelClient;
pub use server::ModelServer;
