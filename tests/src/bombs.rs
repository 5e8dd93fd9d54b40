//! Components that are cheap to send and expensive to compile, encoded by hand so a test can
//! make one of a million functions in milliseconds; and distinct copies of a real plugin.

/// A component wrapping one core module whose functions have these bodies (each: the
/// locals vector then the code, without the size prefix), all of type `[] -> []`.
pub fn component_with(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(&mut module, 1, &[1, 0x60, 0, 0]);
    let mut functions = leb(bodies.len() as u64);
    functions.extend(std::iter::repeat_n(0u8, bodies.len()));
    section(&mut module, 3, &functions);
    let mut code = leb(bodies.len() as u64);
    for body in bodies {
        code.extend(leb(body.len() as u64));
        code.extend(body);
    }
    section(&mut module, 10, &code);

    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(&mut component, 1, &module);
    component
}

/// `count` empty functions.
pub fn many_functions(count: usize) -> Vec<u8> {
    let empty = vec![0x00, 0x0b];
    component_with(&vec![empty; count])
}

/// One function declaring `count` i32 locals.
pub fn many_locals(count: u32) -> Vec<u8> {
    let mut body = vec![0x01];
    body.extend(leb(u64::from(count)));
    body.extend([0x7f, 0x0b]);
    component_with(&[body])
}

/// One function of `depth` nested blocks.
pub fn deep_nesting(depth: usize) -> Vec<u8> {
    let mut body = vec![0x00];
    for _ in 0..depth {
        body.extend([0x02, 0x40]);
    }
    body.extend(std::iter::repeat_n(0x0b, depth + 1));
    component_with(&[body])
}

/// One function whose body is `bytes` long (`nop`s).
pub fn huge_body(bytes: usize) -> Vec<u8> {
    let mut body = vec![0x00];
    body.extend(std::iter::repeat_n(0x01, bytes.saturating_sub(2)));
    body.push(0x0b);
    component_with(&[body])
}

/// The same component with a custom section appended: a distinct sha256, the same behaviour.
pub fn distinct(wasm: &[u8], tag: u32) -> Vec<u8> {
    let mut out = wasm.to_vec();
    let name = b"fallback-test";
    let mut payload = leb(name.len() as u64);
    payload.extend(name);
    payload.extend(tag.to_le_bytes());
    section(&mut out, 0, &payload);
    out
}

fn section(out: &mut Vec<u8>, id: u8, payload: &[u8]) {
    out.push(id);
    out.extend(leb(payload.len() as u64));
    out.extend(payload);
}

fn leb(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
