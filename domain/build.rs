//! The migrations are embedded in the crate (`store::migrate`): a migration added or
//! changed rebuilds it.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
