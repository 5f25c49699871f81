//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the migrations
//! folders at compile time and cannot tell cargo to watch them on stable Rust.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
