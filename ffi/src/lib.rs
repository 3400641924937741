#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
#[no_mangle]
pub extern "C" fn cport_probe() -> i32 {
    1
}
