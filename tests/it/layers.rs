//! The layers, checked: `main -> cli/server -> http -> app -> {oauth, tokens, store}`, with
//! `config` and `support` beneath them all. A lower layer importing a higher one fails here
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
    // The flows sit above the rules, the tokens, storage and the shared pieces.
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
    // The protocol rules and token formats are pure: no storage.
    Rule {
        inside: &["src/oauth/", "src/tokens/"],
        forbidden: &["crate::store"],
    },
    // The shared pieces stand alone (telemetry reads its own configuration section).
    Rule {
        inside: &["src/support/"],
        forbidden: &["crate::store", "crate::oauth", "crate::tokens"],
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
/// comments.
fn names(text: &str, module: &str) -> bool {
    text.lines()
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
