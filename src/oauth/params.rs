//! The `application/x-www-form-urlencoded` body of the token and introspection endpoints.

use crate::form;

/// Most parameters a body may carry; more is refused rather than scanned.
pub const MAX_PARAMS: usize = 32;

/// Why a body is not a usable parameter set (answered `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    /// The Content-Type is not `application/x-www-form-urlencoded`.
    NotFormType,
    /// Not UTF-8, or a malformed `%` escape.
    Undecodable,
    /// RFC 6749 §3.2: a parameter may be given once.
    Repeated(&'static str),
    TooMany,
}

impl std::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamsError::NotFormType => {
                f.write_str("the body must be application/x-www-form-urlencoded")
            }
            ParamsError::Undecodable => f.write_str("the body is not a valid form"),
            ParamsError::Repeated(name) => write!(f, "parameter {name} is given more than once"),
            ParamsError::TooMany => write!(f, "more than {MAX_PARAMS} parameters"),
        }
    }
}

impl std::error::Error for ParamsError {}

/// The recognised parameters of a body, each at most once and never empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params {
    values: Vec<(&'static str, String)>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the parameters named in `known` from a form body. RFC 6749 §3.1: a parameter without
/// a value counts as omitted, and unknown parameters are ignored; §3.2: none may repeat.
pub fn parse_params(
    content_type: Option<&str>,
    body: &[u8],
    known: &[&'static str],
) -> Result<Params, ParamsError> {
    let is_form = content_type.is_some_and(|c| {
        c.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Err(ParamsError::NotFormType);
    }
    let text = std::str::from_utf8(body).map_err(|_| ParamsError::Undecodable)?;
    let pairs = form::pairs(text.trim()).ok_or(ParamsError::Undecodable)?;
    if pairs.len() > MAX_PARAMS {
        return Err(ParamsError::TooMany);
    }
    let mut params = Params::default();
    // Empty values are dropped but still seen: `a=&a=1` repeats `a`.
    let mut seen: Vec<&'static str> = Vec::new();
    for (name, value) in pairs {
        let Some(&name) = known.iter().find(|k| **k == name) else {
            continue;
        };
        if seen.contains(&name) {
            return Err(ParamsError::Repeated(name));
        }
        seen.push(name);
        if !value.is_empty() {
            params.values.push((name, value.into_owned()));
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[test]
    fn reads_known_parameters_once() {
        let p = parse_params(FORM, b"a=1&zz=9&b=x+y%21", &["a", "b", "c"]).unwrap();
        assert_eq!(
            (p.get("a"), p.get("b"), p.get("c")),
            (Some("1"), Some("x y!"), None)
        );
        assert_eq!(p.get("zz"), None);
        let charset = Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8");
        assert_eq!(
            parse_params(charset, b"a=1", &["a"]).unwrap().get("a"),
            Some("1")
        );
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let p = parse_params(FORM, b"a=&b", &["a", "b"]).unwrap();
        assert_eq!((p.get("a"), p.get("b")), (None, None));
    }

    #[test]
    fn refuses_repeats_bad_bytes_and_wrong_type() {
        let e = |ct, b: &[u8]| parse_params(ct, b, &["a"]).unwrap_err();
        assert_eq!(e(FORM, b"a=1&a=2"), ParamsError::Repeated("a"));
        assert_eq!(e(FORM, b"a=&a=2"), ParamsError::Repeated("a"));
        assert_eq!(e(FORM, b"a=%zz"), ParamsError::Undecodable);
        assert_eq!(e(FORM, b"a=\xff"), ParamsError::Undecodable);
        assert_eq!(
            e(Some("application/json"), b"a=1"),
            ParamsError::NotFormType
        );
        assert_eq!(e(None, b"a=1"), ParamsError::NotFormType);
        // Unknown parameters may repeat: they are ignored.
        assert!(parse_params(FORM, b"x=1&x=2", &["a"]).is_ok());
    }

    #[test]
    fn parameter_count_limit_at_and_past_its_edge() {
        let body = |n: usize| vec!["x=1"; n].join("&");
        assert!(parse_params(FORM, body(MAX_PARAMS).as_bytes(), &["a"]).is_ok());
        assert_eq!(
            parse_params(FORM, body(MAX_PARAMS + 1).as_bytes(), &["a"]),
            Err(ParamsError::TooMany)
        );
    }
}
