//! The layers, checked: `main -> cli/server -> http -> app -> config -> {oauth, tokens,
//! store} -> support`. A lower layer importing a higher one fails here
//! (`docs/ARCHITECTURE.md` draws the picture).

use std::path::{Path, PathBuf};

/// A rule: files under `inside` must not name any of `forbidden`.
struct Rule {
    inside: &'static [&'static str],
    forbidden: &'static [&'static str],
}

const RULES: &[Rule] = &[
    // HTTP is the top of the request path: only the server and the CLI build on it.
    Rule {
        inside: &[""],
        forbidden: &["crate::http"],
    },
    // The flows sit above the rules, the tokens, storage, configuration and shared pieces.
    Rule {
        inside: &[
            "src/oauth/",
            "src/tokens/",
            "src/store/",
            "src/support/",
            "src/config/",
        ],
        forbidden: &["crate::app"],
    },
    // The protocol rules and token formats are pure: no storage, and only the parts of the
    // configuration they are handed.
    Rule {
        inside: &["src/oauth/", "src/tokens/"],
        forbidden: &["crate::store", "crate::config"],
    },
    // Storage keeps rows; it knows nothing of configuration.
    Rule {
        inside: &["src/store/"],
        forbidden: &["crate::config"],
    },
    // The shared pieces stand alone.
    Rule {
        inside: &["src/support/"],
        forbidden: &[
            "crate::store",
            "crate::oauth",
            "crate::tokens",
            "crate::config",
        ],
    },
    // Only the binary's entry points start the server or run commands.
    Rule {
        inside: &[""],
        forbidden: &["crate::cli", "crate::server"],
    },
];

/// Where each module may be named from anyway: its own files, and the layers above it.
fn home_of(module: &str) -> &'static [&'static str] {
    match module {
        "crate::http" => &["src/http/", "src/server.rs", "src/cli/"],
        "crate::cli" => &["src/cli/", "src/main.rs"],
        "crate::server" => &["src/server.rs", "src/cli/", "src/main.rs"],
        _ => &[],
    }
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

/// Whether `text` names `module` as a path (`crate::http::` or `crate::http;`/`}`), outside
/// comments and unit tests (which may build a whole `Config`).
fn names(text: &str, module: &str) -> bool {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .any(|line| {
            line.match_indices(module).any(|(at, _)| {
                let next = line[at + module.len()..].chars().next();
                !matches!(next, Some(c) if c.is_alphanumeric() || c == '_')
            })
        })
}

#[test]
fn no_lower_layer_imports_a_higher_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut leaks = Vec::new();
    for rule in RULES {
        for path in &files {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if !rule.inside.iter().any(|p| relative.starts_with(p)) {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            for module in rule.forbidden {
                if home_of(module).iter().any(|h| relative.starts_with(h)) {
                    continue;
                }
                if names(&text, module) {
                    leaks.push(format!("{relative} imports {module}"));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "layer leaks:\n{}", leaks.join("\n"));
}

/// The file a `crate::…` path names: the deepest module file along it.
fn file_of(root: &Path, segments: &[&str]) -> Option<String> {
    (1..=segments.len()).rev().find_map(|n| {
        let module = segments[..n].join("/");
        [format!("src/{module}.rs"), format!("src/{module}/mod.rs")]
            .into_iter()
            .find(|candidate| root.join(candidate).is_file())
    })
}

/// The `crate::` paths a file names outside comments and tests, one brace level expanded
/// (`crate::oauth::{scope, redirect_uri::x}` names `oauth::scope` and `oauth::redirect_uri`).
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let code: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let prefix: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if rest[end..].starts_with('{') {
            let group = &rest[end + 1..rest[end..].find('}').map_or(rest.len(), |c| end + c)];
            for item in group.split(',') {
                let mut path = prefix.clone();
                path.extend(
                    item.trim()
                        .split("::")
                        .filter(|s| !s.is_empty() && *s != "self")
                        .map(str::to_owned),
                );
                paths.push(path);
            }
        } else {
            paths.push(prefix);
        }
    }
    paths
}

#[test]
fn no_source_file_imports_itself_through_others() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for path in &files {
        let from = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap();
        for segments in crate_paths(&text) {
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            if let Some(to) = file_of(root, &segments) {
                // A folder's mod.rs only declares its files; naming it is not a dependency.
                if to != from && !to.ends_with("/mod.rs") && to != "src/lib.rs" {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    // Depth-first search for a back edge; the path to it is the circle.
    fn visit(
        node: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for node in edges.keys() {
        if let Some(circle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", circle.join(" -> "));
        }
    }
}
