//! Replays the cargo-fuzz seed corpus (`fuzz/corpus/<target>/`) through the
//! same entry points the fuzz targets call. Seeds named `ok-*` must be
//! accepted and `bad-*` refused, so the corpus doubles as a table of cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

fn replay(target: &str, run: fn(&[u8]) -> bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut checked = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let accepted = run(&data);
        if name.starts_with("ok-") {
            assert!(accepted, "{target}/{name} should be accepted");
            checked.0 += 1;
        } else if name.starts_with("bad-") {
            assert!(!accepted, "{target}/{name} should be refused");
            checked.1 += 1;
        }
        // Other files are what the fuzzer added: they must only not panic.
    }
    assert!(
        checked.0 >= 1 && checked.1 >= 1,
        "{target}: the corpus needs ok- and bad- seeds, found {checked:?}"
    );
}

#[test]
fn xml_parse_corpus() {
    replay("xml_parse", wechat::fuzzing::xml_parse);
}

#[test]
fn pay_notify_corpus() {
    replay("pay_notify", wechat::fuzzing::pay_notify);
}

#[test]
fn user_data_corpus() {
    replay("user_data", wechat::fuzzing::user_data);
}

#[test]
fn refund_info_corpus() {
    replay("refund_info", wechat::fuzzing::refund_info);
}
