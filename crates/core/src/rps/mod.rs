//! Yealink RPS in the workflow: the outbox (which account, what to enqueue when, the history)
//! and what RPS holds for our server entry.

pub mod outbox;
pub mod registration;
pub mod worker;
