//! Ravand (روند, "process"): a workflow engine for municipal processes.
//!
//! Analysts write processes as YAML ([`definition`]); [`validate`] checks them
//! and explains every problem at its line; [`model`] is the compiled,
//! immutable process that everything else reads; [`measure`] counts steps and
//! paths; [`render`] draws the graph.
//!
//! See `ARCHITECTURE.md` at the repository root for the map and invariants.

pub mod definition;
pub mod diagnostic;
pub mod engine;
pub mod measure;
pub mod model;
pub mod render;
pub mod runtime;
#[cfg(feature = "http")]
pub mod service;
pub mod sim;
pub mod store;
pub mod testkit;
pub mod time;
pub mod validate;
