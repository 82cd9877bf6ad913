#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wechat::fuzzing::user_data(data);
});
