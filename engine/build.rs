//! Rebuild when a migration changes: `sqlx::migrate!` embeds the folder at
//! compile time, and cargo does not see files it reads (sqlx's advice).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
