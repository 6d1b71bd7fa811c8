// Four signed bytes of a times four of b, summed (WGSL's packed_4x8_integer_dot_product).
fn idot4(a: u32, b: u32) -> i32 {
    return dot4I8Packed(a, b);
}
