#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wechat::fuzzing::refund_info(data);
});
