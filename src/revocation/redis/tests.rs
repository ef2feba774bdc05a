use super::follow::parse_xread;
use super::*;

#[test]
fn urls_are_redacted_and_errors_scrubbed() {
    assert_eq!(
        redacted_url("redis://app:s3cr%40t@h:6379/0"),
        "redis://app:***@h:6379/0"
    );
    assert_eq!(redacted_url("redis://h:1/2"), "redis://h:1/2");
    assert_eq!(redacted_url("redis://:pw@h"), "redis://:***@h");
    assert_eq!(url_password("redis://u:p%40w@h:1/0"), Some("p%40w"));
    assert_eq!(url_password("redis://h:1/0"), None);
    // The authority ends at the first `/`, `?` or `#`, for redaction as for config's check.
    assert_eq!(redacted_url("redis://u:pw@h?db=1"), "redis://u:***@h?db=1");
    assert_eq!(url_password("redis://u:pw@h?x=a@b"), Some("pw"));
    assert_eq!(
        crate::config::url_authority("redis://u:pw@h:1/0"),
        "u:pw@h:1"
    );
    assert_eq!(crate::config::url_authority("no scheme"), "");
    let e = redis::RedisError::from(std::io::Error::other("failed for p@w and p%40w"));
    let StoreError::Unreachable { detail } = store_error(&e, Some("p%40w")) else {
        panic!()
    };
    assert!(
        !detail.contains("p@w") && !detail.contains("p%40w"),
        "{detail}"
    );
    // Long text is cut at MAX_DETAIL_CHARS characters, never inside one.
    for len in [MAX_DETAIL_CHARS - 1, MAX_DETAIL_CHARS, MAX_DETAIL_CHARS + 1] {
        let text = "€".repeat(len);
        let e = redis::RedisError::from(std::io::Error::other(text));
        let StoreError::Unreachable { detail } = store_error(&e, None) else {
            panic!()
        };
        assert!(detail.chars().count() <= MAX_DETAIL_CHARS, "{len}");
    }
}

fn entry(id: &str, rec: &[u8]) -> Value {
    Value::Array(vec![
        Value::BulkString(id.as_bytes().to_vec()),
        Value::Array(vec![
            Value::BulkString(b"r".to_vec()),
            Value::BulkString(rec.to_vec()),
        ]),
    ])
}

fn reply(entries: Vec<Value>) -> Value {
    Value::Array(vec![Value::Array(vec![
        Value::BulkString(b"feed".to_vec()),
        Value::Array(entries),
    ])])
}

#[test]
fn xread_replies_are_walked_without_trust() {
    let got = parse_xread(
        reply(vec![entry("1-0", b"a 1 - -"), entry("2-0", b"junk")]),
        StreamId::default(),
    )
    .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].0, StreamId { ms: 2, seq: 0 });
    assert_eq!(
        parse_xread(Value::Nil, StreamId::default()).unwrap(),
        vec![]
    );
    for bad in [
        Value::Int(3),
        reply(vec![Value::Int(1)]),
        reply(vec![entry("x", b"a 1 - -")]),
        // Not after the position, or going backwards.
        reply(vec![entry("0-0", b"a 1 - -")]),
        reply(vec![entry("2-0", b"a 1 - -"), entry("1-0", b"b 1 - -")]),
    ] {
        assert!(
            parse_xread(bad.clone(), StreamId::default()).is_err(),
            "{bad:?}"
        );
    }
    // A batch longer than FEED_BATCH is cut at it.
    let many = (1..=FEED_BATCH + 5)
        .map(|n| entry(&format!("{n}-0"), b"a 1 - -"))
        .collect();
    assert_eq!(
        parse_xread(reply(many), StreamId::default()).unwrap().len(),
        FEED_BATCH
    );
    // An entry without an `r` field has no record (skipped and counted by the follower).
    let no_r = Value::Array(vec![
        Value::BulkString(b"9-0".to_vec()),
        Value::Array(vec![]),
    ]);
    assert_eq!(
        parse_xread(reply(vec![no_r]), StreamId::default()).unwrap()[0].1,
        None
    );
}

/// `redis://` is not one of the URL standard's special schemes, so the client's URL parser
/// keeps a host as an opaque, percent-encoded string and never converts it with IDNA: a
/// non-ASCII name would reach DNS as `b%C3%BCcher.example`. This is why config asks for the
/// xn-- form (and why the Unicode tables of `idna` are left out of the build).
#[test]
fn the_client_sends_host_names_as_written_without_idna() {
    let host = |url: &str| match redis::Client::open(url)
        .unwrap()
        .get_connection_info()
        .addr()
    {
        redis::ConnectionAddr::Tcp(host, _) => host.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        host("redis://xn--bcher-kva.example:6379/0"),
        "xn--bcher-kva.example"
    );
    assert_eq!(host("redis://bücher.example:6379/0"), "b%C3%BCcher.example");
}
