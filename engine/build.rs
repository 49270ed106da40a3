//! Builds the one piece of C the engine needs: long double arithmetic for INCRBYFLOAT.
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .opt_level(2)
        .compile("tradestate_longdouble");
}
