//! The reader under every section: typed access to a TOML table with an error naming the key,
//! warnings for keys nobody reads, `${...}` expansion, paths, and TOML syntax errors that never
//! quote a line.

use super::*;

/// A TOML syntax error as the file, the key path where it can be told, the line and column, and
/// the parser's reason. Never the text of the line: an unterminated `keyStorePassword = "...`
/// would put the password in the log.
pub(super) fn syntax_error(text: &str, source: &str, e: &toml::de::Error) -> ConfigError {
    let at = e.span().map_or(0, |s| s.start).min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text
        .get(line_start..at)
        .map_or(1, |l| l.chars().count() + 1);
    // The table is the last header above the error; the key, the bare key left of `=` on the
    // error's line. Both are names, not values; anything else is left out.
    let is_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' '))
    };
    let table = before
        .lines()
        .take(line_no.saturating_sub(1))
        .filter_map(|l| {
            let l = l.trim();
            let inner = l.strip_prefix('[')?.trim_start_matches('[');
            let inner = inner.split(']').next()?.trim();
            is_name(inner).then(|| inner.replace(' ', ""))
        })
        .last();
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| is_name(k) && !k.contains(' '))
        .map(str::to_string);
    let path = match (table, key) {
        (Some(t), Some(k)) => join(&t, &k),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => String::new(),
    };
    ConfigError {
        file: source.to_string(),
        key: path,
        message: format!(
            "not valid TOML at line {line_no}, column {column}: {}",
            one_line(e.message())
        ),
    }
}

/// Collapses runs of whitespace: a parser's message becomes one log line.
pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) struct Reader<'a> {
    pub(super) source: &'a str,
    pub(super) base_dir: &'a Path,
    pub(super) env: &'a Environment<'a>,
    pub(super) warnings: Vec<String>,
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl Reader<'_> {
    pub(super) fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn warn_unknown(&mut self, table: &Table, prefix: &str, known: &[&str]) {
        for k in table.keys() {
            if !known.contains(&k.as_str()) && !LOAD_BALANCER_KEYS.contains(&(prefix, k.as_str())) {
                let what = if table.get(k).is_some_and(|v| {
                    v.is_table()
                        || v.as_array()
                            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_table))
                }) {
                    "section"
                } else {
                    "key"
                };
                self.warnings.push(format!(
                    "{}: ignoring unsupported {what} [{}]",
                    self.source,
                    join(prefix, k)
                ));
            }
        }
    }

    /// The table at `path` (dotted), or None when absent.
    pub(super) fn table<'t>(
        &self,
        root: &'t Table,
        path: &str,
    ) -> Result<Option<&'t Table>, ConfigError> {
        let mut cur = root;
        let mut walked = String::new();
        for part in path.split('.') {
            walked = join(&walked, part);
            match cur.get(part) {
                None => return Ok(None),
                Some(Value::Table(t)) => cur = t,
                Some(other) => {
                    return Err(self.error(
                        &walked,
                        format!("expected a table, found {}", type_name(other)),
                    ))
                }
            }
        }
        Ok(Some(cur))
    }

    pub(super) fn string(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        let path = join(prefix, key);
        match t.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => self.expand(s, &path).map(Some),
            Some(other) => Err(self.error(
                &path,
                format!("expected a string, found {}", type_name(other)),
            )),
        }
    }

    pub(super) fn required_string(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
    ) -> Result<String, ConfigError> {
        self.string(t, prefix, key)?
            .ok_or_else(|| self.error(&join(prefix, key), "required key is missing"))
    }

    pub(super) fn integer(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
    ) -> Result<Option<i64>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(other) => Err(self.error(
                &join(prefix, key),
                format!("expected an integer, found {}", type_name(other)),
            )),
        }
    }

    pub(super) fn boolean(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
    ) -> Result<Option<bool>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(self.error(
                &join(prefix, key),
                format!("expected a boolean, found {}", type_name(other)),
            )),
        }
    }

    pub(super) fn path(&self, t: &Table, prefix: &str, key: &str) -> Result<PathBuf, ConfigError> {
        let s = self.required_string(t, prefix, key)?;
        if s.is_empty() {
            return Err(self.error(&join(prefix, key), "must not be empty"));
        }
        Ok(self.base_dir.join(s))
    }

    /// `keyStorePath` and `keyStorePassword` of section `p`, each with the original's default.
    /// A default is warned about: the distribution's keystore and its password are public.
    /// `keyStorePath` and `keyStorePassword`, or the original's defaults, each said in a warning.
    pub(super) fn keystore_or_default(
        &mut self,
        t: &Table,
        p: &str,
    ) -> Result<(PathBuf, Secret), ConfigError> {
        let path = if t.contains_key("keyStorePath") {
            self.path(t, p, "keyStorePath")?
        } else {
            let key = join(p, "keyStorePath");
            let path = self
                .base_dir
                .join(self.expand(DEFAULT_KEY_STORE_PATH, &key)?);
            self.warnings.push(format!(
                "{}: {key} is not set; using the Microgateway's default keystore {}. Unless that \
                 file was replaced, its private key ships with every Microgateway and is public",
                self.source,
                path.display()
            ));
            path
        };
        let password = match self.string(t, p, "keyStorePassword")? {
            Some(pw) => pw,
            None => {
                self.warnings.push(format!(
                    "{}: {} is not set; using the Microgateway's well-known default password",
                    self.source,
                    join(p, "keyStorePassword")
                ));
                DEFAULT_KEY_STORE_PASSWORD.to_string()
            }
        };
        Ok((path, Secret::new(password)))
    }

    /// Expands `${mgw-runtime.home}` and `${NAME}` (environment variables).
    pub(super) fn expand(&self, s: &str, key: &str) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| self.error(key, "unterminated ${ placeholder"))?;
            let name = &after[..end];
            if name == "mgw-runtime.home" {
                out.push_str(&self.env.runtime_home.to_string_lossy());
            } else if name.is_empty() {
                return Err(self.error(key, "empty ${} placeholder"));
            } else {
                let value = (self.env.var)(name).ok_or_else(|| {
                    self.error(key, format!("environment variable {name} is not set"))
                })?;
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
