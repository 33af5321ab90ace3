// refinery's embed_migrations! reads migrations/ at compile time, but cargo does not know
// that: without this, a new migration file leaves a stale `qlink migrate` behind.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
