//! The module structure: no import circle between the files of any crate; in the server the
//! layers point only down (`src/lib.rs` names them); the core crate (`crates/core`, the lowest
//! layer, which the compiler keeps from importing the server) depends on no HTTP server, HTML,
//! AppWebsocket or CLI crate. Reads each file's `crate::` and `super::` paths (comments and
//! `#[cfg(test)]` code left out), maps them to files, and fails naming the files and imports
//! that break a rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The server's layers above the core crate, lowest first; layers of the same rank must not
/// import each other.
const LAYERS: &[(&str, u8)] = &[
    ("web", 1),
    ("phone", 2),
    ("admin", 2),
    ("app_service", 2),
    ("runtime", 3),
];

type ModPath = Vec<String>;

struct Crate {
    /// Module path -> file (relative to `src`).
    files: BTreeMap<ModPath, String>,
    /// File -> files it imports from (the crate root left out: it is the crate's face).
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_path(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code without comments and without what follows the first `#[cfg(test)]`.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths of a use tree that starts at `s` (just after `crate::` or `super::`), each as its
/// segments; stops at the end of the tree.
fn use_tree(s: &str, prefix: &[String], out: &mut Vec<ModPath>) -> usize {
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut path = prefix.to_vec();
    loop {
        while i < bytes.len() && bytes[i].is_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == '{' {
            i += 1;
            loop {
                let rest: String = bytes[i..].iter().collect();
                i += use_tree(&rest, &path, out);
                while i < bytes.len() && (bytes[i].is_whitespace() || bytes[i] == ',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == '}' {
                    return i + 1;
                }
            }
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i == start {
            out.push(path);
            return i;
        }
        path.push(bytes[start..i].iter().collect());
        if bytes[i..].starts_with(&[':', ':']) {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

fn paths_after(code: &str, keyword: &str) -> Vec<ModPath> {
    let mut out = Vec::new();
    let needle = format!("{keyword}::");
    let mut from = 0;
    while let Some(at) = code[from..].find(&needle) {
        let start = from + at;
        from = start + needle.len();
        if code[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        use_tree(&code[from..], &[], &mut out);
    }
    out
}

fn read_crate(name: &str) -> Option<Crate> {
    let src = crates_dir().join(name).join("src");
    if !src.is_dir() {
        return None;
    }
    let mut list = Vec::new();
    rust_files(&src, &mut list);
    let files: BTreeMap<ModPath, String> = list
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            (module_path(&src, f), rel)
        })
        .collect();
    let resolve = |mut path: ModPath| -> Option<String> {
        while !path.is_empty() && !files.contains_key(&path) {
            path.pop();
        }
        if path.is_empty() {
            None
        } else {
            files.get(&path).cloned()
        }
    };
    let mut edges = BTreeMap::new();
    for (module, file) in &files {
        if module.is_empty() {
            continue;
        }
        let text = code(&std::fs::read_to_string(src.join(file)).unwrap());
        let mut targets = BTreeSet::new();
        for path in paths_after(&text, "crate") {
            targets.extend(resolve(path));
        }
        let parent = &module[..module.len() - 1];
        for path in paths_after(&text, "super") {
            targets.extend(resolve([parent, &path[..]].concat()));
        }
        targets.remove(file);
        edges.insert(file.clone(), targets);
    }
    Some(Crate { files, edges })
}

fn crates() -> Vec<(String, Crate)> {
    let mut names: Vec<String> = std::fs::read_dir(crates_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| read_crate(&n).map(|c| (n, c)))
        .collect()
}

/// Groups of two or more files that import each other, directly or through others (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        let edges = w.edges;
        for t in edges.get(v).into_iter().flatten() {
            let t = t.as_str();
            if !w.index.contains_key(t) {
                visit(w, t);
                let low = w.low[v].min(w.low[t]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(t) {
                let low = w.low[v].min(w.index[t]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(t) = w.stack.pop() {
                w.on_stack.remove(t);
                group.push(t.to_owned());
                if t == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                w.found.push(group);
            }
        }
    }
    let mut w = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

#[test]
fn no_import_circle_in_any_crate() {
    let mut problems = Vec::new();
    for (name, c) in crates() {
        for group in circles(&c.edges) {
            let inside: Vec<String> = group
                .iter()
                .flat_map(|a| {
                    c.edges[a]
                        .iter()
                        .filter(|b| group.contains(b))
                        .map(move |b| format!("    {a} -> {b}"))
                })
                .collect();
            problems.push(format!(
                "circle in {name}: {}\n{}",
                group.join(", "),
                inside.join("\n")
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

fn layer(file: &str) -> Option<(&'static str, u8)> {
    let top = file.split('/').next()?;
    LAYERS.iter().find(|(name, _)| *name == top).copied()
}

#[test]
fn server_layers_point_down() {
    let (_, server) = crates()
        .into_iter()
        .find(|(name, _)| name == "server")
        .unwrap();
    let mut problems = Vec::new();
    for (module, file) in &server.files {
        if !module.is_empty() && layer(file).is_none() {
            problems.push(format!("{file} is in no layer ({LAYERS:?})"));
        }
    }
    for (from, targets) in &server.edges {
        let Some((from_layer, from_rank)) = layer(from) else {
            continue;
        };
        for to in targets {
            let Some((to_layer, to_rank)) = layer(to) else {
                continue;
            };
            if from_layer != to_layer && to_rank >= from_rank {
                problems.push(format!(
                    "{from} ({from_layer}) imports {to} ({to_layer}): layers may only import \
                     from lower ones"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Crates that would let the core serve HTTP, write HTML, speak AppWebsocket or parse a
/// command line.
const NOT_IN_CORE: &[&str] = &[
    "axum",
    "hyper",
    "hyper-util",
    "tower",
    "tower-http",
    "askama",
    "askama_web",
    "rust-embed",
    "tokio-tungstenite",
    "innovaphone",
    "clap",
    "indicatif",
    "yealink-prov",
];

/// The names in the `[dependencies]` table of a crate's manifest.
fn dependencies(manifest: &str) -> Vec<String> {
    let table: toml::Table = manifest.parse().unwrap();
    table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn the_core_crate_knows_no_http_server_html_appwebsocket_or_cli() {
    let manifest = std::fs::read_to_string(crates_dir().join("core/Cargo.toml")).unwrap();
    let found: Vec<String> = dependencies(&manifest)
        .into_iter()
        .filter(|d| NOT_IN_CORE.contains(&d.as_str()))
        .collect();
    assert!(found.is_empty(), "crates/core depends on {found:?}");
    let server = std::fs::read_to_string(crates_dir().join("server/Cargo.toml")).unwrap();
    assert!(
        dependencies(&server).iter().any(|d| d == "axum"),
        "the reader sees the server's axum"
    );
}

#[test]
fn the_reader_sees_grouped_and_nested_imports() {
    let text = code("use crate::{a::b, c::{d, e::f}};\nlet x = super::g::h(); // crate::z\n");
    let mut found = paths_after(&text, "crate");
    found.extend(paths_after(&text, "super"));
    let found: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(found, ["a::b", "c::d", "c::e::f", "g::h"]);
}
