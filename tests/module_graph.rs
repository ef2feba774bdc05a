//! Dependencies between the crate's top-level modules point one way: no import cycle, and the
//! core does not reach up to the I/O edge. Reads `src/**/*.rs` and collects every `crate::X`
//! path (including `use crate::{X, Y::..}` groups) outside comments.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to: `src/a.rs` and `src/a/**` are `a`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    // The binary and the crate root are not modules of the library.
    (!matches!(name, "main" | "lib" | "bin")).then(|| name.to_string())
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a piece of code names through `crate::`.
fn targets(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        // `apikey_sts::crate::` cannot occur; `xcrate::` is another name.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split at commas outside nested braces.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(ident(group[start..j].trim()).to_string());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(group[start..j].trim()).to_string());
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest).to_string());
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g = Graph::new();
    for f in files {
        let Some(from) = module_of(&src, &f) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("read source");
        let edges = g.entry(from.clone()).or_default();
        for to in targets(&strip_comments(&text)) {
            if to != from {
                edges.insert(to);
            }
        }
    }
    g
}

/// A cycle as the list of modules on it (first repeated at the end), if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        g: &Graph,
        m: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(m) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let at = path.iter().position(|p| p == m).unwrap_or(0);
                let mut cycle = path[at..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(m.to_string(), Mark::Open);
        path.push(m.to_string());
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, next, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(m.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in g.keys() {
        if let Some(c) = visit(g, m, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_modules() {
    let g = graph();
    assert!(g.len() > 10, "too few modules found: {g:?}");
    if let Some(cycle) = find_cycle(&g) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// Only the composition (`startup`) and the edge itself know the server.
#[test]
fn core_does_not_import_the_edge() {
    let g = graph();
    for (from, to) in &g {
        if to.contains("server") {
            assert!(
                from == "startup",
                "{from} imports server; the core must not know the I/O edge"
            );
        }
    }
    for core in ["jwks", "validator"] {
        let uses = g.get(core).cloned().unwrap_or_default();
        for up in ["app", "issuer"] {
            assert!(!uses.contains(up), "{core} imports {up}");
        }
    }
}

/// `config` is plain data: it imports no module that uses it.
#[test]
fn config_imports_none_of_its_users() {
    let g = graph();
    let uses = g.get("config").cloned().unwrap_or_default();
    for (m, deps) in &g {
        assert!(
            !(deps.contains("config") && uses.contains(m)),
            "config imports {m}, which imports config"
        );
    }
}

#[test]
fn parser_sees_groups_and_skips_comments() {
    let code = strip_comments(
        "use crate::{app, jwt::{self, Claims}, metrics};\n\
         // use crate::server;\n\
         let x = crate::log::info(\"\");",
    );
    let t: Vec<String> = targets(&code).into_iter().collect();
    assert_eq!(t, ["app", "jwt", "log", "metrics"]);
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".to_string(), "b".into(), "a".into()])
    );
}
