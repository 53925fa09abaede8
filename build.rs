//! Rebuild when a migration is added: `sqlx::migrate!` embeds the `migrations/` folders, and
//! on stable Rust a proc macro cannot tell cargo which files it read.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
