//! Ravand's integration tests: one binary, one module per area.

mod calendars;
mod cli;
mod crash;
mod definitions;
mod diagnostics;
mod faults;
mod gen;
mod helpers;
mod hostile;
mod http;
#[path = "../support/large.rs"]
mod large;
mod measure;
mod nodes;
mod pgrestart;
mod properties;
mod reads;
mod runtime_props;
mod scenarios;
mod schema;
mod sim;
mod soundness;
mod store;
mod trust;
mod upgrade;
mod walkthrough;
