//! Properties of the signature and the XML codec over random messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use wechat::sign::{SignError, sign_fields, verify};
use wechat::{ApiKey, FieldMap, SignType};

fn sign_type() -> impl Strategy<Value = SignType> {
    prop_oneof![Just(SignType::Md5), Just(SignType::HmacSha256)]
}

fn key() -> impl Strategy<Value = String> {
    "[!-~]{32}"
}

/// Any value XML can carry, including the awkward ones: `]]>`, `&`, `<`,
/// CR/LF, leading and trailing spaces, non-ASCII, the empty string.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[\\PC\t\n\r]{0,24}",
        1 => Just(String::new()),
        1 => Just("]]>".to_string()),
        1 => "[a-z&<>=\\]]{1,12}",
    ]
}

fn fields() -> impl Strategy<Value = FieldMap> {
    proptest::collection::btree_map("[a-z_][a-z0-9_]{0,15}", value(), 1..12).prop_map(
        |map: BTreeMap<String, String>| {
            map.into_iter()
                .filter(|(n, _)| n != "sign" && n != "sign_type")
                .collect()
        },
    )
}

/// A different character at the same place (never a no-op).
fn replace_char(s: &str, at: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let at = at % chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == at {
                if *c == 'a' { 'b' } else { 'a' }
            } else {
                *c
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_holds(map in fields(), key in key(), st in sign_type()) {
        let key = ApiKey::parse(key).unwrap();
        let mut map = map;
        sign_fields(&mut map, &key, st);
        prop_assert_eq!(verify(&map, &key, st), Ok(()));
    }

    #[test]
    fn changing_any_field_breaks_verification(
        map in fields(),
        key in key(),
        st in sign_type(),
        which in any::<usize>(),
        at in any::<usize>(),
    ) {
        let key = ApiKey::parse(key).unwrap();
        let mut signed = map.clone();
        sign_fields(&mut signed, &key, st);
        let names: Vec<String> = map.iter().map(|(n, _)| n.to_string()).collect();
        let name = &names[which % names.len()];
        let old = signed.get(name).unwrap().to_string();
        let new = if old.is_empty() { "x".to_string() } else { replace_char(&old, at) };
        signed.set(name.as_str(), new);
        prop_assert_eq!(verify(&signed, &key, st), Err(SignError::Mismatch));
    }

    #[test]
    fn renaming_a_field_breaks_verification(
        map in fields(),
        key in key(),
        st in sign_type(),
        which in any::<usize>(),
    ) {
        let key = ApiKey::parse(key).unwrap();
        let mut signed = map.clone();
        sign_fields(&mut signed, &key, st);
        let (name, value) = {
            let (n, v) = map.iter().nth(which % map.len()).unwrap();
            (n.to_string(), v.to_string())
        };
        prop_assume!(!value.is_empty());
        let renamed = format!("{name}x");
        prop_assume!(signed.get(&renamed).is_none() && renamed != "sign_type");
        signed.remove(&name);
        signed.set(renamed, value);
        prop_assert_eq!(verify(&signed, &key, st), Err(SignError::Mismatch));
    }

    #[test]
    fn changing_any_byte_of_the_key_breaks_verification(
        map in fields(),
        key in key(),
        st in sign_type(),
        at in 0usize..32,
        replacement in 0x21u8..0x7f,
    ) {
        let mut bytes = key.clone().into_bytes();
        prop_assume!(bytes[at] != replacement);
        bytes[at] = replacement;
        let other = ApiKey::parse(String::from_utf8(bytes).unwrap()).unwrap();
        let key = ApiKey::parse(key).unwrap();
        let mut signed = map;
        sign_fields(&mut signed, &key, st);
        prop_assert_eq!(verify(&signed, &other, st), Err(SignError::Mismatch));
    }

    #[test]
    fn xml_encode_then_parse_is_identity(map in fields()) {
        let xml = map.to_xml().unwrap();
        prop_assert_eq!(FieldMap::from_xml(xml.as_bytes()), Ok(map));
    }

    #[test]
    fn signed_messages_survive_the_wire(map in fields(), key in key(), st in sign_type()) {
        let key = ApiKey::parse(key).unwrap();
        let mut map = map;
        sign_fields(&mut map, &key, st);
        let back = FieldMap::from_xml(map.to_xml().unwrap().as_bytes()).unwrap();
        prop_assert_eq!(verify(&back, &key, st), Ok(()));
    }

    #[test]
    fn whatever_parses_re_encodes_to_the_same_fields(
        input in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        // Arbitrary bytes: the parser must return, never panic, and anything
        // it accepts must survive our own encoder unchanged.
        if let Ok(map) = FieldMap::from_xml(&input) {
            let again = FieldMap::from_xml(map.to_xml().unwrap().as_bytes());
            prop_assert_eq!(again, Ok(map));
        }
    }

    #[test]
    fn near_xml_documents_round_trip_when_accepted(
        body in "(<[a-c]>[a-z&;#0-9<>\\[\\]!CDAT]{0,8}</[a-c]>){0,4}",
    ) {
        let input = format!("<xml>{body}</xml>");
        if let Ok(map) = FieldMap::from_xml(input.as_bytes()) {
            let again = FieldMap::from_xml(map.to_xml().unwrap().as_bytes());
            prop_assert_eq!(again, Ok(map));
        }
    }
}
