//! Link settings of the shared library: `libcport.so` gets the SONAME
//! `libcport.so.<major>` (what programs linked against it record and look for
//! at run time), and the build tree gets the matching `libcport.so.<major>`
//! link beside `libcport.so`, so that a program linked with
//! `-L target/<profile> -lcport` also runs with `LD_LIBRARY_PATH` pointing
//! there. `make install` installs the library under its full version with
//! both links (see the Makefile).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    let soname = format!("libcport.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");

    // OUT_DIR is <target-dir>[/<triple>]/<profile>/build/cport-ffi-<hash>/out:
    // three levels up is where cargo puts libcport.so.
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let Some(profile_dir) = Path::new(&out_dir).ancestors().nth(3) else {
        return;
    };
    let link = profile_dir.join(&soname);
    if std::fs::symlink_metadata(&link).is_err() {
        // A relative link: it stays right when the target directory moves.
        if let Err(e) = std::os::unix::fs::symlink("libcport.so", &link) {
            println!(
                "cargo:warning=could not create {}: {e} (programs linked against the build tree need LD_LIBRARY_PATH to find {soname})",
                link.display()
            );
        }
    }
}
