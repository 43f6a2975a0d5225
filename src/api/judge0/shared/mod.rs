//! The shared store of Judge0's asynchronous API (`--store redis://…`):
//! the queue and the results in one Redis that every instance given the
//! same URL uses. Its layout, under one prefix (`whipcode:judge0:`):
//!
//! - `queue`: a Stream, one entry per accepted submission (`token`, and
//!   `job`: what an instance needs to run it); the consumer group
//!   `workers` hands each entry to one instance's worker. An entry leaves
//!   the stream when its result is written, so its length is what waits or
//!   runs.
//! - `sub:{token}`: the submission's [`View`] as JSON; without a TTL while
//!   pending, with the keep time as its TTL once final.
//! - `held` (token → bytes), `bytes`, `finished` (token → when, ms) and
//!   `finished-bytes`: what the bounds are checked against.
//!
//! Admission ([`ADMIT`]) and a final result ([`FINISH`]) are Lua scripts,
//! so each is atomic whichever instance runs it: the bounds hold across
//! instances, and the first final result of a token wins.

mod clock;
mod connection;
mod instance;
mod job;
mod records;
mod service;
mod take;
mod unwritten;
mod worker;

pub use connection::{Keys, Shared, SharedBounds, ADMIT, FINISH, GROUP};
pub use instance::StoreSettings;
pub use job::Job;
pub use records::{Depth, Entry};
pub use service::{SharedQueue, StoreHealth, PREFIX};
pub use take::Taken;
