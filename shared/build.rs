// `sqlx::migrate!` embeds the migrations at compile time, but on stable Rust cargo does
// not know the folder is an input: without this, a new migration file leaves the
// binaries with the old list until something else in the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
