//! Ravand (روند, "process"): a workflow engine for municipal processes.
//!
//! This crate persists cases in SQLite or PostgreSQL ([`Engine`]), fires their
//! timers, correlates their messages, checks who may do what, and serves it
//! all over HTTP (`service`, with the `http` feature). Everything about a
//! process that needs no I/O — the language, the validator, working time, the
//! pure runtime and the simulator — is the `ravand-core` crate, re-exported
//! here module by module so an embedder needs one dependency.
//!
//! The embedder's API is at the top level: [`Engine`], [`EngineError`],
//! [`Command`] (what a person or a system may ask of a case), [`Data`],
//! [`CaseId`], [`Clock`]. The store and the commands the engine sends itself
//! (timers firing, messages delivered, children finishing) are not public:
//! nothing outside the engine writes a case's rows.
//!
//! See `ARCHITECTURE.md` at the repository root for the map and invariants.

#![warn(missing_docs)]

pub use ravand_core::{definition, diagnostic, eventlog, measure, model, render, runtime, sim, time, validate};

pub mod engine;
#[cfg(feature = "http")]
pub mod service;
mod store;

pub use engine::{Actor, CaseId, DefinitionKey, Engine, EngineError, Grants, Started};
pub use runtime::{CaseView, Command, Data, Status, TaskView};
pub use time::{Clock, SystemClock, Timestamp, VirtualClock};
