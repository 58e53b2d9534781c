//! Ravand's pure core (روند, "process"): everything about a process that
//! needs no database, no clock of its own and no network.
//!
//! Analysts write processes as YAML ([`definition`]); [`validate`] checks them
//! and explains every problem at its line; [`model`] is the compiled,
//! immutable process that everything else reads; [`time`] is working time on
//! the municipal calendars; [`runtime`] is the case state machine (a pure
//! function of process, state, command and `now`); [`sim`] runs thousands of
//! cases on it; [`measure`] counts steps and paths; [`render`] draws the
//! graph.
//!
//! This crate's `Cargo.toml` is the proof of its invariant: no database
//! driver, no async runtime, no HTTP, no logging. The engine that persists
//! cases and serves them is `ravand-engine`, built on this crate. See
//! `ARCHITECTURE.md` at the repository root for the map and invariants.

#![warn(missing_docs)]

#[allow(missing_docs)] // its types document the YAML language through the JSON Schema; see ARCHITECTURE.md
pub mod definition;
pub mod diagnostic;
pub mod eventlog;
pub mod measure;
pub mod model;
pub mod render;
pub mod runtime;
pub mod sim;
pub mod time;
pub mod validate;

pub use model::Process;
pub use runtime::{Command, Data, Event, Instance, Status};
pub use sim::{simulate, Scenario};
pub use time::{Clock, Timestamp, WorkCalendar};
pub use validate::{validate_source, Report};
