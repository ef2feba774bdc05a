//! The one percent-decoder of the crate: `application/x-www-form-urlencoded` components (form
//! bodies and URL query strings).

use std::borrow::Cow;

/// Decodes `+` as a space and `%XX` escapes. None when an escape is malformed or the result is
/// not UTF-8; the caller decides whether that is an error (a form body) or a value to keep as
/// written (a query parameter, which then fails where it is used).
pub fn decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The decoded `name=value` pairs of a form body or query string, in order; a pair without `=`
/// has an empty value and empty pairs (`a=1&&b=2`) are skipped. None when any component does
/// not decode.
pub fn pairs(s: &str) -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{decode, pairs};

    #[test]
    fn splits_and_decodes_pairs() {
        let p = pairs("a=1&&b=x+y&c&d=%41").unwrap();
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(p, [("a", "1"), ("b", "x y"), ("c", ""), ("d", "A")]);
        assert_eq!(pairs("a=%zz"), None);
        assert_eq!(pairs("%zz=1"), None);
        assert_eq!(pairs(""), Some(vec![]));
    }

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(decode("abc").as_deref(), Some("abc"));
        assert_eq!(decode("x%2Dy+z").as_deref(), Some("x-y z"));
        assert_eq!(decode("%41%4a").as_deref(), Some("AJ"));
        assert_eq!(decode("%C3%A9").as_deref(), Some("é"));
    }

    #[test]
    fn refuses_bad_escapes_and_non_utf8() {
        for bad in ["%", "a%2", "%zz", "%+1", "%-1", "%e2%28", "%e2%82"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
