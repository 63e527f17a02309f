#![no_main]
use augur_bridge_ros2::fuzz::Target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    Target::CdrImage.run(data);
});
