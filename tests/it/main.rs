//! Ravand's integration tests: one binary, one module per area.

#[macro_use]
mod both;
mod calendars;
mod cli;
mod compare_page;
mod console;
mod crash;
mod dashboard;
mod definitions;
mod desk;
mod diagnostics;
mod editors;
mod eventlog;
mod faults;
mod gen;
mod helpers;
mod hostile;
mod http;
mod instances;
mod jobs;
#[path = "../support/large.rs"]
mod large;
mod measure;
mod nodes;
mod patterns;
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
mod webhooks;
