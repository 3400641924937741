//! The installed C library: what `make install` puts where (the versioned
//! shared library with its SONAME and links, the static library, the headers
//! under include/cport/win32, cport.pc), that `make uninstall` takes it all
//! away again, that pkg-config's flags build programs against it (shared and
//! `--static`), that the headers' version macros are the crate's version, and
//! that the shared library exports only Win32 names and `cport_` names.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MAJOR: &str = env!("CARGO_PKG_VERSION_MAJOR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every file and link under `dir`, as paths relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn tool(name: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(name)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} (binutils): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} {}: {out:?}",
        file.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

fn soname(lib: &Path) -> Option<String> {
    tool("readelf", &["-d"], lib).lines().find_map(|l| {
        let (_, rest) = l.split_once("Library soname: [")?;
        Some(rest.trim_end_matches(']').to_string())
    })
}

fn needed(exe: &Path) -> Vec<String> {
    tool("readelf", &["-d"], exe)
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("Shared library: [")?;
            Some(rest.trim_end_matches(']').to_string())
        })
        .collect()
}

/// `make install DESTDIR=stage PREFIX=/opt/cport-test` puts exactly the
/// library, its links, the headers (under include/cport/win32, none in
/// include/ itself) and cport.pc (naming the PREFIX, not the staging
/// directory) in place; `make uninstall` with the same variables removes
/// every one of them.
#[test]
fn install_layout_with_destdir_then_uninstall() {
    common::libcport();
    let stage = common::out_dir().join("install-stage");
    let _ = fs::remove_dir_all(&stage);
    let prefix = Path::new("/opt/cport-test");
    common::make("install", prefix, Some(&stage));
    let root = stage.join("opt/cport-test");
    let real = format!("libcport.so.{VERSION}");
    let so_major = format!("libcport.so.{MAJOR}");

    let mut want: BTreeSet<String> = [
        format!("lib/{real}"),
        format!("lib/{so_major}"),
        "lib/libcport.so".to_string(),
        "lib/libcport.a".to_string(),
        "lib/pkgconfig/cport.pc".to_string(),
    ]
    .into();
    let headers: Vec<String> = fs::read_dir(common::root().join("include/win32"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".h"))
        .collect();
    assert!(headers.iter().any(|h| h == "windows.h"), "{headers:?}");
    for h in &headers {
        want.insert(format!("include/cport/win32/{h}"));
    }
    assert_eq!(tree(&stage), tree_under(&want, "opt/cport-test"));

    let lib = root.join("lib");
    assert!(fs::symlink_metadata(lib.join(&real)).unwrap().is_file());
    assert_eq!(
        fs::read_link(lib.join(&so_major)).unwrap(),
        Path::new(&real)
    );
    assert_eq!(
        fs::read_link(lib.join("libcport.so")).unwrap(),
        Path::new(&so_major)
    );
    assert_eq!(soname(&lib.join(&real)).as_deref(), Some(so_major.as_str()));

    let pc = fs::read_to_string(lib.join("pkgconfig/cport.pc")).unwrap();
    assert!(pc.contains("prefix=/opt/cport-test\n"), "{pc}");
    assert!(pc.contains(&format!("Version: {VERSION}\n")), "{pc}");
    assert!(!pc.contains(stage.to_str().unwrap()), "{pc}");

    common::make("uninstall", prefix, Some(&stage));
    assert_eq!(tree(&stage), BTreeSet::new(), "left behind by uninstall");
}

fn tree_under(files: &BTreeSet<String>, dir: &str) -> BTreeSet<String> {
    files.iter().map(|f| format!("{dir}/{f}")).collect()
}

/// `pkg-config --cflags --libs cport` names the header folder and
/// `-lcport -lpthread`; a program built with nothing else runs against the
/// installed shared library, which it finds by its SONAME.
#[test]
fn pkg_config_flags_build_a_program_against_the_shared_library() {
    let prefix = common::installed_prefix();
    let flags = common::pkg_config(prefix, &["--cflags", "--libs"]);
    let include = format!("-I{}", prefix.join("include/cport/win32").display());
    assert!(flags.contains(&include), "{flags:?}");
    assert!(flags.contains(&"-lcport".to_string()), "{flags:?}");
    assert!(flags.contains(&"-lpthread".to_string()), "{flags:?}");

    let exe = common::out_dir().join("port_pkg_config");
    compile(&common::root().join("ffi/tests/c/port.c"), &exe, &flags);
    assert!(
        needed(&exe).contains(&format!("libcport.so.{MAJOR}")),
        "{:?}",
        needed(&exe)
    );
    run_ok(&exe, "port: ok", Some(&prefix.join("lib")));
}

/// `pkg-config --static --libs cport` adds what the static library needs:
/// with the archive in place of `-lcport`, the program links and runs without
/// libcport.so.
#[test]
fn pkg_config_static_flags_link_the_static_library() {
    let prefix = common::installed_prefix();
    let shared = common::pkg_config(prefix, &["--libs"]);
    let flags = common::pkg_config(prefix, &["--static", "--libs"]);
    assert!(flags.len() > shared.len(), "{flags:?} vs {shared:?}");
    let archive = prefix.join("lib/libcport.a").display().to_string();
    let mut args = common::pkg_config(prefix, &["--cflags"]);
    args.extend(
        flags
            .into_iter()
            .map(|f| if f == "-lcport" { archive.clone() } else { f }),
    );
    let exe = common::out_dir().join("port_pkg_config_static");
    compile(&common::root().join("ffi/tests/c/port.c"), &exe, &args);
    assert!(
        !needed(&exe).iter().any(|n| n.starts_with("libcport")),
        "{:?}",
        needed(&exe)
    );
    run_ok(&exe, "port: ok", None);
}

/// CPORT_VERSION_MAJOR/MINOR/PATCH in the installed headers are the
/// version of the library crate (ffi/Cargo.toml).
#[test]
fn version_macros_are_the_crate_version() {
    let prefix = common::installed_prefix();
    let src = common::out_dir().join("version.c");
    fs::write(
        &src,
        "#include <windows.h>\n#include <stdio.h>\n\
         int main(void) { printf(\"%d.%d.%d\\n\", CPORT_VERSION_MAJOR, \
         CPORT_VERSION_MINOR, CPORT_VERSION_PATCH); return 0; }\n",
    )
    .unwrap();
    let exe = common::out_dir().join("version");
    compile(
        &src,
        &exe,
        &common::pkg_config(prefix, &["--cflags", "--libs"]),
    );
    run_ok(&exe, &format!("{VERSION}\n"), Some(&prefix.join("lib")));
}

/// The shared library's dynamic symbol table defines only names the headers
/// declare as Win32 functions (`WINAPI`/`WSAAPI`/`PASCAL`), `cport_` names,
/// and the C library's blocking calls that libcport wraps so that they count
/// as blocking sections (ffi/src/port/libc_waits.rs, ffi/README.md): no
/// internal helper leaks into every program's namespace.
#[test]
fn exports_only_win32_and_cport_names() {
    let prefix = common::installed_prefix();
    let lib = prefix.join(format!("lib/libcport.so.{VERSION}"));
    let mut headers = String::new();
    for e in fs::read_dir(prefix.join("include/cport/win32")).unwrap() {
        headers += &fs::read_to_string(e.unwrap().path()).unwrap();
    }
    let declared = win32_declarations(&headers);
    let wrapped = libc_wrappers();
    assert!(wrapped.contains("pthread_join"), "{wrapped:?}");
    assert!(
        declared.contains("GetQueuedCompletionStatus"),
        "{declared:?}"
    );
    let exported: Vec<String> = tool("nm", &["-D", "--defined-only"], &lib)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    assert!(exported.len() > 50, "{exported:?}");
    let stray: Vec<&String> = exported
        .iter()
        .filter(|s| {
            !s.starts_with("cport_")
                && !declared.contains(s.as_str())
                && !wrapped.contains(s.as_str())
        })
        .collect();
    assert!(
        stray.is_empty(),
        "exported but not Win32 or cport_: {stray:?}"
    );
}

/// The C library functions libcport exports as wrappers: the `#[no_mangle]`
/// functions of ffi/src/port/libc_waits.rs.
fn libc_wrappers() -> BTreeSet<String> {
    let src =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/port/libc_waits.rs"))
            .unwrap();
    let mut out = BTreeSet::new();
    for (at, _) in src.match_indices("#[no_mangle]") {
        let rest = &src[at..];
        let Some(fn_at) = rest.find(" fn ") else {
            continue;
        };
        let name: String = rest[fn_at + 4..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.insert(name);
    }
    out
}

/// Names declared as `<calling convention> [*]name(` in header text.
fn win32_declarations(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for conv in ["WINAPI", "WSAAPI", "PASCAL"] {
        for (at, _) in text.match_indices(conv) {
            let rest = text[at + conv.len()..].trim_start_matches([' ', '*']);
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].trim_start().starts_with('(') {
                out.insert(name);
            }
        }
    }
    out
}

fn compile(src: &Path, exe: &PathBuf, flags: &[String]) {
    let out = Command::new("cc")
        .args(["-Wall", "-Wextra", "-Werror", "-O1"])
        .arg(src)
        .arg("-o")
        .arg(exe)
        .args(flags)
        .output()
        .expect("cannot run cc");
    assert!(
        out.status.success(),
        "cc {} {flags:?}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_ok(exe: &Path, want: &str, lib_dir: Option<&Path>) {
    let mut cmd = Command::new(exe);
    match lib_dir {
        Some(d) => cmd.env("LD_LIBRARY_PATH", d),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
    let out = common::run_command(cmd, Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(want),
        "{}: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
