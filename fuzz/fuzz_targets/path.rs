//! Fuzz target `path`: see `authgate::fuzzing::fuzz_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::fuzzing::fuzz_path(data));
