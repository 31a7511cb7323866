//! The panel's words, one file per language (`i18n/es.toml`, `i18n/en.toml`): a third
//! language is one more file and one line in [`Lang`]. Every key the templates and the code
//! use must exist in every file; a unit test reads the templates and checks.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the panel. Spanish is the default (the customer's), English selectable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Es,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Es, Lang::En];

    /// The code in the cookie and in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::Es => include_str!("i18n/es.toml"),
            Lang::En => include_str!("i18n/en.toml"),
        }
    }

    /// This language's words.
    pub fn words(self) -> &'static Words {
        static CATALOGS: OnceLock<[Words; 2]> = OnceLock::new();
        let all = CATALOGS.get_or_init(|| Lang::ALL.map(|l| Words::parse(l.source())));
        &all[self as usize]
    }
}

/// One language's catalog: dotted keys (`nav.dashboard`) to text.
#[derive(Debug)]
pub struct Words(HashMap<String, String>);

impl Words {
    /// Parses a catalog; the files are part of the binary, so a broken one is a bug that
    /// the unit tests catch, and panicking at first use is right.
    fn parse(src: &str) -> Words {
        let table: toml::Table = src.parse().expect("a panel language file is not TOML");
        let mut map = HashMap::new();
        flatten("", &table, &mut map);
        Words(map)
    }

    /// The text for `key`; the key itself if it is missing (visible, and caught by tests).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map_or(key, String::as_str)
    }

    /// The text for `key` if there is one.
    pub fn find(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => panic!("panel language key {key}: {other} is not text"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Keys used as `t("…")` in the templates and in the panel's code, plus the error and
    /// state keys built at run time.
    fn used_keys() -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let mut dirs = vec![
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")),
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/panel")),
        ];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("a source folder") {
                let path = entry.expect("a folder entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                for quote in ["t(\"", "tr(\""] {
                    for piece in text.split(quote).skip(1) {
                        if let Some(end) = piece.find('"') {
                            let key = &piece[..end];
                            if key.contains('.') && !key.contains(' ') {
                                keys.insert(key.to_owned());
                            }
                        }
                    }
                }
            }
        }
        keys
    }

    #[test]
    fn every_language_has_every_key() {
        let es: BTreeSet<&str> = Lang::Es.words().keys().collect();
        for lang in Lang::ALL {
            let words: BTreeSet<&str> = lang.words().keys().collect();
            let missing: Vec<_> = es.difference(&words).collect();
            let extra: Vec<_> = words.difference(&es).collect();
            assert!(missing.is_empty(), "{}: missing {missing:?}", lang.code());
            assert!(extra.is_empty(), "{}: not in es: {extra:?}", lang.code());
        }
    }

    #[test]
    fn every_used_key_exists() {
        let used = used_keys();
        assert!(used.len() > 50, "the key scan found only {}", used.len());
        let missing: Vec<_> = used
            .iter()
            .filter(|k| Lang::Es.words().find(k).is_none())
            .collect();
        assert!(missing.is_empty(), "keys used but not defined: {missing:?}");
    }

    #[test]
    fn every_state_has_a_word() {
        for state in relevo_engine::metrics::FlowState::ALL {
            for lang in Lang::ALL {
                let key = format!("state.{}", state.as_str());
                assert!(lang.words().find(&key).is_some(), "{} {key}", lang.code());
            }
        }
    }
}
