//! The stated minimum Rust versions stay true as dependencies move: every
//! workspace crate's `rust-version` is at least the `rust_version` of every
//! locked package it builds with (normal and build dependencies, on this
//! platform), and the version the README names for its commands — the tests,
//! the CLI, the loom models — is exactly the highest `rust_version` of
//! everything they build (dev-dependencies and the `cfg(loom)` ones
//! included), so that it is the real minimum.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

type Version = (u64, u64, u64);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn parse_version(v: &str) -> Version {
    let mut parts = v.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|_| panic!("not a Rust version: {v:?}"))
    });
    let major = parts.next().unwrap();
    (major, parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn show((a, b, c): Version) -> String {
    if c == 0 {
        format!("{a}.{b}")
    } else {
        format!("{a}.{b}.{c}")
    }
}

fn host_triple() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host")
}

/// The resolved dependency graph as cargo builds it here (`--cfg loom` when
/// `loom`: the loom models' extra dependencies).
struct Graph {
    rust_version: HashMap<String, Option<Version>>,
    name: HashMap<String, String>,
    /// package id → (dependency id, kinds: "normal", "build", "dev")
    deps: HashMap<String, Vec<(String, BTreeSet<String>)>>,
    members: Vec<String>,
}

impl Graph {
    fn load(loom: bool) -> Graph {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root())
            .args(["metadata", "--format-version", "1", "--locked"])
            .args(["--filter-platform", &host_triple()])
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if loom {
            cmd.env("RUSTFLAGS", "--cfg loom");
        } else {
            cmd.env_remove("RUSTFLAGS");
        }
        let out = cmd.output().expect("cannot run cargo metadata");
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut g = Graph {
            rust_version: HashMap::new(),
            name: HashMap::new(),
            deps: HashMap::new(),
            members: m["workspace_members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
        };
        for p in m["packages"].as_array().unwrap() {
            let id = p["id"].as_str().unwrap().to_string();
            let name = format!("{} {}", p["name"].as_str().unwrap(), p["version"]);
            g.rust_version
                .insert(id.clone(), p["rust_version"].as_str().map(parse_version));
            g.name.insert(id, name.replace('"', ""));
        }
        for n in m["resolve"]["nodes"].as_array().unwrap() {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let kinds = d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k["kind"].as_str().unwrap_or("normal").to_string())
                        .collect();
                    (d["pkg"].as_str().unwrap().to_string(), kinds)
                })
                .collect();
            g.deps.insert(n["id"].as_str().unwrap().to_string(), deps);
        }
        g
    }

    /// Everything `member` builds with: its normal and build dependencies
    /// (and dev-dependencies when `dev`), then theirs, transitively.
    fn closure(&self, member: &str, dev: bool) -> BTreeSet<String> {
        let wanted = |kinds: &BTreeSet<String>, top: bool| {
            kinds.contains("normal")
                || kinds.contains("build")
                || (top && dev && kinds.contains("dev"))
        };
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = self.deps[member]
            .iter()
            .filter(|(_, k)| wanted(k, true))
            .map(|(id, _)| id.clone())
            .collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id.clone()) {
                stack.extend(
                    self.deps[&id]
                        .iter()
                        .filter(|(_, k)| wanted(k, false))
                        .map(|(d, _)| d.clone()),
                );
            }
        }
        seen
    }

    /// The highest `rust_version` in `ids`, with the package that sets it.
    fn highest(&self, ids: &BTreeSet<String>) -> Option<(Version, String)> {
        ids.iter()
            .filter_map(|id| self.rust_version[id].map(|v| (v, self.name[id].clone())))
            .max()
    }
}

/// The version in the README's "Rust toolchain (stable, X or newer)".
fn readme_minimum() -> Version {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find("(stable, ")
        .expect("the README states the Rust version: \"(stable, X or newer\"");
    let rest = &readme[at + "(stable, ".len()..];
    let v = rest.split(' ').next().unwrap();
    assert!(
        rest[v.len()..].starts_with(" or newer"),
        "README: {:?}",
        &rest[..40]
    );
    parse_version(v)
}

#[test]
fn declared_rust_versions_cover_every_locked_dependency() {
    let g = Graph::load(false);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for m in &g.members {
        let declared =
            g.rust_version[m].unwrap_or_else(|| panic!("{} declares no rust-version", g.name[m]));
        if let Some((need, by)) = g.highest(&g.closure(m, false)) {
            assert!(
                declared >= need,
                "{} declares rust-version {} but builds with {by}, which needs {}",
                g.name[m],
                show(declared),
                show(need)
            );
        }
        let crate_name = g.name[m].split(' ').next().unwrap().to_string();
        assert!(
            readme.contains(&format!("`{crate_name}` {}", show(declared))),
            "the README does not state {crate_name}'s minimum Rust version as \"`{crate_name}` {}\"",
            show(declared)
        );
    }
}

#[test]
fn readme_states_the_real_minimum_for_its_commands() {
    let mut need: Option<(Version, String)> = None;
    for loom in [false, true] {
        let g = Graph::load(loom);
        for m in &g.members {
            let mut ids = g.closure(m, true);
            ids.insert(m.clone());
            need = need.max(g.highest(&ids));
        }
    }
    let (need, by) = need.expect("some package states a rust_version");
    let stated = readme_minimum();
    assert_eq!(
        show(stated),
        show(need),
        "the README says Rust {} or newer; the tests, CLI and loom models need {} ({by})",
        show(stated),
        show(need)
    );
}
